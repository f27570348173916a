"""The lecture's binary-addition net: two input units, three hidden units, one output unit.

Each step gives the net one column of the two numbers (least significant first). Every unit
updates from the previous step's activities, so the sum bit of a column comes out two steps
after its inputs went in. Trained on 8-bit numbers only, the net adds 16, 32 and 64-bit numbers
with no further training, because the same weights are used at every step: it has learned a
small finite-state automaton (carry or no carry), not a lookup table. A feed-forward net on a
fixed window of delay taps, trained on the same sums, fails when a carry must travel further
than its window.

It also draws the trained net as the lecture does, unrolled over one short sum with a carry that
ripples through every column (a circle per unit per step, a line per connection, its pen the size
of that connection's gradient), the same net rolled up, and the automaton its hidden units learned.

    python examples/binary_addition.py [--steps 3000] [--seed 0] [--window 4] [--out out/]
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

import autograd_mini as am
import models
from models.tasks import BinaryAddition

LENGTHS = (8, 16, 32, 64)


def train_lecture_net(steps: int, seed: int, progress: bool = True) -> models.ElmanRNN:
    """The 2-3-1 net with the lecture's synchronous timing and fixed initial state 0.5."""
    net = models.ElmanRNN(2, 3, 1, timing="synchronous", h0=0.5, seed=seed)
    task = BinaryAddition(bits=8, delay=net.delay)
    models.train(net, task, am.optim.Adam(net.parameters(), lr=0.05), steps=steps, batch_size=32,
                 seed=seed, progress=progress)
    return net


def train_window_net(window: int, steps: int, seed: int, progress: bool = True) -> models.FeedForward:
    """A feed-forward net that sees the current column and the ``window - 1`` before it."""
    net = models.FeedForward(n_in=2, k=window, hidden=(16,), seed=seed)
    models.train(net, BinaryAddition(bits=8), am.optim.Adam(net.parameters(), lr=0.02), steps=steps,
                 batch_size=32, seed=seed, progress=progress)
    return net


def accuracy_table(rnn: models.ElmanRNN, ff: models.FeedForward, seed: int, n: int = 500) -> list[dict]:
    """Whole-sum and bit accuracy of both nets on fresh numbers of every length in LENGTHS."""
    rows = []
    for bits in LENGTHS:
        for name, net, delay in (("RNN 2-3-1", rnn, rnn.delay), (f"feed-forward, window {ff.k}", ff, 0)):
            batch = BinaryAddition(bits=bits, delay=delay).sample(seed + bits, n)
            with am.no_grad():
                out = net(batch.x)
            rows.append({"model": name, "bits": bits, "trained_on": 8,
                         "sums_correct": models.sequence_accuracy(out, batch),
                         "bits_correct": models.bit_accuracy(out, batch)})
    return rows


def carry_table(ff: models.FeedForward, rnn: models.ElmanRNN, bits: int = 12) -> list[dict]:
    """Accuracy on the column a carry reaches after travelling ``chain`` columns."""
    rows = []
    for chain in range(1, bits - 1):
        b = models.carry_chain_batch(bits, chain, batch_size=64, seed=chain)
        with am.no_grad():
            ff_acc = models.bit_accuracy(ff(b.x), b)
            shifted = BinaryAddition(bits=bits, delay=rnn.delay)
            sb = shifted.from_bits(*_addends(b.x, bits))
            mask = np.zeros_like(sb.mask)
            mask[chain + rnn.delay] = 1.0
            rnn_acc = models.bit_accuracy(rnn(sb.x), models.tasks.Batch(sb.x, sb.y, mask))
        rows.append({"carry_travels": chain, "feed_forward": ff_acc, "rnn": rnn_acc})
    return rows


UNIT_BITS = (2, 3, 4)  # the addends' lengths tried for the unit-level picture (the longest that fits is drawn)


def carry_sum(bits: int, delay: int) -> tuple[int, int, models.tasks.Batch]:
    """(2^bits - 1) + 1: the carry starts in the first column and ripples through every one."""
    a = np.ones((1, bits), dtype=int)
    b = np.zeros((1, bits), dtype=int)
    b[0, 0] = 1
    return 2 ** bits - 1, 1, BinaryAddition(bits=bits, delay=delay).from_bits(a, b)


def _record(net: models.ElmanRNN, batch: models.tasks.Batch) -> tuple[am.Tape, am.Tensor]:
    with am.Tape(keep_grads=True) as tape:
        loss = models.sequence_loss(net(batch.x), batch)
    loss.backward()
    return tape, loss


