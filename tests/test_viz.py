"""The exported graph is true, the drawing is honest, every label is escaped, both renderers work."""
from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET

import networkx as nx
import numpy as np
import pytest

import autograd_mini as am
import models
import viz
from viz.render import RenderError, render
from viz.scale import NONFINITE_COLOUR, ZERO_COLOUR, MagnitudeScale


def _recorded(net, x, R=None):
    with am.Tape(keep_grads=True) as tape:
        out = net(x)
        loss = am.sum(out * (np.ones(out.shape) if R is None else R))
    loss.backward()
    return tape


def _svg_clusters(svg: str) -> list[str]:
    return re.findall(r"<title>(cluster_step\d+)</title>", svg)


@pytest.fixture(scope="module")
def elman_tape():
    net = models.ElmanRNN(2, 3, 1, seed=0)
    x = np.random.default_rng(0).normal(size=(5, 2, 2))
    return net, _recorded(net, x)


def test_shared_weight_is_one_node_with_an_edge_into_every_step(elman_tape):
    net, tape = elman_tape
    G = viz.to_networkx(tape)
    w = next(n for n, d in G.nodes(data=True) if d["label"] == "ElmanRNN.W_hh")
    assert sorted(G.edges[w, v]["step"] for v in G.successors(w)) == [0, 1, 2, 3, 4]
    assert w in G.graph["shared"] and G.graph["steps"] == [0, 1, 2, 3, 4]
    per_step = [sum(1 for _, d in G.nodes(data=True) if d["kind"] == "op" and d["step"] == s) for s in range(5)]
    assert len(set(per_step[1:])) == 1  # every step after the first records the same ops
    assert G.nodes[w]["grad_norm"] == pytest.approx(np.linalg.norm(net["W_hh"].grad))


def test_edge_magnitudes_equal_the_gradients_of_untied_per_step_copies():
    rng = np.random.default_rng(1)
    x, R = rng.normal(size=(4, 2, 2)), rng.normal(size=(4, 2, 1))
    net = models.ElmanRNN(2, 3, 1, seed=0)
    G = viz.to_networkx(_recorded(net, x, R))
    w = next(n for n, d in G.nodes(data=True) if d["label"] == "ElmanRNN.W_hh")
    edge = {G.edges[w, v]["step"]: G.edges[w, v]["grad_norm"] for v in G.successors(w)}
    untied = models.ElmanRNN(2, 3, 1, seed=0)
    copies = [am.Parameter(untied["W_hh"].value) for _ in range(4)]
    lookups = iter(copies)

    class PerStep(dict):
        def __getitem__(self, k):
            return next(lookups) if k == "W_hh" else super().__getitem__(k)

    untied._params = PerStep(untied._params)
    am.sum(untied(x) * R).backward()
    for t, c in enumerate(copies):
        assert edge[t] == pytest.approx(np.linalg.norm(c.grad), rel=1e-12)
    # the sum of the copies' gradients is the shared weight's gradient
    assert G.nodes[w]["grad_norm"] == pytest.approx(np.linalg.norm(sum(c.grad for c in copies)), rel=1e-12)


def test_graph_is_written_for_other_tools(tmp_path, elman_tape):
    _, tape = elman_tape
    G = viz.to_networkx(tape)
    H = nx.read_graphml(viz.save_graph(G, tmp_path / "g.graphml"))
    assert H.number_of_nodes() == G.number_of_nodes() and H.number_of_edges() == G.number_of_edges()
    data = json.loads(viz.save_graph(G, tmp_path / "g.json").read_text())
    assert len(data["nodes"]) == G.number_of_nodes() and len(data["links"]) == G.number_of_edges()
    dot = viz.save_graph(G, tmp_path / "g.dot").read_text()
    ET.fromstring(render(dot, "svg"))  # Graphviz reads it
    with pytest.raises(ValueError, match="unknown format"):
        viz.save_graph(G, tmp_path / "g.xyz")


def test_unrolled_view_has_one_cluster_per_step_and_a_stub_per_shared_use(elman_tape):
    _, tape = elman_tape
    d = viz.draw(tape, detail="ops")
    svg = d.svg()
    ET.fromstring(svg)
    assert sorted(_svg_clusters(svg)) == sorted(f"cluster_step{s}" for s in range(5))
    assert d.source.count('class="shared-stub"') == 5  # one stub in each step lists its shared weights
    assert d.source.count("W_hh ") >= 5 and d.source.count("b_y ") >= 5
    assert "used by 5 steps" in d.source and "sum of the per-step shares" in d.source


def test_windows_and_automatic_module_detail():
    net = models.ElmanRNN(2, 3, 1, seed=0)
    tape = _recorded(net, np.zeros((20, 1, 2)))
    d = viz.draw(tape, steps=(2, 5))
    assert sorted(_svg_clusters(d.svg())) == ["cluster_step2", "cluster_step3", "cluster_step4"]
    assert "showing steps 2-4 of 20" in d.caption
    d = viz.draw(tape, steps=3)
    assert len(_svg_clusters(d.svg())) == 6 and "... steps 3-16 ..." in d.source
    big = _recorded(models.ElmanRNN(2, 3, 1, seed=0), np.zeros((300, 1, 2)))
    d = viz.draw(big)
    assert "one node per module call per step" in d.caption and "of 300" in d.caption
    assert len(_svg_clusters(d.svg())) == 12
    with pytest.raises(ValueError, match="selects none"):
        viz.draw(tape, steps=(50, 60))


