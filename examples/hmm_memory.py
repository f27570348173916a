"""An HMM with N hidden states can remember at most log2 N bits of what it generated.

The copy task: k random bits, a marker, the same k bits again. Everything an HMM knows about the
first half when it starts the recall is which of its N states it is in, so, averaged over the
2^k equally likely bit strings, coding the recall given the rest costs any N-state HMM at least
k - log2 N bits per sequence (:func:`models.hmm.copy_bound_bits` has the three-line proof).

This trains HMMs with N = 2, 4, 8, 16 states by gradient ascent on the log-likelihood (several
random restarts each; the restart with the lowest recall cost on the training sequences is kept),
measures the recall cost on held-out sequences, and writes a CSV table and a hand-drawn SVG chart:

    python examples/hmm_memory.py [--k 4] [--steps 200] [--seed 0] [--out out/] [--quick]

The measured cost stays above the bound. It is usually well above it: besides the bits, a
time-homogeneous HMM must spend states on counting where it is in the sequence (when to emit the
marker, which bit to recall next), so only the largest HMMs have states left over for memory.
"""
from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path
from typing import Any, Sequence
from xml.sax.saxutils import escape

import numpy as np

import autograd_mini as am
import models
from models.hmm import HMM, all_copy_sequences, copy_bound_bits
from models.tasks import CopyTask

DEFAULT_STATES = (2, 4, 8, 16)
# Large random logits break the symmetry between states: from small ones gradient ascent nearly
# always settles on counting positions and remembering nothing.
INIT_SCALE = 4.0
COLUMNS = ("model", "N", "log2_N", "bound_bits", "recall_bits", "recall_bits_exact", "train_loglik")


def train_hmm(n_states: int, train: np.ndarray, steps: int, lr: float, restarts: int, seed: int,
              init_scale: float = INIT_SCALE, progress: bool = False,
              recall_start: int | None = None) -> tuple[HMM, float]:
    """The best of ``restarts`` HMMs fitted to ``train``; returns it and its mean training log-likelihood.

    "Best" is the lowest recall cost on the training sequences when ``recall_start`` is given
    (the property the experiment is about, judged on training data only), else the highest
    training log-likelihood; ties go to the higher log-likelihood.
    """
    best, best_key = None, (math.inf, math.inf)
    for r in range(restarts):
        hmm = HMM(n_states, 3, seed=seed * 1000 + r, init_scale=init_scale)
        hmm.fit(train, steps=steps, lr=lr, progress=progress)
        ll = float(hmm.log_prob_numpy(train).mean())  # after the last update
        cost = hmm.recall_cost_bits(train, recall_start) if recall_start is not None else 0.0
        key = (round(cost, 6), -ll)
        if key < best_key:
            best, best_key = hmm, key
    assert best is not None
    return best, -best_key[1]


def train_rnn(k: int, steps: int, seed: int, hidden: int = 16, progress: bool = False) -> models.ElmanRNN:
    """An Elman net that reads the copy sequence one symbol at a time and predicts the next bit."""
    net = models.ElmanRNN(3, hidden, 1, activation="tanh", seed=seed)
    models.train(net, CopyTask(k), am.optim.Adam(net.parameters(), lr=0.02), steps=steps, batch_size=64,
                 seed=seed, progress=progress)
    return net


def rnn_recall_cost_bits(net: models.ElmanRNN, seqs: np.ndarray, k: int) -> float:
    """Mean bits per sequence the net needs to code the k recall bits given everything before."""
    x = np.eye(3)[seqs[:, :-1]].transpose(1, 0, 2)
    with am.no_grad():
        z = net(x).value[k:, :, 0]            # logits of the recall bits
    y = seqs[:, k + 1:].T
    nats = np.logaddexp(0.0, z) - y * z      # -log p(bit), stable for any logit
    return float(nats.sum(axis=0).mean() / math.log(2))


