"""viz.units: the unrolled net as units (a node per unit per step) and connections W[i, j]."""
from collections import Counter, defaultdict

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autograd_mini as am
import models
from viz.units import rolled_units, units_graph


# --- helpers --------------------------------------------------------------------------------------

def adder_batch(batch_size=4, bits=6, seed=0):
    return models.tasks.BinaryAddition(bits=bits, delay=2).sample(seed, batch_size=batch_size)


def record(net, batch, keep_grads=True, backward=True, source="tape"):
    """The units graph of one forward (and backward) pass of ``net`` on ``batch``."""
    with am.Tape(keep_grads=keep_grads) as tape:
        loss = models.sequence_loss(net(batch.x), batch)
    if backward:
        loss.backward()
    return units_graph(am.graph_of(tape if source == "tape" else loss))


def edges(U, kind="connection", step=None):
    return [(u, v, d) for u, v, d in U.edges(data=True)
            if d["kind"] == kind and (step is None or d["step"] == step)]


def labels_by_step(U):
    out = defaultdict(set)
    for _, _, d in edges(U):
        out[d["step"]].add((d["weight"], d["i"], d["j"]))
    return out


def structure(U):
    """Nodes and edges without the numbers (values and gradients)."""
    nodes = {n: tuple(sorted((k, v) for k, v in d.items() if k != "value")) for n, d in U.nodes(data=True)}
    links = {(u, v): tuple(sorted((k, v) for k, v in d.items() if k not in ("value", "grad"))) for u, v, d in U.edges(data=True)}
    return nodes, links


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def numpy_bptt(net, batch):
    """Backpropagation through time for the Elman net, by hand in numpy, from its weights.

    Returns each weight's gradient per step ({name: {step: array}}) and dLoss/dy_t per step,
    for the loss models.sequence_loss computes (masked mean cross-entropy of logit outputs).
    """
    W_xh, W_hh, b_h = (net[k].value for k in ("W_xh", "W_hh", "b_h"))
    W_hy, b_y = net["W_hy"].value, net["b_y"].value
    X, Y, M = batch.x, batch.y, batch.mask
    T, B, _ = X.shape
    sync = net.timing == "synchronous"
    hs = [np.full((B, net.n_hidden), float(net.h0))]   # hs[t + 1] is h_t, hs[0] the initial state
    ys = []
    for t in range(T):
        prev = hs[-1]
        z = prev @ W_hh + b_h
        if sync:                       # every unit reads the previous step's activities
            if t > 0:
                z = z + X[t - 1] @ W_xh
            ys.append(prev @ W_hy + b_y)
            hs.append(sigmoid(z))
        else:
            hs.append(sigmoid(z + X[t] @ W_xh))
            ys.append(hs[-1] @ W_hy + b_y)
    dy = [M[t] * (sigmoid(ys[t]) - Y[t]) / M.sum() for t in range(T)]
    grads = {"W_xh": {}, "W_hh": {}, "W_hy": {}}
    from_later = np.zeros_like(hs[0])   # dLoss/dh_t through the steps after t
    for t in reversed(range(T)):
        prev, h = hs[t], hs[t + 1]
        if sync:
            dz = from_later * h * (1 - h)
            grads["W_hy"][t] = prev.T @ dy[t]
            if t > 0:
                grads["W_xh"][t] = X[t - 1].T @ dz
            from_later = dz @ W_hh.T + dy[t] @ W_hy.T
        else:
            grads["W_hy"][t] = h.T @ dy[t]
            dz = (from_later + dy[t] @ W_hy.T) * h * (1 - h)
            grads["W_xh"][t] = X[t].T @ dz
            from_later = dz @ W_hh.T
        grads["W_hh"][t] = prev.T @ dz
    return grads, dy


# --- the lecture's binary adder -------------------------------------------------------------------

