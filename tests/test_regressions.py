"""Regression tests for the engine defects of the issue (numbered as there) and for those the
fuzzer (tests/test_fuzz.py) found. Each failed before its fix."""
import numpy as np
import pytest

import autograd_mini as am
from autograd_mini.testing import GradcheckError, gradcheck, gradgradcheck


# --- 1. a 0-d tensor indexed and used again keeps its gradient --------------------------------

@pytest.mark.parametrize("index", [Ellipsis, ()], ids=["ellipsis", "empty tuple"])
def test_a_0d_tensor_indexed_and_used_again_keeps_its_gradient(index):
    x = am.Tensor(1.0, requires_grad=True)
    (x * 3.0 + x * 2.0 + x[index]).backward()
    assert type(x.grad) is np.ndarray and x.grad.shape == () and float(x.grad) == 6.0


@pytest.mark.parametrize("order", ["slice last", "slice first", "two slices"])
def test_a_dot_product_indexed_and_used_again_keeps_its_gradient(order):
    a = am.Tensor([1.0, 2.0], requires_grad=True)
    d = a @ a  # 0-d: its gradient contributions are numpy scalars
    if order == "slice last":
        y, k = d * 3.0 + d * 2.0 + d[None], 6
    elif order == "slice first":
        y, k = d[None] + d * 3.0 + d * 2.0, 6
    else:
        y, k = d[None] + d[()] + d * 3.0 + d * 2.0, 7
    y.sum().backward()
    assert a.grad.tolist() == [2.0 * k, 4.0 * k]
    b = am.Tensor([1.0, 2.0], requires_grad=True)
    e = b @ b
    assert am.gradients((e * 3.0 + e * 2.0 + e[None]).sum(), [b])[0].tolist() == [12.0, 24.0]


def test_a_gradient_that_reaches_a_leaf_as_a_numpy_scalar_becomes_an_array():
    x = am.Tensor(2.0, requires_grad=True)
    (x * 3.0 + x * 4.0 + x[...] * 1.0).backward()
    assert type(x.grad) is np.ndarray and float(x.grad) == 8.0
    x.grad = None
    (x[()] + x[()] + x * 2.0).backward()  # two slices, a scalar sum, then a third contribution
    assert type(x.grad) is np.ndarray and float(x.grad) == 4.0


# --- 2. d2(x**y)/dx dy at y = 0 ---------------------------------------------------------------

def test_the_mixed_second_derivative_of_power_at_exponent_zero():
    # d/dx x**y = y x**(y-1); d/dy of that at y = 0 is x**-1
    assert float(am.grad(lambda y: am.grad(lambda x: x ** y)(2.0))(0.0)) == pytest.approx(0.5)
    assert float(am.grad(lambda y: am.grad(lambda x: x ** y)(2.0))(1.0)) == pytest.approx(1 + np.log(2.0))
    x, y = np.array([0.5, 2.0, 3.0]), np.array([0.0, 0.0, 1.5])
    assert gradgradcheck(am.power, x, y)


def test_power_at_a_zero_base_and_exponent_stays_finite():
    assert float(am.grad(lambda x: x ** 0.0)(0.0)) == 0.0
    assert float(am.grad(lambda x: x ** 1.0)(0.0)) == 1.0
    g = am.grad(lambda x: am.sum(x ** np.array([0.0, 1.0, 2.0])))(np.zeros(3))
    assert g.tolist() == [0.0, 1.0, 0.0]


# --- 3. an axis given as a 0-d integer array or a numpy integer --------------------------------

AXES = [np.array(0), np.int64(0), np.array(-2)]


