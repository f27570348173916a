"""The backward walk, and the functional face built on it (``grad``, ``value_and_grad``).

The walk keeps the recorded tensors that have received a gradient in a heap keyed by recording
order and always takes the newest: every tensor is visited once, after all the ops that used
it, with no recursion, so a 100,000-op unroll is fine. Each visit sends one vector-Jacobian
product to each input that needs a gradient; a tensor used in many places (a weight shared by
every time step) receives the sum. Where a sum is cheaper taken at once (``Op.sum_vjp``: a
weight's uses as a matmul's right operand, one matmul for many steps instead of a matmul and an
add per step; a tensor's slices, one buffer), the calls are collected and summed when the
tensor's turn comes. Keeping each edge's gradient (``Tape(keep_grads=True)``), ``create_graph`` and
``detect_anomaly`` need every edge's own gradient, so they take the VJPs one by one.
"""
from __future__ import annotations

from heapq import heappop, heappush
from math import prod
from typing import Any, Callable, Sequence

import numpy as np

from .recording import BACKWARD_LOCK, _changed, _grad_mode, current, format_scope, paused_gc
from .tensor import (ANS, ARGS, GRAD, KW, NODE, OP, OWNER, PARENTS, SCOPE, SEQ, SHAPE, Op, Tensor, _free,
                     _inputs, _is_freed, _is_record, _new, _raise_anomaly, _vals, defvjp, primitive, saves)

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
                 create_graph: bool, retain_graph: bool) -> dict[int, tuple[Tensor, Any]]:
    """See :func:`_walk`; one pass at a time, recording only with ``create_graph``."""
    with BACKWARD_LOCK, _grad_mode(create_graph):
        return _walk(output, seed, wrt, create_graph, retain_graph)


