"""Peer benchmark: autograd_mini against PyTorch and HIPS autograd on the same training steps.

What is measured
----------------
One training step (forward + backward, float64) of three recurrent workloads, written four
times in the same process with one op for one op:

* ``numpy``         -- the hand-written numpy forward + BPTT of ``benchmarks/bench_engine.py``;
* ``autograd_mini`` -- the builders of ``bench_engine.py`` on ``am.Parameter`` weights;
* ``torch``         -- PyTorch eager, the same primitive ops (``torch.matmul``, ``+``,
  ``torch.sigmoid``, ``torch.tanh``, ``torch.cat``, slicing, ``torch.sum``) on float64 leaf
  tensors with ``requires_grad``; ``torch.set_num_threads(1)``;
* ``HIPS autograd`` -- ``autograd.numpy`` with ``autograd.value_and_grad`` over the parameter
  dict; its sigmoid is one primitive (``@autograd.extend.primitive``, the same overflow-free
  formula and VJP ``g * ans * (1 - ans)`` as ``am.sigmoid``), so it records as many ops as
  autograd_mini does.

torch and HIPS autograd are optional: one that cannot be imported is reported as
``not installed (pip install ...)`` and its columns stay empty; the script carries on.

Workloads (the parameters and data of ``bench_engine.py``, fixed seeds):

* ``elman3``  -- the lecture's binary-addition net: logistic Elman RNN 2-3-1, batch 32, 8 steps,
  h0 = 0.5, squared error summed over steps (``bench_engine`` workload (a) with 3 hidden units);
* ``elman16`` -- the same with 16 hidden units (exactly ``bench_engine`` workload (a));
* ``lstm``    -- ``bench_engine`` workload (b): LSTM 8 in, 128 cells, batch 32, 100 steps.

The script

1. checks, for every workload, that every installed implementation's loss and gradients agree
   with the hand-written BPTT (float64, rtol 1e-9, atol 1e-12 x the largest reference gradient,
   the test of ``bench_engine.check_gradients``), and aborts with exit code 1 before any timing
   if one does not;
2. times the training step of each implementation, interleaved (``bench_engine.time_interleaved``:
   warm-up, then ``--repeat`` samples each, each the mean over calls lasting ~0.2 s), best sample;
3. prints the date, the versions, a table (ms per step and the ratios autograd_mini / torch,
   autograd_mini / HIPS autograd, autograd_mini / numpy) and PASS/MISS against the targets:
   autograd_mini faster than both peers on the Elman nets (ratios < 1), and within 1.3x of the
   hand-written numpy on the LSTM.

A MISS is a measurement, not a failure: the exit code is 0 unless the gradients disagree.
numpy's BLAS keeps its own thread count (printed); only torch is pinned to one thread.

Run::

    python benchmarks/bench_peers.py                 # full run (~1-2 min)
    python benchmarks/bench_peers.py --quick         # smoke run
    python benchmarks/bench_peers.py --workload lstm --repeat 11

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


def _load_bench_engine() -> ModuleType:
    path = Path(__file__).resolve().parent / "bench_engine.py"
    spec = importlib.util.spec_from_file_location("_bench_engine_for_peers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BE = _load_bench_engine()

RTOL, ATOL = BE.RTOL, BE.ATOL
IMPLS = ("numpy", "autograd_mini", "torch", "HIPS autograd")
PEERS = ("torch", "HIPS autograd")
INSTALL_HINT = {
    "torch": "pip install torch==2.13.0",
    "HIPS autograd": "pip install autograd",
}
ELMAN_TARGET = 1.0   # autograd_mini / peer must be below this on the Elman nets
LSTM_TARGET = 1.3    # autograd_mini / numpy must be at most this on the LSTM


# --- workload data ----------------------------------------------------------------------------


def elman_params(n_hidden: int = BE.ELMAN_HIDDEN, seed: int = 0) -> dict[str, np.ndarray]:
    """``bench_engine.elman_params`` with the hidden size first (identical for 16)."""
    return BE.elman_params(seed, n_hidden=n_hidden)


WORKLOADS: dict[str, dict[str, Any]] = {
    "elman3": dict(
        label="Elman 2-3-1 (binary addition)",
        title="logistic Elman RNN 2-3-1 (the lecture's binary-addition net), batch 32, 8 steps",
        kind="elman", params=lambda: elman_params(3), data=BE.elman_data),
    "elman16": dict(
        label="Elman 2-16-1",
        title="logistic Elman RNN 2-16-1, batch 32, 8 steps (bench_engine (a))",
        kind="elman", params=lambda: elman_params(16), data=BE.elman_data),
    "lstm": dict(
        label="LSTM 8-128, 100 steps",
        title="LSTM 8 in, 128 cells, batch 32, 100 steps (bench_engine (b))",
        kind="lstm", params=BE.lstm_params, data=BE.lstm_data),
}


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


# --- torch builders (one op for each autograd_mini op) ----------------------------------------


def torch_builders(torch: ModuleType) -> dict[str, Callable]:
    def full(shape: tuple, value: float) -> Any:
        return torch.full(shape, value, dtype=torch.float64)

    ops = BE.Ops(torch.matmul, torch.cat, torch.sigmoid, torch.tanh, torch.sum, full)
    return {"elman": functools.partial(BE.elman_loss, ops), "lstm": functools.partial(BE.lstm_loss, ops)}


class TorchImpl:
    def __init__(self, torch: ModuleType) -> None:
        self.torch = torch
        self.builders = torch_builders(torch)

    def _setup(self, kind: str, params: Mapping[str, np.ndarray], data: tuple) -> tuple[dict, tuple]:
        ps = {k: self.torch.tensor(v, dtype=self.torch.float64, requires_grad=True) for k, v in params.items()}
        ds = tuple(self.torch.from_numpy(np.ascontiguousarray(d, dtype=np.float64)) for d in data)
        return ps, ds

    def loss_and_grads(self, kind: str, params: Mapping[str, np.ndarray], data: tuple,
                       **kw: Any) -> tuple[float, dict[str, np.ndarray]]:
        ps, ds = self._setup(kind, params, data)
        loss = self.builders[kind](ps, *ds, **kw)
        loss.backward()
        grads = {k: (np.zeros(params[k].shape) if p.grad is None else p.grad.detach().numpy().copy())
                 for k, p in ps.items()}
        return float(loss.item()), grads

    def step(self, kind: str, params: Mapping[str, np.ndarray], data: tuple, **kw: Any) -> Callable[[], None]:
        ps, ds = self._setup(kind, params, data)
        plist = list(ps.values())
        builder = self.builders[kind]

        def step() -> None:
            for p in plist:
                p.grad = None
            builder(ps, *ds, **kw).backward()

        return step


# --- HIPS autograd builders -------------------------------------------------------------------


def hips_builders(autograd: ModuleType) -> dict[str, Callable]:
    anp = autograd.numpy
    primitive, defvjp = autograd.extend.primitive, autograd.extend.defvjp

    @primitive
    def sigmoid(x: np.ndarray) -> np.ndarray:
        e = np.exp(-np.abs(x))  # the formula of am.sigmoid
        return np.where(x >= 0, 1.0, e) / (1.0 + e)

    defvjp(sigmoid, lambda ans, x: lambda g: g * ans * (1.0 - ans))

    ops = BE.Ops(anp.matmul, anp.concatenate, sigmoid, anp.tanh, anp.sum, np.full)
    return {"elman": functools.partial(BE.elman_loss, ops), "lstm": functools.partial(BE.lstm_loss, ops)}


class HipsImpl:
    def __init__(self, autograd: ModuleType) -> None:
        self.autograd = autograd
        self.builders = hips_builders(autograd)

    def _value_and_grad(self, kind: str, data: tuple, **kw: Any) -> Callable:
        builder = self.builders[kind]
        return self.autograd.value_and_grad(lambda ps: builder(ps, *data, **kw))

    def loss_and_grads(self, kind: str, params: Mapping[str, np.ndarray], data: tuple,
                       **kw: Any) -> tuple[float, dict[str, np.ndarray]]:
        loss, grads = self._value_and_grad(kind, data, **kw)(dict(params))
        return float(loss), {k: np.asarray(g) for k, g in grads.items()}

    def step(self, kind: str, params: Mapping[str, np.ndarray], data: tuple, **kw: Any) -> Callable[[], None]:
        vg = self._value_and_grad(kind, data, **kw)
        ps = dict(params)

        def step() -> None:
            vg(ps)

        return step


# --- numpy and autograd_mini, through bench_engine --------------------------------------------


class NumpyImpl:
    refs = {"elman": BE.elman_numpy, "lstm": BE.lstm_numpy}

    def loss_and_grads(self, kind, params, data, **kw):
        return self.refs[kind](params, *data, **kw)

    def step(self, kind, params, data, **kw):
        return BE.reference_step(self.refs[kind], params, data, **kw)


class MiniImpl:
    builders = {"elman": BE.elman_engine, "lstm": BE.lstm_engine}

    def loss_and_grads(self, kind, params, data, **kw):
        return BE.engine_loss_and_grads(self.builders[kind], params, *data, **kw)

    def step(self, kind, params, data, **kw):
        return BE.engine_step(self.builders[kind], params, data, **kw)


def implementations(peers: Mapping[str, ModuleType]) -> dict[str, Any]:
    """The implementations to run, in table order: numpy, autograd_mini, then installed peers."""
    impls: dict[str, Any] = {"numpy": NumpyImpl(), "autograd_mini": MiniImpl()}
    if "torch" in peers:
        impls["torch"] = TorchImpl(peers["torch"])
    if "HIPS autograd" in peers:
        impls["HIPS autograd"] = HipsImpl(peers["HIPS autograd"])
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
        g = np.asarray(g_grads.get(k)) if k in g_grads else None
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


def check_workload(wname: str, impls: Mapping[str, Any], lstm_gates: str = BE.LSTM_DEFAULT_GATES
                   ) -> dict[str, float]:
    """Worst error (fraction of the tolerance) of each non-reference implementation; raises."""
    w = WORKLOADS[wname]
    kw = {"gates": lstm_gates} if w["kind"] == "lstm" else {}
    params, data = w["params"](), w["data"]()
    ref = impls["numpy"].loss_and_grads(w["kind"], params, data, **kw)
    errors = {}
    for name, impl in impls.items():
        if name == "numpy":
            continue
        errors[name] = compare(f"{wname}, {name}", impl.loss_and_grads(w["kind"], params, data, **kw), ref)
    return errors


# --- timing and reporting ---------------------------------------------------------------------


def time_workload(wname: str, impls: Mapping[str, Any], repeat: int, min_time: float, warmup: int,
                  lstm_gates: str = BE.LSTM_DEFAULT_GATES) -> dict[str, list[float]]:
    w = WORKLOADS[wname]
    kw = {"gates": lstm_gates} if w["kind"] == "lstm" else {}
    params, data = w["params"](), w["data"]()
    fns = {name: impl.step(w["kind"], params, data, **kw) for name, impl in impls.items()}
    return BE.time_interleaved(fns, repeat=repeat, min_time=min_time, warmup=warmup)


def _ms(x: float | None) -> str:
    return "not installed" if x is None else f"{x * 1e3:.3f}"


def _ratio(a: float, b: float | None) -> str:
    return "-" if b is None else f"{a / b:.2f}"


def print_header(peers: Mapping[str, ModuleType], missing: Mapping[str, str]) -> None:
    now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    env = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
           if k in os.environ}
    print("autograd_mini peer benchmark: one forward + backward, float64")
    print(f"  date           {now}")
    print(f"  python         {platform.python_version()}   {platform.machine()}, {os.cpu_count()} cpus")
    print(f"  numpy          {np.__version__}   BLAS {BE._blas_line()}")
    print(f"  autograd_mini  {am.__version__}, git {BE._git_state()}")
    if "torch" in peers:
        torch = peers["torch"]
        print(f"  torch          {torch.__version__}, eager, {torch.get_num_threads()} thread "
              f"(torch.set_num_threads(1)), float64")
    else:
        print(f"  torch          {missing['torch']}")
    if "HIPS autograd" in peers:
        print(f"  HIPS autograd  {_version('autograd')} (autograd.numpy, value_and_grad over the parameter dict)")
    else:
        print(f"  HIPS autograd  {missing['HIPS autograd']}")
    print(f"  thread env     {env if env else 'none set'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=None,
                        help="timing samples per implementation (default 7, 2 with --quick)")
    parser.add_argument("--quick", action="store_true", help="smoke run: few, short samples (rough figures)")
    parser.add_argument("--workload", choices=[*WORKLOADS, "all"], default="all")
    parser.add_argument("--lstm-gates", choices=BE.LSTM_GATES, default=BE.LSTM_DEFAULT_GATES,
                        help="gate formulation of the LSTM, the same in every implementation")
    args = parser.parse_args(argv)
    repeat = args.repeat if args.repeat is not None else (2 if args.quick else 7)
    if repeat < 1:
        parser.error("--repeat must be at least 1")
    min_time, warmup = (0.005, 1) if args.quick else (0.2, 2)
    names = list(WORKLOADS) if args.workload == "all" else [args.workload]

    peers, missing = load_peers()
    print_header(peers, missing)
    print(f"  timing         best of {repeat} interleaved samples per implementation, each >= {min_time:g} s"
          f"{' (--quick)' if args.quick else ''}; gc on")
    impls = implementations(peers)

    # 1. every implementation's gradients against hand-written BPTT, before any timing
    print(f"\ngradients against the hand-written numpy BPTT (float64, rtol {RTOL:g}, "
          f"atol {ATOL:g} x max|reference|; worst error as a fraction of the tolerance):")
    for wname in names:
        try:
            errors = check_workload(wname, impls, args.lstm_gates)
        except AssertionError as e:
            print(f"\nFATAL: {e}", file=sys.stderr)
            print("FATAL: gradient check failed; no timings taken.", file=sys.stderr)
            raise SystemExit(1)
        agree = ", ".join(f"{name} {err:.2g}" for name, err in errors.items())
        skipped = "".join(f"; {p} not checked (not installed)"
                          for p in PEERS if p not in errors)
        print(f"  {WORKLOADS[wname]['label']:<30} agree: {agree}{skipped}")

    # 2. timings
    results: dict[str, dict[str, float | None]] = {}
    medians: dict[str, dict[str, float]] = {}
    for wname in names:
        samples = time_workload(wname, impls, repeat, min_time, warmup, args.lstm_gates)
        results[wname] = {name: (min(samples[name]) if name in samples else None) for name in IMPLS}
        medians[wname] = {name: statistics.median(s) for name, s in samples.items()}

    # 3. table and targets
    cols = ("workload", "numpy ms", "autograd_mini ms", "torch ms", "HIPS autograd ms",
            "mini/torch", "mini/HIPS", "mini/numpy")
    widths = (30, 10, 18, 15, 18, 12, 11, 12)

    def row(cells: tuple[str, ...]) -> str:
        return "".join(c.ljust(wd) if i == 0 else c.rjust(wd) for i, (c, wd) in enumerate(zip(cells, widths)))

    print("\nms per forward + backward: best sample, and below it the median of the samples")
    print(row(cols))
    for wname in names:
        r, m = results[wname], medians[wname]
        mini = r["autograd_mini"]
        print(row((WORKLOADS[wname]["label"], *(_ms(r[name]) for name in IMPLS),
                   _ratio(mini, r["torch"]), _ratio(mini, r["HIPS autograd"]), _ratio(mini, r["numpy"]))))
        print(row(("  median", *("" if m.get(name) is None else _ms(m[name]) for name in IMPLS))))

    print("\ntargets")
    for wname in names:
        r, label = results[wname], WORKLOADS[wname]["label"]
        mini = r["autograd_mini"]
        if WORKLOADS[wname]["kind"] == "elman":
            for peer in PEERS:
                what = f"{label}: autograd_mini faster than {peer}"
                if r[peer] is None:
                    print(f"  {what:<70} {'-':>6}   n/a ({peer} not installed)")
                else:
                    ratio = mini / r[peer]
                    print(f"  {what:<70} {ratio:6.2f}   {BE._verdict(ratio < ELMAN_TARGET)}")
        else:
            ratio = mini / r["numpy"]
            what = f"{label}: autograd_mini / numpy <= {LSTM_TARGET:g}"
            print(f"  {what:<70} {ratio:6.2f}   {BE._verdict(ratio <= LSTM_TARGET)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