def test_synchronous_adder_step_0_has_only_the_initial_states_connections():
    U = record(models.ElmanRNN(2, 3, 1, timing="synchronous"), adder_batch())
    step0 = edges(U, step=0)
    assert Counter(d["weight"] for _, _, d in step0) == {"W_hh": 9, "W_hy": 3}
    assert {u.split(":")[0] for u, _, _ in step0} == {"h0"}          # both read h0, not x
    assert {v.split(":")[0] for _, v, d in step0 if d["weight"] == "W_hh"} == {"h_0"}
    assert {v for _, v, d in step0 if d["weight"] == "W_hy"} == {"y_0:0"}
    by_step = labels_by_step(U)
    assert U.graph["steps"] == list(range(9))
    full = {(w, i, j) for w, rows, cols in (("W_xh", 2, 3), ("W_hh", 3, 3), ("W_hy", 3, 1))
            for i in range(rows) for j in range(cols)}
    for t in range(1, 9):
        assert by_step[t] == full and len(edges(U, step=t)) == 18
    assert by_step[0] == {k for k in full if k[0] != "W_xh"}


def test_synchronous_adder_reads_the_previous_input_in_each_step():
    U = record(models.ElmanRNN(2, 3, 1, timing="synchronous"), adder_batch())
    for u, v, d in edges(U):
        if d["weight"] == "W_xh":
            t = d["step"]
            assert u == f"x_{t - 1}:{d['i']}" and v == f"h_{t}:{d['j']}"
            assert U.nodes[u]["step"] == t and not U.nodes[u]["initial"]   # x_{t-1} stands in step t
        assert d["label"] == f"{d['weight']}[{d['i']},{d['j']}]"
    h0 = U.nodes["h0:2"]
    assert h0["initial"] and h0["step"] == 0 and h0["index"] is None and h0["value"] == 0.5
    assert U.graph["layers"] == ["h0", "x", "h", "y"]
    assert U.graph["weights"] == ["W_hh", "W_hy", "W_xh"]


def test_usual_timing_has_every_connection_from_step_0():
    net = models.ElmanRNN(2, 3, 1)
    assert net.timing == "usual"
    U = record(net, adder_batch())
    assert [len(edges(U, step=t)) for t in U.graph["steps"]] == [18] * 9
    assert len(set(map(frozenset, labels_by_step(U).values()))) == 1   # the same labels every step


def test_units_carry_the_layer_values_and_connections_the_weights():
    net = models.ElmanRNN(2, 3, 1)
    U = record(net, adder_batch())
    for t, h in enumerate(net.hidden_states):
        for k in range(3):
            d = U.nodes[f"h_{t}:{k}"]
            assert (d["kind"], d["layer"], d["index"], d["unit"], d["step"]) == ("unit", "h", t, k, t)
            assert d["value"] == pytest.approx(h.value[:, k].mean(), abs=1e-15)
            assert d["label"] == f"h_{t}[{k}]"
    for _, _, d in edges(U):
        assert d["value"] == net[d["weight"]].value[d["i"], d["j"]]


@settings(deadline=None)
@given(seed=st.integers(0, 10_000), batch_size=st.integers(1, 4), bits=st.integers(1, 6),
       timing=st.sampled_from(["synchronous", "usual"]))
def test_connection_grads_are_the_hand_written_bptt_per_step(seed, batch_size, bits, timing):
    net = models.ElmanRNN(2, 3, 1, timing=timing, seed=seed)
    batch = adder_batch(batch_size, bits, seed)
    U = record(net, batch)
    assert U.graph["grads_kept"]
    grads, dy = numpy_bptt(net, batch)
    totals = defaultdict(float)
    for _, _, d in edges(U):
        expected = grads[d["weight"]][d["step"]][d["i"], d["j"]]
        assert abs(d["grad"] - expected) <= 1e-10
        totals[d["weight"], d["i"], d["j"]] += d["grad"]
    for name in ("W_xh", "W_hh", "W_hy"):
        G = net[name].grad
        for (i, j), g in np.ndenumerate(G):
            assert abs(totals[name, i, j] - g) <= 1e-10          # the sum over steps is .grad
    for u, v, d in edges(U, "to_loss"):
        assert u == f"y_{d['step']}:0" and v == "loss"
        assert abs(d["grad"] - dy[d["step"]].sum()) <= 1e-10


# --- the LSTM -------------------------------------------------------------------------------------

LSTM_GATES = ("write", "keep", "read", "candidate")


def lstm_graph(steps=5):
    net = models.LSTM(2, 3, 1)
    batch = adder_batch(bits=steps - 3)
    return net, record(net, batch)


