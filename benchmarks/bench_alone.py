"""Each implementation alone in its own process, with and without glibc keeping freed memory.

``bench_peers.py`` runs every implementation in one process, so each inherits the others'
allocation history. A user's process runs one. This script starts a fresh Python for each
implementation of a ``bench_peers`` workload and reports ms and minor page faults per training
step, first as glibc behaves by default and then with ``MALLOC_TRIM_THRESHOLD_`` and
``MALLOC_MMAP_THRESHOLD_`` set (glibc's documented tunables, read when a process starts): by
default glibc gives the heap's free top back to the OS once it passes a threshold that it
raises with the largest block freed so far, and whatever is given back is faulted in again,
page by page, by the next step.

On 2026-12-02 (git 27dd00f, three runs), the LSTM 8-128 alone: autograd_mini 136-157 ms and
3,526 faults a step by default (the graph's memory given back after every backward and faulted
in by the next forward: 14 MB), 110-137 ms and 2-3 faults with the tunables; the numpy reference
105-128 ms and PyTorch 129-154 ms, with under 300 faults either way. In float32: 79 -> 68 ms
(1,049 faults -> 1). The 10,000-step Elman net faults 7,000 times a step either way: those are
CPython's own arenas for the graph's small objects, which it maps and unmaps itself. The engine
sets no allocator option: a library must not change its user's process behind their back.

Usage: ``python benchmarks/bench_alone.py [--workload lstm] [--steps 20] [--impl autograd_mini numpy torch]``
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# 256 MiB: above any block these workloads free, so glibc neither trims nor mmaps below it.
KEEP = {"MALLOC_TRIM_THRESHOLD_": str(256 << 20), "MALLOC_MMAP_THRESHOLD_": str(256 << 20)}
IMPLS = ("autograd_mini", "numpy", "torch")


def _inner(workload: str, impl: str, steps: int) -> dict:
    """Run in the child: ``steps`` training steps after two warm-up steps, alone."""
    sys.path.insert(0, str(HERE))
    import bench_peers as P
    params, data = P.workload_inputs(workload)
    kind = P.WORKLOADS[workload]["kind"]
    # Not bench_peers.implementations(): it imports every peer, and torch's import alone would
    # change the allocation history this script is here to leave to the one implementation.
    if impl == "torch":
        chosen = P.TorchImpl(P._import_torch())
    else:
        chosen = {"autograd_mini": P.MiniImpl(), "numpy": P.NumpyPlainImpl()}[impl]
    step = chosen.step(kind, params, data)
    step()
    step()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t = time.perf_counter()
    for _ in range(steps):
        step()
    t = time.perf_counter() - t
    return {"ms": t / steps * 1e3, "faults": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / steps}


def measure(workload: str, impl: str, steps: int, keep: bool) -> dict:
    """ms and page faults per step of ``impl`` alone in a fresh process."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", **(KEEP if keep else {}))
    if not keep:
        for k in KEEP:
            env.pop(k, None)
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--inner", "--workload", workload,
                          "--impl", impl, "--steps", str(steps)], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"bench_alone: {impl} on {workload} failed:\n{out.stderr.strip()}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workload", default="lstm")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--impl", nargs="+", default=list(IMPLS), choices=IMPLS)
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.steps < 1:
        ap.error("--steps must be at least 1")
    if args.inner:
        print(json.dumps(_inner(args.workload, args.impl[0], args.steps)))
        return 0
    print(f"{args.workload}, each implementation alone in a fresh process, {args.steps} steps after 2 warm-up steps")
    print(f"{'implementation':16s} {'glibc default':>26s} {'glibc keeps freed memory':>30s}")
    for impl in args.impl:
        try:
            cells = [measure(args.workload, impl, args.steps, keep) for keep in (False, True)]
        except RuntimeError as e:
            print(f"{impl:16s} not run: {str(e).splitlines()[-1]}")
            continue
        print(f"{impl:16s} " + "".join(f"{c['ms']:>12.2f} ms {c['faults']:>8.0f} faults" for c in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
