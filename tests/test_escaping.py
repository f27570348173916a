"""Any name reaches every output intact and harmless: DOT, the SVG of both renderers, the charts,
GraphML, JSON and the HTML page (viz.text.safe_text is the one rule; viz.render.quote applies it).

A control character in a Parameter's or a scope's name used to make the SVG, the charts and the
GraphML malformed XML, a NUL a Graphviz syntax error, a lone surrogate a UnicodeEncodeError.
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import networkx as nx
import numpy as np
import pytest

import autograd_mini as am
import viz
from viz import render as R
from viz.charts import gradient_flow_chart
from viz.html import html_page
from viz.render import quote, render
from viz.text import as_text, safe_text

# each inside a name: W<c>x
SPECIALS = {"nul": "\x00", "soh": "\x01", "esc": "\x1b", "del": "\x7f", "surrogate": "\ud800", "lt": "<",
            "amp": "&", "quot": '"', "gv-N": "\\N", "gv-l": "\\l", "script": "</script>", "newline": "\n"}
# how each shows: control characters as \xNN, a lone surrogate as U+FFFD, the rest as itself
SHOWN = {"nul": "\\x00", "soh": "\\x01", "esc": "\\x1b", "del": "\\x7f", "surrogate": "\ufffd"}

# No raw control character (but tab, newline, carriage return), no surrogate, no non-character.
RAW = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")

RENDERERS = [b for b, ok in (("system", R._system_dot() is not None), ("graphviz-pure", R._pure_dot() is not None),
                             ("embedded", R._embedded_ok())) if ok]


def name_with(key: str) -> str:
    return f"W{SPECIALS[key]}x"


def shown(key: str) -> str:
    """The name as the picture shows it (one line: a newline breaks the label, so only its parts)."""
    return f"W{SHOWN.get(key, SPECIALS[key])}x"


def tiny_tape(name: str, tagged: bool = False) -> am.Tape:
    """Two steps of h = tanh(h @ W): W is called ``name``, so are the steps' scope (and the tags)."""
    W = am.Parameter(np.array([[0.5, -0.25], [0.1, 0.4]]), name=name)
    with am.Tape(keep_grads=True) as tape:
        h = am.tag(np.ones((1, 2)), name, None) if tagged else am.Tensor(np.ones((1, 2)))
        for t in range(2):
            with am.scope(name, step=t):
                h = am.tanh(h @ W)
                if tagged:
                    h = am.tag(h, name + "h", t)
        loss = am.sum(h * h)
    loss.backward()
    return tape


def svg_texts(svg: bytes | str) -> list[str]:
    """Every text a reader sees in an SVG: <text> content, <title>s, tooltips (xlink:title)."""
    root = ET.fromstring(svg)
    out = ["".join(el.itertext()) for el in root.iter() if el.tag.endswith("}text") or el.tag.endswith("}title")]
    out += [v for el in root.iter() for k, v in el.attrib.items() if k.endswith("}title")]
    return out


def check_svg(svg: bytes | str, key: str, must_show: bool = True) -> None:
    text = svg.decode("utf-8") if isinstance(svg, bytes) else svg
    assert not RAW.search(text), f"a raw control character in the SVG for {key}"
    texts = svg_texts(svg)   # parses as XML, or fails
    if must_show:
        want = [shown(key)] if key != "newline" else ["W", "x"]
        for w in want:
            assert any(w in t for t in texts), f"{w!r} not shown; texts: {texts[:12]}"


# --- safe_text, the one rule ----------------------------------------------------------------------

