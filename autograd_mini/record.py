"""The record of every op: its layout, the wrapper that writes it, the walk back that reads it.

Every differentiable call goes through :func:`primitive`'s wrapper, which runs the numpy
function and, while grad is on and an input needs a gradient, leaves a *record* in the output
tensor's ``_rec``: one list, so that the garbage collector tracks one object per op. It holds
the primitive, the input positions that need a gradient, the scope, a sequence number, the
output's shape and (if the VJPs read it) value, the tape node, for ``retain_grad`` a weak
reference to the tensor, the model's name for it (:func:`tag`), the keyword arguments, and then
each input beside the value backward keeps of it (or its shape, where the VJPs need no more). An input that is a recorded tensor is stored
as *its record*, so a record keeps alive only what backward needs: the ``x @ W`` of
``x @ W + b`` is freed as soon as the user drops it, as in PyTorch.

A backward pass (:func:`run_backward`, :class:`_Pass`) sums the gradients in its own
accumulator, never on the records, and keeps the records that have received a gradient in a
heap keyed by recording order, always taking the newest: every record is visited once, after
all the ops that used it, with no recursion, so a 100,000-op unroll is fine. Each visit sends one
vector-Jacobian product to each input that needs a gradient; a tensor used in many places (a
weight shared by every time step) receives the sum. Where a sum is cheaper taken at once
(``Op.sum_vjp``: a weight's uses as a matmul's right operand, one matmul for many steps; a
tensor's slices, one buffer), the calls are collected and summed when the tensor's turn comes.
Keeping each edge's gradient (``Tape(keep_grads=True)``), ``create_graph`` and
``detect_anomaly`` need every edge's own gradient, so they take the VJPs one by one. Backward
frees the kept values but keeps the rest, so :func:`graph_of` can still walk what made a loss.

This module is the only one that reads or writes a record's fields.
"""
from __future__ import annotations

import functools
import weakref
from heapq import heappop, heappush
from math import prod
from typing import Any, Callable, Sequence

import numpy as np

from .recording import (
    BACKWARD_LOCK,
    COUNTER,
    GraphNode,
    Node,
    Tag,
    Tape,
    _grad_mode,
    current,
    format_scope,
)
from .tensor import Tensor, _freeze, _new, _own, _Tensor_new

_ndarray = np.ndarray
_F64 = np.dtype(np.float64)
_F32 = np.dtype(np.float32)
_f64 = np.float64
_asarray = np.asarray

# A record (Tensor._rec) is one list, so that the garbage collector tracks one object per op:
# ten fields, then each input and the value backward keeps of it, side by side.
OP, PARENTS, SCOPE, SEQ, SHAPE, ANS, NODE, OWNER, TAG, KW = range(10)


ARGS = 10  # input i is rec[ARGS + 2 i], its kept value (or its shape) rec[ARGS + 2 i + 1]


class _Freed:
    """What a record's ANS holds once backward has freed its kept values (see ``_free``): a
    sentinel of its own, as ANS may hold anything else, a custom_vjp's residuals None included."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "FREED"


FREED = _Freed()


def _own_kwargs(kwargs: dict) -> dict:
    """Keyword arguments as a record keeps them: arrays among them copied (see ``_own``). The
    dict itself is the call's own, made fresh for it."""
    for v in kwargs.values():
        if type(v) is _ndarray or type(v) is list or type(v) is tuple or isinstance(v, np.ndarray):
            return {k: _own(v) for k, v in kwargs.items()}
    return kwargs


def _guard(vals: tuple, inputs: tuple, keep: frozenset[int] | None) -> tuple[tuple, tuple]:
    """Copy the caller's constants a record keeps (see ``_own``), and replace the values backward
    does not read by their shapes. (Leaf tensors were frozen before the op ran.) The general
    case: the wrapper inlines it for one and two arguments."""
    out_vals, out_inputs = list(vals), list(inputs)
    for i, (v, e) in enumerate(zip(vals, inputs)):
        if keep is not None and i not in keep:
            if type(v) is _ndarray:
                out_vals[i] = e[SHAPE] if type(e) is list else _interned(v.shape)
            elif type(v) is list and e is v:  # a caller's list: only its shape is read
                out_vals[i] = _interned(np.shape(v))
        elif e is v:  # a caller's constant (a record or a leaf's value is never the input itself)
            out_vals[i] = out_inputs[i] = _own(v)
    return tuple(out_vals), tuple(out_inputs)


_NO_ARG = object()  # a primitive's parameter that was not given

_NO_KWARGS: dict = {}  # shared by every record without keyword arguments (one dict fewer per op)


class Op:
    """A primitive's identity: its name, numpy forward and one VJP per argument position."""

    __slots__ = ("name", "fun", "vjps", "d0", "d1", "variadic", "sum_vjp", "saves", "saves_ans", "k0", "k1")

    def __init__(self, name: str, fun: Callable) -> None:
        self.name = name
        self.fun = fun
        self.vjps: Any = None  # until defvjp
        # Optional ``(i, total)``: argument i's VJPs are cheaper summed over all the uses of one
        # tensor than one by one, so a plain backward collects the calls ``(g, ans, args)`` and
        # asks ``total(calls, out)`` for their sum, added into ``out`` (an array the pass owns)
        # or, if out is None, in a fresh array. matmul's weight: one matmul for many time steps.
        self.sum_vjp: tuple[int, Callable] | None = None
        # What backward needs kept: ``saves`` the input positions whose values the VJPs read
        # (None: all), ``saves_ans`` the output value. The others reach the VJPs as their
        # shapes (a tuple) only. Built-ins declare it with :func:`saves`; user ops keep all.
        self.saves: frozenset[int] | None = None
        self.saves_ans = True
        self.k0 = self.k1 = True  # are the first two inputs kept ("0 in saves", for the hot path)
        self.d0 = self.d1 = self.variadic = False  # d0, d1: the first two arguments have VJPs

    def wants(self, i: int) -> bool:
        """Does argument ``i`` have a VJP?"""
        if self.variadic:
            return True
        return self.vjps is not None and i < len(self.vjps) and self.vjps[i] is not None

    def __repr__(self) -> str:
        return f"Op({self.name})"