def test_lstm_has_unit_nodes_for_every_layer_of_every_step():
    net, U = lstm_graph()
    layers = defaultdict(set)
    for _, d in U.nodes(data=True):
        if d["kind"] == "unit":
            layers[d["step"]].add(d["layer"])
    every = {"x", *LSTM_GATES, "c", "h", "y"}
    assert layers[0] == every | {"h0", "c0"}
    assert all(layers[t] == every for t in range(1, 5))
    widths = Counter(d["tag"] for _, d in U.nodes(data=True) if d["kind"] == "unit")
    assert widths["x_3"] == 2 and widths["keep_3"] == widths["c0"] == widths["h0"] == 3 and widths["y_3"] == 1
    assert U.nodes["c0:1"]["initial"]
    # Step 0 multiplies concatenate([x_0, h0]), an op on two constants: the engine records it
    # because they are tagged, so its rows are traced, not inferred.
    assert U.nodes["h0:0"]["initial"] and U.nodes["x_0:1"]["step"] == 0
    assert U.nodes["x_0:1"]["value"] == pytest.approx(adder_batch(bits=2).x[0, :, 1].mean())
    # data-flow order; between layers on the same level, the one the graph reaches first
    assert U.graph["layers"] == ["h0", "x", "write", "keep", "read", "candidate", "c0", "c", "h", "y"]


def test_lstm_W_rows_come_from_x_and_the_previous_h_and_columns_go_to_the_gates():
    net, U = lstm_graph()
    for t in range(5):
        got = {(u, v, d["label"]) for u, v, d in edges(U, step=t) if d["weight"] == "W"}
        previous = "h0" if t == 0 else f"h_{t - 1}"
        expected = set()
        for i in range(5):
            source = f"x_{t}:{i}" if i < 2 else f"{previous}:{i - 2}"
            for j in range(12):
                expected.add((source, f"{LSTM_GATES[j // 3]}_{t}:{j % 3}", f"W[{i},{j}]"))
        assert got == expected
        assert {(u, v) for u, v, d in edges(U, step=t) if d["weight"] == "W_hy"} == {(f"h_{t}:{k}", f"y_{t}:0") for k in range(3)}
    totals = defaultdict(float)
    for _, _, d in edges(U):
        totals[d["weight"], d["i"], d["j"]] += d["grad"]
    for (i, j), g in np.ndenumerate(net["W"].grad):              # step 0 included
        assert abs(totals["W", i, j] - g) <= 1e-12


def test_lstm_cell_is_joined_by_elementwise_edges():
    net, U = lstm_graph()
    got = {(u, v) for u, v, _ in edges(U, "elementwise")}
    expected = set()
    for t in range(5):
        for k in range(3):
            c_before = "c0" if t == 0 else f"c_{t - 1}"
            for source in ("keep", "write", "candidate"):
                expected.add((f"{source}_{t}:{k}", f"c_{t}:{k}"))
            expected |= {(f"{c_before}:{k}", f"c_{t}:{k}"), (f"c_{t}:{k}", f"h_{t}:{k}"), (f"read_{t}:{k}", f"h_{t}:{k}")}
    assert got == expected
    # What the carousel carries back: c_{t-1} gets dLoss/dc_t * keep_t along c_{t-1} -> c_t.
    for t in range(1, 5):
        keep = net.gates[t]["keep"].value
        for k in range(3):
            flow = U.edges[f"c_{t - 1}:{k}", f"c_{t}:{k}"]
            assert flow["grad"] == pytest.approx((net.cell_states[t].grad * keep)[:, k].sum(), abs=1e-14)
    units = U.subgraph(n for n, d in U.nodes(data=True) if d["kind"] == "unit")
    assert nx.is_weakly_connected(units)


# --- masked inputs, other sources -----------------------------------------------------------------

@settings(deadline=None)
@given(units=st.sets(st.integers(0, 2), min_size=1, max_size=3), source=st.sampled_from(["tape", "loss"]))
def test_a_masked_input_weight_draws_only_the_connections_that_exist(units, source):
    net = models.ElmanRNN(2, 3, 1, input_units=sorted(units))
    U = record(net, adder_batch(), source=source)
    assert "W_xh" in U.graph["weights"]
    mask = np.zeros(3)
    mask[list(units)] = 1.0
    for t in U.graph["steps"]:
        drawn = {(d["i"], d["j"]) for _, _, d in edges(U, step=t) if d["weight"] == "W_xh"}
        assert drawn == {(i, j) for i in range(2) for j in units}
    for _, _, d in edges(U):
        if d["weight"] == "W_xh":       # the effective value W_xh * mask, recomputed if freed
            assert d["value"] == net["W_xh"].value[d["i"], d["j"]] * mask[d["j"]]
    if source == "tape":
        totals = defaultdict(float)
        for _, _, d in edges(U):
            totals[d["weight"], d["i"], d["j"]] += d["grad"]
        for (i, j), g in np.ndenumerate(net["W_xh"].grad):
            assert abs(totals["W_xh", i, j] - g) <= 1e-12       # masked columns: 0 both ways