def test_safe_text_shows_controls_replaces_lone_surrogates_and_keeps_everything_else():
    assert safe_text("a\x00b\x01c\x1bd\x7fe\x85f") == "a\\x00b\\x01c\\x1bd\\x7fe\\x85f"
    assert safe_text("tab\tnew\nline\r\nmac\r") == "tab\tnew\nline\nmac\n"
    assert safe_text("\ud800 \udfff") == "\ufffd \ufffd"
    assert safe_text("\ud83d\ude00") == "\U0001f600"                  # a pair is the character it encodes
    assert safe_text("\ufffe\uffff\ufdd0\U0001ffff") == "\\ufffe\\uffff\\ufdd0\\U0001ffff"
    plain = '<a href="x">&amp; </script> \\N \\l ünïcødé ∑‖ 😀'
    assert safe_text(plain) is plain                                  # nothing to do: the same object
    for s in ["a\x00\x01\ud800\r\n\\x01", *SPECIALS.values()]:
        once = safe_text(s)
        assert safe_text(once) == once and not RAW.search(once)
        once.encode("utf-8")


def test_a_name_that_is_not_a_string_becomes_its_str_and_never_raises():
    class Odd:
        def __str__(self):
            raise RuntimeError("no str for you")

    class Controls:
        def __str__(self):
            return "odd\x01\ud800"

    class Sub(str):
        def __str__(self):
            return "not this"

    assert as_text(5) == "5" and as_text(Odd()) == "<unprintable Odd>" and type(as_text(Sub("s"))) is str
    assert safe_text(Controls()) == "odd\\x01\ufffd" and safe_text(None) == "None"
    assert quote(5) == '"5"' and quote(Odd()) == '"<unprintable Odd>"'


# --- DOT and the SVG of every renderer -------------------------------------------------------------

@pytest.mark.parametrize("key", list(SPECIALS))
def test_quote_leaves_no_raw_control_character_and_no_surrogate(key):
    q = quote(name_with(key))
    assert not RAW.search(q) and "\n" not in q
    q.encode("utf-8")
    body = q[1:-1]
    assert re.fullmatch(r'(?:[^"\\]|\\.)*', body), q   # one DOT string: every " and \ escaped


@pytest.mark.skipif(len(RENDERERS) < 2, reason="needs two renderers (graphviz-pure is installed by '.[test]')")
@pytest.mark.parametrize("key", list(SPECIALS))
def test_every_name_draws_as_xml_with_every_renderer(key):
    name = name_with(key)
    tape = tiny_tape(name)
    units = tiny_tape(name, tagged=True)
    diagrams = {"default": (viz.draw(tape, title=name), False),
                "ops": (viz.draw(tape, detail="ops", size=None), True),
                "rolled": (viz.draw(tape, view="rolled", detail="ops", size=None), True),
                "units": (viz.draw(units), False)}
    assert diagrams["units"][0].engine == "neato" and "detail: units" in diagrams["units"][0].caption
    for what, (d, must_show) in diagrams.items():
        assert not RAW.search(d.source), what
        d.source.encode("utf-8")
        for renderer in RENDERERS:
            svg = render(d.source, "svg", engine=d.engine, prefer=renderer)
            check_svg(svg, key, must_show)


GRAPHVIZ_ESCAPES = [f"a\\{c}b" for c in "NGETHLlnr\\x\""] + ["a\\", "end\\\\", 'q"\\"', "&amp;", "a&nbsp;b",
                                                          "a&#65;b", "a&#92;Nb", "a&b"]


