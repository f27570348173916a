"""Views of a recorded net: unrolled through time, or rolled up the way the lecture draws it.

``draw(tape)`` exports the tape (:func:`viz.to_networkx`), picks what to show (every op, or one
node per module call per step; all steps, or a window), and writes DOT with the gradient
magnitude on every edge. The weights shared by the steps are drawn as one dashed stub inside each
step (listing them, with an edge per use carrying that step's share of the gradient) plus one
summary node per weight with the total: one node with
an edge into each of 50 step clusters takes Graphviz over a minute to lay out, the stubs a tenth of
a second, and the exported graph keeps the true structure (one node, an edge per use).
"""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Iterable

import networkx as nx

from autograd_mini.recording import Tape

from .graph import to_networkx
from .render import Diagram, quote
from .scale import MagnitudeScale

AUTO_MAX_OPS = 400   # above this many op nodes, detail="auto" draws one node per module call
AUTO_WINDOW = 6      # ... and above 2 * AUTO_WINDOW steps at module detail, the first and last 6


def _combine(norms: Iterable[float | None]) -> float | None:
    """One magnitude for several parallel edges: the root of the sum of squares."""
    vals = [v for v in norms if v is not None]
    if not vals:
        return None
    if not all(math.isfinite(v) for v in vals):
        return next(v for v in vals if not math.isfinite(v))
    return math.sqrt(sum(v * v for v in vals))


def _window(G: nx.DiGraph, steps: Any, notes: list[str]) -> nx.DiGraph:
    """Keep the chosen steps; what connects to the rest goes through one 'elided' node per gap."""
    all_steps = G.graph.get("steps", [])
    if steps is None or not all_steps:
        return G
    if isinstance(steps, int):
        if steps < 1:
            raise ValueError(f"draw: steps={steps} must be at least 1 (first and last k steps)")
        if len(all_steps) <= 2 * steps:
            return G
        keep = set(all_steps[:steps]) | set(all_steps[-steps:])
        notes.append(f"showing steps {all_steps[0]}-{all_steps[steps - 1]} and "
                     f"{all_steps[-steps]}-{all_steps[-1]} of {len(all_steps)}")
    else:
        try:
            a, b = steps
        except (TypeError, ValueError):
            raise ValueError(f"draw: steps must be an int k (first and last k) or a pair (start, stop), got {steps!r}") from None
        keep = {s for s in all_steps if a <= s < b}
        if not keep:
            raise ValueError(f"draw: steps=({a}, {b}) selects none of the recorded steps {all_steps[0]}..{all_steps[-1]}")
        if len(keep) < len(all_steps):
            notes.append(f"showing steps {min(keep)}-{max(keep)} of {len(all_steps)}")
    dropped = [s for s in all_steps if s not in keep]
    gaps: list[list[int]] = []
    for s in dropped:
        if gaps and gaps[-1][-1] == all_steps[all_steps.index(s) - 1]:
            gaps[-1].append(s)
        else:
            gaps.append([s])
    gap_of = {s: f"elided{g[0]}" for g in gaps for s in g}
    H = nx.DiGraph(**G.graph)
    H.graph["steps"] = sorted(keep)
    for g in gaps:
        H.add_node(f"elided{g[0]}", kind="elided", label=f"... steps {g[0]}-{g[-1]} ...", step=None, op="",
                   shape="", scope="", module="", grad_norm=None)
    for n, d in G.nodes(data=True):
        if d.get("step") is None or d["step"] in keep:
            H.add_node(n, **d)
    merged: dict[tuple[str, str], list] = defaultdict(list)
    for u, v, d in G.edges(data=True):
        su, sv = G.nodes[u].get("step"), G.nodes[v].get("step")
        u2 = gap_of.get(su, u) if su is not None else u
        v2 = gap_of.get(sv, v) if sv is not None else v
        if u2 == v2:
            continue
        if u2 == u and v2 == v:
            H.add_edge(u, v, **d)
        elif G.nodes[u]["kind"] in ("param", "tensor") and v2 != v:
            continue  # a weight's uses in hidden steps: its summary node still shows the total
        else:
            merged[(u2, v2)].append(d.get("grad_norm"))
    for (u, v), norms in merged.items():
        H.add_edge(u, v, grad_norm=_combine(norms), step=None, args="")
    return H


