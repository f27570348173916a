"""Tests of the gradient test kit itself (autograd_mini.testing): it must pass right gradients
and, more importantly, catch wrong ones, and its strategies must keep their promises."""
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

import autograd_mini as am
from autograd_mini.testing import (
    DOMAINS, GradcheckError, arrays, broadcastable_shapes, gradcheck, gradgradcheck, register_profiles, shapes,
)


# --- user primitives, right and wrong ----------------------------------------------------------

@am.primitive
def cube_wrong(x):
    return x ** 3


am.defvjp(cube_wrong, lambda g, ans, x: 2 * g * x ** 2)  # should be 3 g x^2


@am.primitive
def cube_right(x):
    return x ** 3


am.defvjp(cube_right, lambda g, ans, x: 3 * g * x ** 2)


@am.primitive
def double_scalar_vjp(x):
    return 2 * x


am.defvjp(double_scalar_vjp, lambda g, ans, x: 2 * am.sum(g))  # wrong shape: a scalar


@am.primitive
def double_row_vjp(x):
    return 2 * x


am.defvjp(double_row_vjp, lambda g, ans, x: am.reshape(2 * g, (1,) + g.shape))  # wrong shape: extra axis


@am.primitive
def double_affine_vjp(x):
    return 2 * x


# Right for any nonzero cotangent, but not linear in g: a zero cotangent must give zero.
am.defvjp(double_affine_vjp, lambda g, ans, x: 2 * g + float(np.all(am.Tensor(g).value == 0)))


@am.primitive
def to_float32(x):
    return x.astype(np.float32)


am.defvjp(to_float32, lambda g, ans, x: g)


# Second order: cube's VJP 3 g square(x) is right, but square's own VJP is wrong (g x instead of
# 2 g x), so the derivative of cube's VJP, i.e. cube's second derivative, is wrong.
@am.primitive
def square_wrong(x):
    return x ** 2


am.defvjp(square_wrong, lambda g, ans, x: g * x)


@am.primitive
def cube_via_wrong_square(x):
    return x ** 3


am.defvjp(cube_via_wrong_square, lambda g, ans, x: 3 * g * square_wrong(x))


@am.primitive
def square_right(x):
    return x ** 2


am.defvjp(square_right, lambda g, ans, x: 2 * g * x)


@am.primitive
def cube_via_right_square(x):
    return x ** 3


am.defvjp(cube_via_right_square, lambda g, ans, x: 3 * g * square_right(x))


# --- gradcheck passes on right gradients ----------------------------------------------------

def test_gradcheck_passes_on_builtin_ops():
    x = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
    W = np.array([[0.3, -0.2], [0.1, 0.4], [-0.5, 0.6]])
    assert gradcheck(lambda x, W: am.tanh(x @ W), x, W) is True
    assert gradcheck(lambda x: am.sum(am.exp(x) * x, axis=1), x) is True
    assert gradcheck(cube_right, x) is True


def test_gradcheck_accepts_floats_ints_float32_and_checks_in_float64():
    seen = []

    def f(x, y):
        seen.append((x.dtype, y.dtype))
        return am.tanh(x) * y

    assert gradcheck(f, np.float32([0.5, -1.0]), 2.0) is True
    assert gradcheck(f, np.array([1, 2]), [3, 4]) is True  # ints and lists are cast as well
    assert seen and all(a == np.float64 and b == np.float64 for a, b in seen)


def test_gradcheck_tuple_and_list_outputs_are_flattened():
    x = np.array([0.5, -1.0, 2.0])
    y = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert gradcheck(lambda x, y: (am.exp(x), am.sum(y * y), y), x, y)
    assert gradcheck(lambda x, y: [am.tanh(x), x * 2.0], x, y)  # y unused: its gradient is zero
    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(lambda x, y: (am.exp(x), cube_wrong(x)), x, y)


def test_gradcheck_does_not_modify_its_inputs():
    x = np.array([0.5, -1.0, 2.0])
    before = x.copy()
    gradcheck(am.tanh, x)
    np.testing.assert_array_equal(x, before)


