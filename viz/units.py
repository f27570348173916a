"""The unrolled net at the level of units: a node per unit per step, an edge per connection W[i, j].

The lecture draws a recurrent net unrolled in time as one node per unit per time step, with every
connection W[i, j] drawn again in every step that uses it ("the same weights at every step").
:func:`units_graph` builds that picture from a recorded graph, without code for any model class:

- the *layers* are the tensors a model tags (:func:`autograd_mini.tag`: ``x_t``, ``h_t``, ``h0``,
  the LSTM's gates); their *units* are the last axis;
- the *connections* come from each ``matmul`` A @ B whose B is a weight (a parameter, or one made
  from a parameter by element-wise ops such as ``W_xh * mask``). Each row i of B is traced back
  to the unit of A it multiplies, and each column j forward to the unit it becomes;
- the *element-wise flows* (an LSTM cell: the gates and c_{t-1} into c_t) join unit k to unit k;
- the root of the graph, the loss, gets an edge from every output unit of every step.

:func:`rolled_units` folds the unrolled graph back into the lecture's "network with loops":
every unit once, and one edge per connection that carries the sum of its per-step gradients.

>>> import autograd_mini as am, models, viz.units
>>> net = models.ElmanRNN(2, 3, 1, timing="synchronous")       # the lecture's binary adder
>>> batch = models.tasks.BinaryAddition(bits=6, delay=2).sample(0, batch_size=4)
>>> with am.Tape(keep_grads=True) as tape:
...     loss = models.sequence_loss(net(batch.x), batch)
>>> loss.backward()
>>> U = viz.units.units_graph(am.graph_of(tape))
>>> U.graph["layers"], U.graph["weights"]
(['h0', 'x', 'h', 'y'], ['W_hh', 'W_hy', 'W_xh'])
>>> [sum(d["kind"] == "connection" and d["step"] == t for _, _, d in U.edges(data=True)) for t in (0, 1)]
[12, 18]
>>> R = viz.units.rolled_units(U)
>>> R.edges["h:0", "h:2"]["label"], R.edges["h:0", "h:2"]["recurrent"]
('W_hh[0,2]', True)
>>> bool(abs(R.edges["h:0", "h:2"]["grad"] - net["W_hh"].grad[0, 2]) < 1e-12)
True
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, Iterable

import networkx as nx
import numpy as np

import autograd_mini as am

from .graph import grads_state, name_of, short_name

__all__ = ["units_graph", "rolled_units"]

# Ops that work element by element: unit k of the output reads unit k of each input (with
# broadcasting). Column traces go forward through them, and a tagged tensor made by them from
# other tagged tensors of the same width is joined to those unit by unit.
ELEMENTWISE = frozenset({
    "add", "subtract", "multiply", "divide", "negative", "power", "exp", "log", "sqrt", "abs",
    "absolute", "tanh", "sigmoid", "relu", "maximum", "minimum", "clip", "where",
})

# The same ops in numpy, to recompute an effective weight such as ``W_xh * mask`` when backward
# has already freed its value (graph_of(loss) after backward).
NUMPY_OPS = {
    "add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.divide,
    "negative": np.negative, "power": np.power, "abs": np.abs, "absolute": np.abs,
}


# --- what the recorded graph says about layers and weights -------------------------------------

@dataclass
class _Layer:
    """One tagged tensor: a layer of units at one time step."""

    tag: am.Tag
    width: int
    step: int | None                 # the step that computes it, else the first step that reads it
    initial: bool                    # a state from before the steps (h0, c0)
    means: np.ndarray | None         # each unit's mean over the batch, where the value is known
    order: int                       # index of the first op that makes or reads it

    def __post_init__(self) -> None:
        self.ids = [f"{self.tag}:{k}" for k in range(self.width)]  # node ids, made once

    def node(self, unit: int) -> str:
        return self.ids[unit]


@dataclass
class _Weight:
    """The right operand of a matmul seen as a weight: a parameter, or one derived from it."""

    param: am.Tensor
    value: np.ndarray | None         # the effective value B (W_xh * mask), where it can be computed
    present: np.ndarray              # False where a constant 0 factor (a mask) removes the connection
    name: str = ""


@dataclass
class _Segment:
    """Rows [start, start + width) of a weight, multiplied by the units of one tagged tensor."""

    tag: am.Tag
    start: int
    width: int


@dataclass
class _Use:
    """One matmul of a weight: which layers its rows read, which tagged tensors its columns reach."""

    node: am.GraphNode
    weight: _Weight
    rows: list[_Segment] | None                        # None: the left operand could not be traced
    columns: list[tuple[am.GraphNode, np.ndarray]]     # target, and the target column of each column j


def _width(x: Any) -> int:
    shape = x.shape
    return int(shape[-1]) if len(shape) else 1


def _per_unit(a: Any, reduce: str) -> np.ndarray:
    """Sum or mean of an array over every axis but the last (the units)."""
    a = np.asarray(a, dtype=np.float64)
    flat = a.reshape(1, 1) if a.ndim == 0 else a.reshape(-1, a.shape[-1])
    return flat.sum(axis=0) if reduce == "sum" else flat.mean(axis=0)


def _needs_grad(x: Any) -> bool:
    """Is this input part of the differentiated graph (as opposed to a constant)?"""
    return isinstance(x, am.GraphNode) or (isinstance(x, am.Tensor) and x.requires_grad)


def _constant_value(x: Any) -> Any:
    return x.value if isinstance(x, am.Tensor) else x


def _short_name(param: am.Tensor, fallback: str) -> str:
    """``ElmanRNN.W_hh`` -> ``W_hh``: the model's prefix says nothing inside one model's drawing."""
    name = name_of(param)
    return short_name(name) if name else fallback


def _last_axis_slice(index: Any, ndim: int) -> slice | None:
    """The slice a getitem takes along the last axis, when that is all it does to the columns."""
    parts = list(index) if type(index) is tuple else [index]
    if any(p is Ellipsis for p in parts):
        at = next(k for k, p in enumerate(parts) if p is Ellipsis)  # not .index: parts may be arrays
        parts[at:at + 1] = [slice(None)] * (ndim - len(parts) + 1)
    parts += [slice(None)] * (ndim - len(parts))
    if len(parts) != ndim or ndim == 0 or type(parts[-1]) is not slice:
        return None
    for p in parts[:-1]:  # the other axes (the batch) may be indexed any basic way
        if not (type(p) is slice or (isinstance(p, (int, np.integer)) and type(p) is not bool)):
            return None
    return parts[-1]


class _Tracer:
    """Reads a recorded graph: who reads each tensor, the tagged layers, the weights' uses."""

    def __init__(self, nodes: list[am.GraphNode]) -> None:
        self.nodes = nodes
        self.readers: dict[int, list[tuple[am.GraphNode, int]]] = defaultdict(list)
        for n in nodes:
            for pos, x in enumerate(n.inputs):
                if isinstance(x, (am.GraphNode, am.Tensor)):
                    self.readers[id(x)].append((n, pos))
        self.layers: dict[am.Tag, _Layer] = {}
        self.untraced: list[str] = []
        self._weights: dict[int, _Weight | None] = {}

    # layers
    def layer_of(self, x: am.GraphNode | am.Tensor) -> _Layer:
        """The layer of a tagged tensor, registered on first sight (one per tag)."""
        key = x.tag
        layer = self.layers.get(key)
        if layer is None:
            readers = [r for r, _ in self.readers.get(id(x), ())]
            made_in = x.step if isinstance(x, am.GraphNode) else None
            # A tensor no step computes (an input x_t, h0) stands in the first step that reads it.
            read_in = [r.step for r in readers if r.step is not None]
            step = made_in if made_in is not None else (min(read_in) if read_in else None)
            order = x.index if isinstance(x, am.GraphNode) else min((r.index for r in readers), default=0)
            # x_t is made outside the steps too (a leaf), but its index ties it to a time step:
            # it is an input. Initial means an untimed state from before the steps: h0, c0.
            initial = made_in is None and x.tag.index is None
            value = x.value
            means = None if value is None else _per_unit(value, "mean")
            layer = self.layers[key] = _Layer(x.tag, _width(x), step, initial, means, order)
        return layer

    # weights
    def weight(self, b: Any) -> _Weight | None:
        """B as a weight, or None: a parameter, or one derived from a single parameter by
        element-wise ops of its shape (``W_xh * mask``, recorded once outside the steps)."""
        if id(b) not in self._weights:
            self._weights[id(b)] = self._trace_weight(b)
        return self._weights[id(b)]

    def _trace_weight(self, b: Any) -> _Weight | None:
        chain: list[am.GraphNode] = []
        x = b
        while isinstance(x, am.GraphNode):
            upstream = [a for a in x.inputs if _needs_grad(a)]
            if x.op not in ELEMENTWISE or len(upstream) != 1:
                return None
            chain.append(x)
            x = upstream[0]
        if not (isinstance(x, am.Tensor) and x.requires_grad and x.ndim == 2):
            return None
        if any(n.shape != x.shape for n in chain):
            return None
        present = np.ones(x.shape, dtype=bool)
        for n in reversed(chain):  # from the parameter towards B
            present = _still_present(n, present)
        if isinstance(b, am.Tensor):
            value = b.value
        elif b.value is not None:
            value = np.asarray(b.value)
        else:
            value = _replay(chain, x)
        return _Weight(x, value, present)

    # rows: the left operand, back to its layers
    def rows(self, a: Any) -> list[_Segment] | None:
        """The layers the left operand of a matmul reads, as row ranges; None if untraceable."""
        if isinstance(a, (am.GraphNode, am.Tensor)) and a.tag is not None:
            self.layer_of(a)
            return [_Segment(a.tag, 0, _width(a))]
        if isinstance(a, am.GraphNode) and a.op == "concatenate" and _along_last_axis(a):
            segments, start = [], 0
            for part in a.inputs:
                inner = self.rows(part)
                if inner is None:
                    return None
                segments += [_Segment(s.tag, s.start + start, s.width) for s in inner]
                start += _width(part)
            return segments
        return None

    # columns: the matmul's output, forward to tagged tensors
    def columns(self, m: am.GraphNode) -> list[tuple[am.GraphNode, np.ndarray]]:
        """The first tagged tensors each output column of ``m`` reaches through element-wise ops
        and last-axis slices, with the column it lands in there (-1 where it was sliced away)."""
        start = np.arange(_width(m))
        if m.tag is not None:
            return [(m, start)]
        found: dict[int, tuple[am.GraphNode, np.ndarray]] = {}
        stack = [(m, start)]
        seen: set[tuple[int, bytes]] = set()  # a diamond (z * z) is walked once, not once per path
        while stack:
            node, cols = stack.pop()
            for reader, pos in self.readers.get(id(node), ()):
                moved = _follow(reader, pos, node, cols)
                if moved is None:
                    continue
                if reader.tag is not None:
                    found.setdefault(id(reader), (reader, moved))
                elif (id(reader), moved.tobytes()) not in seen:
                    seen.add((id(reader), moved.tobytes()))
                    stack.append((reader, moved))
        return list(found.values())

    def uses(self) -> list[_Use]:
        """Every matmul of a weight whose columns reach a tagged tensor."""
        uses = []
        for n in self.nodes:
            if n.op != "matmul" or len(n.inputs) != 2:
                continue
            w = self.weight(n.inputs[1])
            if w is None or _width(n.inputs[0]) != w.param.shape[0]:
                continue
            columns = self.columns(n)
            if columns:
                uses.append(_Use(n, w, self.rows(n.inputs[0]), columns))
            else:
                self.untraced.append(f"{_short_name(w.param, 'weight')} at step {n.step}: its output reaches no "
                                     f"tagged tensor through element-wise ops and slices (op {n.index})")
        return uses

    def drop_untraced_rows(self, uses: list[_Use]) -> None:
        """A matmul whose left operand is no tagged tensor (nor a concatenate of them) draws no
        connection; ``untraced`` says which. (An op on tagged constants is recorded by the engine,
        so the LSTM's step 0, concatenate([x_0, h0]), is traced like the other steps.)"""
        for u in uses:
            if u.rows is None:
                u.rows = []
                self.untraced.append(f"{_short_name(u.weight.param, 'weight')} at step {u.node.step}: "
                                     f"its left operand is not a tagged tensor (op {u.node.index})")

    # element-wise flows
    def elementwise_sources(self, t: am.GraphNode) -> dict[am.Tag, tuple[Any, np.ndarray | None]]:
        """Tagged tensors of t's width that t is computed from by element-wise ops alone, each with
        the gradient (summed over the batch, per unit) they got through those ops, if kept."""
        width = _width(t)
        found: dict[am.Tag, tuple[Any, np.ndarray | None]] = {}
        stack, seen = [t], {id(t)}
        while stack:
            n = stack.pop()
            if n.op not in ELEMENTWISE or _width(n) != width:
                continue
            for pos, x in enumerate(n.inputs):
                if not isinstance(x, (am.GraphNode, am.Tensor)) or _width(x) != width:
                    continue
                if x.tag is not None:
                    g = None if n.input_grads is None else n.input_grads[pos]
                    source, total = found.get(x.tag, (x, None))
                    if g is not None:  # a tensor read twice on the way (c * c) gets both shares
                        total = _per_unit(g, "sum") + (0.0 if total is None else total)
                    found[x.tag] = (source, total)
                elif isinstance(x, am.GraphNode) and id(x) not in seen:
                    seen.add(id(x))
                    stack.append(x)
        return found

    def outputs(self, root: am.GraphNode) -> list[am.GraphNode]:
        """The layers the root is computed from through untagged ops: the net's outputs."""
        found, stack, seen = [], [root], {id(root)}
        while stack:
            for x in stack.pop().inputs:
                if not isinstance(x, am.GraphNode) or id(x) in seen:
                    continue
                seen.add(id(x))
                if x.tag is not None and x.tag in self.layers:
                    found.append(x)
                else:
                    stack.append(x)
        return sorted(found, key=lambda n: n.index)


