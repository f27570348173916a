"""The lecture's story in one run: binary addition, vanishing gradients, tied weights.

Runs ``binary_addition.py``, ``vanishing_gradients.py`` and ``tied_weights.py`` into one output
folder and lists every file they wrote (tables, weights, diagrams). About 20 seconds on 2 cores.

    python examples/lecture.py [--out out/]
"""
from __future__ import annotations

import argparse
import runpy
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PARTS = (
    ("binary_addition", ["--no-progress"]),
    ("vanishing_gradients", []),
    ("tied_weights", []),
)


def run(out: Path, quick: bool = False) -> list[Path]:
    """Run every part into ``out``; return the files written, in the order they were written."""
    out.mkdir(parents=True, exist_ok=True)
    before = {p: p.stat().st_mtime for p in out.iterdir()}
    start = time.time()
    for name, extra in PARTS:
        print(f"\n=== {name} ===")
        argv = extra + ["--out", str(out)]
        if quick and name == "binary_addition":
            argv += ["--steps", "30"]
        runpy.run_path(str(HERE / f"{name}.py"))["main"](argv)
    return sorted((p for p in out.iterdir() if p.is_file() and (p not in before or p.stat().st_mtime >= start)),
                  key=lambda p: p.stat().st_mtime)


def main(argv: list[str] | None = None) -> list[Path]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("out"), help="output folder (default out/)")
    ap.add_argument("--quick", action="store_true", help="a few training steps only (for tests)")
    args = ap.parse_args(argv)
    files = run(args.out, args.quick)
    print(f"\n{len(files)} files in {args.out}/:")
    for p in files:
        print(f"  {p}")
    return files


if __name__ == "__main__":
    main()
