"""Line charts drawn as plain SVG text (no matplotlib): the vanishing/exploding gradient figure.

:func:`gradient_flow_chart` puts several models' per-step gradient norms on one chart with a
log10 y axis — the standard picture of the problem: a gradient that shrinks (or grows) by a
constant factor per step back in time is a straight line on it, and the slope is the factor.

It returns a :class:`Chart`: a picture (``.svg()``, ``.save(path)`` as .svg or .html, shown inline
by Jupyter) that is also its own SVG text, so code that treats the result as a string still works.

>>> import numpy as np
>>> svg = gradient_flow_chart({"gain 0.5": 0.5 ** np.arange(30.0)[::-1], "gain 2": 2.0 ** np.arange(30.0)[::-1]})
>>> svg.startswith("<svg") and svg.count("<polyline") == 2
True

To draw the three nets of ``examples/vanishing_gradients.py``::

    import runpy
    flows = runpy.run_path("examples/vanishing_gradients.py")["run"]()
    gradient_flow_chart(flows).save("out/vanishing_gradients.svg")   # or save_chart(chart, path)
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from .text import safe_text

__all__ = ["Chart", "gradient_flow_chart", "save_chart", "PALETTE", "NO_DATA_NOTE"]

# Okabe & Ito's colour-blind-safe palette, the yellow last (it is faint on white).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
DASHES = ("", "7 4", "2 3", "9 3 2 3")  # after the eighth series the colours repeat with a dash pattern
NO_DATA_NOTE = "(no finite gradient)"

_PLOT_W, _PLOT_H = 560, 320          # the plotting area, in px
_LEFT, _RIGHT, _TOP = 82, 24, 48     # margins around it
_CHAR_W = 7.0                        # rough width of a 12 px sans-serif character, for the legend


class Chart(str):
    """A chart drawn as SVG: a picture, and also its own SVG text (a ``str``) for old callers.

    ``.svg()`` is the text, ``.save(path)`` writes .svg or a self-contained .html page (pan,
    zoom, a tooltip per series), ``_repr_svg_`` shows it in Jupyter, ``str(chart)`` is the text.

    >>> c = Chart('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="5"></svg>', caption="tiny")
    >>> c.svg() == str(c) and c.startswith("<svg") and type(str(c)) is str
    True
    >>> c
    Chart('tiny', 10 x 5 SVG)
    """

    caption: str

    def __new__(cls, svg_text: str, caption: str = "") -> "Chart":
        if not isinstance(svg_text, str) or not svg_text.lstrip().startswith("<svg"):
            raise ValueError("Chart: expected SVG text (a string starting with <svg)")
        self = super().__new__(cls, svg_text)
        self.caption = safe_text(caption)
        return self

    def svg(self) -> str:
        """The chart as SVG text (a plain ``str``).

        >>> gradient_flow_chart({"x": [1.0, 0.5]}).svg()[:4]
        '<svg'
        """
        return str.__str__(self)

    def __str__(self) -> str:
        return str.__str__(self)

    def _repr_svg_(self) -> str:
        return self.svg()

    def __repr__(self) -> str:
        head = self[: self.find(">") + 1]
        w = re.search(r'\bwidth="([^"]*)"', head)
        h = re.search(r'\bheight="([^"]*)"', head)
        size = f"{w.group(1)} x {h.group(1)} SVG" if w and h else "SVG"
        return f"Chart({self.caption!r}, {size})"

    def save(self, path: str | Path) -> Path:
        """Write the chart: .svg (the text) or .html (one self-contained interactive page).

        Other formats raise :class:`viz.RenderError`: Graphviz does not read SVG, so making
        png would need a converter this package does not carry (use a browser, or ``cairosvg``).

        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> chart = gradient_flow_chart({"x": [1, 2]})
        >>> chart.save(d / "c.svg").read_text() == chart, chart.save(d / "c.html").suffix
        (True, '.html')
        """
        path = Path(path)
        ext = path.suffix.lower().lstrip(".")
        if ext in ("html", "htm"):
            from .html import save_html

            return save_html(self, path)
        if ext != "svg":
            from .render import RenderError

            if ext in ("png", "pdf", "jpg", "jpeg"):
                raise RenderError(f"Chart.save: a chart is SVG only, and Graphviz cannot convert SVG to {ext}: "
                                  "save as .svg or .html (a browser, or `pip install cairosvg`, converts the SVG)")
            raise ValueError(f"Chart.save: unknown format {path.suffix or '(no extension)'} for {path}; use .svg or .html")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.svg(), encoding="utf-8")
        return path


def _num(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".")


def _nice_ticks(lo: float, hi: float, n: int = 6, integer: bool = False) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) covering [lo, hi]."""
    span = hi - lo
    raw = span / max(n, 1) if span > 0 else 1.0
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw * (1 - 1e-12))
    if integer:
        step = max(1.0, round(step))
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    v = first
    while v <= hi + 1e-9 * step:
        ticks.append(0.0 if abs(v) < 1e-12 * step else v)
        v = first + len(ticks) * step
    return ticks