@pytest.mark.parametrize("renderer", RENDERERS)
def test_graphviz_escapes_and_entities_in_a_name_stay_text(renderer):
    """A label and a tooltip of the graph, a cluster, a node and an edge read back exactly."""
    lines = ["digraph G {"]
    for i, n in enumerate(GRAPHVIZ_ESCAPES):
        lab, tip = quote(n), quote(n, tooltip=True)
        lines.append(f"  subgraph cluster_{i} {{ label={lab}; tooltip={tip}; n{i} [label={lab}, tooltip={tip}]; }}")
        lines.append(f"  n{i} -> m{i} [label={lab}, tooltip={tip}];")
    lines.append(f"  tooltip={quote(GRAPHVIZ_ESCAPES[0], tooltip=True)};")
    lines.append("}")
    root = ET.fromstring(render("\n".join(lines), "svg", prefer=renderer))
    labels = ["".join(el.itertext()) for el in root.iter() if el.tag.endswith("}text")]
    tips = [v for el in root.iter() for k, v in el.attrib.items() if k.endswith("}title")]
    for n in GRAPHVIZ_ESCAPES:
        assert labels.count(n) == 3, (n, [t for t in labels if t[:1] in "aeq&"])   # cluster, node, edge
        assert tips.count(n) == 3 + (n == GRAPHVIZ_ESCAPES[0]), (n, [t for t in tips if t[:1] in "aeq&"])
    two_lines = render(f"digraph {{ a [label={quote('x' + chr(10) + 'y')}, tooltip={quote('x' + chr(10) + 'y', tooltip=True)}] }}",
                       "svg", prefer=renderer)
    assert svg_texts(two_lines).count("x") >= 1 and "x\ny" in svg_texts(two_lines)   # a newline still breaks both


SUBSTITUTED = re.compile(r"Q(?!\\[NG]Q)[^\s\\]*Q")   # Q\NQ with \N replaced by a node's or graph's name


@pytest.mark.parametrize("name", ["Q\\NQ", "Q\\GQ"])
def test_a_graphviz_escape_in_a_name_stays_text_in_the_drawings_tooltips(name):
    for d in (viz.draw(tiny_tape(name), detail="ops", size=None), viz.draw(tiny_tape(name, tagged=True))):
        root = ET.fromstring(d.svg())
        tips = [v for el in root.iter() for k, v in el.attrib.items() if k.endswith("}title")]
        assert not [t for t in tips if SUBSTITUTED.search(t)]


def test_the_dot_source_shows_a_control_character_as_text():
    d = viz.draw(tiny_tape("W\x01\x00x"), detail="ops", size=None)
    assert "W\\\\x01\\\\x00x" in d.source   # quote doubled safe_text's backslash: Graphviz shows \x01


# --- GraphML, JSON, DOT exports ---------------------------------------------------------------------

def strict_json(text: str):
    def refuse(token):
        raise ValueError(f"not strict JSON: {token}")
    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("key", list(SPECIALS))
@pytest.mark.parametrize("detail", ["ops", "units"])
def test_every_name_exports_as_graphml_json_and_dot(tmp_path, key, detail):
    name = name_with(key)
    G = viz.to_networkx(tiny_tape(name, tagged=True), detail=detail)
    want = safe_text(name)
    graphml = viz.save_graph(G, tmp_path / "g.graphml")
    raw = graphml.read_bytes().decode("utf-8")
    assert not RAW.search(raw)
    H = nx.read_graphml(graphml)
    assert H.number_of_nodes() == G.number_of_nodes() and H.number_of_edges() == G.number_of_edges()
    values = [v for _, d in H.nodes(data=True) for v in d.values()] + list(H.nodes)
    assert any(isinstance(v, str) and want in v for v in values)
    text = viz.save_graph(G, tmp_path / "g.json").read_bytes().decode("utf-8")
    data = strict_json(text)
    assert len(data["nodes"]) == G.number_of_nodes() and len(data["links"]) == G.number_of_edges()
    ids = {n["id"] for n in data["nodes"]}
    assert all(link["source"] in ids and link["target"] in ids for link in data["links"])
    assert any(want in v for n in data["nodes"] for v in n.values() if isinstance(v, str))
    assert not RAW.search(json.dumps(data, ensure_ascii=False))
    dot = viz.save_graph(G, tmp_path / "g.dot").read_bytes().decode("utf-8")
    assert not RAW.search(dot)
    for renderer in RENDERERS[-1:]:
        ET.fromstring(render(dot, "svg", prefer=renderer))   # Graphviz reads it back


