"""The engine's own fuzzer: random programs over the whole primitive table, differentiated by the
engine and compared with central differences (float64).

A program is 3-12 ops drawn from every differentiable primitive that ``autograd_mini`` exports,
applied to values from a pool (the inputs, then every result so far): shapes broadcast, values are
indexed with slices (steps, negative steps), integers, integer arrays (repeats), lists, Tensors,
boolean masks, None and Ellipsis, reduced over axes given as ints, tuples, numpy integers and 0-d
arrays, with and without keepdims, and called through the functions, the operators and the methods,
with constants on either side. Its result is every value it made. Each program is checked for:

- first order: ``gradcheck`` (``am.gradients`` against central differences), then ``.backward()``
  into the leaves' ``.grad`` (twice: it accumulates) against ``am.gradients``, also on a
  ``Tape(keep_grads=True)`` and under ``detect_anomaly`` (the walk takes different paths: with
  ``wrt`` or not, summed uses of a weight and shared slice buffers, or every edge's VJP one by
  one), and the gradient with respect to an intermediate value against that of a leaf standing
  in for it;
- dtype: the same program on float32 leaves gives float32 gradients (constants upcast it);
- for a sample, second order: ``gradgradcheck`` (the derivatives of the VJPs with respect to the
  inputs and to the cotangent).

Values stay away from kinks (relu, abs, clip's bounds) and ties (max, maximum, minimum) by
``MARGIN``, inside each op's domain (log, sqrt, power's base get a positive argument, a divisor stays
away from 0) and within ``BOUND``, so that central differences are exact enough; the choices are made
once, when the program is drawn, so every evaluation runs the same program.

Under the "ci" profile (tests/conftest.py) it runs 200 derandomized programs in a few seconds; run
many more, random ones, with ``HYPOTHESIS_PROFILE=dev AM_FUZZ_EXAMPLES=5000 python -m pytest -q
tests/test_fuzz.py`` (a few minutes).
"""
from __future__ import annotations

import contextlib
import operator
import os
import warnings
from typing import Any, Callable

import numpy as np
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

import autograd_mini as am
from autograd_mini.testing import gradcheck, gradgradcheck

MARGIN = 1e-2  # distance from kinks and ties
BOUND = 50.0   # every value of a program stays within +-BOUND
MAX_SIZE = 48  # elements per value


def _size(shape: tuple) -> int:
    return int(np.prod(shape, dtype=np.int64))


class Program:
    """The ops drawn, replayable on any inputs: ``steps`` are (label, fn, argument ids)."""

    def __init__(self, n_inputs: int) -> None:
        self.n_inputs = n_inputs
        self.steps: list[tuple[str, Callable, tuple[int, ...]]] = []
        self.consts: list[Any] = []

    def run(self, *inputs: Any, cut: tuple[int, Any] | None = None) -> list[Any]:
        """Every step's value. ``cut=(k, t)``: step k's value is replaced by ``t`` for the steps
        after it (the program cut at k, t a new leaf)."""
        pool = list(inputs)
        for k, (_, fn, ids) in enumerate(self.steps):
            pool.append(fn(*[pool[i] for i in ids]))
            if cut is not None and k == cut[0]:
                pool[-1] = cut[1]
        return pool[self.n_inputs:]

    def __str__(self) -> str:
        lines = [f"c{k} = {c!r}" for k, c in enumerate(self.consts)]
        lines += [f"v{self.n_inputs + k} = {label}" for k, (label, _, _) in enumerate(self.steps)]
        return "\n".join(lines)