@pytest.mark.parametrize("timing", ["synchronous", "usual"])
def test_without_kept_gradients_the_structure_is_the_same_and_grads_are_none(timing):
    net = models.ElmanRNN(2, 3, 1, timing=timing)
    kept = record(net, adder_batch())
    variants = {"no keep_grads": record(net, adder_batch(), keep_grads=False),
                "before backward": record(net, adder_batch(), backward=False),
                "graph_of(loss)": record(net, adder_batch(), source="loss")}
    assert kept.graph["grads_kept"]
    for name, U in variants.items():
        assert U.graph["grads_kept"] is False, name
        assert all(d["grad"] is None for _, _, d in U.edges(data=True)), name
        assert U.graph["layers"] == kept.graph["layers"] and U.graph["weights"] == kept.graph["weights"]
        if name == "graph_of(loss)" and timing == "synchronous":
            # graph_of(loss) holds only what made the loss: the last step's h_8 (and the x_7 it
            # reads) feeds nothing in the synchronous net. The tape has them, with no gradient.
            nodes, links = structure(kept)
            gone = {n for n in nodes if n.startswith(("h_8:", "x_7:"))}
            assert all(d["grad"] == 0.0 for u, v, d in kept.edges(data=True) if u in gone or v in gone)
            nodes = {n: d for n, d in nodes.items() if n not in gone}
            links = {e: d for e, d in links.items() if not set(e) & gone}
            assert structure(U) == (nodes, links)
        else:
            assert structure(U) == structure(kept), name


def test_a_learned_initial_state_is_an_initial_layer_read_at_step_0():
    net = models.ElmanRNN(2, 3, 1, h0="learned")
    U = record(net, adder_batch())
    assert U.nodes["h0:1"]["initial"] and U.nodes["h0:1"]["step"] == 0
    assert {v for u, v, _ in edges(U) if u == "h0:1"} == {f"h_0:{j}" for j in range(3)}
    assert rolled_units(U).graph["folded"] == {"h0": "h"}


def test_a_tensor_is_accepted_and_a_tagged_root_is_a_layer_not_a_loss():
    net = models.ElmanRNN(2, 3, 1)
    record(net, adder_batch())
    U = units_graph(net.hidden_states[-1])                   # graph_of(h_8): no loss above it
    assert "loss" not in U and {d["layer"] for _, d in U.nodes(data=True)} == {"h0", "x", "h"}
    assert len(edges(U, step=8)) == 6 + 9 and U.graph["weights"] == ["W_hh", "W_xh"]


def test_weights_whose_units_are_not_tagged_are_listed_as_untraced():
    W1, W_out = am.Parameter(np.ones((1, 3)), name="ff.W1"), am.Parameter(np.ones((3, 1)), name="ff.W_out")
    with am.Tape() as tape:
        for t in range(4):
            with am.scope("ff", step=t):
                hidden = am.tanh(am.tag(np.full((1, 1), float(t)), "x", t) @ W1)   # not tagged
                am.tag(hidden @ W_out, "y", t)
    U = units_graph(am.graph_of(tape))
    why = U.graph["untraced"]
    assert len(why) == 2 * 4                                 # W1 and W_out, in each of the 4 steps
    assert sum(w.startswith("W1 at step") and "output reaches no tagged tensor" in w for w in why) == 4
    assert sum(w.startswith("W_out at step") and "left operand is not a tagged tensor" in w for w in why) == 4
    assert {d["layer"] for _, d in U.nodes(data=True) if d["kind"] == "unit"} == {"x", "y"}
    net = models.FeedForward(n_in=1, k=2, hidden=3)          # the model tags its hidden layers
    with am.Tape() as tape:
        net(np.arange(4.0)[:, None, None]).sum()
    assert not units_graph(am.graph_of(tape)).graph["untraced"]


