"""The peer benchmark runs with or without its optional peers (torch, HIPS autograd): its new
reference (hand-written numpy with the plain sigmoid) and the minimal tape compute the gradients
of bench_engine's hand-written BPTT, every installed implementation's gradients are checked
against it, an absent peer is reported as "not installed", and a wrong gradient aborts before
timing. Timings are measurements, never asserted. No test here skips: each checks whichever
peers are present. Sequences are shortened (the script checks the full ones itself)."""
from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from conftest import load_script

NUM = r"\d+\.\d+"
REF, OLD_REF, TAPE = "numpy (plain sigmoid)", "numpy (where sigmoid)", "minimal tape"
# Short sequences for the tests (the full ones: 8, 8, 100, 10,000, 100 steps).
TEST_STEPS = {"elman3": None, "elman16": None, "lstm": 6, "elman8_long": 200, "lstm_f32": 6}
TARGETS = {"elman3": "1.60", "elman16": "1.60", "lstm": "1.10", "elman8_long": "2.30", "lstm_f32": "1.20"}


@pytest.fixture(scope="module")
def B():
    return load_script("benchmarks/bench_peers.py")


def _inputs64(B, wname, steps):
    params, data = B.workload_inputs(wname, steps)
    return ({k: v.astype(np.float64) for k, v in params.items()}, tuple(d.astype(np.float64) for d in data))


def test_the_workloads_are_the_ones_the_issue_names(B):
    assert list(B.WORKLOADS) == list(TARGETS)
    assert {w: f"{B.WORKLOADS[w]['target']:.2f}" for w in B.WORKLOADS} == TARGETS
    p16, ref = B.elman_params(16), B.BE.elman_params()
    assert all(np.array_equal(p16[k], ref[k]) for k in ref)          # elman16 is bench_engine (a)
    assert B.elman_params(3)["W_hh"].shape == (3, 3) and B.elman_params(3)["W_xh"].shape == (2, 3)
    assert all(np.array_equal(a, b) for a, b in zip(B.elman_data(), B.BE.elman_data()))
    assert np.array_equal(B.lstm_data()[0], B.BE.lstm_data()[0])     # lstm is bench_engine (b)
    params, (xs, ys) = B.workload_inputs("elman8_long")
    assert xs.shape == (10_000, 1, 2) and ys.shape == (10_000, 1, 1) and params["W_hh"].shape == (8, 8)
    params, (xs,) = B.workload_inputs("lstm_f32")
    assert xs.dtype == np.float32 and all(v.dtype == np.float32 for v in params.values())
    assert B.workload_inputs("elman8_long", 7)[1][0].shape == (7, 1, 2)
    assert B.workload_label("lstm") == "LSTM 8-128, 100 steps"
    assert B.workload_label("elman8_long") == "Elman 2-8-1, 10,000 steps"
    assert B.workload_label("elman3", 4) == "Elman 2-3-1 (binary addition), 4 steps"


@pytest.mark.parametrize("wname", list(TARGETS))
def test_plain_sigmoid_reference_agrees_with_the_where_reference(B, wname):
    w = B.WORKLOADS[wname]
    gates_options = B.BE.LSTM_GATES if w["kind"] == "lstm" else (None,)
    for gates in gates_options:
        kw = {"gates": gates} if gates else {}
        plain = B.NumpyPlainImpl.refs[w["kind"]]
        where = B.NumpyWhereImpl.refs[w["kind"]]
        p64, d64 = _inputs64(B, wname, TEST_STEPS[wname])
        ref = where(p64, *d64, **kw)
        # in float64, on every workload's numbers (the f32 one's as float64): the tight tolerance
        assert B.compare(wname, plain(p64, *d64, **kw), ref) <= 1.0
        if w["dtype"] == np.float32:  # and in float32 itself, where it stays float32
            params, data = B.workload_inputs(wname, TEST_STEPS[wname])
            loss, grads = plain(params, *data, **kw)
            assert all(g.dtype == np.float32 for g in grads.values())
            assert B.compare(wname, (loss, grads), ref, *B.tolerances(wname)) <= 1.0
            with pytest.raises(AssertionError):  # float32 does not pass float64's tolerance
                B.compare(wname, (loss, grads), ref)


