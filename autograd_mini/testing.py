"""Property-based gradient checks for autograd_mini: ``gradcheck``, ``gradgradcheck`` and strategies.

This module is for *users* who add their own differentiable ops. It needs ``hypothesis``
(``pip install autograd-mini[test]``); ``import autograd_mini`` itself never imports it.

Checking your own op
--------------------
Write the op as a :func:`autograd_mini.primitive` on numpy arrays, give it a VJP with
:func:`autograd_mini.defvjp`, then compare the VJP with central differences. The VJP below is
written with autograd_mini functions (``am.sigmoid``), so it can itself be differentiated and
:func:`gradgradcheck` checks the second derivative too:

>>> import numpy as np, autograd_mini as am
>>> from autograd_mini.testing import arrays, gradcheck, gradgradcheck, shapes
>>> @am.primitive
... def softplus(x):
...     return np.logaddexp(0.0, x)
>>> am.defvjp(softplus, lambda g, ans, x: g * am.sigmoid(x))
>>> gradcheck(softplus, np.array([-1.0, 0.5, 2.0]))
True

With hypothesis, check it on many shapes and values (in a test module, put ``@given`` on a
``test_...`` function and let pytest call it):

>>> from hypothesis import given, settings
>>> @settings(max_examples=10, deadline=None)
... @given(arrays(shapes(max_dims=2)))
... def check_softplus(x):
...     assert gradcheck(softplus, x)
...     assert gradgradcheck(softplus, x)
>>> check_softplus()

A wrong VJP is reported with the input, the element, both values and how many elements failed:

>>> @am.primitive
... def cube(x):
...     return x ** 3
>>> am.defvjp(cube, lambda g, ans, x: 2 * g * x ** 2)   # should be 3 * g * x ** 2
>>> gradcheck(lambda x: cube(x).sum(), np.array([1.0, 2.0]))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
autograd_mini.testing.GradcheckError: gradcheck: input 0, element (1,): analytic ... != numeric ...

Ops with kinks or restricted domains need inputs drawn away from trouble; :data:`DOMAINS`
names safe ranges for the built-in ops, as keyword arguments of :func:`arrays`:
``arrays(shape, **DOMAINS["log"])`` draws positive values, ``DOMAINS["relu"]`` keeps values
at least ``gap`` away from the kink at 0. For an op with ties (max, maximum) use
``unique=True``. Load a hypothesis profile in your ``conftest.py`` with
:func:`register_profiles` (``"ci"``: 25 derandomized examples; ``"dev"``: 100).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.extra import numpy as hnp

import autograd_mini as am
from autograd_mini.recording import _grad_mode

__all__ = [
    "GradcheckError", "gradcheck", "gradgradcheck", "shapes", "arrays", "broadcastable_shapes",
    "DOMAINS", "register_profiles",
]


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with the numeric one (or has the wrong shape or dtype).

    When the disagreement is in the values, the attributes say where: ``input_index``,
    ``element_index`` (a tuple), ``analytic``, ``numeric``, ``error`` (the worst ``|a - n|``)
    and ``n_failed`` (how many elements, over all inputs, were out of tolerance). They are
    ``None`` for the other kinds of failure.
    """

    def __init__(self, message: str, *, input_index: int | None = None,
                 element_index: tuple[int, ...] | None = None, analytic: float | None = None,
                 numeric: float | None = None, error: float | None = None,
                 n_failed: int | None = None) -> None:
        super().__init__(message)
        self.input_index = input_index
        self.element_index = element_index
        self.analytic = analytic
        self.numeric = numeric
        self.error = error
        self.n_failed = n_failed


# --- gradcheck -----------------------------------------------------------------------------

def _as_float64(x: Any, i: int, who: str) -> np.ndarray:
    if isinstance(x, am.Tensor):
        x = x.value
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{who}: input {i} has dtype {arr.dtype}; only real numbers can be checked")
    return np.array(arr, dtype=np.float64)  # an owned float64 copy, whatever came in