class _ArgnumVJPs:
    """VJPs of a variadic primitive: ``vjp(argnum, g, ans, *args)``, indexed like a tuple."""

    __slots__ = ("vjp",)

    def __init__(self, vjp: Callable) -> None:
        self.vjp = vjp

    def __getitem__(self, i: int) -> Callable:
        return functools.partial(self.vjp, i)


def primitive(fun: Callable | None = None, *, name: str | None = None) -> Callable:
    """Make a numpy function differentiable: calls on tensors are recorded for backward.

    ``fun`` takes and returns numpy arrays; register its gradient with :func:`defvjp`. Called on
    plain arrays the primitive is just ``fun``; called on tensors it returns a Tensor. Keyword
    arguments are never differentiated.

    >>> import numpy as np, autograd_mini as am
    >>> @am.primitive
    ... def cube(x):
    ...     return x ** 3
    >>> am.defvjp(cube, lambda g, ans, x: 3 * g * x ** 2)
    >>> am.grad(lambda x: cube(x).sum())(np.array([1.0, 2.0]))
    array([ 3., 12.])
    """
    if fun is None:
        return functools.partial(primitive, name=name)
    op = Op(name or fun.__name__, fun)

    def wrapped(x: Any = _NO_ARG, y: Any = _NO_ARG, /, *more: Any, **kwargs: Any) -> Any:
        # The hot path of the engine: every op of every step passes here once. One- and
        # two-argument calls, nearly all of them, keep their inputs in locals (no tuples to
        # build) and skip the general loop. Two positional parameters, not ``*args``: a call
        # costs ~1,250 instructions instead of ~1,780 (callgrind, CPython 3.11).
        args = None  # the arguments as a tuple: built for the general case, and in the rare paths
        n = 0 if more or x is _NO_ARG else 1 if y is _NO_ARG else 2
        state = current()
        if n == 2:
            if not state.grad_enabled:
                # no_grad (inference, the automaton's runs): nothing is recorded, so no records or
                # parents are looked up. An add under no_grad: 10.1k -> 9.2k instructions (numpy's
                # own 5.2k); the 2-3-1 forward -4%, a recorded training step unchanged (callgrind).
                parents = None
                if isinstance(x, Tensor):
                    v0 = x._value
                    v1 = y._value if isinstance(y, Tensor) else y
                elif isinstance(y, Tensor):
                    v0, v1 = x, y._value
                else:
                    return fun(x, y, **kwargs)
            elif isinstance(x, Tensor):
                v0 = x._value
                i0 = x._rec or x
                if isinstance(y, Tensor):
                    v1 = y._value
                    i1 = y._rec or y
                    parents = _BOTH[(x.requires_grad and op.d0) + 2 * (y.requires_grad and op.d1)]
                else:
                    v1 = i1 = y
                    parents = _FIRST if x.requires_grad and op.d0 else None
            elif isinstance(y, Tensor):
                v0 = i0 = x
                v1 = y._value
                i1 = y._rec or y
                parents = _SECOND if y.requires_grad and op.d1 else None
            else:
                return fun(x, y, **kwargs)
            # A leaf input is frozen before the call, so that a view of it (W.T) is read-only too.
            if parents is not None:
                if i0 is x and v0 is not x and not x._frozen:  # i0 is x but v0 is not: a leaf tensor
                    _freeze(x)
                if i1 is y and v1 is not y and not y._frozen:
                    _freeze(y)
            try:
                out = fun(v0, v1, **kwargs) if kwargs else fun(v0, v1)
            except (ValueError, TypeError, IndexError) as e:
                raise _op_error(op, (v0, v1), kwargs, e) from e
        elif n == 1:
            if not isinstance(x, Tensor):
                return fun(x, **kwargs)
            v0 = x._value
            if not state.grad_enabled:  # no_grad: as above
                parents = None
            else:
                i0 = x._rec or x
                parents = _FIRST if x.requires_grad and op.d0 else None
                if parents is not None and i0 is x and not x._frozen:
                    _freeze(x)
            try:
                out = fun(v0, **kwargs) if kwargs else fun(v0)
            except (ValueError, TypeError, IndexError) as e:
                raise _op_error(op, (v0,), kwargs, e) from e
        else:
            args = () if x is _NO_ARG else (x,) if y is _NO_ARG else (x, y, *more)
            vals, parents, inputs = _unwrap(op, args)
            if vals is None:
                return fun(*args, **kwargs)
            if parents is not None and state.grad_enabled:
                for a in args:
                    if isinstance(a, Tensor) and a._rec is None and not a._frozen:
                        _freeze(a)
            try:
                out = fun(*vals, **kwargs)
            except (ValueError, TypeError, IndexError) as e:
                raise _op_error(op, vals, kwargs, e) from e
        if type(out) is not _ndarray or (out.dtype is not _F64 and out.dtype is not _F32):
            # numpy reductions give float64 scalars: make them 0-d arrays the cheap way
            out = _asarray(out) if type(out) is _f64 else _check_output(op, out, args or (x, y)[:n])
        if state.anomaly and not np.isfinite(out).all():
            _raise_anomaly(op.name, "produced", out, state.scope)
        t = _Tensor_new(Tensor)
        t._value = out
        if parents is None or not state.grad_enabled:
            t.requires_grad = False
            t._rec = None
            if state.grad_enabled:
                args = args or (x, y)[:n]
                if op.vjps is None:
                    _check_has_vjp(op, args)
                if parents is None and _reads_named(args):
                    _record_named_constant(op, t, args, kwargs, state)
            return t
        t.requires_grad = True
        shape = _SHAPES.get(out.shape)
        if shape is None:
            shape = _intern_shape(out.shape)
        # Keep only the values the VJPs read, the rest as their shapes (an input that is a record
        # has its shape tuple already: sharing it is one object fewer that lives until backward).
        # What is kept must not change before backward: a leaf's array is frozen, a caller's
        # array copied (see _guard, the general case; inlined here for one and two arguments).
        # A leaf's shape is looked up in _SHAPES before _interned is called: no call when known.
        if n == 2:
            # (A leaf input was frozen before the call, so that a view of it is read-only too.)
            if not op.k0:
                if type(v0) is _ndarray:
                    v0 = i0[SHAPE] if type(i0) is list else _SHAPES.get(v0.shape) or _interned(v0.shape)
                elif type(v0) is list:  # a caller's list: only its shape is read
                    v0 = _interned(np.shape(v0))
            elif i0 is v0 and type(v0) is not float:  # a caller's constant (a float is immutable)
                i0 = v0 = _own(v0)
            if not op.k1:
                if type(v1) is _ndarray:
                    v1 = i1[SHAPE] if type(i1) is list else _SHAPES.get(v1.shape) or _interned(v1.shape)
                elif type(v1) is list:
                    v1 = _interned(np.shape(v1))
            elif i1 is v1 and type(v1) is not float:
                i1 = v1 = _own(v1)
            t._rec = rec = [op, parents, state.scope, next(COUNTER), shape, out if op.saves_ans else shape,
                            None, None, None, _own_kwargs(kwargs) if kwargs else _NO_KWARGS, i0, v0, i1, v1]
        elif n == 1:
            if not op.k0:
                v0 = i0[SHAPE] if type(i0) is list else _SHAPES.get(v0.shape) or _interned(v0.shape)
            t._rec = rec = [op, parents, state.scope, next(COUNTER), shape, out if op.saves_ans else shape,
                            None, None, None, _own_kwargs(kwargs) if kwargs else _NO_KWARGS, i0, v0]
        else:
            vals, inputs = _guard(vals, inputs, op.saves)
            t._rec = rec = [op, parents, state.scope, next(COUNTER), shape, out if op.saves_ans else shape,
                            None, None, None, _own_kwargs(kwargs) if kwargs else _NO_KWARGS]
            for e, v in zip(inputs, vals):
                rec += (e, v)
        if state.tapes:
            _record_on_tapes(t, rec, args or (x, y)[:n])
        return t

    functools.update_wrapper(wrapped, fun)
    wrapped.op = op  # type: ignore[attr-defined]
    return wrapped


