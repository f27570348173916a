"""viz.render: the graphviz.Source face of Diagram, the choice of renderer, png through graphviz-pure."""
from __future__ import annotations

import os
import re
import shutil
import stat
import struct
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import graphviz
import pytest

import viz
from viz import render as R
from viz.render import Diagram, RenderError, VizSource, quote, render

IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false")
HAVE_SYSTEM = R._system_dot() is not None
HAVE_PURE = R._pure_dot() is not None

needs_pure = pytest.mark.skipif(not HAVE_PURE and not IN_CI,
                                reason="graphviz-pure is not installed (pip install -e '.[test]' installs it)")
needs_system = pytest.mark.skipif(not HAVE_SYSTEM, reason="the system Graphviz is not installed here (CI installs it)")

TINY = "digraph { a -> b }"


def clustered_dot(steps: int = 12, per_step: int = 25) -> str:
    """A DOT graph like an unroll: a cluster per step, a chain in each, edges from step to step."""
    lines = ["digraph unroll {", "  node [shape=box, style=rounded];"]
    for s in range(steps):
        lines.append(f"  subgraph cluster_step{s} {{ label={quote(f'step {s}')};")
        for i in range(per_step):
            lines.append(f"    n{s}_{i} [label={quote(f'op {i} <lambda> (1, {i})')}];")
        for i in range(per_step - 1):
            lines.append(f"    n{s}_{i} -> n{s}_{i + 1};")
        lines.append("  }")
        if s:
            lines.append(f"  n{s - 1}_{per_step - 1} -> n{s}_0 [penwidth=3, color=\"#b2182b\"];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:8]
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def svg_points(svg: bytes) -> tuple[float, float]:
    root = ET.fromstring(svg)
    w, h = (float(v.removesuffix("pt")) for v in (root.get("width"), root.get("height")))
    return w, h


def fake_dot(dirpath: Path, version_line: str, name: str = "dot") -> Path:
    """A program called ``name`` that prints ``version_line`` for -V, as ``dot -V`` does."""
    dirpath.mkdir(parents=True, exist_ok=True)
    exe = dirpath / name
    exe.write_text(f"#!/bin/sh\necho {quote(version_line)} >&2\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return exe


@pytest.fixture
def no_system(monkeypatch):
    """This machine as one without the system Graphviz."""
    monkeypatch.setattr(R, "_system_dot", lambda: None)


@pytest.fixture
def nothing_for_png(monkeypatch):
    monkeypatch.setattr(R, "_system_dot", lambda: None)
    monkeypatch.setattr(R, "_pure_dot", lambda: None)


@pytest.fixture(autouse=True)
def restore_jupyter_format():
    old = viz.set_jupyter_format("svg")
    yield
    viz.set_jupyter_format(old)


# --- which renderer -----------------------------------------------------------------------------

def test_a_dot_that_is_graphviz_pure_is_never_taken_for_the_system_graphviz(tmp_path, monkeypatch):
    fake = fake_dot(tmp_path / "bin", "graphviz-pure - graphviz-pure version 0.2.2 (Rust port of Graphviz 16.1.0)")
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    assert shutil.which("dot") == str(fake)
    assert R._system_dot() is None
    assert viz.backend("svg") != "system" and viz.backend("png") != "system"
    assert R._pure_dot() is not None


def test_the_system_graphviz_is_known_by_dot_V(tmp_path, monkeypatch):
    fake = fake_dot(tmp_path / "sys", "dot - graphviz version 2.43.0 (0)")
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    assert R._system_dot() == str(fake)
    assert viz.backend("svg") == "system" and viz.backend("pdf") == "system"
    assert "graphviz version 2.43.0" in viz.backends()["system"]


def test_a_dot_that_is_no_graphviz_at_all_is_ignored(tmp_path, monkeypatch):
    fake = fake_dot(tmp_path / "other", "dot: some other program")
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    assert R._system_dot() is None
    assert "system" not in viz.backends()


def test_backend_names_the_renderer_of_each_format(no_system, monkeypatch):
    assert viz.backend("svg") == "embedded" and viz.backend() == "embedded"
    assert viz.backend("pdf") == "none"
    monkeypatch.setattr(R, "_pure_dot", lambda: "/somewhere/graphviz-pure")
    assert viz.backend("png") == "graphviz-pure" and viz.backend("svg") == "embedded"
    monkeypatch.setattr(R, "_pure_dot", lambda: None)
    assert viz.backend("png") == "none"


def test_prefer_must_name_a_renderer():
    with pytest.raises(ValueError, match="prefer must be one of system, graphviz-pure, embedded"):
        render(TINY, "svg", prefer="cairo")


@needs_pure
def test_graphviz_pure_installs_as_its_own_program_not_as_dot():
    exe = R._pure_dot()
    assert exe is not None and Path(exe).name.startswith("graphviz-pure")
    assert "graphviz-pure" in viz.backends()["graphviz-pure"]


@needs_pure
def test_a_real_graphviz_pure_linked_as_dot_is_still_graphviz_pure(tmp_path, monkeypatch):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "dot").symlink_to(R._pure_dot())
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    assert R._system_dot() is None
    assert viz.backend("png") == "graphviz-pure"
    assert png_size(Diagram(TINY).pipe("png"))[0] > 0


# --- every renderer draws the same graph ----------------------------------------------------------

@pytest.mark.parametrize("prefer", ["embedded", pytest.param("graphviz-pure", marks=needs_pure),
                                    pytest.param("system", marks=needs_system)])
def test_each_renderer_makes_the_same_svg_of_a_clustered_graph(prefer):
    dot = clustered_dot(steps=4, per_step=6)
    svg = render(dot, "svg", prefer=prefer)
    titles = sorted(re.findall(rb"<title>([^<]*)</title>", svg))
    assert titles.count(b"unroll") == 1
    assert sum(t.startswith(b"cluster_step") for t in titles) == 4
    assert b"op 3 &lt;lambda&gt; (1, 3)" in svg       # our quoting: the label is text, not HTML


@needs_pure
def test_graphviz_pure_makes_a_correct_png_of_300_nodes_in_clusters():
    dot = clustered_dot(steps=12, per_step=25)
    png = render(dot, "png", prefer="graphviz-pure")
    w_pt, h_pt = svg_points(render(dot, "svg", prefer="graphviz-pure"))
    w, h = png_size(png)
    assert abs(w - w_pt * 96 / 72) <= 2 and abs(h - h_pt * 96 / 72) <= 2   # the SVG's picture at 96 dpi
    assert len(png) > 20_000


@needs_pure
def test_graphviz_pure_refuses_pdf_and_names_the_system_graphviz():
    with pytest.raises(RenderError, match="graphviz-pure==0.2.2 cannot make pdf: install the system Graphviz"):
        render(TINY, "pdf", prefer="graphviz-pure")


def test_png_without_any_renderer_names_exactly_what_to_install(tmp_path, nothing_for_png):
    d = Diagram(TINY)
    with pytest.raises(RenderError) as err:
        d.save(tmp_path / "x.png")
    msg = str(err.value)
    assert "pip install 'autograd-mini[png]'" in msg and "graphviz-pure==0.2.2" in msg
    assert "apt-get install graphviz" in msg
    assert not (tmp_path / "x.png").exists()
    with pytest.raises(RenderError, match="pdf needs the system Graphviz"):
        d.pipe("pdf")
    with pytest.raises(RenderError, match=r"graphviz-pure is not installed: `pip install 'autograd-mini\[png\]'`"):
        d.pipe("png", prefer="graphviz-pure")
    assert d.pipe("svg")[:5] == b"<?xml"   # svg still works, embedded


def test_the_embedded_renderer_refuses_png_and_points_at_both_cures():
    with pytest.raises(RenderError) as err:
        render(TINY, "png", prefer="embedded")
    assert "system Graphviz" in str(err.value) and "autograd-mini[png]" in str(err.value)


# --- Diagram: pipe, render, view, save --------------------------------------------------------

def test_pipe_takes_format_positionally_by_its_new_and_its_old_name():
    d = Diagram(TINY)
    assert d.pipe()[:5] == b"<?xml" and d.pipe("svg") == d.pipe(format="svg") == d.pipe(fmt="svg")
    assert isinstance(d.pipe("svg"), bytes)
    assert d.pipe("svg", encoding="utf-8") == d.svg()
    assert d.pipe("json", encoding="utf-8").lstrip().startswith("{")


def test_svg_follows_a_changed_source():
    d = Diagram(TINY)
    first = d.svg()
    d.source = "digraph { a -> c }"
    assert d.svg() != first and "<title>c</title>" in d.svg()


def test_render_writes_the_source_and_the_picture_like_graphviz(tmp_path):
    d = Diagram("digraph { x -> y }\n")
    out = d.render("net.gv", directory=tmp_path)
    assert isinstance(out, str) and out == str(tmp_path / "net.gv.svg")
    assert (tmp_path / "net.gv").read_text() == d.source
    ET.fromstring((tmp_path / "net.gv.svg").read_bytes())
    out = d.render(tmp_path / "sub" / "plain", cleanup=True)
    assert out == str(tmp_path / "sub" / "plain.svg")
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["plain.svg"]
    out = d.render("page", directory=tmp_path, format="html", cleanup=True)
    assert out.endswith("page.html") and "<svg" in Path(out).read_text()
    with pytest.raises(ValueError, match="unknown format 'bmp'"):
        d.render("x", directory=tmp_path, format="bmp")


def test_render_default_name_and_a_failed_render_leaves_no_picture(tmp_path, monkeypatch, nothing_for_png):
    monkeypatch.chdir(tmp_path)
    assert Diagram(TINY).render() == "diagram.gv.svg"
    with pytest.raises(RenderError):
        Diagram(TINY).render("p", format="png", cleanup=True)
    assert not (tmp_path / "p.png").exists() and not (tmp_path / "p").exists()


@needs_pure
def test_render_and_save_make_png_without_the_system_graphviz(tmp_path, no_system):
    d = Diagram(clustered_dot(3, 5))
    out = d.render("c", directory=tmp_path, format="png")
    assert png_size(Path(out).read_bytes())[0] > 0 and (tmp_path / "c").exists()
    assert png_size(d.save(tmp_path / "c2.png").read_bytes())[0] > 0


def test_view_renders_to_a_temporary_file_and_opens_it(monkeypatch, tmp_path):
    opened: list[str] = []
    monkeypatch.setattr(R, "_open_in_viewer", opened.append)
    d = Diagram(TINY)
    path = d.view()
    assert opened == [path] and path.endswith(".svg") and Path(path).read_bytes()[:5] == b"<?xml"
    assert [p.name for p in Path(path).parent.iterdir()] == [Path(path).name]   # the source was cleaned up
    page = d.view(format="html")
    assert opened[-1] == page and page.endswith(".html")
    out = d.render("v", directory=tmp_path, view=True)
    assert opened[-1] == out


def test_the_viewer_says_when_there_is_no_opener(monkeypatch):
    if os.name == "nt" or sys.platform == "darwin":
        pytest.skip("xdg-open is the opener only on Linux and the BSDs")
    monkeypatch.setattr(R.shutil, "which", lambda name, *a, **k: None)
    with pytest.raises(RenderError, match="xdg-open is not installed"):
        R._open_in_viewer("/tmp/x.svg")


def test_save_dispatches_by_extension(tmp_path):
    d = Diagram(TINY, caption="tiny")
    assert d.save(tmp_path / "a.gv").read_text() == TINY
    ET.fromstring(d.save(tmp_path / "a.svg").read_bytes())
    assert "<svg" in d.save(tmp_path / "a.html").read_text()
    assert "<svg" in d.save(tmp_path / "b.htm").read_text()
    with pytest.raises(ValueError, match="unknown format .bmp"):
        d.save(tmp_path / "a.bmp")


# --- Jupyter ----------------------------------------------------------------------------------

def test_jupyter_shows_svg_by_default():
    d = Diagram(TINY)
    bundle = d._repr_mimebundle_()
    assert list(bundle) == ["image/svg+xml"] and bundle["image/svg+xml"] == d.svg()
    assert d._repr_svg_() == d.svg()
    assert d._repr_mimebundle_(include=[]) == {}
    assert d._repr_mimebundle_(include=["image/svg+xml"], exclude=["image/svg+xml"]) == {}


def test_set_jupyter_format_checks_and_returns_the_old_choice():
    assert viz.set_jupyter_format("png") == "svg"
    assert viz.set_jupyter_format("svg") == "png"
    with pytest.raises(ValueError, match="choose one of svg, png"):
        viz.set_jupyter_format("gif")
    with pytest.raises(ValueError, match="choose one of svg, png"):
        Diagram(TINY).jupyter_format = "pdf"


@needs_pure
def test_png_chosen_globally_or_per_diagram(no_system):
    d, other = Diagram(TINY), Diagram(TINY)
    viz.set_jupyter_format("png")
    bundle = d._repr_mimebundle_()
    assert list(bundle) == ["image/png"] and png_size(bundle["image/png"])[0] > 0
    assert d._repr_svg_() is None   # so IPython does not add an SVG beside the chosen PNG
    other.jupyter_format = "svg"    # one diagram overrides the global choice
    assert list(other._repr_mimebundle_()) == ["image/svg+xml"] and other._repr_svg_() is not None
    viz.set_jupyter_format("svg")
    d.jupyter_format = "png"
    assert list(d._repr_mimebundle_()) == ["image/png"]
    assert set(d._repr_mimebundle_(include=["image/png", "image/svg+xml"])) == {"image/png", "image/svg+xml"}
    d.jupyter_format = None         # back to following the global choice
    assert list(d._repr_mimebundle_()) == ["image/svg+xml"]


def test_png_chosen_with_nothing_to_make_it_says_what_to_install(nothing_for_png):
    d = Diagram(TINY)
    d.jupyter_format = "png"
    with pytest.raises(RenderError, match=r"autograd-mini\[png\]"):
        d._repr_mimebundle_()


# --- the graphviz package ----------------------------------------------------------------------

def test_to_graphviz_is_a_graphviz_source_with_our_dot_unchanged():
    label = "<lambda> \\N a\"b"
    dot = f"digraph {{ a [label={quote(label)}]; a -> b }}"
    src = Diagram(dot).to_graphviz()
    assert isinstance(src, graphviz.Source) and isinstance(src, VizSource)
    assert src.source == dot + "\n" and src.engine == "dot" and src.format == "svg"
    svg = src.pipe(format="svg", encoding="utf-8")
    assert "&lt;lambda&gt; \\N a&quot;b" in svg   # text, not an HTML label, and \N not replaced by the name
    # graphviz's own quoting would have made an HTML label of it: that is why it never sees our labels
    assert graphviz.quoting.quote("<lambda>") == "<lambda>"


def test_to_graphviz_falls_back_to_our_renderers(tmp_path, no_system):
    src = Diagram(TINY).to_graphviz()
    assert src.pipe()[:5] == b"<?xml"
    out = src.render("g", directory=tmp_path, cleanup=True)
    assert out == os.fspath(tmp_path / "g.svg") and sorted(os.listdir(tmp_path)) == ["g.svg"]
    out = src.render(outfile=tmp_path / "o.svg")
    assert out == os.fspath(tmp_path / "o.svg") and (tmp_path / "o.gv").exists()
    with pytest.raises(graphviz.FileExistsError):
        src.render(outfile=tmp_path / "o.svg", raise_if_result_exists=True)
    with pytest.raises(RenderError, match="need the system Graphviz"):
        src.pipe(renderer="cairo")
    assert list(src._repr_mimebundle_()) == ["image/svg+xml"]
    assert src.copy().prefer is None and Diagram(TINY).to_graphviz(prefer="embedded").copy().prefer == "embedded"


def test_to_graphviz_view_uses_graphviz_viewer(tmp_path, monkeypatch, no_system):
    seen: list[tuple[str, str]] = []
    monkeypatch.setattr(VizSource, "_view", lambda self, path, *, format, quiet: seen.append((path, format)))
    out = Diagram(TINY).to_graphviz().render("w", directory=tmp_path, view=True)
    assert seen == [(out, "svg")]


def test_to_graphviz_hands_over_to_graphviz_when_the_system_graphviz_is_there(monkeypatch):
    monkeypatch.setattr(R, "backend", lambda fmt="svg": "system")
    calls: list[tuple] = []
    monkeypatch.setattr(graphviz.Source, "pipe", lambda self, *a, **k: calls.append(a) or b"graphviz ran dot")
    assert Diagram(TINY).to_graphviz().pipe("png") == b"graphviz ran dot" and calls


@needs_pure
def test_to_graphviz_makes_png_through_graphviz_pure(tmp_path, no_system):
    src = Diagram(clustered_dot(2, 4)).to_graphviz()
    assert png_size(src.pipe(format="png"))[0] > 0
    out = src.render("p", directory=tmp_path, format="png", cleanup=True)
    assert out.endswith("p.png") and png_size(Path(out).read_bytes())[0] > 0


@needs_system
def test_to_graphviz_with_the_system_graphviz_is_plain_graphviz(tmp_path):
    src = Diagram(TINY).to_graphviz()
    assert src.pipe(format="pdf")[:4] == b"%PDF"
    out = src.render("s", directory=tmp_path, format="png")
    assert png_size(Path(out).read_bytes())[0] > 0
