"""``draw()``: choose the view, the detail and the size, chain the steps of the pipeline.

A drawing flows one way: the tape or a tensor becomes a graph (:mod:`viz.graph`, or
:mod:`viz.units` at unit level); a view transforms it (:mod:`viz.views`: window, modules,
rolled); :mod:`viz.dot` writes DOT for a size; :class:`viz.Diagram` renders it. This module only
decides which steps to take.
"""
from __future__ import annotations

import math
import re
from typing import Any

import networkx as nx

import autograd_mini as am

from . import views
from .dot import Size, parse_size, write_dot
from .graph import GRADS_NOTE, to_networkx
from .render import Diagram, RenderError, render
from .scale import MagnitudeScale
from .unit_dot import size_of, write_units_dot
from .units import rolled_units

AUTO_MAX_UNITS = 12  # detail="auto" draws units when no step has more than this many
AUTO_MAX_OPS = 400   # untagged nets (no units to find): every op up to this many, else modules
AUTO_WINDOW = 6      # at natural size, a long module-level unroll shows the first and last 6 steps
DETAILS = ("auto", "units", "ops", "modules")


def _units_or_none(source: Any) -> nx.DiGraph | None:
    """The unit-level graph, or None for a net with no tagged layers (an HMM, a bare tape)."""
    try:
        return to_networkx(source, detail="units")
    except ValueError:
        return None


def _units_per_step(U: nx.DiGraph) -> int:
    """The most units a step has (0 when the net has no connection W[i, j] to draw: an HMM)."""
    if not any(d.get("kind") == "connection" for _, _, d in U.edges(data=True)):
        return 0
    counts: dict[Any, int] = {}
    for _, d in U.nodes(data=True):
        if d.get("kind") == "unit":
            counts[d.get("step")] = counts.get(d.get("step"), 0) + 1
    return max(counts.values(), default=0)


def draw(source: Any, view: str = "unrolled", detail: str = "auto", steps: Any = None,
         scale: MagnitudeScale | None = None, labels: bool = False, title: str | None = None,
         constants: bool = True, size: Any = "slide", fontsize: float | None = None) -> Diagram:
    """Draw a recorded net unrolled through time (or rolled up) with the gradient on every edge.

    ``source``: a ``Tape`` (``keep_grads=True`` and backward first, for the gradients), a tensor
    such as a loss (its structure, no Tape needed), or a graph from :func:`viz.to_networkx`.
    ``view``: "unrolled" (a cluster per step, time left to right, the loss after the last step)
    or "rolled" (one cell, recurrent edges as loops, gradients summed over time). ``detail``:
    "units" (the lecture's picture: a node per unit per step, an edge per connection W[i, j]),
    "ops" (every primitive), "modules" (a node per module call per step) or "auto" (units for
    small tagged nets, up to 12 units a step; else modules, or ops for small untagged graphs).
    ``steps``: None (what fits), an int k (the first k and the last k) or a pair (start, stop).
    ``size``: "slide" (16:9, the smallest text at least 12 px when the slide is shown 1280 px
    wide: picks a window of steps that fits, and says so when even one step does not), "page", (width, height) in
    inches, or None (natural size); ``fontsize`` in points. ``scale``: one
    :class:`MagnitudeScale` shared by diagrams that are compared. ``labels``: print every
    magnitude on its edge. The caption says what was chosen and what was left out.

    >>> import numpy as np, autograd_mini as am, viz
    >>> W = am.Parameter(np.eye(2) * 0.5, name="W_hh")
    >>> with am.Tape(keep_grads=True) as tape:
    ...     h = np.ones((1, 2))
    ...     for t in range(4):
    ...         with am.scope("rnn", step=t):
    ...             h = am.tanh(h @ W)
    ...     loss = h.sum()
    >>> loss.backward()
    >>> d = viz.draw(tape, detail="ops", size=None)
    >>> d.source.count("subgraph cluster_step")
    4
    """
    if view not in ("unrolled", "rolled"):
        raise ValueError(f"draw: view must be 'unrolled' or 'rolled', got {view!r}")
    if detail not in DETAILS:
        raise ValueError(f"draw: detail must be one of {', '.join(map(repr, DETAILS))}, got {detail!r}")
    box = parse_size(size, fontsize)
    notes: list[str] = []
    G, detail = _export(source, detail, constants, notes)
    title = title if title is not None else TITLES.get((view, detail))
    grads_note = GRADS_NOTE.get(G.graph.get("grads", "shown"), "")
    if detail == "units" and G.graph.get("untraced"):  # connections it could not trace: said, not hidden
        notes.append(f"not drawn (no tagged layer to draw them in): {'; '.join(G.graph['untraced'][:3])}"
                     + (f" and {len(G.graph['untraced']) - 3} more" if len(G.graph["untraced"]) > 3 else "")
                     + "; the totals count only what is drawn")
    scale = scale or MagnitudeScale.from_graphs(G)
    if detail == "units":
        return _draw_units(G, view, steps, scale, box, title, notes, grads_note, labels)
    if view == "rolled":
        H = views.rolled(G)
        notes.append("a weight's edge carries the norm of its total gradient, other edges the sum over time")
        return _diagram(H, scale, box, title, notes, grads_note, labels, detail)
    if detail == "modules":
        G = views.modules(G)
    if box is not None and math.isfinite(box.width):
        G = views.condense_after(G)
        if "after_ops" in G:
            notes.append("the ops after the last step drawn as one node (size=None draws them all)")
    all_steps = G.graph.get("steps", [])
    if steps is not None:
        return _windowed(G, views.choose_steps(all_steps, steps), scale, box, title, notes, grads_note, labels, detail)
    if box is None or not all_steps:
        keep = all_steps
        if detail == "modules" and len(all_steps) > 2 * AUTO_WINDOW:
            keep = views.choose_steps(all_steps, AUTO_WINDOW)
        return _windowed(G, keep, scale, box, title, notes, grads_note, labels, detail)
    return _fit(G, scale, box, title, notes, grads_note, labels, detail)