def _flatten(out: Any, who: str) -> am.Tensor:
    """One Tensor from f's result: a Tensor as is, a tuple/list flattened and concatenated."""
    if isinstance(out, am.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        if not out:
            raise GradcheckError(f"{who}: f returned an empty {type(out).__name__}")
        parts = []
        for k, o in enumerate(out):
            if not isinstance(o, am.Tensor):
                raise GradcheckError(f"{who}: output {k} of f is a {type(o).__name__}, not a Tensor")
            parts.append(am.reshape(o, (-1,)))
        return am.concatenate(parts)
    raise GradcheckError(f"{who}: f must return a Tensor or a tuple/list of Tensors, got {type(out).__name__}")


def _value_of(out: Any) -> np.ndarray:
    """The numeric value of f's result, shaped like :func:`_flatten`'s Tensor."""
    if isinstance(out, (tuple, list)):
        return np.concatenate([np.ravel(o.value if isinstance(o, am.Tensor) else o) for o in out])
    return np.asarray(out.value if isinstance(out, am.Tensor) else out)


def _fmt(x: float) -> str:
    return f"{x:.10g}"


def _check(f: Callable, inputs: Sequence[Any], eps: float, atol: float, rtol: float, seed: int,
           who: str, names: dict[int, str] | None = None) -> bool:
    names = names or {}
    if not inputs:
        raise TypeError(f"{who}: needs at least one input")
    xs = [_as_float64(x, i, who) for i, x in enumerate(inputs)]
    ts = [am.Tensor(x, requires_grad=True) for x in xs]
    out = _flatten(f(*ts), who)
    if out.dtype != np.float64:
        raise GradcheckError(f"{who}: f returned dtype {out.dtype} on float64 inputs; checks need float64 outputs")
    if not np.all(np.isfinite(out.value)):
        raise GradcheckError(f"{who}: f returned non-finite values at these inputs; draw inputs inside the op's domain")
    v = np.random.default_rng(seed).standard_normal(out.shape)

    # Analytic: one reverse pass seeded with v gives grad <f(x), v> for every input at once.
    analytic = [np.asarray(g) for g in am.gradients(out, ts, seed=v, retain_graph=True)]
    for i, (g, x) in enumerate(zip(analytic, xs)):
        if g.shape != x.shape:
            raise GradcheckError(
                f"{who}: the analytic gradient of input {i} has shape {g.shape}, the input has shape "
                f"{x.shape} (does a VJP return a gradient of the wrong shape?)", input_index=i)
        if g.dtype.kind != "f":
            raise GradcheckError(f"{who}: the analytic gradient of input {i} has dtype {g.dtype}", input_index=i)
    zero = [np.asarray(g) for g in am.gradients(out, ts, seed=np.zeros(out.shape), retain_graph=False)]
    for i, g in enumerate(zero):
        nz = np.argwhere(~(g == 0))
        if nz.size:
            idx = tuple(int(k) for k in nz[0])
            raise GradcheckError(
                f"{who}: a zero cotangent gave input {i} a nonzero gradient: element {idx} is "
                f"{_fmt(float(g[idx]))} (a VJP must be linear in g)", input_index=i, element_index=idx)

    # Numeric: central differences of <f(x), v>, one element at a time, on float64 copies.
    def value_at(args: list[np.ndarray]) -> np.ndarray:
        with am.no_grad():
            val = _value_of(f(*[am.Tensor(a, requires_grad=True) for a in args]))
        if val.shape != v.shape:
            raise GradcheckError(f"{who}: f returned shape {val.shape} on perturbed inputs, {v.shape} at the point")
        return val

    failures = []  # (error, input, element, analytic, numeric)
    n_failed = 0
    per_input = {}
    for i, x in enumerate(xs):
        args = list(xs)
        xi = x.copy()
        args[i] = xi
        numeric = np.empty_like(x)
        for idx in np.ndindex(x.shape):
            orig = xi[idx]
            xi[idx] = orig + eps
            plus = value_at(args)
            xi[idx] = orig - eps
            minus = value_at(args)
            xi[idx] = orig
            numeric[idx] = np.sum((plus - minus) * v) / (2 * eps)
        a = analytic[i]
        err = np.abs(a - numeric)
        bad = ~(err <= atol + rtol * np.abs(numeric))  # NaN counts as a failure
        if bad.any():
            n_failed += int(bad.sum())
            per_input[i] = int(bad.sum())
            errs = np.where(np.isnan(err), np.inf, err)
            errs = np.where(bad, errs, -1.0)
            idx = np.unravel_index(int(np.argmax(errs)), x.shape) if x.ndim else ()
            idx = tuple(int(k) for k in idx)
            failures.append((float(errs[idx]), i, idx, float(a[idx]), float(numeric[idx])))
    if failures:
        worst, i, idx, a_val, n_val = max(failures, key=lambda t: t[0])
        counts = ", ".join(f"input {k}: {n} of {xs[k].size}" for k, n in per_input.items())
        raise GradcheckError(
            f"{who}: {names.get(i, f'input {i}')}, element {idx}: analytic {_fmt(a_val)} != numeric {_fmt(n_val)} "
            f"(worst error {_fmt(abs(a_val - n_val))}); {n_failed} element(s) failed ({counts}) "
            f"with eps={eps}, atol={atol}, rtol={rtol}",
            input_index=i, element_index=idx, analytic=a_val, numeric=n_val,
            error=abs(a_val - n_val), n_failed=n_failed)
    return True


def gradcheck(f: Callable, *inputs: Any, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              seed: int = 0) -> bool:
    """Check the reverse-mode gradient of ``f`` at ``inputs`` against central differences.

    Each input (numpy array, float or list; float32 and ints are accepted) is copied to a float64
    array and wrapped in ``Tensor(x, requires_grad=True)``. ``f`` returns a Tensor of any shape,
    or a tuple/list of Tensors (flattened and concatenated). With a fixed cotangent
    ``v = np.random.default_rng(seed).standard_normal(out.shape)`` the analytic gradient of
    ``<f(x), v>`` comes from one :func:`autograd_mini.gradients` call; the numeric one from
    ``(<f(x + eps e_k), v> - <f(x - eps e_k), v>) / (2 eps)`` for every element ``k`` of every
    input, evaluated under :func:`autograd_mini.no_grad`. An element passes when
    ``|a - n| <= atol + rtol * |n|``.

    Also checked: every gradient has its input's shape, a zero cotangent gives a zero gradient,
    and the output is float64 and finite. Returns True; raises :class:`GradcheckError` (an
    ``AssertionError``, so pytest and hypothesis treat it as a test failure) naming the input
    index, the element index, the analytic and numeric values, the worst error and how many
    elements failed.

    >>> import numpy as np, autograd_mini as am
    >>> gradcheck(lambda x, W: am.tanh(W @ x), np.array([0.5, -1.0]), np.eye(2))
    True
    >>> gradcheck(lambda x: (am.exp(x), am.sum(x * x)), np.float32([1.0, 2.0]))  # float32 is fine
    True
    """
    return _check(f, inputs, eps, atol, rtol, seed, "gradcheck")


def gradgradcheck(f: Callable, *inputs: Any, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
                  seed: int = 0) -> bool:
    """Check second derivatives: :func:`gradcheck` of the gradient of ``f``.

    With a cotangent ``v`` (drawn as in :func:`gradcheck`), let ``h(*xs, v)`` be the gradients
    of ``<f(xs), v>`` with respect to all of ``xs``, computed by
    ``autograd_mini.gradients(out, xs, seed=v, create_graph=True)`` — a recorded Tensor —
    flattened and concatenated. Then ``gradcheck(h, *inputs, v)`` compares the derivatives of
    the VJPs with central differences, with respect to the inputs (Hessian-vector products of
    ``<f, v>``) and, as PyTorch's gradgradcheck does, with respect to the cotangent ``v`` (the
    last input in a failure report). It fails when a VJP is right but its own derivative is
    not: one that calls a primitive whose VJP is wrong, or one that uses ``g`` through a path
    that is not differentiated (``g.value``, ``g.detach()``), which every first-order check
    passes. It raises whatever error a VJP raises when it cannot be differentiated (one
    written with raw numpy on tensors refuses with a TypeError).

    >>> import numpy as np, autograd_mini as am
    >>> gradgradcheck(lambda x, y: am.tanh(x) * y ** 3, np.array([0.5, 2.0]), np.array([1.0, -0.5]))
    True
    """
    if not inputs:
        raise TypeError("gradgradcheck: needs at least one input")
    xs = [_as_float64(x, i, "gradgradcheck") for i, x in enumerate(inputs)]
    with am.no_grad():
        shape = _flatten(f(*[am.Tensor(x, requires_grad=True) for x in xs]), "gradgradcheck").shape
    v = np.random.default_rng(seed).standard_normal(shape)

    def h(*ts: am.Tensor) -> am.Tensor:
        *xts, vt = ts  # the cotangent is an input too: the VJPs must be differentiable in it
        with _grad_mode(True):  # gradcheck evaluates h under no_grad; h needs its inner graph
            out = _flatten(f(*xts), "gradgradcheck")
            grads = am.gradients(out, xts, seed=vt, create_graph=True)
            return am.concatenate([am.reshape(g if isinstance(g, am.Tensor) else am.Tensor(g), (-1,))
                                   for g in grads])

    return _check(h, xs + [v], eps, atol, rtol, seed + 1, "gradgradcheck",
                  names={len(xs): "input %d (the cotangent v)" % len(xs)})


# --- hypothesis strategies -------------------------------------------------------------------

def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4) -> st.SearchStrategy:
    """Array shapes (tuples of ints) with ``min_dims..max_dims`` axes of ``min_side..max_side``.

    Small by default: gradcheck evaluates ``f`` twice per input element.
    """
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_shapes(num_shapes: int = 2, min_dims: int = 0, max_dims: int = 3, min_side: int = 1,
                         max_side: int = 4) -> st.SearchStrategy:
    """Tuples of ``num_shapes`` (default: a pair of) shapes that broadcast together.

    >>> from hypothesis import find
    >>> a, b = find(broadcastable_shapes(), lambda p: len(p[0]) == 2 and len(p[1]) == 1)
    >>> np.broadcast_shapes(a, b) is not None
    True
    """
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side,
    ).map(lambda r: tuple(r.input_shapes))