def draw_units(net: models.ElmanRNN, bits: tuple[int, ...] = UNIT_BITS):
    """The lecture's picture of the trained net: a circle per unit per step, a line per
    connection W[i, j], its pen the size of that connection's gradient in that step.

    The sum is the longest of ``bits`` whose whole unroll fits a slide; if none does, the
    shortest, of which the slide shows the steps that fit (the caption says which).
    """
    import viz

    drawn = None
    for n in sorted(bits):  # shortest first: a longer sum fits only if the shorter ones do
        a, b, batch = carry_sum(n, net.delay)
        tape, loss = _record(net, batch)
        diagram = viz.draw(tape, detail="units", title=(
            f"the trained 2-3-1 net adding {a} + {b} = {a + b}, a column of bits per step, lowest first\n"
            f"the sum bit comes out {net.delay} steps after its column; loss {loss.item():.1e}"))
        if drawn is not None and "showing step" in diagram.caption:  # this one does not fit whole
            break
        drawn = diagram
        if "showing step" in diagram.caption:  # not even the shortest fits: show what does
            break
    return drawn


def draw_rolled(net: models.ElmanRNN, bits: int = min(UNIT_BITS)):
    """The same net rolled up: each unit once, a line per weight, its gradient summed over the steps."""
    import viz

    a, b, batch = carry_sum(bits, net.delay)
    tape, _ = _record(net, batch)
    return viz.draw(tape, detail="units", view="rolled",
                    title=f"the trained 2-3-1 net rolled up, every step using the same weights: its gradients for {a} + {b}")


def _addends(x: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    return x[:bits, :, 0].T.astype(int), x[:bits, :, 1].T.astype(int)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3000, help="training steps (default 3000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--window", type=int, default=4, help="delay taps of the feed-forward net (default 4)")
    ap.add_argument("--out", type=Path, default=Path("out"), help="output folder (default out/)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    rnn = train_lecture_net(args.steps, args.seed, progress=not args.no_progress)
    ff = train_window_net(args.window, args.steps // 3 or 1, args.seed, progress=not args.no_progress)
    table = accuracy_table(rnn, ff, args.seed)
    carries = carry_table(ff, rnn)

    ff_name = f"feed-forward, window {args.window}"
    print("\non fresh numbers (trained on 8-bit numbers only): bits right, and whole sums right")
    print(f"  {'bits':>4}  {'RNN 2-3-1':>20}  {ff_name:>24}")
    print(f"  {'':>4}  {'bits':>9} {'sums':>10}  {'bits':>13} {'sums':>10}")
    for bits in LENGTHS:
        r = {row["model"].split(",")[0]: row for row in table if row["bits"] == bits}
        rnn_row, ff_row = r["RNN 2-3-1"], r["feed-forward"]
        print(f"  {bits:>4}  {rnn_row['bits_correct']:>9.1%} {rnn_row['sums_correct']:>10.1%}"
              f"  {ff_row['bits_correct']:>13.1%} {ff_row['sums_correct']:>10.1%}")
    print("\nthe column a carry reaches after travelling n columns")
    print(f"  {'n':>4}  {'RNN':>6}  {'feed-forward':>12}")
    for row in carries:
        print(f"  {row['carry_travels']:>4}  {row['rnn']:>6.0%}  {row['feed_forward']:>12.0%}")

    args.out.mkdir(parents=True, exist_ok=True)
    written = []
    with open(args.out / "binary_addition_accuracy.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(table[0]))
        w.writeheader()
        w.writerows(table)
    written.append(args.out / "binary_addition_accuracy.csv")
    with open(args.out / "binary_addition_carries.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(carries[0]))
        w.writeheader()
        w.writerows(carries)
    written.append(args.out / "binary_addition_carries.csv")
    written.append(rnn.save(args.out / "binary_addition_rnn.npz"))
    written.append(draw_units(rnn).save(args.out / "binary_addition_units.svg"))
    written.append(draw_rolled(rnn).save(args.out / "binary_addition_rolled.svg"))
    try:
        from viz.automaton import automaton_diagram

        auto = automaton_diagram(rnn, BinaryAddition(bits=16, delay=rnn.delay).sample(args.seed, 200),
                                 title="the finite-state automaton in the trained net's 3 hidden units: run on the bits, it gives the net's sums")
        written.append(auto.save(args.out / "binary_addition_automaton.svg"))
    except ValueError as e:  # an undertrained net has no clean automaton: say so, draw nothing
        print(f"no automaton drawn: {e}")
    summary = {"accuracy": table, "carries": carries, "weights": {k: v.tolist() for k, v in rnn.state_dict().items()}}
    (args.out / "binary_addition.json").write_text(json.dumps(summary, indent=2))
    written.append(args.out / "binary_addition.json")
    for path in written:
        print(f"wrote {path}")
    return summary


if __name__ == "__main__":
    main()
