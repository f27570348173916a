"""The engine's contract: recording, backward, the functional face, errors and faults."""
from __future__ import annotations

import contextlib
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autograd_mini as am
from autograd_mini.record import _Pending


# --- values --------------------------------------------------------------------------------

def test_ints_and_bools_become_float64():
    assert am.Tensor([1, 2]).dtype == np.float64
    assert am.Tensor(np.array([True, False])).value.tolist() == [1.0, 0.0]
    assert am.Tensor(np.float32(2.0)).dtype == np.float32  # floats keep their precision


@pytest.mark.parametrize("bad, word", [("abc", "<U3"), (np.array([1j]), "complex"),
                                       (np.array([object()]), "object"), ([[1, 2], [3]], "cannot make an array")])
def test_non_numbers_are_refused(bad, word):
    with pytest.raises(TypeError, match="Tensor") as info:
        am.Tensor(bad)
    assert word in str(info.value)


def test_complex_constant_in_an_op_is_refused():
    x = am.Tensor([1.0], requires_grad=True)
    with pytest.raises(TypeError, match="multiply: result has dtype complex128"):
        x * 1j


def test_tensor_copies_its_input():
    a = np.ones(3)
    t = am.Tensor(a)
    a[0] = 5.0
    assert t.value[0] == 1.0


def test_in_place_assignment_is_refused():
    with pytest.raises(TypeError, match="item assignment"):
        am.Tensor([1.0, 2.0])[0] = 3.0


def test_numpy_on_the_left_hands_over_to_the_tensor():
    x = am.Tensor([1.0, 2.0], requires_grad=True)
    y = np.array([3.0, 4.0]) * x
    assert isinstance(y, am.Tensor) and y.requires_grad
    y.sum().backward()
    assert x.grad.tolist() == [3.0, 4.0]


def test_numpy_conversion_of_a_recorded_tensor_is_refused():
    x = am.Tensor([1.0], requires_grad=True)
    with pytest.raises(TypeError, match="leave the graph"):
        np.asarray(x * 2)
    assert np.asarray(am.Tensor([2.0])).tolist() == [2.0]


def test_operators_and_methods_match_numpy():
    a = np.arange(6.0).reshape(2, 3) + 1
    b = np.linspace(0.5, 2.0, 3)
    A, B = am.Tensor(a), am.Tensor(b)
    checks = [
        (A + B, a + b), (A - B, a - b), (A * B, a * b), (A / B, a / b), (A ** 2, a ** 2),
        (2 - A, 2 - a), (2 / A, 2 / a), (2 ** B, 2 ** b), (-A, -a), (abs(-A), a),
        (A @ B, a @ b), (A.T, a.T), (A[1, 1:], a[1, 1:]), (A.sum(axis=0), a.sum(0)),
        (A.mean(), a.mean()), (A.max(axis=1, keepdims=True), a.max(1, keepdims=True)),
        (A.reshape(3, 2), a.reshape(3, 2)), (A.transpose(1, 0), a.T),
    ]
    for got, want in checks:
        np.testing.assert_allclose(got.value, want)
    assert (A > 2).tolist() == (a > 2).tolist()


# --- recording ------------------------------------------------------------------------------

def test_tape_records_in_execution_order_with_scopes():
    w = am.Parameter([0.5], name="w")
    h = am.Tensor([1.0])
    with am.Tape() as tape:
        for t in range(3):
            with am.scope("rnn", step=t), am.scope("cell"):
                h = am.tanh(h * w)
    assert [n.op for n in tape.nodes] == ["multiply", "tanh"] * 3
    assert [n.step for n in tape.nodes] == [0, 0, 1, 1, 2, 2]
    assert am.format_scope(tape.nodes[3].scope) == "rnn step 1 / cell"
    assert tape.nodes[1].inputs[0] is tape.nodes[0].output
    assert [n.index for n in tape.nodes] == sorted(n.index for n in tape.nodes)


def test_nothing_is_recorded_without_a_tensor_that_requires_grad():
    w = am.Parameter([0.5])
    c = am.Tensor([2.0])
    with am.Tape() as tape:
        c * c
        with am.no_grad():
            y = w * 3
    assert tape.nodes == [] and not y.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_plain_arrays_give_plain_arrays():
    out = am.tanh(np.array([0.0, 1.0]))
    assert type(out) is np.ndarray


# --- backward -------------------------------------------------------------------------------

def test_shared_weight_gets_the_sum_of_its_copies_gradients():
    rng = np.random.default_rng(0)
    W0 = rng.normal(size=(3, 3))
    xs = rng.normal(size=(5, 2, 3))

    def unroll(weights):
        h = am.Tensor(np.full((2, 3), 0.5))
        for t, W in enumerate(weights):
            h = am.sigmoid(h @ W + xs[t])
        return (h * h).sum()

    shared = am.Parameter(W0, name="W")
    unroll([shared] * 5).backward()
    copies = [am.Parameter(W0, name=f"W{t}") for t in range(5)]
    unroll(copies).backward()
    np.testing.assert_allclose(shared.grad, sum(c.grad for c in copies), rtol=1e-12)
    assert not np.allclose(copies[0].grad, copies[4].grad)  # the copies really differ