# --- gradcheck catches wrong gradients -------------------------------------------------------

def test_gradcheck_catches_a_wrong_vjp_and_says_where():
    x = np.array([[1.0, -2.0, 0.5], [3.0, 1.5, -1.0]])
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda x: cube_wrong(x).sum(), x)
    err = info.value
    assert isinstance(err, AssertionError)
    # The output is a scalar, so analytic = 2 v x^2 and numeric = 3 v x^2 for the one cotangent v:
    # the worst element is the largest |x|, at (1, 0), and every element fails.
    assert err.input_index == 0
    assert err.element_index == (1, 0)
    assert err.analytic / err.numeric == pytest.approx(2 / 3, rel=1e-6)
    v = np.random.default_rng(0).standard_normal(())
    assert err.numeric == pytest.approx(3 * v * 9.0, rel=1e-6)
    assert err.error == pytest.approx(abs(v) * 9.0, rel=1e-6)
    assert err.n_failed == 6
    msg = str(err)
    assert "input 0" in msg and "element (1, 0)" in msg
    assert f"{err.analytic:.10g}" in msg and f"{err.numeric:.10g}" in msg
    assert f"{err.error:.10g}" in msg
    assert "6 element(s) failed" in msg


def test_gradcheck_names_the_failing_input_among_several():
    x = np.array([0.5, 1.0])
    y = np.array([2.0, -1.0, 1.5])
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda x, y: am.sum(x) * cube_wrong(y), x, y)
    assert info.value.input_index == 1
    assert "input 1" in str(info.value)
    assert info.value.element_index in {(0,), (1,), (2,)}


def test_gradcheck_on_a_0d_input_reports_the_empty_index():
    with pytest.raises(GradcheckError, match=r"element \(\)"):
        gradcheck(cube_wrong, 2.0)


def test_gradcheck_catches_a_gradient_of_the_wrong_shape():
    x = np.array([0.5, -1.0, 2.0])
    with pytest.raises(GradcheckError, match=r"shape \(\).*shape \(3,\)"):
        gradcheck(double_scalar_vjp, x)
    with pytest.raises(GradcheckError, match=r"shape \(1, 3\).*shape \(3,\)"):
        gradcheck(double_row_vjp, x)


def test_gradcheck_catches_a_vjp_that_is_not_linear_in_g():
    x = np.array([0.5, -1.0, 2.0])
    y = am.Tensor(x, requires_grad=True)
    assert np.allclose(am.gradients(double_affine_vjp(y), [y], seed=np.ones(3))[0], 2.0)  # right for g != 0
    with pytest.raises(GradcheckError, match="zero cotangent"):
        gradcheck(double_affine_vjp, x)


def test_gradcheck_insists_on_float64_outputs():
    with pytest.raises(GradcheckError, match="float32"):
        gradcheck(to_float32, np.array([1.0, 2.0]))


def test_gradcheck_refuses_non_tensor_and_non_finite_outputs():
    with pytest.raises(GradcheckError, match="must return a Tensor"):
        gradcheck(lambda x: x.value * 2, np.array([1.0]))
    with pytest.raises(GradcheckError, match="non-finite"), np.errstate(divide="ignore"):
        gradcheck(am.log, np.array([0.0, 1.0]))


def test_gradcheck_catches_a_gradient_that_does_not_flow():
    # detach cuts the graph: analytic zero, numeric nonzero.
    with pytest.raises(GradcheckError, match="analytic 0 != numeric"):
        gradcheck(lambda x: x.detach() * x.detach(), np.array([2.0]))


# --- gradgradcheck ---------------------------------------------------------------------------

def test_gradgradcheck_passes_on_right_second_derivatives():
    x = np.array([0.5, -1.0, 2.0])
    assert gradgradcheck(cube_via_right_square, x)
    assert gradgradcheck(lambda x, W: am.tanh(W @ x), x, np.ones((2, 3)) * 0.3)
    assert gradgradcheck(lambda x: x * 3.0, x)  # linear: zero second derivative