def _walk(output: Tensor, seed: Any, wrt: Sequence[Tensor] | None,
          create_graph: bool, retain_graph: bool) -> dict[int, tuple[Tensor, Any]]:
    """Propagate ``seed`` from ``output`` back through the recorded graph.

    Returns ``{key: (tensor, gradient, owned)}`` for the tensors in ``wrt`` that were reached, or
    for every leaf and retained tensor when ``wrt`` is None (keys as :func:`_key` makes them);
    ``owned`` says the gradient is an array this pass made and nothing else refers to. With
    ``create_graph`` the VJPs run on tensors and are recorded, so the result can be
    differentiated again.
    """
    root = output._rec
    wanted = None if wrt is None else {_key(t): t for t in wrt}
    needed = None if wanted is None else _leading_to(root, set(wanted))
    if _is_freed(root):
        raise _freed_error(root)
    if wanted is not None and id(root) in wanted and id(root) not in needed:
        return {id(root): (wanted[id(root)], seed, False)}
    anomaly = current().anomaly
    special = wanted is not None or create_graph or anomaly  # else: skip their checks per node
    # A record's gradient accumulates in its GRAD slot (cleared when the record is visited, or in
    # `finally` for those never visited); a leaf's in
    # `leaf_grads`. `owned`: the records and leaves (by id; all alive during the pass) whose
    # gradient buffer this pass allocated itself, so it is safe to add into in place.
    leaf_grads: dict[int, Any] = {}
    leaves: dict[int, Any] = {}  # where gradients stop: leaf tensors, or records of wanted tensors
    owned: set[int] = set()
    touched: list[list] = []
    result: dict[int, tuple[Tensor, Any, bool]] = {}
    root[GRAD] = seed
    heap = [(root[SEQ], root)]  # seqs are unique and count down: the newest record pops first
    try:
        while heap:
            rec = heappop(heap)[1]
            ans = rec[ANS]
            if ans is None:
                raise _freed_error(rec)
            g = rec[GRAD]
            rec[GRAD] = None
            op, parents, where, node, owner, kw = rec[OP], rec[PARENTS], rec[SCOPE], rec[NODE], rec[OWNER], rec[KW]
            n = len(rec)  # ARGS + 2 per input
            args = (rec[12],) if n == 13 else (rec[12], rec[14]) if n == 15 else tuple(rec[ARGS + 1::2])
            if type(g) is _Pending:  # every use of this tensor is visited: sum what was collected
                g = _settle(g, id(rec), owned)
            keep = False
            if special or node is not None or owner is not None:  # the rare cases, checked at once
                if wanted is not None and id(rec) in wanted:  # wanted, and more wanted upstream
                    result[id(rec)] = (wanted[id(rec)], g, id(rec) in owned)
                if owner is not None:  # retain_grad: a weak reference to the tensor
                    kept = owner()
                    if kept is not None:
                        result[id(rec)] = (kept, g, False)
                keep = node is not None and node.keep_grads
                if keep:
                    node.output_grad = g
                if create_graph:
                    ans, args = _graph_args(rec)
                if needed is not None:  # inputs that lead to no wanted tensor: no work, no gradient left behind
                    parents = [i for i in parents if id(rec[ARGS + 2 * i]) in needed or id(rec[ARGS + 2 * i]) in wanted]
            vjps = op.vjps
            summed = -1  # the argument whose VJP calls are collected and summed at once, if any
            if op.sum_vjp is not None and not (kw or keep or create_graph or anomaly):
                summed = op.sum_vjp[0]
            for i in parents:
                p = rec[ARGS + 2 * i]
                is_rec = type(p) is list
                old = p[GRAD] if is_rec else leaf_grads.get(id(p))
                if i == summed:  # computed with the op's other uses of p, when p's turn comes
                    if type(old) is _Pending:
                        old.add_call(op, (g, ans, args))
                        continue
                    c = _Pending(op, (g, ans, args), p[SHAPE] if is_rec else p.shape)
                    if old is not None:
                        c.base, c.owned = old, id(p) in owned
                        if is_rec:
                            p[GRAD] = c
                        else:
                            leaf_grads[id(p)] = c
                        continue
                else:
                    try:
                        c = vjps[i](g, ans, *args, **kw) if kw else vjps[i](g, ans, *args)
                    except Exception as e:
                        e.add_note(f"in the backward pass of {op.name} (argument {i}) at {format_scope(where)}")
                        raise
                    if anomaly or keep:
                        if anomaly:
                            _check_gradient(op, c, where)
                        if keep:
                            node.input_grads[i] = c
                if old is None:
                    if not is_rec:
                        leaf_grads[id(p)] = c
                        leaves[id(p)] = p
                        continue
                    p[GRAD] = c
                    if needed is None or id(p) in needed:  # None: no wrt, every record is needed
                        heappush(heap, (p[SEQ], p))
                    else:  # wanted, and nothing wanted upstream: never popped
                        touched.append(p)  # cleared in `finally`
                        leaves[id(p)] = p
                elif type(old) is _Pending:
                    old.add(c)
                elif id(p) in owned:
                    old += c  # a buffer this pass made: accumulate in place
                    if anomaly:  # finite gradients can still add up to inf
                        _check_gradient(op, old, where)
                else:
                    old = old + c
                    if anomaly:
                        _check_gradient(op, old, where)
                    if is_rec:
                        p[GRAD] = old
                    else:
                        leaf_grads[id(p)] = old
                    if not create_graph and type(old) is np.ndarray:
                        owned.add(id(p))
            if not retain_graph:  # the saved values go; the structure stays for am.graph_of
                rec[ANS] = None  # as tensor._free does, inlined: once per visit
                if n == 15:
                    rec[12] = rec[14] = None
                elif n == 13:
                    rec[12] = None
                else:
                    _free(rec)
        for k, p in leaves.items():
            g = p[GRAD] if type(p) is list else leaf_grads[k]
            if type(g) is _Pending:
                g = _settle(g, k, owned)
            if wanted is None:
                result[k] = (p, g, k in owned)
            elif k in wanted:
                result[k] = (wanted[k], g, k in owned)
    finally:
        for rec in touched:
            rec[GRAD] = None
        for _, rec in heap:  # left over after an error
            rec[GRAD] = None
    return result


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


def _settle(pending: _Pending, key: int, owned: set[int]) -> Any:
    """The summed gradient of a pending collection; records in ``owned`` whether it is ours."""
    pending.flush()
    if pending.owned:
        owned.add(key)
    else:
        owned.discard(key)
    return pending.base


