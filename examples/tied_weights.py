"""The lecture's weight-constraint slide, computed: a tied weight gets the sum of its copies' gradients.

Backpropagation through time treats the unrolled net as a layered net whose layers share their
weights. Give every step its own copy of the recurrent weight matrix instead (w_1 = w_2 = ... in
value, but separate parameters), backpropagate, and each copy gets dE/dw_t; the shared weight of
the ordinary net gets exactly their sum, which is why a training step keeps the copies equal.

    python examples/tied_weights.py [--steps 6] [--seed 0] [--out out/]
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

import autograd_mini as am
import models


class PerStepCopies(dict):
    """A parameter table that hands out a separate copy of one weight at each step's lookup."""

    def __init__(self, params: dict, key: str, steps: int) -> None:
        super().__init__(params)
        self.key = key
        self.copies = [am.Parameter(params[key].value, name=f"{key}({t})") for t in range(steps)]
        self._next = 0

    def __getitem__(self, k: str) -> am.Parameter:
        if k != self.key:
            return super().__getitem__(k)
        self._next += 1
        return self.copies[self._next - 1]


def run(steps: int = 6, seed: int = 0) -> dict:
    """Gradients of the shared W_hh and of per-step copies, and the tapes of both nets."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(steps, 1, 2))
    target = rng.normal(size=(steps, 1, 1))

    def loss_of(net: models.ElmanRNN) -> tuple[am.Tensor, am.Tape]:
        with am.Tape(keep_grads=True) as tape:
            diff = net(x) - target
            loss = am.sum(diff * diff)
        loss.backward()
        return loss, tape

    tied = models.ElmanRNN(2, 3, 1, activation="tanh", output="linear", seed=seed)
    _, tied_tape = loss_of(tied)
    untied = models.ElmanRNN(2, 3, 1, activation="tanh", output="linear", seed=seed)
    untied._params = PerStepCopies(untied._params, "W_hh", steps)
    _, untied_tape = loss_of(untied)
    copies = [c.grad for c in untied._params.copies]
    return {"shared": tied["W_hh"].grad, "copies": copies, "tied_tape": tied_tape, "untied_tape": untied_tape}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("out"), help="output folder (default out/)")
    args = ap.parse_args(argv)
    result = run(args.steps, args.seed)
    total = np.sum(result["copies"], axis=0)
    print("dE/dW_hh of each step's copy (Frobenius norm), and their sum against the shared weight's gradient")
    for t, g in enumerate(result["copies"]):
        print(f"  copy t={t}: {np.linalg.norm(g):.4e}")
    gap = float(np.max(np.abs(total - result["shared"])))
    print(f"  sum of copies: {np.linalg.norm(total):.6e}   shared weight: {np.linalg.norm(result['shared']):.6e}"
          f"   largest difference {gap:.1e}")
    import viz

    # The lecture's picture (a circle per unit, a line per connection), both nets on one scale.
    graphs = [viz.to_networkx(result["untied_tape"], detail="units"), viz.to_networkx(result["tied_tape"], detail="units")]
    scale = viz.MagnitudeScale.from_graphs(*graphs)
    args.out.mkdir(parents=True, exist_ok=True)
    written = [
        viz.draw(result["untied_tape"], detail="units", scale=scale, title=(
            "a separate copy W_hh(t) of the recurrent weights in every step, all equal in value\n"
            "each copy gets only its own step's gradient (their sizes in the box at the right)"))
        .save(args.out / "tied_weights_copies.svg"),
        viz.draw(result["tied_tape"], detail="units", scale=scale, title=(
            "one W_hh shared by every step, as in an ordinary recurrent net\n"
            "its gradient is the sum of the copies' gradients: the steps' shares add up to |G|"))
        .save(args.out / "tied_weights_shared.svg"),
    ]
    path = args.out / "tied_weights.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["step", "copy_grad_norm"])
        for t, g in enumerate(result["copies"]):
            w.writerow([t, f"{np.linalg.norm(g):.6e}"])
        w.writerow(["sum", f"{np.linalg.norm(total):.6e}"])
        w.writerow(["shared", f"{np.linalg.norm(result['shared']):.6e}"])
    written.append(path)
    for p in written:
        print(f"wrote {p}")
    return result


if __name__ == "__main__":
    main()