def test_rolled_view_sums_magnitudes_over_time(elman_tape):
    _, tape = elman_tape
    G = viz.to_networkx(tape)
    d = viz.draw(tape, view="rolled")
    ET.fromstring(d.svg())
    assert "cluster_step" not in d.source and 'constraint="false"' in d.source
    w = next(n for n, dd in G.nodes(data=True) if dd["label"] == "ElmanRNN.W_hh")
    total = sum(G.edges[w, v]["grad_norm"] for v in G.successors(w))
    from viz.draw import _rolled
    H = _rolled(G)
    assert H.out_degree(w) == 1
    (v,) = H.successors(w)
    assert H.edges[w, v]["grad_norm"] == pytest.approx(total)


def test_magnitude_encoding_zero_nonfinite_and_shared_scale():
    s = MagnitudeScale(1e-3, 1e2)
    assert s.encode(0.0)["style"] == "dashed" and s.encode(0.0)["color"] == ZERO_COLOUR
    bad = s.encode(float("inf"))
    assert bad["color"] == NONFINITE_COLOUR and bad["label"] == "inf"
    assert float(s.encode(1e2)["penwidth"]) > float(s.encode(1e-3)["penwidth"])
    assert s.encode(3.2e-4, label=True)["label"] == "3.2e-04"
    a = MagnitudeScale.from_values([1e-3, 1.0])
    b = MagnitudeScale.from_values([1e-1, 1e2])
    shared = MagnitudeScale(min(a.lo, b.lo), max(a.hi, b.hi))
    assert shared.encode(1.0) == shared.encode(1.0) and a.encode(1.0) != shared.encode(1.0)
    with pytest.raises(ValueError):
        MagnitudeScale(0.0, 1.0)


def test_a_zero_and_a_nan_gradient_are_drawn_as_such():
    w = am.Parameter([1.0, 2.0], name="w")
    with am.Tape(keep_grads=True) as tape:
        z = w * 0.0
        y = am.sqrt(w - 1.0)  # gradient at w = 1 is infinite
        loss = am.sum(z) + am.sum(y)
    with np.errstate(divide="ignore"):
        loss.backward()
    src = viz.draw(tape, labels=True).source
    assert ZERO_COLOUR in src and NONFINITE_COLOUR in src and 'label="inf"' in src


def test_every_label_is_escaped():
    name = 'a"b<c>{d}\n&x'
    w = am.Parameter(np.ones(2), name=name)
    with am.Tape(keep_grads=True) as tape, am.scope(name, step=0):
        loss = am.sum(w * w)
    loss.backward()
    d = viz.draw(tape, title=name)
    svg = d.svg()
    ET.fromstring(svg)
    assert "a&quot;b&lt;c&gt;{d}" in svg or 'a"b&lt;c&gt;{d}' in svg


def test_embedded_renderer_makes_svg_and_refuses_png_with_a_hint():
    svg = render("digraph { a -> b }", "svg", prefer="embedded")
    ET.fromstring(svg)
    with pytest.raises(RenderError, match="system Graphviz"):
        render("digraph { a -> b }", "png", prefer="embedded")
    assert render("digraph { a -> b }", "svg", prefer="embedded").startswith(b"<?xml")  # still healthy


@pytest.mark.skipif(shutil.which("dot") is None, reason="the system Graphviz is not installed here (CI installs it)")
def test_system_renderer_makes_svg_png_and_pdf(tmp_path, elman_tape):
    _, tape = elman_tape
    d = viz.draw(tape)
    ET.fromstring(render(d.source, "svg", prefer="system"))
    assert d.save(tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    assert d.save(tmp_path / "a.pdf").read_bytes()[:4] == b"%PDF"


def test_diagram_save_chooses_the_format_and_shows_in_jupyter(tmp_path, elman_tape):
    _, tape = elman_tape
    d = viz.draw(tape)
    assert d.save(tmp_path / "x.dot").read_text() == d.source
    ET.fromstring(d.save(tmp_path / "x.svg").read_text())
    assert d._repr_svg_().lstrip().startswith("<?xml")
    with pytest.raises(ValueError, match="extension"):
        d.save(tmp_path / "noext")


def test_draw_refuses_what_it_cannot_draw():
    with pytest.raises(ValueError, match="keep_grads=True"):
        with am.Tape() as tape:
            am.sum(am.Parameter([1.0]) * 2)
        viz.draw(tape)
    with pytest.raises(ValueError, match="recorded nothing"):
        viz.draw(am.Tape(keep_grads=True))
    with pytest.raises(ValueError, match="view"):
        viz.draw(nx.DiGraph(), view="sideways")


def test_module_detail_merges_the_stubs_and_a_window_still_counts_every_use():
    net = models.ElmanRNN(2, 3, 1, seed=0)
    tape = _recorded(net, np.zeros((30, 1, 2)))
    d = viz.draw(tape, detail="modules", steps=2)
    assert d.source.count("shared: ") == 4  # one merged stub in each of the 4 drawn steps
    assert d.source.count("used by 30 steps") == 5  # W_xh, W_hh, b_h, W_hy, b_y, though 4 steps are drawn
