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


def test_the_main_job_runs_on_tiny_settings_and_lists_its_files(tmp_path, capsys):
    import runpy

    files = runpy.run_path(str(ROOT / "examples" / "lecture.py"))["main"](["--quick", "--out", str(tmp_path)])
    names = {p.name for p in files}
    for expected in ("binary_addition_accuracy.csv", "binary_addition_units.svg", "vanishing_gradients_chart.svg",
                     "vanishing_gradients_lstm.svg", "tied_weights_shared.svg", "tied_weights.csv"):
        assert expected in names
    printed = capsys.readouterr().out
    assert f"{len(files)} files in" in printed and all(str(p) in printed for p in files)
    written = json.loads((tmp_path / "binary_addition.json").read_text())
    assert set(written["weights"]) == {"W_xh", "W_hh", "b_h", "W_hy", "b_y"}


def test_gallery_images_exist_for_the_readme():
    import re as _re

    text = (ROOT / "README.md").read_text()
    for path in _re.findall(r"\((docs/gallery/[^)]+\.svg)\)", text):
        assert (ROOT / path).stat().st_size > 0, path
