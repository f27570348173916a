"""Every built-in primitive: its numpy forward and, beside it, its vector-Jacobian products.

Read it as a table. A VJP is ``vjp(g, ans, *args, **kwargs)``: ``g`` is the gradient arriving
at the output ``ans``, the result is the gradient for one argument, with that argument's shape.
VJPs are written with these same functions, so on plain arrays they are plain numpy and on
tensors (``create_graph``) they are recorded — that is all higher-order gradients need.
"""
from __future__ import annotations

import builtins
from operator import index as _index
from typing import Any, Sequence

import numpy as np

from .record import _shape, defvjp, defvjp_argnum, primitive, saves
from .tensor import Tensor


def _val(x: Any) -> Any:
    """The raw value: masks and shapes in VJPs are constants, never differentiated."""
    return x.value if isinstance(x, Tensor) else x


def _arr(x: Any) -> Any:
    """Arrays and tensors as they are; a constant given as a list becomes an array (for .T)."""
    return x if type(x) is np.ndarray or isinstance(x, Tensor) else np.asarray(x)


def unbroadcast(g: Any, like: Any) -> Any:
    """Sum ``g`` back to the shape of ``like``: undo numpy broadcasting in a VJP."""
    kind = type(like)
    shape = like if kind is tuple else like.shape if kind is np.ndarray else _shape(like)
    gshape = g.shape
    if gshape == shape:
        return g
    lead = len(gshape) - len(shape)
    # Methods, not primitives: arrays and tensors both have them, and plain arrays skip the
    # recording wrapper on this hot path.
    if gshape[lead:] == shape:  # only leading axes were added (a bias): one reduction does it
        axes = 0 if lead == 1 else tuple(range(lead))
        return _add_reduce(g, axes) if type(g) is np.ndarray else g.sum(axis=axes)
    axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape) if n == 1 and gshape[i + lead] != 1)
    if type(g) is np.ndarray:
        return _add_reduce(g, axes, None, None, True).reshape(shape)
    return g.sum(axis=axes, keepdims=True).reshape(shape)


# What ndarray.sum calls, without its Python layer (numpy/_core/_methods.py): 8.8k instructions
# instead of 10.4k a call on a 32 x 3 array (callgrind). Arguments: axis, dtype, out, keepdims.
_add_reduce = np.add.reduce


def _keepdims_shape(shape: tuple[int, ...], axis: Any) -> tuple[int, ...]:
    """The shape a reduction over ``axis`` has with keepdims=True. An axis may be anything numpy
    takes as one (an int, a numpy integer, a 0-d integer array, a tuple of them): operator.index
    makes it a Python int (a 0-d array is not hashable)."""
    if axis is None:
        return (1,) * len(shape)
    axes = {_index(a) % len(shape) for a in (axis if isinstance(axis, tuple) else (axis,))}
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


# --- the table ---------------------------------------------------------------------------

# add and subtract get their inputs' shapes (see ``saves`` below); where a shape matches the
# gradient's, as it mostly does, they skip the call to unbroadcast (-1.7% of the 2-3-1 net's
# backward instructions, benchmarks/instructions.py). With create_graph they get tensors.
add = primitive(np.add, name="add")
defvjp(add,      lambda g, ans, x, y: g if type(x) is tuple and g.shape == x else unbroadcast(g, x),
                 lambda g, ans, x, y: g if type(y) is tuple and g.shape == y else unbroadcast(g, y))

subtract = primitive(np.subtract, name="subtract")
defvjp(subtract, lambda g, ans, x, y: g if type(x) is tuple and g.shape == x else unbroadcast(g, x),
                 lambda g, ans, x, y: -g if type(y) is tuple and g.shape == y else unbroadcast(-g, y))

multiply = primitive(np.multiply, name="multiply")
defvjp(multiply, lambda g, ans, x, y: unbroadcast(g * y, x),
                 lambda g, ans, x, y: unbroadcast(g * x, y))

