"""A discrete hidden Markov model, trained by gradient ascent through the forward algorithm.

N hidden states, M symbols. The parameters are unconstrained logits whose rows are normalised
with ``log_softmax``: ``start_logits`` (N,), ``trans_logits`` (N, N) (row i: from state i) and
``emit_logits`` (N, M). The log-likelihood is the forward algorithm in log space, run on the
engine (``am.logsumexp``), so ``backward`` gives its exact gradient — which is the expected-count
formula of forward-backward (Eisner 2016), without writing a backward pass.

The lecture's point: all an HMM knows about the past is which of its N states it is in, so it
can carry at most log2 N bits of what it generated. On the copy task (k random bits, a marker,
the same k bits) the recall part costs any N-state HMM at least ``k - log2 N`` bits per sequence
(see :meth:`HMM.recall_cost_bits` and ``examples/hmm_memory.py``).

>>> import numpy as np
>>> from models.hmm import HMM
>>> hmm = HMM.from_probs([1.0, 0.0], [[0.9, 0.1], [0.0, 1.0]], [[1.0, 0.0], [0.2, 0.8]])
>>> round(float(np.exp(hmm.log_likelihood([0, 1]).item())), 12)   # 0.1 * 0.8
0.08
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

import autograd_mini as am

from .base import Model, Progress

NEG_INF = -np.inf


# --- checks -----------------------------------------------------------------------------------

def check_symbols(model: str, seqs: Any, n_symbols: int) -> np.ndarray:
    """A (batch, T) int64 array of symbols in [0, n_symbols), or a ValueError saying what is wrong.

    A (T,) array is taken as a batch of one. The message names the model, the shape and, for a
    symbol out of range, the step, the sequence and the value.

    >>> check_symbols("HMM", [0, 1, 1], 2)
    array([[0, 1, 1]])
    >>> check_symbols("HMM", [[0, 1], [1, 3]], 2)
    Traceback (most recent call last):
    ...
    ValueError: HMM: symbol 3 at step 1 (sequence 1) is outside [0, 2); symbols have shape (2, 2)
    """
    if isinstance(seqs, am.Tensor):
        seqs = seqs.value
    try:
        arr = np.asarray(seqs)
    except (ValueError, TypeError) as e:  # ragged nested lists
        raise ValueError(f"{model}: symbols must be an array of shape (T,) or (batch, T) with equal-length "
                         f"sequences: {e}") from None
    if arr.ndim == 0 or arr.ndim > 2:
        raise ValueError(f"{model}: symbols must have shape (T,) or (batch, T), got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        where = ""
        if arr.dtype.kind == "f" and arr.size:
            frac = ~np.isfinite(arr) | (arr != np.round(arr))
            if frac.any():
                pos = np.argwhere(frac.reshape(-1, arr.shape[-1]))[0]
                where = f"; the first non-integer value {arr.reshape(-1, arr.shape[-1])[tuple(pos)]} is at step {pos[1]}"
            else:
                where = " (whole numbers at every step: pass an int array, e.g. seqs.astype(int))"
        raise ValueError(f"{model}: symbols must be integers in [0, {n_symbols}), got dtype {arr.dtype} "
                         f"with shape {arr.shape}{where}")
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.shape[1] == 0:
        raise ValueError(f"{model}: empty sequence (symbols have shape {np.shape(seqs)}); "
                         "it needs at least one step")
    if arr.shape[0] == 0:
        raise ValueError(f"{model}: empty batch (symbols have shape {np.shape(seqs)}); "
                         "it needs at least one sequence")
    bad = (arr < 0) | (arr >= n_symbols)
    if bad.any():
        where = np.argwhere(bad)
        b, t = (int(i) for i in where[np.argmin(where[:, 1])])  # the earliest step with a bad symbol
        raise ValueError(f"{model}: symbol {arr[b, t]} at step {t} (sequence {b}) is outside "
                         f"[0, {n_symbols}); symbols have shape {np.shape(seqs)}")
    return arr.astype(np.int64, copy=False)


def _check_probs(what: str, p: Any, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(p)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"HMM.from_probs: {what} must be real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if arr.shape != shape:
        raise ValueError(f"HMM.from_probs: {what} has shape {arr.shape}, expected {shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"HMM.from_probs: {what} has a non-finite entry")
    if (arr < 0).any():
        idx = tuple(int(i) for i in np.argwhere(arr < 0)[0])
        raise ValueError(f"HMM.from_probs: {what} has a negative probability {arr[idx]} at {idx}")
    sums = arr.sum(axis=-1)
    off = np.abs(sums - 1.0) > 1e-8
    if off.any():
        if arr.ndim == 1:
            raise ValueError(f"HMM.from_probs: {what} sums to {sums:.10g}, not 1")
        i = int(np.argmax(off))
        raise ValueError(f"HMM.from_probs: {what} row {i} sums to {sums[i]:.10g}, not 1")
    return arr


# --- numpy helpers (no gradient) --------------------------------------------------------------

def _log_probs_of(probs: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(probs)


# --- the forward algorithm on the engine ------------------------------------------------------

def forward_log_probs(start_logits: Any, trans_logits: Any, emit_logits: Any, seqs: Any,
                      name: str = "HMM") -> am.Tensor:
    """log P(sequence) for each sequence of a batch, shape (batch,), by the forward algorithm.

    The functional core of :meth:`HMM.log_likelihood`: the logits may be any Tensors (or
    arrays), so ``gradcheck`` can differentiate with respect to them. In log space throughout:
    ``alpha_t(j) = logsumexp_i(alpha_{t-1}(i) + log A_ij) + log B_j(x_t)``; step t runs inside
    ``am.scope(name, step=t)``.

    >>> import numpy as np
    >>> lp = forward_log_probs(np.zeros(2), np.zeros((2, 2)), np.zeros((2, 3)), [[0, 1], [2, 2]])
    >>> np.allclose(lp.value, 2 * np.log(1 / 3))
    True
    """
    start_logits, trans_logits, emit_logits = (x if isinstance(x, am.Tensor) else am.Tensor(x)
                                              for x in (start_logits, trans_logits, emit_logits))
    n = start_logits.shape[0]
    if start_logits.shape != (n,) or trans_logits.shape != (n, n) or emit_logits.ndim != 2 \
            or emit_logits.shape[0] != n:
        raise ValueError(f"{name}: logits must have shapes (N,), (N, N), (N, M); got {start_logits.shape}, "
                         f"{trans_logits.shape}, {emit_logits.shape}")
    x = check_symbols(name, seqs, emit_logits.shape[1])
    batch, steps = x.shape
    with am.scope(name):  # tagged: the names the drawings give them
        log_pi = am.tag(am.log_softmax(start_logits), "log pi")                # (N,)
        log_A = am.tag(am.log_softmax(trans_logits, axis=1), "log A")          # (N, N)
        emit = am.tag(am.transpose(am.tag(am.log_softmax(emit_logits, axis=1), "log B"))[x.T],
                      "log B(x_t)")                                            # (T, batch, N)
    alpha = None
    for t in range(steps):
        with am.scope(name, step=t):
            if t == 0:
                alpha = log_pi + emit[0]
            else:
                # (batch, N, 1) + (N, N): entry [b, i, j] = alpha(i) + log A_ij; sum out i.
                alpha = am.logsumexp(am.reshape(alpha, (batch, n, 1)) + log_A, axis=1) + emit[t]
            alpha = am.tag(alpha, "alpha", t)
    with am.scope(name, step=steps - 1):
        return am.tag(am.logsumexp(alpha, axis=1), "log P(x)")


# --- the model --------------------------------------------------------------------------------

class HMM(Model):
    """A hidden Markov model with ``n_states`` hidden states and ``n_symbols`` output symbols.

    The random constructor draws every logit from a normal of standard deviation ``init_scale``;
    :meth:`from_probs` builds one from given probabilities (zeros allowed).

    >>> hmm = HMM(3, 2, seed=0)
    >>> hmm.transition.shape, bool(np.allclose(hmm.transition.sum(axis=1), 1.0))
    ((3, 3), True)
    >>> states, symbols = hmm.sample(5, seed=1)
    >>> states.shape, symbols.shape
    ((5,), (5,))
    """

    name = "HMM"
    # log of a zero probability (see from_probs): Model.load_state_dict and Model.load accept it
    minus_inf_ok = frozenset({"start_logits", "trans_logits", "emit_logits"})

    def __init__(self, n_states: int, n_symbols: int, seed: int | None = 0, init_scale: float = 0.5) -> None:
        super().__init__()
        for key, val in (("n_states", n_states), ("n_symbols", n_symbols)):
            if not isinstance(val, (int, np.integer)) or isinstance(val, bool) or val < 1:
                raise ValueError(f"HMM: {key} must be a positive integer, got {val!r}")
        self.n_states, self.n_symbols = int(n_states), int(n_symbols)
        rng = np.random.default_rng(seed)
        N, M = self.n_states, self.n_symbols
        self.add_parameter("start_logits", rng.normal(0.0, init_scale, N))
        self.add_parameter("trans_logits", rng.normal(0.0, init_scale, (N, N)))
        self.add_parameter("emit_logits", rng.normal(0.0, init_scale, (N, M)))

    @classmethod
    def from_probs(cls, start: Any, transition: Any, emission: Any) -> "HMM":
        """An HMM with the given probabilities: start (N,), transition (N, N), emission (N, M).

        Every row must be nonnegative and sum to 1 (within 1e-8). Zero probabilities become
        logits of -inf; they stay exactly zero under training (their gradient is 0).

        >>> hmm = HMM.from_probs([0.5, 0.5], [[0.0, 1.0], [1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]])
        >>> hmm.transition
        array([[0., 1.],
               [1., 0.]])
        >>> HMM.from_probs([0.5, 0.6], [[0.0, 1.0], [1.0, 0.0]], [[1.0], [1.0]])
        Traceback (most recent call last):
        ...
        ValueError: HMM.from_probs: start sums to 1.1, not 1
        """
        start_arr = np.asarray(start)
        if start_arr.ndim != 1 or start_arr.shape[0] < 1:
            raise ValueError(f"HMM.from_probs: start must have shape (N,), got {start_arr.shape}")
        n = start_arr.shape[0]
        em = np.asarray(emission)
        if em.ndim != 2 or em.shape[1] < 1:
            raise ValueError(f"HMM.from_probs: emission must have shape (N, M) = ({n}, M), got {em.shape}")
        pi = _check_probs("start", start_arr, (n,))
        A = _check_probs("transition", transition, (n, n))
        B = _check_probs("emission", em, (n, em.shape[1]))
        hmm = cls(n, B.shape[1], seed=0)
        hmm.load_state_dict({"start_logits": _log_probs_of(pi), "trans_logits": _log_probs_of(A),
                             "emit_logits": _log_probs_of(B)})
        return hmm

    def __repr__(self) -> str:
        return f"HMM(n_states={self.n_states}, n_symbols={self.n_symbols})"

    # --- probabilities (numpy) ---
    @property
    def log_start(self) -> np.ndarray:
        """log of :attr:`start`, shape (N,)."""
        return am.log_softmax(self["start_logits"].value)

    @property
    def log_transition(self) -> np.ndarray:
        """log of :attr:`transition`, shape (N, N)."""
        return am.log_softmax(self["trans_logits"].value)

    @property
    def log_emission(self) -> np.ndarray:
        """log of :attr:`emission`, shape (N, M)."""
        return am.log_softmax(self["emit_logits"].value)

    @property
    def start(self) -> np.ndarray:
        """P(s_0 = i), shape (N,)."""
        return np.exp(self.log_start)

    @property
    def transition(self) -> np.ndarray:
        """P(s_{t+1} = j | s_t = i), shape (N, N); rows sum to 1."""
        return np.exp(self.log_transition)

    @property
    def emission(self) -> np.ndarray:
        """P(x_t = m | s_t = i), shape (N, M); rows sum to 1."""
        return np.exp(self.log_emission)

    def check(self, seqs: Any) -> np.ndarray:
        """``seqs`` as a (batch, T) int array, or a ValueError naming the model, shape and step."""
        return check_symbols(self.name, seqs, self.n_symbols)

    # --- likelihood on the engine ---
    def log_probs(self, seqs: Any) -> am.Tensor:
        """log P(sequence) of each sequence, a Tensor of shape (batch,) on the graph."""
        return forward_log_probs(self["start_logits"], self["trans_logits"], self["emit_logits"],
                                 seqs, name=self.name)

    def log_likelihood(self, seqs: Any) -> am.Tensor:
        """The sum over the batch of log P(sequence), a scalar Tensor (differentiable).

        ``seqs``: int array (T,) or (batch, T) of symbols in [0, M). The forward algorithm in
        log space, so it does not underflow on long sequences.

        >>> hmm = HMM(2, 3, seed=0)
        >>> ll = hmm.log_likelihood([[0, 2, 1], [1, 1, 0]])
        >>> ll.backward()
        >>> hmm["trans_logits"].grad.shape
        (2, 2)
        """
        return am.sum(self.log_probs(seqs))

    # --- numpy inference (no gradient) ---
    def _forward_np(self, x: np.ndarray) -> np.ndarray:
        """log alpha for a (batch, T) array: shape (batch, T, N)."""
        lp, lA, lB = self.log_start, self.log_transition, self.log_emission
        batch, steps = x.shape
        alpha = np.empty((batch, steps, self.n_states))
        alpha[:, 0] = lp + lB[:, x[:, 0]].T
        for t in range(1, steps):
            alpha[:, t] = am.logsumexp(alpha[:, t - 1, :, None] + lA, axis=1) + lB[:, x[:, t]].T
        return alpha

    def _backward_np(self, x: np.ndarray) -> np.ndarray:
        """log beta for a (batch, T) array: shape (batch, T, N); beta_T-1 = 0."""
        lA, lB = self.log_transition, self.log_emission
        batch, steps = x.shape
        beta = np.zeros((batch, steps, self.n_states))
        for t in range(steps - 2, -1, -1):
            beta[:, t] = am.logsumexp(lA + (lB[:, x[:, t + 1]].T + beta[:, t + 1])[:, None, :], axis=2)
        return beta

    def log_prob_numpy(self, seqs: Any) -> np.ndarray:
        """log P(sequence) of each sequence as a numpy array (batch,), without recording.

        >>> hmm = HMM.from_probs([1.0], [[1.0]], [[0.5, 0.5]])
        >>> hmm.log_prob_numpy([[0, 1, 1]]) / np.log(0.5)
        array([3.])
        """
        x = self.check(seqs)
        return am.logsumexp(self._forward_np(x)[:, -1], axis=1)

    def _single(self, seq: Any, who: str) -> np.ndarray:
        x = self.check(seq)
        if x.shape[0] != 1:
            raise ValueError(f"{self.name}.{who}: takes one sequence of shape (T,), got shape {np.shape(seq)}")
        return x[0]

    def posteriors(self, seq: Any) -> np.ndarray:
        """P(s_t = i | x_0..x_{T-1}) for one sequence, shape (T, N), by forward-backward in log space.

        >>> hmm = HMM.from_probs([0.5, 0.5], [[1.0, 0.0], [0.0, 1.0]], [[0.9, 0.1], [0.1, 0.9]])
        >>> hmm.posteriors([0, 0]).round(4)
        array([[0.9878, 0.0122],
               [0.9878, 0.0122]])
        """
        x = self._single(seq, "posteriors")[None]
        la, lb = self._forward_np(x)[0], self._backward_np(x)[0]
        logp = am.logsumexp(la[-1], axis=0)
        if not np.isfinite(logp):
            raise ValueError(f"{self.name}.posteriors: the sequence (shape {np.shape(seq)}) has probability 0 "
                             "under the model")
        return np.exp(la + lb - logp)

    def viterbi(self, seq: Any) -> tuple[np.ndarray, float]:
        """The most likely state path for one sequence and its log joint probability log P(path, seq).

        In log space; ties go to the lowest state index.

        >>> hmm = HMM.from_probs([0.5, 0.5], [[0.9, 0.1], [0.1, 0.9]], [[0.8, 0.2], [0.2, 0.8]])
        >>> path, logp = hmm.viterbi([0, 0, 1, 1, 1])
        >>> path
        array([0, 0, 1, 1, 1])
        """
        x = self._single(seq, "viterbi")
        lp, lA, lB = self.log_start, self.log_transition, self.log_emission
        steps, n = len(x), self.n_states
        delta = lp + lB[:, x[0]]
        back = np.zeros((steps, n), dtype=np.int64)
        for t in range(1, steps):
            scores = delta[:, None] + lA              # [i, j]: come from i, go to j
            back[t] = np.argmax(scores, axis=0)
            delta = scores[back[t], np.arange(n)] + lB[:, x[t]]
        path = np.zeros(steps, dtype=np.int64)
        path[-1] = int(np.argmax(delta))
        for t in range(steps - 1, 0, -1):
            path[t - 1] = back[t, path[t]]
        return path, float(delta[path[-1]])

    def sample(self, T: int, seed: int | np.random.Generator | None = None,
               batch: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Draw (states, symbols), each of shape (T,) or, with ``batch``, (batch, T).

        Zero-probability transitions and emissions are never drawn.

        >>> hmm = HMM.from_probs([1.0, 0.0], [[0.0, 1.0], [1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]])
        >>> hmm.sample(4, seed=0)
        (array([0, 1, 0, 1]), array([0, 1, 0, 1]))
        """
        if not isinstance(T, (int, np.integer)) or T < 1:
            raise ValueError(f"{self.name}.sample: T must be a positive integer, got {T!r}")
        if batch is not None and (not isinstance(batch, (int, np.integer)) or batch < 1):
            raise ValueError(f"{self.name}.sample: batch must be a positive integer or None, got {batch!r}")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        B = 1 if batch is None else int(batch)
        pi, A, E = self.start, self.transition, self.emission

        def draw(probs: np.ndarray) -> np.ndarray:  # probs (B, K): one categorical draw per row
            cdf = np.cumsum(probs, axis=1)
            u = rng.random(probs.shape[0]) * cdf[:, -1]  # u < total, so some entry always wins
            return np.argmax(u[:, None] < cdf, axis=1)   # first entry whose cdf exceeds u (p > 0)

        states = np.zeros((B, int(T)), dtype=np.int64)
        symbols = np.zeros((B, int(T)), dtype=np.int64)
        states[:, 0] = draw(np.broadcast_to(pi, (B, self.n_states)))
        for t in range(int(T)):
            if t > 0:
                states[:, t] = draw(A[states[:, t - 1]])
            symbols[:, t] = draw(E[states[:, t]])
        if batch is None:
            return states[0], symbols[0]
        return states, symbols

    # --- training ---
    def fit(self, seqs: Any, steps: int = 200, lr: float = 0.05, optimizer: am.optim.Optimizer | None = None,
            batch_size: int | None = None, seed: int | None = 0, progress: bool = True) -> list[float]:
        """Gradient ascent on the mean log-likelihood per sequence; returns it for every step.

        ``optimizer`` defaults to ``am.optim.Adam(self.parameters(), lr=lr)``. With ``batch_size``
        each step uses that many sequences drawn without replacement (seeded by ``seed``);
        otherwise all of them (identical sequences are counted once and weighted, which gives
        the same objective faster). The value recorded at a step is the one before its update.

        >>> hmm = HMM(2, 2, seed=0)
        >>> data = HMM.from_probs([1.0, 0.0], [[0.1, 0.9], [0.9, 0.1]], [[0.9, 0.1], [0.1, 0.9]]).sample(8, seed=0, batch=20)[1]
        >>> hist = hmm.fit(data, steps=30, lr=0.1, progress=False)
        >>> hist[-1] > hist[0]
        True
        """
        x = self.check(seqs)
        if not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ValueError(f"{self.name}.fit: steps must be a positive integer, got {steps!r}")
        if batch_size is not None and (not isinstance(batch_size, (int, np.integer)) or not 1 <= batch_size <= len(x)):
            raise ValueError(f"{self.name}.fit: batch_size must be in [1, {len(x)}] or None, got {batch_size!r}")
        opt = optimizer if optimizer is not None else am.optim.Adam(self.parameters(), lr=lr)
        rng = np.random.default_rng(seed)
        if batch_size is None:
            uniq, counts = np.unique(x, axis=0, return_counts=True)
            weights = counts.astype(np.float64) / len(x)
        history: list[float] = []
        bar = Progress(int(steps), desc=f"fit {self.name} N={self.n_states}", enabled=progress)
        try:
            for _ in range(int(steps)):
                if batch_size is None:
                    mean = am.sum(self.log_probs(uniq) * weights)
                else:
                    batch = x[rng.choice(len(x), size=int(batch_size), replace=False)]
                    mean = self.log_likelihood(batch) / float(len(batch))
                opt.zero_grad()
                (-mean).backward()
                opt.step()
                history.append(mean.item())
                bar.update(loglik=history[-1])
        finally:
            bar.close()
        return history

    # --- the memory bound ---
    def recall_cost_bits(self, seqs: Any, start: int, per_sequence: bool = False) -> float | np.ndarray:
        """Mean bits to code ``seqs[:, start:]`` given ``seqs[:, :start]``: -log2 P(recall | prefix).

        ``= -(log P(full sequence) - log P(first ``start`` symbols)) / ln 2``, averaged over the
        sequences (or one value per sequence with ``per_sequence=True``). On the copy task with
        ``start = k + 1`` (the k bits and the marker) any N-state HMM pays at least
        ``k - log2 N`` bits on average over uniformly random bits.

        >>> hmm = HMM.from_probs([1.0], [[1.0]], [[0.5, 0.5]])   # one state: remembers nothing
        >>> hmm.recall_cost_bits([[0, 1, 1, 0], [1, 1, 1, 1]], start=2)
        2.0
        """
        x = self.check(seqs)
        if not isinstance(start, (int, np.integer)) or not 1 <= start < x.shape[1]:
            raise ValueError(f"{self.name}.recall_cost_bits: start must be in [1, {x.shape[1] - 1}] for "
                             f"sequences of shape {x.shape}, got {start!r}")
        alpha = self._forward_np(x)
        full = am.logsumexp(alpha[:, -1], axis=1)
        prefix = am.logsumexp(alpha[:, start - 1], axis=1)
        bits = -(full - prefix) / math.log(2.0)
        return bits if per_sequence else float(np.mean(bits))


