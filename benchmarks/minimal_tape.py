"""The floor: a minimal reverse-mode tape, the least an engine can do (benchmarks/bench_peers.py).

None of autograd_mini's features: no checks, no dtype rules, no graph API, no thread safety,
no higher order. Each op makes one small ``Var`` holding its value and, for each input that is a
``Var``, a tuple ``(input, vjp, arg)`` where ``vjp(g, arg)`` is a module-level function giving
that input's share of the output's gradient ``g`` (a tuple and a shared function, not a closure:
the first version made two closures per op and was 1.7x slower on a 1,000-step Elman net). The
``Var`` s go on one list in creation order, and ``backward`` walks that list backwards. A leaf is
``Var(array)``; plain arrays and numbers are constants, and an op on constants only records
nothing. Ops: matmul (2-D), +, -, * (numpy broadcasting, e.g. a bias), slicing, sigmoid, tanh,
sum, concatenate. The sigmoid is the plain ``1 / (1 + exp(-x))``: below x ~ -709 exp overflows
(and the result is the right limit, 0), so a caller wraps its step in ``np.errstate(over="ignore")``.
"""
from __future__ import annotations

import numpy as np

_tape: list = []  # the Vars made since the last backward, in creation order


class Var:
    __slots__ = ("value", "parents", "grad")
    __array_ufunc__ = None  # ndarray <op> Var calls Var's reflected operator

    def __init__(self, value, parents=()):
        self.value, self.parents, self.grad = value, parents, None

    shape = property(lambda self: self.value.shape)
    __add__ = __radd__ = lambda a, b: add(a, b)
    __sub__ = lambda a, b: sub(a, b)
    __rsub__ = lambda a, b: sub(b, a)
    __mul__ = __rmul__ = lambda a, b: mul(a, b)
    __getitem__ = lambda a, idx: _op(a.value[idx], a, _scatter, (a.value, idx))


def _op(value, a, fa, xa, b=None, fb=None, xb=None):
    """Record ``value`` if an input is a Var: its parents are ``(input, vjp, arg)``, and
    ``vjp(g, arg)`` is that input's share of the output's gradient ``g``."""
    if type(a) is Var:
        parents = ((a, fa, xa), (b, fb, xb)) if type(b) is Var else ((a, fa, xa),)
    elif type(b) is Var:
        parents = ((b, fb, xb),)
    else:
        return value  # a constant
    out = Var(value, parents)
    _tape.append(out)
    return out


def _val(x):
    return x.value if type(x) is Var else x


def _unb(g, x):
    """``g`` summed down to the shape of ``x`` (undoes numpy broadcasting, e.g. of a bias)."""
    shape = np.shape(x)
    if g.shape == shape:
        return g
    g = g.sum(axis=tuple(range(g.ndim - len(shape))))
    axes = tuple(k for k, n in enumerate(shape) if n == 1 and g.shape[k] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


# VJPs: vjp(g, arg) -> the input's share of the output's gradient g
def _scatter(g, arg):  # of x[idx]
    x, idx = arg
    out = np.zeros_like(x)
    out[idx] = g
    return out


def _neg_unb(g, x): return -_unb(g, x)
def _mul_vjp(g, arg): return _unb(g * arg[1], arg[0])  # arg = (this input, the other)
def _mm_left(g, y): return g @ y.T
def _mm_right(g, x): return x.T @ g
def _sigmoid_vjp(g, y): return g * y * (1.0 - y)
def _tanh_vjp(g, y): return g * (1.0 - y * y)
def _sum_vjp(g, x): return np.broadcast_to(g, x.shape)
def _slice_vjp(g, idx): return g[idx]


def add(a, b):
    av, bv = _val(a), _val(b)
    return _op(av + bv, a, _unb, av, b, _unb, bv)


def sub(a, b):
    av, bv = _val(a), _val(b)
    return _op(av - bv, a, _unb, av, b, _neg_unb, bv)


def mul(a, b):
    av, bv = _val(a), _val(b)
    return _op(av * bv, a, _mul_vjp, (av, bv), b, _mul_vjp, (bv, av))


def matmul(a, b):  # 2-D @ 2-D
    av, bv = _val(a), _val(b)
    return _op(av @ bv, a, _mm_left, bv, b, _mm_right, av)


def sigmoid(x):
    y = 1.0 / (1.0 + np.exp(-_val(x)))
    return _op(y, x, _sigmoid_vjp, y)


def tanh(x):
    y = np.tanh(_val(x))
    return _op(y, x, _tanh_vjp, y)


def sum(x):  # the sum of all elements, like np.sum(x) (shadows the builtin here)
    v = _val(x)
    return _op(v.sum(), x, _sum_vjp, v)


def concatenate(xs, axis=0):
    vals = [_val(x) for x in xs]
    out, lo, parents = np.concatenate(vals, axis), 0, []
    for x, v in zip(xs, vals):
        idx = (slice(None),) * axis + (slice(lo, lo + v.shape[axis]),)
        lo += v.shape[axis]
        if type(x) is Var:
            parents.append((x, _slice_vjp, idx))
    if not parents:
        return out
    _tape.append(out := Var(out, tuple(parents)))
    return out


def backward(loss):
    """Add d loss / d leaf to each leaf's ``.grad`` (None counts as 0); empties the tape."""
    loss.grad = np.ones_like(loss.value)
    try:
        for node in reversed(_tape):
            g, node.grad = node.grad, None
            if g is not None:
                for parent, vjp, arg in node.parents:
                    gp = vjp(g, arg)
                    parent.grad = gp if parent.grad is None else parent.grad + gp
    finally:
        _tape.clear()
