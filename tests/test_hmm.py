"""The HMM: the forward algorithm on the engine against brute force, its gradient against the
expected counts of forward-backward, inference, sampling, training, and the memory bound."""
from __future__ import annotations

import csv
import itertools
import math
import runpy
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import autograd_mini as am
from autograd_mini.testing import gradcheck
from models.hmm import HMM, all_copy_sequences, copy_bound_bits, forward_log_probs

ROOT = Path(__file__).resolve().parents[1]


# --- references written here, independent of models/hmm.py ------------------------------------

def brute_force(pi, A, B, x):
    """P(path, x) for every one of the N^T state paths of one sequence x."""
    N, T = len(pi), len(x)
    joint = {}
    for path in itertools.product(range(N), repeat=T):
        p = pi[path[0]] * B[path[0], x[0]]
        for t in range(1, T):
            p *= A[path[t - 1], path[t]] * B[path[t], x[t]]
        joint[path] = p
    return joint


def scaled_forward_backward(pi, A, B, x):
    """Forward-backward in probability space with per-step scaling (Rabiner 1989).

    Returns log P(x), gamma (T, N) with gamma[t, i] = P(s_t = i | x), and xi (N, N) with
    xi[i, j] = sum_t P(s_t = i, s_{t+1} = j | x).
    """
    T, N = len(x), len(pi)
    alpha, c = np.zeros((T, N)), np.zeros(T)
    a = pi * B[:, x[0]]
    c[0] = a.sum()
    alpha[0] = a / c[0]
    for t in range(1, T):
        a = (alpha[t - 1] @ A) * B[:, x[t]]
        c[t] = a.sum()
        alpha[t] = a / c[t]
    beta = np.ones((T, N))
    xi = np.zeros((N, N))
    for t in range(T - 2, -1, -1):
        nxt = B[:, x[t + 1]] * beta[t + 1]
        beta[t] = (A @ nxt) / c[t + 1]
        xi += alpha[t][:, None] * A * nxt[None, :] / c[t + 1]
    return float(np.log(c).sum()), alpha * beta, xi


def random_hmm(N, M, seed):
    return HMM(N, M, seed=seed, init_scale=1.0)


def random_seqs(M, T, batch, seed):
    return np.random.default_rng(seed).integers(0, M, size=(batch, T))


# --- likelihood --------------------------------------------------------------------------------