def _still_present(n: am.GraphNode, present: np.ndarray) -> np.ndarray:
    """Which entries of a derived weight can be non-zero after op ``n``, from those before it."""
    try:
        constants = [np.asarray(_constant_value(a), dtype=np.float64) for a in n.inputs if not _needs_grad(a)]
        if n.op == "multiply":  # a constant 0 factor (a 0/1 mask) removes the connection
            for c in constants:
                present = present & np.broadcast_to(c != 0, present.shape)
            return present
        if n.op == "negative" or (n.op == "divide" and _needs_grad(n.inputs[0])):
            return present
        if n.op in ("add", "subtract"):  # adding a non-zero constant brings the entry back
            for c in constants:
                present = present | np.broadcast_to(c != 0, present.shape)
            return present
    except (ValueError, TypeError):  # a constant that does not broadcast: assume nothing is removed
        pass
    return np.ones_like(present)


def _replay(chain: list[am.GraphNode], param: am.Tensor) -> np.ndarray | None:
    """The derived weight's value, recomputed from the parameter through the chain of ops."""
    value = param.value
    for n in reversed(chain):
        fn = NUMPY_OPS.get(n.op)
        if fn is None:
            return None
        value = fn(*(value if _needs_grad(a) else _constant_value(a) for a in n.inputs))
    return np.asarray(value)