def _modules(G: nx.DiGraph) -> nx.DiGraph:
    """One node per module call per step ("LSTM t=3"); weights and un-scoped ops stay as they are."""
    group: dict[str, str] = {}
    H = nx.DiGraph(**G.graph)
    for n, d in G.nodes(data=True):
        if d["kind"] in ("op", "const") and d.get("module") and d.get("step") is not None:
            if d["kind"] == "const" and d.get("scalar"):
                continue
            key = f"{d['module']}@{d['step']}" if d["kind"] == "op" else n
            group[n] = key
            if key not in H:
                H.add_node(key, kind="op" if d["kind"] == "op" else "const", op="module",
                           label=f"{d['module']} t={d['step']}" if d["kind"] == "op" else d["label"],
                           step=d["step"], module=d["module"], scope="", shape="", grad_norm=None)
        elif not (d["kind"] == "const" and d.get("scalar")):
            group[n] = n
            H.add_node(n, **d)
    merged: dict[tuple[str, str], list] = defaultdict(list)
    for u, v, d in G.edges(data=True):
        if u in group and v in group and group[u] != group[v]:
            merged[(group[u], group[v])].append(d.get("grad_norm"))
    for (u, v), norms in merged.items():
        H.add_edge(u, v, grad_norm=_combine(norms), step=H.nodes[v].get("step"), args="")
    return H


def _node_attrs(d: dict) -> str:
    kind = d["kind"]
    text = d.get("label") or d.get("op") or ""
    if kind == "op" and d.get("shape"):
        text = f"{text}\n{d['shape']}"
    if kind == "param":
        return f"label={quote(text)}, shape=box, style=\"filled\", fillcolor=\"#dbe9f6\""
    if kind == "const":
        return f"label={quote(text)}, shape=plaintext, fontcolor=\"#555555\""
    if kind == "elided":
        return f"label={quote(text)}, shape=plaintext, fontcolor=\"#777777\""
    return f"label={quote(text)}"


def _merged_stub(G: nx.DiGraph, s: int, uses: list[tuple[str, str]], ids: dict[str, str], scale: MagnitudeScale,
                 labels: bool, out: list[str], members: dict[int, list[str]], per_use: bool = False) -> None:
    """One dashed stub for all the shared weights step ``s`` uses, each with its share's norm.

    ``per_use``: an edge for every use with its own magnitude (op detail); otherwise one edge per
    op with the magnitudes combined (module detail)."""
    if not uses:
        return
    stub = f"shared{s}"
    members[s].append(stub)
    lines = [f"{G.nodes[w]['label'].rsplit('.', 1)[-1]} {_fmt(G.edges[w, v].get('grad_norm'))}" for w, v in uses]
    out.append(f"    {stub} [label={quote('shared: ' + chr(10).join(lines))}, shape=box, style=\"dashed,filled\", "
               f"fillcolor=\"#eef4fb\", color=\"#6a8fbf\", fontcolor=\"#333355\", fontsize=8, class=\"shared-stub\"];")
    if per_use:  # every use keeps its own edge and magnitude
        for w, v in uses:
            out.append(f"    {stub} -> {ids[v]} [{_edge_attrs(scale.encode(G.edges[w, v].get('grad_norm'), labels))}];")
        return
    for v in {v for _, v in uses}:
        norm = _combine(G.edges[w, u].get("grad_norm") for w, u in uses if u == v)
        out.append(f"    {stub} -> {ids[v]} [{_edge_attrs(scale.encode(norm, labels))}];")


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.1e}"


