"""viz.automaton: the finite-state automaton read off the trained binary-addition net."""
import runpy
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import autograd_mini as am
import models
from models.tasks import BinaryAddition
from viz.automaton import (Automaton, automaton_diagram, cluster_states, extract_automaton, hidden_patterns,
                           transition_table)

ROOT = Path(__file__).resolve().parents[1]
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def net():
    """The lecture's 2-3-1 synchronous net, trained as examples/binary_addition.py trains it."""
    example = runpy.run_path(str(ROOT / "examples" / "binary_addition.py"))
    trained = example["train_lecture_net"](3000, 0, progress=False)
    check = BinaryAddition(bits=8, delay=trained.delay).sample(7, 200)
    with am.no_grad():
        assert models.bit_accuracy(trained(check.x), check) > 0.99, "the fixture net did not learn to add"
    return trained


@pytest.fixture(scope="module")
def batch(net):
    return BinaryAddition(bits=8, delay=net.delay).sample(0, 256)


@pytest.fixture(scope="module")
def auto(net, batch) -> Automaton:
    return extract_automaton(net, batch)


def simulate(table: dict, start: int, outputs, a_bits: np.ndarray, b_bits: np.ndarray) -> np.ndarray:
    """Run the automaton by hand: from the start state, one transition per column (a_j, b_j), and
    the output bit of the state reached. Columns: the bits, then one zero column for the carry."""
    n, bits = a_bits.shape
    out = np.zeros((n, bits + 1), dtype=int)
    for i in range(n):
        s = start
        for j in range(bits + 1):
            pair = (int(a_bits[i, j]), int(b_bits[i, j])) if j < bits else (0, 0)
            s = table[(s, pair)][0]
            out[i, j] = outputs[s]
    return out


def test_few_states_and_deterministic(auto):
    assert 2 <= auto.n_states <= 8
    assert auto.transitions.deterministic and auto.transitions.agreement >= 0.99
    assert auto.output_agreement == 1.0  # every visited hidden vector reads out its state's bit
    assert auto.clustering.radius < 0.1
    # every state has a move for every input pair
    pairs = [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert {(s, p) for s in range(auto.n_states) for p in pairs} == set(auto.transitions)
    assert set(auto.outputs.tolist()) == {0, 1}


def test_automaton_reproduces_the_net_on_fresh_16_bit_sums(net, auto):
    rng = np.random.default_rng(2024)
    a = rng.integers(0, 2, size=(300, 16))
    b = rng.integers(0, 2, size=(300, 16))
    fresh = BinaryAddition(bits=16, delay=net.delay).from_bits(a, b)
    with am.no_grad():
        logits = net(fresh.x).value[:, :, 0]
    net_bits = (logits[net.delay:] > 0).astype(int).T  # (300, 17): the sum bits the net says
    sim = simulate(dict(auto.transitions), auto.start, auto.outputs, a, b)
    agreement = float(np.mean(sim == net_bits))
    assert agreement >= 0.99, agreement
    assert agreement == 1.0  # in fact exactly, for this net
    truth = fresh.y[net.delay:, :, 0].T.astype(int)
    assert np.array_equal(sim, truth)  # and both add correctly
    # Automaton.run agrees with the hand simulation
    assert np.array_equal(auto.run(fresh.x[:17]).T, sim)


def test_hidden_patterns_align_states_and_inputs(net, batch):
    p = hidden_patterns(net, batch)
    steps = batch.x.shape[0]
    assert p.states.shape == (steps, 256, 3) and p.inputs.shape == (steps - 1, 256, 2)
    W_xh, W_hh, b_h = (net[k].value for k in ("W_xh", "W_hh", "b_h"))
    again = 1 / (1 + np.exp(-(p.states[:-1] @ W_hh + b_h + p.inputs @ W_xh)))
    assert np.allclose(again, p.states[1:])  # inputs[j] drives states[j] -> states[j + 1]
    h0 = np.full(3, 0.5)
    assert np.allclose(p.states[0], 1 / (1 + np.exp(-(h0 @ W_hh + b_h))))  # the start: one input-free step from h0
    # the output at step t reads the state of step t - 1
    with am.no_grad():
        out = net(batch.x).value[1:, :, 0]
    assert np.allclose(out, p.logits[:-1])  # the last state is never read out


def test_hidden_patterns_usual_timing():
    net = models.ElmanRNN(2, 3, 1, seed=0)
    x = np.random.default_rng(0).integers(0, 2, size=(6, 4, 2)).astype(float)
    p = hidden_patterns(net, x)
    assert p.states.shape == (7, 4, 3) and p.inputs.shape == (6, 4, 2)
    assert np.allclose(p.states[0], 0.5)  # usual timing: the start state is h0 itself


def test_diagram_source_and_svg(net, batch, auto):
    d = automaton_diagram(net, batch, title='sums "a<b>" & carries')
    src = d.source
    assert src.startswith("digraph") and "rankdir=LR" in src
    for s in range(auto.n_states):
        assert f'"s{s}" [label="state {s}\\n' in src
        acts = " ".join(f"{v:.2f}" for v in auto.centroids[s])
        assert acts in src
    assert f'"start" -> "s{auto.start}"' in src
    assert "penwidth=" in src and '"0 1\\n1 0"' in src  # two input pairs grouped on one edge
    root = ET.fromstring(d.svg())
    assert root.tag == SVG + "svg"
    nodes = [g for g in root.iter(SVG + "g") if g.get("class") == "node"]
    assert len(nodes) == auto.n_states + 1  # the states and the start dot
    texts = [t.text for t in root.iter(SVG + "text")]
    assert any(t and t.startswith('sums "a<b>" & carries') for t in texts)
    assert {f"state {s}" for s in range(auto.n_states)} <= set(texts)


def test_kmeans_recovers_separated_blobs():
    rng = np.random.default_rng(1)
    centres = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 1], [1, 1, 0], [0.5, 0.5, 0.5]], dtype=float)
    truth = rng.integers(0, len(centres), size=400)
    vectors = centres[truth] + rng.normal(scale=0.01, size=(400, 3))
    cl = cluster_states(vectors, max_states=8, tol=0.1)
    assert cl.k == 5 and cl.sizes.sum() == 400
    # the same partition, up to the numbering of the clusters
    pairs = set(zip(truth.tolist(), cl.labels.tolist()))
    assert len(pairs) == 5
    for j in range(5):
        assert np.allclose(cl.centroids[cl.labels[truth == j][0]], centres[j], atol=0.01)
    assert cl.labels[0] == 0 and cl.radius < 0.1
    again = cluster_states(vectors, max_states=8, tol=0.1)  # deterministic
    assert np.array_equal(again.labels, cl.labels) and np.array_equal(again.centroids, cl.centroids)
    assert np.array_equal(cl.assign(centres[truth[:10]]), cl.labels[:10])
    with pytest.raises(ValueError, match="do not settle"):
        cluster_states(vectors, max_states=4, tol=0.1)
    assert cluster_states(vectors, max_states=4, tol=2.0).k == 1


