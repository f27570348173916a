"""The exported graph is true, the numbers drawn add up, the layout reads like the lecture's
slide, every label is escaped, and both renderers work."""
from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

import autograd_mini as am
import models
import viz
from viz import views
from viz.dot import fixed_decimals, smallest_text_px
from viz.render import RenderError, render
from viz.scale import NONFINITE_COLOUR, ZERO_COLOUR, MagnitudeScale


def _recorded(net, x, R=None, keep_grads=True, backward=True):
    with am.Tape(keep_grads=keep_grads) as tape:
        out = net(x)
        loss = am.sum(out * (np.ones(out.shape) if R is None else R))
    if backward:
        loss.backward()
    return tape, loss


def _svg_clusters(svg: str) -> list[str]:
    return re.findall(r"<title>(cluster_step\d+)</title>", svg)


def _weight(G, name):
    return next(n for n, d in G.nodes(data=True) if d["kind"] == "param" and d["label"] == name)


@pytest.fixture(scope="module")
def elman_tape():
    net = models.ElmanRNN(2, 3, 1, seed=0)
    x = np.random.default_rng(0).normal(size=(5, 2, 2))
    tape, _ = _recorded(net, x)
    return net, tape


def _lecture_net(bits=2, seed=0, batch_size=1):
    net = models.ElmanRNN(2, 3, 1, timing="synchronous", seed=seed)
    batch = models.tasks.BinaryAddition(bits=bits, delay=2).sample(0, batch_size=batch_size)
    return net, batch


def _lecture_tape(bits=2):
    """The lecture net recorded on a keep_grads tape, after backward."""
    net, batch = _lecture_net(bits=bits)
    with am.Tape(keep_grads=True) as tape:
        loss = models.sequence_loss(net(batch.x), batch)
    loss.backward()
    return net, batch, tape


# --- 1. numbers that are right and can be checked ---------------------------------------------

def test_shared_weight_is_one_node_with_an_edge_into_every_step(elman_tape):
    net, tape = elman_tape
    G = viz.to_networkx(tape)
    w = _weight(G, "W_hh")
    assert G.nodes[w]["name"] == "ElmanRNN.W_hh"
    assert sorted(G.edges[w, v]["step"] for v in G.successors(w)) == [0, 1, 2, 3, 4]
    assert w in G.graph["shared"] and G.graph["steps"] == [0, 1, 2, 3, 4]
    assert G.nodes[w]["grad_norm"] == pytest.approx(np.linalg.norm(net["W_hh"].grad), rel=1e-12)


def test_contributions_add_up_to_the_norm_of_this_tapes_total(elman_tape):
    _, tape = elman_tape
    G = viz.to_networkx(tape)
    for w in G.graph["shared"]:
        cs = [G.edges[w, v]["contribution"] for v in G.successors(w)]
        assert abs(sum(cs) - G.nodes[w]["grad_norm"]) <= 1e-12 * sum(abs(c) for c in cs) + 1e-300
        total = sum(G.edges[w, v]["_grad"] for v in G.successors(w))
        for v in G.successors(w):   # c_t is the length of G_t along G
            g = G.edges[w, v]["_grad"]
            assert G.edges[w, v]["contribution"] == pytest.approx(np.vdot(g, total) / np.linalg.norm(total))


def test_edge_magnitudes_equal_the_gradients_of_untied_per_step_copies():
    rng = np.random.default_rng(1)
    x, R = rng.normal(size=(4, 2, 2)), rng.normal(size=(4, 2, 1))
    net = models.ElmanRNN(2, 3, 1, seed=0)
    tape, _ = _recorded(net, x, R)
    G = viz.to_networkx(tape)
    w = _weight(G, "W_hh")
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