def _dot(G: nx.DiGraph, scale: MagnitudeScale, labels: bool, caption: str, rolled: bool = False,
         merge_stubs: bool = False) -> str:
    steps = G.graph.get("steps", [])
    shared = set(G.graph.get("shared", [])) if not rolled else set()
    ids = {n: f"n{i}" for i, n in enumerate(G.nodes)}
    # Data flows bottom to top (inputs below, outputs and loss above); time runs left to right,
    # kept in order by the ruler below. The recurrent edges do not constrain the layout, so every
    # step starts at the same height.
    out = ["digraph unrolled {",
           f"  graph [rankdir=BT, newrank=true, compound=true, nodesep=0.15, ranksep=0.3, fontname=Helvetica, "
           f"fontsize=12, labelloc=t, label={quote(caption)}];",
           '  node [fontname=Helvetica, fontsize=9, shape=box, style="rounded,filled", fillcolor="#f5f5f5", '
           "height=0.25, margin=\"0.06,0.03\"];",
           "  edge [arrowsize=0.5, fontname=Helvetica, fontsize=8];"]
    by_step: dict[Any, list[str]] = defaultdict(list)
    for n, d in G.nodes(data=True):
        if n in shared:
            continue
        by_step[d.get("step")].append(n)
    members: dict[int, list[str]] = {}  # the DOT ids drawn inside each step
    uses_in: dict[str, dict[int, list[str]]] = {w: defaultdict(list) for w in shared}  # weight -> step -> users
    for w in shared:
        for v in G.successors(w):
            uses_in[w][G.nodes[v].get("step")].append(v)
    has_pred = {ids[v] for u, v in G.edges if G.nodes[u].get("step") == G.nodes[v].get("step") is not None}
    for s in steps:
        out.append(f"  subgraph cluster_step{s} {{")
        out.append(f"    label={quote(f'step {s}')}; style=rounded; color=\"#b0b0b0\"; fontsize=10;")
        members[s] = [ids[n] for n in by_step.get(s, [])]
        for n in by_step.get(s, []):
            out.append(f"    {ids[n]} [{_node_attrs(G.nodes[n])}];")
        # One dashed stub per step lists every shared weight the step uses, with that step's
        # share of each one's gradient (at op detail an edge per use keeps its own magnitude).
        _merged_stub(G, s, [(w, v) for w in shared for v in uses_in[w].get(s, [])], ids, scale, labels, out,
                     members, per_use=not merge_stubs)
        out.append("  }")
    # A time ruler below the steps: one invisible node per step in a single row, chained left to
    # right, each tied to the bottom of its step. Graphviz keeps a chain of plain nodes in order,
    # and untangling the ties then puts the step clusters in time order above it.
    if len(steps) > 1:
        out.append("  { rank=min; " + " ".join(f"ruler{s};" for s in steps) + " }")
        for s in steps:
            out.append(f"  ruler{s} [shape=point, style=invis, width=0.01];")
            bottoms = [n for n in members.get(s, []) if n not in has_pred]
            out.extend(f"  ruler{s} -> {n} [style=invis, weight=3];" for n in bottoms)
        out.append("  " + " -> ".join(f"ruler{s}" for s in steps) + " [style=invis];")
    for n in by_step.get(None, []):
        out.append(f"  {ids[n]} [{_node_attrs(G.nodes[n])}];")
    if shared:
        out.append("  subgraph cluster_shared {")
        out.append('    label="shared weights (dashed boxes in the steps: their uses)"; style=dashed; color="#6a8fbf"; fontsize=10;')
        for w in shared:
            d = G.nodes[w]
            n_steps = d.get("steps_used") or len({G.nodes[v].get("step") for v in G.successors(w)})
            g = d.get("grad_norm")
            total = "no gradient" if g is None else f"|grad| = {g:.2e}"
            text = f"{d['label']} {d.get('shape', '')}\nused by {n_steps} steps\n{total}\n= sum of the per-step shares"
            fill = "#dbe9f6" if d["kind"] == "param" else "#f5f5f5"
            out.append(f"    {ids[w]} [label={quote(text)}, shape=box, style=\"filled\", fillcolor=\"{fill}\"];")
        out.append("  }")
    for u, v, d in G.edges(data=True):
        if u in shared:
            continue
        e = scale.encode(d.get("grad_norm"), labels)
        if rolled and d.get("recurrent"):
            e["constraint"] = "false"  # the loop back to the same step
        elif None is not G.nodes[u].get("step") != G.nodes[v].get("step") is not None:
            e["constraint"] = "false"  # the recurrent edges: across, not up
        out.append(f"  {ids[u]} -> {ids[v]} [{_edge_attrs(e)}];")
    out.append("  " + scale.legend())
    out.append("}")
    return "\n".join(out) + "\n"


def _edge_attrs(e: dict[str, str]) -> str:
    return ", ".join(f"{k}={quote(v)}" for k, v in e.items())


