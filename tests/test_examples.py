"""Every example runs as a script on tiny settings and writes the files it promises.

Each runs as ``python examples/NAME.py ... --out DIR`` in a fresh working directory, as a user
runs it. Checked: exit status 0; the files it prints (``wrote PATH``) are exactly the files in
DIR, and nothing is written anywhere else; every SVG parses; every table has the rows its
example promises. What the examples' numbers must show is tested in tests/test_demos.py.
"""
from __future__ import annotations

import csv
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Callable

import pytest

ROOT = Path(__file__).resolve().parents[1]
SVG = "{http://www.w3.org/2000/svg}svg"


def first_column(*values: str) -> Callable[[list[dict]], None]:
    """A table whose first column holds exactly ``values``, in order."""
    def check(rows: list[dict]) -> None:
        assert [next(iter(r.values())) for r in rows] == list(values)
    return check


def rows(n: int) -> Callable[[list[dict]], None]:
    def check(table: list[dict]) -> None:
        assert len(table) == n
    return check


def accuracy_table(table: list[dict]) -> None:
    assert [(r["model"], r["bits"]) for r in table] == [
        (m, b) for b in ("8", "16", "32", "64") for m in ("RNN 2-3-1", "feed-forward, window 4")]


BINARY_ADDITION = {
    "binary_addition_accuracy.csv": accuracy_table,
    "binary_addition_carries.csv": first_column(*(str(n) for n in range(1, 11))),
    "binary_addition_rnn.npz": None,
    "binary_addition_units.svg": None,
    "binary_addition_rolled.svg": None,
    "binary_addition.json": None,
}
VANISHING = {
    "vanishing_gradients.csv": None,  # a row per step: checked below
    "vanishing_gradients_chart.svg": None,
    "vanishing_gradients_small.svg": None,
    "vanishing_gradients_large.svg": None,
    "vanishing_gradients_lstm.svg": None,
}
TIED = {
    "tied_weights.csv": first_column("0", "1", "2", "3", "4", "5", "sum", "shared"),
    "tied_weights_copies.svg": None,
    "tied_weights_shared.svg": None,
}
HMM = {"hmm_memory.csv": first_column("HMM", "HMM", "HMM", "HMM", "RNN"), "hmm_memory.svg": None}
GALLERY = dict.fromkeys([  # + binary_addition_automaton.svg, when the net is trained
    "binary_addition_units.svg", "binary_addition_rolled.svg", "vanishing_gradients_chart.svg", "vanishing_gradients_small.svg",
    "vanishing_gradients_large.svg", "vanishing_gradients_lstm.svg", "tied_weights_copies.svg",
    "tied_weights_shared.svg", "hmm_memory.svg"])

# name -> (tiny arguments, {file it must write: check of its table, or None})
EXAMPLES = {
    "binary_addition": (["--steps", "20", "--no-progress"], BINARY_ADDITION),
    "vanishing_gradients": (["--steps", "8"], {**VANISHING, "vanishing_gradients.csv": rows(8)}),
    "tied_weights": ([], TIED),
    "lecture": (["--quick"], {**BINARY_ADDITION, **VANISHING, "vanishing_gradients.csv": rows(30), **TIED}),
    "adding_problem": (["--steps", "2", "--length", "6", "--no-progress"], {
        "adding_problem.csv": first_column("LSTM", "Elman RNN (tanh)"),
        "adding_problem_loss.csv": first_column("0", "1")}),
    "hmm_memory": (["--quick"], HMM),
    "memoryless": (["--quick"], {"memoryless_next_term.csv": first_column(
        "Autoregressive", "Autoregressive", "Autoregressive",
        "FeedForward", "FeedForward", "FeedForward", "ElmanRNN")}),
    "gradcheck_your_op": (["--examples", "3"], {"gradcheck_report.txt": None}),
    "make_gallery": (["--quick"], GALLERY),
}


def test_every_example_is_checked_here():
    assert {p.stem for p in (ROOT / "examples").glob("*.py")} == set(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_runs_as_a_script_and_writes_what_it_promises(name, tmp_path):
    argv, promised = EXAMPLES[name]
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / f"{name}.py"), *argv, "--out", str(out)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    announced = {Path(p) for p in re.findall(r"^wrote (.+)$", proc.stdout, flags=re.M)}
    written = {p for p in out.rglob("*") if p.is_file()}
    assert written == {p for p in announced if out in p.parents}, "printed and written files differ"
    assert [p.name for p in tmp_path.iterdir()] == ["results"], "wrote outside --out"
    assert {p.name for p in written} >= set(promised), f"missing: {set(promised) - {p.name for p in written}}"
    if name == "make_gallery":  # it copies from a run into a temporary folder: exactly the gallery
        assert {p.name for p in written} == set(promised)
    for path in written:
        if path.suffix == ".svg":
            assert ET.fromstring(path.read_text()).tag == SVG, path
        elif path.suffix == ".csv":
            with open(path, newline="") as fh:
                table = list(csv.DictReader(fh))
            assert table, f"{path.name} has no rows"
            check = promised.get(path.name)
            if check is not None:
                check(table)
