"""The lecture's memoryless models for sequences: no hidden state, only a window of delay taps.

An autoregressive model predicts the next term from a fixed number ``k`` of the most recent
inputs, ``x_t, x_{t-1}, ..., x_{t-k+1}`` (the "delay taps"); a feed-forward net puts one or more
layers of non-linear hidden units on the same taps. Whatever the net, the only memory such a model
has is its window: an output can depend on nothing older than ``k - 1`` steps back.

Both models return, like :class:`models.ElmanRNN`, a stacked (steps, batch, n_out) Tensor (logits
for logistic outputs, values for linear ones), record each step's ops inside
``autograd_mini.scope(model.name, step=t)`` and use the same weights at every step, so they train
with :func:`models.train` (with the task's loss, or ``loss="mse"``).

The tap features of step t are laid out tap by tap, newest first:
``[x_t[0..n_in), x_{t-1}[0..n_in), ..., x_{t-k+1}[0..n_in)]``; before the start of the
sequence the taps read 0.

>>> import numpy as np, models
>>> from models.memoryless import Autoregressive
>>> ar = Autoregressive(n_in=1, k=2)
>>> x = np.array([1.0, 2.0, 3.0, 4.0])[:, None, None]            # (steps, batch, n_in)
>>> ar.taps(x)[:, 0, :]                                          # [x_t, x_{t-1}]
array([[1., 0.],
       [2., 1.],
       [3., 2.],
       [4., 3.]])
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

import autograd_mini as am

from .base import Model, check_sequence
from .tasks import Batch, BinaryAddition

ACTIVATIONS = {"tanh": am.tanh, "logistic": am.sigmoid, "relu": am.relu}
OUTPUTS = ("logistic", "linear")

__all__ = ["Autoregressive", "FeedForward", "carry_chain_batch"]


def _positive_int(model: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{model}: {key} must be a positive integer, got {value!r}")
    return int(value)


class _DelayTaps(Model):
    """What both memoryless models share: the taps, input checks, parameter overrides, predict."""

    name = "DelayTaps"

    def __init__(self, n_in: int, k: int, n_out: int, output: str) -> None:
        super().__init__()
        self.n_in = _positive_int(self.name, "n_in", n_in)
        self.k = _positive_int(self.name, "k", k)
        self.n_out = _positive_int(self.name, "n_out", n_out)
        if output not in OUTPUTS:
            raise ValueError(f"{self.name}: output must be 'logistic' or 'linear', got {output!r}")
        self.output = output

    @property
    def delay(self) -> int:
        """Steps from an input to the first output it affects: 0 (the current input is a tap)."""
        return 0

    @property
    def window(self) -> int:
        """How many steps back an output can see, counting the current one: ``k``."""
        return self.k

    @property
    def n_features(self) -> int:
        """Inputs to the first layer: ``k * n_in`` tap values."""
        return self.k * self.n_in

    def taps(self, x: Any) -> np.ndarray:
        """The delay-tap features of every step, shape (steps, batch, k * n_in), newest tap first.

        ``x`` is (steps, batch, n_in) (or (steps, n_in) for a batch of one); the taps before the
        start read 0. A sequence shorter than ``k`` is refused: the window would never fill.
        """
        xs = check_sequence(self.name, x, self.n_in)
        T = xs.shape[0]
        if self.k > T:
            raise ValueError(f"{self.name}: k={self.k} delay taps is more than the sequence has: input shape "
                             f"{xs.shape} has {T} step(s); use k <= {T} or a longer sequence")
        padded = np.concatenate([np.zeros((self.k - 1,) + xs.shape[1:]), xs], axis=0)
        return np.concatenate([padded[self.k - 1 - j: self.k - 1 - j + T] for j in range(self.k)], axis=2)

    def _resolve(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """The model's parameters, with any given in ``params`` used in their place."""
        use: dict[str, Any] = dict(self._params)
        if params is None:
            return use
        unknown = set(params) - set(use)
        if unknown:
            raise KeyError(f"{self.name}: unknown parameter(s) {sorted(unknown)}; it has {sorted(use)}")
        for key, value in params.items():
            shape = np.shape(value.value if isinstance(value, am.Tensor) else value)
            if shape != use[key].shape:
                raise ValueError(f"{self.name}: parameter {key} has shape {use[key].shape}, the override {shape}")
            use[key] = value
        return use

    def _step(self, features: np.ndarray, p: Mapping[str, Any], t: int) -> Any:
        raise NotImplementedError

    def __call__(self, x: Any, params: Mapping[str, Any] | None = None) -> am.Tensor:
        """Run the model over a sequence; returns the outputs of every step, (steps, batch, n_out).

        For logistic outputs these are logits (the output unit's net input). ``params`` maps
        parameter names to Tensors used instead of the model's own (for checks such as
        gradcheck, or per-step copies of a weight); the model's parameters are not changed.
        The inputs are data: no gradient flows back to ``x``.
        """
        feats = self.taps(x)
        p = self._resolve(params)
        outputs = []
        for t in range(feats.shape[0]):
            with am.scope(self.name, step=t):
                y = am.tag(self._step(am.tag(feats[t], "x", t), p, t), "y", t)
            outputs.append(y if isinstance(y, am.Tensor) else am.Tensor(y))
        return am.stack(outputs, axis=0)

    def predict(self, x: Any) -> np.ndarray:
        """Output activities (probabilities for logistic outputs, values for linear) without recording."""
        with am.no_grad():
            out = self(x).value
        return 1.0 / (1.0 + np.exp(-out)) if self.output == "logistic" else out