def test_plain_sigmoid_reference_is_quiet_where_exp_overflows(B):
    params, data = B.workload_inputs("elman3")
    big = {k: v * 400.0 for k, v in params.items()}  # pre-activations far below -709
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, grads = B.elman_numpy_plain(big, *data)
    ref = B.BE.elman_numpy(big, *data)
    assert np.isfinite(loss) and all(np.all(np.isfinite(g)) for g in grads.values())
    assert B.compare("elman3 x400", (loss, grads), ref) <= 1.0


def test_every_installed_implementation_agrees_with_the_hand_written_bptt(B):
    present, _ = B.load_peers()
    impls = B.implementations(present)
    assert list(impls) == [name for name in B.IMPLS if name in {REF, OLD_REF, "autograd_mini", TAPE, *present}]
    for wname in B.WORKLOADS:
        errors = B.check_workload(wname, impls, steps=TEST_STEPS[wname])
        assert set(errors) == {REF, "autograd_mini", TAPE, *present}, wname  # OLD_REF is the checker
        assert all(0.0 <= e <= 1.0 for e in errors.values()), (wname, errors)


def test_the_minimal_tape_agrees_with_the_reference_in_both_gate_formulations(B):
    impls = {TAPE: B.TapeImpl()}
    for wname in B.WORKLOADS:
        for gates in B.BE.LSTM_GATES if B.WORKLOADS[wname]["kind"] == "lstm" else ("concat",):
            errors = B.check_workload(wname, impls, lstm_gates=gates, steps=TEST_STEPS[wname])
            assert set(errors) == {TAPE} and errors[TAPE] <= 1.0, (wname, gates)
    assert B.MT._tape == []  # backward empties the tape


def test_the_minimal_tape_against_finite_differences():
    MT = load_script("benchmarks/minimal_tape.py")
    rng = np.random.default_rng(7)
    values = {"W": rng.normal(size=(3, 4)), "b": rng.normal(size=(4,)), "V": rng.normal(size=(2, 4))}
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))

    def f(p, lib):
        z = lib.matmul(x, p["W"]) + p["b"]                         # bias broadcast
        h = lib.concatenate([lib.sigmoid(z[:, :2]), lib.tanh(z[:, 2:])], 1)
        u = h * p["V"][0] - 0.5 * h + p["V"][1:]                   # scalar and row broadcasts
        return lib.sum((u[:, 1:3] - y) * u[:, :2])

    class NP:  # the same function on plain numpy
        matmul, concatenate, tanh, sum = np.matmul, np.concatenate, np.tanh, np.sum
        sigmoid = staticmethod(lambda a: 1.0 / (1.0 + np.exp(-a)))

    ps = {k: MT.Var(v) for k, v in values.items()}
    loss = f(ps, MT)
    assert np.isclose(loss.value, f(values, NP))
    MT.backward(loss)
    for k, v in values.items():
        numeric = np.zeros_like(v)
        for i in np.ndindex(v.shape):
            e = np.zeros_like(v)
            e[i] = 1e-6
            numeric[i] = (f({**values, k: v + e}, NP) - f({**values, k: v - e}, NP)) / 2e-6
        assert ps[k].grad.shape == v.shape
        np.testing.assert_allclose(ps[k].grad, numeric, rtol=1e-6, atol=1e-8, err_msg=k)
    assert MT.sum(np.ones(3)) == 3.0 and MT._tape == []  # constants in, constant out: nothing taped


@pytest.mark.parametrize("culprit", ["autograd_mini", REF, TAPE])
def test_a_wrong_gradient_aborts_before_timing(B, monkeypatch, capsys, culprit):
    right = B.implementations({})[culprit]

    class Wrong:
        def supports(self, dtype):
            return True

        def loss_and_grads(self, kind, params, data, **kw):
            loss, grads = right.loss_and_grads(kind, params, data, **kw)
            return loss, {**grads, "W_hh": grads["W_hh"] * 1.001}

        def step(self, *a, **kw):  # pragma: no cover - never reached
            raise AssertionError("timed after a failed check")

    real = B.implementations
    monkeypatch.setattr(B, "implementations", lambda peers: {**real({}), culprit: Wrong()})
    with pytest.raises(SystemExit) as exc:
        B.main(["--quick", "--workload", "elman3"])
    assert exc.value.code == 1
    captured = capsys.readouterr()
    assert f"elman3, {culprit}" in captured.err and "W_hh" in captured.err and "no timings taken" in captured.err
    assert "ms per forward" not in captured.out


