"""The lecture's sequence tasks, as seeded batch generators.

Every task makes time-major batches: inputs ``x`` of shape (steps, batch, n_in), targets ``y``
of shape (steps, batch, n_out) and a ``mask`` of the same shape that says which targets count
(the lecture's "several ways to give targets": every step, the last k steps, or the final one).

>>> import numpy as np
>>> from models.tasks import BinaryAddition
>>> task = BinaryAddition(bits=4)
>>> batch = task.sample(np.random.default_rng(0), batch_size=2)
>>> batch.x.shape, batch.y.shape
((5, 2, 2), (5, 2, 1))
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np


@dataclass
class Batch:
    """One batch: inputs (T, B, n_in), targets (T, B, n_out), mask (T, B, n_out) of 0/1."""

    x: np.ndarray
    y: np.ndarray
    mask: np.ndarray

    @property
    def steps(self) -> int:
        return self.x.shape[0]


def target_mask(steps: int, batch: int, n_out: int, mode: str = "every_step", k: int | None = None,
                units: list[int] | None = None) -> np.ndarray:
    """A (steps, batch, n_out) mask of the targets that count, in the lecture's ways.

    ``mode``: "every_step", "final" (the last step only) or "last_k" (the last ``k`` steps);
    ``units`` restricts it to a subset of the output units (default all).

    >>> target_mask(3, 1, 2, "last_k", k=2, units=[0])[:, 0].tolist()
    [[0.0, 0.0], [1.0, 0.0], [1.0, 0.0]]
    """
    mask = np.zeros((steps, batch, n_out))
    if mode == "every_step":
        first = 0
    elif mode == "final":
        first = steps - 1
    elif mode == "last_k":
        if not isinstance(k, (int, np.integer)) or not 1 <= k <= steps:
            raise ValueError(f"target_mask: k={k} is more than the {steps} steps, or not a positive integer")
        first = steps - int(k)
    else:
        raise ValueError(f"target_mask: mode must be 'every_step', 'final' or 'last_k', got {mode!r}")
    cols = list(range(n_out)) if units is None else list(units)
    if not cols or not all(isinstance(u, (int, np.integer)) and 0 <= u < n_out for u in cols):
        raise ValueError(f"target_mask: units must be indices in [0, {n_out}), got {units!r}")
    mask[first:, :, cols] = 1.0
    return mask


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _positive(name: str, value: int, task: str) -> int:
    if not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{task}: {name} must be a positive integer, got {value!r}")
    return int(value)


class Task:
    """Base class: ``sample(rng, batch_size, length)`` and an endless ``batches`` generator."""

    n_in = 1
    n_out = 1
    loss = "bce"  # "bce": targets are bits, outputs logits; "mse": real-valued outputs
    default_length = 8

    def sample(self, rng: int | np.random.Generator | None, batch_size: int, length: int | None = None) -> Batch:
        raise NotImplementedError

    def batches(self, seed: int | None, batch_size: int, length: int | None = None) -> Iterator[Batch]:
        """Endless batches from one seed: the same seed gives the same batches."""
        rng = _rng(seed)
        while True:
            yield self.sample(rng, batch_size, length)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


def add_bits(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Column-wise binary sum of bit arrays (batch, bits), least significant bit first.

    Returns (batch, bits + 1): the extra column holds the final carry.
    """
    carry = np.zeros(a.shape[0], dtype=np.int64)
    out = np.zeros((a.shape[0], a.shape[1] + 1), dtype=np.int64)
    for t in range(a.shape[1]):
        s = a[:, t] + b[:, t] + carry
        out[:, t], carry = s % 2, s // 2
    out[:, -1] = carry
    return out