def _reads_named(args: tuple) -> bool:
    """Does an op on constants read a tagged tensor (or one such an op made)?"""
    for a in args:
        if isinstance(a, Tensor) and (a.tag is not None or a._rec is not None):
            return True
    return False


def _record_named_constant(op: Op, t: Tensor, args: tuple, kwargs: dict, state: Any) -> None:
    """Record an op on constants that reads a tagged tensor, with no gradient to send: backward
    never visits it (no input needs one), but :func:`graph_of` sees what the model named (an
    LSTM's step 0 concatenates x_0 and h0, two constants). Off the hot path: such ops are rare."""
    vals, _, inputs = _unwrap(op, args)
    shape = _SHAPES.get(t._value.shape) or _intern_shape(t._value.shape)
    t._rec = rec = [op, (), state.scope, next(COUNTER), shape, shape, None, None, None, kwargs or _NO_KWARGS]
    for e, v in zip(inputs, vals):
        rec += (e, v)
    if state.tapes:
        _record_on_tapes(t, rec, args)


# Output shapes, one tuple each: every record keeps its shape until backward, and one shared
# tuple is one object fewer per op for the garbage collector to count and scan.
_SHAPES: dict[tuple, tuple] = {}


def _interned(shape: tuple) -> tuple:
    got = _SHAPES.get(shape)
    return _intern_shape(shape) if got is None else got


def _intern_shape(shape: tuple) -> tuple:
    if len(_SHAPES) < 10_000:  # a program of ever-new shapes gets plain tuples beyond this
        _SHAPES[shape] = shape
    return shape


_FIRST, _SECOND = (0,), (1,)


_BOTH = (None, _FIRST, _SECOND, (0, 1))  # indexed by (first needs grad) + 2 * (second needs grad)


def _unwrap(op: Op, args: tuple) -> tuple[tuple | None, tuple | None, tuple | None]:
    """Raw values of ``args``, the positions that need a gradient, and the record inputs."""
    vals = None
    parents = []
    for i, a in enumerate(args):
        if isinstance(a, Tensor):
            if vals is None:
                vals = list(args)
                inputs = list(args)
            vals[i] = a._value
            inputs[i] = a._rec or a
            if a.requires_grad and op.wants(i):
                parents.append(i)
    if vals is None:
        return None, None, None
    return tuple(vals), (tuple(parents) or None), tuple(inputs)


def defvjp(prim: Callable, *vjps: Callable | None) -> None:
    """Register a primitive's vector-Jacobian products, one per positional argument.

    Each is ``vjp(g, ans, *args, **kwargs)`` -> the gradient for that argument, with the
    argument's shape. ``None`` marks an argument as not differentiable. Written with
    ``autograd_mini`` functions (not raw numpy), a VJP can itself be differentiated, so
    ``grad(grad(f))`` works through the primitive.
    """
    op = _op_of(prim)
    op.vjps = tuple(vjps)
    op.variadic = False
    op.d0, op.d1 = op.wants(0), op.wants(1)


def defvjp_argnum(prim: Callable, vjp: Callable) -> None:
    """Register one VJP ``vjp(argnum, g, ans, *args, **kwargs)`` for a variadic primitive."""
    op = _op_of(prim)
    op.vjps = _ArgnumVJPs(vjp)
    op.variadic = op.d0 = op.d1 = True


def _op_of(prim: Callable) -> Op:
    op = getattr(prim, "op", None)
    if not isinstance(op, Op):
        raise TypeError(f"defvjp: {prim!r} is not a primitive; decorate it with @autograd_mini.primitive")
    return op


def _check_has_vjp(op: Op, args: tuple) -> None:
    if any(isinstance(a, Tensor) and a.requires_grad for a in args):
        raise NotImplementedError(
            f"{op.name}: applied to a tensor that requires grad, but no VJP is registered; "
            f"call autograd_mini.defvjp({op.name}, ...)"
        )


def saves(prim: Callable, inputs: Sequence[int] | str = (), ans: bool = False) -> None:
    """Declare which values a primitive's VJPs read: the input positions ``inputs`` (or "all")
    and, if ``ans``, the output. Every other array argument (and the output) reaches the VJPs as
    its shape tuple in a plain backward (as a tensor of that shape with create_graph), so the
    forward keeps less memory alive."""
    op = _op_of(prim)
    op.saves = None if inputs == "all" else frozenset(inputs)
    op.saves_ans = bool(ans)
    op.k0 = op.saves is None or 0 in op.saves
    op.k1 = op.saves is None or 1 in op.saves