def test_compare_catches_a_small_error_in_one_entry(B):
    p64, d64 = _inputs64(B, "elman16", None)
    loss, grads = B.elman_numpy_plain(p64, *d64)
    ref = B.BE.elman_numpy(p64, *d64)
    bad = {k: g.copy() for k, g in grads.items()}
    bad["b_y"][0] *= 1 + 1e-7
    with pytest.raises(AssertionError, match="b_y"):
        B.compare("elman16", (loss, bad), ref)
    with pytest.raises(AssertionError, match="loss"):
        B.compare("elman16", (loss * (1 + 1e-7), grads), ref)
    with pytest.raises(AssertionError, match="W_hh"):
        B.compare("elman16", (loss, {k: g for k, g in grads.items() if k != "W_hh"}), ref)


def _headers(out: str) -> tuple[str, str]:
    ms, ratios = (line for line in out.splitlines() if line.startswith("workload"))
    return ms, ratios


def _cells(out: str, header: str, label: str) -> list[str]:
    """The cells of the row ``label`` of the table under ``header`` (cells are 2+ spaces apart)."""
    lines = out.splitlines()
    start = lines.index(header)
    row = next(line for line in lines[start:] if line.startswith(label + " "))
    return re.split(r"\s{2,}", row[len(label):].strip())


def _agrees(verdict: str, printed: float, target: float, ok) -> bool:
    """PASS/MISS matches the printed (2-decimal) ratio, unless that rounding hides the answer."""
    return abs(printed - target) < 0.006 or (verdict == "PASS") == ok(printed, target)


def test_a_tiny_run_prints_both_references_the_floor_and_the_issue_12_targets(B, capsys):
    present, _ = B.load_peers()
    assert B.main(["--quick", "--repeat", "1", "--min-time", "0", "--steps", "3"]) == 0
    out = capsys.readouterr().out
    for label in ("date", "python", "numpy", "autograd_mini", "torch", "HIPS autograd", "minimal tape", "reference"):
        assert re.search(rf"^  {label}\s", out, re.M), label
    ms_header, ratio_header = _headers(out)
    assert re.split(r"\s{2,}", ms_header.strip()) == ["workload", *B.IMPLS]
    assert ratio_header.split() == ["workload", "mini/numpy", "torch/numpy", "tape/numpy", "HIPS/numpy",
                                    "where/numpy", "mini/torch", "mini/HIPS"]
    n_met = n_targets = 0
    for wname, target in TARGETS.items():
        label = B.workload_label(wname, 3)
        agree = re.search(rf"^  {re.escape(label)}\s+agree: (.*)$", out, re.M)
        assert agree and all(re.search(rf"{re.escape(n)} [0-9.e+-]+", agree[1]) for n in (REF, "autograd_mini", TAPE))
        ms = dict(zip(B.IMPLS, _cells(out, ms_header, label), strict=True))
        for name in (REF, "autograd_mini", TAPE):
            assert float(ms[name]) > 0, (wname, name)
        for peer in B.PEERS:
            assert (float(ms[peer]) > 0) if peer in present else ms[peer] == "not installed"
        ratios = dict(zip(ratio_header.split()[1:], _cells(out, ratio_header, label), strict=True))
        if wname == "lstm_f32":  # the where reference computes in float64 only
            assert ms[OLD_REF] == "n/a" and ratios["where/numpy"] == "-"
        else:
            assert float(ms[OLD_REF]) > 0 and re.fullmatch(NUM, ratios["where/numpy"])
        mini_over_numpy = float(ms["autograd_mini"]) / float(ms[REF])
        assert float(ratios["mini/numpy"]) == pytest.approx(mini_over_numpy, abs=0.01 + 1e-3 * mini_over_numpy)
        assert float(ratios["tape/numpy"]) == pytest.approx(float(ms[TAPE]) / float(ms[REF]), rel=0.02, abs=0.011)
        m = re.search(rf"^  {re.escape(label)}: autograd_mini / numpy \(plain sigmoid\) <= {target}\s+({NUM})"
                      r"\s+(PASS|MISS)$", out, re.M)
        assert m, (wname, out)
        assert float(m[1]) == float(ratios["mini/numpy"])
        assert _agrees(m[2], float(m[1]), float(target), lambda r, t: r <= t), (wname, m[0])
        n_targets += 1
        n_met += m[2] == "PASS"
        m = re.search(rf"^  {re.escape(label)}: autograd_mini ahead of PyTorch eager \(mini/torch < 1\)"
                      rf"\s+({NUM}|-)\s+(PASS|MISS|n/a \(torch not installed\))$", out, re.M)
        assert m, (wname, out)
        if "torch" in present:
            assert float(m[1]) == float(ratios["mini/torch"])
            assert _agrees(m[2], float(m[1]), 1.0, lambda r, t: r < t), (wname, m[0])
            n_targets += 1
            n_met += m[2] == "PASS"
        else:
            assert m[1] == "-" and ratios["torch/numpy"] == ratios["mini/torch"] == "-"
    assert re.search(rf"^  {n_met} of {n_targets} issue-12 targets met$", out, re.M)
    assert len(re.findall(r"^  Elman .*: autograd_mini faster than HIPS autograd\s", out, re.M)) == 3
    assert "autograd_mini / numpy <= 1.3" not in out  # the old LSTM target measured the flattering reference