class Builder:
    """Draws a program from a seeded random generator: each op builder looks at the pool's
    current values, draws its arguments and adds a step, or declines (returns False) when it does
    not apply. The same seed gives the same program, and fewer ops a prefix of it (so hypothesis,
    which draws the seed and the number of ops, shrinks a failure to its shortest program)."""

    def __init__(self, rng: np.random.Generator, inputs: list[np.ndarray]) -> None:
        self.rng = rng
        self.vals = list(inputs)
        self.program = Program(len(inputs))

    # --- drawing helpers -----------------------------------------------------------------
    def int(self, lo: int, hi: int) -> int:
        """An integer in [lo, hi]."""
        return int(self.rng.integers(lo, hi + 1))

    def flag(self, p: int = 2) -> bool:
        """True with probability 1/p."""
        return self.int(0, p - 1) == 0

    def choice(self, options: Any) -> Any:
        options = list(options)
        return options[self.int(0, len(options) - 1)]

    def perm(self, items: Any) -> list:
        items = list(items)
        return [items[k] for k in self.rng.permutation(len(items))]

    def pick(self, pred: Callable[[np.ndarray], bool] = lambda v: True) -> int | None:
        """A pool value that passes ``pred``: often the newest (deep chains), else any."""
        ids = [i for i, v in enumerate(self.vals) if pred(v)]
        if not ids:
            return None
        return ids[-1] if self.flag(3) else self.choice(ids)

    def uniform(self, shape: tuple, low: float, high: float) -> np.ndarray:
        return self.rng.uniform(low, high, size=shape)

    def bools(self, shape: tuple) -> np.ndarray:
        return self.rng.random(size=shape) < 0.5

    def const(self, shape: tuple, low: float = -2.0, high: float = 2.0, away_from: tuple = (),
              gap: float = 0.0) -> np.ndarray:
        """Uniform in [low, high], a few elements exact small integers, at least ``gap`` from
        each point of ``away_from``."""
        x = self.uniform(shape, low, high)
        special = self.rng.random(size=shape) < 0.1
        x = np.where(special, np.clip(self.rng.integers(-1, 3, size=shape), low, high), x)
        for p in away_from:
            near = np.abs(x - p) < gap
            x = np.where(near, p + np.where(x >= p, gap, -gap) * (1 + self.rng.random(size=shape)), x)
        return x

    def name(self, c: Any) -> str:
        """A constant's name in the printed program."""
        self.program.consts.append(c)
        return f"c{len(self.program.consts) - 1}"

    def v(self, i: int) -> str:
        return f"v{i}"

    def related_shape(self, shape: tuple) -> tuple:
        """A shape that broadcasts with ``shape``: some axes 1, leading axes dropped or added."""
        s = [1 if n > 1 and self.flag(3) else n for n in shape]
        if s and self.flag(3):
            s = s[self.int(0, len(s)):]
        elif self.flag(4):  # (not after dropping: a new axis would line up with a kept one)
            s = [self.int(1, 2)] + s
        return tuple(s)

    def axis(self, ndim: int, tuples: bool = True, none: bool = True) -> Any:
        """An axis as numpy takes it: None, an int (maybe negative), a tuple, a numpy integer or
        a 0-d integer array."""
        kinds = (["none"] if none or ndim == 0 else []) + (["int", "int", "np", "0d"] if ndim else [])
        if tuples and ndim:
            kinds.append("tuple")
        kind = self.choice(kinds)
        if kind == "none":
            return None
        if kind == "tuple":
            axes = self.perm(range(ndim))[:self.int(0, ndim)]
            return tuple(a - ndim if self.flag(3) else a for a in axes)
        a = self.int(-ndim, ndim - 1)
        return a if kind == "int" else np.int64(a) if kind == "np" else np.array(a)

    # --- adding a step ---------------------------------------------------------------------
    def add(self, label: str, fn: Callable, ids: tuple[int, ...], check: Callable | None = None) -> bool:
        """Run ``fn`` on the current values; keep it if the result is a float64 Tensor inside the
        bounds (and ``check(result)`` holds), else decline."""
        with np.errstate(all="ignore"), warnings.catch_warnings():  # an op this declines may warn
            warnings.simplefilter("ignore", RuntimeWarning)
            out = fn(*[am.Tensor(self.vals[i]) for i in ids])
        assert isinstance(out, am.Tensor), f"{label} gave {type(out).__name__}, not a Tensor"
        val = out.value
        assert val.dtype == np.float64, f"{label} gave dtype {val.dtype} on float64 values"
        if val.size > MAX_SIZE or not np.all(np.isfinite(val)) or (val.size and np.abs(val).max() > BOUND):
            return False
        if check is not None and not check(val):
            return False
        self.vals.append(val)
        self.program.steps.append((label, fn, ids))
        return True


def _far(a: Any, b: Any) -> bool:
    """Are a and b at least MARGIN apart everywhere (after broadcasting)?"""
    return bool(np.all(np.abs(np.asarray(a) - np.asarray(b)) >= MARGIN))


def _broadcastable(*shapes: tuple) -> bool:
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        return False
    return True


def _away_from_zero(v: np.ndarray) -> bool:
    """Fit to divide by: |v| >= 0.3 everywhere."""
    return v.size == 0 or np.abs(v).min() >= 0.3


def _positive(v: np.ndarray, low: float = 0.2) -> bool:
    return v.size == 0 or v.min() >= low


def _positive_guard(B: Builder, i: int, label_of: Callable[[str], str], op: Callable) -> tuple[str, Callable]:
    """``op(v)`` if v is inside the domain (>= 0.2), else ``op(v * v + 0.5)``."""
    if _positive(B.vals[i]):
        return label_of(B.v(i)), op
    return label_of(f"({B.v(i)} * {B.v(i)} + 0.5)"), lambda a: op(a * a + 0.5)


# --- unary element-wise ----------------------------------------------------------------------

UNARY = {
    "negative": [("am.negative({})", am.negative), ("-{}", operator.neg)],
    "exp": [("am.exp({})", am.exp), ("{}.exp()", lambda a: a.exp())],
    "tanh": [("am.tanh({})", am.tanh), ("{}.tanh()", lambda a: a.tanh())],
    "sigmoid": [("am.sigmoid({})", am.sigmoid), ("{}.sigmoid()", lambda a: a.sigmoid())],
    "log": [("am.log({})", am.log), ("{}.log()", lambda a: a.log())],
    "sqrt": [("am.sqrt({})", am.sqrt)],
    "abs": [("am.abs({})", am.abs), ("abs({})", abs)],
    "absolute": [("am.absolute({})", am.absolute)],
    "relu": [("am.relu({})", am.relu)],
}