def _along_last_axis(n: am.GraphNode) -> bool:
    """Is this concatenate along the last axis (the units)? The graph keeps no keyword
    arguments, so read it from the shapes."""
    parts = [x for x in n.inputs if hasattr(x, "shape")]
    if len(parts) != len(n.inputs) or not n.shape:
        return False
    lead = tuple(n.shape[:-1])
    return all(tuple(p.shape[:-1]) == lead for p in parts) and sum(_width(p) for p in parts) == n.shape[-1]


def _follow(reader: am.GraphNode, pos: int, node: am.GraphNode, cols: np.ndarray) -> np.ndarray | None:
    """Where the columns of ``node`` are in ``reader``'s output, or None if the trace stops there."""
    if reader.op in ELEMENTWISE:
        if (reader.op == "where" and pos == 0) or not reader.shape or reader.shape[-1] != node.shape[-1]:
            return None
        return cols
    if reader.op == "getitem" and pos == 0 and len(reader.inputs) == 2:
        cut = _last_axis_slice(reader.inputs[1], len(node.shape))
        if cut is None:
            return None
        kept = np.arange(node.shape[-1])[cut]
        where = np.full(node.shape[-1], -1)
        where[kept] = np.arange(len(kept))
        return np.where(cols >= 0, where[cols], -1)
    return None


