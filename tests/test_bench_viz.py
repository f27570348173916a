"""The visualisation benchmark runs and prints what it promises (its timings are measurements,
never asserted), and a layout past the time cap is killed, not waited for."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from conftest import load_script

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    return load_script("benchmarks/bench_viz.py")


def test_quick_run_prints_the_table(capsys):
    B = _bench()
    assert B.main(["--quick", "--cap", "3"]) == 0   # a short cap keeps the smoke run short
    out = capsys.readouterr().out
    for label in ("date", "numpy", "graphviz", "time cap"):
        assert re.search(rf"^  {label}\s", out, re.M), label
    assert re.search(r"networkx \d", out) and re.search(r"numpy\s+\d", out)
    header = next(line for line in out.splitlines() if line.startswith("workload"))
    for column in ("steps", "graph n/e", "detail chosen", "drawn", "export s", "DOT s", "SVG kB"):
        assert column in header
    assert sum(f"{r} s" in header for r in ("system", "embedded")) <= 1   # --quick: one renderer
    rows = {}
    for steps in (10, 100):
        for detail in ("auto", "ops"):
            m = re.search(rf"^Elman 2-3-1\s+{steps}\s+(\d+)\s+(\d+)/(\d+)\s+{detail}: (ops|modules), (.+?)\s{{2,}}(\d+)\s",
                          out, re.M)
            assert m, f"no table row for {steps} steps, detail={detail}:\n{out}"
            rows[steps, detail] = m
    assert int(rows[10, "auto"][1]) < int(rows[100, "auto"][1])          # ops recorded grow with steps
    assert rows[10, "auto"][4] == "ops"                                   # small: every op
    assert rows[100, "auto"][4] == "modules" and "94-99" in rows[100, "auto"][5]   # large: modules, a window
    assert rows[100, "ops"][4] == "ops" and rows[100, "ops"][5].startswith("all 100")
    assert re.search(r"^\s+workload\s+detail\s+phase\s+100 vs 10", out, re.M)    # growth ratios
    assert re.search(r"^target: .*1,000-step unroll", out, re.M)
    assert "1000" not in {m[0] for m in re.findall(r"^Elman 2-3-1\s+(\d+)", out, re.M)}   # --quick skips 1,000


def test_a_layout_past_the_cap_is_killed():
    B = _bench()
    renderer = next((r for r in B.RENDERERS if B.available(r) is None), None)
    if renderer is None:
        pytest.skip("no Graphviz here")
    res = B.render_capped("digraph { a -> b }", renderer, cap=0.0)
    assert res["status"] == "timeout" and B.fmt_s(res) == "> 0 s"
    with pytest.raises(ProcessLookupError):
        os.killpg(res["pgid"], 0)   # the child's whole process group is gone
    ok = B.render_capped("digraph { a -> b }", renderer, cap=30.0, repeat=1)
    assert ok["status"] == "ok" and ok["svg"].lstrip().startswith((b"<?xml", b"<svg", b"<!--"))
