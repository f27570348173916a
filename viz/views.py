"""Views: graph-to-graph transforms of an exported net (:func:`viz.to_networkx`), one function each.

- :func:`window` keeps some steps; the rest become one "elided steps" node per gap, which carries
  the shared weights' contributions of the steps it hides, so the shown terms still add up.
- :func:`modules` draws one node per module call per step; a weight's uses in one call sum
  their raw gradients (not their norms).
- :func:`rolled` folds every step onto one cell, the lecture's "network with loops"; a weight's
  edge carries ‖Σ_t G_t‖.

Each returns a new graph with the same attribute vocabulary, so the DOT writer needs no branch
per view.
"""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Iterable

import networkx as nx

from .graph import add_contributions, _norm

WINDOW_NOTE = "showing {steps} {shown} of {total}"


def window_note(keep: list[int], total: int) -> str:
    """``showing steps 0-1 and 8 of 9``; ``showing step 0 of 9``."""
    return WINDOW_NOTE.format(steps="step" if len(keep) == 1 else "steps", shown=_runs(sorted(keep)), total=total)


def after_steps(G: nx.DiGraph) -> set[str]:
    """The nodes of no step computed from the steps (the loss and what leads to it), and the
    leaves only they read (the targets)."""
    if not G.graph.get("steps"):  # a rolled graph (with loops) has no steps to come after
        return set()
    shared = set(G.graph.get("shared", []))
    down: set[str] = set()
    for n in nx.topological_sort(G):
        d = G.nodes[n]
        if d.get("step") is None and d["kind"] == "op" and any(
                p in down or G.nodes[p]["kind"] == "elided" or (G.nodes[p].get("step") is not None and p not in shared)
                for p in G.predecessors(n)):
            down.add(n)
    leaves = {n for n, d in G.nodes(data=True) if d.get("step") is None and n not in down and n not in shared
              and d["kind"] != "elided" and G.out_degree(n) and all(v in down for v in G.successors(n))}
    return down | leaves


def condense_after(G: nx.DiGraph) -> nx.DiGraph:
    """The ops after the last step (the loss) drawn as one node: a slide has no room for them."""
    after = after_steps(G)
    ops = [n for n in after if G.nodes[n]["kind"] == "op"]
    if len(ops) <= 1:
        return G
    root = max(ops, key=lambda n: int(n[2:]) if n.startswith("op") and n[2:].isdigit() else -1)
    label = G.nodes[root].get("label") or "loss"
    H = nx.DiGraph(**G.graph)
    for n, d in G.nodes(data=True):
        if n not in after:
            H.add_node(n, **d)
    H.add_node("after_ops", **{**G.nodes[root], "label": f"{label}\n({len(ops)} ops after the last step)"})
    norms: dict[str, list] = defaultdict(list)
    for u, v, d in G.edges(data=True):
        if u in after and v in after:
            continue
        if v in after:
            norms[u].append(d.get("grad_norm"))
        elif u not in after:
            H.add_edge(u, v, **d)
    for u, ns in norms.items():
        H.add_edge(u, "after_ops", grad_norm=_root_sum_square(ns), step=G.nodes[u].get("step"), args="")
    return H


def _sum(grads: Iterable[Any]) -> Any:
    total = None
    for g in grads:
        if g is not None:
            total = g if total is None else total + g
    return total


def _root_sum_square(norms: Iterable[float | None]) -> float | None:
    """One magnitude for several parallel edges whose raw gradients are not comparable."""
    vals = [v for v in norms if v is not None]
    if not vals:
        return None
    bad = [v for v in vals if not math.isfinite(v)]
    return bad[0] if bad else math.sqrt(sum(v * v for v in vals))


def choose_steps(all_steps: list[int], steps: Any) -> list[int]:
    """The steps ``steps`` selects: None (all), an int k (the first k and the last k) or a pair
    (start, stop).

    >>> choose_steps(list(range(10)), 2), choose_steps(list(range(10)), (3, 5))
    ([0, 1, 8, 9], [3, 4])
    """
    if steps is None:
        return list(all_steps)
    if isinstance(steps, bool) or not isinstance(steps, (int, tuple, list)):
        raise ValueError(f"draw: steps must be an int k (first and last k) or a pair (start, stop), got {steps!r}")
    if isinstance(steps, int):
        if steps < 1:
            raise ValueError(f"draw: steps={steps} must be at least 1 (first and last k steps)")
        if len(all_steps) <= 2 * steps:
            return list(all_steps)
        return list(all_steps[:steps]) + list(all_steps[-steps:])
    try:
        a, b = steps
    except (TypeError, ValueError):
        raise ValueError(f"draw: steps must be an int k (first and last k) or a pair (start, stop), got {steps!r}") from None
    keep = [s for s in all_steps if a <= s < b]
    if not keep:
        raise ValueError(f"draw: steps=({a}, {b}) selects none of the recorded steps "
                         f"{all_steps[0]}..{all_steps[-1]}" if all_steps else "draw: the graph has no steps")
    return keep


