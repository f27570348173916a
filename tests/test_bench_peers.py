"""The peer benchmark runs with or without its optional peers (torch, HIPS autograd): every
installed implementation's gradients are checked against the hand-written BPTT, an absent peer
is reported as "not installed", and a wrong gradient aborts before timing. Timings are
measurements, never asserted. No test here skips: each checks whichever peers are present."""
from __future__ import annotations

import re

import numpy as np
import pytest

from conftest import load_script

NUM = r"\d+\.\d+"


def _bench():
    return load_script("benchmarks/bench_peers.py")


def _row(out: str, label: str) -> re.Match:
    m = re.search(rf"^{re.escape(label)}\s+({NUM})\s+({NUM})\s+({NUM}|not installed)\s+({NUM}|not installed)"
                  rf"\s+({NUM}|-)\s+({NUM}|-)\s+({NUM})$", out, re.M)
    assert m, f"no table row for {label}:\n{out}"
    return m


def test_quick_run_prints_the_table_with_a_figure_or_not_installed_per_peer(capsys):
    B = _bench()
    present, _ = B.load_peers()
    assert B.main(["--quick"]) == 0
    out = capsys.readouterr().out
    for label in ("date", "python", "numpy", "autograd_mini", "torch", "HIPS autograd"):
        assert re.search(rf"^  {label}\s", out, re.M), label
    header = next(line for line in out.splitlines() if line.startswith("workload"))
    for column in ("numpy ms", "autograd_mini ms", "torch ms", "HIPS autograd ms",
                   "mini/torch", "mini/HIPS", "mini/numpy"):
        assert column in header
    for w in B.WORKLOADS.values():
        row = _row(out, w["label"])
        agree = re.search(rf"^  {re.escape(w['label'])}\s+agree: (.*)$", out, re.M)
        assert agree and re.search(rf"autograd_mini {NUM}|autograd_mini 0\b", agree[1])
        assert float(row[2]) > 0 and float(row[7]) > 0          # numpy, autograd_mini: always
        for peer, cell, ratio in (("torch", 3, 5), ("HIPS autograd", 4, 6)):
            if peer in present:
                assert re.fullmatch(NUM, row[cell]) and re.fullmatch(NUM, row[ratio]), (peer, row[0])
                assert re.search(rf"{peer} [0-9.e+-]+", agree[1]), (peer, agree[1])   # its gradients were checked
            else:
                assert row[cell] == "not installed" and row[ratio] == "-", (peer, row[0])
                assert f"{peer} not checked (not installed)" in agree[1]
    for peer, hint in B.INSTALL_HINT.items():
        if peer not in present:
            assert re.search(rf"^  {peer}\s+not installed \({re.escape(hint)}\)", out, re.M)
    assert len(re.findall(r"^  Elman .* faster than .*\s(PASS|MISS|n/a)", out, re.M)) == 4
    assert re.search(r"^  LSTM .*<= 1\.3\s+\d+\.\d+\s+(PASS|MISS)$", out, re.M)


def test_absent_peers_are_reported_and_the_rest_runs(monkeypatch, capsys):
    B = _bench()

    def absent():
        raise ImportError("absent")

    monkeypatch.setattr(B, "IMPORTERS", {peer: absent for peer in B.PEERS})
    assert B.main(["--quick", "--workload", "elman3", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^  torch\s+not installed \(pip install torch==2\.13\.0\)$", out, re.M)
    assert re.search(r"^  HIPS autograd\s+not installed \(pip install autograd\)$", out, re.M)
    row = _row(out, B.WORKLOADS["elman3"]["label"])
    assert row[3] == row[4] == "not installed" and row[5] == row[6] == "-"
    assert out.count("n/a (") == 2


def test_every_installed_implementation_agrees_with_the_hand_written_bptt():
    B = _bench()
    present, _ = B.load_peers()
    impls = B.implementations(present)
    assert set(impls) == {"numpy", "autograd_mini", *present}
    for wname in B.WORKLOADS:
        errors = B.check_workload(wname, impls)
        assert set(errors) == {"autograd_mini", *present}, wname
        assert all(0.0 <= e <= 1.0 for e in errors.values()), (wname, errors)


def test_hidden_16_params_are_bench_engines_and_hidden_3_is_the_lecture_net():
    B = _bench()
    p16, ref = B.elman_params(16), B.BE.elman_params()
    assert all(np.array_equal(p16[k], ref[k]) for k in ref)
    assert B.elman_params(3)["W_hh"].shape == (3, 3) and B.elman_params(3)["W_xh"].shape == (2, 3)


def test_a_wrong_gradient_aborts_before_timing(monkeypatch, capsys):
    B = _bench()

    class Wrong(B.MiniImpl):
        def loss_and_grads(self, kind, params, data, **kw):
            loss, grads = super().loss_and_grads(kind, params, data, **kw)
            grads["W_hh"] = grads["W_hh"] * 1.001
            return loss, grads

    real = B.implementations
    monkeypatch.setattr(B, "implementations", lambda peers: {**real({}), "autograd_mini": Wrong()})
    with pytest.raises(SystemExit) as exc:
        B.main(["--quick", "--workload", "elman3"])
    assert exc.value.code == 1
    captured = capsys.readouterr()
    assert "W_hh" in captured.err and "no timings taken" in captured.err
    assert "workload" not in captured.out.splitlines()[-1]