def test_the_total_is_this_tapes_not_the_accumulated_grad():
    # The README's four-step snippet run three times on the same W: .grad grows, the drawing must not.
    W = am.Parameter(np.eye(3) * 0.5, name="W_hh")
    sources, totals = [], []
    for _ in range(3):
        h = am.Tensor(np.full((1, 3), 0.5))
        with am.Tape(keep_grads=True) as tape:
            for t in range(4):
                with am.scope("rnn", step=t):
                    h = am.sigmoid(h @ W)
            loss = (h ** 2).sum()
        loss.backward()
        G = viz.to_networkx(tape)
        totals.append(G.nodes[_weight(G, "W_hh")]["grad_norm"])
        sources.append(viz.draw(tape, detail="ops", size=None).source)
    assert totals[0] == totals[1] == totals[2]
    assert np.linalg.norm(W.grad) == pytest.approx(3 * totals[0])
    assert sources[0] == sources[1] == sources[2]   # the same forward and backward: the same drawing
    net, batch = _lecture_net()
    units = []
    for _ in range(2):
        with am.Tape(keep_grads=True) as tape:
            loss = models.sequence_loss(net(batch.x), batch)
        loss.backward()
        units.append(viz.draw(tape, detail="units").source)
    assert units[0] == units[1]


def _two_uses(a: float, b: float):
    """One weight used in two steps whose gradients are a * v and b * v (plus an orthogonal one)."""
    W = am.Parameter(np.zeros((1, 2)), name="W")
    with am.Tape(keep_grads=True) as tape:
        with am.scope("net", step=0):
            y0 = am.sum(np.array([[a]]) @ W * np.array([1.0, 0.0]))
        with am.scope("net", step=1):
            y1 = am.sum(np.array([[b]]) @ W * np.array([1.0, 0.0]))
        with am.scope("net", step=2):
            y2 = am.sum(np.array([[5.0]]) @ W * np.array([0.0, 1.0])) * 0.0 + am.sum(
                np.array([[5.0]]) @ W * np.array([0.0, 1.0]))
        loss = y0 + y1 + y2
    loss.backward()
    return viz.to_networkx(tape)


def test_a_step_that_pushes_against_the_others_is_negative_and_an_orthogonal_one_is_zero():
    G = _two_uses(3.0, -1.0)
    w = _weight(G, "W")
    c = {G.edges[w, v]["step"]: G.edges[w, v]["contribution"] for v in G.successors(w)}
    total = np.array([2.0, 5.0])
    assert c[0] == pytest.approx(3.0 * 2.0 / np.linalg.norm(total))
    assert c[1] == pytest.approx(-1.0 * 2.0 / np.linalg.norm(total)) and c[1] < 0
    assert c[2] == pytest.approx(25.0 / np.linalg.norm(total))
    G = _two_uses(0.0, 0.0)   # step 2 alone: steps 0 and 1 are orthogonal to the total, so 0
    w = _weight(G, "W")
    c = {G.edges[w, v]["step"]: G.edges[w, v]["contribution"] for v in G.successors(w)}
    assert c[0] == 0.0 and c[1] == 0.0


def test_a_zero_total_says_no_gradient():
    W = am.Parameter(np.ones((2, 2)), name="W")
    with am.Tape(keep_grads=True) as tape:
        h = np.ones((1, 2))
        for t in range(3):
            with am.scope("rnn", step=t):
                h = am.tanh(h @ W)
        loss = am.sum(h) * 0.0
    loss.backward()
    G = viz.to_networkx(tape)
    w = _weight(G, "W")
    assert G.nodes[w]["grad_norm"] == 0.0
    assert all(G.edges[w, v]["contribution"] is None for v in G.successors(w))
    assert "no gradient" in viz.draw(tape, detail="ops", size=None).source


def _printed_terms(source: str, name: str) -> list[float]:
    text = source.replace("\\n", "\n").replace("\\l", "\n")
    return [float(v) for v in re.findall(rf"(?<![A-Za-z_]){re.escape(name)} ([+-]\d+\.\d+)", text)]