def windows(all_steps: list[int]) -> list[list[int]]:
    """The windows a size may pick, most steps first: all, then n - 1 down to 1 steps shown,
    the first half (rounded up) from the start and the rest from the end.

    >>> windows([0, 1, 2, 3, 4])
    [[0, 1, 2, 3, 4], [0, 1, 4], [0, 4], [0]]
    """
    n = len(all_steps)
    out = [list(all_steps)]
    for shown in range(n - 2, 0, -1):  # hiding one step saves little: its gap takes about its room
        head = (shown + 1) // 2
        out.append(list(all_steps[:head]) + list(all_steps[n - (shown - head):] if shown > head else []))
    return out


def _runs(steps: list[int]) -> str:
    runs: list[list[int]] = []
    for s in steps:
        if runs and runs[-1][-1] == s - 1:
            runs[-1].append(s)
        else:
            runs.append([s])
    return " and ".join(f"{r[0]}" if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def window(G: nx.DiGraph, keep: list[int]) -> tuple[nx.DiGraph, str | None]:
    """Keep the steps ``keep``; what connects to the others goes through one node per gap.

    Returns the graph and a caption note (None when every step is kept). A gap node carries, in
    ``terms``, each shared weight's contribution from the steps it hides, so that the terms drawn
    for a weight still add up to its total.
    """
    all_steps = G.graph.get("steps", [])
    kept = set(keep)
    if kept >= set(all_steps):
        return G, None
    gap_of: dict[int, str] = {}
    gaps: list[list[int]] = []
    for i, s in enumerate(all_steps):
        if s in kept:
            continue
        if gaps and i > 0 and gap_of.get(all_steps[i - 1]) is not None:
            gaps[-1].append(s)
        else:
            gaps.append([s])
        gap_of[s] = f"elided{gaps[-1][0]}"
    H = nx.DiGraph(**{**G.graph, "steps": sorted(kept)})
    for g in gaps:
        H.add_node(f"elided{g[0]}", kind="elided", label=f"... steps {g[0]}-{g[-1]} ..." if len(g) > 1 else
                   f"... step {g[0]} ...", step=None, after=max([s for s in kept if s < g[0]], default=None),
                   hidden=list(g), op="", shape="", scope="", module="", grad_norm=None, terms={})
    for n, d in G.nodes(data=True):
        if d.get("step") is None or d["step"] in kept:
            H.add_node(n, **d)
    merged: dict[tuple[str, str], list] = defaultdict(list)
    shared = set(G.graph.get("shared", []))
    for u, v, d in G.edges(data=True):
        u2 = gap_of.get(G.nodes[u].get("step"), u)
        v2 = gap_of.get(G.nodes[v].get("step"), v)
        if u2 == v2:
            continue
        if u2 == u and v2 == v:
            H.add_edge(u, v, **d)
        elif u in shared:  # a weight's uses in hidden steps: one term on the gap node
            terms = H.nodes[v2]["terms"]
            c = d.get("contribution")
            if c is not None:
                terms[u] = terms.get(u, 0.0) + c
        else:
            merged[(u2, v2)].append(d.get("grad_norm"))
    for (u, v), norms in merged.items():
        H.add_edge(u, v, grad_norm=_root_sum_square(norms), step=None, args="")
    return H, window_note(sorted(kept), len(all_steps))


def modules(G: nx.DiGraph) -> nx.DiGraph:
    """One node per module call per step ("ElmanRNN t=3"); weights and ops of no step stay.

    A shared weight's edges into one call sum their raw gradients, so its contributions are
    recomputed from those sums and still add up to its total.
    """
    group: dict[str, str] = {}
    H = nx.DiGraph(**G.graph)
    for n, d in G.nodes(data=True):
        if d["kind"] == "const" and d.get("scalar"):
            continue
        if d["kind"] in ("op", "const") and d.get("module") and d.get("step") is not None:
            key = f"{d['module']}@{d['step']}"
            group[n] = key
            if key not in H:
                H.add_node(key, kind="op", op="module", label=f"{d['module']} t={d['step']}", step=d["step"],
                           module=d["module"], scope="", shape="", tag=None, grad_norm=None)
        else:
            group[n] = n
            H.add_node(n, **d)
    grads: dict[tuple[str, str], list] = defaultdict(list)
    norms: dict[tuple[str, str], list] = defaultdict(list)
    for u, v, d in G.edges(data=True):
        if u in group and v in group and group[u] != group[v]:
            key = (group[u], group[v])
            grads[key].append(d.get("_grad"))
            norms[key].append(d.get("grad_norm"))
    shared = set(G.graph.get("shared", []))
    for key, gs in grads.items():
        u, v = key
        if u in shared:
            g = _sum(gs)
            H.add_edge(u, v, grad_norm=_norm(g), _grad=g, step=H.nodes[v].get("step"), args="")
        else:
            H.add_edge(u, v, grad_norm=_root_sum_square(norms[key]), step=H.nodes[v].get("step"), args="")
    for w in shared:
        add_contributions(H, w)
    return H


def _slot_key(G: nx.DiGraph, n: str, slot: dict[str, str]) -> str:
    """What an op of a step computes, the same in every step: its tag's name if it has one, else
    its op, the weights it reads and the ops of its own step it reads (not the previous step or
    the initial state, so step 0 folds onto the others)."""
    d = G.nodes[n]
    if d.get("tag_name"):
        return f"{d.get('module')}:tag:{d['tag_name']}"
    parts = []
    s = d.get("step")
    for p in G.predecessors(n):
        pd = G.nodes[p]
        if pd.get("step") == s and pd["kind"] == "op":
            parts.append(slot[p])
        elif pd["kind"] == "param" or p in G.graph.get("shared", []):
            parts.append(p)
    return f"{d.get('module')}:{d['kind']}:{d.get('op') or d.get('label')}:" + "|".join(sorted(parts))


def rolled(G: nx.DiGraph) -> nx.DiGraph:
    """Every step folded onto one cell; recurrent edges become loops (attribute ``recurrent``).

    A shared weight's edge carries ‖Σ_t G_t‖ (its total from this tape); other edges the sum over
    time of their magnitudes. Data tensors of the steps (x_t) fold by their tag's name.
    """
    slot: dict[str, str] = {}
    names: dict[str, str] = {}
    shared = set(G.graph.get("shared", []))
    H = nx.DiGraph(**{**G.graph, "steps": [], "shared": []})
    for n in nx.topological_sort(G):
        d = G.nodes[n]
        if d["kind"] == "const" and d.get("scalar"):
            continue
        s = d.get("step")
        if s is None or d["kind"] == "param" or n in shared:
            slot[n] = n
            H.add_node(n, **d)
            continue
        if d["kind"] == "tensor" and d.get("tag_index") is not None:
            key = f"tensor:{d['tag_name']}"
        else:
            key = _slot_key(G, n, slot)
        key = names.setdefault(key, f"slot{len(names)}")  # stable names: the same DOT every run
        slot[n] = key
        if key not in H:
            label = d["label"]
            if d.get("tag_index") is not None:  # h_3 = sigmoid -> h_t = sigmoid
                label = label.replace(d["tag"], f"{d['tag_name']}_t", 1)
            H.add_node(key, **{**d, "step": None, "label": label})
    grads: dict[tuple[str, str], list] = defaultdict(list)
    norms: dict[tuple[str, str], list] = defaultdict(list)
    recurrent: set[tuple[str, str]] = set()
    for u, v, d in G.edges(data=True):
        if u not in slot or v not in slot:
            continue
        key = (slot[u], slot[v])
        grads[key].append(d.get("_grad"))
        norms[key].append(d.get("grad_norm"))
        su, sv = G.nodes[u].get("step"), G.nodes[v].get("step")
        if su is not None and sv is not None and su != sv:
            recurrent.add(key)
    for key, gs in grads.items():
        u, v = key
        if u in shared:
            g = _sum(gs)
            H.add_edge(u, v, grad_norm=_norm(g), _grad=g, recurrent=False)
        else:
            vals = [x for x in norms[key] if x is not None]
            H.add_edge(u, v, grad_norm=sum(vals) if vals else None, recurrent=key in recurrent)
    for w in shared:
        H.nodes[w]["grad_norm"] = G.nodes[w].get("grad_norm")
    return H