def _rolled(G: nx.DiGraph) -> nx.DiGraph:
    """All steps folded onto one; magnitudes summed over time.

    An op of a step is identified by what it computes: its op name, the weights it reads and the
    ops of the same step it reads (not constants or the previous step), so steps that differ a
    little (the first one starts from a constant initial state) still line up.
    """
    slot: dict[str, str] = {}
    names: dict[str, str] = {}
    H = nx.DiGraph(steps=[], shared=[])
    for n in nx.topological_sort(G):
        d = G.nodes[n]
        if d["kind"] == "const" and d.get("scalar"):
            continue
        s = d.get("step")
        if s is None or d["kind"] not in ("op", "const"):
            slot[n] = n
            H.add_node(n, **d)
            continue
        parts = []
        for p in G.predecessors(n):
            pd = G.nodes[p]
            if pd.get("step") == s and pd["kind"] == "op":
                parts.append(slot[p])
            elif pd["kind"] in ("param", "tensor"):
                parts.append(p)
        key = f"{d.get('module')}:{d['kind']}:{d.get('op') or d.get('label')}:" + "|".join(sorted(parts))
        key = names.setdefault(key, f"slot{len(names)}")  # stable names: the DOT is the same every run
        slot[n] = key
        if key not in H:
            H.add_node(key, **{**d, "step": None})
    sums: dict[tuple[str, str], list] = defaultdict(list)
    recurrent: set[tuple[str, str]] = set()
    for u, v, d in G.edges(data=True):
        if u not in slot or v not in slot:
            continue
        key = (slot[u], slot[v])
        sums[key].append(d.get("grad_norm"))
        su, sv = G.nodes[u].get("step"), G.nodes[v].get("step")
        if su is not None and sv is not None and su != sv:
            recurrent.add(key)
    for (u, v), norms in sums.items():
        vals = [x for x in norms if x is not None]
        H.add_edge(u, v, grad_norm=sum(vals) if vals else None, recurrent=(u, v) in recurrent)
    return H


def draw(source: Tape | nx.DiGraph, view: str = "unrolled", detail: str = "auto", steps: Any = None,
         scale: MagnitudeScale | None = None, labels: bool = False, title: str | None = None,
         constants: bool = True) -> Diagram:
    """Draw a recorded net with the gradient magnitude on every edge.

    view: "unrolled" (left to right in time, one cluster per step) or "rolled" (one step, the
    recurrent edges as a loop, magnitudes summed over time). detail: "ops" (every primitive),
    "modules" (one node per module call per step) or "auto" (ops unless there are more than
    400). steps: None (all; "auto" shows the first and last 6 of a long module-level unroll), an
    int k (the first k and the last k, the middle elided) or a pair (start, stop). scale: a
    :class:`MagnitudeScale` shared by diagrams that are compared. labels: print each magnitude on
    its edge. The caption says what was left out.

    >>> import numpy as np, autograd_mini as am, viz
    >>> W = am.Parameter(np.eye(2) * 0.5, name="W_hh")
    >>> with am.Tape(keep_grads=True) as tape:
    ...     h = np.ones((1, 2))
    ...     for t in range(4):
    ...         with am.scope("rnn", step=t):
    ...             h = am.tanh(h @ W)
    ...     loss = h.sum()
    >>> loss.backward()
    >>> d = viz.draw(tape)
    >>> d.source.count("subgraph cluster_step")
    4
    """
    if view not in ("unrolled", "rolled"):
        raise ValueError(f"draw: view must be 'unrolled' or 'rolled', got {view!r}")
    if detail not in ("auto", "ops", "modules"):
        raise ValueError(f"draw: detail must be 'auto', 'ops' or 'modules', got {detail!r}")
    if isinstance(source, Tape):
        if not source.nodes:
            raise ValueError("draw: the tape recorded nothing (no op on a tensor that requires grad inside it)")
        if not source.keep_grads:
            raise ValueError("draw: record with autograd_mini.Tape(keep_grads=True) so backward keeps the "
                             "gradient of every edge")
        G = to_networkx(source, constants=constants)
    elif isinstance(source, nx.DiGraph):
        G = source
    else:
        raise TypeError(f"draw: expected an autograd_mini.Tape or a graph from viz.to_networkx, got {type(source).__name__}")
    notes: list[str] = []
    scale = scale or MagnitudeScale.from_graphs(G)
    n_ops = sum(1 for _, d in G.nodes(data=True) if d["kind"] == "op")
    if view == "rolled":
        H = _rolled(G)
        notes.append("rolled: every step folded onto one; edge magnitudes summed over time")
        return Diagram(_dot(H, scale, labels, _caption(title, notes), rolled=True), caption=_caption(title, notes))
    if detail == "auto":
        detail = "ops"
        if n_ops > AUTO_MAX_OPS:
            detail = "modules"
            notes.append(f"{n_ops} ops: drawn as one node per module call per step")
            if steps is None and len(G.graph.get("steps", [])) > 2 * AUTO_WINDOW:
                steps = AUTO_WINDOW
    if detail == "modules":
        G = _modules(G)
    G = _window(G, steps, notes)
    caption = _caption(title, notes)
    return Diagram(_dot(G, scale, labels, caption, merge_stubs=detail == "modules"), caption=caption)


def _caption(title: str | None, notes: list[str]) -> str:
    parts = [title or "gradient magnitude on every edge"] + notes
    return "\n".join(parts)