def _export(source: Any, detail: str, constants: bool, notes: list[str]) -> tuple[nx.DiGraph, str]:
    """The graph at the detail asked for (``auto`` resolved), noting the choice."""
    if isinstance(source, nx.DiGraph):  # a graph from to_networkx: its own detail
        if "layers" in source.graph and "grads_kept" in source.graph:
            return source, "units"
        if detail == "units":
            raise ValueError("draw: detail='units' needs the tape or tensor, or viz.to_networkx(..., detail='units')")
        return source, "ops" if detail == "auto" else detail
    if not isinstance(source, (am.Tape, am.Tensor)):
        raise TypeError(f"draw: expected an autograd_mini.Tape, a Tensor (a loss) or a graph from "
                        f"viz.to_networkx, got {type(source).__name__}")
    if detail == "units":
        return to_networkx(source, detail="units"), "units"
    U = _units_or_none(source) if detail == "auto" else None
    if U is not None and 0 < _units_per_step(U) <= AUTO_MAX_UNITS:
        notes.append(f"detail: units (up to {_units_per_step(U)} a step; detail='ops' draws every op)")
        return U, "units"
    G = to_networkx(source, constants=constants)
    if detail == "auto":
        n_ops = sum(1 for _, d in G.nodes(data=True) if d["kind"] == "op")
        if (U is not None and _units_per_step(U)) or n_ops > AUTO_MAX_OPS:
            notes.append(f"detail: one node per module call per step ({n_ops} ops; detail='ops' draws every one)")
            return G, "modules"
        return G, "ops"
    return G, detail


def _draw_units(U: nx.DiGraph, view: str, steps: Any, scale: MagnitudeScale, box: Size | None, title: str | None,
                notes: list[str], grads_note: str, labels: bool) -> Diagram:
    """The lecture's picture: we place the units ourselves (see :mod:`viz.unit_dot`)."""
    if view == "rolled":
        R = rolled_units(U)
        R.graph["rolled"] = True
        notes = notes + ["the recurrent connections as loops; a connection's gradient is the sum over the steps"]
        caption = _caption(title, notes, grads_note)
        return Diagram(write_units_dot(R, scale, box, caption, labels), caption=caption, engine="neato")
    all_steps = list(U.graph.get("steps", []))
    if steps is not None:
        keep = views.choose_steps(all_steps, steps)
    elif box is None or not math.isfinite(box.width):
        keep = all_steps
    else:
        keep = _fit_units(U, all_steps, box, len(notes) + 2 + bool(grads_note))
        w, h = size_of(U, keep, box, len(notes) + 2 + bool(grads_note))
        if w > box.width * 72 + 1 or h > box.height * 72 + 1:
            notes = notes + [TOO_BIG.format(name=box.name)]
    if len(keep) < len(all_steps):
        notes = notes + [views.window_note(keep, len(all_steps))]
    caption = _caption(title, notes, grads_note)
    return Diagram(write_units_dot(U, scale, box, caption, labels, keep=keep), caption=caption, engine="neato")