def test_memoryless_models_draw_their_taps():
    net = models.Autoregressive(n_in=1, k=3)
    x = np.arange(6.0)[:, None, None]
    with am.Tape(keep_grads=True) as tape:
        (net(x) ** 2).sum().backward()
    U = units_graph(am.graph_of(tape))
    assert U.graph["layers"] == ["x", "y"] and U.graph["weights"] == ["W"]
    assert [len(edges(U, step=t)) for t in range(6)] == [3] * 6


# --- generic: any net the tags and matmuls describe -----------------------------------------------

@settings(deadline=None)
@given(n_x=st.integers(1, 3), n_h=st.integers(1, 3), gates=st.integers(1, 3), steps=st.integers(2, 4),
       learned=st.booleans())
def test_any_concatenated_and_sliced_net_is_traced(n_x, n_h, gates, steps, learned):
    """z = [x_t, h] @ W cut into gates along the columns, h_t = the sum of the gates. Step 0's
    concatenate is recorded with a learned initial state and with a tagged constant one alike:
    the drawn connections are the same either way."""
    rng = np.random.default_rng(n_x + 10 * n_h + 100 * gates)
    W = am.Parameter(rng.normal(size=(n_x + n_h, gates * n_h)), name="net.W")
    with am.Tape(keep_grads=True) as tape:
        if learned:
            h = am.tag(am.broadcast_to(am.Parameter(np.zeros(n_h), name="net.h0"), (2, n_h)), "h0")
        else:
            h = am.tag(np.zeros((2, n_h)), "h0")
        for t in range(steps):
            with am.scope("net", step=t):
                z = am.concatenate([am.tag(rng.normal(size=(2, n_x)), "x", t), h], axis=1) @ W
                parts = [am.tag(am.tanh(z[:, g * n_h:(g + 1) * n_h]), f"g{g}", t) for g in range(gates)]
                total = parts[0]
                for p in parts[1:]:
                    total = total + p
                h = am.tag(total * 1.0, "h", t)
        (h ** 2).sum().backward()
    U = units_graph(am.graph_of(tape))
    for t in range(steps):
        before = "h0" if t == 0 else f"h_{t - 1}"
        expected = {(f"x_{t}:{i}" if i < n_x else f"{before}:{i - n_x}", f"g{j // n_h}_{t}:{j % n_h}", f"W[{i},{j}]")
                    for i in range(n_x + n_h) for j in range(gates * n_h)}
        assert {(u, v, d["label"]) for u, v, d in edges(U, step=t)} == expected
        assert {(u, v) for u, v, _ in edges(U, "elementwise", step=t)} == \
            {(f"g{g}_{t}:{k}", f"h_{t}:{k}") for g in range(gates) for k in range(n_h)}
    totals = defaultdict(float)
    for _, _, d in edges(U):
        totals[d["i"], d["j"]] += d["grad"]
    for (i, j), g in np.ndenumerate(W.grad):
        assert abs(totals[i, j] - g) <= 1e-12


def test_graphs_with_nothing_to_draw_are_refused_clearly():
    W = am.Parameter(np.eye(2), name="W")
    with am.Tape() as plain:
        (np.ones((1, 2)) @ W).sum()
    with pytest.raises(ValueError, match="matmuls of W but no tagged tensor.*am.tag"):
        units_graph(am.graph_of(plain))
    with am.Tape() as neither:
        (W * 2.0).sum()
    with pytest.raises(ValueError, match="no tagged tensor \\(am.tag\\).*and no matmul of a parameter"):
        units_graph(am.graph_of(neither))
    with am.Tape() as loss_side_only:       # tags, but only on the loss's side: no layer either
        (am.tag(W * 2.0, "doubled") - am.tag(np.ones(2), "targets")).sum()
    with pytest.raises(ValueError, match="no tagged tensor \\(am.tag\\) computed in a step"):
        units_graph(am.graph_of(loss_side_only))
    with pytest.raises(ValueError, match="empty"):
        units_graph([])
    with pytest.raises(TypeError, match="graph_of"):
        units_graph([1, 2])
    with pytest.raises(ValueError, match="rolled_units: expected the graph units_graph returns"):
        rolled_units(nx.DiGraph())


