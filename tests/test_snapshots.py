"""Writes after recording never reach backward (issue 11, item 4).

A record keeps references, not copies, of what its VJPs read. A caller's numpy array (a constant,
an index, a mask) is copied when an op keeps it; a leaf tensor's array is made read-only while a
graph keeps it, and writable again once none does. Assigning a new array is always allowed: the
graph keeps the one it recorded.
"""
from __future__ import annotations

import gc

import numpy as np
import pytest

import autograd_mini as am
import models


def _grad_of(f, x0):
    x = am.Tensor(x0, requires_grad=True)
    f(x).backward()
    return x.grad


@pytest.mark.parametrize("name, build", [
    ("multiply", lambda x, c: (x * c).sum()),
    ("rmultiply", lambda x, c: (c * x).sum()),
    ("divide", lambda x, c: (c / x).sum()),
    ("matmul", lambda x, c: (x @ c.reshape(2, 1)).sum()),
    ("power", lambda x, c: am.power(x, c).sum()),
    ("maximum", lambda x, c: am.maximum(x, c).sum()),
    ("clip", lambda x, c: am.clip(x, c, 10.0).sum()),
    ("where", lambda x, c: am.where(c > 3.5, x, 2 * x).sum()),
])
def test_a_callers_array_written_after_recording_is_not_seen(name, build):
    x0 = np.array([1.5, 2.5])
    c = np.array([3.0, 4.0])
    want = _grad_of(lambda x: build(x, c.copy()), x0)
    x = am.Tensor(x0, requires_grad=True)
    y = build(x, c)
    c[:] = [0.5, -7.0]                            # after recording, before backward
    y.backward()
    np.testing.assert_array_equal(x.grad, want)


def test_an_index_array_written_after_recording_does_not_move_the_gradient():
    idx = np.array([0, 0, 1])
    x = am.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x[idx].sum()
    idx[:] = 2
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 1.0, 0.0])
    # an index tuple holding an array, and a boolean mask
    rows = np.array([1, 0])
    mask = np.array([True, False, True])
    x2 = am.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    y2 = (x2[rows, 1:] * np.array([1.0, 2.0])).sum() + x2[1][mask].sum()
    pick = np.array([True, False])
    y2 = y2 + am.where(pick, x2[0, :2], 0.0).sum()
    rows[:] = 0
    mask[:] = False
    pick[:] = [False, True]
    y2.backward()
    np.testing.assert_array_equal(x2.grad, [[1, 1, 2], [1, 1, 3]])


def test_a_user_primitive_keeps_a_copy_of_its_constant_arguments():
    @am.primitive
    def scaled(x, s):
        return x * s

    am.defvjp(scaled, lambda g, ans, x, s: g * s, None)
    s = np.array([2.0, 3.0])
    x = am.Tensor([1.0, 1.0], requires_grad=True)
    y = scaled(x, s).sum()
    s[:] = 0.0
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 3.0])


def test_an_in_place_write_to_a_weight_a_live_graph_needs_fails_at_once():
    W = am.Parameter([1.0, 2.0], name="W")
    loss = (W * W).sum()
    with pytest.raises(ValueError, match="read-only"):
        W.value -= 0.1 * np.ones(2)
    with pytest.raises(ValueError, match="read-only"):
        W.value[0] = 5.0
    np.testing.assert_array_equal(W.value, [1.0, 2.0])  # nothing was written
    loss.backward()
    np.testing.assert_array_equal(W.grad, [2.0, 4.0])


def test_after_backward_the_weight_is_writable_in_place_again():
    W = am.Parameter([1.0, 2.0], name="W")
    (W * W).sum().backward()
    W.value -= 0.5 * W.grad                       # the usual update: the graph was freed
    np.testing.assert_array_equal(W.value, [0.0, 0.0])
    W.value[1] = 3.0
    assert W.value[1] == 3.0


def test_a_dropped_graph_lets_go_of_the_weight():
    W = am.Parameter([1.0, 2.0], name="W")
    loss = (W * W).sum()                          # recorded, never backwarded
    del loss
    gc.collect()
    W.value[0] = 7.0
    assert W.value[0] == 7.0


def test_a_new_value_between_two_backwards_of_a_retained_graph_leaves_it_as_recorded():
    W = am.Parameter([1.0, 2.0], name="W")
    loss = (W * W).sum()
    loss.backward(retain_graph=True)
    np.testing.assert_array_equal(W.grad, [2.0, 4.0])
    with pytest.raises(ValueError, match="read-only"):
        W.value -= 0.1 * W.grad                   # in place: the retained graph still needs W
    W.value = W.value - 0.1 * W.grad              # a new array: the graph keeps the old one
    np.testing.assert_allclose(W.value, [0.8, 1.6])
    W.grad = None
    loss.backward()
    np.testing.assert_array_equal(W.grad, [2.0, 4.0])  # the gradient of what was recorded
    am.optim.SGD([W], lr=0.1).step()             # optimizers assign new arrays too


def test_second_order_through_a_reassigned_leaf_is_refused():
    x = am.Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x * x).sum()
    x.value = np.array([5.0, 5.0])
    with pytest.raises(RuntimeError, match="new value after this op was recorded"):
        am.gradients(y, [x], create_graph=True)