def copy_bound_bits(k: int, n_states: int) -> float:
    """The lower bound k - log2 N on the copy task's recall cost (bits per sequence), at least 0.

    Why: given the prefix, the recall is generated from the state at the marker alone, so
    P(recall = b | prefix b) <= sum over states s of P(b | s); summing over all 2^k bit strings
    b gives at most N, so the mean probability is at most N / 2^k and, by Jensen's inequality,
    the mean of -log2 P is at least k - log2 N.

    >>> copy_bound_bits(4, 2), copy_bound_bits(4, 16), copy_bound_bits(4, 32)
    (3.0, 0.0, 0.0)
    """
    return max(0.0, float(k) - math.log2(n_states))


def all_copy_sequences(k: int, marker: int = 2) -> np.ndarray:
    """Every copy-task sequence for k bits, shape (2^k, 2k + 1): the exact uniform average.

    >>> all_copy_sequences(1)
    array([[0, 2, 0],
           [1, 2, 1]])
    """
    bits = (np.arange(2 ** k)[:, None] >> np.arange(k - 1, -1, -1)[None, :]) & 1
    return np.concatenate([bits, np.full((2 ** k, 1), marker), bits], axis=1).astype(np.int64)


__all__ = ["HMM", "forward_log_probs", "check_symbols", "copy_bound_bits", "all_copy_sequences"]