class BinaryAddition(Task):
    """Add two binary numbers: two input bits per step, least significant first; the target is
    the sum bit. One trailing zero column lets the final carry out; ``delay`` more zero columns
    and a target shifted by ``delay`` steps fit a net whose output lags its input (the lecture's
    net: delay 2). ``length`` is the number of bits of each addend.
    """

    n_in, n_out, loss = 2, 1, "bce"

    def __init__(self, bits: int = 8, delay: int = 0) -> None:
        self.default_length = _positive("bits", bits, "BinaryAddition")
        if not isinstance(delay, (int, np.integer)) or delay < 0:
            raise ValueError(f"BinaryAddition: delay must be a non-negative integer, got {delay!r}")
        self.delay = int(delay)

    def from_bits(self, a: np.ndarray, b: np.ndarray) -> Batch:
        """The batch for given addends, bit arrays of shape (batch, bits), least significant first."""
        a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        if a.shape != b.shape or a.ndim != 2 or not np.isin(a, (0, 1)).all() or not np.isin(b, (0, 1)).all():
            raise ValueError(f"BinaryAddition: addends must be equal-shaped (batch, bits) arrays of 0/1, got {a.shape}, {b.shape}")
        batch, bits = a.shape
        steps = bits + 1 + self.delay
        x = np.zeros((steps, batch, 2))
        x[:bits, :, 0], x[:bits, :, 1] = a.T, b.T
        y = np.zeros((steps, batch, 1))
        y[self.delay:, :, 0] = add_bits(a, b).T
        mask = np.zeros_like(y)
        mask[self.delay:] = 1.0
        return Batch(x, y, mask)

    def sample(self, rng: int | np.random.Generator | None, batch_size: int, length: int | None = None) -> Batch:
        bits = _positive("length", length or self.default_length, "BinaryAddition")
        rng = _rng(rng)
        a = rng.integers(0, 2, size=(_positive("batch_size", batch_size, "BinaryAddition"), bits))
        b = rng.integers(0, 2, size=a.shape)
        return self.from_bits(a, b)


class NextTerm(Task):
    """Next-term prediction on binary sequences: the input at step t is s_t, the target s_{t+1}.

    The sequence follows s_t = s_{t-p} XOR s_{t-q} for ``lags=(p, q)`` (each bit flipped with
    probability ``noise``), so predicting it needs a memory of max(p, q) steps: a model with fewer
    delay taps cannot, whatever its non-linearity.
    """

    n_in, n_out, loss = 1, 1, "bce"

    def __init__(self, lags: tuple[int, int] = (1, 6), noise: float = 0.0, length: int = 30) -> None:
        p, q = (_positive("lag", lag, "NextTerm") for lag in lags)
        if p == q:
            raise ValueError(f"NextTerm: the two lags must differ, got {lags!r}")
        if not 0.0 <= noise < 0.5:
            raise ValueError(f"NextTerm: noise must be in [0, 0.5), got {noise!r}")
        self.lags, self.noise = (p, q), float(noise)
        self.default_length = _positive("length", length, "NextTerm")

    @property
    def memory(self) -> int:
        """How many past terms the rule looks back."""
        return max(self.lags)

    def sequences(self, rng: int | np.random.Generator | None, batch_size: int, length: int) -> np.ndarray:
        """Raw bit sequences, shape (batch, length + 1)."""
        rng = _rng(rng)
        p, q = self.lags
        s = np.zeros((batch_size, length + 1 + self.memory), dtype=np.int64)
        s[:, :self.memory] = rng.integers(0, 2, size=(batch_size, self.memory))
        for t in range(self.memory, s.shape[1]):
            s[:, t] = s[:, t - p] ^ s[:, t - q]
            if self.noise:
                s[:, t] ^= (rng.random(batch_size) < self.noise)
        return s[:, self.memory:]

    def sample(self, rng: int | np.random.Generator | None, batch_size: int, length: int | None = None) -> Batch:
        length = _positive("length", length or self.default_length, "NextTerm")
        s = self.sequences(rng, _positive("batch_size", batch_size, "NextTerm"), length)
        x = s[:, :-1].T[:, :, None].astype(np.float64)
        y = s[:, 1:].T[:, :, None].astype(np.float64)
        mask = np.ones_like(y)
        mask[: self.memory] = 0.0  # the first terms are not determined by the past the net has seen
        return Batch(x, y, mask)