def test_the_printed_contributions_add_up_to_the_printed_total(elman_tape):
    _, tape = elman_tape
    src = viz.draw(tape, detail="ops", size=None).source
    G = viz.to_networkx(tape)
    for name in ("W_hh", "W_xh", "W_hy", "b_h", "b_y"):
        total = G.nodes[_weight(G, name)]["grad_norm"]
        terms = _printed_terms(src, name)
        assert len(terms) == 5
        printed = float(re.search(rf"{name} \([^)]*\), used by 5 steps\\n\|G\| = ([\d.]+)", src).group(1))
        assert printed == pytest.approx(total, abs=0.5 * 10 ** -fixed_decimals(total))
        assert sum(terms) == pytest.approx(printed, abs=len(terms) * 10 ** -fixed_decimals(total))
    assert "add up to |G|" in src   # the legend says what they are


def test_every_view_keeps_the_identity():
    net = models.ElmanRNN(2, 3, 1, seed=0)
    tape, _ = _recorded(net, np.random.default_rng(1).normal(size=(12, 1, 2)))
    G = viz.to_networkx(tape)
    w = _weight(G, "W_hh")
    total = G.nodes[w]["grad_norm"]
    # a window: the shown steps' terms plus one elided term per gap
    H, note = views.window(G, [0, 1, 10, 11])
    shown = [H.edges[w, v]["contribution"] for v in H.successors(w)]
    elided = [d["terms"][w] for _, d in H.nodes(data=True) if d["kind"] == "elided"]
    assert len(elided) == 1 and note == "showing steps 0-1 and 10-11 of 12"
    assert sum(shown) + sum(elided) == pytest.approx(total, rel=1e-12)
    # modules: raw gradients summed per call, so the contributions still add up
    M = views.modules(G)
    cs = [M.edges[w, v]["contribution"] for v in M.successors(w)]
    assert len(cs) == 12 and sum(cs) == pytest.approx(total, rel=1e-12)
    # rolled: the weight's one edge carries |sum_t G_t|
    R = views.rolled(G)
    (v,) = R.successors(w)
    assert R.edges[w, v]["grad_norm"] == pytest.approx(np.linalg.norm(net["W_hh"].grad), rel=1e-12)
    # the drawn window prints the elided term
    src = viz.draw(tape, detail="ops", steps=2, size=None).source
    assert len(_printed_terms(src, "W_hh")) == 5


# --- 2. drawing without gradients ---------------------------------------------------------------

def test_a_loss_is_drawn_without_a_tape_before_and_after_backward():
    net, batch = _lecture_net()
    loss = models.sequence_loss(net(batch.x), batch)
    before = viz.to_networkx(loss)
    d_before = viz.draw(loss, detail="ops", size=None)
    loss.backward()
    after = viz.to_networkx(loss)
    d_after = viz.draw(loss, detail="ops", size=None)
    assert nx.utils.graphs_equal(nx.DiGraph(before.edges), nx.DiGraph(after.edges))
    assert sorted(_svg_clusters(d_after.svg())) == sorted(f"cluster_step{s}" for s in before.graph["steps"])
    labels = lambda src: sorted(re.findall(r' \[label="([^"]*)"', src))  # noqa: E731
    assert labels(d_before.source) == labels(d_after.source)
    assert "no gradients shown" in d_after.caption and "keep_grads=True" in d_after.caption
    with am.Tape(keep_grads=True) as tape:
        loss2 = models.sequence_loss(net(batch.x), batch)
    # the tape also holds what leads nowhere (the last step's hidden state); the loss's graph is in it
    taped = {d["label"] for _, d in viz.to_networkx(tape).nodes(data=True)}
    assert {d["label"] for _, d in before.nodes(data=True)} <= taped
    assert "call backward()" in viz.draw(tape, detail="ops", size=None).caption
    loss2.backward()
    assert "no gradients" not in viz.draw(tape, detail="ops", size=None).caption
    with am.Tape() as plain:
        models.sequence_loss(net(batch.x), batch)
    assert "keep_grads=True" in viz.draw(plain, detail="ops", size=None).caption


