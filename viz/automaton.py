"""The finite-state automaton inside a trained binary-addition net.

The lecture's claim: the hidden units of the 2-3-1 binary-addition net settle into a few
distinct patterns of activity, and these act as the states of a finite-state automaton whose
transitions are driven by the input column (a, b) and whose output is the sum bit. This module
checks the claim on a trained :class:`models.ElmanRNN` and draws the automaton:

1. :func:`hidden_patterns` runs the net (no recording) and collects, for every sequence, the
   state before the first input column and the state after each column, with the input pair
   that drove each transition;
2. :func:`cluster_states` groups the visited hidden vectors with a small deterministic k-means,
   taking the smallest number of clusters whose points all lie within ``tol`` of their centroid;
3. :func:`transition_table` counts (state, input pair) -> next state and says whether the
   transitions are deterministic;
4. :func:`extract_automaton` puts these together into an :class:`Automaton` that can be run on
   new numbers (``Automaton.run``) and drawn (``Automaton.diagram``; :func:`automaton_diagram`).

The automaton is a Moore machine: the output of a state is what the output unit says when the
hidden units are in that state, ``sigmoid(W_hy . h + b_y) > 0.5``. With the lecture's
synchronous timing the output at step t reads the hidden state of step t - 1, so the sum bit of
column j is read from the state reached after column j — two steps after the column went in.

>>> import numpy as np
>>> vectors = np.array([[0.0, 0.0], [0.01, 0.0], [1.0, 1.0], [0.99, 1.0]])
>>> cluster_states(vectors, tol=0.1).labels.tolist()
[0, 0, 1, 1]
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

import autograd_mini as am

from .render import Diagram, quote

__all__ = ["HiddenPatterns", "Clustering", "TransitionTable", "Automaton", "hidden_patterns",
           "cluster_states", "transition_table", "extract_automaton", "automaton_diagram"]

DEFAULT_TOL = 0.1  # in units of hidden activity (Euclidean); logistic units live in [0, 1]


# ----------------------------------------------------------------------------------------------
# 1. the hidden states the net visits


@dataclass
class HiddenPatterns:
    """The hidden states of a net run on a batch, aligned with the inputs that drive them.

    ``states`` has shape (columns + 1, batch, n_hidden): ``states[0]`` is the state before the
    first input column is read (the start state), ``states[j + 1]`` the state after column j.
    ``inputs`` has shape (columns, batch, n_in): ``inputs[j]`` drives ``states[j] -> states[j+1]``.
    ``logits`` (columns + 1, batch) is the output unit's net input in each state.
    """

    states: np.ndarray
    inputs: np.ndarray
    logits: np.ndarray

    @property
    def vectors(self) -> np.ndarray:
        """Every visited state, shape (N, n_hidden), start states first."""
        return self.states.reshape(-1, self.states.shape[-1])

    @property
    def prev(self) -> np.ndarray:
        """The state before each transition, shape (M, n_hidden)."""
        return self.states[:-1].reshape(-1, self.states.shape[-1])

    @property
    def next(self) -> np.ndarray:
        """The state after each transition, shape (M, n_hidden)."""
        return self.states[1:].reshape(-1, self.states.shape[-1])

    @property
    def pairs(self) -> np.ndarray:
        """The input that drove each transition, shape (M, n_in)."""
        return self.inputs.reshape(-1, self.inputs.shape[-1])


def _check_net(net: Any) -> None:
    import models  # late: viz must not need models at import time

    if not isinstance(net, models.ElmanRNN):
        raise ValueError(f"automaton: needs a models.ElmanRNN (the lecture's binary-addition net), "
                         f"got {type(net).__name__}")
    if net.input_mode != "every_step":
        raise ValueError(f"automaton: the net must take an input at every step, not input_mode={net.input_mode!r}")
    if net.n_out != 1 or net.output != "logistic":
        raise ValueError("automaton: the net must have one logistic output unit (the sum bit), "
                         f"got n_out={net.n_out!r}, output={net.output!r}")


def _batch_inputs(net: Any, batch: Any) -> np.ndarray:
    x = getattr(batch, "x", batch)
    try:
        x = np.asarray(x.value if isinstance(x, am.Tensor) else x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"automaton: the batch must be a models.tasks.Batch or an array of inputs: {e}") from None
    if x.ndim != 3 or x.shape[2] != net.n_in:
        raise ValueError(f"automaton: inputs must have shape (steps, batch, {net.n_in}), got {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"automaton: the batch is empty (inputs of shape {x.shape})")
    if x.shape[0] < 2 and net.timing == "synchronous":
        raise ValueError("automaton: a synchronous net needs at least 2 steps to read an input")
    return x


def hidden_patterns(net: Any, batch: Any) -> HiddenPatterns:
    """Run ``net`` on ``batch`` (a :class:`models.tasks.Batch` or inputs (steps, batch, n_in))
    without recording, and collect the hidden states with the input pairs between them.

    With ``timing="synchronous"`` the hidden state of step t has read the input of step t - 1,
    and step 0 reads none (it starts from h0), so the start state is the state of step 0 and
    the last input column is never read. With the usual timing the start state is h0.

    >>> import numpy as np, models
    >>> net = models.ElmanRNN(2, 3, 1, timing="synchronous", seed=0)
    >>> p = hidden_patterns(net, np.zeros((5, 4, 2)))
    >>> p.states.shape, p.inputs.shape, p.prev.shape
    ((5, 4, 3), (4, 4, 2), (16, 3))
    """
    _check_net(net)
    x = _batch_inputs(net, batch)
    with am.no_grad():
        net(x)
        hs = [np.broadcast_to(np.asarray(h.value if isinstance(h, am.Tensor) else h, dtype=np.float64),
                              (x.shape[1], net.n_hidden)) for h in net.hidden_states]
        states = np.stack(hs)
        if net.timing == "synchronous":
            inputs = x[:-1]
        else:
            h0 = net.initial_state(x.shape[1])
            h0 = np.asarray(h0.value if isinstance(h0, am.Tensor) else h0, dtype=np.float64)
            states = np.concatenate([h0[None], states])
            inputs = x
    w, b = net["W_hy"].value[:, 0], float(net["b_y"].value[0])
    logits = states @ w + b
    if not np.all(np.isfinite(states)):
        raise ValueError("automaton: the net's hidden states are not finite")
    return HiddenPatterns(states=np.array(states), inputs=np.array(inputs), logits=logits)


# ----------------------------------------------------------------------------------------------
# 2. clustering the states


@dataclass
class Clustering:
    """k-means result: ``centroids`` (k, d), ``labels`` (N,), ``radius`` (the largest distance of
    a point from its centroid) and ``sizes`` (points per cluster). Clusters are numbered in the
    order in which the input vectors first visit them."""

    centroids: np.ndarray
    labels: np.ndarray
    radius: float
    sizes: np.ndarray

    @property
    def k(self) -> int:
        return len(self.centroids)

    def assign(self, vectors: Any) -> np.ndarray:
        """The nearest centroid of each vector."""
        v = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
        return _sqdist(v, self.centroids).argmin(axis=1)


def _sqdist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2)


def _kmeans(points: np.ndarray, weights: np.ndarray, k: int, iters: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Weighted Lloyd iterations from a deterministic farthest-point start."""
    centroids = [points[0]]  # the first distinct point the data visits
    d = _sqdist(points, points[:1])[:, 0]
    for _ in range(1, k):
        i = int(d.argmax())  # ties go to the earliest point: deterministic
        centroids.append(points[i])
        d = np.minimum(d, _sqdist(points, points[i:i + 1])[:, 0])
    c = np.array(centroids)
    labels = _sqdist(points, c).argmin(axis=1)
    for _ in range(iters):
        for j in range(k):
            m = labels == j
            if m.any():
                c[j] = np.average(points[m], axis=0, weights=weights[m])
        new = _sqdist(points, c).argmin(axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
    return c, labels


def cluster_states(vectors: Any, max_states: int = 8, tol: float = DEFAULT_TOL) -> Clustering:
    """Group hidden vectors into the fewest clusters (at most ``max_states``) that are tight.

    The rule: for k = 1, 2, ... run k-means (farthest-point start, then Lloyd's iterations; no
    randomness) and stop at the first k whose every point lies within ``tol`` (Euclidean) of its
    centroid. Raises ValueError when no k up to ``max_states`` is tight: the vectors do not
    settle into a few patterns (an untrained net, say). Labels are renumbered so that the first
    vector is in cluster 0, the first vector outside it in cluster 1, and so on.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> blobs = np.concatenate([c + 0.01 * rng.normal(size=(20, 2)) for c in ([0, 0], [1, 0], [0, 1])])
    >>> cl = cluster_states(blobs, tol=0.1)
    >>> cl.k, (cl.centroids.round(1) + 0.0).tolist(), cl.sizes.tolist()
    (3, [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], [20, 20, 20])
    """
    v = np.asarray(vectors, dtype=np.float64)
    if v.ndim != 2 or v.shape[0] == 0 or v.shape[1] == 0:
        raise ValueError(f"cluster_states: needs a non-empty (N, d) array of vectors, got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError("cluster_states: the vectors must be finite")
    if not isinstance(max_states, (int, np.integer)) or max_states < 1:
        raise ValueError(f"cluster_states: max_states must be a positive integer, got {max_states!r}")
    if not tol > 0:
        raise ValueError(f"cluster_states: tol must be positive, got {tol!r}")
    # k-means on the distinct vectors, weighted by their counts: fast on long runs of one state.
    uniq, first, inverse, counts = np.unique(v, axis=0, return_index=True, return_inverse=True, return_counts=True)
    order = np.argsort(first, kind="stable")  # distinct vectors in order of first visit
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    points, weights, inverse = uniq[order], counts[order].astype(np.float64), rank[inverse.ravel()]
    best = None
    for k in range(1, min(int(max_states), len(points)) + 1):
        c, lab = _kmeans(points, weights, k)
        radius = float(np.sqrt(((points - c[lab]) ** 2).sum(axis=1).max()))
        best = (c, lab, radius)
        if radius < tol:
            break
    c, lab, radius = best
    if radius >= tol:
        raise ValueError(f"cluster_states: the vectors do not settle into {max_states} or fewer patterns: "
                         f"with {len(c)} clusters a point lies {radius:.3g} from its centroid (tol {tol:g}); "
                         "is the net trained? (or raise max_states / tol)")
    used = [j for j in dict.fromkeys(lab.tolist())]  # clusters in order of first visit; drops empty ones
    relabel = {old: new for new, old in enumerate(used)}
    labels = np.array([relabel[j] for j in lab[inverse]], dtype=np.int64)
    centroids = np.array([c[j] for j in used])
    sizes = np.bincount(labels, minlength=len(used))
    return Clustering(centroids=centroids, labels=labels, radius=radius, sizes=sizes)


# ----------------------------------------------------------------------------------------------
# 3. the transition table


def _pair(row: Any) -> tuple:
    return tuple(int(round(float(v))) if float(v).is_integer() else float(v) for v in np.ravel(row))


class TransitionTable(dict):
    """``{(state, input pair): (next state, count)}``: the most frequent next state of each
    (state, input) and how often it occurred. Extra attributes:

    ``counts`` — ``{(state, input): Counter({next: n, ...})}``, every next state seen;
    ``agreement`` — the smallest fraction, over (state, input), of cases going to the most
    frequent next state; ``deterministic`` — ``agreement >= min_agreement``.
    """

    counts: dict
    agreement: float
    deterministic: bool
    min_agreement: float

    @property
    def states(self) -> list[int]:
        return sorted({s for s, _ in self} | {n for n, _ in self.values()})

    @property
    def inputs(self) -> list[tuple]:
        return sorted({i for _, i in self})


def transition_table(labels_prev: Any, inputs: Any, labels_next: Any, min_agreement: float = 0.99) -> TransitionTable:
    """Count the transitions (state, input pair) -> next state.

    ``inputs`` is (M, n_in) (or M pairs); input values that are whole numbers become ints, so
    the keys read ``(0, (1, 0))``. The table is deterministic when each (state, input) goes to
    its most frequent next state in at least ``min_agreement`` of its cases.

    >>> t = transition_table([0, 0, 1], [(0, 1), (0, 1), (1, 1)], [1, 1, 0])
    >>> t[(0, (0, 1))], t.deterministic
    ((1, 2), True)
    """
    prev = np.asarray(labels_prev).ravel()
    nxt = np.asarray(labels_next).ravel()
    ins = np.asarray(inputs, dtype=np.float64)
    ins = ins.reshape(len(ins), -1) if ins.size else ins.reshape(0, 1)
    if not (len(prev) == len(nxt) == len(ins)):
        raise ValueError(f"transition_table: {len(prev)} previous states, {len(ins)} inputs and "
                         f"{len(nxt)} next states: they must be equally many")
    if len(prev) == 0:
        raise ValueError("transition_table: no transitions")
    counts: dict = defaultdict(Counter)
    for s, i, n in zip(prev.tolist(), ins, nxt.tolist()):
        counts[(int(s), _pair(i))][int(n)] += 1
    table = TransitionTable()
    worst = 1.0
    for key in sorted(counts):
        (n, c), = counts[key].most_common(1)
        table[key] = (n, c)
        worst = min(worst, c / sum(counts[key].values()))
    table.counts = dict(counts)
    table.agreement = worst
    table.min_agreement = float(min_agreement)
    table.deterministic = worst >= min_agreement
    return table


# ----------------------------------------------------------------------------------------------
# 4. the automaton


@dataclass
class Automaton:
    """A Moore machine read off a net: states are clusters of hidden activity.

    ``start`` — the start state; ``centroids`` (k, n_hidden) — each state's mean activities;
    ``outputs`` (k,) — each state's output bit; ``transitions`` — a :class:`TransitionTable`;
    ``clustering`` — the :class:`Clustering`; ``output_agreement`` — the fraction of visited
    hidden vectors whose own readout bit equals their state's bit; ``emitting`` — the states
    entered by some transition (the start state's bit is never a sum bit unless it is re-entered).
    """

    start: int
    centroids: np.ndarray
    outputs: np.ndarray
    transitions: TransitionTable
    clustering: Clustering
    output_agreement: float
    emitting: frozenset

    @property
    def n_states(self) -> int:
        return len(self.centroids)

    def run(self, inputs: Any) -> np.ndarray:
        """Output bits for input columns ``inputs`` of shape (columns, batch, n_in) or
        (columns, n_in): the bit of the state reached after each column. A (state, input) never
        seen while extracting gives -1 from there on."""
        x = np.asarray(inputs, dtype=np.float64)
        squeeze = x.ndim == 2
        if squeeze:
            x = x[:, None, :]
        out = np.full(x.shape[:2], -1, dtype=np.int64)
        for b in range(x.shape[1]):
            s = self.start
            for j in range(x.shape[0]):
                step = self.transitions.get((s, _pair(x[j, b])))
                if step is None:
                    break
                s = step[0]
                out[j, b] = self.outputs[s]
        return out[:, 0] if squeeze else out

    def diagram(self, title: str | None = None, digits: int = 2) -> Diagram:
        """The state diagram (left to right): see :func:`automaton_diagram`."""
        return _diagram(self, title, digits)


def extract_automaton(net: Any, batch: Any = None, max_states: int = 8, tol: float = DEFAULT_TOL,
                      min_agreement: float = 0.99, min_accuracy: float | None = 0.99) -> Automaton:
    """Read the automaton off ``net`` run on ``batch`` (default: 256 random 8-bit additions
    shaped for the net's delay, seed 0).

    Raises ValueError, saying why, for: a model that is not a one-output logistic
    :class:`models.ElmanRNN` with an input at every step; an empty batch; a net that has not
    learned its task — when the batch has targets (a :class:`models.tasks.Batch`), the net must
    get at least ``min_accuracy`` of the target bits right (``None`` skips this; an untrained
    net's hidden units often just echo the last input, which is a finite-state machine too, but
    not an adder); hidden states that do not settle into ``max_states`` clusters of radius
    ``tol`` (:func:`cluster_states`); transitions that are not deterministic (some (state, input)
    goes to its usual next state in fewer than ``min_agreement`` of its cases); and clusters
    whose output bit is not that of their members (in fewer than ``min_agreement`` of visits).

    ``tol`` sets how distinct two patterns must be to count as two states. For the net of
    ``examples/binary_addition.py`` (seed 0) the default finds 5: four that the net keeps
    revisiting (carry or not, times sum bit 0 or 1) and the start state, the pattern one step
    after h0, 0.28 from its nearest neighbour; ``tol=0.3`` merges it into the 4 of the lecture.

    >>> import numpy as np, models
    >>> extract_automaton(models.ElmanRNN(2, 3, 1, seed=0), np.zeros((4, 0, 2)))
    Traceback (most recent call last):
    ...
    ValueError: automaton: the batch is empty (inputs of shape (4, 0, 2))
    """
    _check_net(net)
    if batch is None:
        from models.tasks import BinaryAddition

        batch = BinaryAddition(bits=8, delay=net.delay).sample(0, 256)
    p = hidden_patterns(net, batch)
    if min_accuracy is not None and hasattr(batch, "y") and hasattr(batch, "mask"):
        import models

        with am.no_grad():
            out = net(np.asarray(batch.x, dtype=np.float64))
        if out.shape != np.shape(batch.y):
            raise ValueError(f"automaton: the net's outputs have shape {out.shape}, the batch's targets "
                             f"{np.shape(batch.y)}")
        acc = models.bit_accuracy(out, batch)
        if acc < min_accuracy:
            raise ValueError(f"automaton: the net gets only {acc:.1%} of the batch's target bits right "
                             f"(needs {min_accuracy:.0%}): it has not learned the task, so there is no adder "
                             "to read off; train it first (or pass min_accuracy=None)")
    cl = cluster_states(p.vectors, max_states=max_states, tol=tol)
    labels = cl.labels.reshape(p.states.shape[:2])
    table = transition_table(labels[:-1], p.pairs, labels[1:], min_agreement=min_agreement)
    if not table.deterministic:
        key = min(table.counts, key=lambda k: table[k][1] / sum(table.counts[k].values()))
        raise ValueError(f"automaton: the clusters do not act as states: from state {key[0]} the input "
                         f"{key[1]} leads to {dict(table.counts[key])} (next state: count); agreement "
                         f"{table.agreement:.1%} < {min_agreement:.0%}; try a smaller tol or more max_states")
    w, b = net["W_hy"].value[:, 0], float(net["b_y"].value[0])
    outputs = (cl.centroids @ w + b > 0).astype(np.int64)  # sigmoid(z) > 0.5  <=>  z > 0
    own_bits = (p.logits > 0).astype(np.int64).ravel()
    agreement = float(np.mean(own_bits == outputs[cl.labels]))
    if agreement < min_agreement:
        raise ValueError(f"automaton: the clusters do not act as states: in {1 - agreement:.1%} of the visits the "
                         "output unit's bit differs from the bit of its state's centroid; try a smaller tol")
    start = Counter(labels[0].tolist()).most_common(1)[0][0]
    return Automaton(start=start, centroids=cl.centroids, outputs=outputs, transitions=table, clustering=cl,
                     output_agreement=agreement, emitting=frozenset(labels[1:].ravel().tolist()))


def _diagram(auto: Automaton, title: str | None, digits: int) -> Diagram:
    table = auto.transitions
    edges: dict = defaultdict(list)  # (state, next) -> [(input, count), ...]
    for (s, inp), (n, c) in table.items():
        edges[(s, n)].append((inp, c))
    top = max((sum(c for _, c in v) for v in edges.values()), default=1)
    lines = ["digraph automaton {", "  rankdir=LR;",
             '  node [shape=ellipse, fontname="Helvetica", fontsize=11];',
             '  edge [fontname="Helvetica", fontsize=10];']
    key = "grey: the output unit says 1 in that state;  edges: the input bits a b;  width: how often taken"
    label = f"{title}\n{key}" if title else key
    lines.append(f'  label={quote(label)}; labelloc=t; fontname="Helvetica"; fontsize=12;')
    lines.append(f"  {quote('start')} [shape=point, width=0.12, label={quote('')}];")
    for s in range(auto.n_states):
        acts = " ".join(f"{a:.{digits}f}" for a in auto.centroids[s])
        bit = f"out {auto.outputs[s]}" if s in auto.emitting else f"out {auto.outputs[s]} (not a sum bit)"
        label = f"state {s}\n{acts}\n{bit}"
        style = ', style=filled, fillcolor="#dddddd"' if auto.outputs[s] == 1 else ""
        lines.append(f"  {quote(f's{s}')} [label={quote(label)}{style}];")
    lines.append(f"  {quote('start')} -> {quote(f's{auto.start}')} [label={quote('start')}];")
    for (s, n), items in sorted(edges.items()):
        count = sum(c for _, c in items)
        label = "\n".join(" ".join(str(v) for v in inp) for inp, _ in sorted(items))
        width = 1.0 + 3.0 * count / top
        lines.append(f"  {quote(f's{s}')} -> {quote(f's{n}')} [label={quote(label)}, penwidth={width:.2f}, "
                     f"tooltip={quote(f'{count} transitions', tooltip=True)}];")
    lines.append("}")
    caption = f"automaton with {auto.n_states} states"
    return Diagram("\n".join(lines) + "\n", caption=caption)


def automaton_diagram(net: Any, batch: Any = None, *, max_states: int = 8, tol: float = DEFAULT_TOL,
                      title: str | None = None, digits: int = 2, min_accuracy: float | None = 0.99) -> Diagram:
    """The state diagram of the automaton inside ``net`` (see :func:`extract_automaton`).

    One node per state, labelled with its number, its mean hidden activities rounded to
    ``digits`` and its output bit (filled grey when the output unit says 1); the start state
    gets an arrow from a dot; each edge lists the input pairs "a b" that take it, and its pen
    width grows with how often it was taken.

    >>> import models
    >>> automaton_diagram(models.LSTM(2, 3, 1))
    Traceback (most recent call last):
    ...
    ValueError: automaton: needs a models.ElmanRNN (the lecture's binary-addition net), got LSTM
    """
    return extract_automaton(net, batch, max_states=max_states, tol=tol,
                             min_accuracy=min_accuracy).diagram(title=title, digits=digits)
