"""The memoryless models: delay taps, what their window can and cannot learn, gradients, I/O."""
from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autograd_mini as am
import models
from autograd_mini.testing import gradcheck
from models.memoryless import Autoregressive, FeedForward, carry_chain_batch
from models.tasks import Batch, BinaryAddition, NextTerm, Task

ROOT = Path(__file__).resolve().parents[1]


class FixedBatch(Task):
    """A task that always gives the same batch: models.train then descends one fixed loss."""

    def __init__(self, batch: Batch, loss: str = "mse") -> None:
        self.batch, self.loss = batch, loss
        self.n_in, self.n_out = batch.x.shape[2], batch.y.shape[2]

    def sample(self, rng, batch_size, length=None):
        return self.batch


def accuracy(model, batch: Batch) -> float:
    with am.no_grad():
        return models.bit_accuracy(model(batch.x), batch)


# --- shapes, taps, checks --------------------------------------------------------------------

def test_taps_are_the_k_most_recent_inputs_newest_first_zero_before_the_start():
    x = np.arange(1.0, 11.0).reshape(5, 1, 2)  # 5 steps, 1 sequence, 2 features
    taps = Autoregressive(n_in=2, k=3).taps(x)
    assert taps.shape == (5, 1, 6)
    assert taps[0, 0].tolist() == [1, 2, 0, 0, 0, 0]
    assert taps[1, 0].tolist() == [3, 4, 1, 2, 0, 0]
    assert taps[4, 0].tolist() == [9, 10, 7, 8, 5, 6]


@pytest.mark.parametrize("make", [lambda: Autoregressive(n_in=2, k=3, n_out=2),
                                  lambda: FeedForward(n_in=2, k=3, hidden=(5, 4), n_out=2)])
def test_output_shape_and_a_batch_of_one(make):
    model = make()
    x = np.random.default_rng(0).normal(size=(7, 4, 2))
    out = model(x)
    assert isinstance(out, am.Tensor) and out.shape == (7, 4, 2)
    assert model(x[:, 0, :]).shape == (7, 1, 2)  # (steps, n_in) is a batch of one
    np.testing.assert_allclose(model(x[:, :1]).value, out.value[:, :1])


def test_parameter_names_and_shapes():
    ar = Autoregressive(n_in=2, k=4, n_out=3)
    assert [(k, p.shape) for k, p in ar.named_parameters()] == [("W", (8, 3)), ("b", (3,))]
    assert ar["W"].name == "Autoregressive.W"
    ff = FeedForward(n_in=1, k=6, hidden=8)
    assert [(k, p.shape) for k, p in ff.named_parameters()] == [("W1", (6, 8)), ("b1", (8,)), ("W_out", (8, 1)), ("b_out", (1,))]
    assert ff.hidden == (8,) and ff.window == 6 and ff.delay == 0