def b_unary(name: str) -> Callable[[Builder], bool]:
    def build(B: Builder) -> bool:
        i = B.pick()
        fmt, op = B.choice(UNARY[name])
        if name in ("log", "sqrt"):
            label, fn = _positive_guard(B, i, fmt.format, op)
            return B.add(label, fn, (i,))
        if name in ("abs", "absolute", "relu") and not _far(B.vals[i], 0.0):
            return False  # the kink
        if name == "exp" and B.vals[i].size and B.vals[i].max() > 3.5:
            return False
        return B.add(fmt.format(B.v(i)), op, (i,))
    return build


# --- binary element-wise ---------------------------------------------------------------------

BINARY = {
    "add": [("am.add({}, {})", am.add), ("{} + {}", operator.add)],
    "subtract": [("am.subtract({}, {})", am.subtract), ("{} - {}", operator.sub)],
    "multiply": [("am.multiply({}, {})", am.multiply), ("{} * {}", operator.mul)],
    "divide": [("am.divide({}, {})", am.divide), ("{} / {}", operator.truediv)],
    "maximum": [("am.maximum({}, {})", am.maximum)],
    "minimum": [("am.minimum({}, {})", am.minimum)],
}


def _operand(B: Builder, i: int, away_from_zero: bool = False) -> tuple[str, Any]:
    """A second operand for v_i: a pool value that broadcasts with it, a numpy constant or a
    Python float. Returns ("pool", j), ("const", array) or ("float", x)."""
    shape = B.vals[i].shape
    kind = B.choice(["pool", "const", "float"])
    if kind == "pool":
        ok = []
        for j, v in enumerate(B.vals):
            try:
                if _size(np.broadcast_shapes(shape, v.shape)) <= MAX_SIZE:
                    ok.append(j)
            except ValueError:
                pass
        return "pool", B.choice(ok)  # v_i itself is always there
    kw = dict(away_from=(0.0,), gap=0.3) if away_from_zero else {}
    if kind == "const":
        c = B.const(B.related_shape(shape), **kw)
        return "const", c.tolist() if c.ndim and c.size and B.flag(5) else c  # sometimes a Python list
    return "float", float(B.const((), **kw))


def b_binary(name: str) -> Callable[[Builder], bool]:
    def build(B: Builder) -> bool:
        i = B.pick()
        fmt, op = B.choice(BINARY[name])
        kind, other = _operand(B, i, away_from_zero=(name == "divide"))
        swap = B.flag()
        tie = name in ("maximum", "minimum")
        if kind == "pool":
            j = other
            if tie and j != i and not _far(B.vals[i], B.vals[j]):
                return False
            ids = (j, i) if swap else (i, j)
            if name == "divide" and not _away_from_zero(B.vals[ids[1]]):
                a, b = B.v(ids[0]), B.v(ids[1])
                return B.add(fmt.format(a, f"({b} * {b} + 0.5)"), lambda x, y: op(x, y * y + 0.5), ids)
            return B.add(fmt.format(B.v(ids[0]), B.v(ids[1])), op, ids)
        c = other
        if tie and not _far(B.vals[i], c):
            return False
        cname = B.name(c)
        if swap:  # the constant on the left: numpy hands over to the Tensor's reflected operator
            if name == "divide" and not _away_from_zero(B.vals[i]):
                return B.add(fmt.format(cname, f"({B.v(i)} * {B.v(i)} + 0.5)"), lambda x: op(c, x * x + 0.5), (i,))
            return B.add(fmt.format(cname, B.v(i)), lambda x: op(c, x), (i,))
        return B.add(fmt.format(B.v(i), cname), lambda x: op(x, c), (i,))
    return build


