"""What the lecture's models must show, each with a fixed seed (the examples print the same)."""
from __future__ import annotations

import csv
import re
import runpy
import xml.etree.ElementTree as ET
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]


def _example(name: str) -> dict:
    return runpy.run_path(str(ROOT / "examples" / f"{name}.py"))


def _unit_steps(svg: str) -> set[int]:
    """The steps a unit-level picture draws (one box each)."""
    return {int(s) for s in re.findall(r"<title>box_step(\d+)</title>", svg)}


def test_lecture_net_learns_addition_and_adds_longer_numbers_a_window_net_cannot(tmp_path):
    summary = _example("binary_addition")["main"](["--no-progress", "--out", str(tmp_path)])
    svg = (tmp_path / "binary_addition_units.svg").read_text()
    ET.fromstring(svg)
    a, b, total = map(int, re.search(r"adding (\d+) \+ (\d+) = (\d+)", svg).groups())
    bits = a.bit_length()
    assert (a, b, total) == (2 ** bits - 1, 1, 2 ** bits)   # a carry through every column
    steps, shown = bits + 1 + 2, _unit_steps(svg)          # the bits, the carry out, the delay
    assert {0, steps - 1} <= shown <= set(range(steps))
    assert ("showing step" in svg) == (len(shown) < steps)  # the caption says when steps are left out
    loss = re.search(r"loss (\d\.\de(?:-|&#45;)\d\d)<", svg)[1].replace("&#45;", "-")
    assert float(loss) < 0.01   # the trained net
    rolled = (tmp_path / "binary_addition_rolled.svg").read_text()
    assert ET.fromstring(rolled) is not None and "rolled up" in rolled and not _unit_steps(rolled)
    ET.fromstring((tmp_path / "binary_addition_automaton.svg").read_text())
    rnn = {r["bits"]: r["sums_correct"] for r in summary["accuracy"] if r["model"] == "RNN 2-3-1"}
    assert rnn == {8: 1.0, 16: 1.0, 32: 1.0, 64: 1.0}  # 32 and 64 bits never seen in training
    for row in summary["carries"]:
        assert row["rnn"] == 1.0
        if row["carry_travels"] < 4:
            assert row["feed_forward"] == 1.0
        else:  # the carry came from outside its window of 4 columns: a coin toss
            assert row["feed_forward"] == 0.5


def test_lstm_learns_the_adding_problem_where_an_elman_net_stays_at_the_baseline(tmp_path):
    results = _example("adding_problem")["run"](tmp_path, length=50, steps=500, hidden=16, seed=0, progress=False)
    lstm, elman = results["LSTM"], results["Elman RNN (tanh)"]
    assert lstm["test_mse"] < 0.05 < 0.167 / 2
    assert elman["test_mse"] > 0.12  # near 1/6, the error of always answering 1.0
    assert abs(lstm["weights"] - elman["weights"]) / lstm["weights"] < 0.1  # similar size
    with open(tmp_path / "adding_problem.csv") as fh:
        assert [r["model"] for r in csv.DictReader(fh)] == ["LSTM", "Elman RNN (tanh)"]
    with open(tmp_path / "adding_problem_loss.csv") as fh:
        assert len(fh.read().splitlines()) == 501


def test_vanishing_gradients_example_shows_the_three_regimes(tmp_path, monkeypatch):
    import viz

    scales, draw = [], viz.draw
    monkeypatch.setattr(viz, "draw", lambda *a, **kw: scales.append(kw.get("scale")) or draw(*a, **kw))
    flows = _example("vanishing_gradients")["main"](["--out", str(tmp_path)])
    import models

    small, large, lstm = (models.growth_per_step(n) for n in flows.values())
    assert small < 0.6 and large > 1.8 and 0.9 < lstm < 1.1
    with open(tmp_path / "vanishing_gradients.csv") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == 31 and len(rows[0]) == 4
    chart = ET.fromstring((tmp_path / "vanishing_gradients_chart.svg").read_text())
    assert len(chart.findall(".//{http://www.w3.org/2000/svg}polyline")) >= 3
    sources = [(tmp_path / f"vanishing_gradients_{k}.svg").read_text() for k in ("small", "large", "lstm")]
    for svg in sources[:2]:  # the first step and the last, where the error is, at least
        assert {0, 5} <= _unit_steps(svg)
    assert _unit_steps(sources[2]) == {4, 5}   # the LSTM: its last two steps, the cells' path entering them
    assert len(scales) == 3 and scales[0] is not None and scales[0] is scales[1] is scales[2]  # one shared scale


def test_tied_weights_example_shared_gradient_is_the_sum_of_the_copies(tmp_path):
    import numpy as np

    result = _example("tied_weights")["main"](["--out", str(tmp_path)])
    np.testing.assert_allclose(sum(result["copies"]), result["shared"], rtol=1e-12, atol=1e-14)
    copies_svg = (tmp_path / "tied_weights_copies.svg").read_text()
    assert all(f"W_hh({t}) (3x3)" in copies_svg for t in range(6))  # each copy is its own weight
    ET.fromstring((tmp_path / "tied_weights_shared.svg").read_text())
    with open(tmp_path / "tied_weights.csv") as fh:
        rows = list(csv.reader(fh))
    assert [r[0] for r in rows[1:]] == ["0", "1", "2", "3", "4", "5", "sum", "shared"]
    assert rows[-1][1] == rows[-2][1]


def test_gradcheck_example_passes_the_right_op_and_reports_the_wrong_one(tmp_path):
    result = _example("gradcheck_your_op")["main"](["--examples", "5", "--out", str(tmp_path)])
    assert result["examples"] == 5
    assert "input 0, element (" in result["report"] and "analytic" in result["report"] and "numeric" in result["report"]
    assert "failure report" in (tmp_path / "gradcheck_report.txt").read_text()
