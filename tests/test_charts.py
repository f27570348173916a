"""viz.charts: the hand-drawn SVG line chart of gradient norms (log10 y axis)."""
import math
import runpy
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import viz
from viz.charts import NO_DATA_NOTE, PALETTE, Chart, gradient_flow_chart, save_chart

SVG = "{http://www.w3.org/2000/svg}"
ROOT = Path(__file__).resolve().parents[1]


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == SVG + "svg"
    return root


def by_class(root: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in root.iter(SVG + tag) if e.get("class") == cls]


def points(poly: ET.Element) -> np.ndarray:
    return np.array([[float(v) for v in p.split(",")] for p in poly.get("points").split()])


def ytick_exponents(root: ET.Element) -> list[int]:
    labels = [e.text for e in by_class(root, "text", "ytick")]
    assert all(t.startswith("1e") and len(t) >= 5 for t in labels), labels
    return [int(t[2:]) for t in labels]


def ytick_pixels(root: ET.Element) -> dict[int, float]:
    """Exponent -> the pixel row of its label's baseline (label y = gridline y + 4)."""
    return {int(e.text[2:]): float(e.get("y")) - 4 for e in by_class(root, "text", "ytick")}


@pytest.fixture(scope="module")
def flows():
    return runpy.run_path(str(ROOT / "examples" / "vanishing_gradients.py"))["run"]()


def test_valid_svg_with_size_and_viewbox(flows):
    root = parse(gradient_flow_chart(flows, title="Vanishing & exploding"))
    w, h = float(root.get("width")), float(root.get("height"))
    assert w > 0 and h > 0
    assert [float(v) for v in root.get("viewBox").split()] == [0, 0, w, h]
    assert by_class(root, "text", "title")[0].text == "Vanishing & exploding"
    for e in root.iter():  # every drawn coordinate is inside the picture
        for attr in ("x", "y", "x1", "x2", "y1", "y2", "cx", "cy"):
            if e.get(attr) is not None:
                assert -1 <= float(e.get(attr)) <= max(w, h) + 1


def test_one_polyline_per_finite_series_and_a_legend(flows):
    series = dict(flows)
    series["all zero"] = np.zeros(30)
    series["exploded"] = np.full(30, np.nan)
    root = parse(gradient_flow_chart(series))
    lines = by_class(root, "polyline", "series-line")
    assert len(lines) == 3
    colours = [g.get("stroke") for g in by_class(root, "g", "series")]
    assert len(colours) == 5 and len(set(colours)) == 5 and set(colours) <= set(PALETTE)
    legend = [e.text for e in by_class(root, "text", "legend-entry")]
    assert legend[:3] == list(flows)
    assert legend[3:] == [f"all zero {NO_DATA_NOTE}", f"exploded {NO_DATA_NOTE}"]
    for poly in lines:
        assert len(points(poly)) == 30


def test_y_axis_covers_the_data_decades(flows):
    root = parse(gradient_flow_chart(flows))
    exps = ytick_exponents(root)
    values = np.concatenate(list(flows.values()))
    assert min(exps) <= math.floor(math.log10(values.min()))
    assert max(exps) >= math.ceil(math.log10(values.max()))
    assert max(exps) - min(exps) <= math.ceil(math.log10(values.max())) - math.floor(math.log10(values.min())) + 2
    assert "1e-09" in [e.text for e in by_class(root, "text", "ytick")]
    # every point lies between the top and the bottom gridline
    px = ytick_pixels(root)
    top, bottom = px[max(exps)], px[min(exps)]
    for poly in by_class(root, "polyline", "series-line"):
        ys = points(poly)[:, 1]
        assert ys.min() >= top - 0.01 and ys.max() <= bottom + 0.01


def test_log_scale_is_honest():
    t = np.arange(40.0)
    ratio = 0.7
    root = parse(gradient_flow_chart({"geometric": 3.0 * ratio ** t}))
    pts = points(by_class(root, "polyline", "series-line")[0])
    assert np.allclose(np.diff(pts[:, 0]), np.diff(pts[:, 0])[0], atol=0.02)  # x: evenly spaced steps
    slope, icpt = np.polyfit(t, pts[:, 1], 1)
    assert np.abs(pts[:, 1] - (slope * t + icpt)).max() < 0.02  # a straight line (coordinates rounded to 0.01)
    px = ytick_pixels(root)
    per_decade = (px[min(px)] - px[max(px)]) / (max(px) - min(px))  # pixels per power of ten
    assert slope == pytest.approx(-math.log10(ratio) * per_decade, rel=1e-3)
    # and the first point sits where log10(3) says between the gridlines of 1e+00 and 1e+01
    assert pts[0, 1] == pytest.approx(px[0] - math.log10(3.0) * per_decade, abs=0.02)


