"""Engine overhead benchmark: autograd_mini against hand-written numpy forward + BPTT.

What is measured
----------------
Two recurrent workloads are built three times, in the same process, computing the same math
with the same numpy kernels:

* with the engine: the model is written with ``autograd_mini`` primitives on
  ``am.Parameter`` weights, and ``loss.backward()`` fills ``.grad``;
* by hand (the reference): a numpy forward that mirrors the engine's ops one for one, and a
  hand-written backpropagation-through-time that returns the gradients. It sums a weight's
  gradient step by step, ``dW += x_t.T @ dz_t``, as textbook BPTT does; the targets are
  measured against it;
* by hand, "at once": the same, except that each weight's (and bias's) gradient is one matmul
  (one sum) over all the steps after the backward sweep, ``dW = [x_1; ...; x_T].T @ [dz_1; ...;
  dz_T]``. The engine sums the uses of a weight this way too (a few dozen steps per matmul, see
  ``Op.sum_vjp``), so the comparison with "at once" is like for like: printed, no target.

Workloads (float64, fixed seeds):

(a) ``elman`` -- logistic Elman RNN: 2 inputs, 16 hidden, 1 output per step, batch 32,
    8 steps, initial hidden state fixed at 0.5 (a constant)::

        h_t = sigmoid(x_t @ W_xh + h_{t-1} @ W_hh + b_h)
        y_t = sigmoid(h_t @ W_hy + b_y)
        loss = sum_t sum_batch (y_t - target_t)^2

(b) ``lstm`` -- one LSTM cell unrolled 100 steps, input 8, hidden 128, batch 32, zero
    initial state. The four gates come from ONE pre-activation of width 4*hidden, split by
    slicing in the order input, forget, candidate, output::

        W = concat([W_x; W_h], axis 0)                      (once per forward)
        z = concat([x_t, h_{t-1}], axis 1) @ W + b          (gates="concat", the default)
        z = x_t @ W_x + h_{t-1} @ W_h + b                   (gates="split")
        i, f, o = sigmoid(z[:, slices]),  g = tanh(z[:, slice])
        c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)
        loss = sum(h_T ** 2)

    The parameters are W_x (8, 512), W_h (128, 512), b (512,) either way. When this file was
    written "concat" was the faster formulation for the engine (~78 vs ~84 ms) and level for
    the reference (~52 ms both), so it is the default; ``--lstm-gates split`` times the other.

(b') ``lstm-small`` -- the graph of (b), 1602 ops, with 4 cells and batch 1. Its arrays are so
    small that a numpy call costs the same whatever it computes, so its overhead per op is the
    engine's own cost on the LSTM's mix of ops: recording an op, visiting it in backward, and
    the extra (small) numpy calls of VJPs that are not fused. In (b) the overhead per op also
    holds the arithmetic on 32 x 512 arrays that the fused hand-written backward saves.

Both sigmoids use the engine's overflow-free formula
``where(x >= 0, 1, e) / (1 + e)`` with ``e = exp(-|x|)``.

For each workload the script

1. checks that the engine's gradient of every parameter agrees with both hand-written BPTTs
   (``np.allclose``, rtol 1e-9, float64) and the losses agree, and aborts with exit code 1
   if not -- a timing of a wrong gradient is worthless;
2. counts the ops the engine records for one forward (``am.Tape()``);
3. times forward + backward of each side: warm-up, then ``--repeat`` samples per side, the
   sides interleaved (alternating their order), each sample the mean over enough
   calls to last ~0.2 s; the figure is the best (minimum) sample, as ``timeit`` recommends,
   with the median printed beside it. The garbage collector stays on (it is part of what
   an engine that allocates many small objects costs);
4. prints engine time, reference time, ratio engine/reference, the recorded op count and the
   engine overhead per recorded op, (engine - reference) / n_ops in microseconds, with
   PASS/MISS against the targets: ratio <= 2.5 on (a), <= 1.3 on (b), overhead <= 3 us/op;
   the same two figures against "at once"; and the page faults per call of each side, with a warning when there are many. In some
   processes glibc hands the LSTM's freed memory back to the OS and the next call faults it in
   again (once measured: 22,000 faults and +25 ms per call of the reference), so that side's
   time is then a matter of luck.

A MISS is a measurement, not a failure: the exit code is 0 unless the gradients disagree.
The script sets no thread environment variables; it prints the ones it sees, and the BLAS
numpy was built with.

Run::

    python benchmarks/bench_engine.py               # full run (~30 s)
    python benchmarks/bench_engine.py --quick       # smoke run: 2 short samples per side
    python benchmarks/bench_engine.py --repeat 15   # more samples
    python benchmarks/bench_engine.py --profile     # + cProfile of the engine side of (a)

Importable pieces (tests check gradient agreement with them)::

    elman_params(seed), elman_data(seed)          -> dict of numpy params, (xs, ys)
    elman_engine(params, xs, ys)                  -> loss Tensor   (params: am.Parameter)
    elman_numpy(params, xs, ys, weights_at_once=False) -> (loss, grads) (params: numpy arrays)
    lstm_params(seed), lstm_data(seed)            -> dict, (xs,)
    lstm_engine(params, xs, gates="concat")       -> loss Tensor
    lstm_numpy(params, xs, gates="concat", weights_at_once=False) -> (loss, grads)
    engine_loss_and_grads(builder, params, *data) -> (loss, grads) through the engine
    check_gradients(name, builder, reference, params, data) -> max scaled error; raises
"""
from __future__ import annotations