def b_power(B: Builder) -> bool:
    i = B.pick()
    x = B.v(i)
    kind = B.choice(["const_int", "const_real", "const_base", "tensor", "exact_int_tensor", "zeros_in_base",
                     "zero_base_at_point", "zero_exponent_at_point"])
    if kind == "zero_base_at_point":  # a base that is exactly 0 here and moves with the inputs
        snap = np.where(B.bools(B.vals[i].shape), B.vals[i], 0.0)
        sname = B.name(snap)
        y = B.choice([0.0, 1.0, 2.0, 3.0]) if B.flag() else B.uniform(B.related_shape(B.vals[i].shape), 0, 3).round()
        yname = repr(y) if isinstance(y, float) else B.name(y)
        return B.add(f"({x} - {sname}) ** {yname}", lambda a: (a - snap) ** y, (i,))
    if kind == "const_int":  # any base: x ** 0, x ** 2, ... (also x ** array of integers)
        y = B.choice([0, 1, 2, 3, 0.0, 2.0]) if B.flag() else B.uniform(B.related_shape(B.vals[i].shape), 0, 3).round()
        yname = repr(y) if isinstance(y, (int, float)) else B.name(y)
        fn = (lambda a: a ** y) if B.flag() else (lambda a: am.power(a, y))
        return B.add(f"{x} ** {yname}", fn, (i,))
    if kind == "const_real":  # a positive base: real exponents, negative ones
        y = B.choice([-1.0, 0.5, -0.5, 1.5]) if B.flag() else B.const(B.related_shape(B.vals[i].shape), -2, 2)
        yname = repr(y) if isinstance(y, float) else B.name(y)
        label, fn = _positive_guard(B, i, lambda s: f"am.power({s}, {yname})", lambda a: am.power(a, y))
        return B.add(label, fn, (i,))
    if kind == "const_base":  # c ** x: the exponent is differentiated
        c = B.choice([2.0, 0.5]) if B.flag() else B.const(B.related_shape(B.vals[i].shape), 0.3, 2.5)
        cname = repr(c) if isinstance(c, float) else B.name(c)
        if B.vals[i].size and np.abs(B.vals[i]).max() > 3:
            return B.add(f"{cname} ** am.tanh({x})", lambda a: c ** am.tanh(a), (i,))
        return B.add(f"{cname} ** {x}", lambda a: c ** a, (i,))
    kind_j, j = _operand(B, i)
    if kind_j != "pool" or B.vals[j].size and np.abs(B.vals[j]).max() > 3:
        return False
    if kind == "zero_exponent_at_point":  # an exponent that is exactly 0 here and moves with the inputs
        snap = np.where(B.bools(B.vals[j].shape), B.vals[j], 0.0)
        sname = B.name(snap)
        label, fn = _positive_guard(B, i, lambda s: f"am.power({s}, v{j} - {sname})", lambda a: a)
        return B.add(label, lambda a, b: am.power(fn(a), b - snap), (i, j))
    if kind == "tensor":  # both differentiated; a positive base
        label, fn = _positive_guard(B, i, lambda s: f"am.power({s}, v{j})", lambda a: a)
        return B.add(label, lambda a, b: am.power(fn(a), b), (i, j))
    k = B.choice([0.0, 1.0, 2.0])
    if kind == "exact_int_tensor":  # an exponent on the graph with exact integer values: y == 0 too
        return B.add(f"{x} ** ((v{j} - v{j}) + {k})", lambda a, b: a ** ((b - b) + k), (i, j))
    # a base with exact zeros (on the graph), an exponent of exact integers on the graph
    mask = B.uniform(B.vals[i].shape, 0, 1).round()
    mname = B.name(mask)
    return B.add(f"({x} * {mname}) ** ((v{j} - v{j}) + {k})", lambda a, b: (a * mask) ** ((b - b) + k), (i, j))


# --- matmul ----------------------------------------------------------------------------------

def b_matmul(B: Builder) -> bool:
    i = B.pick(lambda v: v.ndim >= 1)
    if i is None:
        return False
    s = B.vals[i].shape
    x = B.v(i)
    kind = B.choice(["const_right", "const_left", "self", "pool"])
    if kind == "const_right":
        shape = (s[-1],) if B.flag() else (s[-1], B.int(1, 3))
        c = B.const(shape)
        cname = B.name(c)
        return B.add(f"{x} @ {cname}", lambda a: a @ c, (i,))
    if kind == "const_left":
        n = s[-2] if len(s) >= 2 else s[0]
        shape = (n,) if B.flag() else (B.int(1, 3), n)
        c = B.const(shape)
        cname = B.name(c)
        return B.add(f"{cname} @ {x}", lambda a: c @ a, (i,))
    if kind == "self":
        if len(s) == 1:  # a dot product: a 0-d result
            return B.add(f"{x} @ {x}", lambda a: a @ a, (i,)) if B.flag() else \
                B.add(f"am.matmul({x}, {x})", lambda a, b: am.matmul(a, b), (i, i))
        if B.flag():
            return B.add(f"{x} @ {x}.mT", lambda a: a @ a.mT, (i,))
        return B.add(f"am.matmul(am.swapaxes({x}, -1, -2), {x})", lambda a: am.matmul(am.swapaxes(a, -1, -2), a), (i,))
    ok = []
    for j, v in enumerate(B.vals):
        if v.ndim == 0:
            continue
        try:
            shape = np.matmul(np.zeros(s), np.zeros(v.shape)).shape
        except ValueError:
            continue
        if _size(shape) <= MAX_SIZE:
            ok.append(j)
    if not ok:
        return False
    j = B.choice(ok)
    return B.add(f"{x} @ v{j}", operator.matmul, (i, j))


# --- reductions --------------------------------------------------------------------------------

def _reduced_axes(ndim: int, axis: Any) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple) else (axis,)
    return tuple(sorted(int(a) % ndim for a in axes))


def _no_ties(v: np.ndarray, axis: Any) -> bool:
    """max has a unique winner (by MARGIN) in every slice it reduces, and no slice is empty."""
    axes = _reduced_axes(v.ndim, axis)
    rest = [a for a in range(v.ndim) if a not in axes]
    m = np.transpose(v, rest + list(axes)).reshape(_size(tuple(v.shape[a] for a in rest)),
                                                   _size(tuple(v.shape[a] for a in axes)))
    if m.shape[1] == 0:
        return False
    if m.shape[1] == 1:
        return True
    s = np.sort(m, axis=1)
    return bool(np.all(s[:, -1] - s[:, -2] >= MARGIN))