def _grads_kept(nodes: list[am.GraphNode]) -> bool:
    """Do the nodes carry the per-edge gradients of a backward pass (Tape(keep_grads=True))?"""
    return nodes[-1].input_grads is not None and any(n.output_grad is not None for n in nodes)


def _name_weights(uses: list[_Use]) -> list[str]:
    """Short names (W_hh), the full ones where two parameters share a short name; in order of use."""
    params: dict[int, am.Tensor] = {}
    for u in uses:
        params.setdefault(id(u.weight.param), u.weight.param)
    short = {k: _short_name(p, f"weight{n}") for n, (k, p) in enumerate(params.items())}
    clashes = {s for s, c in Counter(short.values()).items() if c > 1}
    names = {k: (name_of(params[k]) if s in clashes and name_of(params[k]) else s) for k, s in short.items()}
    for u in uses:
        u.weight.name = names[id(u.weight.param)]
    return list(dict.fromkeys(names.values()))


def _add_edge(G: nx.DiGraph, u: str, v: str, attrs: dict) -> None:
    """A DiGraph holds one edge per pair of units: a second one between the same two units (two
    weights from one layer to another) is kept in the first one's ``parallel`` list."""
    if G.has_edge(u, v):
        G.edges[u, v].setdefault("parallel", []).append(attrs)
    else:
        G.add_edge(u, v, **attrs)