def test_edge_contributions_are_kept_only_when_asked_and_sum_to_the_gradient():
    W = am.Parameter(np.eye(2) * 0.9, name="W")
    for keep in (False, True):
        W.grad = None
        h = am.Tensor([[1.0, -1.0]])
        with am.Tape(keep_grads=keep) as tape:
            for t in range(4):
                with am.scope("rnn", step=t):
                    h = am.tanh(h @ W)
            loss = h.sum()
        loss.backward()
        uses = [(n, i) for n in tape.nodes for i, x in enumerate(n.inputs) if x is W]
        assert len(uses) == 4
        if not keep:
            assert all(n.input_grads[i] is None and n.output_grad is None for n, i in uses)
        else:
            total = sum(n.input_grads[i] for n, i in uses)
            np.testing.assert_allclose(total, W.grad, rtol=1e-12)
            norms = [n.input_grad_norms[i] for n, i in uses]
            assert all(v > 0 for v in norms)


def test_slices_of_one_tensor_share_one_buffer_without_changing_kept_edge_gradients():
    # The LSTM's gates are four slices of one pre-activation: their gradients are collected and
    # added into one buffer. The edge gradients a Tape keeps must stay each slice's own, and a
    # further, non-slice use must still be added.
    z0 = np.arange(1.0, 9.0).reshape(2, 4)
    expected = np.tile([2.0, 3.0, 4.0, 5.0], (2, 1)) + 2 * z0  # from the slices + from (z*z).sum()
    for keep in (False, True):
        z = am.Tensor(z0, requires_grad=True)
        with am.Tape(keep_grads=keep) as tape:
            parts = [z[:, k:k + 1] * (k + 1.0) for k in range(4)]
            loss = sum(p.sum() for p in parts) + (z * z).sum() + z[:, 0:4].sum()
        g = am.gradients(loss, [z])[0]
        np.testing.assert_allclose(g, expected, rtol=1e-12)
        if keep:
            slices = [n for n in tape.nodes if n.op == "getitem"]
            assert len(slices) == 5
            for k, n in enumerate(slices[:4]):
                mask = np.zeros((2, 4))
                mask[:, k] = k + 1.0
                np.testing.assert_array_equal(n.input_grads[0], mask)


# A weight's uses as a matmul's right operand, and a tensor's slices, are collected and summed
# at once when the tensor's turn comes (one matmul over every step). Anomaly mode sends every
# edge's gradient on its own, as it is computed: the reference these tests compare against.
_USES = ("matmul", "vector @ W", "batched matmul", "times a constant", "slice", "whole", "W @ x")


def _loss_of_many_uses(W: am.Tensor, kinds: list[str], seed: int) -> am.Tensor:
    rng = np.random.default_rng(seed)
    k, m = W.shape
    terms = []
    for t, kind in enumerate(kinds):
        with am.scope("use", step=t):
            if kind == "matmul":
                y = am.Tensor(rng.normal(size=(3, k))) @ W
            elif kind == "vector @ W":
                y = am.Tensor(rng.normal(size=k)) @ W
            elif kind == "batched matmul":
                y = am.Tensor(rng.normal(size=(2, 3, k))) @ W
            elif kind == "times a constant":
                y = W * rng.normal(size=(k, m))
            elif kind == "slice":
                j = t % m
                y = W[:, j:j + 1] * rng.normal()
            elif kind == "whole":
                y = W[...] * 2.0
            else:  # W as the left operand: not collected
                y = W @ am.Tensor(rng.normal(size=(m, 2)))
            terms.append((am.tanh(y) * rng.normal(size=y.shape)).sum())
    return sum(terms[1:], terms[0])


def _per_edge_gradient(build) -> np.ndarray:
    with am.detect_anomaly():
        loss, wrt = build()
        return am.gradients(loss, [wrt])[0]


@settings(max_examples=15)
@given(kinds=st.lists(st.sampled_from(_USES), min_size=1, max_size=150),
       through_a_record=st.booleans(), seed=st.integers(0, 2**16),
       budget=st.sampled_from([(4, 1 << 20), (1, 0), (0, 0)]))  # (0, 0): a sum at every call
