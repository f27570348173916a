"""Tensor, Parameter, and the recording wrapper every primitive goes through.

A recorded tensor points to its record in ``_rec``, a list (one allocation on the hot path,
and backward can free it in place): the primitive, its inputs, the input values its VJPs need,
keyword arguments, the positions that need a gradient, the scope, a sequence number, the output
value if the VJPs need it, the output shape, the tape node, for ``retain_grad`` a weak
reference to the tensor, the model's name for it (:func:`tag`), and the gradient a backward
pass is accumulating for it. Backward frees the saved values but keeps the rest, so
:func:`graph_of` can still walk what made a loss. Inputs that
are recorded tensors are stored as *their records*, not as the tensors: a record keeps alive
only the values backward needs, so an intermediate like the ``x @ W`` in ``x @ W + b`` is freed
as soon as the user drops it (as in PyTorch).
"""
from __future__ import annotations

import functools
import weakref
from sys import getrefcount as _getrefcount
from typing import Any, Callable, Sequence

import numpy as np

from .recording import COUNTER, GraphNode, Node, Tag, Tape, current, format_scope

# A record (Tensor._rec) is one list, so that the garbage collector tracks one object per op:
# eleven fields, then each input and the value backward keeps of it, side by side.
OP, PARENTS, SCOPE, SEQ, SHAPE, ANS, NODE, OWNER, TAG, GRAD, KW = range(11)
ARGS = 11  # input i is rec[ARGS + 2 i], its kept value (or its shape) rec[ARGS + 2 i + 1]
FREED = None  # ANS once backward has freed the kept values (see ``_free``)


def _to_float_array(value: Any, what: str) -> np.ndarray:
    """numpy array of floats from ``value``; ints and bools become float64, the rest is refused."""
    if isinstance(value, Tensor):
        value = value.value
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as e:  # ragged nested lists
        raise TypeError(f"{what}: cannot make an array of {type(value).__name__}: {e}") from None
    kind = arr.dtype.kind
    if kind == "f":
        return arr
    if kind in "biu":
        return arr.astype(np.float64)
    raise TypeError(
        f"{what}: needs real numbers, got dtype {arr.dtype} ({type(value).__name__}); "
        "strings, objects and complex values are not differentiable here"
    )


