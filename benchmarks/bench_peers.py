"""Peer benchmark: autograd_mini against hand-written numpy, PyTorch, HIPS autograd and a minimal tape.

What is measured
----------------
One training step (forward + backward) of five recurrent workloads, written six times in the
same process with one op for one op:

* ``numpy (plain sigmoid)`` -- THE reference (issue 12): a hand-written numpy forward + BPTT,
  defined in this file, written the fastest correct way numpy allows. Its sigmoid is the plain
  logistic ``1 / (1 + exp(-x))`` (computed in place; one ``np.errstate(over="ignore")`` per call
  keeps the harmless overflow to 0 below x ~ -709 quiet). Each step runs the op sequence of the
  model (no work hoisted out of the step loop or fused across steps) and the BPTT sums each
  weight's gradient step by step, ``dW += x_t.T @ dz_t``; within that it writes into
  preallocated buffers (``out=``, in-place updates), so it allocates next to nothing per step,
  computes the sum of squares as ``np.vdot(d, d)``, and the LSTM's ``dh`` only from ``W_h``
  (not the whole ``[W_x; W_h]``, whose ``x`` rows nobody needs). It runs in float32 too;
* ``numpy (where sigmoid)`` -- the earlier reference, ``bench_engine.py``'s hand-written BPTT,
  whose sigmoid is the overflow-free ``where(x >= 0, 1, e) / (1 + e)``, ``e = exp(-|x|)``, with a
  new array for every intermediate. Issue 12: it flatters the engine. Kept as a second column
  (and it is what the gradients are checked against); it computes in float64 only, so it has no
  figure on the float32 row;
* ``autograd_mini`` -- the model code of ``bench_engine.py`` on ``am.Parameter`` weights;
* ``torch``         -- PyTorch eager, the same primitive ops (``torch.matmul``, ``+``,
  ``torch.sigmoid``, ``torch.tanh``, ``torch.cat``, slicing, ``torch.sum``) on leaf tensors with
  ``requires_grad`` in the workload's dtype; ``torch.set_num_threads(1)``;
* ``HIPS autograd`` -- ``autograd.numpy`` with ``autograd.value_and_grad`` over the parameter
  dict; its sigmoid is one primitive (``@autograd.extend.primitive``, the overflow-free formula
  of ``bench_engine.sigmoid`` and the VJP ``g * ans * (1 - ans)``), so it records one op per
  sigmoid, as autograd_mini does;
* ``minimal tape``  -- the floor: ``benchmarks/minimal_tape.py``, a ~100-line reverse-mode tape
  with none of autograd_mini's features (one small object per op holding its value and, per
  input, the input, a VJP function and what it reads; a reverse loop over a list in creation
  order; the plain sigmoid). What recording and replaying cost in Python and nothing else: run
  with the garbage collector on, like every column, which on the long Elman net is a large part
  of its time (its ~4 tracked objects per op).

torch and HIPS autograd are optional: one that cannot be imported is reported as
``not installed (pip install ...)`` and its columns stay empty; the script carries on.

Workloads (fixed seeds; the first three are ``bench_engine.py``'s parameters and data):

* ``elman3``      -- the lecture's binary-addition net: logistic Elman RNN 2-3-1, batch 32, 8 steps,
  h0 = 0.5, squared error summed over steps (``bench_engine`` workload (a) with 3 hidden units);
* ``elman16``     -- the same with 16 hidden units (exactly ``bench_engine`` workload (a));
* ``lstm``        -- ``bench_engine`` workload (b): LSTM 8 in, 128 cells, batch 32, 100 steps, float64;
* ``elman8_long`` -- Elman 2-8-1, batch 1, 10,000 steps, the same loss: tiny
  arrays, a long graph (120,000 recorded ops), so it measures an engine's cost per op;
* ``lstm_f32``    -- the LSTM of ``lstm`` with float32 parameters and data everywhere (torch
  float32 too).

The script

1. checks, for every workload, that every implementation's loss and gradients agree with
   ``bench_engine``'s hand-written BPTT in float64 (rtol 1e-9, atol 1e-12 x the largest
   reference gradient, the test of ``bench_engine.check_gradients``; the float32 row against the
   float64 reference on the same float32-rounded numbers, rtol 1e-4, atol 1e-5 x the largest),
   and aborts with exit code 1 before any timing if one does not;
2. times the training step of each implementation, interleaved (``bench_engine.time_interleaved``:
   warm-up, then ``--repeat`` samples each, each the mean over calls lasting ``--min-time``,
   0.2 s; a call of the 10,000-step workload is longer than that, so it gets no warm-up but the
   calibrating call and at most 3 samples), best sample;
3. prints the date, the versions, a table of ms per step (best and median), a table of ratios to
   ``numpy (plain sigmoid)`` (autograd_mini, torch, minimal tape, HIPS autograd and the old
   reference over it; and autograd_mini / torch, autograd_mini / HIPS), and PASS/MISS against
   the issue-12 targets, all autograd_mini / numpy (plain sigmoid):
   2-3-1 <= 1.6, 2-16-1 <= 1.6, LSTM float64 <= 1.10, LSTM float32 <= 1.20, 10,000-step Elman
   <= 2.3, and autograd_mini ahead of PyTorch eager (autograd_mini / torch < 1) on every row.
   Of the earlier targets only "faster than HIPS autograd on the Elman nets" is still printed;
   "within 1.3x of the hand-written numpy on the LSTM" measured against the flattering
   reference and is replaced by the 1.10 above.

A MISS is a measurement, not a failure: the exit code is 0 unless the gradients disagree.
numpy's BLAS keeps its own thread count (printed); only torch is pinned to one thread. On a
machine where something else is running, a multi-threaded OpenBLAS can make every numpy-based
LSTM figure many times slower (measured: 5 s instead of 0.1 s a step on 2 cores with one busy);
run with ``OPENBLAS_NUM_THREADS=1`` (or OMP_NUM_THREADS / MKL_NUM_THREADS) to pin it too.

Run::

    python benchmarks/bench_peers.py                 # full run (~2-3 min)
    python benchmarks/bench_peers.py --quick         # short samples (the 10,000-step row still ~1 min)
    python benchmarks/bench_peers.py --workload lstm --repeat 11
    python benchmarks/bench_peers.py --workload elman8_long --steps 1000
    python benchmarks/bench_peers.py --quick --steps 4  # smoke run of the code paths only
    python benchmarks/bench_peers.py --instructions  # and instruction counts beside the ratios

Installing the peers: ``pip install torch==2.13.0 autograd`` (for torch take a CPU-only wheel,
e.g. ``--index-url https://download.pytorch.org/whl/cpu``; the default Linux wheel brings CUDA).
"""
from __future__ import annotations