def test_viz_reads_the_engine_only_through_its_graph_api():
    for path in Path(viz.__file__).parent.glob("*.py"):
        text = path.read_text()
        assert "._rec" not in text and "autograd_mini.tensor" not in text, path.name


# --- 3. the layout reads like the lecture's slide ----------------------------------------------

def _boxes(svg: str) -> dict[str, tuple[float, float, float, float]]:
    """Cluster title -> (x0, y0, x1, y1) from the polygon Graphviz draws for it."""
    out = {}
    root = ET.fromstring(svg)
    ns = {"s": "http://www.w3.org/2000/svg"}
    for g in root.iter("{http://www.w3.org/2000/svg}g"):
        if g.get("class") == "cluster":
            title = g.find("s:title", ns).text
            shape = next((e for e in g.iter() if e.tag.endswith("}polygon") or e.tag.endswith("}path")), None)
            if shape is None:
                continue
            text = shape.get("points") or shape.get("d")
            pts = [tuple(map(float, p)) for p in re.findall(r"(-?[\d.]+),(-?[\d.]+)", text)]
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            out[title] = (min(xs), min(ys), max(xs), max(ys))
    return out


def _node_x(svg: str, title_contains: str) -> list[tuple[float, float]]:
    root = ET.fromstring(svg)
    out = []
    for g in root.iter("{http://www.w3.org/2000/svg}g"):
        if g.get("class") == "node":
            texts = "".join(t.text or "" for t in g.iter("{http://www.w3.org/2000/svg}text"))
            if title_contains in texts:
                el = next(iter(g.iter("{http://www.w3.org/2000/svg}text")))
                out.append((float(el.get("x")), float(el.get("y"))))
    return out


def test_steps_run_left_to_right_at_one_height_and_the_loss_stands_after_the_last():
    net, batch, tape = _lecture_tape(bits=2)
    svg = viz.draw(tape, detail="ops", size=None).svg()
    boxes = _boxes(svg)
    steps = sorted((int(k[len("cluster_step"):]), v) for k, v in boxes.items() if k.startswith("cluster_step"))
    assert [s for s, _ in steps] == list(range(5))
    for (_, a), (_, b) in zip(steps, steps[1:]):
        assert a[2] < b[0]                      # step t ends before step t+1 begins
    assert max(b[1] for _, b in steps) - min(b[1] for _, b in steps) < 30   # one height
    after = boxes["cluster_after"]
    assert after[0] > steps[-1][1][2]          # the loss's column is right of the last step
    (lx, _), = _node_x(svg, "loss = divide")
    assert after[0] < lx < after[2]
    (hx, _), = _node_x(svg, "h0")
    assert steps[0][1][0] < hx < steps[0][1][2]  # the initial state stands in step 0


def test_an_edge_from_step_t_into_t_plus_1_runs_between_those_two_clusters(elman_tape):
    _, tape = elman_tape
    d = viz.draw(tape, detail="ops", size=None)
    svg = d.svg()
    boxes = _boxes(svg)
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    ids = {}
    for g in root.iter(f"{ns}g"):
        if g.get("class") == "node":
            ids[g.find(f"{ns}title").text] = "".join(t.text or "" for t in g.iter(f"{ns}text"))
    G = viz.to_networkx(tape)
    n_id = {n: f"n{i}" for i, n in enumerate(G.nodes)}
    checked = 0
    for g in root.iter(f"{ns}g"):
        if g.get("class") != "edge":
            continue
        u, v = g.find(f"{ns}title").text.split("->")
        src = next((n for n, i in n_id.items() if i == u), None)
        dst = next((n for n, i in n_id.items() if i == v), None)
        if src is None or dst is None:
            continue
        su, sv = G.nodes[src].get("step"), G.nodes[dst].get("step")
        if su is None or sv != (su + 1 if su is not None else None):
            continue
        path = next(e for e in g.iter(f"{ns}path"))
        xs = [float(x) for x in re.findall(r"(-?[\d.]+),-?[\d.]+", path.get("d"))]
        assert boxes[f"cluster_step{su}"][0] <= min(xs) and max(xs) <= boxes[f"cluster_step{sv}"][2]
        checked += 1
    assert checked >= 4


