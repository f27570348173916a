"""Why recurrent nets are hard to train: the backward pass is linear.

The same 30-step sequence goes through an Elman net with small recurrent weights, one with
large recurrent weights, and an LSTM; the error sits at the last step. Going back in time, the
gradient reaching the hidden state is multiplied at every step by the recurrent weights (times
the units' slopes): with small weights it shrinks geometrically, with large ones it grows. The
LSTM's cell passes it back through its keep gate, multiplied by about 1.

It writes the gradient-flow chart (gradient norm against time step, log scale) and the three nets
(the Elman nets with 3 hidden units, the LSTM with one cell) unrolled at unit level over a short
sequence, drawn on one shared magnitude scale so they can be compared.

    python examples/vanishing_gradients.py [--steps 30] [--hidden 8] [--draw-steps 6] [--draw-hidden 3] [--out out/]
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

import models


def nets(hidden: int, seed: int) -> dict[str, models.Model]:
    """The three nets compared; the Elman nets start at h0 = 0 so tanh runs at slope 1."""
    return {
        "Elman, small weights (gain 0.5)": models.ElmanRNN(1, hidden, 1, activation="tanh", output="linear",
                                                           h0=0.0, recurrent_scale=0.5, seed=seed),
        "Elman, large weights (gain 2.0)": models.ElmanRNN(1, hidden, 1, activation="tanh", output="linear",
                                                           h0=0.0, recurrent_scale=2.0, seed=seed),
        "LSTM (keep gates open)": models.LSTM(1, hidden, 1, forget_bias=3.0, init_scale=0.1, seed=seed),
    }


def run(steps: int = 30, hidden: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """Per-step gradient norms ||dE/dh_t|| of each net on the same zero-input sequence."""
    x = np.zeros((steps, 1, 1))
    return {name: models.gradient_flow(net, x) for name, net in nets(hidden, seed).items()}


DRAW_INPUT = 0.01  # the drawings' input at every step: small, so tanh stays near slope 1


def draw_all(steps: int, hidden: int, seed: int, lstm_cells: int = 1) -> dict[str, object]:
    """Each net unrolled over ``steps`` steps at unit level, on one shared gradient-magnitude scale.

    The input is :data:`DRAW_INPUT` at every step (with none, every activity and so every
    connection's gradient would be 0): the pen of each W_xh line at step t is then
    ``DRAW_INPUT * |dE/dz_t|``, the error derivative that reached that step, shrinking or growing
    going back from the error at the last step. The Elman nets have ``hidden`` units and show
    what fits a slide (the first steps and the last); the LSTM has ``lstm_cells`` cells (each
    brings four gate units) and shows its last two steps, the cells' path entering them from the
    steps before.
    """
    import autograd_mini as am
    import viz

    chosen = {name: net for name, net in nets(hidden, seed).items() if not name.startswith("LSTM")}
    chosen.update({name: net for name, net in nets(lstm_cells, seed).items() if name.startswith("LSTM")})
    tapes, graphs = {}, []
    x = np.full((steps, 1, 1), DRAW_INPUT)
    for name, net in chosen.items():
        with am.Tape(keep_grads=True) as tape:
            loss = am.sum(net(x)[-1])
        loss.backward()
        tapes[name] = tape
        graphs.append(viz.to_networkx(tape, detail="units"))
    scale = viz.MagnitudeScale.from_graphs(*graphs)
    diagrams = {}
    for name, tape in tapes.items():
        if name.startswith("LSTM"):
            title = (f"{name}, {lstm_cells} cell{'s' if lstm_cells > 1 else ''}: input {DRAW_INPUT:g} at every step, "
                     f"the error at the last step only\nthe dashed line c_t-1 -> c_t carries the error derivative "
                     f"back through the keep gate, barely shrinking")
            window = (max(0, steps - 2), steps)
        else:
            title = (f"{name}: input {DRAW_INPUT:g} at every step, the error at the last step only\n"
                     f"the pen of a W_xh line: the input {DRAW_INPUT:g} times the error derivative that reached its step")
            window = None
        diagrams[name] = viz.draw(tape, detail="units", scale=scale, steps=window, title=title)
    return diagrams


def main(argv: list[str] | None = None) -> dict[str, np.ndarray]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30, help="sequence length (default 30)")
    ap.add_argument("--hidden", type=int, default=8, help="hidden units (default 8)")
    ap.add_argument("--draw-steps", type=int, default=6, help="steps in the unrolled diagrams (default 6)")
    ap.add_argument("--draw-hidden", type=int, default=3, help="hidden units of the drawn nets (default 3)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("out"), help="output folder (default out/)")
    args = ap.parse_args(argv)
    flows = run(args.steps, args.hidden, args.seed)
    print("gradient norm at the hidden state, by steps back from the error")
    back = [0, 1, 5, 10, 20, args.steps - 1]
    back = sorted({b for b in back if b < args.steps})
    print(f"  {'':34s}" + "".join(f"{b:>10d}" for b in back) + "   per step")
    for name, norms in flows.items():
        cells = "".join(f"{norms[args.steps - 1 - b]:>10.2e}" for b in back)
        print(f"  {name:34s}{cells}   x{models.growth_per_step(norms):.3f}")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "vanishing_gradients.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["step"] + list(flows))
        for t in range(args.steps):
            w.writerow([t] + [f"{flows[name][t]:.6e}" for name in flows])
    written = [path]
    from viz.charts import gradient_flow_chart, save_chart

    chart = gradient_flow_chart(flows, title=f"the error at step {args.steps - 1}: its gradient going back in time",
                                xlabel="time step (the error is at the last one)")
    written.append(save_chart(chart, args.out / "vanishing_gradients_chart.svg"))
    for i, (name, diagram) in enumerate(draw_all(args.draw_steps, args.draw_hidden, args.seed).items()):
        written.append(diagram.save(args.out / f"vanishing_gradients_{('small', 'large', 'lstm')[i]}.svg"))
    for p in written:
        print(f"wrote {p}")
    return flows


if __name__ == "__main__":
    main()