@settings(max_examples=15, deadline=None)
@given(k=st.integers(1, 4), s=st.integers(0, 7), seed=st.integers(0, 2**16))
def test_an_input_reaches_exactly_the_k_outputs_of_its_window(k, s, seed):
    """The memory of a memoryless model is its window: x_s affects the outputs at steps s..s+k-1 only."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(8, 2, 1))
    model = FeedForward(k=k, hidden=(4,), seed=seed)
    x2 = x.copy()
    x2[s] += 1.0
    changed = np.any(model(x2).value != model(x).value, axis=(1, 2))
    assert changed.tolist() == [s <= t < s + k for t in range(8)]


@pytest.mark.parametrize("make", [lambda: Autoregressive(k=2), lambda: FeedForward(k=2, hidden=(3, 3))])
def test_every_step_runs_in_its_own_scope(make):
    model = make()
    with am.Tape() as tape:
        model(np.ones((4, 2, 1)))
    inner = [n for n in tape.nodes if n.op != "stack"]
    assert inner and all(n.scope[-1].name == model.name for n in inner)
    assert sorted({n.step for n in inner}) == [0, 1, 2, 3]
    # the same Parameter object is used at every step (weights shared, not copied)
    W = model.parameters()[0]
    assert sorted({n.step for n in inner if any(i is W for i in n.inputs)}) == [0, 1, 2, 3]


def test_k_longer_than_the_sequence_is_a_clear_error():
    with pytest.raises(ValueError, match=r"Autoregressive: k=5 .*\(3, 2, 1\)"):
        Autoregressive(k=5)(np.zeros((3, 2, 1)))
    with pytest.raises(ValueError, match=r"FeedForward: k=4 .*\(2, 1, 1\)"):
        FeedForward(k=4)(np.zeros((2, 1)))
    with pytest.raises(ValueError, match=r"Autoregressive: k=5"):
        Autoregressive(k=5).fit_least_squares(np.zeros((3, 2, 1)), np.zeros((3, 2, 1)))
    assert Autoregressive(k=3)(np.zeros((3, 1, 1))).shape == (3, 1, 1)  # k == steps is fine


@pytest.mark.parametrize("x, match", [
    (np.zeros((5, 2, 3)), r"FeedForward: input has 3 features per step .* takes 2"),
    (np.zeros((0, 2, 2)), r"FeedForward: input is an empty sequence"),
    (np.zeros((5,)), r"FeedForward: input must have shape \(steps, batch, 2\)"),
    (np.full((5, 1, 2), np.nan), r"non-finite value at step 0"),
])
def test_bad_inputs_are_refused_with_the_model_named(x, match):
    with pytest.raises(ValueError, match=match):
        FeedForward(n_in=2, k=2)(x)


@pytest.mark.parametrize("make, match", [
    (lambda: Autoregressive(k=0), r"Autoregressive: k must be a positive integer, got 0"),
    (lambda: Autoregressive(n_in=1.5), r"Autoregressive: n_in must be a positive integer"),
    (lambda: Autoregressive(n_out=-1), r"Autoregressive: n_out must be"),
    (lambda: Autoregressive(k=True), r"Autoregressive: k must be"),
    (lambda: Autoregressive(output="softmax"), r"Autoregressive: output must be 'logistic' or 'linear'"),
    (lambda: FeedForward(hidden=()), r"FeedForward: hidden must be"),
    (lambda: FeedForward(hidden=(4, 0)), r"FeedForward: hidden\[1\] must be a positive integer"),
    (lambda: FeedForward(hidden="8"), r"FeedForward: hidden must be"),
    (lambda: FeedForward(activation="sin"), r"FeedForward: activation must be one of"),
    (lambda: FeedForward(k=-2), r"FeedForward: k must be"),
])
def test_bad_constructor_arguments_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_parameter_overrides_are_checked_and_leave_the_model_alone():
    ar = Autoregressive(k=2)
    before = ar["W"].value.copy()
    out = ar(np.ones((3, 1, 1)), params={"W": am.Tensor(np.zeros((2, 1)))})
    np.testing.assert_array_equal(out.value, 0.0)
    np.testing.assert_array_equal(ar["W"].value, before)
    with pytest.raises(KeyError, match="unknown parameter"):
        ar(np.ones((3, 1, 1)), params={"V": np.zeros((2, 1))})
    with pytest.raises(ValueError, match=r"parameter W has shape \(2, 1\)"):
        ar(np.ones((3, 1, 1)), params={"W": np.zeros((3, 1))})


def test_fit_least_squares_refusals():
    x = np.zeros((4, 2, 1))
    with pytest.raises(ValueError, match="fits linear outputs"):
        Autoregressive(output="logistic").fit_least_squares(x, x)
    with pytest.raises(ValueError, match=r"targets must have shape \(4, 2, 1\)"):
        Autoregressive().fit_least_squares(x, np.zeros((4, 2, 2)))
    with pytest.raises(ValueError, match="selects no targets"):
        Autoregressive().fit_least_squares(x, x, np.zeros_like(x))
    with pytest.raises(TypeError, match="takes a Batch"):
        Autoregressive().fit_least_squares(x)


# --- 1. the window is the memory: NextTerm with lags (1, 6) ------------------------------------

@pytest.fixture(scope="module")
def next_term():
    task = NextTerm(lags=(1, 6))
    return task, task.sample(np.random.default_rng(1234), 256, 40)  # fresh data, longer sequences


def _train_next_term(model, task, steps=300):
    models.train(model, task, am.optim.Adam(model.parameters(), lr=0.05), steps=steps, batch_size=32,
                 seed=7, progress=False)
    return model


def test_feed_forward_with_enough_taps_learns_the_xor_rule(next_term):
    task, test = next_term
    for k in (6, 8):
        assert accuracy(_train_next_term(FeedForward(k=k, hidden=(8,), seed=0), task), test) > 0.95


def test_feed_forward_with_too_few_taps_stays_at_chance(next_term):
    task, test = next_term
    assert accuracy(_train_next_term(FeedForward(k=3, hidden=(8,), seed=0), task), test) < 0.65


def test_linear_autoregressive_model_cannot_do_xor_even_with_enough_taps(next_term):
    task, test = next_term
    assert accuracy(_train_next_term(Autoregressive(k=6, output="logistic", seed=0), task), test) < 0.65


# --- gradient descent and least squares agree on a linear task ------------------------------

def _noisy_ar2(seed=0, steps=20, batch=64, burn_in=20):
    rng = np.random.default_rng(seed)
    s = np.zeros((steps + 1 + burn_in, batch))
    for t in range(2, s.shape[0]):
        s[t] = 0.6 * s[t - 1] - 0.3 * s[t - 2] + 0.5 + 0.1 * rng.standard_normal(batch)
    s = s[burn_in:]
    x, y = s[:-1, :, None], s[1:, :, None]
    mask = np.ones_like(y)
    mask[:2] = 0.0  # the first steps' taps reach before the start
    return Batch(x, y, mask)


def test_gradient_descent_and_least_squares_reach_the_same_weights_and_loss():
    batch = _noisy_ar2()
    ls = Autoregressive(k=3, seed=0).fit_least_squares(batch)
    W, b = ls["W"].value.ravel(), ls["b"].value
    np.testing.assert_allclose(W, [0.6, -0.3, 0.0], atol=0.05)  # it recovers the generating process
    np.testing.assert_allclose(b, [0.5], atol=0.05)
    gd = Autoregressive(k=3, seed=1)
    hist = models.train(gd, FixedBatch(batch), am.optim.SGD(gd.parameters(), lr=0.1, momentum=0.9),
                        steps=1000, progress=False)
    assert hist.loss[-1] < hist.loss[0]
    np.testing.assert_allclose(gd["W"].value.ravel(), W, atol=1e-3)
    np.testing.assert_allclose(gd["b"].value, b, atol=1e-3)
    with am.no_grad():
        loss_gd = models.sequence_loss(gd(batch.x), batch, "mse").item()
        loss_ls = models.sequence_loss(ls(batch.x), batch, "mse").item()
    assert loss_ls <= loss_gd + 1e-12  # least squares is the minimum ...
    assert loss_gd - loss_ls < 1e-6    # ... and gradient descent got there


def test_least_squares_on_next_term_bits_with_mse_matches_gradient_descent():
    task = NextTerm(lags=(1, 6))
    batch = task.sample(np.random.default_rng(3), 64, 20)
    ls = Autoregressive(k=2, seed=0).fit_least_squares(batch)
    gd = Autoregressive(k=2, seed=5)
    models.train(gd, FixedBatch(batch), am.optim.SGD(gd.parameters(), lr=0.2, momentum=0.9), steps=300,
                 loss="mse", progress=False)
    np.testing.assert_allclose(gd["W"].value, ls["W"].value, atol=1e-3)
    np.testing.assert_allclose(gd["b"].value, ls["b"].value, atol=1e-3)
    assert abs(ls["W"].value).max() < 0.1  # and with no linear structure in XOR bits, both find ~nothing


def test_least_squares_with_several_outputs_and_weights_matches_the_normal_equations():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 5, 2)), rng.normal(size=(6, 5, 2))
    w = rng.integers(0, 3, size=y.shape).astype(float)
    ar = Autoregressive(n_in=2, k=2, n_out=2).fit_least_squares(x, y, w)
    A = np.concatenate([ar.taps(x), np.ones((6, 5, 1))], axis=2).reshape(30, -1)
    for j in range(2):
        wj = w[..., j].reshape(-1)
        sol = np.linalg.solve(A.T @ (wj[:, None] * A), A.T @ (wj * y[..., j].reshape(-1)))
        np.testing.assert_allclose(np.r_[ar["W"].value[:, j], ar["b"].value[j]], sol, atol=1e-10)


# --- 2. binary addition: carries longer than the window --------------------------------------

def test_carry_chain_batch_makes_twins_whose_sum_bit_depends_on_column_zero():
    batch = carry_chain_batch(bits=8, chain=5, batch_size=8, seed=0)
    assert batch.x.shape == (9, 8, 2) and batch.mask.sum() == 8 and batch.mask[5].all()
    cols = batch.x.sum(axis=2)  # a_t + b_t
    assert cols[0].tolist() == [2, 0] * 4               # generate, kill
    assert (cols[1:6] == 1).all()                       # propagate all the way
    np.testing.assert_array_equal(batch.x[1:, 0::2], batch.x[1:, 1::2])  # twins differ in column 0 only
    assert batch.y[5, :, 0].tolist() == [0, 1] * 4
    ref = BinaryAddition(bits=8).from_bits(batch.x[:8, :, 0].T, batch.x[:8, :, 1].T)
    np.testing.assert_array_equal(batch.y, ref.y)
    with pytest.raises(ValueError, match=r"chain must be an integer in \[1, 7\]"):
        carry_chain_batch(8, 8)


@pytest.fixture(scope="module")
def adder():
    k = 4
    net = FeedForward(n_in=2, k=k, hidden=(16,), seed=0)
    models.train(net, BinaryAddition(bits=8), am.optim.Adam(net.parameters(), lr=0.03), steps=600,
                 batch_size=64, progress=False)
    return k, net


def test_feed_forward_adder_handles_carries_inside_its_window_and_fails_beyond(adder):
    k, net = adder
    acc = {c: accuracy(net, carry_chain_batch(8, c, 64, seed=1)) for c in range(1, 8)}
    for c in range(1, k):      # the generating column is inside the window: right
        assert acc[c] > 0.95, acc
    for c in range(k, 8):      # it is not: twins look the same, exactly half are wrong
        assert acc[c] == 0.5, acc
    random = BinaryAddition(bits=8).sample(np.random.default_rng(5), 512)
    assert accuracy(net, random) > 0.9  # on random sums long carries are rare, so it looks good


# --- 3. gradients ----------------------------------------------------------------------------

def _check_model_gradients(model, x, batch):
    names = [k for k, _ in model.named_parameters()]
    values = [p.value for p in model.parameters()]

    def outputs(*ps):
        return model(x, params=dict(zip(names, ps)))

    def loss(*ps):
        return models.sequence_loss(model(batch.x, params=dict(zip(names, ps))), batch, "bce" if model.output == "logistic" else "mse")

    assert gradcheck(outputs, *values)
    assert gradcheck(loss, *values)
    # and backward through the model's own Parameters agrees with the functional gradient
    model.zero_grad()
    loss_value = models.sequence_loss(model(batch.x), batch, "bce" if model.output == "logistic" else "mse")
    loss_value.backward()
    ts = [am.Tensor(v, requires_grad=True) for v in values]
    grads = am.gradients(loss(*ts), ts)
    for p, g in zip(model.parameters(), grads):
        np.testing.assert_allclose(p.grad, g, rtol=1e-12, atol=1e-14)


def test_autoregressive_gradients_agree_with_gradcheck():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 3, 2))
    batch = Batch(x, rng.normal(size=(5, 3, 2)), (rng.random((5, 3, 2)) > 0.3).astype(float))
    _check_model_gradients(Autoregressive(n_in=2, k=3, n_out=2, seed=0), x, batch)


@pytest.mark.parametrize("activation, output", [("tanh", "logistic"), ("logistic", "linear")])
def test_feed_forward_gradients_agree_with_gradcheck(activation, output):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 3, 2))
    y = (rng.random((5, 3, 1)) > 0.5).astype(float)
    model = FeedForward(n_in=2, k=3, hidden=(4, 3), activation=activation, output=output, seed=2)
    _check_model_gradients(model, x, Batch(x, y, np.ones_like(y)))


@pytest.mark.parametrize("make", [lambda: Autoregressive(n_in=2, k=3, output="logistic", seed=0),
                                  lambda: FeedForward(n_in=2, k=3, hidden=(4,), seed=0)])
def test_a_shared_weight_gets_the_sum_of_its_per_step_gradients(make):
    model = make()
    rng = np.random.default_rng(2)
    y = (rng.random((6, 4, 1)) > 0.5).astype(float)
    batch = Batch(rng.normal(size=(6, 4, 2)), y, np.ones_like(y))
    model.zero_grad()
    models.sequence_loss(model(batch.x), batch).backward()
    # Untie: every step gets its own copy of every weight, then the same loss.
    copies = [{k: am.Tensor(p.value, requires_grad=True) for k, p in model.named_parameters()} for _ in range(6)]
    outs = am.stack([model(batch.x, params=copies[t])[t] for t in range(6)])
    models.sequence_loss(outs, batch).backward()
    for key, p in model.named_parameters():
        per_step = [c[key].grad for c in copies]
        assert all(g is not None for g in per_step)
        assert not np.allclose(per_step[0], per_step[1])  # the steps really do contribute differently
        np.testing.assert_allclose(p.grad, np.sum(per_step, axis=0), rtol=1e-12, atol=1e-14)


# --- 4. saving, and training ------------------------------------------------------------------

@pytest.mark.parametrize("make, other", [
    (lambda s: Autoregressive(n_in=2, k=3, n_out=2, seed=s), lambda: Autoregressive(n_in=2, k=4, n_out=2)),
    (lambda s: FeedForward(n_in=2, k=3, hidden=(5, 4), seed=s), lambda: FeedForward(n_in=2, k=3, hidden=(5,))),
])
def test_save_load_round_trip(tmp_path, make, other):
    a, b = make(0), make(1)
    x = np.random.default_rng(0).normal(size=(6, 3, 2))
    assert not np.allclose(a(x).value, b(x).value)
    path = a.save(tmp_path / "model")
    assert path.suffix == ".npz"
    assert b.load(path) is b
    np.testing.assert_array_equal(a(x).value, b(x).value)
    for (ka, pa), (kb, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert ka == kb and pa is not pb
        np.testing.assert_array_equal(pa.value, pb.value)
    with pytest.raises(ValueError, match="parameter|parameters do not match"):
        other().load(path)


def test_models_train_with_the_tasks_loss_and_with_mse():
    task = NextTerm(lags=(1, 3), length=12)
    ff = FeedForward(k=3, hidden=(4,), output="linear", seed=0)
    hist = models.train(ff, task, steps=40, loss="mse", progress=False)
    assert len(hist) == 40 and np.mean(hist.loss[-5:]) < np.mean(hist.loss[:5])
    ar = Autoregressive(k=2, output="logistic")
    assert len(models.train(ar, task, steps=5, progress=False)) == 5
    with pytest.raises(ValueError, match="takes 1 inputs per step"):
        models.train(ar, BinaryAddition(bits=4), steps=1, progress=False)


def test_predict_gives_probabilities_or_values():
    x = np.random.default_rng(0).normal(size=(4, 2, 1))
    ff = FeedForward(k=2)
    np.testing.assert_allclose(ff.predict(x), 1.0 / (1.0 + np.exp(-ff(x).value)))
    ar = Autoregressive(k=2)
    np.testing.assert_array_equal(ar.predict(x), ar(x).value)


# --- the example ------------------------------------------------------------------------------

def test_example_quick_writes_the_promised_table(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("example_memoryless", ROOT / "examples" / "memoryless.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    rows = example.main(["--quick", "--out", str(tmp_path), "--seed", "1"])
    path = tmp_path / "memoryless_next_term.csv"
    assert path.exists() and str(path) in capsys.readouterr().out
    with path.open() as fh:
        got = list(csv.DictReader(fh))
    assert [(r["model"], r["k"]) for r in got] == (
        [("Autoregressive", k) for k in ("2", "4", "8")] + [("FeedForward", k) for k in ("2", "4", "8")]
        + [("ElmanRNN", "")])
    assert all(0.0 <= float(r["bit_accuracy"]) <= 1.0 for r in got)
    assert len(rows) == len(got)