import argparse
import datetime
import functools
import importlib.metadata
import importlib.util
import os
import platform
import statistics
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Mapping

import numpy as np

import autograd_mini as am


sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling scripts, run or loaded by the tests
import bench_engine as BE  # noqa: E402
import minimal_tape as MT  # noqa: E402

RTOL, ATOL = BE.RTOL, BE.ATOL
F32_RTOL, F32_ATOL = 1e-4, 1e-5  # float32 results against the float64 reference
REF = "numpy (plain sigmoid)"      # the reference the ratios and targets are measured against
OLD_REF = "numpy (where sigmoid)"  # bench_engine's BPTT: the gradient check's reference
IMPLS = (REF, OLD_REF, "autograd_mini", "torch", "HIPS autograd", "minimal tape")
PEERS = ("torch", "HIPS autograd")
INSTALL_HINT = {
    "torch": "pip install torch==2.13.0",
    "HIPS autograd": "pip install autograd",
}
TORCH_TARGET = 1.0   # autograd_mini / torch must be below this on every row ("ahead of PyTorch eager")
HIPS_TARGET = 1.0    # the earlier target: autograd_mini / HIPS autograd below this on the Elman nets
LONG_STEPS = 10_000
LONG_MAX_REPEAT = 3  # samples of the 10,000-step workload at most (and no warm-up beyond the
                     # calibrating call): a call takes 0.4-14 s, HIPS autograd's the 14


# --- workload data ----------------------------------------------------------------------------


def elman_params(n_hidden: int = BE.ELMAN_HIDDEN, seed: int = 0) -> dict[str, np.ndarray]:
    """``bench_engine.elman_params`` with the hidden size first (identical for 16)."""
    return BE.elman_params(seed, n_hidden=n_hidden)


def elman_data(steps: int = BE.ELMAN_STEPS, batch: int = BE.ELMAN_BATCH, seed: int = 1
               ) -> tuple[np.ndarray, np.ndarray]:
    """``bench_engine.elman_data`` for any length and batch (identical for 8 steps, batch 32)."""
    rng = np.random.default_rng(seed)
    xs = rng.normal(0.0, 1.0, (steps, batch, BE.ELMAN_INPUTS))
    ys = rng.uniform(0.0, 1.0, (steps, batch, BE.ELMAN_OUTPUTS))
    return xs, ys


def lstm_data(steps: int = BE.LSTM_STEPS, batch: int = BE.LSTM_BATCH, seed: int = 3) -> tuple[np.ndarray]:
    """``bench_engine.lstm_data`` for any length (identical for 100 steps)."""
    rng = np.random.default_rng(seed)
    return (rng.normal(0.0, 1.0, (steps, batch, BE.LSTM_INPUTS)),)


def _f32(arrays: Any) -> Any:
    if isinstance(arrays, dict):
        return {k: v.astype(np.float32) for k, v in arrays.items()}
    return tuple(a.astype(np.float32) for a in arrays)


# "label" shows "{steps}" where the table gives the sequence length; "data" takes the length.
WORKLOADS: dict[str, dict[str, Any]] = {
    "elman3": dict(
        label="Elman 2-3-1 (binary addition)",
        title="logistic Elman RNN 2-3-1 (the lecture's binary-addition net), batch 32, 8 steps",
        kind="elman", dtype=np.float64, steps=BE.ELMAN_STEPS, target=1.6,
        params=lambda: elman_params(3), data=elman_data),
    "elman16": dict(
        label="Elman 2-16-1",
        title="logistic Elman RNN 2-16-1, batch 32, 8 steps (bench_engine (a))",
        kind="elman", dtype=np.float64, steps=BE.ELMAN_STEPS, target=1.6,
        params=lambda: elman_params(16), data=elman_data),
    "lstm": dict(
        label="LSTM 8-128, {steps}",
        title="LSTM 8 in, 128 cells, batch 32, 100 steps, float64 (bench_engine (b))",
        kind="lstm", dtype=np.float64, steps=BE.LSTM_STEPS, target=1.10,
        params=BE.lstm_params, data=lstm_data),
    "elman8_long": dict(
        label="Elman 2-8-1, {steps}",
        title="logistic Elman RNN 2-8-1, batch 1, 10,000 steps",
        kind="elman", dtype=np.float64, steps=LONG_STEPS, target=2.3, max_repeat=LONG_MAX_REPEAT, max_warmup=0,
        params=lambda: elman_params(8, seed=4), data=lambda steps: elman_data(steps, batch=1, seed=5)),
    "lstm_f32": dict(
        label="LSTM 8-128, {steps}, f32",
        title="the LSTM of 'lstm' in float32 (parameters, data, every implementation)",
        kind="lstm", dtype=np.float32, steps=BE.LSTM_STEPS, target=1.20,
        params=lambda: _f32(BE.lstm_params()), data=lambda steps: _f32(lstm_data(steps))),
}


