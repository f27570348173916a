"""The autograd-mini command: render and train, one-line errors, never a traceback."""
from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from viz.cli import main


@pytest.mark.parametrize("argv", [
    ["render", "--model", "rnn", "--steps", "5"],
    ["render", "--model", "lstm", "--task", "adding", "--steps", "6", "--view", "rolled"],
    ["render", "--model", "hmm", "--steps", "7", "--hidden", "2"],
    ["render", "--model", "ar", "--task", "next-term", "--steps", "5"],
    ["render", "--model", "ff", "--steps", "5", "--detail", "modules", "--labels"],
    ["render", "--model", "rnn", "--steps", "30", "--window", "2"],
])
def test_render_writes_an_svg_for_every_model_kind(tmp_path, capsys, argv):
    out = tmp_path / "d.svg"
    assert main(argv + ["--out", str(out)]) == 0
    ET.fromstring(out.read_text())
    assert f"wrote {out}" in capsys.readouterr().out


def test_train_saves_parameters_that_render_loads(tmp_path, capsys):
    weights = tmp_path / "m.npz"
    assert main(["train", "--steps", "20", "--quiet", "--out", str(weights)]) == 0
    assert weights.exists() and "final loss" in capsys.readouterr().out
    out = tmp_path / "t.svg"
    assert main(["render", "--weights", str(weights), "--out", str(out)]) == 0
    assert "trained weights" in out.read_text()


@pytest.mark.parametrize("argv, message", [
    (["render", "--steps", "0"], "--steps must be at least 1"),
    (["render", "--model", "xyz"], "invalid choice: 'xyz'"),
    (["render", "--out", "a.bmp"], "unknown format .bmp"),
    (["render", "--weights", "/no/such.npz"], "cannot load weights"),
    (["train", "--hidden", "0"], "--hidden must be at least 1"),
])
def test_bad_arguments_give_one_line_and_a_non_zero_exit(tmp_path, argv, message):
    proc = subprocess.run([sys.executable, "-m", "viz.cli", *argv], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr


def test_help_lists_the_commands():
    proc = subprocess.run([sys.executable, "-m", "viz.cli", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "render" in proc.stdout and "train" in proc.stdout