def _allowed(low: float, high: float, away_from: Sequence[float], gap: float) -> list[tuple[float, float]]:
    """[low, high] minus an open ball of radius (a hair over) ``gap`` around each point."""
    intervals = [(float(low), float(high))]
    for p in sorted(float(p) for p in away_from):
        pad = gap * (1 + 1e-9) + 1e-12 * max(1.0, abs(p)) if gap > 0 else 0.0
        a, b = p - pad, p + pad
        kept = []
        for lo, hi in intervals:
            if b <= lo or a >= hi:
                kept.append((lo, hi))
                continue
            if lo <= a:
                kept.append((lo, a))
            if b <= hi:
                kept.append((b, hi))
        intervals = kept
    return intervals



def _mapper(intervals: list[tuple[float, float]]) -> Callable[[float], float]:
    """Map u in [0, total length] monotonically onto the union of the intervals."""
    def to_value(u: float) -> float:
        start = 0.0
        for lo, hi in intervals:
            length = hi - lo
            if u <= start + length:
                return float(min(max(lo + (u - start), lo), hi))
            start += length
        return intervals[-1][1]
    return to_value


def arrays(shape: Any, low: float = -3.0, high: float = 3.0, away_from: Sequence[float] = (),
           gap: float = 0.05, unique: bool = False) -> st.SearchStrategy:
    """float64 arrays of ``shape`` (a tuple, an int or a strategy of shapes) for gradient checks.

    Every element lies in ``[low, high]`` and at least ``gap`` away from each point of
    ``away_from`` (kinks and singularities: 0 for relu/abs, the bounds for clip). Values are
    drawn on the allowed set directly (the excluded bands are skipped, not filtered), so a
    narrow band costs nothing. With ``unique=True`` any two elements also differ by at least
    ``gap`` (no ties for max, maximum, minimum; a small array must fit in the range).

    >>> from hypothesis import find
    >>> x = find(arrays((3,), low=-1.0, high=1.0, away_from=(0.0,), gap=0.25), lambda a: True)
    >>> bool(np.all((np.abs(x) >= 0.25) & (np.abs(x) <= 1.0)))
    True
    """
    if isinstance(shape, st.SearchStrategy):
        return shape.flatmap(lambda s: arrays(s, low, high, away_from, gap, unique))
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(n) for n in shape)
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise InvalidArgument(f"arrays: need finite low <= high, got low={low}, high={high}")
    if gap < 0:
        raise InvalidArgument(f"arrays: gap must be >= 0, got {gap}")
    intervals = _allowed(low, high, away_from, gap)
    if not intervals:
        raise InvalidArgument(f"arrays: nothing in [{low}, {high}] is {gap} away from {tuple(away_from)}")
    total = float(sum(hi - lo for lo, hi in intervals))
    to_value = _mapper(intervals)
    n = int(np.prod(shape, dtype=np.int64))
    if not unique:
        return hnp.arrays(np.float64, shape, elements=st.floats(0.0, total).map(to_value))

    # Unique: draw n free values u in [0, total - (n - 1) sep] and add k * sep to the k-th
    # smallest, so sorted neighbours end up >= sep apart (no rejection, order kept); the map
    # onto the allowed set only widens distances.
    sep = (gap if gap > 0 else 1e-3) * (1 + 1e-9) + 1e-12
    room = total - max(n - 1, 0) * sep
    if room < 0:
        raise InvalidArgument(
            f"arrays: {n} values at least {gap} apart do not fit in [{low}, {high}] minus the gaps; "
            "widen the range or lower gap")

    def spread(u: np.ndarray) -> np.ndarray:
        rank = np.argsort(np.argsort(u, kind="stable"), kind="stable")
        vals = np.minimum(u + rank * sep, total)
        return np.array([to_value(float(t)) for t in vals], dtype=np.float64).reshape(shape)

    return hnp.arrays(np.float64, (n,), elements=st.floats(0.0, room)).map(spread)