def test_absent_peers_are_reported_and_the_rest_runs(B, monkeypatch, capsys):
    def absent():
        raise ImportError("absent")

    monkeypatch.setattr(B, "IMPORTERS", {peer: absent for peer in B.PEERS})
    assert B.main(["--quick", "--workload", "elman3", "--repeat", "1", "--min-time", "0"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^  torch\s+not installed \(pip install torch==2\.13\.0\)$", out, re.M)
    assert re.search(r"^  HIPS autograd\s+not installed \(pip install autograd\)$", out, re.M)
    assert "torch not checked (not installed)" in out and "HIPS autograd not checked (not installed)" in out
    ms = dict(zip(B.IMPLS, _cells(out, _headers(out)[0], B.WORKLOADS["elman3"]["label"]), strict=True))
    assert ms["torch"] == ms["HIPS autograd"] == "not installed"
    assert float(ms[REF]) > 0 and float(ms[TAPE]) > 0
    assert re.search(r"ahead of PyTorch eager \(mini/torch < 1\)\s+-\s+n/a \(torch not installed\)$", out, re.M)
    assert re.search(r"faster than HIPS autograd\s+-\s+n/a \(HIPS autograd not installed\)$", out, re.M)
    assert re.search(r"^  1 of 1 issue-12 targets met$|^  0 of 1 issue-12 targets met$", out, re.M)


def test_instruction_counts_beside_the_ratios(B, monkeypatch, capsys):
    # Without valgrind the table is not counted, and says why; with it, each row divides the
    # counts it printed (the counts themselves are faked: a callgrind run takes ~20 s).
    monkeypatch.setattr("shutil.which", lambda name: None)
    B.print_instructions(steps=1)
    assert "valgrind is not on PATH" in capsys.readouterr().out
    monkeypatch.setattr("shutil.which", lambda name: "/usr/bin/valgrind")
    import instructions as I
    fake = {"engine": 4e6, "numpy": 2e6, "tape": 3e6}
    monkeypatch.setattr(I, "per_training_step", lambda wl, impl, steps: fake[impl])
    B.print_instructions(steps=1)
    out = capsys.readouterr().out
    _, ops = I.training_step("elman3")
    line = next(ln for ln in out.splitlines() if ln.startswith("Elman 2-3-1"))
    assert line.split()[2:7] == ["4.00", "2.00", "3.00", "2.00", "1.50"]
    assert f"{2e6 / ops:,.0f}" in line and "LSTM graph" in out
