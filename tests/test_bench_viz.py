"""The visualisation benchmark runs and prints what it promises (its timings are measurements,
never asserted), a layout or a DOT past the time cap is killed, not waited for, and the memory
section measures what the loss's graph holds."""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from conftest import load_script

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    return load_script("benchmarks/bench_viz.py")


@pytest.fixture(scope="module")
def quick_run():
    import contextlib
    import io

    B = _bench()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = B.main(["--quick", "--cap", "5"])   # a short cap keeps the smoke run short
    return code, out.getvalue()


def _rows(out: str) -> dict[tuple[int, str], list[str]]:
    rows = {}
    for line in out.splitlines():
        m = re.match(r"^Elman 2-3-1\s+(\d+)\s+(\d+)\s+(\d+)/(\d+)\s+(\w+), (\w+)\s{2,}(.+?)\s{2,}(.*)$", line)
        if m:
            rows[int(m[1]), f"{m[5]}, {m[6]}"] = [m[2], m[3], m[4], m[7]] + m[8].split()
    return rows


def test_quick_run_prints_the_header_and_a_row_per_view(quick_run):
    code, out = quick_run
    assert code == 0
    for label in ("date", "numpy", "graphviz", "time cap"):
        assert re.search(rf"^  {label}\s", out, re.M), label
    assert re.search(r"networkx \d", out) and re.search(r"numpy\s+\d", out)
    header = next(line for line in out.splitlines() if line.startswith("workload"))
    for column in ("steps", "graph n/e", "view (detail, size)", "steps shown", "drawn", "export s", "DOT s",
                   "SVG kB", "text px @1280"):
        assert column in header
    assert sum(f"{r} s" in header for r in ("system", "embedded")) == 1   # --quick: one renderer
    rows = _rows(out)
    for steps in (10, 100):
        for view in ("modules, natural", "ops, natural", "units, slide"):
            assert (steps, view) in rows, f"no row for {steps} steps, {view}:\n{out}"
    assert (10, "units, natural") in rows and (100, "units, natural") not in rows   # minutes at 100: full run only
    assert int(rows[10, "ops, natural"][0]) < int(rows[100, "ops, natural"][0])   # ops recorded grow with steps
    assert rows[100, "ops, natural"][3].startswith("all 100")
    assert rows[100, "modules, natural"][3] == "0-5, 94-99 of 100"             # modules: the first and last 6
    assert rows[10, "units, natural"][3] == "all 10"
    assert rows[10, "units, slide"][3].endswith("of 10")                         # a window that fits a slide


def test_the_units_rows_on_a_slide_have_text_of_at_least_12_px(quick_run):
    _, out = quick_run
    rows = _rows(out)
    for steps in (10, 100):
        px = rows[steps, "units, slide"][-1]
        assert px != "-", f"no SVG for the {steps}-step slide"
        assert float(px) >= 12, f"{steps} steps on a slide: smallest text {px} px at 1280 px wide"


def test_quick_run_prints_growth_target_and_memory(quick_run):
    _, out = quick_run
    assert re.search(r"^\s+workload\s+view\s+phase\s+100 vs 10", out, re.M)      # growth ratios
    assert re.search(r"^target: .*1,000-step unroll", out, re.M)
    assert "not measured" in out.split("target:")[1].split("\n\n")[0]           # --quick skips 1,000 steps
    assert "1000" not in {m for m in re.findall(r"^Elman 2-3-1\s+(\d+)", out, re.M)}
    memory = out.split("memory the graph of the loss holds")[1]
    for name in ("Elman 2-3-1, 1,000 steps, batch 1", "LSTM 8-128, batch 32, 100 steps"):
        m = re.search(rf"^{re.escape(name)}\s+(\d+)\s+([\d.]+) (MB|kB)\s+(\d+) B\s+([\d.]+) (MB|kB)\s+(\d+) B\s+([\d.]+)%",
                      memory, re.M)
        assert m, f"no memory row for {name}:\n{memory}"
        forward = float(m[2]) * (1e6 if m[3] == "MB" else 1e3)
        backward = float(m[5]) * (1e6 if m[6] == "MB" else 1e3)
        assert 0 < backward < forward   # backward freed the saved values, kept the structure
        assert int(m[4]) > int(m[7]) > 0
    assert re.search(r"LSTM 8-128, batch 32, 100 steps: after backward am.graph_of\(loss\) gives 1602 ops with op, "
                     r"inputs and shape each", memory)


def test_the_memory_of_a_graph_is_the_loss_s_and_backward_frees_its_saved_values():
    B = _bench()
    r = B.graph_memory(B._lstm_b)
    assert r["ops"] == 1602 and r["structure"]
    assert r["forward"] > 20e6                 # 32 x 512 gate values per step, saved for backward
    assert r["backward"] < r["forward"] / 10   # freed by backward ...
    assert r["backward"] > 100 * r["ops"]      # ... except each record's structure
    assert abs(r["deleted"]) < 50e3            # and that was the loss's graph: gone with the loss


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
    neato = B.render_capped('graph { a [pos="0,0!"]; b [pos="72,0!"]; a -- b }', renderer, cap=30.0, repeat=1,
                            engine="neato")
    assert neato["status"] == "ok" and b"<svg" in neato["svg"]


def test_a_call_past_the_cap_is_killed():
    B = _bench()
    t0 = time.perf_counter()
    res = B.call_capped(lambda: time.sleep(30), cap=0.5)
    assert res["status"] == "timeout" and time.perf_counter() - t0 < 10
    assert B.call_capped(lambda: 6 * 7, cap=30)["value"] == 42
    assert B.call_capped(lambda: 1 / 0, cap=30)["status"] == "error"