def _node_boxes(svg: str, cls: str) -> dict[str, tuple[float, float, float, float]]:
    """Node title -> bounding box of its shape, for the nodes of one SVG class."""
    out = {}
    for g in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}g"):
        if cls in (g.get("class") or "").split():
            shape = next(e for e in g.iter() if e.tag.rsplit("}", 1)[-1] in ("path", "polygon", "ellipse"))
            if shape.tag.endswith("ellipse"):
                cx, cy, rx, ry = (float(shape.get(k)) for k in ("cx", "cy", "rx", "ry"))
                out[g.find("{http://www.w3.org/2000/svg}title").text] = (cx - rx, cy - ry, cx + rx, cy + ry)
                continue
            pts = [tuple(map(float, p)) for p in re.findall(r"(-?[\d.]+),(-?[\d.]+)", shape.get("d") or shape.get("points"))]
            out[g.find("{http://www.w3.org/2000/svg}title").text] = (
                min(p[0] for p in pts), min(p[1] for p in pts), max(p[0] for p in pts), max(p[1] for p in pts))
    return out


def test_the_units_picture_runs_left_to_right_at_one_height_with_h0_in_step_0_and_the_loss_after():
    net, batch, tape = _lecture_tape(bits=2)
    d = viz.draw(tape, detail="units")
    svg = d.svg()
    boxes = sorted(_node_boxes(svg, "step&#45;box").items() or _node_boxes(svg, "step-box").items(),
                   key=lambda kv: int(kv[0][len("box_step"):]))
    assert [k for k, _ in boxes] == [f"box_step{s}" for s in range(5)]
    for (_, a), (_, b) in zip(boxes, boxes[1:]):
        assert a[2] < b[0] and abs(a[1] - b[1]) < 1 and abs(a[3] - b[3]) < 1   # in a row, one height
    src = d.source
    ids = dict(re.findall(r'\n  (u\d+) \[label="\d+", [^\n]*tooltip="([^"\\]+)', src))
    units = _node_boxes(svg, "unit")
    centre = {ids[k]: ((v[0] + v[2]) / 2, (v[1] + v[3]) / 2) for k, v in units.items() if k in ids}
    step0 = boxes[0][1]
    assert all(step0[0] < centre[f"h0[{k}]"][0] < step0[2] for k in range(3))      # h0 in step 0
    for t in range(1, 5):   # h_{t-1}[k] -> h_t[k] runs level from one box into the next
        assert centre[f"h_{t - 1}[1]"][1] == pytest.approx(centre[f"h_{t}[1]"][1])
        assert boxes[t - 1][1][0] < centre[f"h_{t - 1}[1]"][0] < boxes[t - 1][1][2] < boxes[t][1][0] < centre[f"h_{t}[1]"][0]
    loss_x = float(re.search(r'loss_node \[[^\n]*pos="([\d.]+),', src).group(1)) * 72
    assert loss_x > boxes[-1][1][2]                                                   # the loss after the last step


# --- 4-6. units, sizes, labels ------------------------------------------------------------------

def test_auto_picks_units_for_a_small_net_and_says_so_and_an_explicit_detail_wins():
    net, batch, tape = _lecture_tape(bits=2)
    d = viz.draw(tape, size=None)
    assert "detail: units" in d.caption and d.engine == "neato"
    assert d.source.count('class="unit"') == 2 * 4 + 5 * 3 + 5 * 1 + 3   # x_{t-1} from step 1, h0
    ops = viz.draw(tape, detail="ops")
    assert "detail" not in ops.caption.split("\n")[0] and 'class="unit"' not in ops.source
    big = models.ElmanRNN(2, 16, 1, seed=0)
    tape2, _ = _recorded(big, np.zeros((3, 1, 2)))
    assert "one node per module call" in viz.draw(tape2, size=None).caption   # 16 units a step: modules