def workload_inputs(wname: str, steps: int | None = None) -> tuple[dict[str, np.ndarray], tuple]:
    """``(params, data)`` of a workload; ``steps`` shortens (or lengthens) its sequence."""
    w = WORKLOADS[wname]
    return w["params"](), w["data"](steps or w["steps"])


def workload_label(wname: str, steps: int | None = None) -> str:
    """The table's name of a workload, with its sequence length when not the default."""
    w = WORKLOADS[wname]
    n = steps or w["steps"]
    label = w["label"].format(steps=f"{n:,} steps")
    if n != w["steps"] and "{steps}" not in w["label"]:
        label += f", {n:,} steps"
    return label


def _full(dtype: Any) -> Callable:
    return functools.partial(np.full, dtype=dtype)


# --- the reference: hand-written numpy with the plain sigmoid, in place -------------------------


def _sigmoid_(a: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-a))`` in place (under the caller's ``np.errstate(over="ignore")``)."""
    np.negative(a, out=a)
    np.exp(a, out=a)
    a += 1.0
    return np.reciprocal(a, out=a)


def elman_numpy_plain(params: Mapping[str, np.ndarray], xs: np.ndarray, ys: np.ndarray
                      ) -> tuple[float, dict[str, np.ndarray]]:
    """Forward + BPTT of ``bench_engine.elman_loss`` with the plain sigmoid, in place."""
    W_xh, W_hh, b_h, W_hy, b_y = (params[k] for k in BE.ELMAN_PARAMS)
    steps, batch, _ = xs.shape
    n_h, n_out = W_hy.shape
    dt = W_hh.dtype
    H = np.empty((steps + 1, batch, n_h), dt)  # H[t + 1] = h_t; H[0] = the constant h0
    H[0] = BE.ELMAN_H0
    Y = np.empty((steps, batch, n_out), dt)
    D = np.empty((steps, batch, n_out), dt)    # y_t - target_t
    hh = np.empty((batch, n_h), dt)
    loss = 0.0
    with np.errstate(over="ignore"):
        for t in range(steps):
            h, y = H[t + 1], Y[t]
            np.matmul(xs[t], W_xh, out=h)
            np.matmul(H[t], W_hh, out=hh)
            h += hh
            h += b_h
            _sigmoid_(h)
            np.matmul(h, W_hy, out=y)
            y += b_y
            _sigmoid_(y)
            d = np.subtract(y, ys[t], out=D[t])
            loss += np.vdot(d, d)

        grads = {k: np.zeros_like(params[k]) for k in BE.ELMAN_PARAMS}
        dW_xh, dW_hh, db_h, dW_hy, db_y = (grads[k] for k in BE.ELMAN_PARAMS)
        tW_xh, tW_hh, tW_hy = np.empty_like(W_xh), np.empty_like(W_hh), np.empty_like(W_hy)
        W_hh_T, W_hy_T = W_hh.T, W_hy.T
        dz = np.empty((batch, n_out), dt)
        dh = np.empty((batch, n_h), dt)
        da = np.empty((batch, n_h), dt)
        dh_next = np.empty((batch, n_h), dt)
        for t in range(steps - 1, -1, -1):
            h, y = H[t + 1], Y[t]
            np.subtract(1.0, y, out=dz)        # dz = 2 d y (1 - y)
            dz *= y
            dz *= D[t]
            dz *= 2.0
            np.matmul(dz, W_hy_T, out=dh)
            if t < steps - 1:
                dh += dh_next
            np.subtract(1.0, h, out=da)        # da = dh h (1 - h)
            da *= h
            da *= dh
            np.matmul(h.T, dz, out=tW_hy)
            dW_hy += tW_hy
            db_y += dz.sum(axis=0)
            np.matmul(xs[t].T, da, out=tW_xh)
            dW_xh += tW_xh
            np.matmul(H[t].T, da, out=tW_hh)
            dW_hh += tW_hh
            db_h += da.sum(axis=0)
            if t > 0:  # the initial state is a constant: no gradient needed for it
                np.matmul(da, W_hh_T, out=dh_next)
    return float(loss), grads


def lstm_numpy_plain(params: Mapping[str, np.ndarray], xs: np.ndarray, gates: str = BE.LSTM_DEFAULT_GATES
                     ) -> tuple[float, dict[str, np.ndarray]]:
    """Forward + BPTT of ``bench_engine.lstm_loss`` with the plain sigmoid, in place."""
    BE._check_gates(gates)
    W_x, W_h, b = (params[k] for k in BE.LSTM_PARAMS)
    steps, batch, n_in = xs.shape
    n_h = W_h.shape[0]
    dt = W_h.dtype
    s_i, s_f, s_g, s_o = ((slice(None), slice(k * n_h, (k + 1) * n_h)) for k in range(4))
    concat = gates == "concat"
    if concat:  # XH[t] = [x_t, h_{t-1}], the input of step t's matmul; h_t is written into XH[t + 1]
        W = np.concatenate([W_x, W_h], axis=0)
        XH = np.empty((steps, batch, n_in + n_h), dt)
        XH[:, :, :n_in] = xs
        H_prev = XH[:, :, n_in:]
    else:
        H_prev = np.empty((steps, batch, n_h), dt)
    H_prev[0] = 0.0
    Z = np.empty((steps, batch, 4 * n_h), dt)   # the gates i, f, g, o of each step
    C = np.empty((steps + 1, batch, n_h), dt)   # C[t + 1] = c_t; C[0] = 0
    C[0] = 0.0
    TC = np.empty((steps, batch, n_h), dt)      # tanh(c_t)
    ig = np.empty((batch, n_h), dt)
    h = np.empty((batch, n_h), dt)              # h_T
    with np.errstate(over="ignore"):
        for t in range(steps):
            z = Z[t]
            if concat:
                np.matmul(XH[t], W, out=z)
            else:
                np.matmul(xs[t], W_x, out=z)
                z += H_prev[t] @ W_h
            z += b
            i, f, g, o = z[s_i], z[s_f], z[s_g], z[s_o]
            _sigmoid_(i)
            _sigmoid_(f)
            np.tanh(g, out=g)
            _sigmoid_(o)
            c = np.multiply(f, C[t], out=C[t + 1])
            c += np.multiply(i, g, out=ig)
            tc = np.tanh(c, out=TC[t])
            np.multiply(o, tc, out=H_prev[t + 1] if t + 1 < steps else h)
        loss = np.vdot(h, h)

        dW = np.zeros_like(W) if concat else None
        dW_x, dW_h = (None, None) if concat else (np.zeros_like(W_x), np.zeros_like(W_h))
        tW = np.empty_like(W) if concat else None
        tW_x, tW_h = (None, None) if concat else (np.empty_like(W_x), np.empty_like(W_h))
        db = np.zeros_like(b)
        W_h_T = W_h.T  # dh_{t-1} = dz @ W_h.T: the rows of W that multiply h (the x rows are not needed)
        dz = np.empty((batch, 4 * n_h), dt)
        dz_i, dz_f, dz_g, dz_o = dz[s_i], dz[s_f], dz[s_g], dz[s_o]
        dh = 2.0 * h
        dc = np.zeros((batch, n_h), dt)
        tmp = np.empty((batch, n_h), dt)
        for t in range(steps - 1, -1, -1):
            z, tc, c_prev = Z[t], TC[t], C[t]
            i, f, g, o = z[s_i], z[s_f], z[s_g], z[s_o]
            np.subtract(1.0, o, out=dz_o)      # dz_o = dh tanh(c) o (1 - o)
            dz_o *= o
            dz_o *= tc
            dz_o *= dh
            np.multiply(tc, tc, out=tmp)       # dc += dh o (1 - tanh(c)^2)
            np.subtract(1.0, tmp, out=tmp)
            tmp *= o
            tmp *= dh
            dc += tmp
            np.subtract(1.0, i, out=dz_i)      # dz_i = dc g i (1 - i)
            dz_i *= i
            dz_i *= g
            dz_i *= dc
            np.subtract(1.0, f, out=dz_f)      # dz_f = dc c_{t-1} f (1 - f)
            dz_f *= f
            dz_f *= c_prev
            dz_f *= dc
            np.multiply(g, g, out=dz_g)        # dz_g = dc i (1 - g^2)
            np.subtract(1.0, dz_g, out=dz_g)
            dz_g *= i
            dz_g *= dc
            db += dz.sum(axis=0)
            if concat:
                np.matmul(XH[t].T, dz, out=tW)
                dW += tW
            else:
                np.matmul(xs[t].T, dz, out=tW_x)
                dW_x += tW_x
                np.matmul(H_prev[t].T, dz, out=tW_h)
                dW_h += tW_h
            if t > 0:  # the initial state is a constant: no gradient needed for it
                np.matmul(dz, W_h_T, out=dh)
                dc *= f
    if concat:
        dW_x, dW_h = dW[:n_in], dW[n_in:]
    return float(loss), {"W_x": dW_x, "W_h": dW_h, "b": db}


# --- the peers: loaded on demand, each optional -----------------------------------------------


def _import_torch() -> ModuleType:
    import torch

    torch.set_num_threads(1)
    return torch


def _import_hips() -> ModuleType:
    import autograd  # HIPS autograd (pip install autograd)
    import autograd.extend  # noqa: F401  (primitive, defvjp)
    import autograd.numpy  # noqa: F401

    return autograd


IMPORTERS: dict[str, Callable[[], ModuleType]] = {"torch": _import_torch, "HIPS autograd": _import_hips}


def load_peers() -> tuple[dict[str, ModuleType], dict[str, str]]:
    """``({peer: module}, {peer: why not available})`` for torch and HIPS autograd."""
    found, missing = {}, {}
    for name in PEERS:
        try:
            found[name] = IMPORTERS[name]()
        except ImportError:
            missing[name] = f"not installed ({INSTALL_HINT[name]})"
        except Exception as e:  # a broken install: say so and carry on without it
            missing[name] = f"not importable ({type(e).__name__}: {e}; {INSTALL_HINT[name]})"
    return found, missing


def _version(dist: str, module: ModuleType | None = None) -> str:
    v = getattr(module, "__version__", None)
    if v:
        return str(v)
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _dtype(params: Mapping[str, np.ndarray]) -> np.dtype:
    return next(iter(params.values())).dtype


# --- the implementations: loss_and_grads(kind, params, data, **kw), step(...) -------------------


class _Builders:
    """Model code of ``bench_engine`` on one library's ops, per kind and dtype."""

    def __init__(self, ops: Any, full: Callable[[Any], Callable]) -> None:
        self.ops, self.full, self.made = ops, full, {}

    def get(self, kind: str, dtype: np.dtype) -> Callable:
        key = (kind, np.dtype(dtype))
        if key not in self.made:
            ops = self.ops._replace(full=self.full(key[1]))
            self.made[key] = functools.partial(BE.elman_loss if kind == "elman" else BE.lstm_loss, ops)
        return self.made[key]


class TorchImpl:
    def __init__(self, torch: ModuleType) -> None:
        self.torch = torch
        tdtype = {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32}
        self.tdtype = tdtype

        def full(dtype: np.dtype) -> Callable:
            return lambda shape, value: torch.full(shape, value, dtype=tdtype[np.dtype(dtype)])

        self.builders = _Builders(BE.Ops(torch.matmul, torch.cat, torch.sigmoid, torch.tanh, torch.sum, None),
                                  full)

    def supports(self, dtype: np.dtype) -> bool:
        return True

    def _setup(self, params: Mapping[str, np.ndarray], data: tuple) -> tuple[dict, tuple]:
        td = self.tdtype[_dtype(params)]
        ps = {k: self.torch.tensor(v, dtype=td, requires_grad=True) for k, v in params.items()}
        ds = tuple(self.torch.from_numpy(np.ascontiguousarray(d)).to(td) for d in data)
        return ps, ds

    def loss_and_grads(self, kind: str, params: Mapping[str, np.ndarray], data: tuple,
                       **kw: Any) -> tuple[float, dict[str, np.ndarray]]:
        ps, ds = self._setup(params, data)
        loss = self.builders.get(kind, _dtype(params))(ps, *ds, **kw)
        loss.backward()
        grads = {k: (np.zeros(params[k].shape, params[k].dtype) if p.grad is None
                     else p.grad.detach().numpy().copy()) for k, p in ps.items()}
        return float(loss.item()), grads

    def step(self, kind: str, params: Mapping[str, np.ndarray], data: tuple, **kw: Any) -> Callable[[], None]:
        ps, ds = self._setup(params, data)
        plist = list(ps.values())
        builder = self.builders.get(kind, _dtype(params))

        def step() -> None:
            for p in plist:
                p.grad = None
            builder(ps, *ds, **kw).backward()

        return step


class HipsImpl:
    def __init__(self, autograd: ModuleType) -> None:
        self.autograd = autograd
        anp = autograd.numpy
        primitive, defvjp = autograd.extend.primitive, autograd.extend.defvjp

        @primitive
        def sigmoid(x: np.ndarray) -> np.ndarray:
            return BE.sigmoid(x)  # the overflow-free np.where formula

        defvjp(sigmoid, lambda ans, x: lambda g: g * ans * (1.0 - ans))
        self.builders = _Builders(BE.Ops(anp.matmul, anp.concatenate, sigmoid, anp.tanh, anp.sum, None), _full)

    def supports(self, dtype: np.dtype) -> bool:
        return True

    def _value_and_grad(self, kind: str, params: Mapping[str, np.ndarray], data: tuple, **kw: Any) -> Callable:
        builder = self.builders.get(kind, _dtype(params))
        return self.autograd.value_and_grad(lambda ps: builder(ps, *data, **kw))

    def loss_and_grads(self, kind: str, params: Mapping[str, np.ndarray], data: tuple,
                       **kw: Any) -> tuple[float, dict[str, np.ndarray]]:
        loss, grads = self._value_and_grad(kind, params, data, **kw)(dict(params))
        return float(loss), {k: np.asarray(g) for k, g in grads.items()}

    def step(self, kind: str, params: Mapping[str, np.ndarray], data: tuple, **kw: Any) -> Callable[[], None]:
        vg = self._value_and_grad(kind, params, data, **kw)
        ps = dict(params)

        def step() -> None:
            vg(ps)

        return step


class NumpyPlainImpl:
    """The reference: :func:`elman_numpy_plain`, :func:`lstm_numpy_plain`."""

    refs = {"elman": elman_numpy_plain, "lstm": lstm_numpy_plain}

    def supports(self, dtype: np.dtype) -> bool:
        return True

    def loss_and_grads(self, kind, params, data, **kw):
        return self.refs[kind](params, *data, **kw)

    def step(self, kind, params, data, **kw):
        return BE.reference_step(self.refs[kind], params, data, **kw)


class NumpyWhereImpl(NumpyPlainImpl):
    """The earlier reference, ``bench_engine``'s BPTT (float64 only: it makes float64 states)."""

    refs = {"elman": BE.elman_numpy, "lstm": BE.lstm_numpy}

    def supports(self, dtype: np.dtype) -> bool:
        return np.dtype(dtype) == np.float64


class MiniImpl:
    builders = _Builders(BE.ENGINE_OPS, _full)

    def supports(self, dtype: np.dtype) -> bool:
        return True

    def loss_and_grads(self, kind, params, data, **kw):
        return BE.engine_loss_and_grads(self.builders.get(kind, _dtype(params)), params, *data, **kw)

    def step(self, kind, params, data, **kw):
        return BE.engine_step(self.builders.get(kind, _dtype(params)), params, data, **kw)


class TapeImpl:
    """The floor: ``benchmarks/minimal_tape.py`` running the same model code."""

    builders = _Builders(BE.Ops(MT.matmul, MT.concatenate, MT.sigmoid, MT.tanh, MT.sum, None), _full)

    def supports(self, dtype: np.dtype) -> bool:
        return True

    def loss_and_grads(self, kind, params, data, **kw):
        ps = {k: MT.Var(v) for k, v in params.items()}
        with np.errstate(over="ignore"):
            loss = self.builders.get(kind, _dtype(params))(ps, *data, **kw)
            MT.backward(loss)
        grads = {k: np.zeros_like(p.value) if p.grad is None else np.array(p.grad) for k, p in ps.items()}
        return float(loss.value), grads

    def step(self, kind, params, data, **kw):
        ps = {k: MT.Var(v) for k, v in params.items()}
        plist = list(ps.values())
        builder, backward = self.builders.get(kind, _dtype(params)), MT.backward

        def step() -> None:
            for p in plist:
                p.grad = None
            with np.errstate(over="ignore"):
                backward(builder(ps, *data, **kw))

        return step


def implementations(peers: Mapping[str, ModuleType]) -> dict[str, Any]:
    """The implementations to run, in table order (installed peers only)."""
    impls: dict[str, Any] = {REF: NumpyPlainImpl(), OLD_REF: NumpyWhereImpl(), "autograd_mini": MiniImpl()}
    if "torch" in peers:
        impls["torch"] = TorchImpl(peers["torch"])
    if "HIPS autograd" in peers:
        impls["HIPS autograd"] = HipsImpl(peers["HIPS autograd"])
    impls["minimal tape"] = TapeImpl()
    return impls


# --- checking ---------------------------------------------------------------------------------


def compare(name: str, got: tuple[float, Mapping[str, np.ndarray]], ref: tuple[float, Mapping[str, np.ndarray]],
            rtol: float = RTOL, atol: float = ATOL) -> float:
    """The test of ``bench_engine.check_gradients`` between any two ``(loss, grads)``.

    Returns the worst error as a fraction of the tolerance; raises AssertionError past 1.
    """
    g_loss, g_grads = got
    r_loss, r_grads = ref
    problems = []
    if not (np.isfinite(g_loss) and np.isclose(g_loss, r_loss, rtol=rtol, atol=0.0)):
        problems.append(f"loss: {g_loss!r} vs reference {r_loss!r}")
    worst = 0.0
    for k, r in r_grads.items():
        g = np.asarray(g_grads[k], dtype=np.float64) if k in g_grads else None
        if g is None or g.shape != r.shape:
            problems.append(f"{k}: shape {None if g is None else g.shape}, reference {r.shape}")
            continue
        scale = float(np.max(np.abs(r))) if r.size else 0.0
        tol = atol * max(scale, 1e-300) + rtol * np.abs(r)
        err = float(np.max(np.abs(g - r) / tol)) if r.size else 0.0
        if not np.all(np.isfinite(g)):
            err = float("inf")
        worst = max(worst, err)
        if err > 1.0:
            diff = float(np.max(np.abs(g - r)))
            problems.append(f"{k}: max |got - reference| = {diff:.3e} (max |reference| = {scale:.3e}), "
                            f"{err:.3g}x the tolerance")
    if problems:
        raise AssertionError(f"{name}: gradients disagree with hand-written BPTT:\n  " + "\n  ".join(problems))
    return worst


def tolerances(wname: str) -> tuple[float, float]:
    """``(rtol, atol)`` of a workload's check: float64's, or float32's against float64."""
    return (RTOL, ATOL) if WORKLOADS[wname]["dtype"] == np.float64 else (F32_RTOL, F32_ATOL)


def check_workload(wname: str, impls: Mapping[str, Any], lstm_gates: str = BE.LSTM_DEFAULT_GATES,
                   steps: int | None = None) -> dict[str, float]:
    """Worst error (fraction of the tolerance) of each implementation but the checker; raises.

    The checker is ``bench_engine``'s hand-written BPTT in float64, on the workload's numbers
    (a float32 workload's as float64).
    """
    w = WORKLOADS[wname]
    kw = {"gates": lstm_gates} if w["kind"] == "lstm" else {}
    params, data = workload_inputs(wname, steps)
    params64 = {k: v.astype(np.float64) for k, v in params.items()}
    data64 = tuple(d.astype(np.float64) for d in data)
    refs = {"elman": BE.elman_numpy, "lstm": BE.lstm_numpy}
    ref = refs[w["kind"]](params64, *data64, **kw)
    rtol, atol = tolerances(wname)
    errors = {}
    for name, impl in impls.items():
        if name == OLD_REF or not impl.supports(w["dtype"]):
            continue
        errors[name] = compare(f"{wname}, {name}", impl.loss_and_grads(w["kind"], params, data, **kw), ref,
                               rtol=rtol, atol=atol)
    return errors


# --- timing and reporting ---------------------------------------------------------------------


def time_workload(wname: str, impls: Mapping[str, Any], repeat: int, min_time: float, warmup: int,
                  lstm_gates: str = BE.LSTM_DEFAULT_GATES, steps: int | None = None) -> dict[str, list[float]]:
    w = WORKLOADS[wname]
    kw = {"gates": lstm_gates} if w["kind"] == "lstm" else {}
    params, data = workload_inputs(wname, steps)
    fns = {name: impl.step(w["kind"], params, data, **kw) for name, impl in impls.items()
           if impl.supports(w["dtype"])}
    return BE.time_interleaved(fns, repeat=repeat, min_time=min_time, warmup=warmup)


def _ms(x: float | None, why: str = "not installed") -> str:
    return why if x is None else f"{x * 1e3:.3f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None else f"{a / b:.2f}"


def print_header(peers: Mapping[str, ModuleType], missing: Mapping[str, str]) -> None:
    now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    env = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
           if k in os.environ}
    print("autograd_mini peer benchmark: one forward + backward (float64; the f32 row float32)")
    print(f"  date           {now}")
    print(f"  python         {platform.python_version()}   {platform.machine()}, {os.cpu_count()} cpus")
    print(f"  numpy          {np.__version__}   BLAS {BE._blas_line()}")
    print(f"  autograd_mini  {am.__version__}, git {BE._git_state()}")
    if "torch" in peers:
        torch = peers["torch"]
        print(f"  torch          {torch.__version__}, eager, {torch.get_num_threads()} thread "
              f"(torch.set_num_threads(1)), the workload's dtype")
    else:
        print(f"  torch          {missing['torch']}")
    if "HIPS autograd" in peers:
        print(f"  HIPS autograd  {_version('autograd')} (autograd.numpy, value_and_grad over the parameter dict)")
    else:
        print(f"  HIPS autograd  {missing['HIPS autograd']}")
    print("  minimal tape   benchmarks/minimal_tape.py (the floor: record and replay, nothing else)")
    print(f"  reference      {REF}: hand-written forward + BPTT, 1 / (1 + exp(-x)), in place")
    print(f"  thread env     {env if env else 'none set'}")
    if not env and (os.cpu_count() or 1) > 1:
        print("  note           numpy's BLAS may run threads of its own (torch has one): on a busy machine that can"
              " slow the\n                 LSTM rows of every numpy-based column many times; OPENBLAS_NUM_THREADS=1"
              " pins it")