def _layer_order(layers: Iterable[_Layer], flows: set[tuple[str, str, bool]]) -> list[str]:
    """Layer names in data-flow order, input side first. Flows within one step order the layers;
    a flow from one step to the next (h_{t-1} -> write_t) is used only where it closes no loop."""
    first: dict[str, int] = {}
    for layer in layers:
        first[layer.tag.name] = min(first.get(layer.tag.name, layer.order), layer.order)
    flow = nx.DiGraph()
    flow.add_nodes_from(first)
    for same_step in (True, False):
        for a, b, s in sorted(flows):
            if s == same_step and a != b and not flow.has_edge(a, b) and not nx.has_path(flow, b, a):
                flow.add_edge(a, b)
    return list(nx.lexicographical_topological_sort(flow, key=lambda name: (first[name], name)))


# --- the unrolled units graph ---------------------------------------------------------------------

def units_graph(nodes: list[am.GraphNode] | am.Tape | am.Tensor) -> nx.DiGraph:
    """The unrolled net as units and connections, from ``am.graph_of(tape_or_tensor)``.

    A layer is a tagged tensor that a step computes or reads, or that a weight or an element-wise
    flow joins to one (tags on the loss's side, such as targets or a mask, are not layers).

    Nodes (ids ``"h_3:1"``, ``"h0:2"``; ``"loss"``):
      unit: ``kind="unit"``, ``layer`` (tag name), ``tag`` (``"h_3"``), ``index`` (tag index or
      None), ``unit``, ``step`` (the step that computes it; an input or initial state stands in the
      step that reads it), ``initial`` (h0, c0), ``label`` (``"h_3[1]"``), ``value`` (mean over the
      batch, or None);
      loss: ``kind="loss"``, ``label``, ``op``, ``step`` (None), ``value``.
    Edges:
      connection: ``weight`` (``"W_hh"``), ``parameter`` (its full name), ``i``, ``j``, ``value``
      (effective B[i, j]), ``grad`` (element [i, j] of the gradient the step sent to B, A_tᵀ g_t
      summed over the batch; None when not kept), ``step``, ``label`` (``"W_hh[0,2]"``);
      elementwise: ``unit``, ``step``, ``grad`` (what the source unit got along this flow);
      to_loss: ``unit``, ``step``, ``grad`` (the gradient that reached the output unit).
      Where gradients were kept but none flowed along an edge, ``grad`` is 0.0.
    Graph: ``steps``, ``layers`` (input side first), ``weights``, ``grads_kept``, ``untraced``
    (why some matmuls of a weight are not drawn: rows or columns that reach no tagged tensor),
    ``rolled`` (False).
    A tape or tensor is accepted too and passed through ``am.graph_of``.
    """
    if isinstance(nodes, (am.Tape, am.Tensor)):
        nodes = am.graph_of(nodes)
    nodes = list(nodes)
    if not nodes:
        raise ValueError("units_graph: the graph is empty (nothing was recorded)")
    if not all(isinstance(n, am.GraphNode) for n in nodes):
        raise TypeError("units_graph: expected the list am.graph_of(tape_or_tensor) returns")
    tracer = _Tracer(nodes)
    uses = tracer.uses()
    tracer.drop_untraced_rows(uses)
    weights = _name_weights(uses)
    grads_kept = _grads_kept(nodes)
    for n in nodes:  # every tagged tensor a step computes or reads is a layer of the unrolled net
        if n.step is None:
            continue
        for x in (n, *n.inputs):
            if isinstance(x, (am.GraphNode, am.Tensor)) and x.tag is not None:
                tracer.layer_of(x)
    for u in uses:
        for target, _ in u.columns:
            tracer.layer_of(target)
    elementwise = {id(n): tracer.elementwise_sources(n) for n in nodes if n.tag is not None and n.step is not None}
    for sources in elementwise.values():
        for source, _ in sources.values():
            tracer.layer_of(source)
    if not tracer.layers:
        _refuse(nodes)

    G = nx.DiGraph()
    flows: set[tuple[str, str, bool]] = set()
    for layer in sorted(tracer.layers.values(), key=lambda l: (l.order, str(l.tag))):
        _add_units(G, layer)
    for u in uses:
        _add_connections(G, tracer, u, grads_kept, flows)
    for n in nodes:
        for source, grad in elementwise.get(id(n), {}).values():
            _add_elementwise(G, tracer.layer_of(source), tracer.layer_of(n), grad, grads_kept, flows)
    root = _loss_of(nodes)
    if not (root.tag is not None and root.tag in tracer.layers):
        _add_loss(G, root, [tracer.layer_of(o) for o in tracer.outputs(root)], tracer, grads_kept)
    G.graph.update(
        steps=sorted({d["step"] for _, d in G.nodes(data=True) if d.get("step") is not None}),
        layers=_layer_order(tracer.layers.values(), flows),
        weights=weights, grads_kept=grads_kept, untraced=tracer.untraced, rolled=False,
        grads=grads_state(nodes),
    )
    return G