def test_collected_gradients_equal_the_sum_of_each_edge_s(kinds, through_a_record, seed, budget):
    W0 = np.random.default_rng(seed + 1).normal(size=(4, 3))

    def build():
        Wl = am.Tensor(W0, requires_grad=True)
        W = Wl * 1.0 if through_a_record else Wl  # a record's gradient is summed when it is popped
        return _loss_of_many_uses(W, kinds, seed), Wl

    loss, Wl = build()
    saved = _Pending.ROOM, _Pending.MIN_BUDGET
    _Pending.ROOM, _Pending.MIN_BUDGET = budget
    try:
        loss.backward()
    finally:
        _Pending.ROOM, _Pending.MIN_BUDGET = saved
    np.testing.assert_allclose(Wl.grad, _per_edge_gradient(build), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n_steps, batch", [(1, 3), (200, 3), (40, 2000)])
def test_a_tied_weight_over_many_steps_matches_hand_written_bptt(n_steps, batch):
    # An Elman net: the weight's gradient is sum_t h_{t-1}^T dz_t, here one matmul for as many
    # steps as fit in 1 MB (all 200 at batch 3; 13 at batch 2000); the hand-written loop adds
    # the steps one by one.
    rng = np.random.default_rng(n_steps)
    W0, xs = rng.normal(size=(5, 5)) * 0.4, rng.normal(size=(n_steps, batch, 5))
    W = am.Parameter(W0, name="W_hh")
    h = am.Tensor(np.full((batch, 5), 0.5))
    for t in range(n_steps):
        h = am.tanh(h @ W + xs[t])
    (h * h).sum().backward()

    hs = [np.full((batch, 5), 0.5)]
    for t in range(n_steps):
        hs.append(np.tanh(hs[-1] @ W0 + xs[t]))
    dW, dh = np.zeros_like(W0), 2 * hs[-1]
    for t in range(n_steps, 0, -1):
        dz = dh * (1 - hs[t] ** 2)
        dW += hs[t - 1].T @ dz
        dh = dz @ W0.T
    np.testing.assert_allclose(W.grad, dW, rtol=1e-10, atol=1e-12)


def test_collecting_a_weight_s_gradients_holds_a_bounded_amount_of_memory():
    # 64 steps of h = tanh(h @ W) with 256 x 256 arrays: collecting all 64 steps' (h, g) pairs
    # and stacking them took ~100 MB; a few weights' worth (4 here) are held between sums.
    rng = np.random.default_rng(5)
    W = am.Parameter(rng.normal(size=(256, 256)) * 0.05, name="W")
    h = am.Tensor(rng.normal(size=(256, 256)))
    for _ in range(64):
        h = am.tanh(h @ W)
    loss = (h * h).sum()
    tracemalloc.start()
    try:
        loss.backward()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 24 * W.value.nbytes, f"backward peaked at {peak / 1e6:.1f} MB"


def test_an_error_while_summing_collected_gradients_names_the_op_and_leaves_no_gradient_behind():
    @am.primitive
    def wrong_vjp(x):
        return x * 1.0

    am.defvjp(wrong_vjp, lambda g, ans, x: np.ones((7, 7)))  # the wrong shape
    W = am.Tensor(np.eye(3), requires_grad=True)
    x = am.Tensor(np.ones((2, 3)))
    loss = sum(wrong_vjp(x @ W).sum() for _ in range(3)) + (W * W).sum()
    with pytest.raises(ValueError) as info:
        loss.backward(retain_graph=True)
    assert any("backward pass of matmul (argument 1), summing the gradients of 3 uses" in note
               for note in info.value.__notes__)
    assert W.grad is None
    W2 = am.Tensor(np.eye(3), requires_grad=True)
    (W2 * W2).sum().backward()  # the engine is fine afterwards
    np.testing.assert_array_equal(W2.grad, 2 * np.eye(3))


def test_a_matmul_with_keyword_arguments_is_not_summed_without_them():
    # Collected calls carry no keywords: summing them would silently drop axes=...
    W = am.Tensor(np.eye(3), requires_grad=True)
    y = am.matmul(np.arange(9.0).reshape(3, 3), W, axes=[(-1, -2), (-2, -1), (-2, -1)])
    with pytest.raises(TypeError, match="axes"):
        y.sum().backward()


@pytest.mark.parametrize("kind", ["matmul", "slice"])
def test_a_collected_sum_never_adds_into_a_gradient_another_tensor_shares(kind):
    # add's VJP hands the same array to both inputs. Recorded last, it reaches W first; W's
    # collected uses must then be summed into a new array, or A's gradient would change too.
    rng = np.random.default_rng(3)
    A = am.Tensor(rng.normal(size=(4, 4)), requires_grad=True)
    W = am.Tensor(rng.normal(size=(4, 4)), requires_grad=True)
    c = rng.normal(size=(4, 4))
    uses = [am.Tensor(rng.normal(size=(2, 4))) @ W if kind == "matmul" else W[:, t:t + 1]
            for t in range(4)]
    loss = sum((u * u).sum() for u in uses) + ((A + W) * c).sum()
    loss.backward()
    np.testing.assert_array_equal(A.grad, c)


def test_gradients_of_an_intermediate_with_collected_uses():
    # W is a record: asked for alone it is never visited, asked for with its leaf it is.
    rng = np.random.default_rng(4)
    Wl = am.Tensor(rng.normal(size=(3, 3)), requires_grad=True)
    W = Wl * 2.0
    xs = [am.Tensor(rng.normal(size=(2, 3))) for _ in range(5)]
    loss = sum(((x @ W) ** 2).sum() + W[0:1].sum() for x in xs)
    expected = sum(2 * x.value.T @ (x.value @ W.value) for x in xs) + np.pad(np.full((1, 3), 5.0), ((0, 2), (0, 0)))
    gW, = am.gradients(loss, [W], retain_graph=True)
    np.testing.assert_allclose(gW, expected, rtol=1e-12)
    gW, gWl = am.gradients(loss, [W, Wl])
    np.testing.assert_allclose(gW, expected, rtol=1e-12)
    np.testing.assert_allclose(gWl, 2 * expected, rtol=1e-12)


@pytest.mark.parametrize("index", [True, (Ellipsis, True), (0, True), np.True_])
def test_a_bool_index_is_a_mask_not_an_integer_when_slices_share_a_buffer(index):
    # x[True] is advanced indexing (a copy): adding into it in place would drop the gradient.
    x0 = np.arange(1.0, 7.0).reshape(2, 3)
    x = am.Tensor(x0, requires_grad=True)
    loss = (x[index] * 2.0).sum() + x[:, 1:].sum() + x[0:1].sum()
    g = am.gradients(loss, [x])[0]
    mask = np.zeros_like(x0)
    np.add.at(mask, index, 2.0)  # numpy's own reading of the index
    expected = mask + np.pad(np.ones((2, 2)), ((0, 0), (1, 0))) + np.pad(np.ones((1, 3)), ((0, 1), (0, 0)))
    np.testing.assert_array_equal(g, expected)


def test_anomaly_mode_sees_a_non_finite_gradient_added_into_a_slice_buffer():
    # Each slice's gradient is finite (1e308); where slices overlap, their sum is not.
    x = am.Tensor(np.full(4, 1e-300), requires_grad=True)
    with am.detect_anomaly():
        a, b = x[0:2], x[2:4]
        loss = (a * 1e308).sum() + (b * 1e308).sum() + (x[1:3] * 1e308).sum()
        with pytest.raises(FloatingPointError, match="getitem .* non-finite"):
            loss.backward()

def test_a_100000_op_chain_backpropagates_without_recursion():
    x = am.Parameter([1.0], name="x")
    y = x
    for _ in range(50_000):
        y = y * 1.0
        y = y + 0.0
    y.sum().backward()
    assert x.grad.tolist() == [1.0]


def _peak_memory_of_unroll(steps: int) -> int:
    W = am.Parameter(np.eye(8) * 0.5)
    tracemalloc.start()
    h = am.Tensor(np.ones((4, 8)))
    for _ in range(steps):
        h = am.tanh(h @ W)
    h.sum().backward()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_memory_grows_linearly_with_the_unroll():
    # Four times the steps, about four times the memory (quadratic growth would give 16). Below 4:
    # backward holds up to 1 MB of a shared weight's step gradients before summing them, a
    # constant; and the graph's structure (kept after backward for am.graph_of) costs ~20%.
    small, large = _peak_memory_of_unroll(2000), _peak_memory_of_unroll(8000)
    assert 2.5 < large / small < 5.0


def test_a_recorded_op_keeps_few_objects_for_the_garbage_collector():
    # Every object a record keeps until backward is counted and scanned by Python's garbage
    # collector; at ~5 per op the collector took ~2.5% of the LSTM benchmark. Records share
    # shape tuples (their inputs', and one per distinct output shape) to stay near 3.
    import gc

    W = am.Parameter(np.eye(4) * 0.5)
    b = am.Parameter(np.zeros(4))

    def unroll(steps: int) -> am.Tensor:
        h = am.Tensor(np.ones((2, 4)))
        for _ in range(steps):
            z = h @ W + b
            h = am.tanh(z) * am.sigmoid(z)
        return h.sum()

    unroll(3)  # shapes interned, functions warm
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        before = {id(o) for o in gc.get_objects()}
        loss = unroll(200)
        kept = [o for o in gc.get_objects() if id(o) not in before]
    finally:
        if was_enabled:
            gc.enable()
    n_ops = 200 * 5 + 1  # matmul, add, tanh, sigmoid, multiply per step; the sum
    assert loss.requires_grad
    assert len(kept) / n_ops < 3.5, f"{len(kept) / n_ops:.2f} tracked objects per op"

def test_second_backward_over_a_freed_graph_is_a_clear_error():
    w = am.Parameter([2.0])
    with am.scope("rnn", step=7):
        loss = (w * w).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="second time.*rnn step 7.*retain_graph=True"):
        loss.backward()