def _check_gradient(op: Op, grad: Any, where: tuple) -> None:
    """detect_anomaly: raise at the first non-finite gradient an op sends its input."""
    if not np.isfinite(_value(grad)).all():
        _raise_anomaly(op.name, "sent its input a gradient with", _value(grad), where)


def _value(x: Any) -> Any:
    return x.value if isinstance(x, Tensor) else x


def _seed(output: Tensor, gradient: Any, who: str) -> np.ndarray:
    if gradient is None:
        if output.size != 1:
            raise ValueError(
                f"{who}: the output has shape {output.shape}, not a scalar; pass the seed gradient "
                f"explicitly (an array of shape {output.shape})"
            )
        return np.ones_like(output.value)
    seed = np.asarray(_value(gradient), dtype=output.dtype)
    if seed.shape != output.shape:
        raise ValueError(f"{who}: seed gradient has shape {seed.shape}, the output has shape {output.shape}")
    return seed


def backward(output: Tensor, gradient: Any = None, retain_graph: bool = False) -> None:
    """Accumulate gradients of ``output`` into ``.grad`` of every leaf that requires grad.

    >>> import autograd_mini as am
    >>> w = am.Parameter([3.0], name="w")
    >>> (w * w).sum().backward()
    >>> w.grad
    array([6.])
    """
    if not isinstance(output, Tensor):
        raise TypeError(f"backward: expected a Tensor, got {type(output).__name__}")
    if not output.requires_grad:
        raise RuntimeError(
            "backward: this tensor does not require grad, so nothing was recorded for it (was it "
            "computed inside no_grad(), or from inputs none of which requires grad?)"
        )
    seed = _seed(output, gradient, "backward")
    with BACKWARD_LOCK:  # another thread's backward never adds into a .grad between our read and write
        if output._rec is None:  # a leaf: d(output)/d(output)
            found = {_key(output): (output, seed, False)}
        else:
            found = run_backward(output, seed, None, create_graph=False, retain_graph=retain_graph)
        for t, g, owned in found.values():
            if not owned or g.dtype != t.dtype or type(g) is not np.ndarray:
                g = np.array(g, dtype=t.dtype)  # own, writable, contiguous, the leaf's dtype
            if t.grad is not None:
                g = t.grad + g
                if type(g) is not np.ndarray:  # the sum of 0-d arrays is a numpy scalar
                    g = np.asarray(g)
            t.grad = g


@primitive(name="identity")
def _identity(x: np.ndarray) -> np.ndarray:
    return x


defvjp(_identity, lambda g, ans, x: g)
saves(_identity)