divide = primitive(np.divide, name="divide")
defvjp(divide,   lambda g, ans, x, y: unbroadcast(g / y, x),
                 lambda g, ans, x, y: unbroadcast(-g * ans / y, y))

negative = primitive(np.negative, name="negative")
defvjp(negative, lambda g, ans, x: -g)


def _power_vjp_x(g: Any, ans: Any, x: Any, y: Any) -> Any:
    # y * x**(y-1), which is 0 where y = 0, also at x = 0 (where x**-1 is inf and 0 * inf NaN):
    # there, and only there, the base becomes 1. The exponent stays y - 1 everywhere, so with
    # create_graph the result still depends on y: d/dy (y x**(y-1)) = 1/x at y = 0, not x.
    if type(y) is list:  # a constant given as a list
        y = np.asarray(y)
    xv = _val(x)
    if (xv == 0).any():  # one comparison in the common case, and no extra op in the graph
        x = where((xv == 0) & (_val(y) == 0), 1.0, _arr(x))
    return unbroadcast(g * y * x ** (y - 1), _shape(xv))


power = primitive(np.power, name="power")
defvjp(power,    _power_vjp_x,
                 lambda g, ans, x, y: unbroadcast(g * log(where(_val(x) > 0, x, 1.0)) * ans, y))

exp = primitive(np.exp, name="exp")
defvjp(exp,      lambda g, ans, x: g * ans)

log = primitive(np.log, name="log")
defvjp(log,      lambda g, ans, x: g / x)

sqrt = primitive(np.sqrt, name="sqrt")
defvjp(sqrt,     lambda g, ans, x: g * 0.5 / ans)

abs = primitive(np.abs, name="abs")  # noqa: A001 - numpy's name on purpose
defvjp(abs,      lambda g, ans, x: g * np.sign(_val(x)))

tanh = primitive(np.tanh, name="tanh")
defvjp(tanh,     lambda g, ans, x: g * (1.0 - ans * ans))


@primitive
def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function 1 / (1 + e^-x), within 3 ulp for any x, never overflowing: e^-x is
    capped where it would overflow, so below x ~ -709 (float32: -88) the result is the smallest
    value that formula reaches (5.6e-309; float32 2.9e-39) where the true one is smaller still."""
    t = np.negative(x)
    limit = _EXP_LIMIT.get(t.dtype)
    if limit is None or type(t) is not np.ndarray:  # a 0-d input gives a scalar; ints; float16
        if t.dtype == np.float16:  # its exp overflows at 11: work in float32
            return sigmoid(np.asarray(x, dtype=np.float32)).astype(np.float16)
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(np.minimum(t, 709.78)))
    # In place in one buffer, with no data-dependent branch: the time of np.where over the two
    # stable halves x 0.82 on an LSTM's 32 x 128 gate slice, x 0.61 on a 32 x 3 hidden layer
    # (interleaved, median of 15; 2026-12-01).
    np.minimum(t, limit, out=t)
    np.exp(t, out=t)
    t += 1.0
    return np.reciprocal(t, out=t)


_EXP_LIMIT = {np.dtype(np.float64): 709.78, np.dtype(np.float32): np.float32(88.72)}
defvjp(sigmoid,  lambda g, ans, x: g * ans * (1.0 - ans))


@primitive
def relu(x: np.ndarray) -> np.ndarray:
    """max(x, 0)."""
    return np.maximum(x, 0.0)
defvjp(relu,     lambda g, ans, x: g * (_val(x) > 0))


def _matmul_vjp_x(g: Any, ans: Any, x: Any, y: Any) -> Any:
    try:
        if x.ndim == 2 and y.ndim == 2:    # the common case: no batch axes to sum over
            return g @ y.T
    except AttributeError:                 # a constant given as a list
        x, y = _arr(x), _arr(y)
    xs, ys = x.shape, y.shape
    if len(ys) == 1:                       # matrix-vector: ans[..., n] = x[..., n, k] y[k]
        return unbroadcast(g.reshape(g.shape + (1,)) * y, x)
    if len(xs) == 1:                       # vector-matrix: ans[..., m] = x[k] y[..., k, m]
        return unbroadcast((g.reshape(g.shape[:-1] + (1, ys[-1])) @ y.mT).reshape(g.shape[:-1] + xs), x)
    return unbroadcast(g @ y.mT, x)


def _matmul_vjp_y(g: Any, ans: Any, x: Any, y: Any) -> Any:
    try:
        if x.ndim == 2 and y.ndim == 2:
            return x.T @ g
    except AttributeError:
        x, y = _arr(x), _arr(y)
    xs, ys = x.shape, y.shape
    if len(xs) == 1 and len(ys) == 1:
        return g * x
    if len(ys) == 1:
        return unbroadcast((x.mT @ g.reshape(g.shape + (1,))).reshape(g.shape[:-1] + ys), y)
    if len(xs) == 1:
        return unbroadcast(x.reshape((xs[0], 1)) * g.reshape(g.shape[:-1] + (1, ys[-1])), y)
    return unbroadcast(x.mT @ g, y)


def _matmul_vjp_y_sum(calls: list, out: np.ndarray | None) -> np.ndarray:
    """The weight's gradient over many uses, x_1^T g_1 + x_2^T g_2 + ..., as ONE matmul of the
    stacked inputs and gradients: a recurrent weight's gradient over every time step at once."""
    xs, gs = [], []
    for g, _, (x, _) in calls:
        if type(x) is not np.ndarray or x.ndim != 2 or g.ndim != 2:
            break
        xs.append(x)
        gs.append(g)
    if len(xs) == len(calls) > 1:
        total = np.concatenate(xs).T @ np.concatenate(gs)
    else:
        total = _matmul_vjp_y(*calls[0][:2], *calls[0][2])
        for g, ans, args in calls[1:]:
            total = total + _matmul_vjp_y(g, ans, *args)
    if out is None:
        return total
    out += total
    return out