def test_retain_graph_allows_a_second_backward_and_grads_accumulate():
    w = am.Parameter([2.0])
    loss = (w * w).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    assert w.grad.tolist() == [8.0]


def test_non_scalar_output_needs_a_seed():
    x = am.Parameter([1.0, 2.0])
    y = x * 3
    with pytest.raises(ValueError, match=r"shape \(2,\), not a scalar"):
        y.backward()
    with pytest.raises(ValueError, match="seed gradient has shape"):
        y.backward(np.ones(3))
    y.backward(np.array([1.0, 10.0]))
    assert x.grad.tolist() == [3.0, 30.0]


def test_retain_grad_keeps_hidden_state_gradients():
    W = am.Parameter(np.eye(2) * 0.5)
    h = am.Tensor([[1.0, 1.0]])
    hs = []
    for _ in range(3):
        h = am.tanh(h @ W).retain_grad()
        hs.append(h)
    h.sum().backward()
    norms = [np.linalg.norm(t.grad) for t in hs]
    assert norms[0] < norms[1] < norms[2]  # small weights: the gradient shrinks going back


def test_detach_cuts_the_graph():
    w = am.Parameter([3.0])
    h = (w * 2).detach()
    assert not h.requires_grad and h.is_leaf
    (w * h).sum().backward()
    assert w.grad.tolist() == [6.0]