class Tensor:
    """A numpy array that records the differentiable ops applied to it.

    >>> import autograd_mini as am
    >>> x = am.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    array([2., 4., 6.])
    """

    # The three attributes every op sets are slots; the rare ones (grad, name) default on the
    # class and only get an instance __dict__ when set.
    __slots__ = ("_value", "requires_grad", "_rec", "__dict__", "__weakref__")
    grad: np.ndarray | None = None
    name: str | None = None
    tag: Tag | None = None  # a leaf's name in the drawings (see autograd_mini.tag)
    # numpy must hand mixed expressions (array * tensor) to us instead of looping over elements.
    __array_ufunc__ = None
    __array_priority__ = 1000.0

    def __init__(self, value: Any, requires_grad: bool = False, name: str | None = None) -> None:
        self._value = np.array(_to_float_array(value, type(self).__name__), copy=True)
        self.requires_grad = bool(requires_grad)
        self._rec: tuple | None = None
        if name is not None:
            self.name = name

    # --- the value, and who may write it ----------------------------------------
    # A recorded op that keeps a leaf's array for backward makes it read-only ("frozen") rather
    # than copying it: weights are used by every step, and a copy per use would cost more than
    # the op. The array thaws when nothing but this tensor holds it (every graph that kept it was
    # backwarded or dropped): reading ``.value`` checks, so ``W.value -= lr * W.grad`` after
    # backward works, and fails at once while a graph that still needs W is alive.
    _frozen = False  # set (in the instance dict) only on leaves a record keeps

    @property
    def value(self) -> np.ndarray:
        """The numpy array (shared, not copied). Read-only while a recorded graph needs it;
        assigning a new array is always allowed and never changes what a graph recorded."""
        if self._frozen and _getrefcount(self._value) <= _ALONE:
            _thaw(self)
        return self._value

    @value.setter
    def value(self, new: Any) -> None:
        arr = _to_float_array(new, f"{type(self).__name__}.value")
        if not arr.flags.writeable:  # a broadcast view, or an array some graph keeps frozen
            arr = arr.copy()
        self._value = arr
        if self._frozen:
            self._frozen = False

    # --- plain array facts -------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self._value.shape

    @property
    def dtype(self) -> np.dtype:
        return self._value.dtype

    @property
    def ndim(self) -> int:
        return self._value.ndim

    @property
    def size(self) -> int:
        return self._value.size

    @property
    def op(self) -> str | None:
        """Name of the op that made this tensor (None for a leaf)."""
        return None if self._rec is None else self._rec[OP].name

    @property
    def is_leaf(self) -> bool:
        return self._rec is None

    def __len__(self) -> int:
        return len(self.value)

    def item(self) -> float:
        return self.value.item()

    def numpy(self) -> np.ndarray:
        """The value as a numpy array (shared, not copied)."""
        return self.value

    def detach(self) -> "Tensor":
        """A tensor with the same value that is cut from the graph (truncated BPTT uses it)."""
        return _new(self.value, False)

    def retain_grad(self) -> "Tensor":
        """Keep this non-leaf tensor's gradient in ``.grad`` after backward (e.g. hidden states)."""
        if self._rec is not None:
            self._rec[OWNER] = weakref.ref(self)
        return self

    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``.grad`` of every leaf that requires grad.

        A non-scalar tensor needs ``gradient`` (the seed, same shape). The graph's saved values
        are freed afterwards unless ``retain_graph=True``.
        """
        from .backward import backward

        backward(self, gradient, retain_graph=retain_graph)

    def __repr__(self) -> str:
        extra = ""
        if self._rec is not None:
            extra = f", op={self._rec[OP].name}"
        elif self.requires_grad:
            extra = ", requires_grad=True"
        if self.name is not None:
            extra += f", name={self.name!r}"
        body = np.array2string(self.value, separator=", ", threshold=20, prefix=" " * 7)
        return f"{type(self).__name__}({body}{extra})"

    def __setitem__(self, key: Any, value: Any) -> None:
        raise TypeError(
            "Tensor does not support item assignment: an in-place write would corrupt the recorded "
            "graph. Build a new tensor instead (am.where, am.concatenate, am.stack)."
        )

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if self.requires_grad and current().grad_enabled:
            raise TypeError(
                "numpy was given a Tensor that requires grad: the result would silently leave the "
                "graph. Use an autograd_mini op, or tensor.detach().value / tensor.value."
            )
        return self.value if dtype is None else self.value.astype(dtype)

    # Comparisons give plain boolean arrays, element-wise as numpy's and PyTorch's (so
    # ``am.where(x == 0, 1.0, x)`` works): they are not differentiable. Hashing stays by identity
    # (``__hash__`` below), so tensors are dict keys and set members; but ``t in some_list``,
    # ``some_list.index(t)`` and ``.remove(t)`` compare with == and are no identity tests: look
    # tensors up by ``id(t)`` or with ``any(u is t for u in ...)``.
    def __eq__(self, other: Any) -> np.ndarray:  # type: ignore[override]
        return self.value == _raw(other)

    def __ne__(self, other: Any) -> np.ndarray:  # type: ignore[override]
        return self.value != _raw(other)

    def __lt__(self, other: Any) -> np.ndarray:
        return self.value < _raw(other)

    def __le__(self, other: Any) -> np.ndarray:
        return self.value <= _raw(other)

    def __gt__(self, other: Any) -> np.ndarray:
        return self.value > _raw(other)

    def __ge__(self, other: Any) -> np.ndarray:
        return self.value >= _raw(other)

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        """numpy's truth value: a tensor of one element is its value; more (or none) raise."""
        return bool(self.value)

    def __iter__(self) -> Any:
        """Iterate over the first axis (each element a recorded ``getitem``), as numpy does; a
        0-d tensor raises ``TypeError`` as a 0-d array does (it used to give an empty list)."""
        if self.value.ndim == 0:
            raise TypeError("iteration over a 0-d Tensor")
        return map(self.__getitem__, range(len(self.value)))

    def __contains__(self, item: Any) -> bool:
        """``v in t``: does any element equal ``v`` (numpy's rule)."""
        return bool((self.value == _raw(item)).any())