def _table(widths: tuple[int, ...]) -> Callable[[tuple[str, ...]], str]:
    def row(cells: tuple[str, ...]) -> str:
        return "".join(c.ljust(wd) if i == 0 else c.rjust(wd) for i, (c, wd) in enumerate(zip(cells, widths)))

    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=None,
                        help="timing samples per implementation (default 7, 2 with --quick; "
                             f"at most {LONG_MAX_REPEAT} for elman8_long)")
    parser.add_argument("--quick", action="store_true", help="smoke run: few, short samples (rough figures)")
    parser.add_argument("--min-time", type=float, default=None,
                        help="seconds each sample lasts at least (default 0.2, 0.005 with --quick)")
    parser.add_argument("--workload", choices=[*WORKLOADS, "all"], default="all")
    parser.add_argument("--steps", type=int, default=None,
                        help="sequence length of every workload run (default each its own: 8, 8, 100, "
                             f"{LONG_STEPS:,}, 100); for smoke runs, or --workload elman8_long --steps 1000")
    parser.add_argument("--lstm-gates", choices=BE.LSTM_GATES, default=BE.LSTM_DEFAULT_GATES,
                        help="gate formulation of the LSTM, the same in every implementation")
    parser.add_argument("--instructions", action="store_true",
                        help="also count instructions per step under callgrind, which do not drift "
                             "(benchmarks/instructions.py; needs valgrind, adds ~5 min)")
    args = parser.parse_args(argv)
    repeat = args.repeat if args.repeat is not None else (2 if args.quick else 7)
    if repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.steps is not None and args.steps < 1:
        parser.error("--steps must be at least 1")
    min_time, warmup = (0.005, 1) if args.quick else (0.2, 2)
    if args.min_time is not None:
        min_time = args.min_time
    names = list(WORKLOADS) if args.workload == "all" else [args.workload]
    steps_of = {name: args.steps for name in names}
    labels = {name: workload_label(name, args.steps) for name in names}

    peers, missing = load_peers()
    print_header(peers, missing)
    print(f"  timing         best of {repeat} interleaved samples per implementation "
          f"(elman8_long: of at most {LONG_MAX_REPEAT}), each >= {min_time:g} s"
          f"{' (--quick)' if args.quick else ''}; gc on")
    impls = implementations(peers)

    # 1. every implementation's gradients against hand-written BPTT, before any timing
    print(f"\ngradients against {OLD_REF}, bench_engine's hand-written BPTT in float64 (rtol {RTOL:g}, "
          f"atol {ATOL:g} x max|reference|; the f32 row rtol {F32_RTOL:g}, atol {F32_ATOL:g} x max|reference|); "
          "worst error as a fraction of the tolerance:")
    for wname in names:
        try:
            errors = check_workload(wname, impls, args.lstm_gates, steps=steps_of[wname])
        except AssertionError as e:
            print(f"\nFATAL: {e}", file=sys.stderr)
            print("FATAL: gradient check failed; no timings taken.", file=sys.stderr)
            raise SystemExit(1)
        agree = ", ".join(f"{name} {err:.2g}" for name, err in errors.items())
        skipped = "".join(f"; {p} not checked (not installed)" for p in PEERS if p not in impls)
        print(f"  {labels[wname]:<30} agree: {agree}{skipped}")

    # 2. timings
    results: dict[str, dict[str, float | None]] = {}
    medians: dict[str, dict[str, float]] = {}
    for wname in names:
        w = WORKLOADS[wname]
        samples = time_workload(wname, impls, min(repeat, w.get("max_repeat", repeat)), min_time,
                                min(warmup, w.get("max_warmup", warmup)), args.lstm_gates, steps=steps_of[wname])
        results[wname] = {name: (min(samples[name]) if name in samples else None) for name in IMPLS}
        medians[wname] = {name: statistics.median(s) for name, s in samples.items()}

    # 3. tables and targets
    row = _table((30, 23, 23, 15, 15, 15, 14))  # >= 2 spaces before every cell, 'not installed' too
    print("\nms per forward + backward: best sample, and below it the median of the samples")
    print(row(("workload", *(f"{name}" for name in IMPLS))))
    for wname in names:
        r, m = results[wname], medians[wname]
        print(row((labels[wname], *(_ms(r[name], "not installed" if name not in impls else "n/a")
                                    for name in IMPLS))))
        print(row(("  median", *("" if m.get(name) is None else _ms(m[name]) for name in IMPLS))))

    ratio_cols = (("mini/numpy", "autograd_mini", REF), ("torch/numpy", "torch", REF),
                  ("tape/numpy", "minimal tape", REF), ("HIPS/numpy", "HIPS autograd", REF),
                  ("where/numpy", OLD_REF, REF), ("mini/torch", "autograd_mini", "torch"),
                  ("mini/HIPS", "autograd_mini", "HIPS autograd"))
    row = _table((30, *(13 for _ in ratio_cols)))
    print(f"\nratios of best samples; 'numpy' is {REF}, the reference "
          f"('where' is {OLD_REF}, 'tape' the minimal tape)")
    print(row(("workload", *(c[0] for c in ratio_cols))))
    for wname in names:
        r = results[wname]
        print(row((labels[wname], *(_ratio(r[a], r[b]) for _, a, b in ratio_cols))))

    print(f"\ntargets (issue 12): autograd_mini / {REF}, and autograd_mini ahead of PyTorch eager on every row")
    verdicts = []
    for wname in names:
        r, label, target = results[wname], labels[wname], WORKLOADS[wname]["target"]
        mini = r["autograd_mini"]
        ratio = mini / r[REF]
        what = f"{label}: autograd_mini / {REF} <= {target:.2f}"
        verdicts.append(ratio <= target)
        print(f"  {what:<84} {ratio:6.2f}   {BE._verdict(ratio <= target)}")
        what = f"{label}: autograd_mini ahead of PyTorch eager (mini/torch < {TORCH_TARGET:g})"
        if r["torch"] is None:
            print(f"  {what:<84} {'-':>6}   n/a (torch not installed)")
        else:
            ratio = mini / r["torch"]
            verdicts.append(ratio < TORCH_TARGET)
            print(f"  {what:<84} {ratio:6.2f}   {BE._verdict(ratio < TORCH_TARGET)}")
    print(f"  {sum(verdicts)} of {len(verdicts)} issue-12 targets met")
    elman = [w for w in names if WORKLOADS[w]["kind"] == "elman"]
    if elman:
        print("\nearlier target, kept: autograd_mini faster than HIPS autograd on the Elman nets")
        for wname in elman:
            r = results[wname]
            what = f"{labels[wname]}: autograd_mini faster than HIPS autograd"
            if r["HIPS autograd"] is None:
                print(f"  {what:<84} {'-':>6}   n/a (HIPS autograd not installed)")
            else:
                ratio = r["autograd_mini"] / r["HIPS autograd"]
                print(f"  {what:<84} {ratio:6.2f}   {BE._verdict(ratio < HIPS_TARGET)}")
    if args.instructions:
        print_instructions()
    return 0


