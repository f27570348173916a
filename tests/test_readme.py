"""The README's commands are the ones CI runs, and the example it names runs."""
from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```\n(python3 -m venv[^\n]*)\n```", text)


def test_readme_gives_exactly_two_commands_and_ci_runs_the_second():
    commands = _readme_commands()
    assert len(commands) == 2
    ci_lines = [ln for ln in (ROOT / ".ci" / "run").read_text().splitlines() if ln.strip()]
    assert ci_lines[-1] == commands[1]  # the test command, exactly, and last
    assert "pytest" in commands[1] and "examples/" in commands[0]


def test_the_main_job_example_runs_on_tiny_settings(tmp_path):
    import runpy

    module = runpy.run_path(str(ROOT / "examples" / "binary_addition.py"))
    summary = module["main"](["--steps", "3", "--no-progress", "--out", str(tmp_path)])
    written = json.loads((tmp_path / "binary_addition.json").read_text())
    assert {(r["model"].split(",")[0], r["bits"]) for r in written["accuracy"]} == {
        (m, b) for m in ("RNN 2-3-1", "feed-forward") for b in (8, 16, 32, 64)}
    assert written["carries"] == summary["carries"]
    assert set(written["weights"]) == {"W_xh", "W_hh", "b_h", "W_hy", "b_y"}
    for name in ("binary_addition_accuracy.csv", "binary_addition_carries.csv", "binary_addition_rnn.npz"):
        assert (tmp_path / name).stat().st_size > 0