matmul = primitive(np.matmul, name="matmul")
defvjp(matmul,   _matmul_vjp_x, _matmul_vjp_y)
matmul.op.sum_vjp = (1, _matmul_vjp_y_sum)


def _reduce_vjp(g: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    """Broadcast a reduction's output gradient back over the reduced axes."""
    shape = _shape(x)
    if type(g) is np.ndarray and axis is None:  # a plain backward of a full reduction: a filled array
        out = np.empty(shape, dtype=g.dtype)  # np.full, without its Python layer
        out.fill(g.reshape(()))
        return out
    if not keepdims:
        g = g.reshape(_keepdims_shape(shape, axis))
    return broadcast_to(g, shape)


def _count(x: Any, ans: Any) -> int:
    """How many elements each output of a reduction averages."""
    return builtins.max(int(np.prod(_shape(x))), 1) // builtins.max(int(np.prod(_shape(ans))), 1)


@primitive(name="sum")
def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001 - numpy's name
    """numpy's sum; on an array as ndarray.sum computes it (np.add.reduce), without the Python
    layers of np.sum and of the method (~1 us and ~0.15 us a call)."""
    if type(x) is np.ndarray:
        return _add_reduce(x, axis, None, None, keepdims)
    return np.sum(x, axis=axis, keepdims=keepdims)
defvjp(sum,      lambda g, ans, x, axis=None, keepdims=False: _reduce_vjp(g, x, axis, keepdims))

@primitive(name="mean")
def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """numpy's mean over ``axis``. The signature is ``(x, axis, keepdims)``, as the VJP reads it:
    numpy's third positional argument is ``dtype``, so ``mean(x, 0, True)`` asked for dtype True."""
    if type(x) is np.ndarray:
        return x.mean(axis=axis, keepdims=keepdims)
    return np.mean(x, axis=axis, keepdims=keepdims)
defvjp(mean,     lambda g, ans, x, axis=None, keepdims=False: _reduce_vjp(g, x, axis, keepdims) / _count(x, ans))


def _max_vjp(g: Any, ans: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    shape = _shape(x)
    at_max = _val(x) == np.reshape(_val(ans), _keepdims_shape(shape, axis))
    share = at_max / np.sum(at_max, axis=axis, keepdims=True)  # ties split the gradient evenly
    return _reduce_vjp(g, x, axis, keepdims) * share


@primitive(name="max")
def max(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001 - numpy's name
    """numpy's max over ``axis``, with the signature ``(x, axis, keepdims)`` the VJP reads
    (numpy's third positional argument is ``out``)."""
    if type(x) is np.ndarray:
        return x.max(axis=axis, keepdims=keepdims)
    return np.max(x, axis=axis, keepdims=keepdims)
defvjp(max,      _max_vjp)

reshape = primitive(np.reshape, name="reshape")
defvjp(reshape,  lambda g, ans, x, shape: g.reshape(_shape(x)), None)

@primitive
def broadcast_to(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``x`` repeated to ``shape`` by numpy's broadcasting rules (a new array, not a view)."""
    x = np.asarray(x)
    if x.shape == tuple(shape):
        return x
    out = np.empty(shape, dtype=x.dtype if x.dtype.kind == "f" else np.float64)
    out[...] = x  # much cheaper than np.broadcast_to for the small arrays of a VJP
    return out
defvjp(broadcast_to, lambda g, ans, x, shape: unbroadcast(g, x), None)


def _inverse_axes(axes: Any, ndim: int) -> Any:
    # np.ravel: the axes may come as a tuple, a list, an array or (for a 1-D x) one integer
    return None if axes is None else tuple(np.argsort(np.ravel(axes) % builtins.max(ndim, 1)))


transpose = primitive(np.transpose, name="transpose")
defvjp(transpose, lambda g, ans, x, axes=None: transpose(g, _inverse_axes(axes, len(_shape(x)))), None)

swapaxes = primitive(np.swapaxes, name="swapaxes")
defvjp(swapaxes, lambda g, ans, x, axis1, axis2: swapaxes(g, axis1, axis2), None, None)


@primitive(name="getitem")
def _getitem(x: np.ndarray, index: Any) -> np.ndarray:
    return x[index]


@primitive(name="scatter_add")
def _scatter_add(g: np.ndarray, index: Any, shape: tuple[int, ...]) -> np.ndarray:
    """zeros(shape) with ``g`` added at ``index``; repeated indices accumulate."""
    out = np.zeros(shape, dtype=g.dtype)
    _add_slice(out, index, g)
    return out


def _is_basic_index(index: Any) -> bool:
    # A loop, not all(...): this runs once per slice in every backward, and a generator costs more.
    for p in (index if type(index) is tuple else (index,)):
        # A bool is an int to isinstance, but numpy reads it as a mask (advanced: a copy, not a view).
        if not (type(p) is slice or p is None or p is Ellipsis
                or (isinstance(p, (int, np.integer)) and type(p) is not bool)):
            return False
    return True


def _add_slice(buffer: np.ndarray, index: Any, g: Any) -> None:
    """``buffer[index] += g`` in place; repeated integer indices accumulate (numpy's ``+=`` would not)."""
    if _is_basic_index(index):
        view = buffer[index]
        if type(view) is np.ndarray:  # a view: adding into it adds into the buffer, no write-back
            view += g
        else:                         # every axis indexed by an integer: a scalar, not a view
            buffer[index] += g
    else:
        np.add.at(buffer, index, g)


def _getitem_vjp_sum(calls: list, out: np.ndarray | None) -> np.ndarray:
    """getitem's VJPs for many slices of one tensor, summed: one buffer, not one per slice."""
    if out is None:
        g, _, (x, _) = calls[0]
        shape = _shape(x)
        # Slices that cover the tensor once (an LSTM's gates) are joined: no zeros, no adds. The
        # check reads slice attributes (~10k instructions for four slices), so small tensors skip
        # it: on 32 x 512 the join is 3.3x cheaper, on 1 x 16 no cheaper (callgrind).
        tiles = _tiles(calls, shape) if len(calls) > 1 and g.size * len(calls) >= _TILE_MIN else None
        if tiles is not None:
            return np.concatenate(tiles[1], axis=tiles[0])
        out = np.zeros(shape, dtype=g.dtype)
    for g, _, (_, index) in calls:
        _add_slice(out, index, g)
    return out


_TILE_MIN = 4096  # elements of the tensor (estimated from its slices) below which _tiles is skipped


def _tiles(calls: list, shape: tuple) -> tuple[int, list] | None:
    """``(axis, gradients in order)`` if the calls' indices are slices along one axis that cover
    it exactly once, each with step 1 and in-range bounds (``z[:, 0:H]``, ``z[:, H:2*H]``, ...);
    else None."""
    ax, spans, grads = -1, [], []
    for g, _, (_, index) in calls:
        idx = index if type(index) is tuple else (index,)
        if len(idx) != len(shape):
            return None
        k = -1
        for j, p in enumerate(idx):
            if type(p) is not slice or p.step is not None:
                return None
            if p.start is None and p.stop is None:
                continue
            if k >= 0:
                return None
            k = j
            lo, hi = p.start or 0, p.stop
        if k < 0 or (ax >= 0 and k != ax) or type(lo) is not int or type(hi) is not int \
                or not 0 <= lo < hi <= shape[k]:
            return None
        ax = k
        spans.append((lo, hi, len(grads)))  # ints only: the sort compares in C
        grads.append(g)
    spans.sort()
    end = 0
    for lo, hi, _ in spans:
        if lo != end:
            return None
        end = hi
    return (ax, [grads[i] for _, _, i in spans]) if end == shape[ax] else None


defvjp(_getitem,     lambda g, ans, x, index: _scatter_add(g, index, _shape(x)), None)
_getitem.op.sum_vjp = (0, _getitem_vjp_sum)
defvjp(_scatter_add, lambda g, ans, h, index, shape: _getitem(g, index), None, None)


@primitive(name="concatenate")
def _concatenate(*arrays: np.ndarray, axis: int = 0) -> np.ndarray:
    return np.concatenate(arrays, axis=axis)


def _concatenate_vjp(i: int, g: Any, ans: Any, *arrays: Any, axis: int = 0) -> Any:
    ax = axis % len(_shape(ans))
    start = 0
    for a in arrays[:i]:  # plain ints: np.sum of a list costs microseconds on every step
        start += _shape(a)[ax]
    index = (slice(None),) * ax + (slice(start, start + _shape(arrays[i])[ax]),)
    return _getitem(g, index)


defvjp_argnum(_concatenate, _concatenate_vjp)


@primitive(name="stack")
def _stack(*arrays: np.ndarray, axis: int = 0) -> np.ndarray:
    return np.stack(arrays, axis=axis)


def _stack_vjp(i: int, g: Any, ans: Any, *arrays: Any, axis: int = 0) -> Any:
    ax = axis % len(_shape(ans))
    return _getitem(g, (slice(None),) * ax + (i,))


defvjp_argnum(_stack, _stack_vjp)

where = primitive(np.where, name="where")
defvjp(where,    None,
                 lambda g, ans, c, x, y: unbroadcast(where(c, g, 0.0), x),
                 lambda g, ans, c, x, y: unbroadcast(where(c, 0.0, g), y))


def _balance(a: Any, b: Any) -> np.ndarray:
    """1 where a wins, 0 where b wins, 1/2 on ties: the gradient of max(a, b) with respect to a."""
    a, b = _val(a), _val(b)
    return (a > b) + 0.5 * (a == b)


maximum = primitive(np.maximum, name="maximum")
defvjp(maximum,  lambda g, ans, x, y: unbroadcast(g * _balance(x, y), x),
                 lambda g, ans, x, y: unbroadcast(g * _balance(y, x), y))

minimum = primitive(np.minimum, name="minimum")
defvjp(minimum,  lambda g, ans, x, y: unbroadcast(g * _balance(y, x), x),
                 lambda g, ans, x, y: unbroadcast(g * _balance(x, y), y))


# np.clip(x, lo, hi) is minimum(maximum(x, lo), hi): where lo > hi every element is hi. Each
# element's gradient goes to the one of x, lo, hi that gives its value (to x on a tie with a bound).
def _crossed(lo: Any, hi: Any) -> Any:
    """Where the bounds cross (lo > hi): there hi wins, whatever x is."""
    return np.False_ if lo is None or hi is None else np.asarray(_val(lo) > _val(hi))


def _inside(x: Any, lo: Any, hi: Any) -> np.ndarray:
    x = _val(x)
    return (True if lo is None else x >= _val(lo)) & (True if hi is None else x <= _val(hi)) & ~_crossed(lo, hi)


clip = primitive(np.clip, name="clip")
defvjp(clip,     lambda g, ans, x, lo, hi: unbroadcast(g * _inside(x, lo, hi), x),
                 lambda g, ans, x, lo, hi: unbroadcast(g * ((_val(x) < _val(lo)) & ~_crossed(lo, hi)), lo),
                 lambda g, ans, x, lo, hi: unbroadcast(g * ((_val(x) > _val(hi)) | _crossed(lo, hi)), hi))


@primitive
def logsumexp(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    """log(sum(exp(x))) without overflow; rows of -inf give -inf, not NaN, and so does an empty
    axis (the log of an empty sum, as in scipy and PyTorch)."""
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)  # initial: -inf over an empty axis
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    if keepdims:
        return out
    return np.reshape(out, ()) if axis is None else np.squeeze(out, axis=axis)
def _logsumexp_vjp(g: Any, ans: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    # softmax(x) = exp(x - ans); a slice of all -inf has ans = -inf and gets gradient 0, not NaN.
    dead = ~np.isfinite(_val(ans))
    if dead.any():
        ans = where(dead, 0.0, ans)
    return _reduce_vjp(g, x, axis, keepdims) * exp(x - _reduce_vjp(ans, x, axis, keepdims))


defvjp(logsumexp, _logsumexp_vjp)


@primitive
def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """exp(x) / sum(exp(x)) along ``axis``, shifted by the max so it never overflows (an empty
    axis gives an empty result, as in PyTorch)."""
    e = np.exp(x - np.max(x, axis=axis, keepdims=True, initial=-np.inf))
    return e / np.sum(e, axis=axis, keepdims=True)
defvjp(softmax,  lambda g, ans, x, axis=-1: ans * (g - sum(g * ans, axis=axis, keepdims=True)))


@primitive
def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """x - logsumexp(x) along ``axis``: log-probabilities without overflow or log(0)."""
    return x - logsumexp(x, axis=axis, keepdims=True)
defvjp(log_softmax, lambda g, ans, x, axis=-1: g - exp(ans) * sum(g, axis=axis, keepdims=True))


# --- what backward keeps: the values each VJP above reads (the rest are freed with the forward) --
for _prim in (add, subtract, negative, reshape, broadcast_to, _concatenate, _stack):
    saves(_prim)                                  # shapes only
# Axes and keepdims are kept as given: an array there (a 0-d integer array as an axis) must reach
# the VJPs as itself, not as its shape. (A Python int is never replaced, so this costs nothing.)
for _prim in (sum, mean, swapaxes):
    saves(_prim, inputs=(1, 2))                   # axis (axis1) and keepdims (axis2)
saves(transpose, inputs=(1,))                     # the axes (they may come as an array)
saves(_getitem, inputs=(1,))                      # the index
saves(_scatter_add, inputs=(1,))
for _prim in (exp, sqrt, tanh, sigmoid):
    saves(_prim, ans=True)                        # the output only
for _prim in (softmax, log_softmax):
    saves(_prim, inputs=(1,), ans=True)           # the output and the axis
saves(divide, inputs=(1,), ans=True)
saves(where, inputs=(0,))
for _prim in (multiply, log, abs, relu, matmul, maximum, minimum, clip):
    saves(_prim, inputs="all")                    # the inputs, not the output
# power, max and logsumexp read everything: the default.


# --- numpy-shaped front doors for the variadic and indexing primitives ----------------------

def concatenate(arrays: Sequence[Any], axis: int = 0) -> Any:
    """Join tensors along an existing axis (numpy's ``concatenate``).

    >>> import autograd_mini as am
    >>> am.concatenate([am.Tensor([1.0]), am.Tensor([2.0, 3.0])]).shape
    (3,)
    """
    return _concatenate(*arrays, axis=axis)


def stack(arrays: Sequence[Any], axis: int = 0) -> Any:
    """Join tensors along a new axis (numpy's ``stack``).

    >>> import autograd_mini as am
    >>> am.stack([am.Tensor([1.0, 2.0]), am.Tensor([3.0, 4.0])], axis=1).shape
    (2, 2)
    """
    return _stack(*arrays, axis=axis)


def getitem(x: Any, index: Any) -> Any:
    """``x[index]``: slices, integers and integer arrays (repeated indices accumulate gradient).

    A Tensor in the index is read as integers (a Tensor holds floats, so ``Tensor([0, 1])`` holds
    0.0 and 1.0; a boolean mask is a numpy array such as ``x > 0``, not a Tensor); one holding
    anything but whole numbers is refused.
    """
    if isinstance(index, Tensor):
        index = _tensor_index(index)
    elif type(index) is tuple:
        for i in index:
            if isinstance(i, Tensor):  # rare: rebuild the index only then
                index = tuple(_tensor_index(i) if isinstance(i, Tensor) else i for i in index)
                break
    return _getitem(x, index)


def _tensor_index(t: Tensor) -> Any:
    """A Tensor used as an index, as integers: an int for a 0-d one, else an intp array."""
    v = t.value
    whole = np.isfinite(v) & (v == np.floor(v))  # a Tensor's value is always floating
    if not whole.all():
        bad = v[~whole].ravel()[0]
        raise IndexError(
            f"getitem: a Tensor used as an index must hold whole numbers, got {float(bad)!r} (shape {v.shape}); "
            "index with integers or a boolean numpy array (x > 0), not a Tensor of fractions")
    idx = v.astype(np.intp)
    return int(idx) if idx.ndim == 0 else idx


absolute = abs

# --- Tensor operators and methods -------------------------------------------------------------

def _transpose_method(self: Tensor, *axes: Any) -> Any:
    """``t.transpose()``, ``t.transpose(1, 0)`` or ``t.transpose((1, 0))``, as numpy's."""
    if len(axes) == 1:
        axes = axes[0]
    return transpose(self, None if axes is None or (isinstance(axes, tuple) and not axes) else axes)


def _install_operators() -> None:
    T = Tensor
    T.__add__ = add
    T.__radd__ = lambda self, other: add(other, self)
    T.__sub__ = subtract
    T.__rsub__ = lambda self, other: subtract(other, self)
    T.__mul__ = multiply
    T.__rmul__ = lambda self, other: multiply(other, self)
    T.__truediv__ = divide
    T.__rtruediv__ = lambda self, other: divide(other, self)
    T.__pow__ = power
    T.__rpow__ = lambda self, other: power(other, self)
    T.__matmul__ = matmul
    T.__rmatmul__ = lambda self, other: matmul(other, self)
    T.__neg__ = negative
    T.__abs__ = abs
    T.__getitem__ = getitem
    T.T = property(lambda self: transpose(self))
    T.mT = property(lambda self: swapaxes(self, -1, -2))
    # t.sum() is one positional argument: the wrapper's fast path, no keyword dict to keep
    T.sum = lambda self, axis=None, keepdims=False: (
        sum(self) if axis is None and not keepdims else sum(self, axis=axis, keepdims=keepdims))
    T.mean = lambda self, axis=None, keepdims=False: mean(self, axis=axis, keepdims=keepdims)
    T.max = lambda self, axis=None, keepdims=False: max(self, axis=axis, keepdims=keepdims)
    T.reshape = lambda self, *shape: reshape(self, shape[0] if len(shape) == 1 else shape)
    T.transpose = _transpose_method
    T.exp = exp
    T.log = log
    T.tanh = tanh
    T.sigmoid = sigmoid


_install_operators()