def test_the_units_picture_labels_every_connection_the_same_way_in_every_step():
    net, batch, tape = _lecture_tape(bits=2)
    src = viz.draw(tape, detail="units", size=None).source
    for name, count in (("W_hh", 9 * 5), ("W_hy", 3 * 5), ("W_xh", 6 * 4)):
        labels = re.findall(rf'label="({name}\[\d,\d\])"', src)
        assert len(labels) == count, name
        assert len(set(labels)) == count // (5 if name != "W_xh" else 4)
    assert "step 0" in src and "h0" in src and "x_0" in src and "y_4" in src
    rolled = viz.draw(tape, detail="units", view="rolled", size=None).source
    assert rolled.count('class="unit"') == 2 + 3 + 1   # each unit once, h0 folded into h


@pytest.mark.parametrize("size", ["slide", "page", (8.0, 4.5)])
def test_a_size_fits_its_box_with_readable_text(size):
    net, batch, tape = _lecture_tape(bits=6)
    box = viz.dot.parse_size(size)
    for detail in ("units", "ops"):
        d = viz.draw(tape, detail=detail, size=size)
        svg = d.svg()
        w_pt, h_pt = (float(v) for v in re.search(r'width="([\d.]+)pt" height="([\d.]+)pt"', svg).groups())
        assert w_pt <= box.width * 72 + 1 and h_pt <= box.height * 72 + 1
        assert "showing step" in d.caption   # 9 steps do not fit: a window, said in the caption
        # on the slide (the drawing at its size on a 16:9 page shown 1280 px wide) the smallest
        # text is 12 px, or the caption says it could not be
        if size == "slide" and "does not fit" not in d.caption:
            assert smallest_text_px(svg, 1280, box=box) >= 12, detail
    if size == "slide":   # the lecture net's units picture does fit
        d = viz.draw(tape, detail="units", size=size)
        assert "does not fit" not in d.caption and smallest_text_px(d.svg(), 1280, box=box) >= 12


def test_a_use_outside_the_steps_is_drawn_and_counted():
    net, batch = _lecture_net(bits=2)
    with am.Tape(keep_grads=True) as tape:
        loss = models.sequence_loss(net(batch.x), batch) + 0.5 * am.sum(net["W_hh"] * net["W_hh"])  # decay
    loss.backward()
    src = viz.draw(tape, detail="ops", size=None).source
    G = viz.to_networkx(tape)
    total = G.nodes[_weight(G, "W_hh")]["grad_norm"]
    assert total == pytest.approx(np.linalg.norm(net["W_hh"].grad), rel=1e-12)
    terms = _printed_terms(src, "W_hh")
    assert len(terms) == 4 + 1 and "not in a step" in src   # steps 0-3 (step 4 sends none) and the decay
    assert sum(terms) == pytest.approx(total, abs=len(terms) * 10 ** -fixed_decimals(total))


def test_sizes_and_fonts_are_checked():
    W = am.Parameter(np.ones((1, 1)), name="W")
    loss = am.sum(np.ones((1, 1)) @ W)
    with pytest.raises(ValueError, match="size must be"):
        viz.draw(loss, size="poster")
    with pytest.raises(ValueError, match="fontsize"):
        viz.draw(loss, fontsize=200)
    big = viz.draw(loss, detail="ops", size=None, fontsize=20).source
    assert "fontsize=20" in big


