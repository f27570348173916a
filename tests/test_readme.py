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
    ci_lines = [ln for ln in (ROOT / ".ci" / "run").read_text().splitlines() if ln and not ln.startswith(("#", "set ", "cd "))]
    assert ci_lines == [commands[1]]
    assert "pytest" in commands[1] and "examples/" in commands[0]


def test_the_main_job_example_runs_on_tiny_settings(tmp_path):
    import runpy

    script = ROOT / "examples" / "binary_addition.py"
    module = runpy.run_path(str(script))
    results = module["main"](["--steps", "3", "--out", str(tmp_path)])
    written = json.loads((tmp_path / "binary_addition.json").read_text())
    assert set(written["results"]) == {"8-bit sums correct", "16-bit sums correct", "32-bit sums correct"}
    assert written["results"] == results
    assert all(0.0 <= v <= 1.0 for v in results.values())
    assert set(written["weights"]) == {"W_xh", "W_hh", "b_h", "W_hy", "b_y"}


def test_the_main_job_learns_addition_and_generalises_to_longer_numbers(tmp_path):
    import runpy

    module = runpy.run_path(str(ROOT / "examples" / "binary_addition.py"))
    results = module["main"](["--out", str(tmp_path)])  # the defaults the README runs
    assert results["8-bit sums correct"] == 1.0
    assert results["32-bit sums correct"] >= 0.99  # never trained on 32 bits