def print_instructions(steps: int = 10) -> None:
    """The instruction counts beside the ratios: the Elman nets above, and the LSTM's graph on
    tiny arrays (under callgrind the full LSTM would take minutes)."""
    import shutil

    import instructions as I
    if shutil.which("valgrind") is None:
        print("\ninstructions: valgrind is not on PATH (apt-get install valgrind); not counted")
        return
    print(f"\ninstructions per training step (callgrind, {steps} steps, benchmarks/instructions.py); "
          "per op: beyond numpy's, over the engine's recorded ops")
    row = _table((30, 13, 13, 13, 13, 13, 15, 15))
    print(row(("workload", "mini (M)", "numpy (M)", "tape (M)", "mini/numpy", "tape/numpy", "mini per op", "tape per op")))
    for wl, label in (("elman3", "Elman 2-3-1"), ("elman16", "Elman 2-16-1"), ("lstm_small", "LSTM graph, 4 cells, batch 1")):
        _, ops = I.training_step(wl)
        c = {impl: I.per_training_step(wl, impl, steps) for impl in I.IMPLS}
        print(row((label, f"{c['engine'] / 1e6:.2f}", f"{c['numpy'] / 1e6:.2f}", f"{c['tape'] / 1e6:.2f}",
                   f"{c['engine'] / c['numpy']:.2f}", f"{c['tape'] / c['numpy']:.2f}",
                   f"{(c['engine'] - c['numpy']) / ops:,.0f}", f"{(c['tape'] - c['numpy']) / ops:,.0f}")))


if __name__ == "__main__":
    sys.exit(main())