#: Safe inputs per op, as keyword arguments of :func:`arrays`: ``arrays(shape, **DOMAINS["log"])``.
DOMAINS: dict[str, dict[str, Any]] = {
    "default": dict(low=-3.0, high=3.0),
    "add": dict(low=-3.0, high=3.0),
    "subtract": dict(low=-3.0, high=3.0),
    "multiply": dict(low=-3.0, high=3.0),
    "negative": dict(low=-3.0, high=3.0),
    "divide_numerator": dict(low=-3.0, high=3.0),
    "divide_denominator": dict(low=-3.0, high=3.0, away_from=(0.0,), gap=0.5),  # 1/y stays moderate
    "power_base": dict(low=0.3, high=2.5),  # positive: x ** y is real for any exponent
    "power_exponent": dict(low=-2.0, high=2.0),
    "exp": dict(low=-3.0, high=3.0),
    "log": dict(low=0.2, high=4.0),   # positive, away from the singularity at 0
    "sqrt": dict(low=0.2, high=4.0),  # the derivative blows up at 0
    "abs": dict(low=-3.0, high=3.0, away_from=(0.0,), gap=0.05),   # kink at 0
    "relu": dict(low=-3.0, high=3.0, away_from=(0.0,), gap=0.05),  # kink at 0
    "tanh": dict(low=-3.0, high=3.0),
    "sigmoid": dict(low=-4.0, high=4.0),
    "matmul": dict(low=-2.0, high=2.0),
    "sum": dict(low=-3.0, high=3.0),
    "mean": dict(low=-3.0, high=3.0),
    # No ties: values pairwise >= 0.02 apart (room for ~150 of them, two 4x4x4 arrays).
    "max": dict(low=-3.0, high=3.0, gap=0.02, unique=True),
    "maximum": dict(low=-3.0, high=3.0, gap=0.02, unique=True),  # draw x and y together
    "minimum": dict(low=-3.0, high=3.0, gap=0.02, unique=True),
    "clip": dict(low=-2.0, high=2.0, away_from=(-1.0, 1.0), gap=0.05),  # for clip(x, -1, 1)
    "where": dict(low=-3.0, high=3.0),
    "logsumexp": dict(low=-5.0, high=5.0),
    "softmax": dict(low=-5.0, high=5.0),
    "log_softmax": dict(low=-5.0, high=5.0),
}


def register_profiles() -> None:
    """Register the hypothesis profiles ``"ci"`` and ``"dev"``; load one with ``settings.load_profile``.

    ``"ci"``: 25 examples, no deadline, derandomized (the same examples every run), the
    too_slow health check off. ``"dev"``: 100 random examples, no deadline.
    """
    settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("dev", max_examples=100, deadline=None)