def _decade_label(e: int) -> str:
    """``1e-09``, ``1e+00``, ``1e+09``: the numpy/C style of a power of ten."""
    return f"1e{e:+03d}"


def _clean(series: Any) -> dict[str, np.ndarray]:
    if not isinstance(series, Mapping):
        raise ValueError(f"gradient_flow_chart: series must be a mapping name -> values, got {type(series).__name__}")
    if not series:
        raise ValueError("gradient_flow_chart: no series to draw (the mapping is empty)")
    out: dict[str, np.ndarray] = {}
    for name, values in series.items():
        try:
            arr = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise ValueError(f"gradient_flow_chart: series {name!r} is not numeric: {e}") from None
        arr = np.squeeze(arr) if arr.ndim > 1 else arr
        if arr.ndim > 1:
            raise ValueError(f"gradient_flow_chart: series {name!r} must be one-dimensional, got shape {arr.shape}")
        label = safe_text(name)   # any name: control characters shown, no lone surrogate
        if label in out:
            raise ValueError(f"gradient_flow_chart: two series are both called {label!r}")
        out[label] = np.atleast_1d(arr)
    return out


def _runs(ok: np.ndarray) -> list[tuple[int, int]]:
    """Maximal [start, stop) runs of True in ``ok``."""
    runs, start = [], None
    for i, good in enumerate(ok.tolist() + [False]):
        if good and start is None:
            start = i
        elif not good and start is not None:
            runs.append((start, i))
            start = None
    return runs