def run(out: str | Path = "out", k: int = 4, steps: int = 200, seed: int = 0, quick: bool = False,
        states: Sequence[int] = DEFAULT_STATES, restarts: int | None = None, lr: float = 0.2,
        init_scale: float = INIT_SCALE,
        n_train: int = 512, n_test: int = 4000, progress: bool | None = None) -> dict[str, Any]:
    """Train the HMMs, measure their recall cost, write the CSV and SVG; return the table.

    Returns ``{"k", "columns", "rows", "files"}``: ``rows`` is a list of dicts with the keys of
    ``COLUMNS`` ("model" is "HMM"; other models' rows can be appended with the same keys),
    ``files`` the paths written. ``recall_bits`` is measured on ``n_test`` held-out sequences,
    ``recall_bits_exact`` over all 2^k bit strings once each (the exact average the bound is about).
    ``quick`` trims steps and restarts for tests.
    """
    if quick:
        steps, restarts = min(steps, 120), restarts or 2
    restarts = restarts or 8
    progress = (not quick) if progress is None else progress
    task = CopyTask(k)
    rng = np.random.default_rng(seed)
    train = task.symbols(rng, n_train)
    test = task.symbols(rng, n_test)        # later draws of the same stream: held out
    every = all_copy_sequences(k, task.MARKER)
    start = task.recall_slice().start       # the k bits and the marker are the prefix
    rows = []
    for n in states:
        hmm, train_ll = train_hmm(n, train, steps, lr, restarts, seed, init_scale, progress, start)
        rows.append({
            "model": "HMM", "N": int(n), "log2_N": math.log2(n), "bound_bits": copy_bound_bits(k, n),
            "recall_bits": hmm.recall_cost_bits(test, start),
            "recall_bits_exact": hmm.recall_cost_bits(every, start),
            "train_loglik": train_ll,
        })
    # The RNN's hidden state is distributed: 16 real-valued units hold all k bits at once.
    rnn = train_rnn(k, 300 if quick else 1500, seed, progress=progress)
    rows.append({
        "model": "RNN", "N": "16 units", "log2_N": math.nan, "bound_bits": 0.0,
        "recall_bits": rnn_recall_cost_bits(rnn, test, k),
        "recall_bits_exact": rnn_recall_cost_bits(rnn, every, k), "train_loglik": math.nan,
    })
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {"csv": write_csv(rows, out / "hmm_memory.csv"), "svg": write_svg(rows, k, out / "hmm_memory.svg")}
    return {"k": k, "columns": list(COLUMNS), "rows": rows, "files": files}


def write_csv(rows: list[dict[str, Any]], path: Path) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(COLUMNS))
        writer.writeheader()
        for row in rows:
            writer.writerow({c: (f"{row[c]:.6g}" if isinstance(row[c], float) else row[c]) for c in COLUMNS})
    return path