import argparse
import datetime
import functools
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Mapping, NamedTuple

import numpy as np

import autograd_mini as am

try:
    import resource  # Unix only: page-fault counts
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]

RTOL = 1e-9
ATOL = 1e-12  # scaled by the largest reference gradient of the parameter

# --- shared math ------------------------------------------------------------------------------


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Overflow-free logistic function, the same formula as ``am.sigmoid``."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


# --- (a) Elman RNN ----------------------------------------------------------------------------

ELMAN_INPUTS, ELMAN_HIDDEN, ELMAN_OUTPUTS = 2, 16, 1
ELMAN_BATCH, ELMAN_STEPS = 32, 8
ELMAN_H0 = 0.5
ELMAN_PARAMS = ("W_xh", "W_hh", "b_h", "W_hy", "b_y")


def elman_params(seed: int = 0, n_hidden: int = ELMAN_HIDDEN) -> dict[str, np.ndarray]:
    """Weights of the Elman net as numpy arrays (fixed seed)."""
    rng = np.random.default_rng(seed)
    n_in, n_h, n_out = ELMAN_INPUTS, n_hidden, ELMAN_OUTPUTS
    return {
        "W_xh": rng.normal(0.0, 1.0, (n_in, n_h)),
        "W_hh": rng.normal(0.0, 1.0 / np.sqrt(n_h), (n_h, n_h)),
        "b_h": rng.normal(0.0, 0.1, (n_h,)),
        "W_hy": rng.normal(0.0, 1.0 / np.sqrt(n_h), (n_h, n_out)),
        "b_y": rng.normal(0.0, 0.1, (n_out,)),
    }