def test_gradgradcheck_catches_a_wrong_second_derivative():
    x = np.array([0.5, -1.0, 2.0])
    assert gradcheck(cube_via_wrong_square, x)  # the first derivative is right...
    with pytest.raises(GradcheckError) as info:  # ...its derivative is not: 3 x instead of 6 x
        gradgradcheck(cube_via_wrong_square, x)
    err = info.value
    assert "gradgradcheck" in str(err)
    assert err.input_index == 0
    assert err.analytic / err.numeric == pytest.approx(0.5, rel=1e-5)


def test_gradgradcheck_refuses_a_vjp_written_with_raw_numpy():
    @am.primitive
    def sine(x):
        return np.sin(x)

    am.defvjp(sine, lambda g, ans, x: g * np.cos(x))  # raw numpy on x: not differentiable
    x = np.array([0.5, 1.0])
    assert gradcheck(sine, x)
    with pytest.raises(TypeError, match="backward pass of sine"):
        gradgradcheck(sine, x)


# --- strategies ----------------------------------------------------------------------------

@given(shapes())
def test_shapes_defaults(shape):
    assert isinstance(shape, tuple) and 0 <= len(shape) <= 3
    assert all(1 <= n <= 4 for n in shape)


@given(shapes(min_dims=2, max_dims=2, min_side=3, max_side=5))
def test_shapes_bounds(shape):
    assert len(shape) == 2 and all(3 <= n <= 5 for n in shape)


@given(st.data(), shapes(), st.floats(-5, 0), st.floats(0.1, 5),
       st.lists(st.floats(-5, 5), max_size=3), st.floats(0, 0.5))
def test_arrays_respect_bounds_and_gaps(data, shape, low, width, away, gap):
    high = low + width
    try:
        strategy = arrays(shape, low=low, high=high, away_from=away, gap=gap)
    except InvalidArgument:
        # Only allowed when the bands around `away` cover [low, high]: no candidate point (the
        # bounds and the band edges) is clearly clear of every band.
        pad = gap * (1 + 1e-6) + 1e-9
        candidates = [low, high] + [p + s * pad for p in away for s in (-1, 1)]
        assert not any(low <= c <= high and all(abs(c - p) >= pad for p in away) for c in candidates)
        return
    x = data.draw(strategy)
    assert x.dtype == np.float64 and x.shape == shape
    assert np.all(np.isfinite(x))
    assert np.all((x >= low) & (x <= high))
    for p in away:
        assert np.all(np.abs(x - p) >= gap), (p, x)


@given(arrays(shapes(max_dims=2), low=-1.0, high=1.0, away_from=(0.0, 0.5), gap=0.2))
def test_arrays_shape_strategy_and_kinks(x):
    assert np.all(np.abs(x) >= 0.2) and np.all(np.abs(x - 0.5) >= 0.2)
    assert np.all(np.abs(x) <= 1.0)


@given(arrays(shapes(max_dims=3), low=-3.0, high=3.0, away_from=(0.0,), gap=0.04, unique=True))
def test_arrays_unique_has_no_near_ties(x):
    flat = np.sort(x.ravel())
    assert np.all(np.diff(flat) >= 0.04)
    assert np.all(np.abs(flat) >= 0.04) and np.all(np.abs(flat) <= 3.0)


@settings(max_examples=5)
@given(st.data())
def test_unique_domains_fit_the_largest_default_shapes(data):
    # The tie-free domains must hold a 4x4x4 array, and two of them drawn together (maximum).
    for name in ["max", "maximum", "minimum"]:
        x = data.draw(arrays((2, 4, 4, 4), **DOMAINS[name]), label=name)
        assert len(np.unique(x)) == x.size
        assert np.min(np.diff(np.sort(x.ravel()))) >= DOMAINS[name]["gap"]


