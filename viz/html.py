"""One self-contained HTML page for a diagram: the SVG inline, pan and zoom, and a tooltip per node and edge.

``Diagram.save("net.html")`` writes it (so does ``Chart.save``). The page loads nothing: no
network, no external script, style or font; its Content-Security-Policy allows only its own
script and style (by hash) and forbids every fetch. The mouse wheel zooms about the pointer,
dragging pans, the "fit" button or the key ``f`` (or ``0``) fits the picture to the window, ``+``
and ``-`` zoom about the centre. Hovering a node, an edge or a cluster shows its tooltip (a DOT
``tooltip="..."`` attribute, which Graphviz writes as ``xlink:title``; without one, the lines of
its label, or else its SVG ``<title>``) in a styled floating box.

Every name reaches the page escaped: the SVG is parsed as XML and written out again with only
known-harmless SVG elements and attributes (no script, no event handler, no foreign content, no
link other than to ``#``, http or https), all text escaped; the tooltips are set with
``textContent``, never as markup; the title comes from the caption, html-escaped. No raw control
character reaches the page (XML allows DEL and the C1 controls, HTML does not): every text and
attribute value, and the title, go through :func:`viz.text.safe_text`, which shows them as
``\\x7f`` (the way :func:`viz.render.quote` shows them in a diagram).
"""
from __future__ import annotations

import base64
import hashlib
import html
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from .text import safe_text

__all__ = ["html_page", "save_html", "clean_svg"]

_SVG = "{http://www.w3.org/2000/svg}"
_XLINK = "{http://www.w3.org/1999/xlink}"
_XML = "{http://www.w3.org/XML/1998/namespace}"

# What Graphviz's and our charts' SVG use; anything else is dropped with its content.
_TAGS = frozenset("""svg g title desc polygon polyline path ellipse circle rect line text tspan a defs
                     linearGradient radialGradient stop clipPath""".split())
_ATTRS = frozenset("""id class transform points d fill stroke stroke-width stroke-dasharray stroke-dashoffset
    stroke-opacity stroke-linecap stroke-linejoin stroke-miterlimit fill-opacity fill-rule opacity cx cy rx ry r
    x y x1 x2 y1 y2 dx dy width height viewBox preserveAspectRatio text-anchor font-family font-size
    font-weight font-style text-decoration baseline-shift dominant-baseline letter-spacing offset stop-color
    stop-opacity gradientUnits gradientTransform fx fy clip-path clipPathUnits target""".split())
_TIP_CLASSES = ("node", "edge", "cluster")
_SAFE_HREF = re.compile(r"^(#|https?://)", re.IGNORECASE)


def _tag(el: ET.Element) -> str | None:
    """The local name of an SVG element, or None for anything outside the SVG namespace."""
    if not isinstance(el.tag, str) or not el.tag.startswith(_SVG):
        return None
    return el.tag[len(_SVG):]


def _tip_of(el: ET.Element) -> str | None:
    """A node's, edge's or cluster's tooltip: Graphviz's xlink:title, else its label's lines, else its <title>."""
    for a in el.iter(_SVG + "a"):
        tip = a.get(_XLINK + "title")
        if tip:
            return tip
    lines = ["".join(t.itertext()).strip() for t in el.iter(_SVG + "text")]
    if any(lines):
        return "\n".join(line for line in lines if line)
    title = el.find(_SVG + "title")
    if title is not None and title.text:
        return title.text
    return None