class Parameter(Tensor):
    """A named tensor that requires grad: a model's weight.

    >>> import autograd_mini as am
    >>> W = am.Parameter([[0.5, -0.5]], name="W_hh")
    >>> W.requires_grad, W.name
    (True, 'W_hh')
    """

    __slots__ = ()

    def __init__(self, value: Any, name: str | None = None) -> None:
        super().__init__(value, requires_grad=True, name=name)


def _raw(x: Any) -> Any:
    return x.value if isinstance(x, Tensor) else x


def _alone() -> int:
    """What ``getrefcount(t._value)`` gives in ``Tensor.value`` when only the tensor holds the
    array (measured, since the count an interpreter reports for its own temporaries varies)."""
    t = Tensor(0.0)
    return _getrefcount(t._value)


_ALONE = _alone()


def _freeze(t: Tensor) -> None:
    """A record keeps this leaf's array: in-place writes would change what backward reads."""
    t._value.flags.writeable = False
    t._frozen = True


def _thaw(t: Tensor) -> None:
    t._frozen = False
    try:
        t._value.flags.writeable = True
    except ValueError:  # a view of a read-only array (a detached broadcast): it stays read-only
        t._frozen = True
        return
    # Another thread may have recorded an op on it since the count was taken: it saw _frozen
    # still set and did not freeze it, so look again now that _frozen is clear.
    if _getrefcount(t._value) > _ALONE:
        _freeze(t)


def _own(v: Any) -> Any:
    """A constant a record keeps, safe from the caller's later writes: a numpy array (or a list,
    or an index tuple holding them) is copied; numbers, slices and tuples of them are immutable."""
    kind = type(v)
    if kind is _ndarray:
        return v.copy()
    if kind is tuple:
        for e in v:
            if type(e) is _ndarray or type(e) is list:
                return tuple(_own(e) for e in v)
        return v
    if kind is list:
        return [_own(e) for e in v]
    if isinstance(v, np.ndarray):  # a subclass: np.memmap, np.matrix
        return np.array(v)
    return v


def _guard(vals: tuple, inputs: tuple, keep: frozenset[int] | None) -> tuple[tuple, tuple]:
    """Protect what a record keeps from later writes (see ``_own``, ``_freeze``), and replace the
    values backward does not read by their shapes. The general case: the wrapper inlines it for
    one and two arguments."""
    out_vals, out_inputs = list(vals), list(inputs)
    for i, (v, e) in enumerate(zip(vals, inputs)):
        if keep is not None and i not in keep:
            if type(v) is _ndarray:
                out_vals[i] = e[SHAPE] if type(e) is list else _interned(v.shape)
        elif type(e) is list:
            pass  # a record's output: the tape owns it
        elif e is v:
            out_vals[i] = out_inputs[i] = _own(v)
        elif not e._frozen:
            _freeze(e)
    return tuple(out_vals), tuple(out_inputs)


_Tensor_new = object.__new__
_NO_KWARGS: dict = {}  # shared by every record without keyword arguments (one dict fewer per op)
_ndarray = np.ndarray
_F64 = np.dtype(np.float64)
_F32 = np.dtype(np.float32)
_f64 = np.float64
_asarray = np.asarray