def _call_reduction(B: Builder, name: str, i: int, axis: Any, keepdims: bool) -> tuple[str, Callable]:
    fn = getattr(am, name)
    x, ax = B.v(i), (B.name(axis) if isinstance(axis, np.ndarray) else repr(axis))
    style = B.choice(["keywords", "positional", "method"] if name in ("sum", "mean", "max") else ["keywords", "positional"])
    if style == "keywords":
        return f"am.{name}({x}, axis={ax}, keepdims={keepdims})", lambda a: fn(a, axis=axis, keepdims=keepdims)
    if style == "positional":
        return f"am.{name}({x}, {ax}, {keepdims})", lambda a: fn(a, axis, keepdims)
    return f"{x}.{name}({ax}, {keepdims})", lambda a: getattr(a, name)(axis, keepdims)


def b_reduction(name: str) -> Callable[[Builder], bool]:
    def build(B: Builder) -> bool:
        i = B.pick()
        v = B.vals[i]
        axis = B.axis(v.ndim)
        if name == "max" and not _no_ties(v, axis):
            return False
        if name == "mean" and not all(v.shape[a] for a in _reduced_axes(v.ndim, axis)):
            return False  # numpy warns: the mean of an empty slice
        label, fn = _call_reduction(B, name, i, axis, B.flag())
        return B.add(label, fn, (i,))
    return build


def b_softmax(name: str) -> Callable[[Builder], bool]:
    def build(B: Builder) -> bool:
        i = B.pick(lambda v: v.ndim >= 1)
        if i is None:
            return False
        fn = getattr(am, name)
        x = B.v(i)
        if B.flag(4):
            return B.add(f"am.{name}({x})", fn, (i,))
        axis = B.axis(B.vals[i].ndim, tuples=False, none=False)
        ax = B.name(axis) if isinstance(axis, np.ndarray) else repr(axis)
        if B.flag():
            return B.add(f"am.{name}({x}, {ax})", lambda a: fn(a, axis), (i,))
        return B.add(f"am.{name}({x}, axis={ax})", lambda a: fn(a, axis=axis), (i,))
    return build


# --- shapes --------------------------------------------------------------------------------------

def _factor_shape(B: Builder, size: int) -> tuple:
    """A random shape with ``size`` elements, 0-3 axes (for reshape)."""
    factors = []
    n, p = size, 2
    while n > 1:
        while n % p == 0:
            factors.append(p)
            n //= p
        p += 1
    ndim = B.int(0 if size == 1 else 1, 3)
    if ndim == 0:
        return ()
    dims = [1] * ndim
    for f in factors:
        dims[B.int(0, ndim - 1)] *= f
    return tuple(dims)


def b_reshape(B: Builder) -> bool:
    i = B.pick()
    v = B.vals[i]
    if v.size == 0:  # an empty shape: one axis of none (no -1: numpy cannot infer it)
        target = tuple(B.int(1, 3) for _ in range(B.int(1, 3)))
        k = B.int(0, len(target) - 1)
        target = target[:k] + (0,) + target[k + 1:]
    else:
        target = _factor_shape(B, v.size)
    if target and v.size and B.flag(3):
        k = B.int(0, len(target) - 1)
        target = target[:k] + (-1,) + target[k + 1:]
    x = B.v(i)
    style = B.choice(["am", "method", "method_star"])
    if style == "am":
        return B.add(f"am.reshape({x}, {target})", lambda a: am.reshape(a, target), (i,))
    if style == "method" or not target:
        return B.add(f"{x}.reshape({target})", lambda a: a.reshape(target), (i,))
    return B.add(f"{x}.reshape(*{target})", lambda a: a.reshape(*target), (i,))


def b_transpose(B: Builder) -> bool:
    i = B.pick()
    nd = B.vals[i].ndim
    x = B.v(i)
    style = B.choice(["none", "axes", "T", "method", "array"])
    if style == "none":
        return B.add(f"am.transpose({x})", am.transpose, (i,))
    if style == "T":
        return B.add(f"{x}.T", lambda a: a.T, (i,))
    axes = tuple(a - nd if B.flag(3) else a for a in B.perm(range(nd)))
    if style == "axes":
        return B.add(f"am.transpose({x}, {axes})", lambda a: am.transpose(a, axes), (i,))
    if style == "array":
        arr = np.array(axes, dtype=np.int64)
        return B.add(f"am.transpose({x}, np.array({axes}))", lambda a: am.transpose(a, arr), (i,))
    return B.add(f"{x}.transpose(*{axes})", lambda a: a.transpose(*axes), (i,))


def b_swapaxes(B: Builder) -> bool:
    i = B.pick(lambda v: v.ndim >= 1)
    if i is None:
        return False
    nd = B.vals[i].ndim
    x = B.v(i)
    if nd >= 2 and B.flag(3):
        return B.add(f"{x}.mT", lambda a: a.mT, (i,))
    a1, a2 = B.int(-nd, nd - 1), B.int(-nd, nd - 1)
    if B.flag(4):
        a1, a2 = np.array(a1), np.int64(a2)
    return B.add(f"am.swapaxes({x}, {a1!r}, {a2!r})", lambda a: am.swapaxes(a, a1, a2), (i,))