def _loss_of(nodes: list[am.GraphNode]) -> am.GraphNode:
    """The loss: the op tagged "loss", else the one backward started from (its gradient is the
    seed, and nothing recorded reads it), else the newest op nothing reads."""
    tagged = [n for n in nodes if n.tag is not None and n.tag.name == "loss"]
    if tagged:
        return tagged[-1]
    read = {id(x) for n in nodes for x in n.inputs if isinstance(x, am.GraphNode)}
    ends = [n for n in nodes if id(n) not in read]
    seeded = [n for n in ends if n.output_grad is not None]
    return (seeded or ends or nodes)[-1]


def _refuse(nodes: list[am.GraphNode]) -> None:
    """No layer to draw: say which of the two things units are made from is missing."""
    weights = sorted({_short_name(n.inputs[1], "a weight") for n in nodes
                      if n.op == "matmul" and len(n.inputs) == 2 and isinstance(n.inputs[1], am.Tensor)
                      and n.inputs[1].requires_grad})
    if weights:
        raise ValueError(f"units_graph: the graph has matmuls of {', '.join(weights)} but no tagged tensor they read "
                         "or make, so no layer to draw their units in; tag the layers with am.tag(tensor, 'h', t)")
    raise ValueError("units_graph: the graph has no tagged tensor (am.tag) computed in a step or joined by a "
                     "weight, and no matmul of a parameter: there are no units or connections to draw")


def _add_units(G: nx.DiGraph, layer: _Layer) -> None:
    for k in range(layer.width):
        value = None if layer.means is None else float(layer.means[k])
        G.add_node(layer.node(k), kind="unit", layer=layer.tag.name, tag=str(layer.tag), index=layer.tag.index,
                   unit=k, step=layer.step, initial=layer.initial,
                   label=f"{layer.tag}[{k}]", value=value)


