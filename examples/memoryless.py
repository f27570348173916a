"""Memoryless models (delay taps) against a recurrent net on a sequence that needs long memory.

The sequence is NextTerm(lags=(1, lag)): s_{t+1} = s_t XOR s_{t+1-lag}. A model that sees the
last k inputs can predict it only if its window reaches back far enough (k >= lag) and only if it
can compute XOR: a linear autoregressive model stays at chance whatever k; a feed-forward net on
k delay taps is perfect once k >= lag and at chance below; an Elman RNN (tanh hidden units)
keeps what it needs in its hidden state and has no window at all.

Prints a table of bit accuracy on fresh sequences per model and k, writes it as CSV into --out.

    python examples/memoryless.py [--lag 8] [--ks 2,4,8] [--seed 0] [--out out/] [--quick]
"""
from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

import autograd_mini as am
import models
from models.memoryless import Autoregressive, FeedForward
from models.tasks import NextTerm

FIELDS = ["model", "k", "hidden", "train_steps", "final_loss", "bit_accuracy", "seconds"]


def evaluate(model: models.Model, task: NextTerm, seed: int, n: int = 512, length: int = 60) -> float:
    """Bit accuracy on ``n`` fresh sequences (a data seed training never uses)."""
    batch = task.sample(np.random.default_rng(10_000 + seed), n, length)
    with am.no_grad():
        return models.bit_accuracy(model(batch.x), batch)


def run(model: models.Model, task: NextTerm, steps: int, lr: float, seed: int, clip: float | None = None) -> dict:
    start = time.perf_counter()
    hist = models.train(model, task, am.optim.Adam(model.parameters(), lr=lr), steps=steps, batch_size=32,
                        clip=clip, seed=seed, progress=False)
    seconds = time.perf_counter() - start
    return {"train_steps": steps, "final_loss": round(float(np.mean(hist.loss[-10:])), 4),
            "bit_accuracy": round(evaluate(model, task, seed), 4), "seconds": round(seconds, 2)}


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lag", type=int, default=8, help="the rule's long lag: s_{t+1} = s_t XOR s_{t+1-lag} (default 8)")
    ap.add_argument("--ks", default="2,4,8", help="delay-tap counts to try, comma-separated (default 2,4,8)")
    ap.add_argument("--hidden", type=int, default=16, help="hidden units of the FF net and the RNN (default 16)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("out"), help="folder for the results (default out/)")
    ap.add_argument("--quick", action="store_true", help="a few training steps only: a smoke test")
    args = ap.parse_args(argv)
    ks = [int(k) for k in args.ks.split(",") if k.strip()]
    if args.lag < 2:
        ap.error("--lag must be at least 2")
    if not ks or min(ks) < 1:
        ap.error("--ks must be positive integers")
    task = NextTerm(lags=(1, args.lag), length=30)
    if max(ks) > task.default_length:
        ap.error(f"--ks: at most {task.default_length} taps (the training sequences' length)")
    tap_steps, rnn_steps = (20, 20) if args.quick else (500, 1500)

    rows = []
    for k in ks:
        ar = Autoregressive(k=k, output="logistic", seed=args.seed)
        rows.append({"model": "Autoregressive", "k": k, "hidden": 0, **run(ar, task, tap_steps, 0.05, args.seed)})
    for k in ks:
        ff = FeedForward(k=k, hidden=(args.hidden,), seed=args.seed)
        rows.append({"model": "FeedForward", "k": k, "hidden": args.hidden, **run(ff, task, tap_steps, 0.03, args.seed)})
    rnn = models.ElmanRNN(1, args.hidden, 1, activation="tanh", seed=args.seed)
    rows.append({"model": "ElmanRNN", "k": "", "hidden": args.hidden, **run(rnn, task, rnn_steps, 0.01, args.seed, clip=5.0)})

    print(f"next-term prediction, s_(t+1) = s_t XOR s_(t+1-{args.lag}); bit accuracy on fresh sequences "
          f"(chance 0.5){' [quick]' if args.quick else ''}")
    print(f"{'model':<16}{'k':>4}{'hidden':>8}{'steps':>7}{'loss':>9}{'accuracy':>10}{'secs':>7}")
    for r in rows:
        print(f"{r['model']:<16}{str(r['k']):>4}{r['hidden']:>8}{r['train_steps']:>7}{r['final_loss']:>9.4f}"
              f"{r['bit_accuracy']:>10.4f}{r['seconds']:>7.2f}")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "memoryless_next_term.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {path}")
    return rows


if __name__ == "__main__":
    main()