# --- functional face and higher order ------------------------------------------------------

def test_grad_is_numpy_in_numpy_out():
    g = am.grad(lambda x: (x ** 2).sum())(np.array([1.0, 2.0]))
    assert type(g) is np.ndarray and g.tolist() == [2.0, 4.0]
    v, gs = am.value_and_grad(lambda a, b: (a * b).sum(), argnums=(0, 1))(np.array([2.0]), np.array([5.0]))
    assert v == 10.0 and gs[0].tolist() == [5.0] and gs[1].tolist() == [2.0]


def test_grad_of_grad_and_third_derivative():
    f = lambda x: x ** 3  # noqa: E731
    assert am.grad(am.grad(f))(2.0) == pytest.approx(12.0)
    assert am.grad(am.grad(am.grad(f)))(2.0) == pytest.approx(6.0)
    tanh2 = am.grad(am.grad(am.tanh))(0.5)
    t = np.tanh(0.5)
    assert tanh2 == pytest.approx(-2 * t * (1 - t ** 2))


def test_nested_grad_has_no_perturbation_confusion():
    # d/dx [ d/dy (x * y) at y=1 ] = d/dx x = 1
    outer = am.grad(lambda x: am.grad(lambda y: x * y)(1.0))(3.0)
    assert outer == pytest.approx(1.0)


def test_hessian_vector_product_matches_finite_differences():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(4, 4))
    f = lambda x: am.sum(am.tanh(A @ x) ** 2)  # noqa: E731
    x0, v = rng.normal(size=4), rng.normal(size=4)
    hvp = am.grad(lambda x: am.sum(am.grad(f)(x) * v))(x0)
    eps = 1e-5
    fd = (am.grad(f)(x0 + eps * v) - am.grad(f)(x0 - eps * v)) / (2 * eps)
    np.testing.assert_allclose(hvp, fd, rtol=1e-6, atol=1e-8)


def test_grad_needs_a_scalar():
    with pytest.raises(ValueError, match=r"scalar, got shape \(2,\)"):
        am.grad(lambda x: x * 2)(np.ones(2))


def test_grad_of_a_function_that_ignores_its_input_is_zero():
    assert am.grad(lambda x: am.Tensor(3.0))(np.ones(2)).tolist() == [0.0, 0.0]


def test_gradients_does_not_touch_dot_grad():
    w = am.Parameter([2.0])
    (g,) = am.gradients((w * w).sum(), [w])
    assert g.tolist() == [4.0] and w.grad is None


def test_user_primitive_with_and_without_vjp():
    @am.primitive
    def square(x):
        return x * x

    w = am.Parameter([3.0])
    with pytest.raises(NotImplementedError, match="square.*defvjp"):
        square(w)
    am.defvjp(square, lambda g, ans, x: 2 * g * x)
    square(w).sum().backward()
    assert w.grad.tolist() == [6.0]
    assert am.grad(am.grad(lambda x: square(x).sum()))(1.5) == pytest.approx(2.0)


# --- bad input and faults --------------------------------------------------------------------

def test_shape_errors_name_the_op_the_shapes_and_the_scope():
    W = am.Parameter(np.ones((2, 3)))
    with am.scope("rnn", step=7):
        with pytest.raises(ValueError) as info:
            W @ np.ones(4)
    msg = str(info.value)
    assert "matmul" in msg and "(2, 3)" in msg and "(4,)" in msg and "rnn step 7" in msg
    with pytest.raises(ValueError, match=r"add: .*\(2, 3\).*\(2,\)"):
        W + np.ones(2)


def test_detect_anomaly_names_the_op_in_forward_and_backward():
    x = am.Parameter([0.0, 1.0])
    with am.detect_anomaly(), am.scope("hmm", step=2):
        with pytest.raises(FloatingPointError, match="log produced .*-inf.*hmm step 2"):
            am.log(x)
        y = am.sqrt(x).sum()  # finite forward, infinite gradient at 0
        with pytest.raises(FloatingPointError, match="sqrt sent its input a gradient"):
            y.backward()
    with np.errstate(divide="ignore"):
        assert np.isneginf(am.log(x).value[0])  # without the detector: IEEE semantics


