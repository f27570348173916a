"""Regenerate the README gallery: run the examples and copy their diagrams into docs/gallery/.

    python examples/make_gallery.py [--dest docs/gallery]
"""
from __future__ import annotations

import argparse
import runpy
import shutil
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SVGS = (
    "binary_addition_unrolled.svg", "binary_addition_automaton.svg", "vanishing_gradients_chart.svg",
    "vanishing_gradients_small.svg", "vanishing_gradients_large.svg", "vanishing_gradients_lstm.svg",
    "tied_weights_copies.svg", "tied_weights_shared.svg", "hmm_memory.svg",
)


def main(argv: list[str] | None = None) -> list[Path]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dest", type=Path, default=HERE.parent / "docs" / "gallery")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        runpy.run_path(str(HERE / "lecture.py"))["main"](["--out", tmp])
        runpy.run_path(str(HERE / "hmm_memory.py"))["main"](["--out", tmp])
        args.dest.mkdir(parents=True, exist_ok=True)
        copied = [Path(shutil.copy(Path(tmp) / name, args.dest / name)) for name in SVGS]
    for p in copied:
        print(f"gallery: {p}")
    return copied


if __name__ == "__main__":
    main()