def _record_on_tapes(t: Tensor, rec: list, args: tuple) -> None:
    tapes = [tape for tape in current().tapes if tape.depth > 0]
    if not tapes:
        return
    keep = any(tape.keep_grads for tape in tapes)
    node = Node(rec[OP].name, args, t, rec[SCOPE], -rec[SEQ], keep)
    rec[NODE] = node
    for tape in tapes:
        tape.nodes.append(node)


def _describe(v: Any) -> str:
    if isinstance(v, Tensor):
        v = v._value
    shape = np.shape(v) if isinstance(v, (np.ndarray, np.generic, float, int)) else None
    return f"shape {shape}" if shape is not None else type(v).__name__


def _op_error(op: Op, vals: Sequence, kwargs: dict, e: Exception) -> Exception:
    args = ", ".join(_describe(v) for v in vals)
    kw = "".join(f", {k}={v!r}" for k, v in kwargs.items())
    msg = f"{op.name}: cannot apply to ({args}{kw}) at {format_scope(current().scope)}: {e}"
    for kind in (ValueError, TypeError, IndexError):  # numpy subclasses take other arguments
        if isinstance(e, kind):
            return kind(msg)
    return ValueError(msg)


def _check_output(op: Op, out: Any, vals: Sequence) -> np.ndarray:
    out = np.asarray(out)
    if out.dtype.kind in "biu":
        return out.astype(np.float64)
    if out.dtype.kind != "f":
        raise TypeError(
            f"{op.name}: result has dtype {out.dtype} from ({', '.join(_describe(v) for v in vals)}) "
            f"at {format_scope(current().scope)}; only real floating values can be differentiated"
        )
    return out


def _raise_anomaly(name: str, verb: str, arr: Any, scope: tuple) -> None:
    arr = np.asarray(arr)
    bad = arr[~np.isfinite(arr)].ravel()[0]
    raise FloatingPointError(f"{name} {verb} a non-finite value ({bad}) at {format_scope(scope)}")


def _is_record(entry: Any) -> bool:
    """Is a record input another record? (A constant argument can be a list too: transpose's
    axes; only a record starts with an Op.) Backward's loop needs no such test: an input that
    gets a gradient is a record or a leaf Tensor, so ``type(p) is list`` says which."""
    return type(entry) is list and len(entry) > ARGS and type(entry[0]) is Op


def _inputs(rec: list) -> list:
    """The record's inputs: records, leaf tensors, constants (a caller's array as a copy)."""
    return rec[ARGS::2]


def _vals(rec: list) -> list:
    """What backward keeps of each input: its value, or its shape where the VJPs need no more."""
    return rec[ARGS + 1::2]


def _free(rec: list) -> None:
    """Let go of the values a record keeps (backward without retain_graph); the rest stays."""
    rec[ANS] = FREED
    for k in range(ARGS + 1, len(rec), 2):
        rec[k] = None


def _is_freed(rec: list) -> bool:
    return rec[ANS] is FREED


def tag(x: Any, name: str, index: int | None = None) -> Any:
    """Give ``x`` the name a model uses for it (``x_3``, ``h0``, the ``keep`` gate); returns ``x``.

    The drawings label the tensor with it and the units view groups units by it; nothing else
    reads it. A numpy array becomes a constant :class:`Tensor` (a copy) carrying the tag.

    >>> import numpy as np, autograd_mini as am
    >>> W = am.Parameter(np.eye(2), name="W")
    >>> x = am.tag(np.ones((1, 2)), "x", 0)
    >>> h = am.tag(am.tanh(x @ W), "h", 0)
    >>> [str(n.tag) for n in am.graph_of(h)], str(x.tag)
    (['None', 'h_0'], 'x_0')
    """
    if not isinstance(name, str):
        raise TypeError(f"tag: name must be a str, got {type(name).__name__}")
    if index is not None and not isinstance(index, (int, np.integer)):
        raise TypeError(f"tag: index must be an int or None, got {type(index).__name__}")
    label = Tag(name, None if index is None else int(index))
    if not isinstance(x, Tensor):
        x = Tensor(x)
    rec = x._rec
    x.tag = label
    if rec is not None:
        rec[TAG] = label
        node = _tape_node(rec)
        if node is not None:
            node.tag = label
    return x


def _tape_node(rec: list) -> Node | None:
    """The record's tape node: its own, or for an output of a custom_vjp op, the node the op
    made for that output (kept on the op's record: see ``custom_vjp.__call__``)."""
    node = rec[NODE]
    if node is None and rec[OP].fun is None:  # an output of a custom_vjp op (only those have no fun)
        nodes = rec[ARGS][KW].get("nodes")
        node = nodes[rec[ARGS + 2]] if nodes else None  # inputs: the op's record, then k
    return node


def graph_of(source: "Tensor | Tape") -> list[GraphNode]:
    """The recorded ops that made ``source`` (a tensor), or every op of a tape, oldest first.

    Works before or after backward: backward frees the values it saved but keeps each op's name,
    inputs, scope, shape and tag (as PyTorch keeps its graph). Only a tape made with
    ``keep_grads=True`` carries per-edge gradients (``input_grads``, ``output_grad``).

    >>> import numpy as np, autograd_mini as am
    >>> W = am.Parameter(np.eye(2), name="W")
    >>> loss = am.tanh(np.ones((1, 2)) @ W).sum()
    >>> loss.backward()
    >>> [(n.op, n.shape) for n in am.graph_of(loss)]
    [('matmul', (1, 2)), ('tanh', (1, 2)), ('sum', ())]
    >>> am.graph_of(loss)[0].inputs[1] is W
    True
    """
    if isinstance(source, Tape):
        return source._graph()
    if not isinstance(source, Tensor):
        raise TypeError(f"graph_of: expected a Tensor or a Tape, got {type(source).__name__}")
    root = source._rec
    if root is None:
        return []
    seen = {id(root): root}
    stack = [root]
    while stack:
        for e in _inputs(stack.pop()):
            if _is_record(e) and id(e) not in seen:
                seen[id(e)] = e
                stack.append(e)
    made: dict[int, GraphNode] = {}
    out = []
    for rec in sorted(seen.values(), key=_seq, reverse=True):  # seqs count down: oldest first
        inputs = tuple(made[id(e)] if _is_record(e) else e for e in _inputs(rec))
        ans = rec[ANS]
        value = source.value if rec is root else (ans if type(ans) is _ndarray else None)
        node = made[id(rec)] = GraphNode(-rec[SEQ], rec[OP].name, inputs, rec[SCOPE], rec[SHAPE], rec[TAG], value)
        out.append(node)
    return out