def _add_connections(G: nx.DiGraph, tracer: _Tracer, use: _Use, grads_kept: bool,
                     flows: set[tuple[str, str, bool]]) -> None:
    """One edge per connection W[i, j] this matmul uses (masked-out ones are not drawn)."""
    m, w = use.node, use.weight
    kept = m.input_grads is not None and m.input_grads[1] is not None
    grads = np.asarray(m.input_grads[1]).tolist() if kept else None  # lists: fast to index one by one
    values = None if w.value is None else np.asarray(w.value).tolist()
    present = w.present.tolist()
    missing = 0.0 if grads_kept else None  # kept, but none flowed here: this step's share is 0
    for seg in use.rows or []:
        source = tracer.layers[seg.tag]
        for target, cols in use.columns:
            dest = tracer.layer_of(target)
            flows.add((source.tag.name, dest.tag.name, source.step == dest.step))
            for j, k in enumerate(cols.tolist()):
                if k < 0:
                    continue
                for r in range(seg.width):
                    i = seg.start + r
                    if not present[i][j]:
                        continue
                    grad = grads[i][j] if kept else missing
                    _add_edge(G, source.node(r), dest.node(k), dict(
                        kind="connection", weight=w.name, parameter=name_of(w.param) or w.name, i=i, j=j,
                        value=None if values is None else values[i][j], grad=grad, step=m.step,
                        label=f"{w.name}[{i},{j}]"))


def _add_elementwise(G: nx.DiGraph, source: _Layer, dest: _Layer, grad: np.ndarray | None, grads_kept: bool,
                     flows: set[tuple[str, str, bool]]) -> None:
    flows.add((source.tag.name, dest.tag.name, source.step == dest.step))
    for k in range(dest.width):
        g = float(grad[k]) if grad is not None else (0.0 if grads_kept else None)
        _add_edge(G, source.node(k), dest.node(k), dict(kind="elementwise", unit=k, step=dest.step, grad=g, label=""))


def _add_loss(G: nx.DiGraph, root: am.GraphNode, outputs: list[_Layer], tracer: _Tracer, grads_kept: bool) -> None:
    """The root (the loss) and an edge from every output unit of every step into it."""
    if not outputs:
        return
    value = None if root.value is None else float(np.mean(root.value))
    G.add_node("loss", kind="loss", label=str(root.tag) if root.tag is not None else root.op, op=root.op,
               step=None, value=value)
    made = {n.tag: n for n in tracer.nodes if n.tag is not None}
    for layer in outputs:
        g = made[layer.tag].output_grad
        grad = None if g is None else _per_unit(g, "sum")
        for k in range(layer.width):
            value = float(grad[k]) if grad is not None else (0.0 if grads_kept else None)
            G.add_edge(layer.node(k), "loss", kind="to_loss", unit=k, step=layer.step, grad=value, label="")


# --- the rolled net: each unit once ---------------------------------------------------------------

def rolled_units(U: nx.DiGraph) -> nx.DiGraph:
    """The "network with loops" of :func:`units_graph`'s unrolled one: each unit once.

    Nodes ``"h:1"``: ``kind="unit"``, ``layer``, ``unit``, ``label`` (``"h[1]"``), ``initial``,
    ``value`` (mean over the steps where known), ``steps`` (how many steps it appears in); and
    the ``"loss"`` node as it was.
    Edges: connection (``weight``, ``parameter``, ``i``, ``j``, ``value``, ``label``), one per
    W[i, j], with ``grad`` the sum of its per-step grads (element [i, j] of the weight's total
    gradient from this tape); elementwise and to_loss edges, their grads summed likewise. Every
    edge has ``uses`` (how many steps use it), ``recurrent`` (from a layer to itself: W_hh,
    c_{t-1} -> c_t) and ``delay`` (target's tag index minus source's, where both are known and
    one value: 1 for W_hh; None otherwise).
    Graph: ``steps``, ``layers``, ``weights``, ``grads_kept``, ``folded`` (initial layer -> the
    layer), ``rolled`` (True).

    Initial-state layers are folded into the layer whose state they are (h0 into h): in the
    lecture's net with loops h0 is just h's activity before the first step, and W_hh's step-0 use
    (from h0) is one more use of the same connection, so its gradient belongs in the same sum. An
    initial layer whose layer cannot be told (it feeds nothing another step's layer also feeds)
    stays as a node with ``initial=True``, a marker of an input.
    """
    if not isinstance(U, nx.DiGraph) or "layers" not in U.graph or "grads_kept" not in U.graph:
        raise ValueError("rolled_units: expected the graph units_graph returns (graph attributes layers, grads_kept)")
    fold = _fold_initial_layers(U)
    R = nx.DiGraph(steps=list(U.graph["steps"]), layers=[n for n in U.graph["layers"] if n not in fold],
                   weights=list(U.graph["weights"]), grads_kept=U.graph["grads_kept"], folded=fold, rolled=True)
    rolled: dict[str, str] = {}
    values: dict[str, list[float]] = defaultdict(list)
    for n, d in U.nodes(data=True):
        if d["kind"] != "unit":
            R.add_node(n, **d)
            rolled[n] = n
            continue
        layer = fold.get(d["layer"], d["layer"])
        rid = rolled[n] = f"{layer}:{d['unit']}"
        if rid not in R:
            R.add_node(rid, kind="unit", layer=layer, unit=d["unit"], label=f"{layer}[{d['unit']}]",
                       initial=d["initial"] and layer not in fold.values(), value=None, steps=0)
        if d["layer"] not in fold:
            R.nodes[rid]["steps"] += 1
            if d["value"] is not None:
                values[rid].append(d["value"])
    for rid, vs in values.items():
        R.nodes[rid]["value"] = float(np.mean(vs))
    layer_of = {rid: d.get("layer", rid) for rid, d in R.nodes(data=True)}
    for (src, dst, *_), edge in _summed_edges(U, rolled, layer_of).items():
        _add_edge(R, src, dst, edge)
    return R


