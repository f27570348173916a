"""DOT for the unit-level picture (:mod:`viz.units`): the lecture's unrolled net, placed by us.

Graphviz's dot cannot draw it: the connections from h_{t-1} to h_t would be flat edges inside one
rank (drawn as arcs over the units), or would push every step higher than the one before. The
picture is regular, so we place it ourselves and let Graphviz only draw (neato with every node
pinned, straight edges):

- each step is a box; time runs left to right, every step at one height;
- inside a step each layer is a column of units; a layer's column is its depth in the step's data
  flow (x before h before y), and layers of one depth stack bottom (input side) to top, in the
  same place in every step, so the connections h_{t-1} -> h_t run straight from one box to the next;
- the initial state (h0, c0) stands in step 0, left of what it feeds;
- every connection W[i, j] is a straight line labelled the same way in every step, its pen from
  the size of this step's gradient for it and its colour from the sign; labels are placed along
  their lines where they overlap nothing drawn before;
- each step's output units have a short arrow "to loss" instead of a long edge into the loss,
  which stands right of the last step with one summary per weight: ‖G‖ and each step's share.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from .dot import Size, fixed_decimals, fmt_number, fmt_term
from .render import dot_attrs, quote
from .scale import MAX_WIDTH, MIN_WIDTH, ZERO_COLOUR, MagnitudeScale

POSITIVE, NEGATIVE, NONE_COLOUR = "#c62828", "#1f5fa8", "#b0b0b0"
NONFINITE = "#7b2fbe"


@dataclass
class Geometry:
    """Sizes in points, scaled with the font."""

    font: float
    unit: float = 0.0        # a unit's diameter
    row: float = 0.0         # vertical distance between units of a column
    column: float = 0.0      # horizontal distance between the columns of a step
    gap: float = 0.0         # between two steps
    pad: float = 0.0         # inside a step box

    def __post_init__(self) -> None:
        f = self.font
        self.unit, self.row, self.column = 2.2 * f, 4.0 * f, 6.6 * f
        self.gap, self.pad = 3.6 * f, 1.0 * f


def _layer_order(U: nx.DiGraph) -> list[str]:
    return list(U.graph.get("layers", []))


def _depths(U: nx.DiGraph) -> dict[str, int]:
    """A layer's column in a step: the longest chain of same-step flows that leads to it."""
    order = [name for name in _layer_order(U)]
    feeds: dict[str, set[str]] = defaultdict(set)
    rolled = U.graph.get("rolled", False)
    for a, b, d in U.edges(data=True):
        da, db = U.nodes[a], U.nodes[b]
        if db.get("kind") != "unit" or da.get("kind") != "unit" or da.get("initial"):
            continue
        same_step = not d.get("recurrent") if rolled else da["step"] == db["step"]
        if same_step and da["layer"] != db["layer"]:
            feeds[db["layer"]].add(da["layer"])
    depth: dict[str, int] = {}

    def walk(name: str, seen: frozenset) -> int:
        if name in depth:
            return depth[name]
        preds = [p for p in feeds.get(name, ()) if p not in seen]
        depth[name] = 0 if not preds else 1 + max(walk(p, seen | {name}) for p in preds)
        return depth[name]

    for name in order:
        walk(name, frozenset())
    return depth


@dataclass
class _Placed:
    x: float
    y: float
    r: float


@dataclass
class _Plan:
    """Where everything goes; the writer turns it into DOT."""

    width: float = 0.0
    height: float = 0.0
    units: dict[str, _Placed] = field(default_factory=dict)
    boxes: list[tuple[str, float, float, float, float, str]] = field(default_factory=list)  # id, x0, y0, x1, y1, label
    headers: list[tuple[float, float, str]] = field(default_factory=list)
    gaps: list[tuple[int, int]] = field(default_factory=list)
    gap_x: dict[int, tuple[float, float]] = field(default_factory=dict)  # hidden step -> its gap's x0, x1
    step_of_box: dict[str, int] = field(default_factory=dict)
    band_y: dict[str, float] = field(default_factory=dict)
    row: float = 0.0

    def anchor(self, d: dict, toward: float) -> _Placed | None:
        """Where a connection to or from a unit of a hidden step meets the gap's edge."""
        x0x1 = self.gap_x.get(d.get("step"))
        name = d.get("layer") if not d.get("initial") else d.get("tag")
        if x0x1 is None or name not in self.band_y:
            return None
        x = x0x1[1] if toward > x0x1[1] else x0x1[0]
        return _Placed(x, self.band_y[name] + d["unit"] * self.row, 0.0)