@pytest.mark.parametrize("N,M", [(2, 2), (2, 3), (3, 2), (3, 4)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_likelihood_equals_brute_force_enumeration(N, M, seed):
    hmm = random_hmm(N, M, seed)
    pi, A, B = hmm.start, hmm.transition, hmm.emission
    for T in range(1, 6):
        seqs = random_seqs(M, T, batch=3, seed=seed * 10 + T)
        expected = sum(math.log(sum(brute_force(pi, A, B, x).values())) for x in seqs)
        ll = hmm.log_likelihood(seqs)
        assert isinstance(ll, am.Tensor) and ll.shape == ()
        assert ll.item() == pytest.approx(expected, rel=1e-10, abs=1e-10)
        assert hmm.log_likelihood(seqs[0]).item() == pytest.approx(math.log(sum(brute_force(pi, A, B, seqs[0]).values())), rel=1e-10)
        assert np.allclose(hmm.log_prob_numpy(seqs).sum(), expected, rtol=1e-10)


def test_each_step_is_recorded_in_its_scope():
    hmm = random_hmm(2, 3, 0)
    with am.Tape() as tape:
        hmm.log_likelihood(random_seqs(3, 6, 2, 0))
    steps = {n.step for n in tape.nodes if n.step is not None}
    assert steps == set(range(6))
    assert all(n.scope and n.scope[0].name == "HMM" for n in tape.nodes if n.op == "logsumexp")


# --- gradients: backward equals the expected counts of forward-backward (Eisner 2016) ----------

def expected_count_gradients(hmm, seqs):
    pi, A, B = hmm.start, hmm.transition, hmm.emission
    g_start, g_trans, g_emit = np.zeros_like(pi), np.zeros_like(A), np.zeros_like(B)
    for x in seqs:
        _, gamma, xi = scaled_forward_backward(pi, A, B, x)
        g_start += gamma[0] - pi                                   # softmax over one draw
        g_trans += xi - A * xi.sum(axis=1, keepdims=True)          # xi_ij - A_ij sum_j' xi_ij'
        counts = np.zeros_like(B)                                  # expected emission counts
        for t, m in enumerate(x):
            counts[:, m] += gamma[t]
        g_emit += counts - B * gamma.sum(axis=0)[:, None]
    return g_start, g_trans, g_emit


@pytest.mark.parametrize("N,M,T,batch,seed", [(2, 2, 4, 1, 0), (3, 2, 5, 3, 1), (3, 4, 7, 2, 2), (4, 3, 12, 4, 3)])
def test_gradient_equals_expected_counts(N, M, T, batch, seed):
    hmm = random_hmm(N, M, seed)
    seqs = random_seqs(M, T, batch, seed + 100)
    hmm.log_likelihood(seqs).backward()
    g_start, g_trans, g_emit = expected_count_gradients(hmm, seqs)
    np.testing.assert_allclose(hmm["trans_logits"].grad, g_trans, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(hmm["emit_logits"].grad, g_emit, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(hmm["start_logits"].grad, g_start, rtol=1e-9, atol=1e-11)
    assert np.abs(g_trans).max() > 1e-3  # a real gradient, not zeros on both sides


@pytest.mark.parametrize("seed", [0, 1])
def test_gradcheck_of_log_likelihood_in_the_logits(seed):
    rng = np.random.default_rng(seed)
    N, M = 3, 4
    seqs = random_seqs(M, 5, 2, seed)
    assert gradcheck(lambda s, A, B: forward_log_probs(s, A, B, seqs),
                     rng.normal(size=N), rng.normal(size=(N, N)), rng.normal(size=(N, M)))


# --- inference ---------------------------------------------------------------------------------

@pytest.mark.parametrize("N,M,T,seed", [(2, 2, 4, 0), (3, 2, 5, 1), (3, 3, 5, 2), (2, 3, 1, 3)])
def test_viterbi_equals_brute_force_argmax(N, M, T, seed):
    hmm = random_hmm(N, M, seed)
    for x in random_seqs(M, T, 4, seed):
        joint = brute_force(hmm.start, hmm.transition, hmm.emission, x)
        best = max(joint, key=joint.get)
        path, logp = hmm.viterbi(x)
        assert path.dtype.kind == "i" and tuple(path) == best
        assert logp == pytest.approx(math.log(joint[best]), rel=1e-10)


@pytest.mark.parametrize("N,M,T,seed", [(2, 2, 4, 0), (3, 2, 5, 1), (3, 4, 3, 2)])
def test_posteriors_sum_to_one_and_equal_brute_force(N, M, T, seed):
    hmm = random_hmm(N, M, seed)
    for x in random_seqs(M, T, 3, seed):
        joint = brute_force(hmm.start, hmm.transition, hmm.emission, x)
        total = sum(joint.values())
        expected = np.zeros((T, N))
        for path, p in joint.items():
            expected[np.arange(T), list(path)] += p / total
        post = hmm.posteriors(x)
        assert post.shape == (T, N)
        np.testing.assert_allclose(post.sum(axis=1), 1.0, rtol=1e-12)
        np.testing.assert_allclose(post, expected, rtol=1e-9, atol=1e-12)


def test_ten_thousand_symbols_do_not_underflow():
    hmm = random_hmm(3, 4, 7)
    _, x = hmm.sample(10_000, seed=0)
    ll = hmm.log_likelihood(x)
    reference, _, _ = scaled_forward_backward(hmm.start, hmm.transition, hmm.emission, x)
    assert np.isfinite(ll.item()) and reference < -1000  # far below float underflow as a probability
    assert ll.item() == pytest.approx(reference, rel=1e-10)
    ll.backward()
    for p in hmm.parameters():
        assert np.isfinite(p.grad).all()


# --- sampling ----------------------------------------------------------------------------------

def test_sampling_frequencies_match_the_parameters():
    pi = np.array([0.6, 0.3, 0.1])
    A = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.5, 0.0, 0.5]])
    B = np.array([[0.9, 0.1, 0.0], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8]])
    hmm = HMM.from_probs(pi, A, B)
    states, symbols = hmm.sample(40, seed=123, batch=2000)
    assert states.shape == symbols.shape == (2000, 40)
    np.testing.assert_allclose(np.bincount(states[:, 0], minlength=3) / 2000, pi, atol=0.04)
    trans = np.zeros((3, 3))
    np.add.at(trans, (states[:, :-1].ravel(), states[:, 1:].ravel()), 1)
    np.testing.assert_allclose(trans / trans.sum(axis=1, keepdims=True), A, atol=0.02)
    emit = np.zeros((3, 3))
    np.add.at(emit, (states.ravel(), symbols.ravel()), 1)
    np.testing.assert_allclose(emit / emit.sum(axis=1, keepdims=True), B, atol=0.02)
    assert trans[2, 1] == 0 and emit[0, 2] == 0  # zero probabilities are never drawn
    s1, x1 = hmm.sample(40, seed=123, batch=2000)
    assert (s1 == states).all() and (x1 == symbols).all()  # seeded
    s, x = hmm.sample(7, seed=1)
    assert s.shape == x.shape == (7,)