class Autoregressive(_DelayTaps):
    """A linear autoregressive model: the output at step t is ``taps_t @ W + b``.

    ``taps_t = [x_t, x_{t-1}, ..., x_{t-k+1}]`` (zeros before the start), so ``W`` has shape
    (k * n_in, n_out), its first ``n_in`` rows for the newest tap, and ``b`` shape (n_out,).
    ``output="linear"`` (default) predicts real values (train with ``loss="mse"``);
    ``"logistic"`` makes the outputs logits of bits. Fit it by gradient descent with
    :func:`models.train`, or in closed form with :meth:`fit_least_squares`.

    >>> import numpy as np
    >>> from models.memoryless import Autoregressive
    >>> s = np.zeros(12); s[:2] = 1.0, 2.0
    >>> for t in range(2, 12):
    ...     s[t] = 0.5 * s[t - 1] - 0.25 * s[t - 2] + 1.0
    >>> x, y = s[:-1, None, None], s[1:, None, None]     # input s_t, target s_{t+1}
    >>> mask = np.ones_like(y); mask[0] = 0.0              # step 0's second tap is before the start
    >>> ar = Autoregressive(k=2).fit_least_squares(x, y, mask)
    >>> np.round(ar["W"].value.ravel(), 6).tolist(), np.round(ar["b"].value, 6).tolist()
    ([0.5, -0.25], [1.0])
    >>> ar(np.zeros((5, 3, 1))).shape                   # (steps, batch, n_out)
    (5, 3, 1)
    """

    name = "Autoregressive"

    def __init__(self, n_in: int = 1, k: int = 3, n_out: int = 1, output: str = "linear",
                 seed: int | None = 0) -> None:
        super().__init__(n_in, k, n_out, output)
        rng = np.random.default_rng(seed)
        self.add_parameter("W", rng.normal(0.0, 1.0 / np.sqrt(self.n_features), (self.n_features, self.n_out)))
        self.add_parameter("b", np.zeros(self.n_out))

    def _step(self, features: np.ndarray, p: Mapping[str, Any], t: int) -> Any:
        return features @ p["W"] + p["b"]

    def fit_least_squares(self, batch_or_x: Batch | Any, y: Any = None, mask: Any = None) -> "Autoregressive":
        """Set ``W`` and ``b`` to the closed-form least-squares fit; returns the model.

        Takes a :class:`models.tasks.Batch` or inputs ``x`` (steps, batch, n_in) with targets
        ``y`` (steps, batch, n_out) and an optional ``mask`` of the same shape (default all ones;
        0/1, or non-negative weights). Minimises the masked squared error that
        ``models.train(..., loss="mse")`` descends, ``sum(mask * (out - y)**2) / sum(mask)``, by
        ``numpy.linalg.lstsq`` on the tap features of the masked steps (the minimum-norm solution
        when the taps are not linearly independent). Only for ``output="linear"``.
        """
        if self.output != "linear":
            raise ValueError(f"{self.name}: fit_least_squares fits linear outputs; this model has output={self.output!r} "
                             "(train it with models.train instead)")
        if y is None:
            if not all(hasattr(batch_or_x, a) for a in ("x", "y", "mask")):
                raise TypeError(f"{self.name}: fit_least_squares takes a Batch, or inputs x with targets y")
            x, y, mask = batch_or_x.x, batch_or_x.y, batch_or_x.mask if mask is None else mask
        else:
            x = batch_or_x
        feats = self.taps(x)
        T, B = feats.shape[:2]
        yv = np.asarray(y.value if isinstance(y, am.Tensor) else y, dtype=np.float64)
        if yv.ndim == 2:
            yv = yv[:, None, :]
        if yv.shape != (T, B, self.n_out):
            raise ValueError(f"{self.name}: targets must have shape {(T, B, self.n_out)} to match the input, got {yv.shape}")
        w = np.ones_like(yv) if mask is None else np.asarray(mask, dtype=np.float64)
        if w.ndim == 2:
            w = w[:, None, :]
        try:
            w = np.broadcast_to(w, yv.shape)
        except ValueError:
            raise ValueError(f"{self.name}: mask of shape {np.shape(mask)} does not fit targets of shape {yv.shape}") from None
        if (w < 0).any() or not np.isfinite(w).all() or not np.isfinite(yv).all():
            raise ValueError(f"{self.name}: targets must be finite and the mask finite and non-negative")
        A = np.concatenate([feats.reshape(T * B, -1), np.ones((T * B, 1))], axis=1)
        W = np.zeros((self.n_features, self.n_out))
        b = np.zeros(self.n_out)
        for j in range(self.n_out):
            wj = w[..., j].reshape(-1)
            sel = wj > 0
            if not sel.any():
                raise ValueError(f"{self.name}: the mask selects no targets for output {j}")
            root = np.sqrt(wj[sel])[:, None]
            sol = np.linalg.lstsq(A[sel] * root, yv[..., j].reshape(-1)[sel] * root[:, 0], rcond=None)[0]
            W[:, j], b[j] = sol[:-1], sol[-1]
        self["W"].value = W
        self["b"].value = b
        return self


