"""The autograd-mini command: render and train, one-line errors, never a traceback."""
from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

import viz
from viz.cli import main, parse_size
from viz.dot import smallest_text_px


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


@pytest.fixture
def drawn(monkeypatch):
    """Every Diagram viz.draw returns during the test, with the keyword arguments it was given."""
    calls: list[tuple[dict, viz.Diagram]] = []
    real = viz.draw

    def spy(source, **kwargs):
        d = real(source, **kwargs)
        calls.append((kwargs, d))
        return d

    monkeypatch.setattr(viz, "draw", spy)
    return calls


@pytest.mark.parametrize("options, expected", [
    ([], {"size": "slide", "detail": "auto", "view": "unrolled", "fontsize": None}),
    (["--size", "page", "--detail", "ops"], {"size": "page", "detail": "ops"}),
    (["--size", "8x4.5", "--fontsize", "10", "--detail", "modules"], {"size": (8.0, 4.5), "fontsize": 10.0}),
    (["--detail", "units", "--view", "rolled"], {"detail": "units", "view": "rolled"}),
])
def test_render_passes_its_options_to_draw_and_writes_what_draw_returns(tmp_path, drawn, options, expected):
    out = tmp_path / "d.dot"
    assert main(["render", "--steps", "6", *options, "--out", str(out)]) == 0
    (kwargs, diagram), = drawn
    assert {k: kwargs[k] for k in expected} == expected
    assert out.read_text() == diagram.source   # the DOT of the very diagram draw returned


def test_the_default_render_is_a_slide_with_text_of_at_least_12_px(tmp_path, drawn):
    out = tmp_path / "d.svg"
    assert main(["render", "--steps", "8", "--out", str(out)]) == 0
    svg = out.read_text()
    (_, diagram), = drawn
    assert svg == diagram.svg()
    assert smallest_text_px(svg, 1280) >= 12