def _seq(rec: list) -> int:
    return rec[SEQ]


_FREED = ("Trying to backward through the graph a second time: the values saved by {op} at {where} "
          "were freed by an earlier backward. Pass retain_graph=True to the first backward, or, to "
          "carry a hidden state across batches (truncated BPTT), use h.detach().")


def _freed_error(rec: list) -> RuntimeError:
    return RuntimeError(_FREED.format(op=rec[OP].name, where=format_scope(rec[SCOPE])))


def _key(t: Tensor) -> int:
    """A tensor's identity in the graph: its record, or itself for a leaf."""
    return id(t._rec) if t._rec is not None else id(t)


def _leading_to(root: list, wanted: set[int]) -> set[int]:
    """Ids of the records with a wanted tensor upstream of them: the only nodes worth visiting
    when just those gradients are asked for. (A wanted record is visited too if another wanted
    tensor lies upstream of it: ``gradients(y, [h, x])`` with h computed from x.)"""
    seen = {id(root)}
    stack = [root]
    found = []
    while stack:
        rec = stack.pop()
        if type(rec) is not list:  # a leaf (a freed record is walked on: visiting it raises the error)
            continue
        found.append((rec[SEQ], rec))
        for i in rec[PARENTS]:
            p = rec[ARGS + 2 * i]
            if id(p) not in seen:
                seen.add(id(p))
                stack.append(p)
    found.sort(key=_first, reverse=True)
    leads: set[int] = set()
    for _, rec in found:  # oldest first: a node leads to a wanted tensor if one of its inputs is or does
        if any(id(rec[ARGS + 2 * i]) in wanted or id(rec[ARGS + 2 * i]) in leads for i in rec[PARENTS]):
            leads.add(id(rec))
    return leads


def _first(pair: tuple) -> int:
    return pair[0]


def _graph_args(rec: list) -> tuple[Tensor, tuple]:
    """The node's output and arguments as tensors on the graph, for a VJP that is recorded."""
    inputs, vals = _inputs(rec), _vals(rec)
    args = []
    for i, e in enumerate(inputs):
        if _is_record(e):
            v = vals[i]
            v = v if type(v) is np.ndarray else _zeros_view(e[SHAPE])
            # A record with no parents is an op on named constants (kept for graph_of): a constant here.
            args.append(_new(v, True, e) if e[PARENTS] else _new(v, False))
        elif isinstance(e, Tensor):
            # A second-order VJP must see the leaf itself (to differentiate through it), so it
            # must still hold the array this op read.
            if type(vals[i]) is np.ndarray and e.value is not vals[i]:
                raise RuntimeError(
                    f"{rec[OP].name} at {format_scope(rec[SCOPE])}: an input tensor{_named(e)} was given a new "
                    "value after this op was recorded, so its gradient cannot be differentiated again "
                    "(create_graph); recompute the forward with the new value")
            args.append(e)
        else:
            args.append(vals[i])  # a constant as the record kept it (a copy, or its shape)
    ans = rec[ANS]
    return _new(ans if type(ans) is np.ndarray else _zeros_view(rec[SHAPE]), True, rec), tuple(args)


def _named(t: Tensor) -> str:
    return "" if t.name is None else f" ({t.name!r})"


def _zeros_view(shape: tuple) -> np.ndarray:
    # Stands in for a value the forward did not keep: its VJPs read only the shape.
    return np.broadcast_to(np.float64(0.0), shape)


def run_backward(output: Tensor, seed: Any, wrt: Sequence[Tensor] | None,
                 create_graph: bool, retain_graph: bool) -> dict[int, tuple[Tensor, Any, bool]]:
    """Propagate ``seed`` from ``output`` back through the recorded graph, one pass at a time.

    Returns ``{key: (tensor, gradient, owned)}`` for the tensors in ``wrt`` that were reached, or
    for every leaf and retained tensor when ``wrt`` is None (keys as :func:`_key` makes them);
    ``owned`` says the gradient is an array this pass made and nothing else refers to. With
    ``create_graph`` the VJPs run on tensors and are recorded, so the result can be
    differentiated again.
    """
    root = output._rec
    if _is_freed(root):
        raise _freed_error(root)
    wanted = None if wrt is None else {_key(t): t for t in wrt}
    needed = None if wanted is None else _leading_to(root, set(wanted))
    if wanted is not None and id(root) in wanted and id(root) not in needed:
        return {id(root): (wanted[id(root)], seed, False)}
    with BACKWARD_LOCK, _grad_mode(create_graph):
        return _Pass(root, seed, wanted, needed, create_graph, retain_graph).run()


