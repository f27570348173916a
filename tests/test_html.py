"""viz.html: one self-contained page per diagram, every name in it escaped (the browser test is test_html_browser.py)."""
from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser

import pytest

import viz
from viz.html import clean_svg, html_page, save_html
from viz.render import Diagram, quote

PAYLOADS = ("</script><script>alert(1)</script>", "<img src=x onerror=alert(1)>")


class Page(HTMLParser):
    """Every start tag of a page with its attributes, and the text of each <script> and <style>."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.raw: dict[str, list[str]] = {"script": [], "style": []}
        self._in: str | None = None
        self.title = ""
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in = tag

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in in self.raw:
            self.raw[self._in].append(data)
        elif self._in == "title":
            self.title += data

    def named(self, tag: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag]


def dot_with_payloads() -> str:
    a, b = PAYLOADS
    return "\n".join([
        "digraph G {",
        f"  graph [label={quote(a)}];",
        f"  {quote(a)} [label={quote(a)}, tooltip={quote('op: tanh' + chr(10) + a)}];",
        f"  {quote(b)} [label={quote(b)}, tooltip={quote(b)}, URL=\"javascript:alert(1)\"];",
        f"  subgraph cluster_x {{ label={quote(b)}; tooltip={quote(a)}; c [tooltip=\"c\", URL=\"https://example.org/c\"]; }}",
        f"  {quote(a)} -> {quote(b)} [tooltip={quote(b)}, label={quote(a)}];",
        f"  {quote(b)} -> c;",
        "}",
    ]) + "\n"


@pytest.fixture(scope="module")
def page() -> str:
    return html_page(Diagram(dot_with_payloads()).svg(), title="t " + PAYLOADS[0])


def test_the_page_is_one_self_contained_file(page):
    p = Page(page)
    assert len(p.named("script")) == 1 and not p.named("script")[0]   # inline, no src
    assert p.named("link") == [] and p.named("img") == [] and p.named("iframe") == []
    assert "@import" not in page and "@font-face" not in page
    assert re.findall(r"url\((?!#)", page) == []
    external = [a for _, attrs in p.tags for k, a in attrs.items() if k in ("src", "href") and a and not a.startswith("#")]
    assert external == ["https://example.org/c"]   # a node's own http(s) URL is kept, as a link
    assert len(p.named("svg")) == 1


def test_the_content_security_policy_allows_only_the_page_own_script_and_style(page):
    p = Page(page)
    csp = next(a["content"] for a in p.named("meta") if a.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in csp and "'unsafe-inline'" not in csp
    for kind, directive in (("script", "script-src"), ("style", "style-src")):
        body = "".join(p.raw[kind])
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in csp


def test_no_payload_becomes_markup(page):
    p = Page(page)
    allowed = {"html", "head", "meta", "title", "style", "body", "div", "button", "span", "script",
               "svg", "g", "polygon", "path", "ellipse", "text", "a"}
    assert {t for t, _ in p.tags} <= allowed
    assert len(p.named("script")) == 1
    for tag, attrs in p.tags:
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)
        assert not any("javascript:" in (v or "").lower() for v in attrs.values()), (tag, attrs)
    assert "alert(1)" not in "".join(p.raw["script"])
    assert p.title == "t " + PAYLOADS[0]             # the caption, escaped, reads back exactly
    assert "<title>t &lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;</title>" in page


def test_every_node_edge_and_cluster_carries_its_tooltip_as_data(page):
    p = Page(page)
    tips = {a["class"]: [] for a in p.named("g") if a.get("class") in ("node", "edge", "cluster")}
    for a in p.named("g"):
        if a.get("class") in tips:
            tips[a["class"]].append(a.get("data-tip"))
    assert sorted(tips["node"]) == sorted(["op: tanh\n" + PAYLOADS[0], PAYLOADS[1], "c"])
    assert PAYLOADS[1] in tips["edge"] and len(tips["edge"]) == 2
    assert tips["cluster"] == [PAYLOADS[0]]
    assert all(a.get("xlink:title") is None for _, a in p.tags)   # no second, native tooltip
    assert [t for t, _ in p.tags].count("title") == 1        # the page's; the SVG's <title>s are gone


def test_clean_svg_keeps_only_harmless_svg():
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="10pt" '
           'height="5pt" viewBox="0 0 10 5" onload="alert(1)">'
           '<script>alert(2)</script><foreignObject><div>x</div></foreignObject>'
           '<g class="node" style="x" onclick="alert(3)"><title>n</title>'
           '<a xlink:href="javascript:alert(4)" xlink:title="tip &lt;b&gt;"><text xml:space="preserve">a &amp; b</text></a>'
           '<a href="data:text/html,x"><rect width="1" height="1"/></a><image xlink:href="x.png"/></g></svg>')
    out = clean_svg(svg)
    assert "alert" not in out and "script" not in out and "foreignObject" not in out and "image" not in out
    assert "style=" not in out and "data:" not in out and 'href=' not in out
    assert 'data-tip="tip &lt;b&gt;"' in out and ">a &amp; b<" in out and 'xml:space="preserve"' in out
    assert out.startswith('<svg data-width="10pt" data-height="5pt"') and '<g class="vz-layer">' in out
    with pytest.raises(ValueError, match="not well-formed"):
        clean_svg("<svg")
    with pytest.raises(ValueError, match="not an SVG"):
        clean_svg("<html/>")


def test_save_dispatches_html_and_the_title_comes_from_the_caption(tmp_path):
    d = Diagram("digraph { a -> b }", caption='net "x" & <y>')
    p = d.save(tmp_path / "out" / "net.html")
    text = p.read_text(encoding="utf-8")
    assert Page(text).title == 'net "x" & <y>' and "<title>net &quot;x&quot; &amp; &lt;y&gt;</title>" in text
    assert Page(Diagram("digraph { a }").save(tmp_path / "plain.html").read_text()).title == "diagram"
    assert save_html(d, tmp_path / "again.html", title="other").read_text().count("<title>other</title>") == 1


def test_charts_save_as_html_too(tmp_path):
    chart = viz.charts.gradient_flow_chart({"<b>": [1.0, 0.5, 0.25]}, title="flow <b>")
    text = chart.save(tmp_path / "c.html").read_text()
    p = Page(text)
    assert p.title == "flow <b>" and len(p.named("svg")) == 1 and p.named("b") == []
    with pytest.raises(TypeError, match="expected a Diagram, a Chart or SVG text"):
        save_html(42, tmp_path / "x.html")
    assert Page(save_html(str(chart), tmp_path / "s.html").read_text()).title == "diagram"


def test_without_a_tooltip_the_label_and_then_the_name_stand_in():
    dot = 'digraph { a [label="two\\nlines"]; b [label=""]; a -> b; b -> a [label="back"] }'
    p = Page(html_page(Diagram(dot).svg()))
    tips = [(a["class"], a.get("data-tip")) for a in p.named("g") if a.get("class") in ("node", "edge")]
    assert ("node", "two\nlines") in tips and ("node", "b") in tips
    assert ("edge", "a->b") in tips and ("edge", "back") in tips
