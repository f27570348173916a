"""The benchmark's two workloads compute the same gradients as their hand-written references,
and the script runs (its timings are measurements, never asserted)."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import load_script

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    return load_script("benchmarks/bench_engine.py")


@pytest.mark.parametrize("gates", ["concat", "split"])
def test_lstm_workload_gradients_agree_with_hand_written_bptt(gates):
    B = _bench()
    assert B.check_gradients("lstm", B.lstm_engine, B.lstm_numpy, B.lstm_params(), B.lstm_data(), gates=gates) <= 1.0


def test_elman_workload_gradients_agree_and_a_wrong_reference_is_caught():
    B = _bench()
    params, data = B.elman_params(), B.elman_data()
    assert B.check_gradients("elman", B.elman_engine, B.elman_numpy, params, data) <= 1.0

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
    assert "ratio" in out and "us/op" in out
