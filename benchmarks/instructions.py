"""Instructions per training step, counted by callgrind: the measure that does not drift.

Wall-clock time on this project's VM moves by up to 1.8x within seconds; the number of machine
instructions a step executes does not. This script runs one workload of ``bench_engine.py`` (its
parameters and data) under ``valgrind --tool=callgrind`` twice, once with 0 and once with
``--steps`` training steps after the same warm-up, and prints the difference per step and per
recorded op: the import, the warm-up and valgrind's own start cancel out. Compare two versions of
a hot path by running it on each (e.g. a checkout in another folder with ``PYTHONPATH``).

``--impl all`` also counts the same step written in plain numpy (``bench_peers``' reference,
the plain sigmoid) and on ``minimal_tape.py``, and prints the engine's own cost per recorded
op, forward and backward: (engine - numpy) / ops. That is issue 12's "~1 µs per op", in the
unit that does not drift (this VM runs ~10-11k instructions per µs of Python).

Usage::

    python benchmarks/instructions.py [--workload elman3|elman16|lstm_small|lstm] [--steps 100] [--impl engine|numpy|tape|all]

Needs ``valgrind`` on PATH (``apt-get install valgrind``). ``OPENBLAS_NUM_THREADS=1`` and
``PYTHONHASHSEED=0`` are set for the runs: BLAS threads spinning and hash randomisation would
otherwise add instructions that are not the engine's.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling scripts, run or loaded by the tests
WORKLOADS = ("elman3", "elman16", "lstm_small", "lstm")
IMPLS = ("engine", "numpy", "tape")


def training_step(workload: str, impl: str = "engine") -> tuple[Callable[[], None], int]:
    """One forward + backward of the workload (gradients cleared first) on ``impl``, and the
    number of ops the engine records for it."""
    import autograd_mini as am

    import bench_engine as B
    if workload in ("elman3", "elman16"):
        kind, builder = "elman", B.elman_engine
        params, data = B.elman_params(n_hidden=3 if workload == "elman3" else 16), B.elman_data()
    elif workload == "lstm_small":  # the LSTM's ops on arrays so small that numpy's share is least
        kind, builder, params, data = "lstm", B.lstm_engine, B.lstm_params(n_hidden=4), B.lstm_data(batch=1)
    elif workload == "lstm":  # bench_peers' LSTM row (8-128, batch 32, 100 steps): numpy's share is most
        kind, builder, params, data = "lstm", B.lstm_engine, B.lstm_params(), B.lstm_data()
    else:
        raise ValueError(f"instructions: unknown workload {workload!r}; choose one of {', '.join(WORKLOADS)}")
    if impl == "engine":
        step = B.engine_step(builder, params, data)
    elif impl in IMPLS:
        import bench_peers as P
        step = (P.NumpyPlainImpl() if impl == "numpy" else P.TapeImpl()).step(kind, params, data)
    else:
        raise ValueError(f"instructions: unknown impl {impl!r}; choose one of {', '.join(IMPLS)}")
    ps = B.to_parameters(params)
    with am.Tape() as tape:
        builder(ps, *data)
    return step, len(tape.nodes)


def _inner(workload: str, steps: int, impl: str) -> None:
    step, _ = training_step(workload, impl)
    for _ in range(3):  # warm-up: interned shapes, numpy's caches
        step()
    for _ in range(steps):
        step()


def _collected(workload: str, steps: int, impl: str = "engine") -> int:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", PYTHONHASHSEED="0")
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
           sys.executable, str(Path(__file__).resolve()), "--inner", "--workload", workload, "--steps", str(steps), "--impl", impl]
    run = subprocess.run(cmd, capture_output=True, text=True, env=env)
    found = re.search(r"Collected : ([\d,]+)", run.stderr)
    if run.returncode != 0 or found is None:
        raise RuntimeError(f"instructions: callgrind failed ({run.returncode}): {run.stderr.strip()[-500:]}")
    return int(found.group(1).replace(",", ""))


def per_training_step(workload: str, impl: str = "engine", steps: int = 100) -> float:
    """Instructions of one training step of ``workload`` on ``impl`` (two callgrind runs)."""
    return (_collected(workload, steps, impl) - _collected(workload, 0, impl)) / steps


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workload", default="elman3", choices=WORKLOADS)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--impl", default="engine", choices=IMPLS + ("all",))
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)  # the run valgrind measures
    args = ap.parse_args(argv)
    if args.inner:
        _inner(args.workload, args.steps, args.impl)
        return 0
    if args.steps < 1:
        print("instructions: --steps must be at least 1", file=sys.stderr)
        return 2
    if shutil.which("valgrind") is None:
        print("instructions: valgrind is not on PATH (apt-get install valgrind)", file=sys.stderr)
        return 2
    _, ops = training_step(args.workload)
    counted = {}
    for impl in (IMPLS if args.impl == "all" else (args.impl,)):
        counted[impl] = per_step = per_training_step(args.workload, impl, args.steps)
        print(f"{args.workload} on {impl}: {per_step / 1e6:.3f} M instructions per training step, "
              f"{per_step / ops:,.0f} per recorded op ({ops} ops), over {args.steps} steps")
    if args.impl == "all":
        for impl in ("engine", "tape"):
            print(f"{impl} beyond numpy: {(counted[impl] - counted['numpy']) / ops:,.0f} instructions per op, "
                  f"{counted[impl] / counted['numpy']:.2f}x numpy's instructions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