def test_arrays_reject_impossible_requests():
    with pytest.raises(InvalidArgument, match="nothing in"):
        arrays((2,), low=-0.1, high=0.1, away_from=(0.0,), gap=0.5)
    with pytest.raises(InvalidArgument, match="do not fit"):
        arrays((50,), low=0.0, high=1.0, gap=0.1, unique=True)
    with pytest.raises(InvalidArgument, match="low <= high"):
        arrays((2,), low=1.0, high=0.0)


def test_arrays_reach_both_sides_of_a_gap():
    # The excluded band is skipped, not filtered: values on both sides remain reachable.
    from hypothesis import find
    find(arrays((1,), low=-1.0, high=1.0, away_from=(0.0,), gap=0.5), lambda a: a[0] < 0)
    find(arrays((1,), low=-1.0, high=1.0, away_from=(0.0,), gap=0.5), lambda a: a[0] > 0)


@given(broadcastable_shapes())
def test_broadcastable_shapes_broadcast(pair):
    a, b = pair
    assert len(pair) == 2
    out = np.broadcast_shapes(a, b)
    assert len(a) <= 3 and len(b) <= 3 and all(1 <= n <= 4 for n in a + b)
    np.add(np.zeros(a), np.zeros(b))  # numpy agrees
    assert out == np.broadcast(np.empty(a), np.empty(b)).shape


@given(broadcastable_shapes(num_shapes=3, max_dims=2, max_side=3))
def test_broadcastable_shapes_three(shapes3):
    assert len(shapes3) == 3
    np.broadcast_shapes(*shapes3)


def test_broadcastable_shapes_do_differ_sometimes():
    from hypothesis import find
    find(broadcastable_shapes(), lambda p: p[0] != p[1] and len(p[0]) > 0 and len(p[1]) > 0)


@settings(max_examples=10)
@given(st.data())
def test_domains_give_inputs_the_ops_accept(data):
    for name, op in [("log", am.log), ("sqrt", am.sqrt), ("relu", am.relu), ("abs", am.abs)]:
        x = data.draw(arrays((3,), **DOMAINS[name]), label=name)
        assert gradcheck(op, x)
    assert np.all(data.draw(arrays((4,), **DOMAINS["log"])) > 0)
    assert np.all(np.abs(data.draw(arrays((4,), **DOMAINS["divide_denominator"]))) >= 0.5)
    assert np.all(data.draw(arrays((4,), **DOMAINS["power_base"])) > 0)
    x = data.draw(arrays((4,), **DOMAINS["clip"]))
    assert np.all(np.abs(np.abs(x) - 1.0) >= 0.05)
    x = data.draw(arrays((6,), **DOMAINS["max"]))
    assert len(set(x.tolist())) == 6


def test_domains_have_the_documented_entries():
    for name in ["log", "sqrt", "divide_denominator", "power_base", "relu", "abs", "clip", "max", "maximum"]:
        arrays((2,), **DOMAINS[name])  # valid keyword arguments of arrays
    assert DOMAINS["log"]["low"] > 0 and DOMAINS["sqrt"]["low"] > 0 and DOMAINS["power_base"]["low"] > 0
    assert 0.0 in DOMAINS["relu"]["away_from"] and 0.0 in DOMAINS["abs"]["away_from"]
    assert DOMAINS["maximum"]["unique"] and DOMAINS["max"]["unique"]


# --- profiles --------------------------------------------------------------------------------

def test_register_profiles():
    register_profiles()
    ci = settings.get_profile("ci")
    dev = settings.get_profile("dev")
    assert ci.max_examples == 25 and ci.deadline is None and ci.derandomize
    from hypothesis import HealthCheck
    assert HealthCheck.too_slow in ci.suppress_health_check
    assert dev.max_examples == 100 and dev.deadline is None


def test_import_autograd_mini_does_not_import_hypothesis():
    code = "import sys, autograd_mini; assert 'hypothesis' not in sys.modules; assert 'autograd_mini.testing' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)

