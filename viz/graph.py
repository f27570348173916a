"""A recorded net as a networkx graph: the true structure, the gradients, no drawing.

The first step of every drawing. It reads the engine only through its public graph API
(:func:`autograd_mini.graph_of`: op, inputs, scope, shape, tag, and per-edge gradients where a
``Tape(keep_grads=True)`` kept them), so a tensor (a loss) can be drawn as well as a tape, before
or after backward.

One node per op and per tensor that entered from outside (a weight, an input); one edge per data
dependency, carrying the gradient backward sent along it. A *shared* node, used by several steps
(a weight, or a value computed once outside the steps such as ``W_xh * mask``), gets the total
G = Σ_t G_t of this tape's own per-use gradients, and each use its *contribution*
c_t = ⟨G_t, G⟩ / ‖G‖, the length of G_t along the total: the contributions add up to ‖G‖.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

import autograd_mini as am
from autograd_mini.recording import format_scope

from .render import quote
from .text import as_text, safe_text

# Why a drawing shows no gradients, by the state of the graph (graph attribute "grads").
GRADS_NOTE = {
    "shown": "",
    "not kept": "no gradients shown: record with autograd_mini.Tape(keep_grads=True) to keep every edge's gradient",
    "before backward": "no gradients shown yet: call backward() on the loss, then draw again",
}


def _stats(value: Any) -> dict[str, float]:
    if value is None:
        return {}
    arr = np.asarray(value, dtype=float)
    if arr.size == 0:
        return {}
    finite = arr[np.isfinite(arr)]
    if finite.size == 0:
        return {"value_mean": float("nan")}
    return {"value_mean": float(finite.mean()), "value_std": float(finite.std()),
            "value_min": float(finite.min()), "value_max": float(finite.max())}


def _is_data(x: Any) -> bool:
    """A constant worth a node (a number or a numeric array), not a shape, axis list or index."""
    if isinstance(x, (bool, np.bool_)):
        return False
    if isinstance(x, (int, float, np.number)):
        return True
    return isinstance(x, np.ndarray) and x.dtype.kind in "biuf"


def _norm(g: Any) -> float | None:
    if g is None:
        return None
    return float(np.linalg.norm(np.ravel(np.asarray(g, dtype=float))))


def short_name(name: str) -> str:
    """A parameter's own name without its model's prefix: ``ElmanRNN.W_hh`` -> ``W_hh``."""
    return name.rsplit(".", 1)[-1]


def name_of(t: Any) -> str | None:
    """A tensor's name as a ``str`` (None when it has none): the engine takes any object as a
    name (``am.Parameter(5, name=5)``), so every name viz reads goes through here.

    >>> name_of(am.Parameter(5.0, name=5)), name_of(am.Tensor(1.0))
    ('5', None)
    """
    name = getattr(t, "name", None)
    return None if name is None else as_text(name)


def _leaf_label(t: am.Tensor) -> str:
    if t.tag is not None:
        return as_text(t.tag)
    name = name_of(t)
    if name:
        return short_name(name)
    return "parameter" if isinstance(t, am.Parameter) else f"tensor {tuple(t.shape)}"


def _op_label(node: am.GraphNode, weight: str | None) -> str:
    text = f"@ {weight}" if node.op == "matmul" and weight else node.op
    return text if node.tag is None else f"{node.tag} = {text}"


def _tag_attrs(tag: am.Tag | None) -> dict[str, Any]:
    if tag is None:
        return {"tag": None, "tag_name": None, "tag_index": None}
    return {"tag": str(tag), "tag_name": tag.name, "tag_index": tag.index}


def grads_state(nodes: list[am.GraphNode]) -> str:
    if not nodes or nodes[0].input_grads is None:
        return "not kept"
    if all(n.output_grad is None for n in nodes):
        return "before backward"
    return "shown"


def to_networkx(source: Any, constants: bool = True, detail: str = "ops") -> nx.DiGraph:
    """The data-flow graph of a tape or of what made a tensor (a loss).

    ``source``: an ``autograd_mini.Tape`` (record it with ``keep_grads=True`` and run backward to
    get every edge's gradient), or a tensor (structure only: steps from ``am.scope``). ``detail``:
    "ops" (a node per op) or "units" (a node per unit per step, an edge per connection W[i, j];
    see :func:`viz.units.units_graph`).

    Node attributes: ``kind`` ("op", "param", "tensor", "const"), ``label``, ``op``, ``shape``,
    ``scope``, ``module``, ``step``, ``tag``, value statistics (``value_mean``, ...), and
    ``grad_norm``: for a shared node ‖G‖, the norm of this tape's total G = Σ_t G_t (never the
    weight's accumulated ``.grad``); else the norm of the gradient that reached the node.
    Edge attributes: ``grad_norm`` (norm of what backward sent along the edge; both uses summed
    when an op reads one tensor twice), ``args`` (argument positions), ``step``, and on the edges
    of a shared node ``contribution`` (c_t = ⟨G_t, G⟩ / ‖G‖; they add up to ‖G‖). Graph
    attributes: ``steps``, ``shared``, ``grads`` ("shown", "not kept" or "before backward").

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
    >>> c = [G.edges[w, v]["contribution"] for v in G.successors(w)]
    >>> bool(abs(sum(c) - G.nodes[w]["grad_norm"]) < 1e-12)
    True
    """
    if detail not in ("ops", "units"):
        raise ValueError(f"to_networkx: detail must be 'ops' or 'units', got {detail!r}")
    if not isinstance(source, (am.Tape, am.Tensor)):
        raise TypeError(f"to_networkx: expected an autograd_mini.Tape or Tensor (a loss), got {type(source).__name__}")
    nodes = am.graph_of(source)
    if not nodes:
        what = "the tape recorded nothing" if isinstance(source, am.Tape) else "the tensor was not made by a recorded op"
        raise ValueError(f"to_networkx: {what} (no op on a tensor that requires grad)")
    if detail == "units":
        from .units import units_graph

        return units_graph(nodes)
    return _ops_graph(nodes, constants)


def _ops_graph(nodes: list[am.GraphNode], constants: bool) -> nx.DiGraph:
    G = nx.DiGraph(grads=grads_state(nodes))
    node_id = {id(n): f"op{n.index}" for n in nodes}
    leaves: dict[int, str] = {}
    edge_grads: dict[tuple[str, str], Any] = {}
    for n in nodes:
        nid = node_id[id(n)]
        weight = None
        if n.op == "matmul" and len(n.inputs) == 2:
            weight = _weight_name(n.inputs[1])
        module = n.scope[0].name if n.scope else ""
        G.add_node(nid, kind="op", op=n.op, label=_op_label(n, weight), shape=str(tuple(n.shape)),
                   scope=format_scope(n.scope), module=module, step=n.step,
                   grad_norm=_norm(n.output_grad), **_tag_attrs(n.tag), **_stats(n.value))
        for i, x in enumerate(n.inputs):
            if isinstance(x, am.GraphNode):
                src = node_id[id(x)]
            elif isinstance(x, am.Tensor):
                src = leaves.get(id(x))
                if src is None:
                    src = leaves[id(x)] = f"t{len(leaves)}"
                    G.add_node(src, kind="param" if isinstance(x, am.Parameter) else "tensor", label=_leaf_label(x),
                               name=name_of(x),
                               op="", shape=str(tuple(x.shape)), scope="", module="", step=None,
                               grad_norm=None, **_tag_attrs(x.tag), **_stats(x.value))
            elif constants and _is_data(x):
                arr = np.asarray(x)
                if arr.size == 1 and arr.ndim == 0:  # a number: part of the op's label ("power 2")
                    G.nodes[nid]["label"] += f" {float(arr):.4g}"
                    continue
                src = f"c{n.index}_{i}"
                scalar = arr.size == 1
                kind = "index" if n.op == "getitem" or arr.dtype.kind in "iu" else "constant"
                label = f"{float(arr.reshape(())):.3g}" if scalar else f"{kind} {tuple(arr.shape)}"
                G.add_node(src, kind="const", label=label, op="", shape=str(tuple(arr.shape)),
                           scope=format_scope(n.scope), module=module, step=n.step, **_tag_attrs(None),
                           grad_norm=None, scalar=bool(scalar), **_stats(arr))
            else:
                continue
            g = None if n.input_grads is None else n.input_grads[i]
            key = (src, nid)
            if G.has_edge(src, nid):
                G.edges[key]["args"] += f",{i}"
            else:
                G.add_edge(src, nid, args=str(i), step=n.step)
            if g is not None:
                old = edge_grads.get(key)
                edge_grads[key] = g if old is None else old + g
    for key, g in edge_grads.items():
        G.edges[key]["grad_norm"] = _norm(g)
        G.edges[key]["_grad"] = g  # the raw gradient: views sum these, never norms
    for _, _, d in G.edges(data=True):
        d.setdefault("grad_norm", None)
    _place_leaves(G)
    G.graph["steps"] = sorted({d["step"] for _, d in G.nodes(data=True) if d.get("step") is not None})
    G.graph["shared"] = _shared(G)
    for n in G.graph["shared"]:
        add_contributions(G, n)
    for n, d in G.nodes(data=True):
        if d["kind"] == "tensor" and d["grad_norm"] is None and n not in G.graph["shared"]:
            d["grad_norm"] = _norm(_total(G, n))
    return G


def _weight_name(x: Any) -> str | None:
    """The weight a matmul's right operand is: a parameter, or a value derived from one outside
    the steps (``W_xh * mask``) — the first parameter upstream of it."""
    while isinstance(x, am.GraphNode) and x.step is None:
        params = [p for p in x.inputs if isinstance(p, am.Tensor | am.GraphNode)]
        if not params:
            return None
        x = params[0]
    name = name_of(x) if isinstance(x, am.Parameter) else None
    return short_name(name) if name else None


def _place_leaves(G: nx.DiGraph) -> None:
    """A data tensor read by one step only (x_t, the initial state h0) stands in that step."""
    for n, d in G.nodes(data=True):
        if d["kind"] != "tensor":
            continue
        used = {G.nodes[v].get("step") for v in G.successors(n)}
        if len(used) == 1 and None not in used:
            d["step"] = used.pop()
    for n, d in G.nodes(data=True):  # an op of no step that only feeds step 0 (a learned h0)
        if d["kind"] == "op" and d["step"] is None and d.get("tag") and G.out_degree(n):
            used = {G.nodes[v].get("step") for v in G.successors(n)}
            if len(used) == 1 and None not in used and not any(
                    G.nodes[u].get("step") is not None for u in G.predecessors(n)):
                d["step"] = used.pop()


def _shared(G: nx.DiGraph) -> list[str]:
    """Nodes of no step used by several steps: weights, and values computed once outside them."""
    out = []
    for n, d in G.nodes(data=True):
        used = {G.edges[n, v]["step"] for v in G.successors(n)} - {None}
        if d.get("step") is None and len(used) > 1 and d["kind"] != "const":
            out.append(n)
            d["steps_used"] = len(used)
    return out


def _total(G: nx.DiGraph, n: str) -> Any:
    """G = Σ over the node's uses of the raw gradient each use sent back (None if none did)."""
    total = None
    for v in G.successors(n):
        g = G.edges[n, v].get("_grad")
        if g is not None:
            total = np.array(g, dtype=float) if total is None else total + g
    return total


def contribution(g_use: Any, total: Any) -> float | None:
    """c = ⟨G_use, G⟩ / ‖G‖: how much of ‖G‖ one use makes up (None when G is zero or unknown).

    >>> contribution(np.array([3.0, 0.0]), np.array([3.0, 4.0]))
    1.8
    """
    if g_use is None or total is None:
        return None
    norm = float(np.linalg.norm(np.ravel(total)))
    if norm == 0.0:
        return None
    if not math.isfinite(norm):
        return norm
    return float(np.vdot(np.ravel(np.asarray(g_use, dtype=float)), np.ravel(total))) / norm


def add_contributions(G: nx.DiGraph, n: str) -> None:
    """Set node ``n``'s ``grad_norm`` to ‖G‖ and each of its edges' ``contribution``."""
    total = _total(G, n)
    G.nodes[n]["grad_norm"] = _norm(total)
    for v in G.successors(n):
        d = G.edges[n, v]
        d["contribution"] = contribution(d.get("_grad"), total)


def _clean(d: dict) -> dict:
    """Attributes other tools can hold: no None, no arrays, no private keys; every key and text
    made safe (:func:`viz.text.safe_text`: a control character shown as ``\\x01``, a lone
    surrogate as U+FFFD, so that the GraphML is XML and every file is UTF-8); a non-finite number
    is left out, its value as a string beside it (``grad_norm_text: "inf"``: strict JSON has no
    NaN or Infinity)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = safe_text(k)
        if key.startswith("_") or v is None or not isinstance(v, (str, int, float, bool)):
            continue
        if isinstance(v, float) and not math.isfinite(v):
            out[f"{key}_text"] = repr(v)
            continue
        out[key] = safe_text(v) if isinstance(v, str) else v
    return out


def _meta(v: Any) -> Any:
    """A graph attribute (lists of steps, layer and weight names) as strict-JSON data, its text made safe."""
    if isinstance(v, np.generic):
        v = v.item()
    if v is None or isinstance(v, (bool, int)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else repr(v)
    if isinstance(v, (list, tuple, set, frozenset)):
        return [_meta(x) for x in v]
    if isinstance(v, dict):
        return {safe_text(k): _meta(x) for k, x in v.items()}
    return safe_text(v)


def _file_ids(G: nx.DiGraph) -> dict[Any, Any]:
    """Each node's id in the file: an int stays, anything else becomes its safe text (ids of the
    units view come from tag names). Two nodes whose ids would become one are refused."""
    ids: dict[Any, Any] = {}
    owner: dict[Any, Any] = {}
    for n in G.nodes:
        new = n if type(n) is int else safe_text(n)
        if new in owner:
            raise ValueError(f"save_graph: the nodes {owner[new]!r} and {n!r} would both be written as {new!r}")
        owner[new] = n
        ids[n] = new
    return ids


def _dot_attrs(d: dict) -> str:
    """``key="value", ...`` of an exported node or edge (a key that is no DOT identifier quoted)."""
    return ", ".join(f"{k if re.fullmatch(r'[A-Za-z_][A-Za-z_0-9]*', k) else quote(k)}="
                     f"{quote(v, tooltip=k.endswith('tooltip'))}" for k, v in _clean(d).items())


def save_graph(G: nx.DiGraph, path: str | Path) -> Path:
    """Write the graph for other tools; the extension chooses: .graphml (Gephi, yEd), .json
    (networkx node-link, for d3; strict JSON) or .dot (plain Graphviz, every label quoted).

    Every name may be any text: each file is UTF-8 and well-formed, a control character in a
    name, id or graph attribute written as ``\\x01``, a lone surrogate as U+FFFD (as in the
    drawings: :func:`viz.text.safe_text`); a non-finite number is left out with its value as a
    string beside it (``grad_norm_text``), so the JSON has no NaN or Infinity.

    >>> import networkx as nx, tempfile, pathlib
    >>> G = nx.DiGraph(steps=[0]); G.add_edge("a", "b", grad_norm=float("inf"))
    >>> p = save_graph(G, pathlib.Path(tempfile.mkdtemp()) / "g.json")
    >>> "Infinity" in p.read_text(), '"grad_norm_text": "inf"' in p.read_text()
    (False, True)
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in (".graphml", ".json", ".dot", ".gv"):
        raise ValueError(f"save_graph: unknown format {ext!r}; use .graphml, .json or .dot")
    if not path.parent.exists():
        raise FileNotFoundError(f"save_graph: the folder {path.parent} does not exist")
    meta = {safe_text(k): _meta(v) for k, v in G.graph.items() if not safe_text(k).startswith("_")}
    ids = _file_ids(G)
    if ext == ".graphml":
        H = nx.DiGraph()
        H.graph.update({k: json.dumps(v, allow_nan=False) for k, v in meta.items()})
        H.add_nodes_from((ids[n], _clean(d)) for n, d in G.nodes(data=True))
        H.add_edges_from((ids[u], ids[v], _clean(d)) for u, v, d in G.edges(data=True))
        nx.write_graphml(H, path)
    elif ext == ".json":
        data = {"directed": True, "multigraph": False, "graph": meta,
                "nodes": [{"id": ids[n], **_clean(d)} for n, d in G.nodes(data=True)],
                "links": [{"source": ids[u], "target": ids[v], **_clean(d)} for u, v, d in G.edges(data=True)]}
        path.write_text(json.dumps(data, indent=1, allow_nan=False), encoding="utf-8")
    else:
        lines = ["digraph tape {"]
        for n, d in G.nodes(data=True):
            lines.append(f"  {quote(ids[n])} [{_dot_attrs(d)}];")
        for u, v, d in G.edges(data=True):
            lines.append(f"  {quote(ids[u])} -> {quote(ids[v])} [{_dot_attrs(d)}];")
        lines.append("}")
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