def test_non_finite_numbers_become_strings_beside_and_the_json_stays_strict(tmp_path):
    """As before: a non-finite number is left out (never NaN or Infinity), its value as a string beside it."""
    G = nx.DiGraph(steps=[0])
    G.add_node("a", value_mean=float("-inf"), label="a")
    G.add_edge("a", "b", grad_norm=float("inf"), contribution=float("nan"), step=0)
    text = viz.save_graph(G, tmp_path / "g.json").read_text(encoding="utf-8")
    data = strict_json(text)
    assert "NaN" not in text and "Infinity" not in text
    node = next(n for n in data["nodes"] if n["id"] == "a")
    link = data["links"][0]
    assert node.get("value_mean") is None and node["value_mean_text"] == "-inf"
    assert link.get("grad_norm") is None and link["grad_norm_text"] == "inf" and link["contribution_text"] == "nan"
    H = nx.read_graphml(viz.save_graph(G, tmp_path / "g.graphml"))
    assert H.edges["a", "b"]["grad_norm_text"] == "inf" and "grad_norm" not in H.edges["a", "b"]


def test_graph_attributes_and_keys_are_made_safe_too(tmp_path):
    G = nx.DiGraph(steps=[0], note=float("nan"), layers=["h\x01", "x\ud800"], count=np.int64(3))
    G.add_node("a\x1b", **{"label": "a\x01", "odd\x00key": "v\x7f"})
    G.add_edge("a\x1b", "b", grad_norm=1.0)
    data = strict_json(viz.save_graph(G, tmp_path / "g.json").read_text(encoding="utf-8"))
    assert data["graph"] == {"steps": [0], "note": "nan", "layers": ["h\\x01", "x\ufffd"], "count": 3}
    node = next(n for n in data["nodes"] if n["id"] == "a\\x1b")
    assert node["label"] == "a\\x01" and node["odd\\x00key"] == "v\\x7f"
    assert data["links"] == [{"source": "a\\x1b", "target": "b", "grad_norm": 1.0}]
    H = nx.read_graphml(viz.save_graph(G, tmp_path / "g.graphml"))
    assert H.nodes["a\\x1b"]["label"] == "a\\x01" and json.loads(H.graph["layers"]) == ["h\\x01", "x\ufffd"]
    dot = viz.save_graph(G, tmp_path / "g.dot").read_text(encoding="utf-8")
    assert '"odd\\\\x00key"="v\\\\x7f"' in dot and not RAW.search(dot)
    ET.fromstring(render(dot, "svg", prefer=RENDERERS[-1]))


def test_node_ids_that_would_become_one_are_refused(tmp_path):
    G = nx.DiGraph()
    G.add_edge("x\ud800", "x\udfff")     # both would be written x\ufffd
    with pytest.raises(ValueError, match="would both be written"):
        viz.save_graph(G, tmp_path / "g.json")


# --- the charts --------------------------------------------------------------------------------------

@pytest.mark.parametrize("key", list(SPECIALS))
def test_every_name_makes_a_chart_that_is_xml(key, tmp_path):
    name = name_with(key)
    chart = gradient_flow_chart({name: [1.0, 0.1, 0.01], "other": [1.0, 2.0]}, title=name, xlabel=name, ylabel=name)
    check_svg(chart.svg(), key, must_show=key != "newline")   # a chart's text is one line: the newline stays in it
    if key == "newline":
        assert any("W\nx" in t for t in svg_texts(chart.svg()))
    path = chart.save(tmp_path / "c.svg")
    ET.fromstring(path.read_bytes())
    page = chart.save(tmp_path / "c.html").read_bytes().decode("utf-8")
    assert not RAW.search(page)


# --- the HTML page ----------------------------------------------------------------------------------