class _Pass:
    """One backward pass: the gradients it is summing, and the walk that sums them.

    ``grads`` is the accumulator: the gradient so far of every record and leaf tensor the pass
    has reached, by id (all are alive while it runs), and the only place a gradient lives until
    the pass returns it. ``owned`` holds the ids whose gradient is a buffer the pass made itself
    and nothing else refers to, so it may be added into in place; ``leaves`` is where gradients
    stop (leaf tensors, and with ``wrt`` the wanted records with nothing wanted upstream).

    The walk keeps the records that have a gradient in a heap keyed by recording order and
    always takes the newest, so every record is visited once, after all the ops that used it.
    :meth:`run` is the hot loop and does a plain visit itself; the rare modes (``wrt``,
    ``create_graph``, ``detect_anomaly``, a Tape keeping every edge's gradient, ``retain_grad``, a
    freed record) go one record at a time through :meth:`visit`, which does everything.
    """

    __slots__ = ("grads", "owned", "leaves", "heap", "result", "wanted", "needed", "create_graph",
                 "anomaly", "retain_graph")

    def __init__(self, root: list, seed: Any, wanted: dict | None, needed: set | None,
                 create_graph: bool, retain_graph: bool) -> None:
        self.grads: dict[int, Any] = {id(root): seed}
        self.owned: set[int] = set()
        self.leaves: dict[int, Any] = {}
        self.heap = [(root[SEQ], root)]  # seqs are unique and count down: the newest pops first
        self.result: dict[int, tuple[Tensor, Any, bool]] = {}
        self.wanted, self.needed = wanted, needed
        self.create_graph, self.retain_graph = create_graph, retain_graph
        self.anomaly = current().anomaly

    def run(self) -> dict[int, tuple[Tensor, Any, bool]]:
        grads, owned, leaves, heap = self.grads, self.owned, self.leaves, self.heap
        get, take = grads.get, grads.pop
        rare = self.create_graph or self.anomaly
        # With wrt, only the inputs that lead to a wanted tensor get work (``needed``): one test per
        # edge here, as the walk through visit() made am.gradients ~20% slower (review, perf2.py).
        wanted, needed = self.wanted, self.needed
        free = not self.retain_graph
        # Locals for the layout's positions and the sentinel: read ~10 times a visit.
        ONE, TWO, V0, V1, freed = ARGS + 2, ARGS + 4, ARGS + 1, ARGS + 3, FREED
        while heap:
            rec = heappop(heap)[1]
            g = take(id(rec))
            op, parents, where, _, _, ans, node, owner, _, kw = rec[:ARGS]
            if type(g) is _Pending:  # every use of this tensor is visited: sum what was collected
                g = self.settle(g, id(rec))
            if (rare or ans is freed or owner is not None or (node is not None and node.keep_grads)
                    or (wanted is not None and id(rec) in wanted)):
                self.visit(rec, g)
                continue
            n = len(rec)
            if n == TWO:
                a0, a1 = rec[V0], rec[V1]
            elif n == ONE:
                a0 = rec[V0]
            if kw or (n != TWO and n != ONE):
                args = rec[V0::2]
            vjps = op.vjps
            summed = -1 if op.sum_vjp is None or kw else op.sum_vjp[0]
            for i in parents:
                p = rec[ARGS + 2 * i]
                k = id(p)
                if needed is not None and k not in needed and k not in wanted:
                    continue  # leads to no wanted tensor: no work, no gradient left behind
                if i == summed:  # computed with the op's other uses of p, when p's turn comes
                    call = (g, ans, (a0, a1) if n == TWO else tuple(args))
                    old = get(k)
                    if type(old) is _Pending:  # (self.collect's common case, inlined: -1.3% on lstm_small)
                        old.add_call(op, call)
                    else:
                        self.collect(p, k, op, call)
                    continue
                try:
                    if kw:
                        c = vjps[i](g, ans, *args, **kw)
                    elif n == TWO:
                        c = vjps[i](g, ans, a0, a1)
                    else:
                        c = vjps[i](g, ans, a0) if n == ONE else vjps[i](g, ans, *args)
                except Exception as e:
                    raise _in_backward(e, op, i, where)
                old = get(k)  # self.add, inlined: once per edge
                if old is None:
                    grads[k] = c
                    if type(p) is list and (needed is None or k in needed):
                        heappush(heap, (p[SEQ], p))
                    else:  # a leaf tensor, or a wanted record with nothing wanted upstream
                        leaves[k] = p
                elif k in owned:
                    old += c
                elif type(old) is _Pending:
                    old.add(c)
                else:
                    grads[k] = old = old + c
                    if type(old) is _ndarray:  # (a sum of 0-d arrays is a numpy scalar: not ours)
                        owned.add(k)
            if free:  # the saved values go; the structure stays for am.graph_of (_free, inlined)
                rec[ANS] = FREED
                if n == TWO:
                    rec[V0] = rec[V1] = None
                elif n == ONE:
                    rec[V0] = None
                else:
                    _free(rec)
        return self.results()

    def visit(self, rec: list, g: Any) -> None:
        """Send ``g``, the gradient at the record's output, to its inputs, in any mode."""
        op, parents, where, _, _, ans, node, owner, _, kw = rec[:ARGS]
        if ans is FREED:
            raise _freed_error(rec)
        k, wanted = id(rec), self.wanted
        if wanted is not None and k in wanted:  # wanted, and more wanted upstream
            self.result[k] = (wanted[k], g, k in self.owned)
        if owner is not None:  # retain_grad: a weak reference to the tensor
            kept = owner()
            if kept is not None:
                self.result[k] = (kept, g, False)
        keep = node is not None and node.keep_grads
        if keep:
            node.output_grad = g
        if self.create_graph:
            ans, args = _graph_args(rec)
        else:
            args = tuple(_vals(rec))
        needed = self.needed
        one_by_one = kw or keep or self.create_graph or self.anomaly  # every edge's own gradient
        summed = -1 if op.sum_vjp is None or one_by_one else op.sum_vjp[0]
        for i in parents:
            p = rec[ARGS + 2 * i]
            if needed is not None and id(p) not in needed and id(p) not in wanted:
                continue  # leads to no wanted tensor: no work, no gradient left behind
            if i == summed:
                self.collect(p, id(p), op, (g, ans, args))
                continue
            try:
                c = op.vjps[i](g, ans, *args, **kw)
            except Exception as e:
                raise _in_backward(e, op, i, where)
            if self.anomaly:
                _check_gradient(op, c, where)
            if keep:
                node.input_grads[i] = c
            self.add(p, c, op, where)
        if not self.retain_graph:
            _free(rec)

    def add(self, p: Any, c: Any, op: Op, where: tuple) -> None:
        """Add ``c`` to the gradient of ``p`` (a record or a leaf tensor)."""
        k = id(p)
        old = self.grads.get(k)
        if old is None:
            self.grads[k] = c
            self.reach(p, k)
            return
        if type(old) is _Pending:
            old.add(c)
            return
        if k in self.owned:
            old += c  # a buffer this pass made: accumulate in place
        else:
            old = self.grads[k] = old + c
            if not self.create_graph and type(old) is _ndarray:
                self.owned.add(k)
        if self.anomaly:  # finite gradients can still add up to inf
            _check_gradient(op, old, where)

    def collect(self, p: Any, k: int, op: Op, call: tuple) -> None:
        """Keep a VJP call ``(g, ans, args)`` to be summed with p's other uses (``Op.sum_vjp``)."""
        old = self.grads.get(k)
        if type(old) is _Pending:
            old.add_call(op, call)
            return
        pending = self.grads[k] = _Pending(op, call, p[SHAPE] if type(p) is list else p.shape)
        if old is None:
            self.reach(p, k)
        else:  # the sum of the other contributions so far; whether it is ours goes with it
            pending.base, pending.owned = old, k in self.owned
            self.owned.discard(k)

    def reach(self, p: Any, k: int) -> None:
        """``p`` got its first gradient: visit it in its turn, or keep it where gradients stop."""
        if type(p) is list and (self.needed is None or k in self.needed):
            heappush(self.heap, (p[SEQ], p))
        else:  # a leaf tensor, or a wanted record with nothing wanted upstream
            self.leaves[k] = p

    def settle(self, pending: "_Pending", k: int) -> Any:
        """The summed gradient of a pending collection; ``owned`` learns whether it is ours."""
        pending.flush()
        if pending.owned:
            self.owned.add(k)
        return pending.base

    def results(self) -> dict[int, tuple[Tensor, Any, bool]]:
        wanted, result = self.wanted, self.result
        for k, p in self.leaves.items():
            g = self.grads[k]
            if type(g) is _Pending:
                g = self.settle(g, k)
            if wanted is None:
                result[k] = (p, g, k in self.owned)
            elif k in wanted:
                result[k] = (wanted[k], g, k in self.owned)
        return result