# --- the rolled net -------------------------------------------------------------------------------

@pytest.mark.parametrize("timing", ["synchronous", "usual"])
def test_rolled_net_has_each_unit_once_and_W_hh_loops_carry_its_gradient(timing):
    net = models.ElmanRNN(2, 3, 1, timing=timing)
    U = record(net, adder_batch())
    R = rolled_units(U)
    assert set(R.nodes) == {"x:0", "x:1", "h:0", "h:1", "h:2", "y:0", "loss"}
    assert R.graph["folded"] == {"h0": "h"} and R.graph["layers"] == ["x", "h", "y"]
    assert R.graph["rolled"] is True and U.graph["rolled"] is False
    assert Counter(d["weight"] for _, _, d in edges(R)) == {"W_xh": 6, "W_hh": 9, "W_hy": 3}
    for u, v, d in edges(R):
        np.testing.assert_allclose(d["grad"], net[d["weight"]].grad[d["i"], d["j"]], rtol=0, atol=1e-12)
        assert d["recurrent"] is (d["weight"] == "W_hh")
        assert d["uses"] == (8 if (timing, d["weight"]) == ("synchronous", "W_xh") else 9)
        if d["weight"] == "W_hh":
            assert (u, v) == (f"h:{d['i']}", f"h:{d['j']}")
            assert d["delay"] == 1
        else:
            assert d["delay"] == (1 if timing == "synchronous" else 0)   # the lecture's net: a delay on every connection
    for k in range(3):
        assert R.has_edge(f"h:{k}", f"h:{k}")                    # W_hh[k, k] is a loop
        hidden = [s.value[:, k].mean() for s in net.hidden_states]
        assert R.nodes[f"h:{k}"]["value"] == pytest.approx(np.mean(hidden))
        assert R.nodes[f"h:{k}"]["steps"] == 9 and not R.nodes[f"h:{k}"]["initial"]


def test_rolled_lstm_folds_both_initial_states_and_loops_the_cell():
    net, U = lstm_graph()
    R = rolled_units(U)
    assert R.graph["folded"] == {"h0": "h", "c0": "c"}
    assert not any(d.get("initial") for _, d in R.nodes(data=True))
    assert len(edges(R)) == 5 * 12 + 3
    for u, v, d in edges(R):
        assert abs(d["grad"] - net[d["weight"]].grad[d["i"], d["j"]]) <= 1e-12
    loops = [(u, v) for u, v, d in edges(R, "elementwise") if d["recurrent"]]
    assert sorted(loops) == [(f"c:{k}", f"c:{k}") for k in range(3)]
    assert R.edges["c:0", "c:0"]["uses"] == 5       # c_{t-1} -> c_t for t = 1..4, and c0 -> c_0 folded in
    assert R.edges["c:0", "c:0"]["grad"] == pytest.approx(
        sum(U.edges[a, b]["grad"] for a, b in [("c0:0", "c_0:0")] + [(f"c_{t - 1}:0", f"c_{t}:0") for t in range(1, 5)]))


def test_rolled_keeps_an_initial_layer_whose_role_cannot_be_told():
    W = am.Parameter(np.ones((2, 2)), name="W")
    with am.Tape(keep_grads=True) as tape:
        with am.scope("net", step=0):
            y = am.tag(am.tag(np.ones((1, 2)), "context") @ W, "y", 0)
        y.sum().backward()
    R = rolled_units(units_graph(am.graph_of(tape)))
    assert R.graph["folded"] == {}
    assert R.nodes["context:0"]["initial"] and len(edges(R)) == 4


# --- speed ----------------------------------------------------------------------------------------

def test_a_200_step_unroll_has_every_steps_connections():
    # Its speed is measured by benchmarks/bench_viz.py, not asserted here (the VM's timing drifts).
    net = models.ElmanRNN(2, 3, 1, timing="synchronous")
    with am.Tape(keep_grads=True) as tape:
        batch = adder_batch(bits=197)
        models.sequence_loss(net(batch.x), batch).backward()
    nodes = am.graph_of(tape)
    U = units_graph(nodes)
    R = rolled_units(U)
    assert len(U.graph["steps"]) == 200 and len(edges(U)) == 12 + 199 * 18 and len(edges(R)) == 18
