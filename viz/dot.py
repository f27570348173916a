"""One DOT writer for every view: step clusters in a row, the time ruler, shared-weight stubs,
labels with meaning, tooltips, the legend, all sized for a slide, a page or a box of your own.

Layout, found by trying (Graphviz's dot): time and data both run left to right (rankdir=LR);
invisible *gates*, one point between every two columns chained left to right, come before every
node of a column and after every node of the one before, so the columns take turns along the
ranks: the steps in time order at one height, an edge from step t into t+1 forward across one
gate (a top-to-bottom layout routes those edges as loops around the clusters). The columns are:
what comes before the steps (rare), the steps and the gaps of a window, then one column after
the last step with the loss and everything else computed from all steps, so no such node can sit
between two steps. A weight used by every step would be one node with an edge into every
cluster, which takes dot minutes to lay out for 50 steps; instead each step has a dashed stub
that lists the shared weights it uses with this step's contribution to each, and one summary
per weight holds its total.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import networkx as nx

from .render import dot_attrs, quote
from .scale import MagnitudeScale
from .views import after_steps


@dataclass(frozen=True)
class Size:
    """A drawing's box in inches and its base font in points (labels; the smallest text is
    :attr:`small`). A drawing larger than the box is scaled down to fit it."""

    name: str
    width: float
    height: float
    fontsize: float

    @property
    def small(self) -> float:
        """The smallest font used (stub lines, edge labels, the legend)."""
        return round(self.fontsize * 0.84, 1)


# 16:9, as wide as the fonts allow: its smallest text (10.1 pt) on 1,044 pt shown 1280 px wide is 12.4 px.
SLIDE = Size("slide", 14.5, 8.156, 12.0)
PAGE = Size("page", 10.0, 7.0, 10.0)       # a landscape page, 1 inch margins


def parse_size(size: Any, fontsize: float | None = None) -> Size | None:
    """``"slide"``, ``"page"``, a (width, height) in inches, or None (natural size).

    >>> parse_size("slide").width, parse_size((8, 4.5), fontsize=14).fontsize
    (14.5, 14)
    """
    if size is None:
        return None if fontsize is None else Size("natural", math.inf, math.inf, float(fontsize))
    if size == "slide":
        base = SLIDE
    elif size == "page":
        base = PAGE
    elif isinstance(size, (tuple, list)) and len(size) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in size):
        base = Size("custom", float(size[0]), float(size[1]), 12.0)
    else:
        raise ValueError(f"draw: size must be 'slide', 'page', a (width, height) in inches or None, got {size!r}")
    if fontsize is not None:
        if not (isinstance(fontsize, (int, float)) and 4 <= fontsize <= 72):
            raise ValueError(f"draw: fontsize must be a number of points from 4 to 72, got {fontsize!r}")
        base = Size(base.name, base.width, base.height, fontsize)
    return base


def fmt_number(v: float | None, digits: int = 4) -> str:
    """A gradient magnitude for a label: 4 significant digits, "-" for none."""
    if v is None:
        return "-"
    if not math.isfinite(v):
        return str(v)
    return f"{v:.{digits}g}" if 1e-3 <= abs(v) < 1e4 or v == 0 else f"{v:.{digits - 1}e}"


def fixed_decimals(total: float | None) -> int:
    """Decimals that give ``total`` four significant digits; the terms of a sum are printed
    with the same decimals, so a student can add them up by hand."""
    if total is None or not math.isfinite(total) or total == 0:
        return 4
    return max(0, 3 - math.floor(math.log10(abs(total))))


def fmt_term(c: float | None, decimals: int) -> str:
    """A contribution with a sign, fixed decimals: ``+0.1234``, ``-0.0031``."""
    if c is None:
        return "-"
    if not math.isfinite(c):
        return str(c)
    if abs(c) >= 10 ** 6 or (c != 0 and abs(c) < 10 ** (-decimals) / 2 and decimals > 8):
        return f"{c:+.3e}"
    return f"{c:+.{decimals}f}"


def _tooltip(d: dict) -> str:
    parts = [d.get("label") or d.get("op") or ""]
    if d.get("op") and d.get("op") not in parts[0]:
        parts.append(f"op: {d['op']}")
    if d.get("shape"):
        parts.append(f"shape: {d['shape']}")
    if d.get("scope"):
        parts.append(f"scope: {d['scope']}")
    if d.get("value_mean") is not None:
        parts.append(f"value: mean {d['value_mean']:.4g}" + (
            f", std {d['value_std']:.4g}, min {d['value_min']:.4g}, max {d['value_max']:.4g}"
            if d.get("value_std") is not None else ""))
    if d.get("grad_norm") is not None:
        parts.append(f"|gradient|: {fmt_number(d['grad_norm'])}")
    return "\n".join(parts)


def _edge_tooltip(d: dict) -> str:
    parts = [f"|gradient|: {fmt_number(d.get('grad_norm'))}"]
    if d.get("contribution") is not None:
        parts.append(f"contribution to the weight's total: {d['contribution']:+.6g}")
    return "\n".join(parts)




_NODE_STYLE = {
    "param": {"shape": "box", "style": "filled", "fillcolor": "#dbe9f6"},
    "tensor": {"shape": "box", "style": "rounded,filled", "fillcolor": "#e8f3e0"},
    "const": {"shape": "plaintext", "fontcolor": "#555555"},
    "elided": {"shape": "plaintext", "fontcolor": "#666666"},
}


class _Writer:
    """Accumulates DOT lines for one graph; each method writes one part of the picture."""

    def __init__(self, G: nx.DiGraph, scale: MagnitudeScale, size: Size, labels: bool) -> None:
        self.G, self.scale, self.size, self.labels = G, scale, size, labels
        self.ids = {n: f"n{i}" for i, n in enumerate(G.nodes)}
        self.out: list[str] = []
        self.shared = [n for n in G.graph.get("shared", []) if n in G]
        self.decimals = {w: fixed_decimals(G.nodes[w].get("grad_norm")) for w in self.shared}
        self.grads_shown = G.graph.get("grads", "shown") == "shown"

    def node(self, n: str, indent: str = "    ") -> None:
        d = self.G.nodes[n]
        attrs = {"label": d.get("label") or d.get("op") or "", **_NODE_STYLE.get(d["kind"], {}),
                 "tooltip": _tooltip(d)}
        if d["kind"] == "elided" and d.get("terms"):
            lines = [attrs["label"]] + [
                f"{self.G.nodes[w]['label']} {fmt_term(c, self.decimals.get(w, 4))}" for w, c in d["terms"].items()]
            attrs["label"] = "\n".join(lines)
        self.out.append(f"{indent}{self.ids[n]} [{dot_attrs(attrs)}];")

    def edge(self, u: str, v: str, d: dict, extra: dict[str, str] | None = None, src_id: str | None = None,
             dst_id: str | None = None) -> None:
        e = self.scale.encode(d.get("grad_norm"), self.labels) if self.grads_shown else dict(_NO_GRAD_EDGE)
        if self.grads_shown:
            e["tooltip"] = _edge_tooltip(d)
        e.update(extra or {})
        self.out.append(f"  {src_id or self.ids[u]} -> {dst_id or self.ids[v]} [{dot_attrs(e)}];")


_NO_GRAD_EDGE = {"color": "#555555", "penwidth": "1.0"}


def _columns(G: nx.DiGraph, shared: set[str]) -> tuple[list[Any], dict[Any, list[str]]]:
    """The columns left to right and the nodes of each: ("before",), steps and gaps, ("after",)."""
    steps = G.graph.get("steps", [])
    members: dict[Any, list[str]] = defaultdict(list)
    after = after_steps(G)
    for n, d in G.nodes(data=True):
        if n in shared:
            continue
        if d["kind"] == "elided":
            members[("gap", n)].append(n)
        elif d.get("step") is not None:
            members[d["step"]].append(n)
        elif n in after:
            members["after"].append(n)
        else:
            members["before" if steps else "cell"].append(n)  # no steps: a rolled graph, one cell
    gaps = sorted((G.nodes[k[1]].get("after") if G.nodes[k[1]].get("after") is not None else -math.inf, k)
                  for k in members if isinstance(k, tuple))
    order: list[Any] = [c for c in ("cell", "before") if members.get(c)]
    gi = 0
    for s in steps:
        while gi < len(gaps) and gaps[gi][0] < s:
            order.append(gaps[gi][1])
            gi += 1
        order.append(s)
    order.extend(g[1] for g in gaps[gi:])
    order.append("after")
    return order, members


def write_dot(G: nx.DiGraph, scale: MagnitudeScale, size: Size | None, caption: str, labels: bool = False,
              per_use: bool = True) -> str:
    """DOT for a view's graph: a cluster per step in time order, the loss after the last step.

    ``per_use``: an edge for every use of a shared weight with its own magnitude (op detail);
    otherwise one edge per node it feeds (module detail).
    """
    size = size or Size("natural", math.inf, math.inf, 12.0)
    w = _Writer(G, scale, size, labels)
    fs, small = size.fontsize, size.small
    graph_attrs = {"rankdir": "LR", "newrank": "true", "compound": "true", "nodesep": "0.12", "ranksep": "0.22",
                   "fontname": "Helvetica", "fontsize": f"{fs + 2:g}", "labelloc": "t", "labeljust": "l",
                   "label": caption, "tooltip": caption}
    if math.isfinite(size.width):
        graph_attrs["size"] = f"{size.width:g},{size.height:g}"
    w.out += ["digraph unrolled {", f"  graph [{dot_attrs(graph_attrs)}];",
              f'  node [fontname=Helvetica, fontsize={fs:g}, shape=box, style="rounded,filled", fillcolor="#f5f5f5", '
              'height=0.3, margin="0.08,0.04"];',
              f"  edge [arrowsize=0.6, fontname=Helvetica, fontsize={small:g}];"]
    shared = set(w.shared)
    order, members = _columns(G, shared)
    ids = w.ids
    col_of = {n: c for c, ns in members.items() for n in ns}
    uses: dict[Any, list[tuple[str, str]]] = defaultdict(list)  # column -> (weight, user)
    for s_node in w.shared:
        for v in G.successors(s_node):
            uses[col_of.get(v)].append((s_node, v))
    outs: dict[tuple[Any, str], str] = {}  # (step, node after the last step) -> its marker in the step
    # A shared value computed before the steps (W_xh * mask) has its summary in the column before
    # them, beside what it is made of; a weight's summary stands after the last step.
    summary_col = {n: "before" if any(True for _ in G.predecessors(n)) else "after" for n in w.shared}
    for n, c in summary_col.items():
        col_of[n] = c
    if any(c == "before" for c in summary_col.values()) and "before" not in order:
        order.insert(0, "before")
    has_pred = {v for u, v in G.edges if u not in shared and col_of.get(u) == col_of.get(v)}
    has_succ = {u for u, v in G.edges if u not in shared and col_of.get(u) == col_of.get(v)}
    firsts: dict[Any, list[str]] = {}
    lasts: dict[Any, list[str]] = {}
    for col in order:
        nodes = members.get(col, [])
        here = [n for n in w.shared if summary_col[n] == col]
        if not nodes and not here and col != "after":
            continue
        cid = _cluster_id(col)
        title = _column_title(col) if G.graph.get("steps") or col != "after" else ""
        w.out.append(f"  subgraph {cid} {{")
        w.out.append(f"    label={quote(title)}; labelloc=b; style=rounded; color=\"#b0b0b0\"; fontsize={fs:g};")
        if col == "after":
            w.out.append('    style="rounded,dashed"; color="#c8c8c8";' if G.graph.get("steps") else '    color="white";')
        for n in nodes:
            w.node(n)
        if isinstance(col, int):
            _loss_markers(w, col, nodes, col_of, outs)
        stub = _stub(w, col, uses.get(col, []), per_use)
        _summaries(w, here)
        if col == "after":
            w.out.append(_legend(w))  # inside the last column: no room is free elsewhere
        w.out.append("  }")
        firsts[col] = [ids[n] for n in nodes if n not in has_pred] + ([stub] if stub else [])
        lasts[col] = [ids[n] for n in nodes if n not in has_succ]
        firsts[col] += [ids[n] for n in here if n not in has_pred]
        lasts[col] += [ids[n] for n in here if col == "before"]
        if col == "after" and w.grads_shown:
            firsts[col] += ["legend_note", "legend_bad"] if shared else ["legend_bad"]
    # Gates between the columns: every node of a column comes after its gate and before the
    # next one, so the columns take turns along the ranks (time left to right at one height)
    # and an edge from step t into t+1 runs forward across one gate.
    cols = [c for c in order if firsts.get(c)]
    if len(cols) > 1:
        gates = [f"gate{i}" for i in range(len(cols) + 1)]
        for g in gates:
            w.out.append(f"  {g} [shape=point, style=invis, width=0.01, label=\"\"];")
        for i, col in enumerate(cols):
            w.out.extend(f"  {gates[i]} -> {n} [style=invis];" for n in firsts[col])
            w.out.extend(f"  {n} -> {gates[i + 1]} [style=invis];" for n in lasts[col])
        w.out.append("  " + " -> ".join(gates) + " [style=invis, weight=20];")
    for u, v, d in G.edges(data=True):
        if u in shared:
            continue
        cu = col_of.get(u)
        if (cu, v) in outs:
            w.edge(u, v, d, {}, dst_id=outs[(cu, v)])
            continue
        extra = {}
        if d.get("recurrent"):
            extra["constraint"] = "false"
        w.edge(u, v, d, extra)
    w.out.append("}")
    return "\n".join(w.out) + "\n"


def _loss_markers(w: _Writer, col: int, nodes: list[str], col_of: dict[str, Any], outs: dict) -> None:
    """A step's outputs into the loss: a short edge to a marker inside the step, not a long
    edge across every later step into the last column."""
    G = w.G
    for u in nodes:
        for v in G.successors(u):
            if col_of.get(v) == "after" and (col, v) not in outs:
                marker = outs[(col, v)] = f"out{col}_{len(outs)}"
                name = G.nodes[v].get("label") or G.nodes[v].get("op") or ""
                w.out.append(f"    {marker} [{dot_attrs({'label': 'to the loss', 'shape': 'box', 'style': 'dashed', 'color': '#999999', 'fontcolor': '#555555', 'fontsize': f'{w.size.small:g}', 'tooltip': f'to {name}, after the last step'})}];")


def _cluster_id(col: Any) -> str:
    if isinstance(col, tuple):
        return f"cluster_{col[1]}"
    return f"cluster_step{col}" if isinstance(col, int) else f"cluster_{col}"


def _column_title(col: Any) -> str:
    if isinstance(col, int):
        return f"step {col}"
    if col == "after":
        return "after the last step"
    if col == "before":
        return "before the first step"
    if col == "cell":
        return "every step folded onto one cell"
    return ""


def _stub(w: _Writer, col: Any, uses: list[tuple[str, str]], per_use: bool) -> str | None:
    """One dashed box per step listing the shared weights it uses, each with this step's
    contribution to the weight's total; an edge from it to every use carries that use's pen."""
    if not uses or not (isinstance(col, int) or col in ("before", "after")):
        return None
    G = w.G
    stub = f"stub{col}"  # outside the steps too (weight decay on W_hh): every use's term is drawn
    by_weight: dict[str, list[str]] = defaultdict(list)
    for s_node, v in uses:
        by_weight[s_node].append(v)
    lines = []
    for s_node, users in by_weight.items():
        name = G.nodes[s_node]["label"]
        if w.grads_shown:
            c = _sum_or_none(G.edges[s_node, v].get("contribution") for v in users)
            lines.append(f"{name} {fmt_term(c, w.decimals[s_node])}")
        else:
            lines.append(name)
    head = "shared weights" + ("" if isinstance(col, int) else ", not in a step") + (
        ": contribution" if w.grads_shown else "")
    text = head + "\n" + "\n".join(lines)
    w.out.append(f"    {stub} [{dot_attrs({'label': text, 'shape': 'box', 'style': 'dashed,filled', 'fillcolor': '#eef4fb', 'color': '#6a8fbf', 'fontcolor': '#223355', 'fontsize': f'{w.size.small:g}', 'class': 'shared-stub', 'tooltip': 'the shared weights this step uses, each with the part of its total gradient this step contributes'})}];")
    if per_use:
        for s_node, v in uses:
            d = G.edges[s_node, v]
            w.edge(s_node, v, d, {"tooltip": f"{G.nodes[s_node]['label']} into {G.nodes[v].get('label')}\n"
                                  + _edge_tooltip(d)} if w.grads_shown else None, src_id=stub)
    else:
        for v in dict.fromkeys(v for _, v in uses):
            norms = [G.edges[s, u].get("grad_norm") for s, u in uses if u == v]
            vals = [x for x in norms if x is not None]
            w.edge(stub, v, {"grad_norm": math.sqrt(sum(x * x for x in vals)) if vals else None}, src_id=stub)
    return stub


def _sum_or_none(vals: Any) -> float | None:
    vals = [v for v in vals if v is not None]
    return sum(vals) if vals else None


def _summaries(w: _Writer, nodes: list[str]) -> None:
    """One node per shared weight: its total ‖G‖ = the sum of the contributions drawn."""
    G = w.G
    for s_node in nodes:
        d = G.nodes[s_node]
        n_steps = d.get("steps_used") or len({G.nodes[v].get("step") for v in G.successors(s_node)})
        lines = [f"{d['label']} {d.get('shape', '')}, used by {n_steps} steps"]
        if not w.grads_shown:
            pass  # the caption says why no gradient is shown
        elif d.get("grad_norm") is None or d["grad_norm"] == 0:
            lines.append("no gradient")
        else:  # the legend says the contributions add up to it
            lines.append(f"|G| = {fmt_term(d['grad_norm'], w.decimals[s_node]).lstrip('+')}")
        fill = "#dbe9f6" if d["kind"] == "param" else "#f5f5f5"
        w.out.append(f"    {w.ids[s_node]} [{dot_attrs({'label': chr(10).join(lines), 'shape': 'box', 'style': 'filled', 'fillcolor': fill, 'tooltip': _tooltip(d)})}];")


def _legend(w: _Writer) -> str:
    if not w.grads_shown:
        return ""
    lines = [w.scale.legend(fontsize=w.size.small)]
    if w.shared:
        note = ("a step's contribution to a shared weight:\nthe length of its gradient G_t\nalong the total G, "
                "<G_t, G>/|G|;\nthe contributions add up to |G|\n(a negative one pushes against\nthe others)")
        lines.append(f"    legend_note [label={quote(note, justify='l')}, shape=plaintext, fontsize={w.size.small:g}];")
    return "\n".join(lines)


def smallest_text_px(svg: str, width_px: float = 1280, box: Size | None = None) -> float:
    """The height in pixels of the smallest text of an SVG shown ``width_px`` wide, or, with a
    ``box`` (a :class:`Size`), of the SVG placed at its own size on a page of that box shown
    ``width_px`` wide (a slide: a narrow drawing is not blown up to the slide's width).

    Font sizes may be set on the text or inherited from an enclosing element; transforms that
    scale are followed.

    >>> smallest_text_px('<svg width="200pt" viewBox="0 0 200 100" font-size="6"><g transform="scale(2 2)">'
    ...                  '<text>a</text><text font-size="10.00">b</text></g></svg>', 1280) == 6 * 2 * 6.4
    True
    """
    import re
    import xml.etree.ElementTree as ET

    frame = box
    root = ET.fromstring(svg.encode() if isinstance(svg, str) else svg)
    vb = (root.get("viewBox") or "").split()
    if len(vb) != 4:
        raise ValueError("smallest_text_px: the SVG has no viewBox")
    per_unit = width_px / float(vb[2])
    if frame is not None:  # the drawing's own size in points, on a page frame.width inches wide
        width_pt = float(re.match(r"[\d.]+", root.get("width") or vb[2]).group(0))
        per_unit = (width_pt / float(vb[2])) * width_px / (frame.width * 72)
    smallest = math.inf

    def walk(el: Any, size: float | None, scale: float) -> None:
        nonlocal smallest
        fs = el.get("font-size")
        if fs is not None:
            size = float(re.match(r"[\d.]+", fs).group(0))
        m = re.search(r"scale\(([-\d.]+)", el.get("transform") or "")
        if m:
            scale *= abs(float(m.group(1)))
        if el.tag.rsplit("}", 1)[-1] == "text" and "".join(el.itertext()).strip():
            smallest = min(smallest, (size if size is not None else 16.0) * scale * per_unit)
        for child in el:
            walk(child, size, scale)

    walk(root, None, 1.0)
    return smallest