def _in_backward(e: Exception, op: Op, i: int, where: tuple) -> Exception:
    e.add_note(f"in the backward pass of {op.name} (argument {i}) at {format_scope(where)}")
    return e


class _Pending(list):
    """A gradient still being collected: VJP calls ``(g, ans, args)`` of one op whose VJPs for
    this argument are cheaper summed together (see ``Op.sum_vjp``), and ``base``, the sum of the
    other contributions (``owned``: an array this pass made). The calls are summed whenever the
    gradients they hold pass four times the size of the result (1 MB at least): a few dozen
    steps of an RNN per matmul, and a bound on the memory backward holds beyond one-by-one VJPs."""

    __slots__ = ("op", "base", "owned", "held", "budget")
    ROOM, MIN_BUDGET = 4, 1 << 20  # what may be held: ROOM results' worth, and at least MIN_BUDGET

    def __init__(self, op: Op, call: tuple, shape: tuple) -> None:
        super().__init__((call,))
        self.op, self.base, self.owned = op, None, False
        g = call[0]
        self.held = g.nbytes if type(g) is np.ndarray else 8
        self.budget = max(self.ROOM * prod(shape) * getattr(g, "itemsize", 8), self.MIN_BUDGET)

    def add_call(self, op: Op, call: tuple) -> None:
        if op is not self.op or self.held >= self.budget:
            self.flush()
            self.op = op
        self.append(call)
        g = call[0]
        self.held += g.nbytes if type(g) is np.ndarray else 8

    def add(self, c: Any) -> None:
        """Another contribution, from an op that is not collected."""
        if self.base is None:
            self.base, self.owned = c, False
        elif self.owned:
            self.base += c
        else:
            # Ours only if it is an array: the sum of 0-d gradients is a numpy scalar, which
            # cannot be added into (a getitem buffer of a 0-d tensor lost its gradient so).
            s = self.base + c
            self.base, self.owned = s, type(s) is np.ndarray

    def flush(self) -> None:
        if not self:
            return
        total = self.op.sum_vjp[1]
        try:
            if self.base is None or self.owned:
                self.base = total(self, self.base)
            else:  # never add into an array that is not ours
                summed = total(self, None)
                summed += self.base
                self.base = summed
        except Exception as e:
            e.add_note(f"in the backward pass of {self.op.name} (argument {self.op.sum_vjp[0]}), "
                       f"summing the gradients of {len(self)} uses")
            raise
        self.owned = type(self.base) is np.ndarray
        self.held = 0
        self.clear()


def _check_gradient(op: Op, grad: Any, where: tuple) -> None:
    """detect_anomaly: raise at the first non-finite gradient an op sends its input."""
    if not np.isfinite(_value(grad)).all():
        _raise_anomaly(op.name, "sent its input a gradient with", _value(grad), where)


def _value(x: Any) -> Any:
    return x.value if isinstance(x, Tensor) else x


# --- several outputs, and residuals: custom_vjp ------------------------------------------

class _Cotangents:
    """The gradients reaching the outputs of one custom_vjp call, by output position; summed
    per output as the walk adds the outputs' contributions (``+``). ``grads``: the input
    gradients once ``bwd`` has run (it runs once per visit, for all inputs)."""

    __slots__ = ("parts", "grads")

    def __init__(self, parts: dict) -> None:
        self.parts, self.grads = parts, None

    def __add__(self, other: "_Cotangents") -> "_Cotangents":
        parts = dict(self.parts)
        for k, g in other.parts.items():
            parts[k] = g if k not in parts else parts[k] + g
        return _Cotangents(parts)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:  # for detect_anomaly
        return np.concatenate([np.ravel(_value(g)) for g in self.parts.values()])


def _pick_vjp(g: Any, ans: Any, call: Any, k: int) -> _Cotangents:
    return _Cotangents({k: g})


