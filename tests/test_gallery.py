"""The README's gallery: exactly the pictures make_gallery.py makes, each one a legible slide.

A picture is legible on a slide when its smallest text is at least 12 px high with the picture
shown 1280 px wide (a 16:9 slide on a projector or a laptop screen). Measured twice: with
:func:`viz.dot.smallest_text_px` (the measure ``size="slide"`` is built to meet), and
independently here, following every text's inherited font size and the scaling of its groups,
so that text with no font-size of its own (the hand-drawn charts) is measured too.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import load_script
from viz.dot import smallest_text_px

ROOT = Path(__file__).resolve().parents[1]
GALLERY = ROOT / "docs" / "gallery"
SVG_NS = "{http://www.w3.org/2000/svg}"
MIN_PX, SHOWN_PX = 12.0, 1280
PICTURES = sorted(GALLERY.glob("*.svg"))


def test_the_gallery_is_exactly_what_make_gallery_writes():
    listed = load_script("examples/make_gallery.py").SVGS
    assert len(set(listed)) == len(listed)
    assert sorted(p.name for p in PICTURES) == sorted(listed)


def _font_px(value: str | None) -> float | None:
    if value is None:
        return None
    m = re.fullmatch(r"\s*([\d.]+)\s*(px|pt)?\s*", value)
    if m is None:
        raise ValueError(f"unreadable font-size {value!r}")
    return float(m[1]) * (4 / 3 if m[2] == "pt" else 1.0)


def _own_font(el: ET.Element) -> float | None:
    style = dict(p.split(":", 1) for p in (el.get("style") or "").split(";") if ":" in p)
    return _font_px(style.get("font-size", el.get("font-size")))


def _scale(el: ET.Element) -> float:
    m = re.search(r"scale\(\s*([-\d.e]+)", el.get("transform") or "")
    return abs(float(m[1])) if m else 1.0


def smallest_text_px_inherited(svg: str, shown_px: float = SHOWN_PX) -> float:
    """The smallest text of ``svg`` in pixels when it is shown ``shown_px`` wide, every text's
    size taken from the nearest element that sets one (SVG's default 16 if none does)."""
    root = ET.fromstring(svg)
    box = root.get("viewBox")
    width = float(box.split()[2]) if box else float(re.match(r"[\d.]+", root.get("width"))[0])
    smallest = float("inf")

    def walk(el: ET.Element, font: float, scale: float) -> None:
        nonlocal smallest
        font = _own_font(el) or font
        scale *= _scale(el)
        if el.tag == SVG_NS + "text" and "".join(el.itertext()).strip():
            smallest = min(smallest, font * scale * shown_px / width)
        for child in el:
            walk(child, font, scale)

    walk(root, 16.0, 1.0)
    return smallest


@pytest.mark.parametrize("path", PICTURES, ids=lambda p: p.name)
def test_every_gallery_picture_parses_and_its_smallest_text_is_12_px_on_a_1280_px_slide(path):
    svg = path.read_text(encoding="utf-8")
    assert ET.fromstring(svg).tag == SVG_NS + "svg"
    measured = smallest_text_px(svg, SHOWN_PX)
    assert measured >= MIN_PX, f"{path.name}: smallest text {measured:.1f} px at {SHOWN_PX} px wide"
    inherited = smallest_text_px_inherited(svg)
    assert inherited >= MIN_PX, f"{path.name}: smallest text {inherited:.1f} px at {SHOWN_PX} px wide"


@pytest.fixture(scope="module")
def default_titles() -> set[str]:
    """The titles viz.draw gives a picture when it is given none, at each detail."""
    import numpy as np

    import autograd_mini as am
    import models
    import viz

    with am.Tape(keep_grads=True) as tape:
        loss = am.sum(models.ElmanRNN(1, 2, 1, seed=0)(np.ones((2, 1, 1))))
    loss.backward()
    return {viz.draw(tape, detail=d, size=None).caption.splitlines()[0] for d in ("units", "ops", "modules")}


@pytest.mark.parametrize("path", PICTURES, ids=lambda p: p.name)
def test_every_gallery_picture_has_a_title_of_its_own(path, default_titles):
    texts = [t for t in ET.fromstring(path.read_text(encoding="utf-8")).iter(SVG_NS + "text")]
    lines = ["".join(t.itertext()).strip() for t in texts]
    assert not default_titles & set(lines), f"{path.name} has draw()'s default title"
    assert len(" ".join(lines).split()) >= 5


def test_the_inherited_measure_sees_text_without_a_font_size_of_its_own():
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="640" viewBox="0 0 640 100" font-size="6">'
           '<text font-size="20">big</text><g transform="scale(2)"><text>small</text></g></svg>')
    assert smallest_text_px_inherited(svg, 1280) == pytest.approx(6 * 2 * 2)