# --- zero probabilities ------------------------------------------------------------------------

def test_from_probs_with_zeros_gives_no_nan_in_likelihood_or_gradients():
    # A cycle 0 -> 1 -> 2 -> 0 with a self-loop on 2: at most steps some states are unreachable
    # (whole logsumexp slices are -inf), and zeros in every table.
    pi = np.array([1.0, 0.0, 0.0])
    A = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.0, 0.5]])
    B = np.array([[1.0, 0.0], [0.3, 0.7], [0.0, 1.0]])
    hmm = HMM.from_probs(pi, A, B)
    assert np.isneginf(hmm["trans_logits"].value).sum() == 5
    np.testing.assert_array_equal(hmm.transition, A)
    _, seqs = hmm.sample(9, seed=0, batch=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not even an invalid-value warning on the way
        ll = hmm.log_likelihood(seqs)
        ll.backward()
    expected = sum(math.log(sum(brute_force(pi, A, B, x).values())) for x in seqs)
    assert ll.item() == pytest.approx(expected, rel=1e-12)
    grads = [p.grad for p in (hmm["start_logits"], hmm["trans_logits"], hmm["emit_logits"])]
    for g, e in zip(grads, expected_count_gradients(hmm, seqs)):
        assert np.isfinite(g).all()
        np.testing.assert_allclose(g, e, atol=1e-12)
    assert (grads[1][A == 0] == 0).all()  # an impossible transition gets no gradient
    # Training keeps zeros exactly zero and stays finite.
    hmm.fit(seqs, steps=5, lr=0.1, progress=False)
    assert (hmm.transition[A == 0] == 0).all() and np.isfinite(hmm.log_prob_numpy(seqs)).all()
    # An impossible sequence has likelihood 0: -inf, still without NaN.
    assert hmm.log_prob_numpy([1, 1])[0] == -np.inf
    assert hmm.log_likelihood([[1, 1]]).item() == -np.inf


def test_from_probs_rejects_bad_tables_clearly():
    ok = dict(start=[0.5, 0.5], transition=[[0.5, 0.5], [0.5, 0.5]], emission=[[1.0, 0.0], [0.0, 1.0]])
    cases = [
        (dict(ok, transition=[[1.0]]), r"transition has shape \(1, 1\), expected \(2, 2\)"),
        (dict(ok, emission=[[1.0, 0.0]]), r"emission has shape \(1, 2\), expected \(2, 2\)"),
        (dict(ok, start=[1.5, -0.5]), r"start has a negative probability -0.5"),
        (dict(ok, transition=[[0.5, 0.5], [0.5, 0.6]]), r"transition row 1 sums to 1.1"),
        (dict(ok, start=[[0.5, 0.5]]), r"start must have shape \(N,\)"),
        (dict(ok, emission=[0.5, 0.5]), r"emission must have shape \(N, M\)"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            HMM.from_probs(**kwargs)
    HMM.from_probs(start=[0.5, 0.5 + 5e-9], transition=ok["transition"], emission=ok["emission"])  # within 1e-8


# --- training ----------------------------------------------------------------------------------

def test_fit_increases_the_log_likelihood_of_data_from_a_known_hmm(capsys):
    truth = HMM.from_probs([0.8, 0.2], [[0.9, 0.1], [0.2, 0.8]], [[0.8, 0.1, 0.1], [0.1, 0.2, 0.7]])
    _, train = truth.sample(30, seed=0, batch=100)
    _, test = truth.sample(30, seed=1, batch=200)
    hmm = HMM(2, 3, seed=5)
    before = hmm.log_prob_numpy(test).mean()
    history = hmm.fit(train, steps=80, lr=0.1, progress=False)
    assert len(history) == 80 and history[-1] > history[0] + 1.0
    assert history[0] == pytest.approx(HMM(2, 3, seed=5).log_prob_numpy(train).mean())  # before the first update
    after = hmm.log_prob_numpy(test).mean()
    optimum = truth.log_prob_numpy(test).mean()
    assert after > before + 1.0 and after > optimum - 0.5  # held out, close to the true model
    assert capsys.readouterr().err == ""
    hmm.fit(train, steps=3, optimizer=am.optim.SGD(hmm.parameters(), lr=0.01), batch_size=10, progress=True)
    assert "fit HMM" in capsys.readouterr().err  # the progress bar


# --- bad input ---------------------------------------------------------------------------------

def test_bad_input_names_the_model_the_shape_and_the_step():
    hmm = HMM(2, 3, seed=0)
    with pytest.raises(ValueError, match=r"HMM: symbol 3 at step 2 \(sequence 1\) is outside \[0, 3\); symbols have shape \(2, 4\)"):
        hmm.log_likelihood(np.array([[0, 1, 2, 0], [0, 1, 3, 0]]))
    with pytest.raises(ValueError, match=r"HMM: symbol -1 at step 0 .* shape \(3,\)"):
        hmm.log_likelihood([-1, 0, 1])
    with pytest.raises(ValueError, match=r"HMM: symbols must be integers .* dtype float64 with shape \(4,\); "
                                         r"the first non-integer value 0.5 is at step 2"):
        hmm.log_likelihood(np.array([0.0, 1.0, 0.5, 1.0]))
    with pytest.raises(ValueError, match=r"HMM: symbols must be integers .* shape \(1, 2\) .*every step"):
        hmm.log_likelihood(np.array([[0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"HMM: empty sequence .*shape \(0,\)"):
        hmm.log_likelihood(np.array([], dtype=int))
    with pytest.raises(ValueError, match=r"HMM: empty sequence .*shape \(2, 0\)"):
        hmm.log_likelihood(np.zeros((2, 0), dtype=int))
    with pytest.raises(ValueError, match=r"HMM: symbols must have shape \(T,\) or \(batch, T\), got shape \(2, 2, 2\)"):
        hmm.log_likelihood(np.zeros((2, 2, 2), dtype=int))
    with pytest.raises(ValueError, match=r"HMM: symbols must be an array .* equal-length"):
        hmm.log_likelihood([[0, 1], [1]])
    with pytest.raises(ValueError, match=r"HMM.viterbi: takes one sequence"):
        hmm.viterbi(np.zeros((2, 3), dtype=int))
    with pytest.raises(ValueError, match=r"HMM: symbol 7 at step 1"):
        hmm.posteriors([0, 7])
    with pytest.raises(ValueError, match=r"HMM: n_states must be a positive integer"):
        HMM(0, 3)


# --- saving ------------------------------------------------------------------------------------

def test_save_and_load_round_trip(tmp_path):
    hmm = HMM.from_probs([1.0, 0.0], [[0.3, 0.7], [0.0, 1.0]], [[0.5, 0.5, 0.0], [0.1, 0.2, 0.7]])
    path = hmm.save(tmp_path / "hmm")
    assert path.suffix == ".npz"
    with np.load(path, allow_pickle=False) as data:
        assert set(data.files) == {"start_logits", "trans_logits", "emit_logits"}
    other = HMM(2, 3, seed=9).load(path)
    for name in ("start", "transition", "emission"):
        np.testing.assert_array_equal(getattr(other, name), getattr(hmm, name))
    x = [0, 1, 2, 2]
    assert other.log_likelihood(x).item() == hmm.log_likelihood(x).item()
    with pytest.raises(ValueError, match=r"HMM: parameter start_logits has shape \(3,\), the saved value \(2,\)"):
        HMM(3, 3).load(path)


# --- the memory bound --------------------------------------------------------------------------

def test_recall_cost_of_hand_built_hmms():
    k = 1  # sequences b, marker, b
    seqs = all_copy_sequences(k)
    # One state: remembers nothing; each recall bit has probability 1/4 (half the mass is on
    # the marker), so 2 bits, above the bound k - log2 1 = 1.
    forgetful = HMM.from_probs([1.0], [[1.0]], [[0.25, 0.25, 0.5]])
    assert forgetful.recall_cost_bits(seqs, k + 1) == pytest.approx(2.0)
    # Six states: bit b -> marker remembering b -> recall b. Perfect memory: 0 bits.
    A = np.zeros((6, 6))
    A[0, 2] = A[1, 3] = A[2, 4] = A[3, 5] = 1.0
    A[4, 4] = A[5, 5] = 1.0
    B = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [1, 0, 0], [0, 1, 0]], dtype=float)
    perfect = HMM.from_probs([0.5, 0.5, 0, 0, 0, 0], A, B)
    assert perfect.recall_cost_bits(seqs, k + 1) == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(perfect.recall_cost_bits(seqs, k + 1, per_sequence=True), 0.0, atol=1e-12)


@pytest.mark.parametrize("N", [1, 2, 3, 4, 8, 16, 32])
def test_no_hmm_beats_the_bound_exactly_over_all_bit_strings(N):
    k = 4
    seqs = all_copy_sequences(k)
    for seed in range(5):
        hmm = HMM(N, 3, seed=seed, init_scale=3.0)
        assert hmm.recall_cost_bits(seqs, k + 1) >= copy_bound_bits(k, N) - 1e-9


def test_example_trained_hmms_respect_the_bound_and_more_states_cost_less(tmp_path, capsys):
    module = runpy.run_path(str(ROOT / "examples" / "hmm_memory.py"))
    result = module["main"](["--quick", "--out", str(tmp_path), "--seed", "0", "--k", "4"])
    printed = capsys.readouterr().out
    rows = [r for r in result["rows"] if r["model"] == "HMM"]
    rnn = [r for r in result["rows"] if r["model"] == "RNN"]
    k = result["k"]
    assert k == 4 and [r["N"] for r in rows] == [2, 4, 8, 16]
    # The RNN's distributed state holds all k bits: it recalls for (almost) free, below every HMM.
    assert len(rnn) == 1 and rnn[0]["recall_bits"] < 0.25 < min(r["recall_bits"] for r in rows)
    for r in rows:
        assert r["bound_bits"] == pytest.approx(max(0.0, k - math.log2(r["N"])))
        assert r["recall_bits_exact"] >= r["bound_bits"] - 1e-9   # exact average: the theorem
        assert r["recall_bits"] >= r["bound_bits"] - 0.1          # 4000 held-out sequences
        assert abs(r["recall_bits"] - r["recall_bits_exact"]) < 0.1
    cost = {r["N"]: r["recall_bits"] for r in rows}
    assert cost[16] < cost[2] - 0.3  # more states never cost more here (robust over seeds 0-11)
    assert max(cost.values()) < k + 1.5  # every one was trained: a random HMM pays far more
    # The files: a CSV of the table, an SVG that is valid XML, both announced.
    files = result["files"]
    assert set(files) == {"csv", "svg"} and all(str(p) in printed for p in files.values())
    with open(files["csv"]) as f:
        table = list(csv.DictReader(f))
    assert [r["N"] for r in table] == ["2", "4", "8", "16", "16 units"]
    assert float(table[3]["recall_bits"]) == pytest.approx(cost[16], rel=1e-5)
    svg_text = Path(files["svg"]).read_text()
    assert len(svg_text) < 20_000
    root = ET.fromstring(svg_text)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg"
    assert len(root.findall(f".//{ns}rect")) >= len(rows)
    assert root.findall(f".//{ns}polyline")
    assert "bound" in printed and "16" in printed