def _attrs(el: ET.Element, name: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key, value in el.attrib.items():
        if key == _XML + "space":
            out.append(("xml:space", value))
        elif key in (_XLINK + "href", "href"):
            if name == "a" and _SAFE_HREF.match(value.strip()):
                out.append(("href", value))
        elif key in _ATTRS:
            out.append((key, value))
    return out


def _esc(text: str, quote: bool = False) -> str:
    """Text for the page: control characters shown (:func:`viz.text.safe_text`), then html-escaped."""
    return html.escape(safe_text(text), quote=quote)


def _write(el: ET.Element, out: list[str], root: bool = False) -> None:
    name = _tag(el)
    if name is None or name not in _TAGS:
        return
    classes = (el.get("class") or "").split()
    attrs = _attrs(el, name)
    if root:   # drawn at the page's size; the picture's own size is kept for "fit"
        attrs = [(k, v) for k, v in attrs if k not in ("width", "height", "viewBox")]
        attrs.append(("data-width", el.get("width", "")))
        attrs.append(("data-height", el.get("height", "")))
        attrs += [("role", "img"), ("focusable", "false")]
    if name == "g" and any(c in _TIP_CLASSES for c in classes):
        tip = _tip_of(el)
        if tip:
            attrs += [("data-tip", tip), ("aria-label", tip)]
    out.append(f"<{name}" + "".join(f' {k}="{_esc(v, True)}"' for k, v in attrs) + ">")
    if root:
        out.append('<g class="vz-layer">')
    if el.text and name not in ("title",):
        out.append(_esc(el.text))
    for child in el:
        if _tag(child) == "title":   # the tooltip took it; the browser's own would show a second box
            continue
        _write(child, out)
        if child.tail:
            out.append(_esc(child.tail))
    if root:
        out.append("</g>")
    out.append(f"</{name}>")


def clean_svg(svg: str) -> str:
    """``svg`` rewritten for inlining into HTML: harmless elements and attributes only, all text escaped.

    Nodes, edges and clusters get their tooltip as ``data-tip``; the root's content is wrapped
    in ``<g class="vz-layer">``, the group that pan and zoom transform. Raises ValueError when
    ``svg`` is not SVG.

    >>> clean_svg('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script><text onclick="x()">a&lt;b</text></svg>')
    '<svg data-width="" data-height="" role="img" focusable="false"><g class="vz-layer"><text>a&lt;b</text></g></svg>'
    """
    try:
        root = ET.fromstring(svg)
    except ET.ParseError as e:
        raise ValueError(f"clean_svg: not well-formed SVG: {e}") from None
    if _tag(root) != "svg":
        raise ValueError(f"clean_svg: the root element is {root.tag!r}, not an SVG <svg>")
    out: list[str] = []
    _write(root, out, root=True)
    return "".join(out)


_STYLE = """
*{box-sizing:border-box}
html,body{margin:0;height:100%;background:#fff;color:#222;font:13px/1.4 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif}
body{display:flex;flex-direction:column;overflow:hidden}
#vz-bar{display:flex;gap:6px;align-items:center;padding:6px 10px;border-bottom:1px solid #ddd;background:#f7f7f7;flex:none}
#vz-bar button{font:inherit;padding:2px 10px;border:1px solid #bbb;border-radius:4px;background:#fff;cursor:pointer}
#vz-bar button:hover{background:#eef3fb}
#vz-caption{margin-left:8px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;color:#444}
#vz-help{margin-left:auto;color:#777;white-space:nowrap}
#vz-view{flex:1;position:relative;min-height:0}
#vz-view>svg{position:absolute;inset:0;width:100%;height:100%;display:block;cursor:grab;touch-action:none;user-select:none}
#vz-view>svg.vz-dragging{cursor:grabbing}
#vz-view .vz-hover{filter:drop-shadow(0 0 3px #1a73e8)}
#vz-tip{position:fixed;z-index:10;max-width:min(460px,90vw);padding:6px 9px;border-radius:5px;pointer-events:none;
  background:rgba(30,30,34,.94);color:#f4f4f4;font:12px/1.45 ui-monospace,"SF Mono",Menlo,Consolas,monospace;
  white-space:pre-wrap;word-break:break-word;box-shadow:0 2px 10px rgba(0,0,0,.25)}
#vz-tip[hidden]{display:none}
"""

# Pan and zoom transform the layer <g>: screen = k * picture + (x, y).
_SCRIPT = r"""
(function () {
  'use strict';
  var view = document.getElementById('vz-view');
  var svg = view.querySelector('svg');
  var layer = svg && svg.querySelector('g.vz-layer');
  var tip = document.getElementById('vz-tip');
  if (!layer) { return; }
  var t = {k: 1, x: 0, y: 0}, moved = false, drag = null, hovered = null;
  var MIN = 0.02, MAX = 40;

  function apply() {
    layer.setAttribute('transform', 'translate(' + t.x.toFixed(2) + ' ' + t.y.toFixed(2) + ') scale(' + t.k.toPrecision(6) + ')');
  }
  function fit() {
    var r = svg.getBoundingClientRect(), b = layer.getBBox();
    if (!(b.width > 0 && b.height > 0 && r.width > 0 && r.height > 0)) { return; }
    var k = Math.min(r.width / b.width, r.height / b.height) * 0.96;
    t.k = Math.max(MIN, Math.min(MAX, k));
    t.x = (r.width - t.k * b.width) / 2 - t.k * b.x;
    t.y = (r.height - t.k * b.height) / 2 - t.k * b.y;
    moved = false;
    apply();
  }
  function zoomAt(px, py, factor) {
    var k = Math.max(MIN, Math.min(MAX, t.k * factor));
    var f = k / t.k;
    t.x = px - (px - t.x) * f;
    t.y = py - (py - t.y) * f;
    t.k = k;
    moved = true;
    apply();
  }
  function zoomCentre(factor) {
    var r = svg.getBoundingClientRect();
    zoomAt(r.width / 2, r.height / 2, factor);
  }

  function showTip(el, e) {
    if (hovered && hovered !== el) { hovered.classList.remove('vz-hover'); }
    hovered = el;
    el.classList.add('vz-hover');
    tip.textContent = el.getAttribute('data-tip');
    tip.hidden = false;
    placeTip(e);
  }
  function hideTip() {
    if (hovered) { hovered.classList.remove('vz-hover'); }
    hovered = null;
    tip.hidden = true;
  }
  function placeTip(e) {
    var pad = 14, w = tip.offsetWidth, h = tip.offsetHeight;
    var x = e.clientX + pad, y = e.clientY + pad;
    if (x + w > window.innerWidth - 4) { x = Math.max(4, e.clientX - pad - w); }
    if (y + h > window.innerHeight - 4) { y = Math.max(4, e.clientY - pad - h); }
    tip.style.left = x + 'px';
    tip.style.top = y + 'px';
  }

  svg.addEventListener('wheel', function (e) {
    e.preventDefault();
    var r = svg.getBoundingClientRect();
    var d = e.deltaY * (e.deltaMode === 1 ? 33 : e.deltaMode === 2 ? r.height : 1);
    zoomAt(e.clientX - r.left, e.clientY - r.top, Math.exp(-d * 0.0015));
    hideTip();
  }, {passive: false});
  svg.addEventListener('pointerdown', function (e) {
    if (e.button !== 0) { return; }
    e.preventDefault();
    drag = {x: e.clientX, y: e.clientY, tx: t.x, ty: t.y};
    svg.classList.add('vz-dragging');
    hideTip();
  });
  window.addEventListener('pointermove', function (e) {
    if (drag) {
      t.x = drag.tx + e.clientX - drag.x;
      t.y = drag.ty + e.clientY - drag.y;
      moved = true;
      apply();
    } else if (hovered) {
      placeTip(e);
    }
  });
  function endDrag() { drag = null; svg.classList.remove('vz-dragging'); }
  window.addEventListener('pointerup', endDrag);
  window.addEventListener('pointercancel', endDrag);
  window.addEventListener('blur', endDrag);

  svg.addEventListener('pointerover', function (e) {
    if (drag) { return; }
    var el = e.target && e.target.closest ? e.target.closest('[data-tip]') : null;
    if (el && svg.contains(el)) { showTip(el, e); } else { hideTip(); }
  });
  svg.addEventListener('pointerleave', hideTip);

  document.getElementById('vz-fit').addEventListener('click', fit);
  document.getElementById('vz-in').addEventListener('click', function () { zoomCentre(1.25); });
  document.getElementById('vz-out').addEventListener('click', function () { zoomCentre(0.8); });
  document.addEventListener('keydown', function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) { return; }
    if (e.key === 'f' || e.key === 'F' || e.key === '0') { fit(); }
    else if (e.key === '+' || e.key === '=') { zoomCentre(1.25); }
    else if (e.key === '-' || e.key === '_') { zoomCentre(0.8); }
    else if (e.key === 'Escape') { hideTip(); }
    else { return; }
    e.preventDefault();
  });
  window.addEventListener('resize', function () { if (!moved) { fit(); } });
  fit();
})();
"""


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def html_page(svg: str, title: str = "diagram") -> str:
    """A self-contained HTML page showing ``svg``: pan, zoom, fit, and a tooltip on each node and edge.

    ``title`` (e.g. a diagram's caption, any text) becomes the page's title and heading,
    html-escaped, its control characters shown as ``\\x01``.
    The SVG is cleaned first (:func:`clean_svg`), so nothing in it can run.

    >>> page = html_page('<svg xmlns="http://www.w3.org/2000/svg"><g class="node"><title>&lt;b&gt;</title></g></svg>', "a<b")
    >>> "<title>a&lt;b</title>" in page, 'data-tip="&lt;b&gt;"' in page, "<script>" in page
    (True, True, True)
    """
    body_svg = clean_svg(svg)
    title = safe_text(title) if title else "diagram"
    csp = ("default-src 'none'; " f"script-src {_csp_hash(_SCRIPT)}; style-src {_csp_hash(_STYLE)}; "
           "img-src 'none'; font-src 'none'; connect-src 'none'; base-uri 'none'; form-action 'none'")
    t = html.escape(title, quote=True)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{t}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        '<div id="vz-bar">'
        '<button id="vz-fit" type="button" title="fit to the window (f)">fit</button>'
        '<button id="vz-in" type="button" title="zoom in (+)">+</button>'
        '<button id="vz-out" type="button" title="zoom out (-)">&#8722;</button>'
        f'<span id="vz-caption">{t}</span>'
        '<span id="vz-help">wheel: zoom &#183; drag: pan &#183; f: fit</span></div>\n'
        '<div id="vz-tip" role="tooltip" hidden></div>\n'
        f'<div id="vz-view">{body_svg}</div>\n'
        f"<script>{_SCRIPT}</script>\n</body>\n</html>\n"
    )


def save_html(picture: object, path: str | Path, title: str | None = None) -> Path:
    """Write ``picture`` (a Diagram, a Chart, or SVG text) as one self-contained page; returns the path.

    The title defaults to the picture's caption.

    >>> import tempfile, pathlib
    >>> from viz.render import Diagram
    >>> p = save_html(Diagram("digraph { a -> b }", caption="a & b"), pathlib.Path(tempfile.mkdtemp()) / "ab.html")
    >>> "<title>a &amp; b</title>" in p.read_text()
    True
    """
    svg_method = getattr(picture, "svg", None)
    if callable(svg_method):
        svg = svg_method()
    elif isinstance(picture, str):
        svg = picture
    else:
        raise TypeError(f"save_html: expected a Diagram, a Chart or SVG text, got {type(picture).__name__}")
    if title is None:
        caption = getattr(picture, "caption", None)
        title = caption if isinstance(caption, str) and caption else "diagram"
    path = Path(path)
    page = html_page(svg, title=title)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