def elman_data(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``xs`` (steps, batch, 2) and targets ``ys`` (steps, batch, 1) in [0, 1]."""
    rng = np.random.default_rng(seed)
    xs = rng.normal(0.0, 1.0, (ELMAN_STEPS, ELMAN_BATCH, ELMAN_INPUTS))
    ys = rng.uniform(0.0, 1.0, (ELMAN_STEPS, ELMAN_BATCH, ELMAN_OUTPUTS))
    return xs, ys


class Ops(NamedTuple):
    """The few ops the workloads use, taken from one library, so that the engine and its peers
    (benchmarks/bench_peers.py) run literally the same model code."""

    matmul: Callable
    concat: Callable  # concat(list, axis)
    sigmoid: Callable
    tanh: Callable
    sum: Callable
    full: Callable    # full(shape, value): a constant


ENGINE_OPS = Ops(am.matmul, am.concatenate, am.sigmoid, am.tanh, am.sum, np.full)


def elman_loss(ops: Ops, params: Mapping[str, Any], xs: Any, ys: Any) -> Any:
    """The Elman net's squared-error loss over all steps, written once for every library."""
    W_xh, W_hh, b_h, W_hy, b_y = (params[k] for k in ELMAN_PARAMS)
    h = ops.full((xs.shape[1], W_hh.shape[0]), ELMAN_H0)  # constant initial state
    loss = None
    for t in range(xs.shape[0]):
        h = ops.sigmoid(ops.matmul(xs[t], W_xh) + ops.matmul(h, W_hh) + b_h)
        y = ops.sigmoid(ops.matmul(h, W_hy) + b_y)
        d = y - ys[t]
        term = ops.sum(d * d)
        loss = term if loss is None else loss + term
    return loss


def elman_engine(params: Mapping[str, Any], xs: np.ndarray, ys: np.ndarray) -> am.Tensor:
    """The Elman net's loss built from engine primitives; ``params`` are ``am.Parameter``."""
    return elman_loss(ENGINE_OPS, params, xs, ys)


def elman_numpy(params: Mapping[str, np.ndarray], xs: np.ndarray, ys: np.ndarray,
                weights_at_once: bool = False) -> tuple[float, dict[str, np.ndarray]]:
    """Hand-written forward + BPTT of :func:`elman_engine`: ``(loss, {name: gradient})``.

    The weights' gradients are summed step by step, as textbook BPTT does; with
    ``weights_at_once`` each is one matmul over all the steps at the end (like the engine's).
    """
    W_xh, W_hh, b_h, W_hy, b_y = (params[k] for k in ELMAN_PARAMS)
    steps = xs.shape[0]
    h = np.full((xs.shape[1], W_hh.shape[0]), ELMAN_H0)
    hs = [h]
    outs = []
    diffs = []
    loss = 0.0
    for t in range(steps):
        h = sigmoid(xs[t] @ W_xh + h @ W_hh + b_h)
        y = sigmoid(h @ W_hy + b_y)
        d = y - ys[t]
        loss += np.sum(d * d)
        hs.append(h)
        outs.append(y)
        diffs.append(d)

    dW_xh = np.zeros_like(W_xh)
    dW_hh = np.zeros_like(W_hh)
    db_h = np.zeros_like(b_h)
    dW_hy = np.zeros_like(W_hy)
    db_y = np.zeros_like(b_y)
    W_hh_T = W_hh.T
    W_hy_T = W_hy.T
    dh_next = None
    dzs, das = [None] * steps, [None] * steps
    for t in range(steps - 1, -1, -1):
        h, h_prev, y = hs[t + 1], hs[t], outs[t]
        dz = 2.0 * diffs[t] * y * (1.0 - y)
        dh = dz @ W_hy_T
        if dh_next is not None:
            dh += dh_next
        da = dh * h * (1.0 - h)
        if weights_at_once:
            dzs[t], das[t] = dz, da
        else:
            dW_hy += h.T @ dz
            db_y += dz.sum(axis=0)
            dW_xh += xs[t].T @ da
            dW_hh += h_prev.T @ da
            db_h += da.sum(axis=0)
        if t > 0:  # the initial state is a constant: no gradient needed for it
            dh_next = da @ W_hh_T
    if weights_at_once:
        DZ, DA = np.concatenate(dzs), np.concatenate(das)
        dW_hy, db_y = np.concatenate(hs[1:]).T @ DZ, DZ.sum(axis=0)
        dW_xh = xs.reshape(-1, xs.shape[2]).T @ DA
        dW_hh, db_h = np.concatenate(hs[:-1]).T @ DA, DA.sum(axis=0)
    grads = {"W_xh": dW_xh, "W_hh": dW_hh, "b_h": db_h, "W_hy": dW_hy, "b_y": db_y}
    return float(loss), grads


# --- (b) LSTM ---------------------------------------------------------------------------------

LSTM_INPUTS, LSTM_HIDDEN = 8, 128
LSTM_BATCH, LSTM_STEPS = 32, 100
LSTM_PARAMS = ("W_x", "W_h", "b")
LSTM_GATES = ("split", "concat")
LSTM_DEFAULT_GATES = "concat"


def lstm_params(seed: int = 2, n_hidden: int = LSTM_HIDDEN) -> dict[str, np.ndarray]:
    """LSTM weights as numpy arrays: W_x (8, 512), W_h (128, 512), b (512,); forget bias 1."""
    rng = np.random.default_rng(seed)
    n_in, n_h = LSTM_INPUTS, n_hidden
    scale = 1.0 / np.sqrt(n_h)
    b = rng.uniform(-scale, scale, (4 * n_h,))
    b[n_h:2 * n_h] += 1.0
    return {
        "W_x": rng.uniform(-scale, scale, (n_in, 4 * n_h)),
        "W_h": rng.uniform(-scale, scale, (n_h, 4 * n_h)),
        "b": b,
    }


def lstm_data(seed: int = 3, batch: int = LSTM_BATCH) -> tuple[np.ndarray]:
    """Inputs ``xs`` (steps, batch, 8), as a 1-tuple so ``*data`` works like elman's."""
    rng = np.random.default_rng(seed)
    return (rng.normal(0.0, 1.0, (LSTM_STEPS, batch, LSTM_INPUTS)),)


def _check_gates(gates: str) -> None:
    if gates not in LSTM_GATES:
        raise ValueError(f"gates must be one of {LSTM_GATES}, got {gates!r}")


def lstm_loss(ops: Ops, params: Mapping[str, Any], xs: Any, gates: str = LSTM_DEFAULT_GATES) -> Any:
    """The LSTM's loss, sum(h_T ** 2), written once for every library."""
    _check_gates(gates)
    W_x, W_h, b = (params[k] for k in LSTM_PARAMS)
    n_h = W_h.shape[0]
    s_i, s_f, s_g, s_o = ((slice(None), slice(k * n_h, (k + 1) * n_h)) for k in range(4))
    h = ops.full((xs.shape[1], n_h), 0.0)
    c = ops.full((xs.shape[1], n_h), 0.0)
    if gates == "concat":
        W = ops.concat([W_x, W_h], 0)
    for t in range(xs.shape[0]):
        if gates == "concat":
            z = ops.matmul(ops.concat([xs[t], h], 1), W) + b
        else:
            z = ops.matmul(xs[t], W_x) + ops.matmul(h, W_h) + b
        i = ops.sigmoid(z[s_i])
        f = ops.sigmoid(z[s_f])
        g = ops.tanh(z[s_g])
        o = ops.sigmoid(z[s_o])
        c = f * c + i * g
        h = o * ops.tanh(c)
    return ops.sum(h * h)


def lstm_engine(params: Mapping[str, Any], xs: np.ndarray, gates: str = LSTM_DEFAULT_GATES) -> am.Tensor:
    """The LSTM's loss, sum(h_T ** 2), built from engine primitives."""
    return lstm_loss(ENGINE_OPS, params, xs, gates)


def lstm_numpy(params: Mapping[str, np.ndarray], xs: np.ndarray, gates: str = LSTM_DEFAULT_GATES,
               weights_at_once: bool = False) -> tuple[float, dict[str, np.ndarray]]:
    """Hand-written forward + BPTT of :func:`lstm_engine`: ``(loss, {name: gradient})``.

    The weights' gradients are summed step by step, as textbook BPTT does; with
    ``weights_at_once`` each is one matmul over all the steps at the end (like the engine's).
    """
    _check_gates(gates)
    W_x, W_h, b = (params[k] for k in LSTM_PARAMS)
    steps, batch, n_in = xs.shape
    n_h = W_h.shape[0]
    s_i, s_f, s_g, s_o = (slice(k * n_h, (k + 1) * n_h) for k in range(4))
    concat = gates == "concat"
    W = np.concatenate([W_x, W_h], axis=0) if concat else None
    h = np.zeros((batch, n_h))
    c = np.zeros((batch, n_h))
    tape = []
    for t in range(steps):
        if concat:
            xh = np.concatenate([xs[t], h], axis=1)
            z = xh @ W + b
        else:
            xh = None
            z = xs[t] @ W_x + h @ W_h + b
        i = sigmoid(z[:, s_i])
        f = sigmoid(z[:, s_f])
        g = np.tanh(z[:, s_g])
        o = sigmoid(z[:, s_o])
        c_prev, h_prev = c, h
        c = f * c + i * g
        tc = np.tanh(c)
        h = o * tc
        tape.append((xh, h_prev, c_prev, i, f, g, o, tc))
    loss = np.sum(h * h)

    dW = np.zeros_like(W) if concat else None
    dW_x = np.zeros_like(W_x)
    dW_h = np.zeros_like(W_h)
    db = np.zeros_like(b)
    W_T = W.T if concat else W_h.T
    dz = np.empty((batch, 4 * n_h))
    dzs = np.empty((steps, batch, 4 * n_h)) if weights_at_once else None
    dh = 2.0 * h
    dc = None
    for t in range(steps - 1, -1, -1):
        xh, h_prev, c_prev, i, f, g, o, tc = tape[t]
        if weights_at_once:
            dz = dzs[t]
        do = dh * tc
        dct = dh * o * (1.0 - tc * tc)
        dc = dct if dc is None else dc + dct
        dz[:, s_i] = dc * g * i * (1.0 - i)
        dz[:, s_f] = dc * c_prev * f * (1.0 - f)
        dz[:, s_g] = dc * i * (1.0 - g * g)
        dz[:, s_o] = do * o * (1.0 - o)
        if not weights_at_once:
            db += dz.sum(axis=0)
            if concat:
                dW += xh.T @ dz
            else:
                dW_x += xs[t].T @ dz
                dW_h += h_prev.T @ dz
        if t > 0:  # the initial state is a constant: no gradient needed for it
            dh = dz @ W_T
            if concat:
                dh = dh[:, n_in:]
            dc = dc * f
    if weights_at_once:
        Z = dzs.reshape(steps * batch, 4 * n_h)
        db = Z.sum(axis=0)
        if concat:
            dW = np.concatenate([step[0] for step in tape]).T @ Z
        else:
            dW_x = xs.reshape(steps * batch, n_in).T @ Z
            dW_h = np.concatenate([step[1] for step in tape]).T @ Z
    if concat:
        dW_x, dW_h = dW[:n_in], dW[n_in:]
    return float(loss), {"W_x": dW_x, "W_h": dW_h, "b": db}


# --- checking and timing ----------------------------------------------------------------------


def to_parameters(params: Mapping[str, np.ndarray]) -> dict[str, am.Parameter]:
    return {k: am.Parameter(v, name=k) for k, v in params.items()}


def engine_loss_and_grads(builder: Callable[..., am.Tensor], params: Mapping[str, np.ndarray],
                          *data: Any, **kwargs: Any) -> tuple[float, dict[str, np.ndarray]]:
    """Loss and gradients of ``builder`` computed by the engine, in the reference's format."""
    ps = to_parameters(params)
    loss = builder(ps, *data, **kwargs)
    loss.backward()
    grads = {}
    for k, p in ps.items():
        grads[k] = np.zeros_like(p.value) if p.grad is None else np.asarray(p.grad)
    return float(np.asarray(loss.value).reshape(())), grads


def check_gradients(name: str, builder: Callable, reference: Callable, params: Mapping[str, np.ndarray],
                    data: tuple, rtol: float = RTOL, atol: float = ATOL, **kwargs: Any) -> float:
    """Assert that engine and hand-written gradients (and losses) agree; return the worst error.

    The error of a parameter is ``max |engine - ref| / (atol * max|ref| + rtol * |ref|)``
    (<= 1 passes, like ``np.allclose`` with atol scaled to the gradient's magnitude).
    """
    e_loss, e_grads = engine_loss_and_grads(builder, params, *data, **kwargs)
    r_loss, r_grads = reference(params, *data, **kwargs)
    problems = []
    if not np.isclose(e_loss, r_loss, rtol=rtol, atol=0.0):
        problems.append(f"loss: engine {e_loss!r} vs reference {r_loss!r}")
    worst = 0.0
    for k in params:
        e, r = e_grads[k], r_grads[k]
        if e.shape != r.shape:
            problems.append(f"{k}: shape {e.shape} from the engine, {r.shape} by hand")
            continue
        scale = float(np.max(np.abs(r))) if r.size else 0.0
        tol = atol * max(scale, 1e-300) + rtol * np.abs(r)
        err = float(np.max(np.abs(e - r) / tol)) if r.size else 0.0
        worst = max(worst, err)
        if not np.all(np.isfinite(e)) or err > 1.0:
            diff = float(np.max(np.abs(e - r)))
            problems.append(f"{k}: max |engine - reference| = {diff:.3e} (max |reference| = {scale:.3e}), "
                            f"{err:.3g}x the tolerance")
    if problems:
        raise AssertionError(f"{name}: the engine's gradients disagree with hand-written BPTT:\n  "
                             + "\n  ".join(problems))
    return worst


def count_ops(builder: Callable, params: Mapping[str, np.ndarray], data: tuple, **kwargs: Any) -> int:
    """Number of nodes the engine records for one forward."""
    ps = to_parameters(params)
    with am.Tape() as tape:
        builder(ps, *data, **kwargs)
    return len(tape.nodes)


def _calibrate(fn: Callable[[], Any], min_time: float) -> int:
    """Calls per sample so that one sample lasts at least ``min_time`` (like timeit.autorange)."""
    number = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        if time.perf_counter() - t0 >= min_time or number >= 1 << 20:
            return number
        number *= 2


def _minor_faults() -> int:
    """Page faults of this process so far that the kernel served without disk (0 if unknown)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt if resource is not None else 0


def time_interleaved(fns: dict[str, Callable[[], Any]], repeat: int, min_time: float,
                     warmup: int = 2, faults: dict[str, list[float]] | None = None
                     ) -> dict[str, list[float]]:
    """Seconds per call of each function, ``repeat`` samples each, the functions interleaved.

    With ``faults`` (a dict), also the page faults per call of each sample, by name.
    """
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            fns[name]()
    numbers = {name: _calibrate(fns[name], min_time) for name in names}
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeat):
        for name in (names if r % 2 == 0 else names[::-1]):
            fn, number = fns[name], numbers[name]
            f0 = _minor_faults()
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            samples[name].append((time.perf_counter() - t0) / number)
            if faults is not None:
                faults.setdefault(name, []).append((_minor_faults() - f0) / number)
    return samples


def engine_step(builder: Callable, params: Mapping[str, np.ndarray], data: tuple,
                **kwargs: Any) -> Callable[[], None]:
    """A closure doing one engine forward + backward (grads cleared first, as a training step)."""
    ps = to_parameters(params)
    plist = list(ps.values())

    def step() -> None:
        for p in plist:
            p.grad = None
        builder(ps, *data, **kwargs).backward()

    return step


def reference_step(reference: Callable, params: Mapping[str, np.ndarray], data: tuple,
                   **kwargs: Any) -> Callable[[], None]:
    def step() -> None:
        reference(params, *data, **kwargs)

    return step


# --- reporting --------------------------------------------------------------------------------

OVERHEAD_TARGET_US = 3.0
# Page faults per call worth a warning: thousands mean glibc gave freed memory back to the OS and
# the next call faulted it in again (~1 us each), which makes that side's time a matter of luck.
FAULTS_NOTICE = 100
_FAULTS_WARNING = "\n  WARNING    page faults distort this comparison; rerun, or compare the medians"


def _fmt_time(seconds: float) -> str:
    if seconds >= 1.0:
        return f"{seconds:.3f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3f} ms"
    return f"{seconds * 1e6:.1f} us"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _git_state() -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "autograd_mini"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not rev:
        return "unknown"
    return rev + (" + uncommitted changes in autograd_mini/" if dirty else "")


def _blas_line() -> str:
    try:
        cfg = np.show_config(mode="dicts")  # numpy >= 1.25; cheap, no printing
        blas = cfg["Build Dependencies"]["blas"]
        line = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
        extra = blas.get("openblas configuration")
        return f"{line} ({extra})" if extra else line
    except Exception:  # older numpy or an unexpected layout: not worth failing over
        return "unknown"


def print_header() -> None:
    now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    env = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
           if k in os.environ}
    print("autograd_mini engine benchmark")
    print(f"  date         {now}")
    print(f"  numpy        {np.__version__}   python {platform.python_version()}   "
          f"{platform.machine()}, {os.cpu_count()} cpus")
    print(f"  BLAS         {_blas_line()}")
    print(f"  thread env   {env if env else 'none set'}")
    print(f"  engine       autograd_mini {am.__version__}, git {_git_state()}")


WORKLOADS = {
    "elman": dict(
        title="(a) Elman RNN, sigmoid: 2 in, 16 hidden, 1 out, batch 32, 8 steps, h0 = 0.5",
        builder=elman_engine, reference=elman_numpy, params=elman_params, data=elman_data,
        ratio_target=2.5),
    "lstm": dict(
        title="(b) LSTM cell: 8 in, 128 hidden, batch 32, 100 steps, loss = sum(h_T^2)",
        builder=lstm_engine, reference=lstm_numpy, params=lstm_params, data=lstm_data,
        ratio_target=1.3),
    # The graph of (b) with arrays so small that numpy's work is negligible: what is left of
    # (engine - reference) / ops is the engine's own bookkeeping per op on the LSTM's op mix.
    "lstm-small": dict(
        title="(b') the LSTM of (b) with 4 cells and batch 1: the same ops, tiny arrays",
        builder=lstm_engine, reference=lstm_numpy, params=functools.partial(lstm_params, n_hidden=4),
        data=functools.partial(lstm_data, batch=1), ratio_target=None),
}


def _workload_kwargs(name: str, lstm_gates: str) -> dict[str, str]:
    return {"gates": lstm_gates} if name.startswith("lstm") else {}


def run_workload(name: str, repeat: int, min_time: float, lstm_gates: str) -> dict[str, Any]:
    w = WORKLOADS[name]
    kwargs = _workload_kwargs(name, lstm_gates)
    title = w["title"] + (f", gates={lstm_gates}" if kwargs else "")
    params, data = w["params"](), w["data"]()
    print(f"\n{title}")
    at_once = functools.partial(w["reference"], weights_at_once=True)
    try:
        worst = max(check_gradients(name, w["builder"], reference, params, data, **kwargs)
                             for reference in (w["reference"], at_once))
    except AssertionError as e:
        print(f"\nFATAL: {e}", file=sys.stderr)
        print("FATAL: gradient check failed; no timings taken.", file=sys.stderr)
        raise SystemExit(1)
    print(f"  gradients  agree with both hand-written BPTTs for {', '.join(params)} "
          f"(worst {worst:.2g} of the tolerance rtol={RTOL:g})")
    n_ops = count_ops(w["builder"], params, data, **kwargs)
    faults: dict[str, list[float]] = {}
    samples = time_interleaved({
        "engine": engine_step(w["builder"], params, data, **kwargs),
        "reference": reference_step(w["reference"], params, data, **kwargs),
        "at once": reference_step(at_once, params, data, **kwargs),
    }, repeat=repeat, min_time=min_time, faults=faults)
    eng, ref, once = (min(samples[k]) for k in ("engine", "reference", "at once"))
    ratio = eng / ref
    overhead_us = (eng - ref) / n_ops * 1e6
    print(f"  engine     {_fmt_time(eng):>10}   (median {_fmt_time(statistics.median(samples['engine']))}, "
          f"{len(samples['engine'])} samples)")
    print(f"  reference  {_fmt_time(ref):>10}   (median {_fmt_time(statistics.median(samples['reference']))})"
          "   weight gradients summed step by step")
    target = w["ratio_target"]
    print(f"  ratio      {ratio:10.2f}   " + ("no target" if target is None
                                            else f"target <= {target:g}   {_verdict(ratio <= target)}"))
    print(f"  ops        {n_ops:10d}   recorded in one forward")
    print(f"  overhead   {overhead_us:7.2f} us/op   target <= {OVERHEAD_TARGET_US:g}   "
          f"{_verdict(overhead_us <= OVERHEAD_TARGET_US)}")
    print(f"  at once    {_fmt_time(once):>10}   (median {_fmt_time(statistics.median(samples['at once']))})"
          "   reference with each weight gradient one matmul over all steps, as the engine sums it:")
    print(f"             {eng / once:10.2f}   ratio and {(eng - once) / n_ops * 1e6:.2f} us/op overhead against it "
          "(for comparison, no target)")
    if resource is not None:
        f_eng, f_ref, f_once = (statistics.median(faults[k]) for k in ("engine", "reference", "at once"))
        print(f"  faults     {f_eng:10.0f}   page faults per call, median (references {f_ref:.0f}, {f_once:.0f})"
              + (_FAULTS_WARNING if max(f_eng, f_ref, f_once) >= FAULTS_NOTICE else ""))
    return {"engine": eng, "reference": ref, "at once": once, "ratio": ratio, "n_ops": n_ops,
            "overhead_us": overhead_us}


def profile_engine(name: str, calls: int, lstm_gates: str, top: int = 10) -> None:
    """cProfile the engine side of a workload (forward + backward), top functions by tottime."""
    import cProfile
    import pstats

    w = WORKLOADS[name]
    kwargs = _workload_kwargs(name, lstm_gates)
    step = engine_step(w["builder"], w["params"](), w["data"](), **kwargs)
    step()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(calls):
        step()
    prof.disable()
    print(f"\ncProfile of the engine side of {name}: {calls} forward+backward calls, top {top} by tottime")
    pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=None,
                        help="timing samples per side (default 7, 2 with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: few, short samples (figures are rough)")
    parser.add_argument("--workload", choices=[*WORKLOADS, "all"], default="all")
    parser.add_argument("--lstm-gates", choices=LSTM_GATES, default=LSTM_DEFAULT_GATES,
                        help="gate formulation of workload (b), the same in both implementations")
    parser.add_argument("--profile", nargs="?", const="elman", choices=list(WORKLOADS), default=None,
                        help="also cProfile the engine side of a workload (default elman)")
    args = parser.parse_args(argv)
    repeat = args.repeat if args.repeat is not None else (2 if args.quick else 7)
    if repeat < 1:
        parser.error("--repeat must be at least 1")
    min_time = 0.005 if args.quick else 0.2

    print_header()
    print(f"  timing       best of {repeat} interleaved samples per side, each >= {min_time:g} s"
          f"{' (--quick)' if args.quick else ''}; gc on")
    names = list(WORKLOADS) if args.workload == "all" else [args.workload]
    for name in names:
        run_workload(name, repeat, min_time, args.lstm_gates)
    if args.profile:
        profile_engine(args.profile, calls=20 if args.quick else 300, lstm_gates=args.lstm_gates)
    return 0


if __name__ == "__main__":
    sys.exit(main())