class custom_vjp:
    """A primitive with several outputs whose gradient rule you write once for all of them,
    with residuals: what the forward saves for it (JAX's ``custom_vjp``, PyTorch's
    ``autograd.Function``). A fused op, an LSTM cell, needs no packed output and no zero-filled
    gradient buffer.

    ``fwd(*inputs)`` returns ``(outputs, residuals)``: a tuple of arrays (or one array) and
    anything ``bwd`` needs. ``bwd(residuals, cotangents)`` gets the gradient at each output
    (``None`` where none reached it) and returns one gradient per input (``None`` for none).
    Write both with ``autograd_mini`` functions, as a VJP is written: then a second derivative
    runs ``fwd`` again on the graph to get residuals it can differentiate.

    >>> import numpy as np, autograd_mini as am
    >>> @am.custom_vjp
    ... def sincos(x):
    ...     return np.sin(x), np.cos(x)
    >>> def fwd(x):
    ...     s, c = sincos.fun(x)
    ...     return (s, c), (s, c)
    >>> def bwd(res, cot):
    ...     s, c = res
    ...     gs, gc = cot
    ...     return ((0.0 if gs is None else gs * c) - (0.0 if gc is None else gc * s),)
    >>> sincos.defvjp(fwd, bwd)
    >>> x = am.Tensor([0.0, 1.0], requires_grad=True)
    >>> s, c = sincos(x)
    >>> (s + 2 * c).sum().backward()
    >>> np.allclose(x.grad, np.cos([0.0, 1.0]) - 2 * np.sin([0.0, 1.0]))
    True
    """

    def __init__(self, fun: Callable, name: str | None = None) -> None:
        self.fun = fun
        self.fwd: Callable | None = None
        self.bwd: Callable | None = None
        self.op = Op(name or fun.__name__, fun)
        self.op.vjps = _ArgnumVJPs(self._vjp)
        self.op.variadic = self.op.d0 = self.op.d1 = True
        self._picks: list[Op] = []
        functools.update_wrapper(self, fun)

    def defvjp(self, fwd: Callable, bwd: Callable) -> None:
        """Register the forward that also returns residuals, and the backward that uses them."""
        self.fwd, self.bwd = fwd, bwd

    def _pick(self, k: int) -> Op:
        while len(self._picks) <= k:  # one Op per output, named for the drawings: "lstm_cell[1]"
            pick = Op(f"{self.op.name}[{len(self._picks)}]", None)
            pick.vjps, pick.d0 = (_pick_vjp, None), True
            self._picks.append(pick)
        return self._picks[k]

    def __call__(self, *args: Any) -> Any:
        op = self.op
        vals, parents, inputs = _unwrap(op, args)
        state = current()
        if vals is None or parents is None or not state.grad_enabled:  # nothing to differentiate
            outs = self.fun(*(args if vals is None else vals))
            if vals is None:
                return outs
            if type(outs) is not tuple:
                return _new(_check_output(op, outs, vals), False)
            return tuple(_new(_check_output(op, o, vals), False) for o in outs)
        if self.fwd is None:
            raise NotImplementedError(f"{op.name}: applied to a tensor that requires grad, but no VJP is registered; "
                                      f"call {op.name}.defvjp(fwd, bwd)")
        for a in args:
            if isinstance(a, Tensor) and a._rec is None and not a._frozen:
                _freeze(a)
        try:
            outs, residuals = self.fwd(*vals)
        except (ValueError, TypeError, IndexError) as e:
            raise _op_error(op, vals, {}, e) from e
        single = type(outs) is not tuple
        outs = (outs,) if single else outs
        vals, inputs = _guard(vals, inputs, None)
        # The node keeps the residuals where a record keeps its output, and how many outputs
        # there are as the keyword its VJP gets; each output is a record that reads the node.
        kw = {"outputs": len(outs)}
        node = [op, parents, state.scope, next(COUNTER), (), residuals, None, None, None, kw]
        for e, v in zip(inputs, vals):
            node += (e, v)
        results = []
        for k, o in enumerate(outs):
            o = _check_output(op, o, vals)
            t = _Tensor_new(Tensor)
            t._value, t.requires_grad = o, True
            shape = _interned(o.shape)
            t._rec = [self._pick(k), _FIRST, state.scope, next(COUNTER), shape, shape, None, None, None,
                      _NO_KWARGS, node, None, k, k]
            results.append(t)
        tapes = [tape for tape in state.tapes if tape.depth > 0]
        if tapes:  # one tape node per output ("lstm_cell[1]"), each read from all the inputs
            keep = any(tape.keep_grads for tape in tapes)
            kw["nodes"] = tuple(Node(t._rec[OP].name, args, t, state.scope, -t._rec[SEQ], keep) for t in results)
            for tape in tapes:
                tape.nodes.extend(kw["nodes"])
        return results[0] if single else tuple(results)

    def _vjp(self, i: int, g: Any, ans: Any, *args: Any, outputs: int, nodes: tuple = ()) -> Any:
        if g.grads is None:
            cot = tuple(g.parts.get(k) for k in range(outputs))
            residuals = self.fwd(*args)[1] if current().grad_enabled else ans  # create_graph: on the graph
            g.grads = self._input_grads(residuals, cot, len(args))
            if nodes and nodes[0].keep_grads:
                self._keep_edges(nodes, residuals, cot, g.grads)
        gi = g.grads[i]
        shape = _shape(args[i])
        if gi is None:
            return np.zeros(shape)
        if _shape(gi) != shape:
            raise ValueError(f"{self.op.name}: bwd's gradient for input {i} has shape {_shape(gi)}, the input {shape}")
        return gi

    def _input_grads(self, residuals: Any, cot: tuple, n: int) -> tuple:
        grads = self.bwd(residuals, cot)
        grads = tuple(grads) if isinstance(grads, (tuple, list)) else (grads,)
        if len(grads) != n:
            raise ValueError(f"{self.op.name}: bwd returned {len(grads)} gradients for {n} inputs")
        return grads

    def _keep_edges(self, nodes: tuple, residuals: Any, cot: tuple, grads: tuple) -> None:
        """Tape(keep_grads=True): each output's node gets the gradient at that output and what
        it alone sends each input: ``bwd`` with zeros at the other outputs that got a gradient
        (bwd is linear in the cotangents, so the shares add up to ``grads``, what the inputs
        receive; zeros, not None, as a bwd written for the outputs it was given may not expect
        None there). With one output reached, its share is ``grads`` itself."""
        reached = [k for k, c in enumerate(cot) if c is not None]
        for k in reached:
            node = nodes[k]
            node.output_grad = cot[k]
            if len(reached) == 1:
                share = grads
            else:
                alone = tuple(None if c is None else c if j == k else np.zeros(_shape(c), _value(c).dtype)
                              for j, c in enumerate(cot))
                share = self._input_grads(residuals, alone, len(grads))
            node.input_grads = [None if s is None or not (isinstance(a, Tensor) and a.requires_grad) else s
                                for s, a in zip(share, node.inputs)]


def _shape(x: Any) -> tuple[int, ...]:
    """The shape of an array, tensor or number; a tuple is already a shape (a value the forward
    did not keep reaches a VJP as its shape, see ``saves``)."""
    if type(x) is tuple:
        return x
    try:
        return x.shape
    except AttributeError:  # python numbers and lists
        return np.shape(x)


# --- the Tensor methods that read a record --------------------------------------------------

def _op_name(self: Tensor) -> str | None:
    """Name of the op that made this tensor (None for a leaf)."""
    return None if self._rec is None else self._rec[OP].name


def retain_grad(self: Tensor) -> Tensor:
    """Keep this non-leaf tensor's gradient in ``.grad`` after backward (e.g. hidden states)."""
    if self._rec is not None:
        self._rec[OWNER] = weakref.ref(self)
    return self


Tensor.op = property(_op_name)
Tensor.retain_grad = retain_grad