class FeedForward(_DelayTaps):
    """A feed-forward net on ``k`` delay taps: one or more layers of non-linear hidden units.

    ``hidden`` gives the layer sizes (an int for one layer); ``activation`` is "tanh",
    "logistic" or "relu" for the hidden units; ``output`` "logistic" (default: outputs are
    logits of bits) or "linear". Parameters ``W1, b1, ..., Wn, bn`` for the hidden layers (``W1``
    is (k * n_in, hidden[0])) and ``W_out, b_out``; all shared by every step. It generalises the
    autoregressive model, but still sees nothing older than ``k - 1`` steps back.

    >>> import numpy as np
    >>> from models.memoryless import FeedForward
    >>> net = FeedForward(n_in=2, k=4, hidden=(8, 4), n_out=1)
    >>> [(name, p.shape) for name, p in net.named_parameters()]
    [('W1', (8, 8)), ('b1', (8,)), ('W2', (8, 4)), ('b2', (4,)), ('W_out', (4, 1)), ('b_out', (1,))]
    >>> net(np.zeros((6, 3, 2))).shape                  # (steps, batch, n_out)
    (6, 3, 1)
    """

    name = "FeedForward"

    def __init__(self, n_in: int = 1, k: int = 3, hidden: int | Sequence[int] = (8,), n_out: int = 1,
                 activation: str = "tanh", output: str = "logistic", seed: int | None = 0) -> None:
        super().__init__(n_in, k, n_out, output)
        if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool):
            hidden = (hidden,)
        if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence) or len(hidden) == 0:
            raise ValueError(f"{self.name}: hidden must be a positive integer or a non-empty sequence of them "
                             f"(one size per hidden layer), got {hidden!r}")
        self.hidden = tuple(_positive_int(self.name, f"hidden[{i}]", h) for i, h in enumerate(hidden))
        if activation not in ACTIVATIONS:
            raise ValueError(f"{self.name}: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.activation = activation
        rng = np.random.default_rng(seed)
        sizes = (self.n_features,) + self.hidden
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            self.add_parameter(f"W{i}", rng.normal(0.0, 1.0 / np.sqrt(a), (a, b)))
            self.add_parameter(f"b{i}", np.zeros(b))
        self.add_parameter("W_out", rng.normal(0.0, 1.0 / np.sqrt(sizes[-1]), (sizes[-1], self.n_out)))
        self.add_parameter("b_out", np.zeros(self.n_out))

    def _step(self, features: np.ndarray, p: Mapping[str, Any], t: int) -> Any:
        f = ACTIVATIONS[self.activation]
        h: Any = features
        for i in range(1, len(self.hidden) + 1):
            h = am.tag(f(h @ p[f"W{i}"] + p[f"b{i}"]), f"h{i}", t)  # named for the drawings
        return h @ p["W_out"] + p["b_out"]


def carry_chain_batch(bits: int, chain: int, batch_size: int = 64, seed: int | None = 0) -> Batch:
    """Binary additions whose sum bit at column ``chain`` depends on column 0, ``chain`` columns back.

    Column 0 (least significant) either generates a carry (a = b = 1) or kills it (a = b = 0);
    columns 1..chain each propagate it (one addend has a 1 there, the other a 0; which one is
    random); the later columns are random. The batch comes in twins — sequence 2i generates,
    2i + 1 kills, with the same columns 1..bits-1 — whose target at column ``chain`` differs
    (0 after a carry, 1 without one). The mask selects that column only. A model that sees at
    most ``k`` columns (the current and k - 1 before it) cannot tell twins apart when
    ``chain >= k``: it is right on exactly half of them, whatever it learned.
    Inputs and targets are laid out as :class:`models.tasks.BinaryAddition` (delay 0) lays them.

    >>> from models.memoryless import carry_chain_batch
    >>> b = carry_chain_batch(bits=4, chain=2, batch_size=2, seed=0)
    >>> b.x[:3].sum(axis=2).T.tolist()     # a_t + b_t of columns 0..2: generate/kill, then propagate
    [[2.0, 1.0, 1.0], [0.0, 1.0, 1.0]]
    >>> b.y[2, :, 0].tolist(), b.mask[:, 0, 0].tolist()   # the twins' sum bits at column 2
    ([0.0, 1.0], [0.0, 0.0, 1.0, 0.0, 0.0])
    """
    bits = _positive_int("carry_chain_batch", "bits", bits)
    if isinstance(chain, bool) or not isinstance(chain, (int, np.integer)) or not 1 <= chain <= bits - 1:
        raise ValueError(f"carry_chain_batch: chain must be an integer in [1, {bits - 1}] for {bits}-bit numbers, "
                         f"got {chain!r}")
    batch_size = _positive_int("carry_chain_batch", "batch_size", batch_size)
    if batch_size % 2:
        raise ValueError(f"carry_chain_batch: batch_size must be even (twins), got {batch_size}")
    rng = np.random.default_rng(seed)
    half = batch_size // 2
    a = rng.integers(0, 2, size=(half, bits))
    which = rng.integers(0, 2, size=(half, chain))  # propagate columns: which addend holds the 1
    a[:, 1:chain + 1] = which
    b = rng.integers(0, 2, size=(half, bits))
    b[:, 1:chain + 1] = 1 - which
    a, b = np.repeat(a, 2, axis=0), np.repeat(b, 2, axis=0)
    a[:, 0] = b[:, 0] = np.tile([1, 0], half)  # twins: generate, kill
    batch = BinaryAddition(bits=bits).from_bits(a, b)
    mask = np.zeros_like(batch.mask)
    mask[chain] = 1.0
    return Batch(batch.x, batch.y, mask)