def test_a_size_in_inches_bounds_the_picture(tmp_path):
    out = tmp_path / "d.svg"
    assert main(["render", "--steps", "8", "--size", "6x4", "--fontsize", "8", "--out", str(out)]) == 0
    m = re.search(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"', out.read_text())
    assert float(m[1]) <= 6 * 72 + 1 and float(m[2]) <= 4 * 72 + 1


@pytest.mark.parametrize("ext, check", [
    (".svg", lambda b: ET.fromstring(b.decode()).tag.endswith("svg")),
    (".html", lambda b: b.lstrip().lower().startswith(b"<!doctype html") and b"<svg" in b),
    (".dot", lambda b: b.startswith(b"digraph")),
    (".gv", lambda b: b.startswith(b"digraph")),
    (".png", lambda b: b.startswith(b"\x89PNG\r\n\x1a\n")),
])
def test_the_extension_chooses_the_format(tmp_path, capsys, ext, check):
    if ext == ".png" and viz.backend("png") == "none":
        pytest.skip("no renderer for png here (neither the system Graphviz nor graphviz-pure)")
    out = tmp_path / f"d{ext}"
    assert main(["render", "--steps", "4", "--out", str(out)]) == 0
    assert check(out.read_bytes())
    assert f"wrote {out}" in capsys.readouterr().out


def test_a_format_no_renderer_here_can_make_is_refused_before_anything_is_written(tmp_path):
    if viz.backend("pdf") != "none":
        pytest.skip("the system Graphviz makes pdf here")
    proc = _run(["render", "--out", str(tmp_path / "d.pdf")], tmp_path)
    assert proc.returncode == 2 and "pdf needs the system Graphviz" in proc.stderr
    assert not any(tmp_path.iterdir())


def test_the_caption_says_what_was_left_out(tmp_path, capsys):
    assert main(["render", "--steps", "40", "--out", str(tmp_path / "d.svg")]) == 0
    assert re.search(r"^  showing steps? .* of 40$", capsys.readouterr().out, re.M)


def test_train_saves_parameters_that_render_loads(tmp_path, capsys):
    weights = tmp_path / "m.npz"
    assert main(["train", "--steps", "20", "--quiet", "--out", str(weights)]) == 0
    assert weights.exists() and "final loss" in capsys.readouterr().out
    out = tmp_path / "t.svg"
    assert main(["render", "--weights", str(weights), "--out", str(out)]) == 0
    assert "trained weights" in out.read_text()


def _run(argv: list[str], cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "viz.cli", *argv], capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize("argv, message", [
    (["render", "--steps", "0"], "--steps must be at least 1"),
    (["render", "--steps", "-3"], "--steps must be at least 1"),
    (["render", "--window", "0"], "--window must be at least 1, got 0"),
    (["render", "--hidden", "0"], "--hidden must be at least 1"),
    (["render", "--seed", "-1"], "--seed must be 0 or more"),
    (["render", "--model", "xyz"], "invalid choice: 'xyz'"),
    (["render", "--detail", "cells"], "invalid choice: 'cells'"),
    (["render", "--view", "sideways"], "invalid choice: 'sideways'"),
    (["render", "--size", "poster"], "--size must be slide, page or WIDTHxHEIGHT"),
    (["render", "--size", "0x4"], "--size: width and height must be inches above 0"),
    (["render", "--size", "8xinf"], "--size: width and height must be inches above 0"),
    (["render", "--fontsize", "2"], "--fontsize must be a number of points from 4 to 72"),
    (["render", "--fontsize", "nan"], "--fontsize must be a number of points from 4 to 72"),
    (["render", "--fontsize", "big"], "argument --fontsize: invalid float value"),
    (["render", "--out", "a.bmp"], "unknown format .bmp"),
    (["render", "--out", "picture"], "no extension to choose the format by"),
    (["render", "--out", "."], "is a folder"),
    (["render", "--weights", "/no/such.npz"], "cannot load weights"),
    (["train", "--hidden", "0"], "--hidden must be at least 1"),
    (["train", "--lr", "-1"], "--lr must be above 0"),
    (["train", "--clip", "0"], "--clip must be above 0"),
])
def test_a_bad_value_gives_one_line_and_exit_status_2(tmp_path, argv, message):
    proc = _run(argv, tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr, proc.stderr
    assert not any(tmp_path.iterdir()), "a refused command wrote something"


def test_a_net_draw_cannot_draw_at_the_detail_asked_is_one_line_and_exit_status_2(tmp_path, monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise ValueError("units_graph: no units to draw")

    monkeypatch.setattr(viz, "draw", refuse)
    assert main(["render", "--detail", "units", "--steps", "3", "--out", str(tmp_path / "d.svg")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["autograd-mini render: error: cannot draw rnn with --detail units --view unrolled: "
                   "units_graph: no units to draw"]
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("command, name", [("render", "d.svg"), ("train", "m.npz")])
def test_an_out_folder_that_does_not_exist_is_refused_not_created(tmp_path, command, name):
    target = tmp_path / "no" / "such" / name
    proc = _run([command, "--steps", "3", "--out", str(target)], tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "does not exist" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "no").exists()


def test_an_out_path_under_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    proc = _run(["render", "--out", str(tmp_path / "file" / "d.svg")], tmp_path)
    assert proc.returncode == 2 and "not a folder" in proc.stderr


def test_parse_size():
    assert parse_size("slide") == "slide" and parse_size("PAGE") == "page"
    assert parse_size("13.333x7.5") == (13.333, 7.5)


def test_help_lists_the_commands_and_the_render_options():
    proc = subprocess.run([sys.executable, "-m", "viz.cli", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "render" in proc.stdout and "train" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "viz.cli", "render", "--help"], capture_output=True, text=True)
    for option in ("--size", "--detail", "--fontsize", "--view", "--window", "--out"):
        assert option in proc.stdout


@pytest.mark.parametrize("content", [b"", b"garbage", b"PK\x03\x04truncated"])
def test_a_damaged_weights_file_is_one_line_and_exit_status_2(tmp_path, content):
    bad = tmp_path / "w.npz"
    bad.write_bytes(content)
    proc = _run(["render", "--weights", str(bad), "--out", str(tmp_path / "d.svg")], tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "cannot load weights" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "d.svg").exists()


def test_train_says_where_it_writes_when_out_is_not_npz(tmp_path, capsys):
    assert main(["train", "--steps", "2", "--quiet", "--out", str(tmp_path / "m.txt")]) == 0
    assert (tmp_path / "m.npz").exists() and f"wrote {tmp_path / 'm.npz'}" in capsys.readouterr().out