def test_zeros_and_non_finite_values_leave_gaps():
    root = parse(gradient_flow_chart({"s": [1.0, 0.5, 0.0, 0.25, 0.1, np.inf, 0.01, np.nan, 1e-3, 1e-4]}))
    polys = by_class(root, "polyline", "series-line")
    assert [len(points(p)) for p in polys] == [2, 2, 2]
    assert len(by_class(root, "circle", "series-point")) == 1  # the isolated 0.01


def test_text_is_escaped():
    name = 'a"b<c>{d}&'
    svg = gradient_flow_chart({name: [1.0, 0.1], "z": []}, title=name, xlabel=name, ylabel=name)
    root = parse(svg)
    assert by_class(root, "text", "title")[0].text == name
    assert by_class(root, "text", "xlabel")[0].text == name
    assert by_class(root, "text", "ylabel")[0].text.startswith(name)
    entry = by_class(root, "text", "legend-entry")[0]
    assert entry.text == name and entry.get("data-series") == name
    assert [g.find(SVG + "title").text for g in by_class(root, "g", "series")] == [name, "z"]


def test_bad_input():
    with pytest.raises(ValueError, match="empty"):
        gradient_flow_chart({})
    with pytest.raises(ValueError, match="one-dimensional"):
        gradient_flow_chart({"m": np.ones((3, 4))})
    with pytest.raises(ValueError, match="mapping"):
        gradient_flow_chart([1.0, 2.0])
    with pytest.raises(ValueError, match="numeric"):
        gradient_flow_chart({"s": ["x", "y"]})


def test_nothing_finite_still_draws_an_axis():
    root = parse(gradient_flow_chart({"nan": [np.nan, np.nan]}))
    assert by_class(root, "polyline", "series-line") == []
    assert ytick_exponents(root) == [-1, 0, 1]


def test_one_decade_of_data_and_many_series():
    series = {f"s{i}": np.full(5, 10.0 ** -3) * (1 + i / 20) for i in range(10)}
    root = parse(gradient_flow_chart(series))
    exps = ytick_exponents(root)
    assert min(exps) <= -3 and max(exps) >= -2
    styles = {(g.get("stroke"), p.get("stroke-dasharray"))
              for g in by_class(root, "g", "series") for p in g.iter(SVG + "polyline")}
    assert len(styles) == 10  # colours repeat after eight, with a dash pattern


def test_linear_scale():
    root = parse(gradient_flow_chart({"a": [0.0, 1.0, 2.0, 3.0]}, log=False))
    pts = points(by_class(root, "polyline", "series-line")[0])
    assert len(pts) == 4  # zero is drawable on a linear axis
    assert np.allclose(np.diff(pts[:, 1]), np.diff(pts[:, 1])[0], atol=0.02)
    labels = [float(e.text) for e in by_class(root, "text", "ytick")]
    assert min(labels) <= 0.0 and max(labels) >= 3.0


def test_save_chart(tmp_path):
    svg = gradient_flow_chart({"x": [1.0, 2.0]})
    path = save_chart(svg, tmp_path / "sub" / "chart.svg")
    assert path.read_text(encoding="utf-8") == svg
    with pytest.raises(ValueError):
        save_chart("not svg", tmp_path / "bad.svg")


def test_the_chart_is_a_picture_and_still_its_svg_text(tmp_path):
    chart = gradient_flow_chart({"a": [1.0, 0.1]}, title="flow")
    assert isinstance(chart, Chart) and isinstance(chart, str)
    text = str(chart)
    assert type(text) is str and text == chart.svg() == chart._repr_svg_() and text.startswith("<svg")
    assert chart.startswith("<svg") and "<polyline" in chart   # old callers that treat it as text
    parse(chart)
    assert repr(chart).startswith("Chart('flow', ") and repr(chart).endswith(" SVG)")
    assert chart.caption == "flow"
    assert chart.save(tmp_path / "c.svg").read_text() == text
    page = chart.save(tmp_path / "c.html").read_text()
    assert "<title>flow</title>" in page and "<svg" in page
    with pytest.raises(viz.RenderError, match="SVG only.*save as .svg or .html"):
        chart.save(tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()
    with pytest.raises(ValueError, match="unknown format .txt"):
        chart.save(tmp_path / "c.txt")
    with pytest.raises(ValueError, match="expected SVG text"):
        Chart("not svg")


def test_save_chart_takes_a_chart_or_plain_svg_text_as_before(tmp_path):
    chart = gradient_flow_chart({"a": [1.0, 0.1]})
    assert save_chart(chart, tmp_path / "a.svg").read_text() == str(chart)
    assert save_chart(str(chart), tmp_path / "b.svg").read_text() == str(chart)
    assert save_chart(chart, tmp_path / "noext").read_text() == str(chart)   # any other name: the SVG text
    assert "<svg" in save_chart(chart, tmp_path / "p.html").read_text()
    with pytest.raises(viz.RenderError):
        save_chart(chart, tmp_path / "p.png")
