"""What the reliability guarantees cost: snapshots of kept arrays, and per-thread state.

Measured in one process, interleaved (``bench_engine.time_interleaved``), best sample:

(a) the Elman 2-16-1 training step of ``bench_engine`` fed its inputs as numpy arrays, which
    every recorded op that keeps one copies (9 copies a step: each step's x and the initial
    state), against the same step fed ready-made constant Tensors, which are frozen instead;
(b) reading the recording state, which lives in a ``ContextVar`` so that each thread and
    asyncio task has its own, against reading a module global (what a process-wide state
    costs), each beside one recorded op;
(c) ``W.value`` on a weight a live graph holds (read-only: the getter counts references to see
    whether it may make the array writable again) against one no graph holds.

Wall-clock time on a shared VM drifts; instruction counts do not. To count instructions, run a
part under callgrind with and without the feature, e.g.::

    valgrind --tool=callgrind --callgrind-out-file=/dev/null python benchmarks/bench_guarantees.py --only a

and compare ``Collected`` between two builds (subtract a run with ``--steps 0``).

Usage: ``python benchmarks/bench_guarantees.py [--repeat 7] [--min-time 0.2] [--only a|b|c]``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

import autograd_mini as am
from autograd_mini.recording import current

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling scripts, run or loaded by the tests
import bench_engine  # noqa: E402


class TensorSteps:
    """A (steps, batch, n) input given as one constant Tensor per step: what the models feed."""

    def __init__(self, xs: np.ndarray) -> None:
        self.shape = xs.shape
        self.steps = [am.Tensor(x) for x in xs]

    def __getitem__(self, t: int) -> am.Tensor:
        return self.steps[t]


def feeds(B: Any) -> dict[str, Any]:
    """The two ways to feed the Elman step: numpy arrays (copied when kept) or Tensors (frozen)."""
    params = B.elman_params()
    xs, ys = B.elman_data()
    return {"numpy inputs": B.engine_step(B.elman_engine, params, (xs, ys)),
            "Tensor inputs": B.engine_step(B.elman_engine, params, (TensorSteps(xs), TensorSteps(ys)))}


def feeds_agree(B: Any) -> float:
    """The largest difference between the two feeds' gradients (0: the same numbers)."""
    params = B.elman_params()
    xs, ys = B.elman_data()
    worst = 0.0
    grads = []
    for data in ((xs, ys), (TensorSteps(xs), TensorSteps(ys))):
        ps = B.to_parameters(params)
        B.elman_engine(ps, *data).backward()
        grads.append({k: p.grad for k, p in ps.items()})
    for k in grads[0]:
        worst = max(worst, float(np.max(np.abs(grads[0][k] - grads[1][k]))))
    return worst


_GLOBAL_STATE = current()  # stands in for a process-wide state object


def _state_reads(n: int = 1000) -> dict[str, Any]:
    x = am.Tensor(np.ones((1, 3)), requires_grad=True)

    def contextvar() -> None:
        for _ in range(n):
            current().grad_enabled

    def module_global() -> None:
        for _ in range(n):
            _GLOBAL_STATE.grad_enabled

    def one_op() -> None:
        for _ in range(n):
            am.tanh(x)

    return {"ContextVar read": contextvar, "global read": module_global, "recorded op": one_op}


def _value_reads(n: int = 1000) -> tuple[dict[str, Any], Any]:
    held = am.Parameter(np.ones((3, 3)), name="held")
    free = am.Parameter(np.ones((3, 3)), name="free")
    graph = (held * held).sum()  # keeps `held` frozen while the benchmark runs

    def frozen() -> None:
        for _ in range(n):
            held.value

    def writable() -> None:
        for _ in range(n):
            free.value

    return {"W.value, held by a graph": frozen, "W.value, free": writable}, graph


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--min-time", type=float, default=0.2)
    ap.add_argument("--only", choices=("a", "b", "c"))
    args = ap.parse_args(argv)
    B = bench_engine
    print("autograd_mini reliability benchmark")
    print(f"  numpy {np.__version__}   python {sys.version.split()[0]}   best of {args.repeat} interleaved samples")

    def best(fns: dict[str, Any]) -> dict[str, float]:
        samples = B.time_interleaved(fns, args.repeat, args.min_time)
        return {k: min(v) for k, v in samples.items()}

    if args.only in (None, "a"):
        worst = feeds_agree(B)
        if worst != 0.0:
            print(f"  the two feeds disagree by {worst:g}: aborting")
            return 1
        t = best(feeds(B))
        print("(a) Elman 2-16-1 training step, 8 steps: copies of the numpy inputs it keeps")
        for k, v in t.items():
            print(f"  {k:<28} {v * 1e6:9.1f} us")
        print(f"  ratio {t['numpy inputs'] / t['Tensor inputs']:.3f}   (gradients identical)")
    if args.only in (None, "b"):
        t = best(_state_reads())
        print("(b) the recording state, per read (1000 a call)")
        for k, v in t.items():
            print(f"  {k:<28} {v * 1e6:9.1f} ns")
        extra = t["ContextVar read"] - t["global read"]
        print(f"  a ContextVar read costs {extra * 1e6:+.1f} ns more than a global, "
              f"{100 * extra / t['recorded op']:.1f}% of one recorded op")
    if args.only in (None, "c"):
        fns, graph = _value_reads()
        t = best(fns)
        print("(c) reading a weight's value")
        for k, v in t.items():
            print(f"  {k:<28} {v * 1e6:9.1f} ns")
        del graph
    return 0


if __name__ == "__main__":
    sys.exit(main())