TOO_BIG = "even one step does not fit the {name} at this font: drawn smaller (size=None, or an .html page, for all of it)"


def _fit_units(U: nx.DiGraph, all_steps: list[int], box: Size, caption_lines: int) -> list[int]:
    """The most steps whose drawing fits the box (see :func:`viz.views.windows`)."""
    def fits(keep: list[int]) -> bool:
        w, h = size_of(U, keep, box, caption_lines)
        return w <= box.width * 72 and h <= box.height * 72

    return _first_fit(views.windows(all_steps), fits)


def _first_fit(options: list, fits: Any) -> Any:
    """The first of ``options`` (fewer steps as they go) that fits, by bisection: fitting is
    monotone in the number of steps shown."""
    if fits(options[0]) or len(options) == 1:
        return options[0]
    lo, hi, found = 1, len(options) - 1, options[-1]
    while lo <= hi:
        mid = (lo + hi) // 2
        if fits(options[mid]):
            found, hi = options[mid], mid - 1
        else:
            lo = mid + 1
    return found


def _write(H: nx.DiGraph, scale: MagnitudeScale, box: Size | None, caption: str, labels: bool, detail: str) -> str:
    return write_dot(H, scale, box, caption, labels, per_use=detail != "modules")


TITLES = {
    ("unrolled", "units"): "unrolled through time: a circle per unit, a line per connection W[i, j]",
    ("unrolled", "ops"): "unrolled through time: a box per op, the size of the gradient on every edge",
    ("unrolled", "modules"): "unrolled through time: a box per module call, the size of the gradient on every edge",
    ("rolled", "units"): "the net with loops: each unit once",
    ("rolled", "ops"): "rolled up: every step folded onto one cell",
    ("rolled", "modules"): "rolled up: every step folded onto one cell",
}


def _caption(title: str | None, notes: list[str], grads_note: str) -> str:
    parts = [title or "gradient magnitude on every edge"] + notes + ([grads_note] if grads_note else [])
    return "\n".join(parts)


def _diagram(H: nx.DiGraph, scale: MagnitudeScale, box: Size | None, title: str | None, notes: list[str],
             grads_note: str, labels: bool, detail: str) -> Diagram:
    caption = _caption(title, notes, grads_note)
    return Diagram(_write(H, scale, box, caption, labels, detail), caption=caption)


def _windowed(G: nx.DiGraph, keep: list[int], scale: MagnitudeScale, box: Size | None, title: str | None,
              notes: list[str], grads_note: str, labels: bool, detail: str) -> Diagram:
    H, note = views.window(G, keep)
    return _diagram(H, scale, box, title, notes + ([note] if note else []), grads_note, labels, detail)


def _laid_out_size(source: str) -> tuple[float, float]:
    """Width and height in inches of the drawing Graphviz makes of ``source`` (no size limit)."""
    unlimited = re.sub(r'(?<![a-z_])size="[^"]*"', 'nosize=""', source, count=1)  # the natural size, unscaled
    first = render(unlimited, "plain").decode().split("\n", 1)[0].split()
    return float(first[2]), float(first[3])


def _fit(G: nx.DiGraph, scale: MagnitudeScale, box: Size, title: str | None, notes: list[str],
         grads_note: str, labels: bool, detail: str) -> Diagram:
    """The most steps that fit the box, measured by laying each candidate out."""
    made: dict[tuple, Diagram] = {}

    def fits(keep: list[int]) -> bool:
        d = made[tuple(keep)] = _windowed(G, keep, scale, box, title, notes, grads_note, labels, detail)
        try:
            w, h = _laid_out_size(d.source)
        except RenderError:
            return True  # nothing to measure with: the caller renders (and fails) later
        return w <= box.width + 1e-6 and h <= box.height + 1e-6

    options = views.windows(G.graph["steps"])
    keep = _first_fit(options, fits)
    if keep == options[-1] and not fits(keep):
        notes = notes + [TOO_BIG.format(name=box.name)]
        made.pop(tuple(keep), None)
    return made.get(tuple(keep)) or _windowed(G, keep, scale, box, title, notes, grads_note, labels, detail)