def test_transition_table_counts_and_determinism():
    t = transition_table([0, 0, 0, 1], [(0, 1), (0, 1), (1, 1), (0, 0)], [1, 1, 0, 1])
    assert dict(t) == {(0, (0, 1)): (1, 2), (0, (1, 1)): (0, 1), (1, (0, 0)): (1, 1)}
    assert t.deterministic and t.agreement == 1.0
    assert t.states == [0, 1] and t.inputs == [(0, 0), (0, 1), (1, 1)]
    mixed = transition_table([0] * 100, [(1, 0)] * 100, [1] * 98 + [2] * 2)
    assert mixed[(0, (1, 0))] == (1, 98) and mixed.agreement == 0.98 and not mixed.deterministic
    assert mixed.counts[(0, (1, 0))] == {1: 98, 2: 2}
    with pytest.raises(ValueError, match="equally many"):
        transition_table([0, 1], [(0, 0)], [1, 0])
    with pytest.raises(ValueError, match="no transitions"):
        transition_table([], [], [])


def test_bad_input(net, batch):
    with pytest.raises(ValueError, match="ElmanRNN"):
        extract_automaton(models.LSTM(2, 3, 1), batch)
    with pytest.raises(ValueError, match="one logistic output"):
        automaton_diagram(models.ElmanRNN(2, 3, 2, timing="synchronous"), batch)
    with pytest.raises(ValueError, match="input at every step"):
        automaton_diagram(models.ElmanRNN(2, 3, 1, input_mode="initial_all"), batch)
    untrained = models.ElmanRNN(2, 3, 1, timing="synchronous", seed=0)
    with pytest.raises(ValueError, match="not learned the task"):
        automaton_diagram(untrained, batch)
    with pytest.raises(ValueError, match="not learned the task"):
        automaton_diagram(untrained)  # the default batch has targets too
    with pytest.raises(ValueError, match="empty"):
        extract_automaton(net, np.zeros((11, 0, 2)))
    with pytest.raises(ValueError, match="empty"):
        extract_automaton(net, BinaryAddition(bits=8, delay=2).from_bits(np.zeros((0, 8)), np.zeros((0, 8))))
    with pytest.raises(ValueError, match=r"shape \(steps, batch, 2\)"):
        extract_automaton(net, np.zeros((11, 4, 3)))
    with pytest.raises(ValueError, match="non-empty"):
        cluster_states(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="do not settle"):
        extract_automaton(net, batch, tol=0.5, max_states=2)
    with pytest.raises(ValueError, match="do not act as states"):
        extract_automaton(net, batch, tol=0.8)  # so loose that states with different sum bits merge


def test_inputs_without_targets_skip_the_accuracy_check(net, batch, auto):
    bare = extract_automaton(net, batch.x)
    assert bare.n_states == auto.n_states and dict(bare.transitions).keys() == dict(auto.transitions).keys()


def test_a_looser_tol_gives_the_lectures_four_states(net, batch, auto):
    """The start pattern (one step after h0) is 0.28 from the no-carry, sum-1 pattern: tol=0.3
    merges them, leaving carry/no carry x sum bit 0/1, and the automaton still adds."""
    four = extract_automaton(net, batch, tol=0.3)
    assert four.n_states == 4 and four.n_states == auto.n_states - 1
    fresh = BinaryAddition(bits=16, delay=net.delay).sample(11, 200)
    assert np.array_equal(four.run(fresh.x[:17]), fresh.y[net.delay:, :, 0].astype(int))