def gradient_flow_chart(series: Mapping[str, Any], title: str = "Gradient norm going back in time",
                        xlabel: str = "time step", ylabel: str = "gradient norm of the hidden state",
                        log: bool = True) -> Chart:
    """An SVG line chart of several series against the time step, as a :class:`Chart` (which is its SVG text).

    ``series`` maps a name (the legend entry) to values, one per time step (x = 0, 1, ...).
    With ``log`` (the default) the y axis is log10, with a gridline and a label (``1e-09`` ...
    ``1e+09``) at each power of ten from the decade below the smallest value to the decade above
    the largest; a value that is zero, negative or not finite cannot be drawn and leaves a gap
    (the line breaks; an isolated point is drawn as a dot). With ``log=False`` the axis is linear
    and only non-finite values leave gaps. A series with nothing to draw is listed in the legend
    with "(no finite gradient)". Colours follow Okabe & Ito's colour-blind-safe palette; names
    and labels may be any text (or any object: its ``str``): markup is escaped, a control
    character is shown as ``\\x01`` and a lone surrogate as U+FFFD (:func:`viz.text.safe_text`),
    so the SVG is always well-formed XML. Raises ValueError for an empty mapping or a
    series that is not a 1-D list of numbers.

    >>> svg = gradient_flow_chart({"a": [1.0, 0.1, 0.0, 0.001], "b": [0.0, float("nan")]})
    >>> svg.count("<polyline"), "(no finite gradient)" in svg
    (1, True)
    >>> gradient_flow_chart({})
    Traceback (most recent call last):
    ...
    ValueError: gradient_flow_chart: no series to draw (the mapping is empty)
    """
    data = _clean(series)
    title, xlabel, ylabel = safe_text(title), safe_text(xlabel), safe_text(ylabel)
    n_max = max(len(v) for v in data.values())
    drawable = {name: (np.isfinite(v) & (v > 0)) if log else np.isfinite(v) for name, v in data.items()}
    finite = np.concatenate([v[drawable[name]] for name, v in data.items()])

    # --- axes ranges
    if log:
        if finite.size:
            lo = math.floor(math.log10(finite.min()))
            hi = math.ceil(math.log10(finite.max()))
            if lo == hi:
                lo, hi = lo - 1, hi + 1
        else:
            lo, hi = -1, 1
        y_lo, y_hi = float(lo), float(hi)
        to_axis = np.log10
        every = max(1, math.ceil((hi - lo) / 20))  # label at most 20 decades (16 px apart or more)
        yticks = [(float(e), _decade_label(e), (e - lo) % every == 0) for e in range(lo, hi + 1)]
    else:
        if finite.size:
            y_lo, y_hi = float(min(finite.min(), 0.0)), float(finite.max())
            if y_hi == y_lo:
                y_hi = y_lo + 1.0
        else:
            y_lo, y_hi = 0.0, 1.0
        ticks = _nice_ticks(y_lo, y_hi)
        y_lo, y_hi = min(y_lo, ticks[0]), max(y_hi, ticks[-1])
        to_axis = np.asarray
        yticks = [(t, f"{t:g}", True) for t in ticks]
    x_hi = float(max(n_max - 1, 1))
    xticks = _nice_ticks(0.0, x_hi, integer=True)

    # --- layout
    names = list(data)
    legend_texts = [n if drawable[n].any() else f"{n} {NO_DATA_NOTE}" for n in names]
    legend_w = 36 + _CHAR_W * max(len(t) for t in legend_texts)
    width = int(max(_LEFT + _PLOT_W + _RIGHT, 24 + legend_w + 24, 24 + _CHAR_W * 1.3 * len(title)))
    plot_bottom = _TOP + _PLOT_H
    legend_top = plot_bottom + 58
    height = int(legend_top + 20 * len(names) + 12)

    def px(t: float) -> float:
        return _LEFT + t / x_hi * _PLOT_W

    def py(v: float) -> float:
        return _TOP + (y_hi - v) / (y_hi - y_lo) * _PLOT_H

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="12">',
           f"<title>{escape(title)}</title>",
           f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>',
           f'<text class="title" x="{width / 2:.1f}" y="26" text-anchor="middle" font-size="16" '
           f'font-weight="bold">{escape(title)}</text>']
    # gridlines and tick labels
    out.append('<g class="grid" stroke="#dddddd" stroke-width="1">')
    for v, _, _ in yticks:
        out.append(f'<line x1="{_LEFT}" y1="{_num(py(v))}" x2="{_LEFT + _PLOT_W}" y2="{_num(py(v))}"/>')
    for t in xticks:
        out.append(f'<line x1="{_num(px(t))}" y1="{_TOP}" x2="{_num(px(t))}" y2="{plot_bottom}" stroke="#eeeeee"/>')
    out.append("</g>")
    out.append(f'<rect x="{_LEFT}" y="{_TOP}" width="{_PLOT_W}" height="{_PLOT_H}" fill="none" stroke="#333333"/>')
    for v, text, shown in yticks:
        if shown:
            out.append(f'<text class="ytick" x="{_LEFT - 6}" y="{_num(py(v) + 4)}" text-anchor="end">{escape(text)}</text>')
    for t in xticks:
        out.append(f'<text class="xtick" x="{_num(px(t))}" y="{plot_bottom + 18}" text-anchor="middle">{escape(f"{t:g}")}</text>')
    out.append(f'<text class="xlabel" x="{_LEFT + _PLOT_W / 2:.1f}" y="{plot_bottom + 40}" '
               f'text-anchor="middle">{escape(xlabel)}</text>')
    cy = _TOP + _PLOT_H / 2
    out.append(f'<text class="ylabel" x="18" y="{cy:.1f}" text-anchor="middle" '
               f'transform="rotate(-90 18 {cy:.1f})">{escape(ylabel + (" (log scale)" if log else ""))}</text>')

    # the series
    for i, name in enumerate(names):
        colour = PALETTE[i % len(PALETTE)]
        dash = DASHES[(i // len(PALETTE)) % len(DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        values, ok = data[name], drawable[name]
        out.append(f'<g class="series" stroke="{colour}" fill="none"><title>{escape(name)}</title>')
        with np.errstate(divide="ignore", invalid="ignore"):
            yv = to_axis(np.where(ok, values, 1.0))
        for start, stop in _runs(ok):
            pts = [(px(t), py(float(yv[t]))) for t in range(start, stop)]
            if len(pts) == 1:
                x, y = pts[0]
                out.append(f'<circle class="series-point" cx="{_num(x)}" cy="{_num(y)}" r="2.5" fill="{colour}"/>')
            else:
                coords = " ".join(f"{_num(x)},{_num(y)}" for x, y in pts)
                out.append(f'<polyline class="series-line" points="{coords}" stroke-width="2"{dash_attr}/>')
        out.append("</g>")

    # the legend
    out.append('<g class="legend">')
    for i, (name, text) in enumerate(zip(names, legend_texts)):
        colour = PALETTE[i % len(PALETTE)]
        dash = DASHES[(i // len(PALETTE)) % len(DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        y = legend_top + 20 * i
        x0 = _LEFT if width >= _LEFT + legend_w + 12 else 24
        out.append(f'<line x1="{x0}" y1="{y - 4}" x2="{x0 + 24}" y2="{y - 4}" stroke="{colour}" stroke-width="2"{dash_attr}/>')
        out.append(f'<text class="legend-entry" x="{x0 + 30}" y="{y}" data-series={quoteattr(name)}>{escape(text)}</text>')
    out.append("</g>")
    out.append("</svg>")
    return Chart("\n".join(out) + "\n", caption=title)


def save_chart(svg_text: str, path: str | Path) -> Path:
    """Write a chart (a :class:`Chart`, or SVG text) to ``path``; returns the path.

    A .html name gets the interactive page (:func:`viz.html.html_page`), .png or .pdf raise
    :class:`viz.RenderError` (see :meth:`Chart.save`), any other name gets the SVG text.

    >>> import tempfile, pathlib
    >>> p = save_chart(gradient_flow_chart({"x": [1, 2]}), pathlib.Path(tempfile.mkdtemp()) / "c.svg")
    >>> p.read_text().startswith("<svg")
    True
    """
    if not isinstance(svg_text, str) or not svg_text.lstrip().startswith("<svg"):
        raise ValueError("save_chart: expected SVG text (a string starting with <svg)")
    chart = svg_text if isinstance(svg_text, Chart) else Chart(svg_text)
    path = Path(path)
    if path.suffix.lower() in (".svg", ".html", ".htm", ".png", ".pdf", ".jpg", ".jpeg"):
        return chart.save(path)
    path.parent.mkdir(parents=True, exist_ok=True)   # any other name gets the SVG text, as it always did
    path.write_text(chart.svg(), encoding="utf-8")
    return path