def write_svg(rows: list[dict[str, Any]], k: int, path: Path) -> Path:
    """A bar chart drawn by hand: measured recall cost per N, the bound k - log2 N as a dashed line,
    and the cost of remembering nothing (k bits) as a dotted line."""
    W, H, left, right, top, bottom = 480, 300, 56, 16, 40, 48
    pw, ph = W - left - right, H - top - bottom
    ymax = math.ceil(max([k] + [r["recall_bits"] for r in rows]) + 0.5)
    n = len(rows)

    def x(i: float) -> float:
        return left + (i + 0.5) * pw / n

    def y(v: float) -> float:
        return top + ph * (1.0 - v / ymax)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
             'font-family="sans-serif" font-size="11">',
             f'<title>{escape(f"Copy task, k = {k}: HMM recall cost vs the bound k - log2 N")}</title>',
             f'<text x="{W / 2:.0f}" y="16" text-anchor="middle" font-size="13">'
             f'{escape(f"Copy task (k = {k}): recall cost of an N-state HMM")}</text>']
    for v in range(ymax + 1):  # horizontal grid and y labels
        parts.append(f'<line x1="{left}" y1="{y(v):.1f}" x2="{W - right}" y2="{y(v):.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v}</text>')
    parts.append(f'<text x="14" y="{top + ph / 2:.0f}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {top + ph / 2:.0f})">bits per sequence</text>')
    bar = 0.5 * pw / n
    for i, r in enumerate(rows):
        v = r["recall_bits"]
        parts.append(f'<rect x="{x(i) - bar / 2:.1f}" y="{y(v):.1f}" width="{bar:.1f}" height="{y(0) - y(v):.1f}" '
                     f'fill="#4a7ebb"><title>N = {r["N"]}: {v:.3f} bits</title></rect>')
        parts.append(f'<text x="{x(i):.1f}" y="{y(v) - 4:.1f}" text-anchor="middle">{v:.2f}</text>')
        label = r["N"] if r["model"] == "HMM" else f'{r["model"]}, {r["N"]}'
        parts.append(f'<text x="{x(i):.1f}" y="{H - bottom + 16}" text-anchor="middle">{escape(str(label))}</text>')
    bound = " ".join(f"{x(i):.1f},{y(r['bound_bits']):.1f}" for i, r in enumerate(rows) if r["model"] == "HMM")
    parts.append(f'<polyline points="{bound}" fill="none" stroke="#c33" stroke-width="2" stroke-dasharray="6 3"/>')
    parts.append(f'<line x1="{left}" y1="{y(k):.1f}" x2="{W - right}" y2="{y(k):.1f}" stroke="#555" '
                 'stroke-dasharray="2 3"/>')
    parts.append(f'<line x1="{left}" y1="{y(0):.1f}" x2="{W - right}" y2="{y(0):.1f}" stroke="#000"/>')
    parts.append(f'<text x="{left + pw / 2:.0f}" y="{H - 12}" text-anchor="middle">'
                 'N hidden states (log scale)</text>')
    ly = top - 8
    parts.append(f'<rect x="{left}" y="{ly - 8}" width="10" height="10" fill="#4a7ebb"/>'
                 f'<text x="{left + 14}" y="{ly + 1}">measured (held out)</text>')
    parts.append(f'<line x1="{left + 140}" y1="{ly - 3}" x2="{left + 165}" y2="{ly - 3}" stroke="#c33" '
                 f'stroke-width="2" stroke-dasharray="6 3"/><text x="{left + 170}" y="{ly + 1}">'
                 f'{escape("bound k - log2 N")}</text>')
    parts.append(f'<line x1="{left + 290}" y1="{ly - 3}" x2="{left + 315}" y2="{ly - 3}" stroke="#555" '
                 f'stroke-dasharray="2 3"/><text x="{left + 320}" y="{ly + 1}">{escape("no memory (k)")}</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n")
    return path


def format_table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'model':>6} {'N':>4} {'log2 N':>7} {'bound k-log2 N':>15} {'recall (held out)':>18} "
             f"{'recall (all 2^k)':>17}"]
    for r in rows:
        lines.append(f"{r['model']:>6} {r['N']:>4} {r['log2_N']:>7.2f} {r['bound_bits']:>15.2f} "
                     f"{r['recall_bits']:>18.3f} {r['recall_bits_exact']:>17.3f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="out/", help="directory for hmm_memory.csv and hmm_memory.svg")
    parser.add_argument("--k", type=int, default=4, help="bits to copy")
    parser.add_argument("--steps", type=int, default=200, help="Adam steps per HMM restart")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="few steps and restarts (for tests)")
    args = parser.parse_args(argv)
    result = run(args.out, k=args.k, steps=args.steps, seed=args.seed, quick=args.quick)
    print(f"Copy task, k = {args.k}: recall cost in bits per sequence (the last k symbols given the rest)")
    print(format_table(result["rows"]))
    for path in result["files"].values():
        print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
