"""Regenerate the README gallery: run the examples and copy their diagrams into docs/gallery/.

    python examples/make_gallery.py [--out docs/gallery] [--quick]

About 30 seconds; ``--quick`` trains for a few steps only (a smoke test: the pictures are then
of untrained nets, not for the README).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import runpy
import shutil
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SVGS = (
    "binary_addition_units.svg", "binary_addition_rolled.svg", "binary_addition_automaton.svg",
    "vanishing_gradients_chart.svg", "vanishing_gradients_small.svg", "vanishing_gradients_large.svg",
    "vanishing_gradients_lstm.svg", "tied_weights_copies.svg", "tied_weights_shared.svg", "hmm_memory.svg",
)


def main(argv: list[str] | None = None) -> list[Path]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE.parent / "docs" / "gallery",
                    help="gallery folder (default docs/gallery/)")
    ap.add_argument("--quick", action="store_true", help="a few training steps only (for tests)")
    args = ap.parse_args(argv)
    quick = ["--quick"] if args.quick else []
    print("running lecture.py and hmm_memory.py into a temporary folder (their output hidden) ...")
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        runpy.run_path(str(HERE / "lecture.py"))["main"](["--out", tmp] + quick)
        runpy.run_path(str(HERE / "hmm_memory.py"))["main"](["--out", tmp] + quick)
        args.out.mkdir(parents=True, exist_ok=True)
        missing = [name for name in SVGS if not (Path(tmp) / name).exists()]
        if missing and not args.quick:  # a quick run's untrained net has no automaton to draw
            raise SystemExit(f"make_gallery: the examples did not write {', '.join(missing)}")
        copied = [Path(shutil.copy(Path(tmp) / name, args.out / name)) for name in SVGS if name not in missing]
    print(f"\ngallery: {len(copied)} diagrams")
    for p in copied:
        print(f"wrote {p}")
    return copied


if __name__ == "__main__":
    main()