class Tips(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tips: list[str] = []
        self.title = ""
        self._in_title = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self._in_title = tag == "title"
        self.tips += [v for k, v in attrs if k == "data-tip" and v]

    def handle_data(self, data):
        if self._in_title:
            self.title += data


@pytest.mark.parametrize("key", list(SPECIALS))
def test_the_html_page_keeps_no_raw_control_character(key, tmp_path):
    name = name_with(key)
    d = viz.draw(tiny_tape(name), detail="ops", size=None, title=name)
    page = d.save(tmp_path / "d.html").read_bytes().decode("utf-8")
    assert not RAW.search(page)
    p = Tips(page)
    assert len(re.findall(r"<script\b", page)) == 1 and page.count("</script>") == 1   # only the page's own
    assert p.title.startswith(safe_text(name))   # the caption: the title first, then the notes
    if key != "newline":
        assert any(shown(key) in t for t in p.tips)


def test_the_page_shows_the_controls_xml_allows_and_html_does_not():
    svg = ('<svg xmlns="http://www.w3.org/2000/svg"><g class="node"><title>a\x7fb\x85c</title>'
           '<text fill="r\x7fed">t\x7fx\x9f</text></g></svg>')
    page = html_page(svg, title="p\x7fq\x01")
    assert not RAW.search(page)
    assert 'data-tip="t\\x7fx\\x9f"' in page and "t\\x7fx\\x9f" in page and "p\\x7fq\\x01" in page and 'fill="r\\x7fed"' in page


# --- names that are not strings -------------------------------------------------------------------

def test_a_parameter_named_by_a_number_is_drawn_under_its_str(tmp_path):
    W = am.Parameter(5.0, name=5)
    with am.Tape(keep_grads=True) as tape:
        h = am.Tensor(np.ones((1, 2)))
        for t in range(2):
            with am.scope("rnn", step=t):
                h = am.tanh(h * W)
        loss = am.sum(h)
    loss.backward()
    G = viz.to_networkx(tape)
    w = next(n for n, d in G.nodes(data=True) if d["kind"] == "param")
    assert G.nodes[w]["label"] == "5" and G.nodes[w]["name"] == "5"
    check_svg(viz.draw(tape, detail="ops", size=None).svg(), "x", must_show=False)
    assert any(re.match(r"5\b", t) for t in svg_texts(viz.draw(tape, detail="ops", size=None).svg()))
    strict_json(viz.save_graph(G, tmp_path / "g.json").read_text(encoding="utf-8"))


def test_a_name_whose_str_fails_or_holds_controls_is_drawn_safely():
    class Odd:
        def __str__(self):
            raise RuntimeError("no str")

    class Controls:
        def __str__(self):
            return "ctl\x01\ud800"

    for name, want in ((Odd(), "<unprintable Odd>"), (Controls(), "ctl\\x01\ufffd")):
        W = am.Parameter(np.eye(2) * 0.5, name=name)
        with am.Tape(keep_grads=True) as tape:
            h = am.Tensor(np.ones((1, 2)))
            for t in range(2):
                with am.scope("rnn", step=t):
                    h = am.tanh(h @ W)
            loss = am.sum(h)
        loss.backward()
        G = viz.to_networkx(tape)   # op level: viz reads every name through viz.graph.name_of
        assert any(d.get("name") == as_text(name) for _, d in G.nodes(data=True))
        svg = viz.draw(tape, detail="ops", size=None).svg()
        assert not RAW.search(svg) and any(want in t for t in svg_texts(svg))


@pytest.mark.parametrize("name", [pytest.param("odd", id="str-fails"), pytest.param("array", id="ndarray")])
def test_the_units_view_reads_a_name_that_is_not_a_string_safely(name):
    class Odd:
        def __str__(self):
            raise RuntimeError("no str")

    W = am.Parameter(np.eye(2) * 0.5, name=Odd() if name == "odd" else np.array([1, 2]))
    with am.Tape(keep_grads=True) as tape:
        h = am.Tensor(np.ones((1, 2)))
        for t in range(2):
            with am.scope("rnn", step=t):
                h = am.tag(am.tanh(h @ W), "h", t)
        loss = am.sum(h)
    loss.backward()
    U = viz.to_networkx(tape, detail="units")
    assert {d["parameter"] for _, _, d in U.edges(data=True) if d.get("kind") == "connection"} == {as_text(W.name)}