def test_assigning_a_value_checks_it_and_never_shares_a_frozen_array():
    W = am.Parameter([1.0, 2.0], name="W")
    V = am.Parameter([0.0, 0.0], name="V")
    loss = (W * W).sum()
    V.value = W.value                             # W's array is frozen by the graph: V gets a copy
    V.value[0] = 9.0
    assert W.value[0] == 1.0
    with pytest.raises(TypeError, match="complex"):
        V.value = np.array([1j, 2.0])
    V.value = [1, 2]                              # whole numbers become floats, as in Tensor()
    assert V.value.dtype == np.float64
    del loss


def test_a_model_fed_a_reused_input_buffer_gets_each_steps_own_input():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(6, 2, 2)), rng.normal(size=(6, 2, 2))

    def grads(feed):
        net = models.ElmanRNN(2, 3, 1, seed=1)
        loss = feed(net)
        loss.backward()
        return net["W_xh"].grad

    def reused(net):
        buf = a.copy()
        first = net(buf).sum()
        buf[:] = b                                # the caller refills its buffer for the next batch
        return first + 2.0 * net(buf).sum()

    want = grads(lambda net: net(a).sum() + 2.0 * net(b).sum())
    np.testing.assert_array_equal(grads(reused), want)


def test_tensor_values_stay_numpy_arrays_for_readers():
    W = am.Parameter(np.eye(2), name="W")
    loss = (W @ np.ones(2)).sum()
    v = W.value                                   # reading while frozen is fine
    assert type(v) is np.ndarray and not v.flags.writeable
    assert float(np.linalg.norm(v)) == pytest.approx(np.sqrt(2))
    loss.backward()
    assert W.value.flags.writeable is False       # `v` still holds it: thawed only when alone
    del v
    assert W.value.flags.writeable


# --- found by review: views, keyword arguments, the setter, lists, intermediates ---------------

@pytest.mark.parametrize("view", [lambda W: W.T, lambda W: W[0], lambda W: W.reshape(4),
                                  lambda W: am.broadcast_to(W, (2, 2)), lambda W: am.swapaxes(W, 0, 1)])
def test_a_view_of_a_weight_is_read_only_while_recorded(view):
    W = am.Parameter([[1.0, 2.0], [3.0, 4.0]], name="W")
    v = view(W)
    x = am.Tensor(np.ones(v.shape), requires_grad=True)
    loss = (x * v).sum()
    want = np.array(v.value)
    with pytest.raises(ValueError, match="read-only"):
        W.value[...] = 100.0
    loss.backward()
    np.testing.assert_array_equal(x.grad, want)


def test_keyword_arrays_are_copied_when_recorded():
    @am.primitive
    def wmul(x, w=None):
        return x * w

    am.defvjp(wmul, lambda g, ans, x, w=None: g * w)
    w = np.array([1.0, 2.0])
    x = am.Tensor([1.0, 1.0], requires_grad=True)
    y = wmul(x, w=w).sum()
    w[:] = 100.0
    y.backward()
    np.testing.assert_array_equal(x.grad, [1.0, 2.0])


def test_the_setter_copies_the_callers_array_and_views_of_it():
    W0 = np.array([1.0, 2.0])
    P = am.Parameter([0.0, 0.0], name="P")
    P.value = W0
    (P * P).sum().backward()
    W0[0] = 5.0                                   # the caller's array stays the caller's
    P.value -= 0.5 * P.grad                       # and W is writable after backward
    np.testing.assert_array_equal(P.value, [0.0, 0.0])
    buf = np.array([1.0, 2.0, 3.0])
    V = am.Parameter([0.0, 0.0], name="V")
    V.value = buf[:2]
    x = am.Tensor([1.0, 1.0], requires_grad=True)
    y = (x * V).sum()
    buf[:] = 100.0
    y.backward()
    np.testing.assert_array_equal(x.grad, [1.0, 2.0])


def test_a_list_constant_changed_after_recording_is_not_seen():
    c = [5.0, 6.0]
    x = am.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (am.concatenate([c, x]) * np.arange(5.0)).sum()
    c.append(7.0)
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 3.0, 4.0])


def test_an_intermediate_a_graph_keeps_is_read_only_once_read():
    x = am.Tensor([0.5, 1.0], requires_grad=True)
    h = am.tanh(x)
    y = (h * h).sum()
    with pytest.raises(ValueError, match="read-only"):
        h.value[...] = 0.0
    y.backward()
    t = np.tanh([0.5, 1.0])
    np.testing.assert_allclose(x.grad, 2 * t * (1 - t ** 2), rtol=1e-14)
    out = am.tanh(am.Tensor([1.0]))               # no graph: an output is the caller's to write
    out.value[0] = 2.0
    assert out.value[0] == 2.0


def test_a_list_a_three_argument_op_keeps_is_copied():
    @am.primitive
    def pick(x, idx, scale):
        return x[idx] * scale

    def pick_vjp(g, ans, x, idx, scale):
        out = np.zeros(np.shape(x))
        np.add.at(out, idx, g * scale)
        return out

    am.defvjp(pick, pick_vjp, None, None)
    idx = [0, 0, 2]
    x = am.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = pick(x, idx, 2.0).sum()
    idx[:] = [1, 1, 1]
    y.backward()
    np.testing.assert_array_equal(x.grad, [4.0, 0.0, 2.0])