def test_labels_have_meaning():
    net, batch, tape = _lecture_tape(bits=2)
    G = viz.to_networkx(tape)
    labels = {d["label"] for _, d in G.nodes(data=True)}
    assert {"h0", "x_0", "targets", "target mask", "@ W_hh", "@ W_xh"} <= labels
    assert any(lab.startswith("h_2 = ") for lab in labels) and any(lab.startswith("loss = ") for lab in labels)
    assert not any(lab.startswith("constant") or lab.startswith("tensor (") for lab in labels)
    lstm = models.LSTM(2, 3, 1, seed=0)
    tape2, _ = _recorded(lstm, np.zeros((3, 1, 2)))
    labels = {d["label"] for _, d in viz.to_networkx(tape2).nodes(data=True)}
    assert {"h0", "c0", "x_0"} <= labels   # step 0 concatenates two constants: recorded, for their names
    for gate in ("write", "keep", "read", "candidate", "c"):
        assert any(lab.startswith(f"{gate}_1 = ") for lab in labels), gate
    R = views.rolled(viz.to_networkx(tape2))
    rolled_labels = [d["label"] for _, d in R.nodes(data=True)]
    assert rolled_labels.count("keep_t = sigmoid") == 1 and rolled_labels.count("h_t = multiply") == 1


# --- the rest: scale, escaping, renderers, errors ---------------------------------------------

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
    src = viz.draw(tape, labels=True, size=None).source
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


def test_graph_is_written_for_other_tools(tmp_path, elman_tape):
    _, tape = elman_tape
    G = viz.to_networkx(tape)
    H = nx.read_graphml(viz.save_graph(G, tmp_path / "g.graphml"))
    assert H.number_of_nodes() == G.number_of_nodes() and H.number_of_edges() == G.number_of_edges()
    data = json.loads(viz.save_graph(G, tmp_path / "g.json").read_text())
    assert len(data["nodes"]) == G.number_of_nodes() and len(data["links"]) == G.number_of_edges()
    assert any("contribution" in link for link in data["links"])
    dot = viz.save_graph(G, tmp_path / "g.dot").read_text()
    assert dot.startswith("digraph") and dot.count("->") == G.number_of_edges()
    with pytest.raises(ValueError, match="unknown format"):
        viz.save_graph(G, tmp_path / "g.xyz")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        viz.save_graph(G, tmp_path / "missing" / "g.json")


def test_embedded_renderer_makes_svg_and_refuses_png_with_a_hint():
    svg = render("digraph { a -> b }", "svg", prefer="embedded")
    ET.fromstring(svg)
    with pytest.raises(RenderError):
        render("digraph { a -> b }", "png", prefer="embedded")
    assert render("digraph { a -> b }", "svg", prefer="embedded").startswith(b"<?xml")  # still healthy


@pytest.mark.skipif(shutil.which("dot") is None, reason="the system Graphviz is not installed here (CI installs it)")
def test_system_renderer_draws_both_layouts(tmp_path, elman_tape):
    _, tape = elman_tape
    for detail in ("ops", "units"):
        d = viz.draw(tape, detail=detail)
        ET.fromstring(render(d.source, "svg", engine=d.engine, prefer="system"))


def test_draw_refuses_what_it_cannot_draw():
    with pytest.raises(ValueError, match="recorded nothing"):
        viz.draw(am.Tape(keep_grads=True))
    with pytest.raises(ValueError, match="view"):
        viz.draw(nx.DiGraph(), view="sideways")
    with pytest.raises(ValueError, match="detail"):
        viz.draw(am.Tape(), detail="atoms")
    with pytest.raises(TypeError, match="expected an autograd_mini.Tape, a Tensor"):
        viz.draw(np.ones(3))
    with pytest.raises(ValueError, match="selects none"):
        net = models.ElmanRNN(2, 3, 1, seed=0)
        tape, _ = _recorded(net, np.zeros((4, 1, 2)))
        viz.draw(tape, detail="ops", steps=(50, 60))


def test_module_detail_and_a_window_still_count_every_use():
    net = models.ElmanRNN(2, 3, 1, seed=0)
    tape, _ = _recorded(net, np.zeros((30, 1, 2)))
    d = viz.draw(tape, detail="modules", steps=2, size=None)
    assert len(_svg_clusters(d.svg())) == 4
    assert d.source.count("used by 30 steps") == 5  # W_xh, W_hh, b_h, W_hy, b_y, though 4 steps are drawn
    assert "showing steps 0-1 and 28-29 of 30" in d.caption