def _summed_edges(U: nx.DiGraph, rolled: dict[str, str], layer: dict[str, str]) -> dict[tuple, dict]:
    """The unrolled edges grouped by what they are in the rolled net, grads summed over steps."""
    groups: dict[tuple, dict] = {}
    for a, b, d in _all_edges(U):
        src, dst = rolled[a], rolled[b]
        key = (src, dst, d["kind"], d.get("weight"), d.get("i"), d.get("j"))
        e = groups.get(key)
        if e is None:
            e = groups[key] = {k: v for k, v in d.items() if k not in ("step", "grad", "parallel")}
            e.update(grad=None, uses=0, delays=set(), recurrent=layer[src] == layer[dst])
        e["uses"] += 1
        if d["grad"] is not None:
            e["grad"] = d["grad"] if e["grad"] is None else e["grad"] + d["grad"]
        ia, ib = U.nodes[a].get("index"), U.nodes[b].get("index")
        if ia is not None and ib is not None:
            e["delays"].add(ib - ia)
    for e in groups.values():
        delays = e.pop("delays")
        e["delay"] = delays.pop() if len(delays) == 1 else None
    return groups


def _all_edges(U: nx.DiGraph) -> Iterable[tuple[str, str, dict]]:
    """Every edge, with the ones kept in a ``parallel`` list."""
    for a, b, d in U.edges(data=True):
        yield a, b, d
        for extra in d.get("parallel", ()):
            yield a, b, extra


def _fold_initial_layers(U: nx.DiGraph) -> dict[str, str]:
    """Which layer each initial layer is the state of, told from the roles it plays:

    - a connection W[i, j] from it: the layer row i of W comes from in the other steps;
    - an element-wise flow from it into layer T: the layer that feeds T in the other steps
      and is the one missing in this step (c0 stands where c_{t-1} does)."""
    layer_of = {n: d.get("layer") for n, d in U.nodes(data=True)}
    initial = {d["layer"] for _, d in U.nodes(data=True) if d.get("initial")}
    row_source: dict[tuple[str, int], Counter] = defaultdict(Counter)
    feeders: dict[tuple[str, Any], set[str]] = defaultdict(set)
    for a, b, d in _all_edges(U):
        if d["kind"] == "connection" and layer_of[a] not in initial:
            row_source[(d["weight"], d["i"])][layer_of[a]] += 1
        elif d["kind"] == "elementwise":
            feeders[(layer_of[b], d["step"])].add(layer_of[a])
    votes: dict[str, Counter] = defaultdict(Counter)
    for a, b, d in _all_edges(U):
        source = layer_of[a]
        if source not in initial:
            continue
        if d["kind"] == "connection":
            votes[source].update(row_source.get((d["weight"], d["i"]), Counter()))
        elif d["kind"] == "elementwise":
            target, here = layer_of[b], feeders[(layer_of[b], d["step"])]
            elsewhere = set().union(*(f for (t, s), f in feeders.items() if t == target and s != d["step"]))
            missing = elsewhere - here - initial
            if len(missing) == 1:
                votes[source][missing.pop()] += 1
    return {layer: c.most_common(1)[0][0] for layer, c in votes.items() if c}
