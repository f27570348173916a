"""The benchmark's two workloads compute the same gradients as their hand-written references,
and the script runs (its timings are measurements, never asserted)."""
from __future__ import annotations

import functools
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import load_script

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    return load_script("benchmarks/bench_engine.py")


@pytest.mark.parametrize("at_once", [False, True])
@pytest.mark.parametrize("gates", ["concat", "split"])
def test_lstm_workload_gradients_agree_with_hand_written_bptt(gates, at_once):
    B = _bench()
    reference = functools.partial(B.lstm_numpy, weights_at_once=at_once)
    assert B.check_gradients("lstm", B.lstm_engine, reference, B.lstm_params(), B.lstm_data(), gates=gates) <= 1.0


@pytest.mark.parametrize("at_once", [False, True])
def test_elman_workload_gradients_agree_and_a_wrong_reference_is_caught(at_once):
    B = _bench()
    params, data = B.elman_params(), B.elman_data()
    reference = functools.partial(B.elman_numpy, weights_at_once=at_once)
    assert B.check_gradients("elman", B.elman_engine, reference, params, data) <= 1.0

    def wrong(p, *d):
        loss, grads = B.elman_numpy(p, *d)
        grads["W_hh"] = grads["W_hh"] * 1.001
        return loss, grads

    with pytest.raises(AssertionError, match="W_hh"):
        B.check_gradients("elman", B.elman_engine, wrong, params, data)


def test_benchmark_script_runs_quickly(capsys):
    B = _bench()
    assert B.main(["--quick", "--workload", "elman"]) == 0
    out = capsys.readouterr().out
    assert "ratio" in out and "us/op" in out and "at once" in out


def test_time_interleaved_counts_page_faults_per_call():
    pytest.importorskip("resource", reason="page-fault counts come from Unix's getrusage")
    # Touching fresh pages faults (64 MB is above glibc's largest mmap threshold, so each call
    # maps new pages); re-reading one small array does not.
    import numpy as np
    B = _bench()
    kept = np.ones(1 << 12)
    faults: dict[str, list[float]] = {}
    samples = B.time_interleaved({"fresh": lambda: np.ones(1 << 23).sum(), "kept": kept.sum},
                                 repeat=3, min_time=0.0, warmup=1, faults=faults)
    assert {k: len(v) for k, v in faults.items()} == {k: len(v) for k, v in samples.items()} == {"fresh": 3, "kept": 3}
    assert min(faults["fresh"]) >= 32  # 64 MB: 32 huge pages at the fewest, 16384 small ones at most
    assert max(faults["kept"]) <= 4  # room for an interpreter arena or two


def test_the_guarantees_benchmark_feeds_the_same_step_two_ways(capsys):
    G = load_script("benchmarks/bench_guarantees.py")
    B = _bench()
    assert G.feeds_agree(B) == 0.0  # copying the kept inputs changes no number
    assert G.main(["--repeat", "1", "--min-time", "0.005"]) == 0
    out = capsys.readouterr().out
    assert "(gradients identical)" in out and "of one recorded op" in out and "held by a graph" in out


def test_the_instruction_counter_runs_the_workloads_and_explains_what_it_needs(monkeypatch, capsys):
    I = load_script("benchmarks/instructions.py")
    B = _bench()
    step, ops = I.training_step("elman3")
    assert ops == B.count_ops(B.elman_engine, B.elman_params(n_hidden=3), B.elman_data())
    step()                                          # one training step runs
    assert I.main(["--inner", "--workload", "elman3", "--steps", "1"]) == 0
    with pytest.raises(ValueError, match="unknown workload"):
        I.training_step("nope")
    for impl in ("numpy", "tape"):  # the same step on the reference and on the floor, same op count
        other, other_ops = I.training_step("elman3", impl)
        other()
        assert other_ops == ops
    with pytest.raises(ValueError, match="unknown impl"):
        I.training_step("elman3", "torch")
    # "lstm" counts bench_peers' LSTM row: its weights, data and op sequence (1602 ops).
    P = load_script("benchmarks/bench_peers.py")
    params, data = P.workload_inputs("lstm")
    for a, b in zip((B.lstm_params(), *B.lstm_data()), (params, *data)):
        for k in (a if isinstance(a, dict) else [None]):
            np.testing.assert_array_equal(a if k is None else a[k], b if k is None else b[k])
    _, lstm_ops = I.training_step("lstm")
    assert lstm_ops == B.count_ops(B.lstm_engine, params, data) == 1602
    assert I.main(["--steps", "0"]) == 2 and "at least 1" in capsys.readouterr().err
    monkeypatch.setattr(I.shutil, "which", lambda name: None)
    assert I.main([]) == 2 and "valgrind is not on PATH" in capsys.readouterr().err


def test_bench_alone_runs_each_implementation_in_its_own_process_and_reports_faults(capsys):
    A = load_script("benchmarks/bench_alone.py")
    assert A.main(["--workload", "elman3", "--steps", "1", "--impl", "autograd_mini", "numpy"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert [r[0] for r in rows] == ["autograd_mini", "numpy"]
    for r in rows:  # "<ms> ms <faults> faults" twice: glibc's default, then keeping freed memory
        assert r[2] == r[6] == "ms" and r[4] == r[8] == "faults"
        assert all(float(r[i]) > 0 for i in (1, 5)) and all(float(r[i]) >= 0 for i in (3, 7))
    child = A.measure("elman3", "numpy", 1, keep=True)
    assert set(child) == {"ms", "faults"}
    with pytest.raises(SystemExit):
        A.main(["--steps", "0"])


def test_bench_alone_sets_the_glibc_tunables_only_on_the_second_run(monkeypatch):
    A = load_script("benchmarks/bench_alone.py")
    seen = []

    def fake_run(cmd, env, **kw):
        seen.append({k: env.get(k) for k in A.KEEP})
        return subprocess.CompletedProcess(cmd, 0, stdout='{"ms": 1.0, "faults": 0}\n', stderr="")

    monkeypatch.setattr(A.subprocess, "run", fake_run)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1")  # the caller's own setting must not leak in
    A.measure("elman3", "numpy", 1, keep=False)
    A.measure("elman3", "numpy", 1, keep=True)
    assert seen[0] == {k: None for k in A.KEEP}
    assert seen[1] == A.KEEP