def plan(U: nx.DiGraph, keep: list[int] | None, g: Geometry) -> _Plan:
    """Positions for the units of the steps ``keep`` (all if None), gaps for the others.

    Every layer has a band of its own, input side at the bottom, in the same place in every
    step; its column inside a step is its depth in the step's data flow. An initial state (h0)
    takes the band of the layer it is the state of, in a column of its own left of step 0.
    """
    depth, fold = _facts(U)
    order = _layer_order(U)
    steps = list(U.graph.get("steps", []))
    keep = steps if keep is None else [s for s in steps if s in set(keep)]
    by_step: dict[Any, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    widths: dict[str, int] = defaultdict(int)
    initial: list[str] = []
    for n, d in U.nodes(data=True):
        if d.get("kind") != "unit":
            continue
        name = d["tag"] if d.get("initial") else d["layer"]
        by_step[d["step"]][name].append(n)
        widths[name] = max(widths[name], d["unit"] + 1)
        if d.get("initial") and name not in initial:
            initial.append(name)
    bands = [name for name in order if name not in initial]
    fold = dict(fold)
    for name in initial:
        if fold.get(name) not in bands and name.endswith("0") and name[:-1] in bands:
            fold[name] = name[:-1]  # the models' spelling (h0 is h's state), when the roles do not tell
        if fold.get(name) not in bands:  # an initial state with no layer of its own: a band below the rest
            bands.insert(0, name)
    band_y: dict[str, float] = {}
    bottom = 2.2 * g.font + g.pad + _footer_lines(U) * 1.25 * g.font
    y = bottom + g.row / 2
    for name in bands:
        band_y[name] = y
        y += widths[name] * g.row + g.row * 0.7
    for name in initial:
        band_y.setdefault(name, band_y.get(fold.get(name, ""), bottom + g.row / 2))
    columns = sorted({depth.get(name, 0) for name in bands})
    col_index = {c: i for i, c in enumerate(columns)}
    p = _Plan(band_y=band_y, row=g.row)
    p.height = y - g.row * 0.7 + 3.2 * g.font  # room above for the top band's header and "to loss"
    x = 0.0
    shown = set(keep)
    gap_start = None
    for s in steps:
        if s not in shown:
            if gap_start is None:
                gap_start = s
            continue
        if gap_start is not None:
            x = _gap(p, x, gap_start, s - 1, g)
            gap_start = None
        x = _step(p, U, s, by_step[s], col_index, depth, band_y, initial if s == steps[0] else [], x, g)
    if gap_start is not None:
        x = _gap(p, x, gap_start, steps[-1], g)
    p.width = x
    return p


def _facts(U: nx.DiGraph) -> tuple[dict[str, int], dict[str, str]]:
    """The layers' depths and which layer each initial state belongs to, computed once per graph
    (fitting a slide plans a drawing a dozen times)."""
    from .units import _fold_initial_layers

    facts = U.graph.get("_layout_facts")
    if facts is None:
        facts = U.graph["_layout_facts"] = (_depths(U), _fold_initial_layers(U))
    return facts


def _weights_by_step(U: nx.DiGraph) -> dict[Any, set[str]]:
    used: dict[Any, set[str]] = defaultdict(set)
    for _, _, d in _connections(U):
        used[d.get("step")].add(d["weight"])
    return used


def _footer_lines(U: nx.DiGraph) -> int:
    """Lines under each step's label: one per weight the step uses, with its share (when
    gradients are shown)."""
    if not U.graph.get("grads_kept"):
        return 0
    return max((len(ws) for ws in _weights_by_step(U).values()), default=0)


def _gap(p: _Plan, x: float, a: int, b: int, g: Geometry) -> float:
    label = f"steps {a}-{b}" if b > a else f"step {a}"
    w = 8.0 * g.font
    p.boxes.append((f"gap{a}", x, 0.0, x + w, p.height, label))
    p.gaps.append((a, b))
    for st in range(a, b + 1):
        p.gap_x[st] = (x, x + w)
    return x + w + g.gap


def _step(p: _Plan, U: nx.DiGraph, s: int, layers: dict[str, list[str]], col_index: dict[int, int],
          depth: dict[str, int], band_y: dict[str, float], initial: list[str], x0: float, g: Geometry) -> float:
    x = x0 + g.pad + g.unit / 2
    if initial:
        for name in initial:
            ns = layers.get(name, [])
            for n in ns:
                p.units[n] = _Placed(x, band_y[name] + U.nodes[n]["unit"] * g.row, g.unit / 2)
            if ns:
                p.headers.append((x, band_y[name] + len(ns) * g.row - g.row * 0.35, name))
        x += g.column
    for name, ns in layers.items():
        if name in initial:
            continue
        cx = x + col_index[depth.get(name, 0)] * g.column
        for n in ns:
            p.units[n] = _Placed(cx, band_y[name] + U.nodes[n]["unit"] * g.row, g.unit / 2)
        p.headers.append((cx, band_y[name] + len(ns) * g.row - g.row * 0.35, U.nodes[ns[0]]["tag"]))
    x1 = x + (len(col_index) - 1) * g.column + g.unit / 2 + g.pad
    p.boxes.append((f"step{s}", x0, 0.0, x1, p.height, f"step {s}"))
    p.step_of_box[f"step{s}"] = s
    return x1 + g.gap


def _pen(scale: MagnitudeScale, v: float | None) -> dict[str, str]:
    """Pen from the size of a signed gradient, colour from its sign."""
    if v is None:
        return {"color": NONE_COLOUR, "penwidth": "0.6", "style": "dotted"}
    if not math.isfinite(v):
        return {"color": NONFINITE, "penwidth": f"{MAX_WIDTH:g}", "style": "bold"}
    if v == 0:
        return {"color": ZERO_COLOUR, "penwidth": "0.7", "style": "dashed"}
    width = MIN_WIDTH + scale.position(abs(v)) * (MAX_WIDTH - MIN_WIDTH)
    return {"color": POSITIVE if v > 0 else NEGATIVE, "penwidth": f"{width:.2f}"}


class _Labels:
    """Greedy placement: each label at the spot along its line that covers least of what is
    already there (labels and units weigh most, other lines a little). Boxes and points along
    the lines are kept in a grid of cells, so a placement looks only at its neighbourhood: the
    time is linear in the number of connections, not quadratic."""

    FRACTIONS = tuple(0.15 + 0.05 * k for k in range(15))  # 0.15 .. 0.85
    SAMPLES = 12  # points per line for the crossing test

    def __init__(self, font: float, obstacles: list[tuple[float, float, float, float]],
                 lines: list[tuple[float, float, float, float]]) -> None:
        self.font = font
        self.cell = 6.0 * font
        self.boxes: dict[tuple[int, int], list[tuple]] = defaultdict(list)
        self.points: dict[tuple[int, int], list[tuple[float, float, int]]] = defaultdict(list)
        for box in obstacles:  # units and headers: covering one hides what it is
            self._add_box(box, 8.0)
        for k, (x0, y0, x1, y1) in enumerate(lines):
            for i in range(1, self.SAMPLES):
                t = i / self.SAMPLES
                x, y = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
                self.points[self._key(x, y)].append((x, y, k))

    def _key(self, x: float, y: float) -> tuple[int, int]:
        return int(x // self.cell), int(y // self.cell)

    def _cells(self, box: tuple) -> list[tuple[int, int]]:
        (i0, j0), (i1, j1) = self._key(box[0], box[1]), self._key(box[2], box[3])
        return [(i, j) for i in range(i0, i1 + 1) for j in range(j0, j1 + 1)]

    def _add_box(self, box: tuple, weight: float) -> None:
        for c in self._cells(box):
            self.boxes[c].append((box, weight))

    def size(self, text: str) -> tuple[float, float]:
        return 0.56 * self.font * len(text) + 2.0, 1.25 * self.font

    def _cost(self, box: tuple) -> float:
        cells = self._cells(box)
        near = {id(b): b for c in cells for b in self.boxes.get(c, ())}  # a box spans several cells
        crossing = {k for c in cells for x, y, k in self.points.get(c, ())
                    if box[0] < x < box[2] and box[1] < y < box[3]}
        w, h = box[2] - box[0], box[3] - box[1]
        return sum(weight * _overlap(box, b) for b, weight in near.values()) + 0.15 * w * h * len(crossing)

    def place(self, text: str, a: _Placed, b: _Placed) -> tuple[float, float]:
        w, h = self.size(text)
        best = None
        for f in self.FRACTIONS:
            x, y = a.x + f * (b.x - a.x), a.y + f * (b.y - a.y)
            box = (x - w / 2, y - h / 2, x + w / 2, y + h / 2)
            cost = self._cost(box) + abs(f - 0.5) * 2.0
            if best is None or cost < best[0]:
                best = (cost, x, y, box)
        assert best is not None
        self._add_box(best[3], 2.0)
        return best[1], best[2]


def _overlap(a: tuple, b: tuple) -> float:
    dx = min(a[2], b[2]) - max(a[0], b[0])
    dy = min(a[3], b[3]) - max(a[1], b[1])
    return dx * dy if dx > 0 and dy > 0 else 0.0


def contributions(U: nx.DiGraph) -> tuple[dict[str, float | None], dict[tuple[str, int], float | None], dict[str, str]]:
    """Per weight ‖G‖, and per (weight, step) c_t = ⟨G_t, G⟩ / ‖G‖, from the connection grads.

    G_t is the matrix of one step's connection grads (element [i, j] of x_tᵀ g_t), so the c_t of
    a weight add up to ‖G‖, the norm of this tape's total gradient for it.
    """
    per: dict[tuple[str, int], dict[tuple[int, int], float]] = defaultdict(lambda: defaultdict(float))
    total: dict[str, dict[tuple[int, int], float]] = defaultdict(lambda: defaultdict(float))
    shapes: dict[str, tuple[int, int]] = {}
    known: set[str] = set()
    for _, _, d in _connections(U):
        w = d["weight"]
        i0, j0 = shapes.get(w, (0, 0))
        shapes[w] = (max(i0, d["i"] + 1), max(j0, d["j"] + 1))
        if d.get("grad") is None:
            continue
        known.add(w)
        per[(w, d.get("step"))][(d["i"], d["j"])] += d["grad"]
        total[w][(d["i"], d["j"])] += d["grad"]
    norms: dict[str, float | None] = {}
    shares: dict[tuple[str, int], float | None] = {}
    for w in shapes:
        if w not in known:
            norms[w] = None
            continue
        norm = math.sqrt(sum(v * v for v in total[w].values()))
        norms[w] = norm
        for (w2, s), entries in per.items():
            if w2 == w:
                shares[(w, s)] = (sum(v * total[w][k] for k, v in entries.items()) / norm) if norm > 0 else None
    return norms, shares, {w: f"{a}x{b}" for w, (a, b) in shapes.items()}


def _connections(U: nx.DiGraph):
    for a, b, d in U.edges(data=True):
        for e in (d, *d.get("parallel", ())):
            if e.get("kind") == "connection":
                yield a, b, e


def size_of(U: nx.DiGraph, keep: list[int] | None, size: Size, caption_lines: int = 1) -> tuple[float, float]:
    """The drawing's width and height in points for the steps ``keep`` (for fitting a slide)."""
    g = Geometry(size.small)
    p = plan(U, keep, g)
    return p.width + _after_width(U, g), p.height + 1.3 * (size.fontsize + 2) * caption_lines + 12


def _after_width(U: nx.DiGraph, g: Geometry) -> float:
    return (RIGHT_COLUMN_CHARS * 0.56 + 3.0) * g.font


def write_units_dot(U: nx.DiGraph, scale: MagnitudeScale, size: Size | None, caption: str, labels: bool = False,
                    keep: list[int] | None = None) -> str:
    """DOT (for neato, every node pinned) of the unit-level unrolled net, steps ``keep``."""
    size = size or Size("natural", math.inf, math.inf, 12.0)
    font = size.small
    g = Geometry(font)
    grads_shown = bool(U.graph.get("grads_kept")) and any(
        d.get("grad") is not None for _, _, d in _connections(U))
    rolled = U.graph.get("rolled", False)
    p = plan(U, keep, g) if not rolled else _rolled_plan(U, g)
    norms, shares, shapes = contributions(U)
    grads_shown = grads_shown and any(v is not None for v in norms.values())
    gscale = MagnitudeScale.from_values(abs(d["grad"]) for _, _, d in U.edges(data=True)
                                        if d.get("grad") is not None) if grads_shown else scale
    limit = {"size": f"{size.width:g},{size.height:g}"} if math.isfinite(size.width) else {}
    out = ["digraph units {",
           f"  graph [{dot_attrs({**limit, 'layout': 'neato', 'splines': 'curved' if rolled else 'line', 'outputorder': 'edgesfirst', 'fontname': 'Helvetica', 'fontsize': f'{size.fontsize + 2:g}', 'labelloc': 't', 'labeljust': 'l', 'label': caption, 'tooltip': caption, 'pad': '0.15'})}];",
           f'  node [fontname=Helvetica, fontsize={font:g}, fixedsize=true];',
           f"  edge [arrowsize=0.55, fontname=Helvetica, fontsize={font:g}];"]

    def pos(x: float, y: float) -> str:
        return f"{x / 72:.4f},{y / 72:.4f}!"

    decimals = {w: fixed_decimals(norms[w]) for w in norms}

    used = _weights_by_step(U)

    def share_lines(step_set: set[int]) -> list[str]:
        if not grads_shown:
            return []
        lines = []
        for w in sorted(norms):
            if not any(w in used.get(st, ()) for st in step_set):
                continue  # a weight this step does not use (W_xh at the synchronous net's step 0)
            vals = [c for (w2, st), c in shares.items() if w2 == w and st in step_set and c is not None]
            lines.append(f"{w} {fmt_term(sum(vals), decimals[w]) if vals else '-'}")
        return lines

    gap_steps = {f"gap{a}": set(range(a, b + 1)) for a, b in p.gaps}
    for bid, x0, y0, x1, y1, label in p.boxes:  # step boxes: unfilled, so edges show through
        gap = bid.startswith("gap")
        if not rolled:
            extra = share_lines(gap_steps[bid] if gap else {p.step_of_box[bid]})
            label = "\n".join([label, *extra])
        out.append(f"  box_{bid} [{dot_attrs({'label': label, 'shape': 'box', 'style': 'rounded,dashed' if gap else 'rounded', 'color': '#b0b0b0', 'fontcolor': '#555555' if gap else '#333333', 'labelloc': 'c' if gap else 'b', 'width': f'{(x1 - x0) / 72:.4f}', 'height': f'{(y1 - y0) / 72:.4f}', 'pos': pos((x0 + x1) / 2, (y0 + y1) / 2), 'fontsize': f'{size.fontsize:g}', 'tooltip': label, 'class': 'step-box'})}];")
    for k, (x, y, text) in enumerate(p.headers):
        out.append(f"  head{k} [{dot_attrs({'label': text, 'shape': 'plaintext', 'width': f'{max(len(text), 2) * 0.6 * font / 72:.3f}', 'height': f'{1.3 * font / 72:.3f}', 'pos': pos(x, y + 0.2 * g.row), 'fontsize': f'{size.fontsize:g}', 'fontcolor': '#222222'})}];")
    ids = {n: f"u{i}" for i, n in enumerate(p.units)}
    p_ids = set(ids.values())
    obstacles = [(q.x - q.r, q.y - q.r, q.x + q.r, q.y + q.r) for q in p.units.values()]
    obstacles += [(x - 2 * font, y, x + 2 * font, y + 1.3 * font) for x, y, _ in p.headers]
    for n, q in p.units.items():
        d = U.nodes[n]
        tip = f"{d['label']}" + ("" if d.get("value") is None else f"\nmean activity {d['value']:.4g}")
        out.append(f"  {ids[n]} [{dot_attrs({'label': str(d['unit']), 'shape': 'circle', 'width': f'{2 * q.r / 72:.4f}', 'style': 'filled', 'fillcolor': _fill(d), 'color': '#444444', 'pos': pos(q.x, q.y), 'tooltip': tip, 'class': 'unit'})}];")
    segments = [(p.units[a].x, p.units[a].y, p.units[b].x, p.units[b].y) for a, b, e in _connections(U)
                if a in p.units and b in p.units]
    placer = _Labels(font, obstacles, segments)
    loss_marks: dict[str, str] = {}
    for a, b, d in U.edges(data=True):
        for e in (d, *d.get("parallel", ())):
            kind = e.get("kind")
            if kind == "to_loss":
                if a not in p.units:
                    continue
                q = p.units[a]
                mid = loss_marks.get(a)
                if mid is None:
                    mid = loss_marks[a] = f"toloss{len(loss_marks)}"
                    out.append(f"  {mid} [{dot_attrs({'label': 'to loss', 'shape': 'plaintext', 'width': f'{4.2 * font / 72:.3f}', 'height': f'{1.2 * font / 72:.3f}', 'pos': pos(q.x + 3.2 * font, q.y + 2.1 * font), 'fontcolor': '#666666', 'tooltip': 'the loss stands right of the last step'})}];")
                pen = _pen(gscale, e.get("grad")) if grads_shown else {"color": "#777777"}
                out.append(f"  {ids[a]} -> {mid} [{dot_attrs({**pen, 'tooltip': _edge_tip(U, a, 'loss', e)})}];")
                continue
            src_id, dst_id = ids.get(a), ids.get(b)
            qa, qb = p.units.get(a), p.units.get(b)
            if (qa is None) == (qb is None):  # both hidden, or both shown
                if qa is None:
                    continue
            else:  # one end in a hidden step: the line starts or ends at the gap's edge
                far = p.anchor(U.nodes[a] if qa is None else U.nodes[b], (qb or qa).x)
                if far is None:
                    continue
                aid = f"anchor{len(out)}"
                out.append(f"  {aid} [{dot_attrs({'label': '', 'shape': 'point', 'width': '0.01', 'style': 'invis', 'pos': pos(far.x, far.y)})}];")
                if qa is None:
                    qa, src_id = far, aid
                else:
                    qb, dst_id = far, aid
            pen = _pen(gscale, e.get("grad")) if grads_shown else {"color": "#666666", "penwidth": "0.9"}
            attrs = {**pen, "tooltip": _edge_tip(U, a, b, e)}
            if kind == "elementwise":  # unit k to unit k, no weight: an open arrowhead
                attrs.update(arrowhead="empty", arrowsize="0.9")
            out.append(f"  {src_id} -> {dst_id} [{dot_attrs(attrs)}];")
            if kind == "connection" and not rolled and src_id in p_ids and dst_id in p_ids:
                x, y = placer.place(e["label"], qa, qb)
                w, h = placer.size(e["label"])
                out.append(f"  {_lid(len(out))} [{dot_attrs({'label': e['label'], 'shape': 'box', 'style': 'filled', 'fillcolor': '#ffffffd8', 'color': 'none', 'margin': '0', 'width': f'{w / 72:.3f}', 'height': f'{h / 72:.3f}', 'pos': pos(x, y), 'fontcolor': pen['color'] if grads_shown else '#333333', 'tooltip': attrs['tooltip']})}];")
    # The loss and the weights' totals, right of the last step.
    x = p.width + 1.0 * font
    lines = []
    if grads_shown:
        for w in sorted(norms):
            dec = fixed_decimals(norms[w])
            if norms[w] is None or norms[w] == 0:
                lines.append(f"{w} ({shapes[w]}): no gradient")
            else:
                lines.append(f"{w} ({shapes[w]}): |G| = {fmt_term(norms[w], dec).lstrip('+')}")
        if lines and not rolled:
            lines.append("= the sum of the steps' shares")
    top = p.height - 1.2 * font
    loss = next((n for n, d in U.nodes(data=True) if d.get("kind") == "loss"), None)
    if loss is not None and not rolled:
        d = U.nodes[loss]
        label = d.get("label") or "loss"
        if d.get("value") is not None:
            label += f" = {fmt_number(d['value'])}"
        wd, ht = (len(label) * 0.6 + 1.5) * font, 2.2 * font
        out.append(f"  loss_node [{dot_attrs({'label': label, 'shape': 'box', 'style': 'rounded,filled', 'fillcolor': '#fde8e0', 'width': f'{wd / 72:.3f}', 'height': f'{ht / 72:.3f}', 'pos': pos(x + wd / 2, top - ht / 2), 'tooltip': 'the loss: every step with a target adds to it (the to-loss arrows)'})}];")
        top -= ht + 1.0 * font
    if lines:
        top = _text_box(out, "totals", lines, x, top, font, {"shape": "box", "style": "filled", "fillcolor": "#eef4fb", "color": "#6a8fbf", "tooltip": "each weight: the norm of its total gradient from this tape; the shares in the steps' boxes add up to it"})
    if grads_shown:
        legend = ROLLED_LEGEND if rolled else LEGEND
        if not any(d.get("kind") == "elementwise" for _, _, d in U.edges(data=True)):
            legend = [line for line in legend if line not in ELEMENTWISE_LINES]
        _text_box(out, "legend_note", legend, x, top - 0.8 * font, font, {"shape": "plaintext", "fontcolor": "#333333"})
    out.append("}")
    return "\n".join(out) + "\n"


LEGEND = ["a line: a connection W[i, j],", "drawn in every step that uses it;",
          "its pen: the size of its gradient", "in that step; red +, blue -;", "dashed grey: zero gradient.",
          "Open arrowhead: unit k to unit k,", "no weight (an LSTM's cell).", "A unit's grey: its mean activity.",
          "A step's share of a weight:", "<G_t, G>/|G|, the length of its", "gradient G_t along the total G;",
          "the shares add up to |G|."]
ELEMENTWISE_LINES = ("Open arrowhead: unit k to unit k,", "no weight (an LSTM's cell).")
ROLLED_LEGEND = ["a line: a connection W[i, j], once;", "a loop: a recurrent one (W_hh);",
                 "its pen: the size of its gradient", "summed over the steps, which is", "element [i, j] of the weight's",
                 "total gradient; red +, blue -."]
RIGHT_COLUMN_CHARS = 34  # the widest line of the column right of the last step


def _text_box(out: list[str], nid: str, lines: list[str], x: float, top: float, font: float, style: dict) -> float:
    """A box of left-aligned lines with its top-left corner at (x, top); returns its bottom."""
    wd = max(len(s) for s in lines) * 0.56 * font + 1.5 * font
    ht = (len(lines) + 0.6) * 1.22 * font
    out.append(f"  {nid} [label={quote(chr(10).join(lines), justify='l')}, {dot_attrs({**style, 'width': f'{wd / 72:.3f}', 'height': f'{ht / 72:.3f}', 'pos': f'{(x + wd / 2) / 72:.4f},{(top - ht / 2) / 72:.4f}!'})}];")
    return top - ht


def _fill(d: dict) -> str:
    v = d.get("value")
    if v is None or not math.isfinite(v) or not 0 <= v <= 1:
        return "#ffffff"
    level = int(255 - 80 * v)  # darker grey: a more active unit
    return f"#{level:02x}{level:02x}{level:02x}"


def _edge_tip(U: nx.DiGraph, a: str, b: str, e: dict) -> str:
    head = U.nodes[b]["label"] if b in U else b
    text = f"{e.get('label') or e.get('kind')}: {U.nodes[a]['label']} -> {head}, step {e.get('step')}"
    if e.get("value") is not None:
        text += f"\nweight {e['value']:.4g}"
    if e.get("grad") is not None:
        text += f"\ngradient {e['grad']:+.4g}"
    return text


def _lid(k: int) -> str:
    return f"lab{k}"




def _rolled_plan(U: nx.DiGraph, g: Geometry) -> _Plan:
    """Each unit once: the layers in columns by depth, one box."""
    depth = _depths(U)
    order = _layer_order(U)
    widths: dict[str, int] = defaultdict(int)
    for n, d in U.nodes(data=True):
        if d.get("kind") == "unit":
            widths[d["layer"]] = max(widths[d["layer"]], d["unit"] + 1)
    cols = sorted({depth.get(n, 0) for n in order if n in widths})
    stacks: dict[int, list[str]] = defaultdict(list)
    for n in order:
        if n in widths:
            stacks[cols.index(depth.get(n, 0))].append(n)
    body = max(sum(widths[n] for n in ns) * g.row * 1.4 + len(ns) * g.row for ns in stacks.values())
    p = _Plan()
    bottom = 2.2 * g.font + g.pad
    p.height = bottom + body + 3.6 * g.font
    col_w = g.column * 1.3
    for c, names in stacks.items():
        height = sum(widths[n] for n in names) * g.row * 1.4 + (len(names) - 1) * g.row
        y = bottom + (body - height) / 2 + g.row / 2
        cx = g.pad + g.unit + c * col_w
        for name in names:
            for n, d in U.nodes(data=True):
                if d.get("kind") == "unit" and d["layer"] == name:
                    # recurrent layers zig-zag, so the loops between their units do not overlap
                    shift = (g.column * 0.35) * (d["unit"] % 2) if any(
                        e.get("recurrent") for _, b, e in U.in_edges(n, data=True)) else 0.0
                    p.units[n] = _Placed(cx + shift, y + d["unit"] * g.row * 1.4, g.unit / 2)
            p.headers.append((cx, y + widths[name] * g.row * 1.4 - g.row * 0.5, name))
            y += widths[name] * g.row * 1.4 + g.row
    p.width = g.pad * 2 + g.unit * 2 + (len(stacks) - 1) * col_w + g.column * 0.6
    p.boxes.append(("rolled", 0.0, 0.0, p.width, p.height, "every step folded onto one"))
    return p