def _new(value: np.ndarray, requires_grad: bool, rec: tuple | None = None) -> Tensor:
    t = _Tensor_new(Tensor)
    t._value = value
    t.requires_grad = requires_grad
    t._rec = rec
    return t


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

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        # The hot path of the engine: every op of every step passes here once. One- and
        # two-argument calls, nearly all of them, keep their inputs in locals (no tuples to
        # build) and skip the general loop.
        n = len(args)
        if n == 2:
            x, y = args
            if isinstance(x, Tensor):
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
            try:
                out = fun(v0, v1, **kwargs) if kwargs else fun(v0, v1)
            except (ValueError, TypeError, IndexError) as e:
                raise _op_error(op, (v0, v1), kwargs, e) from e
        elif n == 1:
            x = args[0]
            if not isinstance(x, Tensor):
                return fun(x, **kwargs)
            v0 = x._value
            i0 = x._rec or x
            parents = _FIRST if x.requires_grad and op.d0 else None
            try:
                out = fun(v0, **kwargs) if kwargs else fun(v0)
            except (ValueError, TypeError, IndexError) as e:
                raise _op_error(op, (v0,), kwargs, e) from e
        else:
            vals, parents, inputs = _unwrap(op, args)
            if vals is None:
                return fun(*args, **kwargs)
            try:
                out = fun(*vals, **kwargs)
            except (ValueError, TypeError, IndexError) as e:
                raise _op_error(op, vals, kwargs, e) from e
        if type(out) is not _ndarray or (out.dtype is not _F64 and out.dtype is not _F32):
            # numpy reductions give float64 scalars: make them 0-d arrays the cheap way
            out = _asarray(out) if type(out) is _f64 else _check_output(op, out, args)
        state = current()
        if state.anomaly and not np.isfinite(out).all():
            _raise_anomaly(op.name, "produced", out, state.scope)
        t = _Tensor_new(Tensor)
        t._value = out
        if parents is None or not state.grad_enabled:
            t.requires_grad = False
            t._rec = None
            if state.grad_enabled:
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
        if n == 2:
            if not op.k0:
                if type(v0) is _ndarray:
                    v0 = i0[SHAPE] if type(i0) is list else _interned(v0.shape)
            elif i0 is v0:  # a caller's constant (a float is immutable)
                if type(v0) is not float:
                    i0 = v0 = _own(v0)
            elif type(i0) is not list and not i0._frozen:  # a leaf tensor
                _freeze(i0)
            if not op.k1:
                if type(v1) is _ndarray:
                    v1 = i1[SHAPE] if type(i1) is list else _interned(v1.shape)
            elif i1 is v1:
                if type(v1) is not float:
                    i1 = v1 = _own(v1)
            elif type(i1) is not list and not i1._frozen:
                _freeze(i1)
            t._rec = rec = [op, parents, state.scope, next(COUNTER), shape, out if op.saves_ans else shape,
                            None, None, None, None, kwargs or _NO_KWARGS, i0, v0, i1, v1]
        elif n == 1:
            if not op.k0:
                v0 = i0[SHAPE] if type(i0) is list else _interned(v0.shape)
            elif type(i0) is not list and not i0._frozen:
                _freeze(i0)
            t._rec = rec = [op, parents, state.scope, next(COUNTER), shape, out if op.saves_ans else shape,
                            None, None, None, None, kwargs or _NO_KWARGS, i0, v0]
        else:
            vals, inputs = _guard(vals, inputs, op.saves)
            t._rec = rec = [op, parents, state.scope, next(COUNTER), shape, out if op.saves_ans else shape,
                            None, None, None, None, kwargs or _NO_KWARGS]
            for e, v in zip(inputs, vals):
                rec += (e, v)
        if state.tapes:
            _record_on_tapes(t, rec, args)
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
    t._rec = rec = [op, (), state.scope, next(COUNTER), shape, shape, None, None, None, None, kwargs or _NO_KWARGS]
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
    tapes = current().tapes
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
        if rec[NODE] is not None:
            rec[NODE].tag = label
    return x


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