@primitive(name="astype")
def _cast(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``x`` as ``dtype``, differentiably: a float32 input's gradient with create_graph."""
    return x.astype(dtype)


defvjp(_cast, lambda g, ans, x, dtype: _cast(g, x.dtype), None)


def _as_dtype(g: Any, like: Tensor, create_graph: bool) -> Any:
    """A gradient in ``like``'s dtype (a computation that upcast a float32 input gives float64):
    numpy arrays copied (results never share memory), recorded tensors cast on the graph."""
    if create_graph and isinstance(g, Tensor):
        return g if g.dtype == like.dtype else _cast(g, like.dtype)
    return np.array(_value(g), dtype=like.dtype)


def gradients(output: Tensor, inputs: Sequence[Tensor], seed: Any = None,
              create_graph: bool = False, retain_graph: bool | None = None) -> list[Any]:
    """d(output)/d(inputs) seeded with ``seed``, without touching any ``.grad``.

    Like ``torch.autograd.grad``: returns one gradient per input (zeros where no path leads),
    each in its input's dtype. With ``create_graph=True`` the gradients are recorded Tensors that
    can be differentiated again (with respect to ``seed`` too, if it is a Tensor on the graph);
    otherwise numpy arrays.

    >>> import autograd_mini as am
    >>> x = am.Tensor([1.0, 2.0], requires_grad=True)
    >>> am.gradients((x ** 3).sum(), [x])
    [array([ 3., 12.])]
    """
    if retain_graph is None:
        retain_graph = create_graph
    if create_graph and isinstance(seed, Tensor):
        # A seed on the graph stays on it: the result is differentiable in the seed as well
        # (gradgradcheck checks a VJP's derivative with respect to its cotangent so).
        if seed.shape != output.shape:
            raise ValueError(f"gradients: seed gradient has shape {seed.shape}, the output has shape {output.shape}")
        if seed.dtype != output.dtype:
            seed = _cast(seed, output.dtype)
    else:
        seed = _seed(output, seed, "gradients")
        if create_graph:
            seed = Tensor(seed)
    found = {}
    if isinstance(output, Tensor) and output.requires_grad:
        if output._rec is None:
            found = {_key(output): (output, seed, False)}
        else:
            found = run_backward(output, seed, inputs, create_graph, retain_graph)
    out = []
    for x in inputs:
        g = found.get(_key(x))
        if g is None:
            g = np.zeros_like(x.value)
            out.append(Tensor(g) if create_graph else g)
        else:  # in x's dtype, as .grad is; a copy: results never share memory
            out.append(_as_dtype(g[1], x, create_graph))
    return out


def value_and_grad(fun: Callable, argnums: int | Sequence[int] = 0, *, pause_gc: bool = False) -> Callable:
    """``fun``'s value and its gradient with respect to the arguments ``argnums``.

    ``fun`` must return a scalar. Numpy arrays in, numpy arrays out; called inside another
    differentiation (on tensors that require grad) it returns recorded tensors instead, so it
    composes: ``grad(grad(f))`` is the second derivative. ``pause_gc=True`` pauses the cyclic
    garbage collector while it records and differentiates (see :class:`paused_gc`).

    >>> import numpy as np, autograd_mini as am
    >>> am.value_and_grad(lambda x: (x ** 2).sum())(np.array([1.0, 3.0]))
    (10.0, array([2., 6.]))
    """
    single = isinstance(argnums, (int, np.integer))
    nums = (int(argnums),) if single else tuple(argnums)

    def wrapper(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        if pause_gc:
            with paused_gc():
                return evaluate(*args, **kwargs)
        return evaluate(*args, **kwargs)

    def evaluate(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        args = list(args)
        for i in nums:
            if not -len(args) <= i < len(args):
                raise IndexError(f"grad: argnums {i} is out of range for {len(args)} positional arguments")
        # Inside another differentiation the result must stay on the graph, whether the outer
        # variable comes in as an argument or through a closure.
        state = current()
        nested = state.grad_enabled and (state.depth > 0 or any(
            isinstance(args[i], Tensor) and args[i].requires_grad for i in nums))
        wrt = []
        for i in nums:
            a = args[i]
            if isinstance(a, Tensor) and a.requires_grad and state.grad_enabled:
                t = _identity(a)  # a fresh node downstream of the outer variable
            else:
                t = Tensor(a, requires_grad=True)
            args[i] = t
            wrt.append(t)
        with _grad_mode(True), _changed("depth", state.depth + 1):
            out = fun(*args, **kwargs)
        if not isinstance(out, Tensor):
            out_arr = np.asarray(out)
            if out_arr.size != 1 or out_arr.dtype.kind not in "fiub":
                raise TypeError(f"grad: the function must return a scalar, got {type(out).__name__}")
            out = Tensor(out_arr)
        if out.size != 1:
            raise ValueError(f"grad: the function must return a scalar, got shape {out.shape}; "
                             "sum it, or use autograd_mini.gradients with an explicit seed")
        gs = gradients(out, wrt, create_graph=nested)
        value: Any = out if nested else out.value.reshape(()).item()
        return value, (gs[0] if single else tuple(gs))

    return wrapper


def grad(fun: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The gradient of scalar ``fun`` with respect to the arguments ``argnums``.

    >>> import numpy as np, autograd_mini as am
    >>> am.grad(am.tanh)(0.0)
    array(1.)
    >>> am.grad(am.grad(lambda x: x ** 3))(2.0)   # second derivative, 6x
    array(12.)
    """
    vg = value_and_grad(fun, argnums)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return vg(*args, **kwargs)[1]

    return wrapper