@pytest.mark.parametrize("axis", AXES, ids=repr)
@pytest.mark.parametrize("op", [am.softmax, am.log_softmax, am.sum, am.mean, am.max, am.logsumexp],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize("how", ["positional", "keyword"])
def test_an_axis_given_as_a_numpy_integer_or_0d_array_gives_the_int_axis_gradients(axis, op, how):
    x = np.array([[0.3, -1.0, 2.0], [1.5, 0.2, -0.7]])
    w = np.array([[1.0, -2.0, 0.5], [0.3, 2.0, -1.0]])

    def loss(ax):
        def f(t):
            out = op(t, ax) if how == "positional" else op(t, axis=ax)
            return am.sum(out * w[: out.shape[0], : out.shape[-1]] if out.ndim == 2 else out * w[0, : out.shape[0]])
        return f

    expected = am.grad(loss(int(axis)))(x)
    assert np.allclose(am.grad(loss(axis))(x), expected)
    assert gradcheck(loss(axis), x)


def test_swapaxes_and_transpose_take_numpy_integers_and_arrays_as_axes():
    x = np.arange(6.0).reshape(2, 3)
    w = np.arange(6.0).reshape(3, 2) + 1
    g = am.grad(lambda t: am.sum(am.swapaxes(t, np.array(0), np.int64(1)) * w))(x)
    assert g.tolist() == w.T.tolist()
    v = am.Tensor([1.0, 2.0], requires_grad=True)
    (v.transpose(-1) * np.array([3.0, 4.0])).sum().backward()  # an int axis for a 1-D tensor
    assert v.grad.tolist() == [3.0, 4.0]


def test_an_axis_numpy_cannot_read_is_refused_naming_the_op():
    x = am.Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(TypeError, match=r"^sum: .*integer"):
        am.sum(x, np.array([0]))
    with pytest.raises(TypeError, match=r"^softmax: "):
        am.softmax(x, 0.5)


# --- 6. softmax, log_softmax and logsumexp over an empty axis ----------------------------------

@pytest.mark.parametrize("shape, axis", [((2, 0), 1), ((2, 0), -1), ((0, 3), 0), ((0,), None), ((0,), 0)])
def test_softmax_log_softmax_and_logsumexp_of_an_empty_axis(shape, axis):
    x = am.Tensor(np.zeros(shape), requires_grad=True)
    kw = {} if axis is None else {"axis": axis}
    if axis is not None:
        for op in (am.softmax, am.log_softmax):
            y = op(x, **kw)
            assert y.shape == shape
            am.sum(y * 2.0).backward()
            assert x.grad.shape == shape
            x.grad = None
    lse = am.logsumexp(x, **kw)
    expected_shape = () if axis is None else tuple(n for i, n in enumerate(shape) if i != axis % len(shape))
    assert lse.shape == expected_shape and np.all(lse.value == -np.inf)
    w = am.Tensor(np.ones(expected_shape), requires_grad=True)
    am.sum(am.exp(lse) * w).backward()  # exp(-inf) = 0: an empty sum has zero gradient
    assert x.grad.shape == shape and w.grad.tolist() == np.zeros(expected_shape).tolist()
    assert am.logsumexp(x, keepdims=True, **kw).shape == np.sum(np.zeros(shape), keepdims=True, **kw).shape


# --- 11. a gradient has its input's dtype --------------------------------------------------------

def test_grad_and_gradients_keep_float32_when_the_computation_upcasts():
    x32 = np.float32([1.0, 2.0])
    f = lambda x: am.sum(x * np.float64(2.0) * x)  # noqa: E731 - float64 constant: float64 math
    g = am.grad(f)(x32)
    assert g.dtype == np.float32 and g.tolist() == [4.0, 8.0]
    _, g = am.value_and_grad(f)(x32)
    assert g.dtype == np.float32
    t = am.Tensor(x32, requires_grad=True)
    assert am.gradients(f(t), [t])[0].dtype == np.float32
    h = am.gradients(f(t), [t], create_graph=True)[0]
    assert isinstance(h, am.Tensor) and h.dtype == np.float32
    gg = am.grad(lambda x: am.sum(am.grad(f)(x)))(x32)  # second order: the inner result is cast on the graph
    assert gg.dtype == np.float32 and gg.tolist() == [4.0, 4.0]
    t.grad = None
    f(t).backward()
    assert t.grad.dtype == np.float32


# --- 12. gradgradcheck checks the VJPs' derivative with respect to the cotangent ------------------

@am.primitive
def cube_detaching_g(x):
    return x ** 3


# Right at first order; with create_graph, g (a tensor on the graph) is cut from it.
am.defvjp(cube_detaching_g, lambda g, ans, x: 3 * (g.detach() if isinstance(g, am.Tensor) else g) * x ** 2)


@am.primitive
def cube_reading_g_value(x):
    return x ** 3


am.defvjp(cube_reading_g_value, lambda g, ans, x: 3 * am.Tensor(g).value * x ** 2 if not isinstance(g, am.Tensor)
          else 3 * g.value * x ** 2)


@pytest.mark.parametrize("prim", [cube_detaching_g, cube_reading_g_value], ids=lambda p: p.__name__)
def test_gradgradcheck_fails_a_vjp_that_uses_g_through_a_non_differentiable_path(prim):
    x = np.array([0.5, -1.0, 2.0])
    assert gradcheck(prim, x)
    with pytest.raises(GradcheckError, match=r"input 1 \(the cotangent v\)") as info:
        gradgradcheck(prim, x)
    assert info.value.input_index == 1


def test_gradients_with_a_seed_on_the_graph_differentiate_in_the_seed():
    x = am.Tensor([1.0, 2.0], requires_grad=True)
    v = am.Tensor([3.0, -1.0], requires_grad=True)
    (gx,) = am.gradients(x ** 3, [x], seed=v, create_graph=True)   # 3 x^2 v
    assert gx.value.tolist() == [9.0, -12.0]
    assert am.gradients(am.sum(gx), [v])[0].tolist() == [3.0, 12.0]
    with pytest.raises(ValueError, match="seed gradient has shape"):
        am.gradients(x ** 3, [x], seed=am.Tensor([1.0]), create_graph=True)


# --- 13. numpy's and PyTorch's semantics for ==, !=, bool(), iteration and Tensor indices ---------

def test_equality_is_element_wise_and_tensors_stay_hashable():
    x = am.Tensor([0.0, 2.0, 0.0], requires_grad=True)
    eq, ne = x == 0, x != 0
    assert type(eq) is np.ndarray and eq.dtype == bool and eq.tolist() == [True, False, True]
    assert ne.tolist() == [False, True, False]
    assert (x == am.Tensor([0.0, 1.0, 0.0])).tolist() == [True, False, True]
    assert (0 == x).tolist() == [True, False, True]  # reflected
    y = am.where(x == 0, 1.0, x)
    assert y.value.tolist() == [1.0, 2.0, 1.0]
    am.sum(y).backward()
    assert x.grad.tolist() == [0.0, 1.0, 0.0]
    a, b = am.Tensor([1.0]), am.Tensor([1.0])
    assert len({a, b}) == 2 and {a: 1, b: 2}[a] == 1 and hash(a) == object.__hash__(a)
    assert am.Parameter([1.0]).__hash__ is not None


def test_truth_value_is_numpy_s():
    assert bool(am.Tensor(5.0)) and not bool(am.Tensor([0.0]))
    with pytest.raises(ValueError, match="more than one element is ambiguous"):
        bool(am.Tensor([1.0, 2.0]))
    with pytest.raises(ValueError):
        bool(am.Tensor(np.zeros(0)))


def test_iterating_a_0d_tensor_raises_and_a_1d_one_gives_recorded_elements():
    with pytest.raises(TypeError, match="iteration over a 0-d"):
        list(am.Tensor(5.0))
    with pytest.raises(TypeError, match="iteration over a 0-d"):
        iter(am.Tensor(5.0))
    x = am.Tensor([1.0, 2.0], requires_grad=True)
    parts = list(x)
    assert [p.shape for p in parts] == [(), ()]
    (parts[0] * 3.0 + parts[1] * 4.0).backward()
    assert x.grad.tolist() == [3.0, 4.0]
    assert 2.0 in x and 5.0 not in x


def test_a_tensor_of_whole_numbers_works_as_an_index():
    x = am.Tensor([10.0, 20.0, 30.0], requires_grad=True)
    y = x[am.Tensor([0, 2, 2])]
    assert y.value.tolist() == [10.0, 30.0, 30.0]
    am.sum(y).backward()
    assert x.grad.tolist() == [1.0, 0.0, 2.0]
    assert float(x[am.Tensor(1.0)].value) == 20.0
    m = am.Tensor(np.arange(6.0).reshape(2, 3))
    assert m[am.Tensor([1]), 1:].value.tolist() == [[4.0, 5.0]]
    assert am.getitem(m, (slice(None), am.Tensor([0, 0]))).value.tolist() == [[0.0, 0.0], [3.0, 3.0]]


@pytest.mark.parametrize("bad", [[0.5, 1.0], [np.nan], [np.inf]])
def test_a_tensor_of_fractions_as_an_index_is_refused_naming_getitem(bad):
    x = am.Tensor([10.0, 20.0, 30.0])
    with pytest.raises(IndexError, match=r"^getitem: a Tensor used as an index must hold whole numbers"):
        x[am.Tensor(bad)]


# --- found by the fuzzer ------------------------------------------------------------------------

@pytest.mark.parametrize("op", [am.mean, am.max, am.sum], ids=lambda f: f.__name__)
def test_mean_and_max_take_keepdims_as_their_third_positional_argument(op):
    # numpy's third positional argument is dtype (mean) or out (max); the VJP read it as keepdims
    x = np.array([[0.3, -1.0, 2.0], [1.5, 0.2, -0.7]])
    w = np.array([[1.0], [-2.0]])
    y = op(am.Tensor(x), 1, True)
    assert y.shape == (2, 1)
    assert np.allclose(am.grad(lambda t: am.sum(op(t, 1, True) * w))(x),
                       am.grad(lambda t: am.sum(op(t, axis=1, keepdims=True) * w))(x))


def test_clip_with_the_lower_bound_above_the_upper_gives_the_upper_bound_its_gradient():
    # np.clip(x, lo, hi) is hi wherever lo > hi: hi gets the gradient, not x or lo
    x, lo, hi = np.array([-1.0, 0.5, 3.0]), np.array([0.0, 1.0, 4.0]), np.array([-2.0, 0.8, 3.5])
    gx, glo, ghi = am.grad(lambda a, b, c: am.sum(am.clip(a, b, c) * np.array([1.0, 2.0, 3.0])), argnums=(0, 1, 2))(x, lo, hi)
    assert gx.tolist() == [0.0, 0.0, 0.0] and glo.tolist() == [0.0, 0.0, 0.0] and ghi.tolist() == [1.0, 2.0, 3.0]
    assert gradcheck(am.clip, x, lo, hi)
    assert gradcheck(am.clip, np.array([-1.0, 0.5, 3.0]), np.array([0.0, 0.0, 0.0]), np.array([1.0, 1.0, 1.0]))


def test_grad_accumulated_over_two_backwards_of_a_0d_tensor_stays_an_array():
    x = am.Tensor(2.0, requires_grad=True)
    (x * 3.0).backward()
    (x * 3.0).backward()  # 0-d arrays add up to a numpy scalar
    assert type(x.grad) is np.ndarray and x.grad.shape == () and float(x.grad) == 6.0