@pytest.mark.parametrize("fn", [am.sigmoid, lambda x: am.logsumexp(x, axis=0), am.softmax, am.log_softmax])
def test_stable_functions_give_no_nan(fn):
    x = am.Parameter([-1e4, 0.0, 1e4])
    with am.detect_anomaly():
        y = fn(x)
        am.sum(y * np.array([1.0, 2.0, 3.0])).backward()
    assert np.isfinite(x.grad).all()


def test_import_stays_light():
    code = ("import sys, autograd_mini; heavy = {'hypothesis', 'networkx', 'graphviz', 'scipy', "
            "'matplotlib', 'models', 'viz'}; print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_constants_given_as_lists_work_in_matmul_gradients():
    W = am.Parameter(np.ones((2, 2)))
    am.matmul([[1.0, 2.0]], W).sum().backward()
    assert W.grad.tolist() == [[1.0, 1.0], [2.0, 2.0]]
    g = am.grad(lambda w: am.sum(am.matmul(w, [1.0, -1.0]) ** 2))(np.eye(2))
    np.testing.assert_allclose(g, [[2.0, -2.0], [-2.0, 2.0]])


def test_logsumexp_of_a_slice_of_minus_infinity_has_zero_gradient_not_nan():
    x = am.Tensor([[0.0, -np.inf], [-np.inf, -np.inf]], requires_grad=True)
    y = am.logsumexp(x, axis=1)
    assert y.value[0] == 0.0 and y.value[1] == -np.inf
    am.where(np.isfinite(y.value), y, 0.0).sum().backward()
    assert x.grad.tolist() == [[1.0, 0.0], [0.0, 0.0]]


def test_a_failing_vjp_leaves_no_stale_gradient_behind():
    calls = []

    @am.primitive
    def flaky(x):
        return x * 1.0

    def vjp(g, ans, x):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return g

    am.defvjp(flaky, vjp)
    w = am.Parameter([1.0, 2.0])
    h = w * 3.0
    loss = am.sum(flaky(h) + h)
    with pytest.raises(RuntimeError, match="boom"):
        loss.backward(retain_graph=True)
    w.grad = None
    loss.backward()
    assert w.grad.tolist() == [6.0, 6.0]  # 3 through flaky + 3 directly, nothing left over


def test_gradients_with_respect_to_an_intermediate_leave_the_graph_clean():
    w = am.Parameter([1.0, 2.0])
    h = w * 2.0
    loss = am.sum(h * h)
    (gh,) = am.gradients(loss, [h], retain_graph=True)
    assert gh.tolist() == [4.0, 8.0]
    loss.backward()
    assert w.grad.tolist() == [8.0, 16.0]


def test_gradients_with_respect_to_a_tensor_and_something_upstream_of_it():
    x = am.Tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    gh, gx = am.gradients((h * h).sum(), [h, x])
    assert gh.tolist() == [4.0, 8.0] and gx.tolist() == [8.0, 16.0]
    ga, gb = am.grad(lambda a, b: (a * b).sum(), argnums=(0, 0))(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    assert ga.tolist() == gb.tolist() == [3.0, 4.0]
    assert ga is not gb  # results never share memory


@pytest.mark.parametrize("then", ["backward", "gradients"])
def test_gradients_of_a_part_leave_no_gradient_on_branches_it_does_not_need(then):
    # y does not lead to w: asking for d z / d w must leave nothing on y, or a later pass through
    # y would take the leftover for an earlier use and never visit y.
    x = am.Tensor([1.0, 2.0], requires_grad=True)
    w = am.Tensor([3.0, 4.0], requires_grad=True)
    y = x * 2.0
    z = (y * w).sum()
    np.testing.assert_array_equal(am.gradients(z, [w], retain_graph=True)[0], [2.0, 4.0])
    if then == "backward":
        z.backward()
        np.testing.assert_array_equal(x.grad, [6.0, 8.0])
    else:
        np.testing.assert_array_equal(am.gradients((y * y).sum(), [x])[0], [8.0, 16.0])


def test_a_freed_branch_that_is_not_needed_is_no_error():
    x = am.Tensor([1.0, 2.0], requires_grad=True)
    a, b = x * 2, x * 3
    a.sum().backward()  # frees a's record
    (gb,) = am.gradients((a * 1).sum() * 0 + b.sum(), [b])
    assert gb.tolist() == [1.0, 1.0]


def test_transpose_axes_given_as_an_array():
    x = am.Tensor(np.arange(24.0).reshape(2, 3, 4), requires_grad=True)
    (am.transpose(x, np.array([2, 0, 1])) * np.arange(24.0).reshape(4, 2, 3)).sum().backward()
    np.testing.assert_array_equal(x.grad, np.transpose(np.arange(24.0).reshape(4, 2, 3), (1, 2, 0)))
    assert am.Tensor(np.ones((2, 3))).transpose(np.array([1, 0])).shape == (3, 2)


def test_clip_unbroadcasts_and_differentiates_its_bounds():
    x = am.Tensor(0.5, requires_grad=True)
    am.clip(x, np.zeros(3), 1.0).sum().backward()
    assert x.grad.shape == () and float(x.grad) == 3.0
    lo = am.Tensor([0.7], requires_grad=True)
    x = am.Tensor([0.5, 0.9], requires_grad=True)
    am.clip(x, lo, 1.0).sum().backward()
    assert lo.grad.tolist() == [1.0] and x.grad.tolist() == [0.0, 1.0]


def test_the_record_has_one_owner_and_no_import_goes_in_a_circle():
    """record.py alone reads and writes a record's fields; tensor.py imports neither it nor
    backward.py (they install the methods that reach the graph on Tensor)."""
    import ast
    from pathlib import Path

    pkg = Path(am.__file__).parent
    for path in pkg.glob("*.py"):
        text = path.read_text()
        if path.name != "record.py":
            assert "_rec[" not in text and "ARGS" not in text, f"{path.name} reads a record's fields"
    imported = {}
    for path in pkg.glob("*.py"):
        tree = ast.parse(path.read_text())
        imported[path.stem] = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 1}
    assert not imported["tensor"] & {"record", "backward", "primitives"}
    assert "backward" not in imported["record"]
    assert am.Tensor([1.0]).op is None and (am.Tensor([1.0], requires_grad=True) * 2).op == "multiply"


def _elman_pass(mode: str) -> dict:
    """One Elman loss (a shared weight as a matmul's right operand, slices, a sum with axis,
    retain_grad on a hidden state) and its gradients, taken in ``mode``."""
    rng = np.random.default_rng(7)
    W = am.Parameter(rng.normal(size=(3, 3)), name="W")
    U = am.Parameter(rng.normal(size=(2, 3)), name="U")
    xs = rng.normal(size=(5, 4, 2))
    tape = am.Tape(keep_grads=True)  # recorded on it (mode keep_grads), every record has a node
    with tape if mode == "keep_grads" else contextlib.nullcontext():
        h = am.Tensor(np.full((4, 3), 0.5))
        hs = []
        for t in range(5):
            h = am.tanh(xs[t] @ U + h @ W)
            hs.append(h.retain_grad())
        loss = am.sum(am.sum(h[:, :2] * h[:, 1:], axis=1) ** 2) + am.sum(hs[2])
    if mode == "keep_grads":
        assert len(tape.nodes) > 20
    if mode in ("plain", "keep_grads"):
        loss.backward()
    elif mode == "anomaly":
        with am.detect_anomaly():
            loss.backward()
    else:
        W.grad, U.grad = am.gradients(loss, [W, U])
        return {"W": W.grad, "U": U.grad}
    return {"W": W.grad, "U": U.grad, "h2": hs[2].grad}


@pytest.mark.parametrize("mode", ["anomaly", "keep_grads", "wrt"])
def test_the_hot_loop_and_the_rare_modes_visit_agree(mode):
    # A plain backward visits records inline; detect_anomaly, keep_grads and wrt take
    # _Pass.visit, record by record, and sum a weight's uses one by one. Same gradients.
    plain, other = _elman_pass("plain"), _elman_pass(mode)
    assert set(other) <= set(plain)
    for k in other:
        np.testing.assert_allclose(other[k], plain[k], rtol=1e-12, atol=1e-12)
    assert np.abs(plain["W"]).sum() > 0.1 and np.abs(plain["h2"]).sum() > 0.1


def test_a_plain_backward_visits_every_record_in_the_hot_loop(monkeypatch):
    # The rare modes' visit is for the rare modes: a plain pass must not take it (a change that
    # sends every record through it would be as right and much slower), retain_grad takes it
    # for that record only, and detect_anomaly for every record.
    from autograd_mini.record import _Pass
    seen = []
    real = _Pass.visit
    monkeypatch.setattr(_Pass, "visit", lambda self, rec, g: (seen.append(rec), real(self, rec, g)))
    W = am.Parameter(np.eye(3))
    x = np.ones((2, 3))
    h1 = am.tanh(x @ W)
    loss = am.sum(am.tanh(h1 @ W) + h1)
    loss.backward(retain_graph=True)
    assert seen == []
    am.gradients(loss, [W], retain_graph=True)  # wrt leaves: the loop filters the edges itself
    assert seen == []
    am.gradients(loss, [h1, W], retain_graph=True)  # a wanted record is visited by visit()
    assert seen == [h1._rec]
    seen.clear()
    h1.retain_grad()
    loss.backward(retain_graph=True)
    assert seen == [h1._rec]
    seen.clear()
    with am.detect_anomaly():
        loss.backward(retain_graph=True)
    assert len(seen) == 6
    seen.clear()
    with am.Tape():  # a tape that keeps no gradients: its nodes need no visit of their own
        W2 = am.Parameter(np.eye(3))
        am.sum(am.tanh(x @ W2)).backward()
    assert seen == []


@settings(deadline=None)
@given(data=st.data())
def test_slices_that_tile_a_tensor_are_joined_and_others_use_the_buffer(data):
    # _getitem_vjp_sum joins the gradients of slices that cover a tensor once along one axis
    # (no zero-filled buffer); gaps, overlaps, repeats, steps, out-of-range bounds and integer
    # indices take the buffer. Both must give the buffer's sum, in any order of the calls.
    from autograd_mini import primitives as P
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(P, "_TILE_MIN", 0)  # small tensors too (the threshold only saves time)
        _check_tiling(data, P)


def _check_tiling(data, P):
    shape = tuple(data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=3)))
    ax = data.draw(st.integers(0, len(shape) - 1))
    n = shape[ax]
    cuts = sorted(data.draw(st.sets(st.integers(1, n - 1), max_size=3))) if n > 1 else []
    spans = list(zip([0, *cuts], [*cuts, n]))
    extra = data.draw(st.lists(st.tuples(st.integers(-1, n), st.integers(0, n + 2)), max_size=2))  # break it, often
    spans = data.draw(st.permutations(spans + extra))
    rng = np.random.default_rng(len(spans))
    calls, kinds = [], []
    for lo, hi in spans:
        kind = data.draw(st.sampled_from(["slice", "slice", "step", "int"]))
        kinds.append(kind)
        if kind == "int":
            part = min(max(lo, 0), n - 1)
        else:
            part = slice(None if lo == 0 and kind == "slice" and data.draw(st.booleans()) else lo, hi,
                         2 if kind == "step" else None)
        index = tuple(part if k == ax else slice(None) for k in range(len(shape)))
        g = rng.normal(size=np.zeros(shape)[index].shape)
        calls.append((g, None, (shape, index if len(shape) > 1 or data.draw(st.booleans()) else index[0])))
    expected = np.zeros(shape)
    for g, _, (_, index) in calls:
        P._add_slice(expected, index, g)
    got = P._getitem_vjp_sum(calls, None)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert got.shape == shape
    tiling = not extra and set(kinds) == {"slice"}
    assert (P._tiles(calls, shape) is not None) == tiling