def b_broadcast_to(B: Builder) -> bool:
    i = B.pick()
    s = B.vals[i].shape
    target = tuple(B.int(1, 3) if n == 1 and B.flag() else n for n in s)
    target = tuple(B.int(1, 3) for _ in range(B.int(0, 2))) + target
    if _size(target) > MAX_SIZE:
        return False
    return B.add(f"am.broadcast_to({B.v(i)}, {target})", lambda a: am.broadcast_to(a, target), (i,))


def b_unbroadcast(B: Builder) -> bool:
    i = B.pick()
    s = B.vals[i].shape
    target = tuple(1 if B.flag(3) else n for n in s)[B.int(0, len(s)):]
    like = target if B.flag() else np.zeros(target)
    return B.add(f"am.unbroadcast({B.v(i)}, {'' if like is target else 'zeros'}{target})",
                 lambda a: am.unbroadcast(a, like), (i,))


def _slice(B: Builder, n: int) -> slice:
    """A slice that takes something from an axis of n (bounds past the ends, negative steps)."""
    if n == 0:
        return slice(None)
    while True:
        start = None if B.flag(3) else B.int(-n - 1, n + 1)
        stop = None if B.flag(3) else B.int(-n - 1, n + 1)
        sl = slice(start, stop, B.choice([None, 1, 2, -1, -2, 3]))
        if len(range(*sl.indices(n))) > 0:
            return sl


def _int_array(B: Builder, n: int) -> np.ndarray:
    shape = B.choice([(1,), (2,), (3,), (4,), (2, 2), ()])
    return B.rng.integers(-n, n, size=shape).astype(np.int64)


def _index(B: Builder, shape: tuple) -> Any:
    """An index for an array of ``shape``: basic, integer arrays, a mask, a Tensor of integers."""
    nd = len(shape)
    kinds = ["basic", "basic", "zero_d"] + (["int_array", "list", "tensor", "two_arrays", "mask", "empty"] if nd else [])
    kind = B.choice(kinds)
    if kind == "zero_d":
        return B.choice([(), Ellipsis, None, (None, Ellipsis), (Ellipsis, None), True, np.array(True), (None, True)])
    if kind == "basic":
        parts: list[Any] = []
        for n in shape[:B.int(0, nd)]:  # the first k axes; the rest are whole
            parts.append(B.int(-n, n - 1) if n and B.flag(3) else _slice(B, n))
        for _ in range(B.int(0, 2) if B.flag(3) else 0):
            parts.insert(B.int(0, len(parts)), None)
        if len(parts) < nd and B.flag(3):
            parts.insert(B.int(0, len(parts)), Ellipsis)
        if len(parts) == 1 and B.flag():
            return parts[0]
        return tuple(parts)
    if kind == "mask":
        k = B.int(1, nd)
        mask = B.bools(shape[:k])
        return mask if mask.any() else ~mask
    if kind == "two_arrays" and nd >= 2 and shape[0] and shape[1]:
        a, b = _int_array(B, shape[0]), _int_array(B, shape[1])
        try:
            np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            b = b.reshape(-1)[:1]
        return (a, b)
    ax = B.int(0, nd - 1)
    n = shape[ax]
    if n == 0:
        return Ellipsis
    if kind == "empty":
        before = (slice(None),) * ax
        return before + (slice(1, 1),)
    arr = _int_array(B, n)
    if kind == "list":
        arr = arr.reshape(-1).tolist() or [0]
    elif kind == "tensor":
        arr = am.Tensor(arr)
    if ax > 0 and B.flag():
        return (Ellipsis, arr) + (slice(None),) * (nd - ax - 1)
    return (slice(None),) * ax + (arr,)


def b_getitem(B: Builder) -> bool:
    i = B.pick()
    idx = _index(B, B.vals[i].shape)
    iname = B.name(idx)
    if B.flag():
        return B.add(f"{B.v(i)}[{iname}]", lambda a: a[idx], (i,))
    return B.add(f"am.getitem({B.v(i)}, {iname})", lambda a: am.getitem(a, idx), (i,))


def _same_shape_operand(B: Builder, shape: tuple, ok: Callable[[tuple], bool]) -> tuple[str, Any]:
    """A pool value whose shape passes ``ok``, or a constant of ``shape``."""
    ids = [j for j, v in enumerate(B.vals) if ok(v.shape)]
    if ids and not B.flag(3):
        return "pool", B.choice(ids)
    return "const", B.const(shape)


def b_concatenate(B: Builder) -> bool:
    i = B.pick(lambda v: v.ndim >= 1)
    if i is None:
        return False
    s = B.vals[i].shape
    nd = len(s)
    ax = B.int(-nd, nd - 1)
    a = ax % nd
    parts: list[tuple[str, Any]] = [("pool", i)]
    for _ in range(B.int(0, 2)):
        parts.append(_same_shape_operand(
            B, s, lambda t: len(t) == nd and all(t[k] == s[k] for k in range(nd) if k != a)))
    return _join(B, am.concatenate, "concatenate", parts, ax)


def b_stack(B: Builder) -> bool:
    i = B.pick()
    s = B.vals[i].shape
    nd = len(s)
    ax = B.int(-nd - 1, nd)
    parts: list[tuple[str, Any]] = [("pool", i)]
    for _ in range(B.int(0, 2)):
        parts.append(_same_shape_operand(B, s, lambda t: t == s))
    return _join(B, am.stack, "stack", parts, ax)


