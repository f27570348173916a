"""A recorded tape, after backward, as a networkx graph: the true structure, no drawing.

One node per op and per tensor that entered the tape from outside (a weight, an input); one edge
per data dependency, carrying the norm of the gradient contribution backward sent along it. A
shared weight is one node with an edge into every step that used it, and the contributions on
those edges add up to its gradient.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

import autograd_mini as am
from autograd_mini.recording import Tape, format_scope

from .render import quote


def _stats(value: Any) -> dict[str, float]:
    arr = np.asarray(value, dtype=float)
    if arr.size == 0:
        return {}
    finite = arr[np.isfinite(arr)]
    if finite.size == 0:
        return {"value_mean": float("nan")}
    return {"value_mean": float(finite.mean()), "value_std": float(finite.std()),
            "value_min": float(finite.min()), "value_max": float(finite.max())}


def _is_number_or_array(x: Any) -> bool:
    """A data input worth a node (an array or a number), not a shape, axis list or index slice."""
    if isinstance(x, (bool, np.bool_)):
        return False
    if isinstance(x, (int, float, np.number)):
        return True
    return isinstance(x, np.ndarray) and x.dtype.kind in "biuf"


def _norm(g: Any) -> float | None:
    if g is None:
        return None
    return float(np.linalg.norm(np.ravel(np.asarray(g.value if isinstance(g, am.Tensor) else g, dtype=float))))


def to_networkx(tape: Tape, constants: bool = True) -> nx.DiGraph:
    """The tape's data-flow graph. Record it with ``Tape(keep_grads=True)`` and run backward first.

    Node attributes: ``kind`` ("op", "param", "tensor", "const"), ``label``, ``op``, ``shape``,
    ``scope``, ``module``, ``step``, value statistics (``value_mean``, ``value_std``, ``value_min``,
    ``value_max``) and ``grad_norm`` (the gradient that reached the node's value). Edge
    attributes: ``grad_norm`` (norm of the vector-Jacobian product sent to that input; the sum
    of both when an op uses one tensor twice), ``args`` (argument positions) and ``step``.
    ``constants=False`` leaves out constant inputs (numbers, arrays).

    >>> import numpy as np, autograd_mini as am, viz
    >>> W = am.Parameter(np.eye(2) * 0.5, name="W")
    >>> with am.Tape(keep_grads=True) as tape:
    ...     h = np.ones((1, 2))
    ...     for t in range(3):
    ...         with am.scope("rnn", step=t):
    ...             h = am.tanh(h @ W)
    ...     loss = h.sum()
    >>> loss.backward()
    >>> G = viz.to_networkx(tape)
    >>> w = [n for n, d in G.nodes(data=True) if d["kind"] == "param"][0]
    >>> G.out_degree(w)   # one weight, an edge into each of the three steps
    3
    """
    if not isinstance(tape, Tape):
        raise TypeError(f"to_networkx: expected an autograd_mini.Tape, got {type(tape).__name__}")
    G = nx.DiGraph()
    produced: dict[int, str] = {}
    leaves: dict[int, str] = {}
    contributions: dict[tuple[str, str], Any] = {}
    for node in tape.nodes:
        nid = f"op{node.index}"
        out = node.output
        G.add_node(nid, kind="op", op=node.op, label=node.op, shape=str(tuple(out.shape)),
                   scope=format_scope(node.scope), module=node.scope[0].name if node.scope else "",
                   step=node.step, grad_norm=_norm(node.output_grad), **_stats(out.value))
        produced[id(out)] = nid
        for i, x in enumerate(node.inputs):
            if isinstance(x, am.Tensor):
                src = produced.get(id(x)) or leaves.get(id(x))
                if src is None:
                    src = leaves[id(x)] = f"t{len(leaves)}"
                    kind = "param" if isinstance(x, am.Parameter) else "tensor"
                    name = x.name or ("weight" if kind == "param" else "input")
                    G.add_node(src, kind=kind, label=name, op="", shape=str(tuple(x.shape)), scope="",
                               module="", step=None, grad_norm=_norm(x.grad), **_stats(x.value))
            elif constants and _is_number_or_array(x):
                src = f"c{node.index}_{i}"
                arr = np.asarray(x)
                label = f"{float(arr.reshape(())):.3g}" if arr.size == 1 else f"x {tuple(arr.shape)}"
                G.add_node(src, kind="const", label=label, op="", shape=str(tuple(arr.shape)),
                           scope=format_scope(node.scope), module=node.scope[0].name if node.scope else "",
                           step=node.step, grad_norm=None, scalar=bool(arr.size == 1), **_stats(arr))
            else:
                continue
            g = node.input_grads[i]
            key = (src, nid)
            if G.has_edge(src, nid):
                G.edges[key]["args"] += f",{i}"
                if g is not None:
                    old = contributions.get(key)
                    contributions[key] = g if old is None else old + g
            else:
                G.add_edge(src, nid, args=str(i), step=node.step)
                if g is not None:
                    contributions[key] = g
    for (src, dst), g in contributions.items():
        G.edges[src, dst]["grad_norm"] = _norm(g)
    for u, v, d in G.edges(data=True):
        d.setdefault("grad_norm", None)
    G.graph["steps"] = sorted({d["step"] for _, d in G.nodes(data=True) if d.get("step") is not None})
    # Used by several steps: a weight, or a value computed once outside the steps (an HMM's
    # log transition matrix); the drawing gives these per-step stubs.
    G.graph["shared"] = []
    for n, d in G.nodes(data=True):
        used = {G.edges[n, v]["step"] for v in G.successors(n)} - {None}
        if d.get("step") is None and len(used) > 1:
            G.graph["shared"].append(n)
            d["steps_used"] = len(used)
    return G


def _clean(d: dict) -> dict:
    """Attributes GraphML can hold: no None, no nested values."""
    return {k: v for k, v in d.items() if v is not None and isinstance(v, (str, int, float, bool))}


def save_graph(G: nx.DiGraph, path: str | Path) -> Path:
    """Write the graph for other tools; the extension chooses: .graphml (Gephi, yEd), .json
    (networkx node-link, for d3) or .dot (plain Graphviz, every label quoted)."""
    path = Path(path)
    ext = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if ext == ".graphml":
        H = nx.DiGraph()
        H.graph.update({k: json.dumps(v) for k, v in G.graph.items()})
        H.add_nodes_from((n, _clean(d)) for n, d in G.nodes(data=True))
        H.add_edges_from((u, v, _clean(d)) for u, v, d in G.edges(data=True))
        nx.write_graphml(H, path)
    elif ext == ".json":
        data = nx.node_link_data(G, edges="links")
        path.write_text(json.dumps(data, default=float, indent=1))
    elif ext in (".dot", ".gv"):
        lines = ["digraph tape {"]
        for n, d in G.nodes(data=True):
            attrs = ", ".join(f"{k}={quote(v)}" for k, v in _clean(d).items())
            lines.append(f"  {quote(n)} [{attrs}];")
        for u, v, d in G.edges(data=True):
            attrs = ", ".join(f"{k}={quote(val)}" for k, val in _clean(d).items())
            lines.append(f"  {quote(u)} -> {quote(v)} [{attrs}];")
        lines.append("}")
        path.write_text("\n".join(lines) + "\n")
    else:
        raise ValueError(f"save_graph: unknown format {ext!r}; use .graphml, .json or .dot")
    return path
