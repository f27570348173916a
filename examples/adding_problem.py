"""The adding problem: an LSTM learns it, an Elman net of similar size does not.

Each sequence has T steps of (value uniform in [0, 1], marker); two steps are marked and the
target, at the last step, is the sum of their values. Answering 1.0 always has a mean squared
error of 1/6 (0.167): the baseline. The LSTM's cells keep the marked values for the ~T steps
they must; the Elman net's gradient vanishes over that distance and it stays near the baseline.

    python examples/adding_problem.py [--length 50] [--steps 600] [--hidden 16] [--seed 0] [--out out/]
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

import autograd_mini as am
import models
from models.tasks import AddingProblem


def evaluate(net: models.Model, task: AddingProblem, seed: int, n: int = 1000) -> float:
    """Mean squared error of the final answer on ``n`` fresh sequences."""
    batch = task.sample(seed, n)
    return float(np.mean((net.predict(batch.x)[-1] - batch.y[-1]) ** 2))


def run(out: Path, length: int = 50, steps: int = 600, hidden: int = 16, seed: int = 0,
        progress: bool = True) -> dict[str, dict[str, float]]:
    """Train both nets; write ``adding_problem.csv`` (results) and ``adding_problem_loss.csv``."""
    task = AddingProblem(length)
    nets = {
        "LSTM": models.LSTM(2, hidden, 1, seed=seed),
        # Similar size: an Elman net with twice the hidden units has about as many weights.
        "Elman RNN (tanh)": models.ElmanRNN(2, 2 * hidden, 1, activation="tanh", output="linear", seed=seed),
    }
    results, curves = {}, {}
    for name, net in nets.items():
        opt = am.optim.Adam(net.parameters(), lr=0.01)
        hist = models.train(net, task, opt, steps=steps, batch_size=32, clip=1.0, seed=seed, progress=progress)
        n_weights = int(sum(p.size for p in net.parameters()))
        results[name] = {"weights": n_weights, "test_mse": evaluate(net, task, seed + 1000),
                         "baseline_mse": AddingProblem.BASELINE_MSE}
        curves[name] = hist.loss
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "adding_problem.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["model", "weights", "length", "steps", "test_mse", "baseline_mse"])
        for name, r in results.items():
            w.writerow([name, r["weights"], length, steps, f"{r['test_mse']:.5f}", f"{r['baseline_mse']:.5f}"])
    with open(out / "adding_problem_loss.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["step"] + list(curves))
        for i in range(steps):
            w.writerow([i] + [f"{curves[name][i]:.6f}" for name in curves])
    return results


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--length", type=int, default=50, help="sequence length T (default 50)")
    ap.add_argument("--steps", type=int, default=600, help="training steps per net (default 600)")
    ap.add_argument("--hidden", type=int, default=16, help="LSTM cells (the Elman net gets twice as many units)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("out"), help="output folder (default out/)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    results = run(args.out, args.length, args.steps, args.hidden, args.seed, progress=not args.no_progress)
    print(f"\nadding problem, T = {args.length}: mean squared error of the answer (always 1.0: {AddingProblem.BASELINE_MSE:.3f})")
    for name, r in results.items():
        print(f"  {name:18s} {r['weights']:5d} weights   test MSE {r['test_mse']:.4f}")
    for f in ("adding_problem.csv", "adding_problem_loss.csv"):
        print(f"wrote {args.out / f}")
    return results


if __name__ == "__main__":
    main()