def _join(B: Builder, join: Any, name: str, parts: list[tuple[str, Any]], ax: int) -> bool:
    """concatenate or stack of pool values and constants, in a random order."""
    parts = B.perm(parts)
    ids = tuple(p for kind, p in parts if kind == "pool")
    consts = {k: p for k, (kind, p) in enumerate(parts) if kind == "const"}
    labels = [B.v(p) if kind == "pool" else B.name(p) for kind, p in parts]

    def fn(*ts: Any) -> Any:
        it = iter(ts)
        return join([consts[k] if k in consts else next(it) for k in range(len(parts))], axis=ax)

    return B.add(f"am.{name}([{', '.join(labels)}], axis={ax})", fn, ids)


def b_where(B: Builder) -> bool:
    i = B.pick()
    s = B.vals[i].shape
    cond = B.bools(B.related_shape(s))
    cname = B.name(cond)
    kind, other = _operand(B, i)
    if not _broadcastable(cond.shape, s, np.shape(B.vals[other] if kind == "pool" else other)):
        return False
    swap = B.flag()
    if kind == "pool":
        ids = (other, i) if swap else (i, other)
        return B.add(f"am.where({cname}, v{ids[0]}, v{ids[1]})", lambda a, b: am.where(cond, a, b), ids)
    oname = B.name(other)
    if swap:
        return B.add(f"am.where({cname}, {oname}, {B.v(i)})", lambda a: am.where(cond, other, a), (i,))
    return B.add(f"am.where({cname}, {B.v(i)}, {oname})", lambda a: am.where(cond, a, other), (i,))


def b_clip(B: Builder) -> bool:
    i = B.pick()
    x = B.vals[i]
    bounds: list[tuple[str, Any]] = []
    for _ in range(2):
        kind = B.choice(["none", "float", "const", "pool"])
        if kind == "none":
            bounds.append(("none", None))
        elif kind == "float":
            bounds.append(("float", float(B.const((), -2, 2))))
        elif kind == "const":
            bounds.append(("const", B.const(B.related_shape(x.shape), -2, 2)))
        else:
            k, j = _operand(B, i)
            bounds.append(("pool", j) if k == "pool" else ("none", None))
    if all(k == "none" for k, _ in bounds):
        return False
    vals = [None if k == "none" else B.vals[p] if k == "pool" else p for k, p in bounds]
    try:
        np.broadcast_shapes(x.shape, *[np.shape(b) for b in vals if b is not None])
    except ValueError:
        return False
    for b in vals:
        if b is not None and not _far(x, b):
            return False
    if vals[0] is not None and vals[1] is not None and not _far(vals[0], vals[1]):
        return False
    ids = (i,) + tuple(p for k, p in bounds if k == "pool")
    labels = [B.v(i)] + ["None" if k == "none" else B.v(p) if k == "pool" else B.name(p) for k, p in bounds]

    def fn(a: Any, *ts: Any) -> Any:
        it = iter(ts)
        lo, hi = (next(it) if k == "pool" else p for k, p in bounds)
        return am.clip(a, lo, hi)

    return B.add(f"am.clip({', '.join(labels)})", fn, ids)


OPS: dict[str, Callable[[Builder], bool]] = {
    **{name: b_unary(name) for name in UNARY},
    **{name: b_binary(name) for name in BINARY},
    "power": b_power,
    "matmul": b_matmul,
    **{name: b_reduction(name) for name in ("sum", "mean", "max", "logsumexp")},
    "softmax": b_softmax("softmax"),
    "log_softmax": b_softmax("log_softmax"),
    "reshape": b_reshape,
    "transpose": b_transpose,
    "swapaxes": b_swapaxes,
    "broadcast_to": b_broadcast_to,
    "unbroadcast": b_unbroadcast,
    "getitem": b_getitem,
    "concatenate": b_concatenate,
    "stack": b_stack,
    "where": b_where,
    "clip": b_clip,
}


def differentiable_exports() -> set[str]:
    """Every name of ``am.__all__`` that is a differentiable primitive or a front door to one."""
    names = set()
    for name in am.__all__:
        obj = getattr(am, name)
        op = getattr(obj, "op", None)
        if isinstance(op, am.record.Op) and op.vjps is not None:
            names.add(name)
    return names | {"concatenate", "stack", "getitem", "unbroadcast"}


def test_the_fuzzer_draws_every_differentiable_primitive():
    assert differentiable_exports() == set(OPS)


def input_shapes(B: Builder) -> list[tuple]:
    """1-3 shapes that broadcast together: 0-3 axes of 1-3 elements (some of them 1; in one
    program in ten an axis of none)."""
    base = tuple(B.int(1, 3) for _ in range(B.int(0, 3)))
    if base and B.flag(10):
        k = B.int(0, len(base) - 1)
        base = base[:k] + (0,) + base[k + 1:]
    return [base] + [B.related_shape(base) for _ in range(B.int(0, 2))]


