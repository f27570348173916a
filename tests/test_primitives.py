"""Every primitive exported by autograd_mini, gradient-checked on hypothesis-drawn inputs.

First order with gradcheck for all of them, second order with gradgradcheck for the smooth
ones (fewer examples), composites (a 2-layer net, an unrolled RNN) and numerical stability.
Shapes stay small (sides <= 4): gradcheck evaluates f twice per input element.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autograd_mini as am
from autograd_mini.testing import DOMAINS, arrays, broadcastable_shapes, gradcheck, gradgradcheck, shapes

# Second-order checks cost a backward pass per function evaluation: run a third as many.
SECOND = settings(max_examples=max(5, settings.default.max_examples // 3))
# Second-order inputs: at most 2 axes of side <= 3.
small_shapes = shapes(max_dims=2, max_side=3)
small_pairs = broadcastable_shapes(max_dims=2, max_side=3)


def draw_pair(data, pair_strategy=None, x_domain=None, y_domain=None):
    if pair_strategy is None:
        pair_strategy = broadcastable_shapes()
    sx, sy = data.draw(pair_strategy, label="shapes")
    x = data.draw(arrays(sx, **(x_domain or DOMAINS["default"])), label="x")
    y = data.draw(arrays(sy, **(y_domain or DOMAINS["default"])), label="y")
    return x, y


def draw_distinct_pair(data, pair_strategy=None):
    """x and y with no element of either within 0.05 of another: no ties anywhere."""
    if pair_strategy is None:
        pair_strategy = broadcastable_shapes(max_side=3)
    sx, sy = data.draw(pair_strategy, label="shapes")
    nx, ny = int(np.prod(sx, dtype=int)), int(np.prod(sy, dtype=int))
    both = data.draw(arrays((nx + ny,), **DOMAINS["maximum"]), label="values")
    return both[:nx].reshape(sx), both[nx:].reshape(sy)


def axis_args(ndim):
    """axis=None, an int (maybe negative) or a tuple of distinct (maybe negative) axes."""
    options = [st.none()]
    if ndim:
        options.append(st.integers(-ndim, ndim - 1))
        options.append(hnp.valid_tuple_axes(ndim))
    return st.one_of(*options)


AXIS_KINDS = ["none", "int", "negative", "tuple"]


def draw_reduction_input(data, kind, domain, shape_strategy=None):
    """An input and an ``axis`` of the given kind: every kind is tested, not left to chance."""
    if shape_strategy is None:
        shape_strategy = shapes(min_dims=0 if kind == "none" else 1)
    x = data.draw(arrays(shape_strategy, **DOMAINS[domain]), label="x")
    if kind == "none" or x.ndim == 0:
        axis = None
    elif kind == "int":
        axis = data.draw(st.integers(0, x.ndim - 1), label="axis")
    elif kind == "negative":
        axis = data.draw(st.integers(-x.ndim, -1), label="axis")
    else:  # distinct axes, some maybe negative
        axis = data.draw(hnp.valid_tuple_axes(x.ndim, min_size=1), label="axis")
    return x, axis


# --- binary elementwise, with broadcasting ---------------------------------------------------

@pytest.mark.parametrize("op", [am.add, am.subtract, am.multiply], ids=lambda f: f.__name__)
@given(data=st.data())
def test_binary_arithmetic(op, data):
    x, y = draw_pair(data)
    assert gradcheck(op, x, y)


@given(data=st.data())
def test_binary_operators_and_constants(data):
    x, y = draw_pair(data, y_domain=DOMAINS["divide_denominator"])
    assert gradcheck(lambda a, b: a + b - a * b / b ** 2.0, x, y)
    assert gradcheck(lambda a: 2.0 - a * 3.0 + 1.5 / (a * a + 1.0), x)  # reflected operators
    assert gradcheck(lambda b: x + b * y, y)  # numpy array on the left of a tensor


@given(data=st.data())
def test_divide(data):
    x, y = draw_pair(data, y_domain=DOMAINS["divide_denominator"])
    assert gradcheck(am.divide, x, y)


@given(data=st.data())
def test_maximum_minimum(data):
    x, y = draw_distinct_pair(data)
    assert gradcheck(am.maximum, x, y)
    assert gradcheck(am.minimum, x, y)


def test_maximum_minimum_ties_split_the_gradient():
    x = am.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = am.Tensor([1.0, 0.0, 5.0], requires_grad=True)
    gx, gy = am.gradients(am.maximum(x, y).sum(), [x, y])
    np.testing.assert_array_equal(gx, [0.5, 1.0, 0.0])
    np.testing.assert_array_equal(gy, [0.5, 0.0, 1.0])
    gx, gy = am.gradients(am.minimum(x, y).sum(), [x, y])
    np.testing.assert_array_equal(gx, [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(gy, [0.5, 1.0, 0.0])


@given(data=st.data())
def test_power_tensor_exponent(data):
    x, y = draw_pair(data, x_domain=DOMAINS["power_base"], y_domain=DOMAINS["power_exponent"])
    assert gradcheck(am.power, x, y)


@given(data=st.data(), c=st.one_of(st.sampled_from([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0]),
                                   st.floats(-2.0, 3.0)))
def test_power_constant_exponent(data, c):
    x = data.draw(arrays(shapes(), **DOMAINS["power_base"]), label="x")
    assert gradcheck(lambda a: am.power(a, c), x)
    assert gradcheck(lambda a: a ** c, x)


@given(data=st.data(), c=st.sampled_from([2.0, 3.0, 4.0]))
def test_power_integer_exponent_any_sign_base(data, c):
    x = data.draw(arrays(shapes(), **DOMAINS["abs"]), label="x")
    assert gradcheck(lambda a: a ** c, x)


def test_power_zero_exponent_at_zero_base():
    # x ** 0 is the constant 1 (numpy: 0.0 ** 0.0 == 1.0), so its derivative is 0 everywhere.
    # ENGINE BUG (primitives.py, power VJP for x): g * y * x ** (y - 1) is 0 * 0 ** -1 = 0 * inf = NaN at x = 0.
    with np.errstate(divide="ignore", invalid="ignore"):
        g = am.grad(lambda x: am.sum(x ** 0.0))(np.array([0.0, 2.0, -1.5]))
    assert np.all(np.isfinite(g)), f"engine bug: d/dx x**0 at x = 0 is {g[0]} (expected 0.0); got gradient {g}"
    np.testing.assert_array_equal(g, [0.0, 0.0, 0.0])


@given(data=st.data())
def test_power_constant_base(data):
    y = data.draw(arrays(shapes(), **DOMAINS["power_exponent"]), label="y")
    assert gradcheck(lambda b: am.power(2.5, b), y)
    assert gradcheck(lambda b: 0.5 ** b, y)


# --- unary elementwise ----------------------------------------------------------------------

UNARY = [
    (am.negative, "negative"), (am.exp, "exp"), (am.log, "log"), (am.sqrt, "sqrt"), (am.abs, "abs"),
    (am.tanh, "tanh"), (am.sigmoid, "sigmoid"), (am.relu, "relu"),
]


@pytest.mark.parametrize("op,domain", UNARY, ids=[d for _, d in UNARY])
@given(data=st.data())
def test_unary(op, domain, data):
    x = data.draw(arrays(shapes(), **DOMAINS[domain]), label="x")
    assert gradcheck(op, x)


def test_absolute_is_abs_and_kinks_are_zero_or_one():
    assert am.absolute is am.abs
    x = am.Tensor([-2.0, 3.0, -0.5], requires_grad=True)
    np.testing.assert_array_equal(am.gradients(am.abs(x).sum(), [x])[0], [-1.0, 1.0, -1.0])
    np.testing.assert_array_equal(am.gradients(am.relu(x).sum(), [x])[0], [0.0, 1.0, 0.0])


# --- matmul -------------------------------------------------------------------------------

dims = st.integers(1, 4)


@given(data=st.data(), n=dims, k=dims, m=dims)
def test_matmul_2d(data, n, k, m):
    x = data.draw(arrays((n, k), **DOMAINS["matmul"]), label="x")
    y = data.draw(arrays((k, m), **DOMAINS["matmul"]), label="y")
    assert gradcheck(am.matmul, x, y)
    assert gradcheck(lambda a, b: a @ b, x, y)


@given(data=st.data(), n=st.integers(1, 3), k=st.integers(1, 3), m=st.integers(1, 3),
       batch=broadcastable_shapes(min_dims=1, max_dims=2, max_side=3))
def test_matmul_batched_broadcast(data, n, k, m, batch):
    bx, by = batch
    x = data.draw(arrays(bx + (n, k), **DOMAINS["matmul"]), label="x")
    y = data.draw(arrays(by + (k, m), **DOMAINS["matmul"]), label="y")
    assert gradcheck(am.matmul, x, y)


@given(data=st.data(), n=dims, k=dims, batch=shapes(max_dims=2, max_side=3))
def test_matmul_matrix_vector(data, n, k, batch):
    x = data.draw(arrays(batch + (n, k), **DOMAINS["matmul"]), label="x")
    y = data.draw(arrays((k,), **DOMAINS["matmul"]), label="y")
    assert gradcheck(am.matmul, x, y)


@given(data=st.data(), k=dims, m=dims, batch=shapes(max_dims=2, max_side=3))
def test_matmul_vector_matrix(data, k, m, batch):
    x = data.draw(arrays((k,), **DOMAINS["matmul"]), label="x")
    y = data.draw(arrays(batch + (k, m), **DOMAINS["matmul"]), label="y")
    assert gradcheck(am.matmul, x, y)


@given(data=st.data(), k=dims)
def test_matmul_vector_vector(data, k):
    x = data.draw(arrays((k,), **DOMAINS["matmul"]), label="x")
    y = data.draw(arrays((k,), **DOMAINS["matmul"]), label="y")
    assert gradcheck(am.matmul, x, y)


# --- reductions ---------------------------------------------------------------------------

REDUCTIONS = [(am.sum, "sum"), (am.mean, "mean"), (am.max, "max"), (am.logsumexp, "logsumexp")]


@pytest.mark.parametrize("keepdims", [False, True], ids=["drop", "keepdims"])
@pytest.mark.parametrize("kind", AXIS_KINDS)
@pytest.mark.parametrize("op,domain", REDUCTIONS, ids=[d for _, d in REDUCTIONS])
@given(data=st.data())
def test_reductions(op, domain, kind, keepdims, data):
    x, axis = draw_reduction_input(data, kind, domain)  # max: distinct values, no ties
    assert gradcheck(lambda a: op(a, axis=axis, keepdims=keepdims), x)


@pytest.mark.parametrize("op,domain", REDUCTIONS, ids=[d for _, d in REDUCTIONS])
@given(data=st.data(), keepdims=st.booleans())
def test_reductions_any_axis_and_methods(op, domain, data, keepdims):
    # Mixed draws, including the empty tuple axis=() (numpy: reduce over nothing).
    x = data.draw(arrays(shapes(), **DOMAINS[domain]), label="x")
    axis = data.draw(axis_args(x.ndim), label="axis")
    assert gradcheck(lambda a: op(a, axis=axis, keepdims=keepdims), x)
    if domain != "logsumexp":  # Tensor.sum / .mean / .max
        assert gradcheck(lambda a: getattr(a, domain)(axis=axis, keepdims=keepdims), x)


def test_max_ties_split_the_gradient():
    x = am.Tensor([[1.0, 3.0, 3.0], [2.0, 0.0, -1.0]], requires_grad=True)
    g = am.gradients(am.max(x, axis=1).sum(), [x])[0]
    np.testing.assert_array_equal(g, [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])


@pytest.mark.parametrize("op", [am.softmax, am.log_softmax], ids=["softmax", "log_softmax"])
@given(data=st.data())
def test_softmax_log_softmax(op, data):
    x = data.draw(arrays(shapes(min_dims=1), **DOMAINS["softmax"]), label="x")
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1), label="axis")
    assert gradcheck(lambda a: op(a, axis=axis), x)


# --- shape ops ----------------------------------------------------------------------------

@st.composite
def reshape_targets(draw, shape):
    """A new shape with the same size: permuted sides, maybe a 1 inserted, maybe one -1."""
    new = list(draw(st.permutations(shape)))
    if draw(st.booleans()):
        new.insert(draw(st.integers(0, len(new))), 1)
    if new and draw(st.booleans()):
        new[draw(st.integers(0, len(new) - 1))] = -1
    return tuple(new)


@given(data=st.data())
def test_reshape(data):
    x = data.draw(arrays(shapes(), **DOMAINS["default"]), label="x")
    target = data.draw(st.one_of(reshape_targets(x.shape), st.just((-1,)), st.just((x.size,))), label="shape")
    assert gradcheck(lambda a: am.reshape(a, target), x)
    if target:
        assert gradcheck(lambda a: a.reshape(*target), x)


@given(data=st.data())
def test_transpose(data):
    x = data.draw(arrays(shapes(), **DOMAINS["default"]), label="x")
    axes = data.draw(st.permutations(range(x.ndim)), label="axes")
    assert gradcheck(am.transpose, x)
    assert gradcheck(lambda a: a.T, x)
    assert gradcheck(lambda a: am.transpose(a, tuple(axes)), x)
    assert gradcheck(lambda a: am.transpose(a, list(axes)), x)


@given(data=st.data())
def test_transpose_negative_axes(data):
    # numpy accepts negative axes in transpose: (-1, 0) on a matrix is (1, 0).
    x = data.draw(arrays(shapes(min_dims=1), **DOMAINS["default"]), label="x")
    perm = data.draw(st.permutations(range(x.ndim)), label="axes")
    flips = data.draw(st.lists(st.booleans(), min_size=x.ndim, max_size=x.ndim), label="negate")
    axes = tuple(a - x.ndim if flip else a for a, flip in zip(perm, flips))
    assert gradcheck(lambda a: am.transpose(a, axes), x)


def test_transpose_negative_axes_gradient_has_the_input_shape():
    # ENGINE BUG (primitives.py, transpose VJP): _inverse_axes argsorts the axes as given, so a
    # negative axis is sorted as if it came first. numpy's transpose accepts negative axes.
    x = am.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    y = am.transpose(x, (-1, 0))  # the same as (1, 0): shape (3, 2)
    assert y.shape == (3, 2)
    g = am.gradients(y, [x], seed=np.arange(6.0).reshape(3, 2))[0]
    assert g.shape == (2, 3), (
        f"engine bug: the transpose VJP ignores negative axes: gradient of transpose(x, (-1, 0)) for x of "
        f"shape (2, 3) has shape {g.shape}")
    np.testing.assert_array_equal(g, np.arange(6.0).reshape(3, 2).T)


@given(data=st.data())
def test_swapaxes(data):
    x = data.draw(arrays(shapes(min_dims=1), **DOMAINS["default"]), label="x")
    a1 = data.draw(st.integers(-x.ndim, x.ndim - 1), label="axis1")
    a2 = data.draw(st.integers(-x.ndim, x.ndim - 1), label="axis2")
    assert gradcheck(lambda a: am.swapaxes(a, a1, a2), x)
    if x.ndim >= 2:
        assert gradcheck(lambda a: a.mT, x)


@st.composite
def broadcast_pairs(draw, max_dims=3, max_side=4):
    """(shape, target): ``shape`` broadcasts to ``target`` (leading axes dropped, some sides 1)."""
    target = draw(shapes(max_dims=max_dims, max_side=max_side))
    keep = draw(st.integers(0, len(target)))
    tail = target[len(target) - keep:]
    ones = draw(st.lists(st.booleans(), min_size=keep, max_size=keep))
    return tuple(1 if o else n for n, o in zip(tail, ones)), target


@given(data=st.data(), pair=broadcast_pairs())
def test_broadcast_to(data, pair):
    shape, target = pair
    x = data.draw(arrays(shape, **DOMAINS["default"]), label="x")
    assert gradcheck(lambda a: am.broadcast_to(a, target), x)


# --- indexing -----------------------------------------------------------------------------

@given(data=st.data())
def test_getitem_basic(data):
    x = data.draw(arrays(shapes(min_dims=1), **DOMAINS["default"]), label="x")
    if x.ndim == 1:
        index = data.draw(st.one_of(st.slices(x.shape[0]), st.integers(-x.shape[0], x.shape[0] - 1)), label="index")
    else:
        index = data.draw(hnp.basic_indices(x.shape, allow_newaxis=True), label="index")
    assert gradcheck(lambda a: a[index], x)
    assert gradcheck(lambda a: am.getitem(a, index), x)


@given(data=st.data())
def test_getitem_integer_array_with_repeats(data):
    x = data.draw(arrays(shapes(min_dims=1), **DOMAINS["default"]), label="x")
    n = x.shape[0]
    idx = data.draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=6), label="index")
    idx = np.array(idx + idx[:1])  # always at least one repeat
    assert gradcheck(lambda a: a[idx], x)
    # Explicit accumulation: d sum(x[idx]) / dx counts how often each row is taken.
    t = am.Tensor(x, requires_grad=True)
    g = am.gradients(am.sum(t[idx]), [t])[0]
    counts = np.bincount(idx % n, minlength=n).astype(float)
    np.testing.assert_array_equal(g, np.broadcast_to(counts.reshape((n,) + (1,) * (x.ndim - 1)), x.shape))


def test_getitem_repeated_indices_accumulate_exactly():
    x = am.Tensor([10.0, 20.0, 30.0, 40.0], requires_grad=True)
    idx = np.array([0, 2, 0, -1, 0, 3, 2])
    g = am.gradients(x[idx], [x], seed=np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]))[0]
    np.testing.assert_array_equal(g, [1.0 + 4.0 + 16.0, 0.0, 2.0 + 64.0, 8.0 + 32.0])
    g = am.gradients(am.getitem(x, [1, 1, 1]).sum(), [x])[0]  # a list index
    np.testing.assert_array_equal(g, [0.0, 3.0, 0.0, 0.0])


@given(data=st.data(), m=st.integers(1, 4), n=st.integers(1, 4))
def test_getitem_advanced_mixed(data, m, n):
    x = data.draw(arrays((m, n), **DOMAINS["default"]), label="x")
    rows = np.array(data.draw(st.lists(st.integers(-m, m - 1), min_size=1, max_size=5), label="rows"))
    cols = np.array(data.draw(st.lists(st.integers(-n, n - 1), min_size=len(rows), max_size=len(rows)),
                              label="cols"))
    assert gradcheck(lambda a: a[rows, cols], x)     # pairs, possibly repeated
    assert gradcheck(lambda a: a[rows, 1:], x)       # array and slice
    assert gradcheck(lambda a: a[:, cols], x)
    assert gradcheck(lambda a: a[-1, cols], x)       # negative int and array


# --- joining ------------------------------------------------------------------------------

@given(data=st.data(), count=st.integers(1, 3))
def test_concatenate(data, count):
    shape = data.draw(shapes(min_dims=1), label="shape")
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=count, max_size=count), label="sizes")
    xs = []
    for s in sizes:
        sh = list(shape)
        sh[axis] = s
        xs.append(data.draw(arrays(tuple(sh), **DOMAINS["default"])))
    assert gradcheck(lambda *ts: am.concatenate(list(ts), axis=axis), *xs)


@given(data=st.data(), count=st.integers(1, 3))
def test_stack(data, count):
    shape = data.draw(shapes(max_dims=2), label="shape")
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)), label="axis")
    xs = [data.draw(arrays(shape, **DOMAINS["default"])) for _ in range(count)]
    assert gradcheck(lambda *ts: am.stack(list(ts), axis=axis), *xs)


def test_concatenate_and_stack_with_one_input_used_twice():
    x = am.Tensor([1.0, 2.0], requires_grad=True)
    g = am.gradients(am.concatenate([x, x * 3.0]), [x], seed=np.array([1.0, 2.0, 4.0, 8.0]))[0]
    np.testing.assert_array_equal(g, [1.0 + 12.0, 2.0 + 24.0])
    g = am.gradients(am.stack([x, x], axis=1), [x], seed=np.array([[1.0, 2.0], [4.0, 8.0]]))[0]
    np.testing.assert_array_equal(g, [3.0, 12.0])


# --- selection ----------------------------------------------------------------------------

@given(data=st.data(), three=broadcastable_shapes(num_shapes=3))
def test_where(data, three):
    sc, sx, sy = three
    cond = data.draw(hnp.arrays(np.bool_, sc), label="cond")
    x = data.draw(arrays(sx, **DOMAINS["where"]), label="x")
    y = data.draw(arrays(sy, **DOMAINS["where"]), label="y")
    assert gradcheck(lambda a, b: am.where(cond, a, b), x, y)
    assert gradcheck(lambda a: am.where(cond, a, 0.0), x)


@given(data=st.data(), bounds=st.sampled_from([(-1.0, 1.0), (None, 1.0), (-1.0, None)]))
def test_clip(data, bounds):
    lo, hi = bounds
    x = data.draw(arrays(shapes(), **DOMAINS["clip"]), label="x")
    assert gradcheck(lambda a: am.clip(a, lo, hi), x)
    t = am.Tensor(x, requires_grad=True)
    g = am.gradients(am.clip(t, lo, hi).sum(), [t])[0]
    inside = np.ones_like(x, dtype=bool)
    if lo is not None:
        inside &= x > lo
    if hi is not None:
        inside &= x < hi
    np.testing.assert_array_equal(g, inside.astype(float))


def test_every_exported_primitive_is_covered():
    # Keep this list in step with the tests above: a new export must get a gradient test.
    covered = {
        "add", "subtract", "multiply", "divide", "negative", "power", "matmul", "exp", "log", "sqrt", "abs",
        "absolute", "tanh", "sigmoid", "relu", "sum", "mean", "max", "reshape", "transpose", "swapaxes",
        "broadcast_to", "getitem", "concatenate", "stack", "where", "maximum", "minimum", "clip",
        "logsumexp", "softmax", "log_softmax", "unbroadcast",
    }
    engine = {"Tensor", "Parameter", "Tape", "Node", "Frame", "scope", "no_grad", "paused_gc", "custom_vjp", "detect_anomaly",
              "format_scope", "primitive", "defvjp", "defvjp_argnum", "backward", "grad", "value_and_grad",
              "gradients", "optim", "tag", "Tag", "graph_of", "GraphNode"}
    assert set(am.__all__) - engine == covered


@given(data=st.data(), pair=small_pairs)
def test_unbroadcast(data, pair):
    sx, sy = pair
    x = data.draw(arrays(sx, **DOMAINS["default"]), label="x")
    target = np.broadcast_shapes(sx, sy)
    g = data.draw(arrays(target, **DOMAINS["default"]), label="g")
    # unbroadcast is the VJP of broadcasting: its result is broadcast_to's gradient.
    t = am.Tensor(x, requires_grad=True)
    expected = am.gradients(am.broadcast_to(t, target), [t], seed=g)[0]
    np.testing.assert_allclose(am.unbroadcast(g, x), expected, rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda gt: am.unbroadcast(gt, x), g)


# --- second order -------------------------------------------------------------------------

@SECOND
@pytest.mark.parametrize("op", [am.add, am.subtract, am.multiply], ids=lambda f: f.__name__)
@given(data=st.data())
def test_second_order_arithmetic(op, data):
    x, y = draw_pair(data, small_pairs)
    assert gradgradcheck(op, x, y)


@SECOND
@given(data=st.data())
def test_second_order_divide(data):
    x, y = draw_pair(data, small_pairs, y_domain=DOMAINS["divide_denominator"])
    assert gradgradcheck(am.divide, x, y)


@SECOND
@given(data=st.data(), c=st.sampled_from([-1.5, 0.5, 2.0, 3.0]))
def test_second_order_power(data, c):
    x, y = draw_pair(data, small_pairs, x_domain=DOMAINS["power_base"], y_domain=DOMAINS["power_exponent"])
    assert gradgradcheck(am.power, x, y)
    assert gradgradcheck(lambda a: a ** c, x)


@SECOND
@given(data=st.data(), n=st.integers(1, 3), k=st.integers(1, 3), m=st.integers(1, 3),
       kind=st.sampled_from(["mm", "batched", "mv", "vm", "vv"]))
def test_second_order_matmul(data, n, k, m, kind):
    sx, sy = {"mm": ((n, k), (k, m)), "batched": ((2, 1, n, k), (3, k, m)), "mv": ((2, n, k), (k,)),
              "vm": ((k,), (2, k, m)), "vv": ((k,), (k,))}[kind]
    x = data.draw(arrays(sx, **DOMAINS["matmul"]), label="x")
    y = data.draw(arrays(sy, **DOMAINS["matmul"]), label="y")
    assert gradgradcheck(am.matmul, x, y)


SMOOTH_UNARY = [(am.exp, "exp"), (am.log, "log"), (am.sqrt, "sqrt"), (am.tanh, "tanh"), (am.sigmoid, "sigmoid"),
                (am.negative, "negative")]


@SECOND
@pytest.mark.parametrize("op,domain", SMOOTH_UNARY, ids=[d for _, d in SMOOTH_UNARY])
@given(data=st.data())
def test_second_order_unary(op, domain, data):
    x = data.draw(arrays(small_shapes, **DOMAINS[domain]), label="x")
    assert gradgradcheck(op, x)


@SECOND
@pytest.mark.parametrize("kind", AXIS_KINDS)
@pytest.mark.parametrize("op", [am.sum, am.mean, am.logsumexp], ids=["sum", "mean", "logsumexp"])
@given(data=st.data(), keepdims=st.booleans())
def test_second_order_reductions(op, kind, data, keepdims):
    x, axis = draw_reduction_input(data, kind, "logsumexp", shapes(min_dims=0 if kind == "none" else 1,
                                                                    max_dims=2, max_side=3))
    # sum and mean are linear: multiply by x so their second derivative is not trivially zero.
    assert gradgradcheck(lambda a: op(a * a, axis=axis, keepdims=keepdims), x)
    assert gradgradcheck(lambda a: op(a, axis=axis, keepdims=keepdims), x)


@SECOND
@given(data=st.data())
def test_second_order_piecewise_linear_ops_away_from_kinks(data):
    # Not smooth at their kinks, but away from them their VJPs must still differentiate.
    x = data.draw(arrays(small_shapes, **DOMAINS["relu"]), label="x")
    assert gradgradcheck(lambda a: am.relu(a) * a, x)
    assert gradgradcheck(lambda a: am.abs(a) * a, x)
    assert gradgradcheck(lambda a: am.clip(a * a, None, 1.0) * a, data.draw(arrays(x.shape, low=-2.0, high=2.0,
                                                                                    away_from=(-1.0, 1.0))))
    y, z = draw_distinct_pair(data, small_pairs)
    assert gradgradcheck(lambda a, b: am.maximum(a, b) * a * b, y, z)
    assert gradgradcheck(lambda a, b: am.minimum(a, b) * a * b, y, z)
    w = data.draw(arrays(small_shapes, **DOMAINS["max"]), label="w")
    assert gradgradcheck(lambda a: am.max(a * a * a, axis=-1 if a.ndim else None), w)


@SECOND
@pytest.mark.parametrize("op", [am.softmax, am.log_softmax], ids=["softmax", "log_softmax"])
@given(data=st.data())
def test_second_order_softmax(op, data):
    x = data.draw(arrays(shapes(min_dims=1, max_dims=2, max_side=3), **DOMAINS["softmax"]), label="x")
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1), label="axis")
    assert gradgradcheck(lambda a: op(a, axis=axis), x)


@SECOND
@given(data=st.data())
def test_second_order_shape_ops(data):
    # Linear ops: the second derivative is zero, and the gradient's own gradient must say so.
    x = data.draw(arrays(shapes(min_dims=1, max_dims=3, max_side=3), **DOMAINS["default"]), label="x")
    target = data.draw(reshape_targets(x.shape), label="shape")
    axes = tuple(data.draw(st.permutations(range(x.ndim)), label="axes"))
    index = data.draw(hnp.basic_indices(x.shape) if x.ndim > 1 else st.slices(x.shape[0]), label="index")
    rep = np.array([0, -1, 0])
    assert gradgradcheck(lambda a: am.reshape(a, target) * am.reshape(a, target), x)
    assert gradgradcheck(lambda a: am.transpose(a * a), x)
    assert gradgradcheck(lambda a: am.transpose(a * a, axes), x)
    assert gradgradcheck(lambda a: am.getitem(a * a, index), x)
    assert gradgradcheck(lambda a: (a * a)[rep], x)


@SECOND
@given(data=st.data(), pair=broadcast_pairs(max_dims=2, max_side=3))
def test_second_order_broadcast_to(data, pair):
    shape, target = pair
    x = data.draw(arrays(shape, **DOMAINS["default"]), label="x")
    assert gradgradcheck(lambda a: am.broadcast_to(a * a, target), x)


@SECOND
@given(data=st.data())
def test_second_order_concatenate_stack(data):
    shape = data.draw(shapes(min_dims=1, max_dims=2, max_side=3), label="shape")
    x = data.draw(arrays(shape, **DOMAINS["default"]), label="x")
    y = data.draw(arrays(shape, **DOMAINS["default"]), label="y")
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    assert gradgradcheck(lambda a, b: am.concatenate([a * b, am.tanh(a)], axis=axis), x, y)
    assert gradgradcheck(lambda a, b: am.stack([a * b, b * b], axis=axis), x, y)


@SECOND
@given(data=st.data(), three=broadcastable_shapes(num_shapes=3, max_dims=2, max_side=3))
def test_second_order_where(data, three):
    sc, sx, sy = three
    cond = data.draw(hnp.arrays(np.bool_, sc), label="cond")
    x = data.draw(arrays(sx, **DOMAINS["where"]), label="x")
    y = data.draw(arrays(sy, **DOMAINS["where"]), label="y")
    assert gradgradcheck(lambda a, b: am.where(cond, a * b, am.tanh(b)), x, y)


def test_third_derivative_through_grad_of_grad():
    f = lambda x: am.sum(am.tanh(x) ** 3.0)
    x = np.array([0.3, -0.7, 1.2])
    d3 = am.grad(lambda t: am.sum(am.grad(lambda u: am.sum(am.grad(f)(u)))(t)))(x)
    t = np.tanh(x)
    s = 1 - t * t  # third derivative of tanh^3: 6 s^3 - 42 t^2 s^2 + 12 t^4 s
    np.testing.assert_allclose(d3, 6 * s ** 3 - 42 * t ** 2 * s ** 2 + 12 * t ** 4 * s, rtol=1e-12)


# --- composites -----------------------------------------------------------------------------

def two_layer_loss(X, labels):
    onehot = np.eye(3)[labels]

    def loss(W1, b1, W2, b2):
        h = am.tanh(X @ W1 + b1)
        logits = h @ W2 + b2
        return -am.mean(am.sum(am.log_softmax(logits, axis=-1) * onehot, axis=-1))

    def loss_via_softmax(W1, b1, W2, b2):
        h = am.tanh(X @ W1 + b1)
        p = am.softmax(h @ W2 + b2, axis=1)
        return -am.mean(am.log(p[np.arange(len(labels)), labels]))

    return loss, loss_via_softmax


@settings(max_examples=max(5, settings.default.max_examples // 2))
@given(data=st.data(), n=st.integers(1, 4), d=st.integers(1, 3), hdim=st.integers(1, 4))
def test_two_layer_tanh_net_softmax_cross_entropy(data, n, d, hdim):
    X = data.draw(arrays((n, d), **DOMAINS["default"]), label="X")
    labels = np.array(data.draw(st.lists(st.integers(0, 2), min_size=n, max_size=n), label="labels"))
    params = [data.draw(arrays(s, low=-1.0, high=1.0), label=name)
              for name, s in [("W1", (d, hdim)), ("b1", (hdim,)), ("W2", (hdim, 3)), ("b2", (3,))]]
    loss, loss_via_softmax = two_layer_loss(X, labels)
    assert gradcheck(loss, *params)
    assert gradcheck(loss_via_softmax, *params)
    with am.no_grad():
        a = loss(*[am.Tensor(p) for p in params]).item()
        b = loss_via_softmax(*[am.Tensor(p) for p in params]).item()
    assert a == pytest.approx(b, rel=1e-10, abs=1e-12)


@SECOND
@given(data=st.data())
def test_two_layer_net_hessian_vector_products(data):
    X = data.draw(arrays((2, 2), **DOMAINS["default"]), label="X")
    params = [data.draw(arrays(s, low=-1.0, high=1.0)) for s in [(2, 3), (3,), (3, 3), (3,)]]
    loss, _ = two_layer_loss(X, np.array([0, 2]))
    assert gradgradcheck(loss, *params)


def rnn_unrolled(xs):
    def run(W_hh, W_xh, b, h0):
        h = h0
        hs = []
        for x in xs:  # the same W_hh and W_xh at every step: their gradients accumulate
            h = am.tanh(W_hh @ h + W_xh @ x + b)
            hs.append(h)
        return am.stack(hs)
    return run


@settings(max_examples=max(5, settings.default.max_examples // 2))
@given(data=st.data(), H=st.integers(1, 3), D=st.integers(1, 3))
def test_rnn_three_steps_shared_weights(data, H, D):
    xs = [data.draw(arrays((D,), **DOMAINS["default"]), label=f"x{t}") for t in range(3)]
    W_hh = data.draw(arrays((H, H), low=-1.0, high=1.0), label="W_hh")
    W_xh = data.draw(arrays((H, D), low=-1.0, high=1.0), label="W_xh")
    b = data.draw(arrays((H,), low=-1.0, high=1.0), label="b")
    h0 = data.draw(arrays((H,), low=-1.0, high=1.0), label="h0")
    run = rnn_unrolled(xs)
    assert gradcheck(run, W_hh, W_xh, b, h0)
    assert gradcheck(lambda *p: am.sum(run(*p)[-1] ** 2.0), W_hh, W_xh, b, h0)  # loss on the last state
    # The shared weight's gradient is the sum of its per-step contributions.
    W = am.Parameter(W_hh)
    am.sum(run(W, am.Tensor(W_xh), am.Tensor(b), am.Tensor(h0))).backward()
    per_step = np.zeros_like(W_hh)
    states = [h0]
    for x in xs:
        states.append(np.tanh(W_hh @ states[-1] + W_xh @ x + b))
    # Backpropagate by hand: dL/dh_t accumulates 1 from the sum and the flow from step t+1.
    dh = np.zeros(H)
    for t in reversed(range(3)):
        dh = dh + 1.0
        dz = dh * (1 - states[t + 1] ** 2)
        per_step += np.outer(dz, states[t])
        dh = W_hh.T @ dz
    np.testing.assert_allclose(W.grad, per_step, rtol=1e-10, atol=1e-12)


@SECOND
@given(data=st.data())
def test_rnn_second_order(data):
    xs = [data.draw(arrays((2,), **DOMAINS["default"])) for _ in range(3)]
    params = [data.draw(arrays(s, low=-1.0, high=1.0)) for s in [(2, 2), (2, 2), (2,), (2,)]]
    assert gradgradcheck(rnn_unrolled(xs), *params)


# --- numerical stability ------------------------------------------------------------------

def finite_grad(f, x):
    t = am.Tensor(x, requires_grad=True)
    out = f(t)
    g = am.gradients(out, [t], seed=np.ones(out.shape))[0]
    return out.value, g


def test_sigmoid_at_plus_minus_1000():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y, g = finite_grad(am.sigmoid, np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0]))
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(g))
    # Below x ~ -709 the branch-free formula stops at 5.6e-309 (the true value is smaller still).
    assert 0.0 <= y[0] < 1e-307 and y[-1] == 1.0 and y[2] == 0.5
    assert y[1] == pytest.approx(np.exp(-50.0), rel=1e-12)
    assert 0.0 <= g[0] < 1e-307 and g[-1] == 0.0 and g[2] == 0.25
    assert g[1] == pytest.approx(np.exp(-50.0), rel=1e-9)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_is_within_3_ulp_of_the_exact_value_and_never_warns(dtype):
    x = np.concatenate([np.linspace(-100, 100, 20001), [-1e4, 1e4, np.inf, -np.inf, 0.0, -0.0]]).astype(dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow is numpy's default ignore
        y = am.sigmoid(am.Tensor(x)).value
    assert y.dtype == dtype
    x64 = x.astype(np.float64)
    e = np.exp(-np.abs(x64))                                     # the stable two-branch form, in float64
    exact = np.where(x64 >= 0, 1.0, e) / (1.0 + e)
    tiny = np.finfo(dtype).tiny
    big = exact > tiny * 2**10                                   # where the type still has full precision
    ulp = np.abs(y[big] - exact[big].astype(dtype)) / np.spacing(exact[big].astype(dtype))
    assert ulp.max() <= 3
    assert np.all(y[~big] < tiny * 2**10) and np.all(y >= 0) and np.all(y <= 1)
    assert np.isnan(am.sigmoid(np.array([np.nan], dtype=dtype))).all()


def test_logsumexp_of_huge_values():
    x = np.array([[1e4, 1e4, 1e4 - 1.0], [-1e4, -1e4, -1e4]])
    with np.errstate(over="raise", invalid="raise"):
        y, g = finite_grad(lambda t: am.logsumexp(t, axis=1), x)
        s, gs = finite_grad(lambda t: am.logsumexp(t), np.array([1e4, 1e4]))
    np.testing.assert_allclose(y, [1e4 + np.log(2 + np.exp(-1.0)), -1e4 + np.log(3.0)], rtol=1e-15)
    p = np.array([1.0, 1.0, np.exp(-1.0)]) / (2 + np.exp(-1.0))
    np.testing.assert_allclose(g, [p, [1 / 3, 1 / 3, 1 / 3]], rtol=1e-12)
    assert s == pytest.approx(1e4 + np.log(2.0), rel=1e-15)
    np.testing.assert_allclose(gs, [0.5, 0.5], rtol=1e-12)


def test_softmax_and_log_softmax_of_huge_values():
    x = np.array([[1e4, 1e4 - 1.0, 0.0], [-1e4, 0.0, 1e4]])
    with np.errstate(over="raise", invalid="raise"):
        p, gp = finite_grad(lambda t: am.softmax(t, axis=-1) * am.Tensor([[1.0, 2.0, 3.0]]), x)
        lp, glp = finite_grad(lambda t: am.log_softmax(t, axis=-1), x)
    assert np.all(np.isfinite(gp)) and np.all(np.isfinite(glp))
    e = np.exp(-1.0)
    np.testing.assert_allclose(p[0], [1 / (1 + e), 2 * e / (1 + e), 0.0], rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(p[1], [0.0, 0.0, 3.0])
    # x - logsumexp(x) with logsumexp(x) near 1e4: float64 resolves 1e4 to ~2e-12.
    np.testing.assert_allclose(lp[0], [-np.log1p(e), -1 - np.log1p(e), -1e4 - np.log1p(e)], rtol=1e-14, atol=1e-11)
    np.testing.assert_allclose(lp[1], [-2e4, -1e4, 0.0], rtol=1e-14, atol=1e-11)
    # d sum(log_softmax)/dx = 1 - n softmax(x)
    soft = np.exp(lp)
    np.testing.assert_allclose(glp, 1.0 - 3 * soft, rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda t: am.log_softmax(t + 1e4, axis=-1), np.array([0.5, -0.5, 1.0]))
    assert gradcheck(lambda t: am.softmax(t - 1e4, axis=-1), np.array([0.5, -0.5, 1.0]))


def test_logsumexp_of_minus_inf_row_is_minus_inf():
    x = np.array([[-np.inf, -np.inf, -np.inf], [0.0, 0.0, -np.inf]])
    with np.errstate(invalid="ignore"):
        t = am.Tensor(x, requires_grad=True)
        y = am.logsumexp(t, axis=1)
        g = am.gradients(y, [t], seed=np.array([0.0, 1.0]), retain_graph=True)[0]
    assert y.value[0] == -np.inf and not np.isnan(y.value[0])
    assert y.value[1] == pytest.approx(np.log(2.0), rel=1e-15)
    np.testing.assert_allclose(g[1], [0.5, 0.5, 0.0])
    assert am.logsumexp(np.full(4, -np.inf)) == -np.inf
    assert am.logsumexp(am.Tensor(np.full((2, 2), -np.inf)), keepdims=True).value.shape == (1, 1)
    np.testing.assert_array_equal(am.softmax(am.Tensor([0.0, -np.inf])).value, [1.0, 0.0])


def test_sigmoid_in_float16_keeps_its_small_values():
    y = am.sigmoid(am.Tensor(np.array([-12.0, 0.0, 12.0], dtype=np.float16))).value
    assert y.dtype == np.float16
    np.testing.assert_allclose(y.astype(np.float64), 1 / (1 + np.exp([12.0, 0.0, -12.0])), rtol=1e-3)