def test_a_long_unroll_is_drawn_by_default_within_seconds():
    import time

    net = models.ElmanRNN(2, 3, 1, seed=0)
    tape, _ = _recorded(net, np.zeros((300, 1, 2)))
    t0 = time.perf_counter()
    d = viz.draw(tape)
    ET.fromstring(d.svg())
    assert "showing steps" in d.caption
    assert time.perf_counter() - t0 < 30   # generous: bench_viz.py reports the real figure


def test_the_units_picture_says_why_no_gradient_is_shown_and_what_it_could_not_trace():
    net, batch = _lecture_net(bits=2)
    loss = models.sequence_loss(net(batch.x), batch)
    assert "no gradients shown" in viz.draw(loss).caption          # a tensor: structure only
    with am.Tape(keep_grads=True) as tape:
        loss = models.sequence_loss(net(batch.x), batch)
    assert "call backward()" in viz.draw(tape, detail="units").caption
    # a matmul of a weight whose left operand is no tagged layer: said, not silently left out
    W = am.Parameter(np.ones((2, 2)), name="W")
    with am.Tape(keep_grads=True) as tape2:
        h = am.tag(np.ones((1, 2)), "x", 0)
        with am.scope("net", step=0):
            y = am.tag(am.tanh(h @ W), "y", 0)
            z = am.tanh(am.tanh(y) @ W)                               # untagged input
        loss2 = am.sum(z) + am.sum(y)
    loss2.backward()
    assert "not drawn" in viz.draw(tape2, detail="units").caption


def test_the_units_loss_is_the_loss_not_the_last_op():
    net, batch = _lecture_net(bits=2)
    with am.Tape(keep_grads=True) as tape:
        out = net(batch.x)
        loss = models.sequence_loss(out, batch)
        probs = am.sigmoid(out)                                       # after the loss, on the tape
    loss.backward()
    U = viz.to_networkx(tape, detail="units")
    assert U.nodes["loss"]["value"] == pytest.approx(float(loss.value))
    assert probs.shape == out.shape


def test_every_models_layers_are_traced():
    ff = models.FeedForward(n_in=1, k=3, hidden=(4,), seed=0)
    with am.Tape(keep_grads=True) as tape:
        loss = am.sum(ff(np.zeros((3, 1, 1))))
    loss.backward()
    U = viz.to_networkx(tape, detail="units")
    assert not U.graph["untraced"] and {"x", "h1", "y"} <= set(U.graph["layers"])
    net = models.ElmanRNN(3, 3, 1, input_mode="initial_all", seed=0)
    with am.Tape(keep_grads=True) as tape:
        loss = am.sum(net(np.ones((2, 3)), steps=4))
    loss.backward()
    U = viz.to_networkx(tape, detail="units")
    assert not U.graph["untraced"]
    total = np.zeros((3, 3))
    for _, _, d in U.edges(data=True):
        if d.get("weight") == "W_hh":
            total[d["i"], d["j"]] += d["grad"]
    np.testing.assert_allclose(total, net["W_hh"].grad, atol=1e-12)


def test_a_tape_whose_backward_made_a_graph_is_still_drawn():
    W = am.Parameter(np.eye(2) * 0.5, name="W")
    with am.Tape(keep_grads=True) as tape:
        h = np.ones((1, 2))
        for t in range(2):
            with am.scope("rnn", step=t):
                h = am.tanh(h @ W)
        loss = am.sum(h)
    (g,) = am.gradients(loss, [W], create_graph=True)
    G = viz.to_networkx(tape)
    assert G.nodes[_weight(G, "W")]["grad_norm"] == pytest.approx(np.linalg.norm(g.value), rel=1e-12)
    viz.draw(tape, detail="ops", size=None).svg()