def build_program(seed: int, n_ops: int) -> tuple[Program, list[np.ndarray]]:
    B = Builder(np.random.default_rng(seed), [])
    inputs = [B.const(s) for s in input_shapes(B)]
    B.vals = list(inputs)
    B.program = Program(len(inputs))
    names = sorted(OPS)
    tries = 0
    while len(B.program.steps) < n_ops and tries < 10 * n_ops:
        tries += 1
        OPS[B.choice(names)](B)
    return B.program, inputs


# Eight times the profile's examples (a program takes ~20 ms): "ci" 200 derandomized ones, a few
# seconds; AM_FUZZ_EXAMPLES sets the number (thousands find more; random unless the profile is ci).
_settings = dict(deadline=None, max_examples=int(os.environ.get("AM_FUZZ_EXAMPLES", 0)) or 8 * settings.default.max_examples,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@settings(**_settings)
@given(st.integers(0, 2 ** 63 - 1), st.integers(3, 12), st.integers(0, 3))
def test_random_programs_differentiate_like_central_differences(seed, n_ops, sample):
    program, inputs = build_program(seed, n_ops)
    assume(len(program.steps) >= 3)
    note(f"inputs: {inputs!r}\n{program}")

    def f(*xs: Any) -> tuple:
        return tuple(program.run(*xs))

    # first order: am.gradients against central differences
    assert gradcheck(f, *inputs)

    # the gradient with respect to an intermediate value (with the inputs, in one call) is the
    # gradient with respect to a leaf that stands in for it, and leaves the inputs' unchanged
    k = seed % len(program.steps)
    leaves = [am.Tensor(x, requires_grad=True) for x in inputs]
    outs = program.run(*leaves)
    out = am.concatenate([am.reshape(o, (-1,)) for o in outs])
    v = np.random.default_rng(1).standard_normal(out.shape)
    if outs[k].requires_grad and not any(o is outs[k] for o in leaves + outs[:k]):  # (unbroadcast may return its input)
        *g_in, g_k = am.gradients(out, leaves + [outs[k]], seed=v, retain_graph=True)
        for g, full in zip(g_in, am.gradients(out, leaves, seed=v)):
            np.testing.assert_allclose(g, full, rtol=1e-9, atol=1e-12)
        stand_in = am.Tensor(outs[k].value, requires_grad=True)
        cut = am.concatenate([am.reshape(o, (-1,)) for o in program.run(*[am.Tensor(x) for x in inputs],
                                                                         cut=(k, stand_in))])
        np.testing.assert_allclose(g_k, am.gradients(cut, [stand_in], seed=v)[0], rtol=1e-9, atol=1e-12)

    # backward() into .grad agrees with am.gradients, and every leaf gets its own dtype
    # (on a Tape that keeps every edge's gradient, or in anomaly mode, backward takes the VJPs
    # one by one: no sums)
    for dtype, mode in ((np.float64, "plain"), (np.float64, "tape"), (np.float64, "anomaly"), (np.float32, "plain")):
        leaves = [am.Tensor(x.astype(dtype), requires_grad=True) for x in inputs]
        with am.Tape(keep_grads=mode == "tape"):
            out = am.concatenate([am.reshape(o, (-1,)) for o in f(*leaves)])
        expected = am.gradients(out, leaves, seed=v.astype(out.dtype), retain_graph=True)
        repeats = 2 if dtype == np.float64 and mode == "plain" else 1  # .grad accumulates over backwards
        with am.detect_anomaly() if mode == "anomaly" else contextlib.nullcontext():
            for r in range(repeats):
                out.backward(v.astype(out.dtype), retain_graph=r < repeats - 1)
        for leaf, g in zip(leaves, expected):
            assert type(g) is np.ndarray and g.dtype == dtype and g.shape == leaf.shape
            g = g * repeats
            if leaf.grad is None:  # no path from this input to the output (as in PyTorch)
                assert not np.any(g)
                continue
            assert type(leaf.grad) is np.ndarray and leaf.grad.dtype == dtype and leaf.grad.shape == leaf.shape
            tol = 1e-9 if dtype == np.float64 else 1e-4
            scale = max(1.0, float(np.abs(g).max())) if g.size else 1.0
            np.testing.assert_allclose(leaf.grad, g, rtol=tol, atol=tol * scale)

    # second order, for a sample: the last value and a weighted sum of all of them
    if sample == 0:
        weights = [np.random.default_rng(k).standard_normal(np.shape(v)) for k, v in
                   enumerate(program.run(*[am.Tensor(x) for x in inputs]))]

        def f2(*xs: Any) -> tuple:
            outs = program.run(*xs)
            total = am.sum(am.concatenate([am.reshape(o * w, (-1,)) for o, w in zip(outs, weights)]))
            return outs[-1], total

        assert gradgradcheck(f2, *inputs)

        # and through the functional face: d/dx <grad(S)(x), u>, grad of grad, against differences
        n = len(inputs)
        us = [np.random.default_rng(10 + k).standard_normal(x.shape) for k, x in enumerate(inputs)]

        def S(*xs: Any) -> Any:
            return f2(*xs)[1]

        def directional(*ts: Any) -> Any:
            gs = am.grad(S, argnums=tuple(range(n)))(*ts)
            return am.Tensor(0.0) + sum(am.sum(g * u) for g, u in zip(gs, us))

        assert gradcheck(directional, *inputs)