def test_the_gates_of_an_lstm_are_joined_not_added_into_zeros(monkeypatch):
    from autograd_mini import primitives as P
    H = 64  # 32 x 256: above the size where the join pays
    z = am.Tensor(np.random.default_rng(0).normal(size=(32, 4 * H)), requires_grad=True)
    gates = [z[:, k * H:(k + 1) * H] for k in (2, 0, 3, 1)]
    loss = sum(am.sum(am.tanh(g) * (k + 1.0)) for k, g in enumerate(gates))
    zeros = []
    monkeypatch.setattr(P.np, "zeros", lambda *a, **k: zeros.append(a) or np.zeros(*a, **k))
    loss.backward()
    assert zeros == []
    expected = np.concatenate([(1 - np.tanh(z.value[:, k * H:(k + 1) * H]) ** 2) * ([2, 4, 1, 3][k])
                               for k in range(4)], axis=1)
    np.testing.assert_allclose(z.grad, expected, rtol=1e-12)


@pytest.mark.parametrize("call", [
    lambda a, b, c: am.add(a, c),        # Tensor, array (broadcast)
    lambda a, b, c: am.multiply(c, b),   # array, Tensor
    lambda a, b, c: a @ b,                # two Tensors
    lambda a, b, c: am.tanh(a),
    lambda a, b, c: am.sum(a * b),        # a float64 scalar from numpy: a 0-d array
    lambda a, b, c: am.sum(b, axis=0),    # keyword arguments
    lambda a, b, c: am.where(c > 0, a, b),  # three arguments: the general path
])
def test_under_no_grad_an_op_gives_the_recorded_value_as_a_constant(call):
    # no_grad has its own short path through the wrapper (no records, no parents): the same
    # values, types and dtypes as when recorded, and nothing that requires grad comes out.
    rng = np.random.default_rng(7)
    a, b = am.Parameter(rng.normal(size=(3, 3))), am.Parameter(rng.normal(size=(3, 3)))
    c = rng.normal(size=(3,))
    recorded = call(a, b, c)
    with am.no_grad():
        plain = call(a, b, c)
    assert recorded.requires_grad and not plain.requires_grad and plain._rec is None
    assert type(plain.value) is np.ndarray and plain.value.dtype == recorded.value.dtype
    np.testing.assert_array_equal(plain.value, recorded.value)


def test_under_no_grad_errors_name_the_op_and_anomaly_mode_still_watches():
    a = am.Tensor(np.ones((2, 3)))
    with am.no_grad():
        with pytest.raises(ValueError, match=r"matmul: cannot apply to .*\(2, 3\).*\(2, 3\)"):
            am.matmul(a, a)
        with pytest.raises(TypeError, match=r"tanh: cannot apply to \(shape \(2, 3\), axis=0\)"):
            am.tanh(a, axis=0)
        with am.detect_anomaly(), pytest.raises(FloatingPointError, match="log"), np.errstate(divide="ignore"):
            am.log(a - 1.0)