class LongLag(Task):
    """Remember one bit for ``length`` steps: the bit comes on input 0 at step 0, noise-free
    zeros follow, a recall cue on input 1 at the last step; the target is the bit, at the last
    step only."""

    n_in, n_out, loss = 2, 1, "bce"

    def __init__(self, lag: int = 20) -> None:
        self.default_length = _positive("lag", lag, "LongLag")

    def sample(self, rng: int | np.random.Generator | None, batch_size: int, length: int | None = None) -> Batch:
        lag = _positive("length", length or self.default_length, "LongLag")
        rng = _rng(rng)
        bits = rng.integers(0, 2, size=_positive("batch_size", batch_size, "LongLag"))
        x = np.zeros((lag + 1, batch_size, 2))
        x[0, :, 0] = bits
        x[-1, :, 1] = 1.0
        y = np.zeros((lag + 1, batch_size, 1))
        y[-1, :, 0] = bits
        mask = np.zeros_like(y)
        mask[-1] = 1.0
        return Batch(x, y, mask)


class AddingProblem(Task):
    """The adding problem (Hochreiter & Schmidhuber 1997, in the form of Le et al. 2015):
    each step gives a value uniform in [0, 1] and a marker; two steps are marked, one in each
    half; the target, at the last step, is the sum of the two marked values. Always answering
    1.0 has a mean squared error of 1/6 (``BASELINE_MSE``)."""

    n_in, n_out, loss = 2, 1, "mse"
    BASELINE_MSE = 1.0 / 6.0

    def __init__(self, length: int = 50) -> None:
        self.default_length = _positive("length", length, "AddingProblem")
        if self.default_length < 2:
            raise ValueError("AddingProblem: length must be at least 2")

    def sample(self, rng: int | np.random.Generator | None, batch_size: int, length: int | None = None) -> Batch:
        T = _positive("length", length or self.default_length, "AddingProblem")
        if T < 2:
            raise ValueError("AddingProblem: length must be at least 2")
        rng = _rng(rng)
        B = _positive("batch_size", batch_size, "AddingProblem")
        x = np.zeros((T, B, 2))
        x[:, :, 0] = rng.random((T, B))
        half = T // 2
        first = rng.integers(0, half, size=B)
        second = rng.integers(half, T, size=B)
        cols = np.arange(B)
        x[first, cols, 1] = 1.0
        x[second, cols, 1] = 1.0
        y = np.zeros((T, B, 1))
        y[-1, :, 0] = x[first, cols, 0] + x[second, cols, 0]
        mask = np.zeros_like(y)
        mask[-1] = 1.0
        return Batch(x, y, mask)


class CopyTask(Task):
    """k random bits, a marker, then the same k bits again (the HMM memory experiment).

    ``symbols`` gives the raw sequences over the alphabet {0, 1, 2 = marker}, shape
    (batch, 2k + 1), for the HMM. ``sample`` gives the same sequences for a net that predicts the
    next symbol from a one-hot input (3 inputs), scored on the recall bits only.
    """

    n_in, n_out, loss = 3, 1, "bce"
    MARKER = 2

    def __init__(self, k: int = 4) -> None:
        self.k = _positive("k", k, "CopyTask")
        self.default_length = self.k

    def symbols(self, rng: int | np.random.Generator | None, batch_size: int, k: int | None = None) -> np.ndarray:
        k = _positive("k", k or self.k, "CopyTask")
        bits = _rng(rng).integers(0, 2, size=(_positive("batch_size", batch_size, "CopyTask"), k))
        marker = np.full((batch_size, 1), self.MARKER)
        return np.concatenate([bits, marker, bits], axis=1)

    def recall_slice(self, k: int | None = None) -> slice:
        """Positions of the recall bits in a sequence from :meth:`symbols`."""
        k = k or self.k
        return slice(k + 1, 2 * k + 1)

    def sample(self, rng: int | np.random.Generator | None, batch_size: int, length: int | None = None) -> Batch:
        k = _positive("length", length or self.k, "CopyTask")
        s = self.symbols(rng, batch_size, k)
        x = np.eye(3)[s[:, :-1]].transpose(1, 0, 2)  # input: the symbol at t; target: the bit at t+1
        y = np.zeros((2 * k, batch_size, 1))
        y[:, :, 0] = np.where(s[:, 1:] == self.MARKER, 0, s[:, 1:]).T
        mask = np.zeros_like(y)
        mask[k:] = 1.0  # predicting s[k+1:], the recall bits
        return Batch(x, y, mask)
