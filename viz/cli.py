"""``autograd-mini``: draw a recurrent net unrolled through time, or train one, from the shell.

    autograd-mini render --model rnn --steps 8 --out rnn.svg
    autograd-mini render --model lstm --steps 30 --view rolled --out lstm.svg
    autograd-mini train --task addition --model rnn --steps 3000 --out rnn.npz
    autograd-mini render --model rnn --weights rnn.npz --task addition --steps 6 --out trained.svg
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

import autograd_mini as am

MODELS = ("rnn", "lstm", "hmm", "ar", "ff")
TASKS = ("addition", "next-term", "long-lag", "adding", "copy")


class CLIError(Exception):
    """A bad argument: printed as one line, exit status 2."""


def _task(name: str, model: str, delay: int) -> Any:
    from models import tasks

    if name == "addition":
        return tasks.BinaryAddition(bits=8, delay=delay)
    if name == "next-term":
        return tasks.NextTerm()
    if name == "long-lag":
        return tasks.LongLag()
    if name == "adding":
        return tasks.AddingProblem()
    if name == "copy":
        return tasks.CopyTask()
    raise CLIError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")


def _model(kind: str, n_in: int, hidden: int, seed: int, task: str) -> Any:
    import models

    if kind == "rnn":
        synchronous = task == "addition"  # the lecture's binary-addition net
        return models.ElmanRNN(n_in, hidden, 1, timing="synchronous" if synchronous else "usual", seed=seed,
                               output="linear" if task == "adding" else "logistic")
    if kind == "lstm":
        return models.LSTM(n_in, hidden, 1, seed=seed, output="linear" if task == "adding" else "logistic")
    if kind == "ar":
        return models.Autoregressive(n_in=n_in, k=3, seed=seed)
    if kind == "ff":
        return models.FeedForward(n_in=n_in, k=3, hidden=(hidden,), seed=seed)
    if kind == "hmm":
        return models.HMM(hidden, 3, seed=seed)
    raise CLIError(f"unknown model {kind!r}; choose one of {', '.join(MODELS)}")


def _positive(name: str, value: int) -> int:
    if value < 1:
        raise CLIError(f"--{name} must be at least 1, got {value}")
    return value


def render_cmd(args: argparse.Namespace) -> int:
    import viz

    task_name = args.task or ("copy" if args.model == "hmm" else "addition")
    net = _model(args.model, 3 if task_name == "copy" else (1 if task_name == "next-term" else 2),
                 _positive("hidden", args.hidden), args.seed, task_name)
    if args.weights:
        try:
            net.load(args.weights)
        except (OSError, ValueError, KeyError) as e:
            raise CLIError(f"cannot load weights from {args.weights}: {e}") from None
    steps = _positive("steps", args.steps)
    with am.Tape(keep_grads=True) as tape:
        if args.model == "hmm":
            from models.tasks import CopyTask

            k = max(1, (steps - 1) // 2)
            loss = -net.log_likelihood(CopyTask(k).symbols(args.seed, 1))
        else:
            task = _task(task_name, args.model, getattr(net, "delay", 0))
            batch = task.sample(args.seed, 1, max(1, steps - 1 - getattr(net, "delay", 0)) if task_name == "addition" else steps)
            from models import sequence_loss
            from models.tasks import Batch

            # Every output counts here (a task may score only its last steps): the picture is
            # about how the gradient of each output flows back.
            loss = sequence_loss(net(batch.x), Batch(batch.x, batch.y, np.ones_like(batch.y)), task.loss)
    loss.backward()
    window = None
    if args.window:
        window = _positive("window", args.window)
    diagram = viz.draw(tape, view=args.view, detail=args.detail, steps=window, labels=args.labels,
                       title=f"{args.model} on {task_name}, {'trained' if args.weights else 'initial'} weights")
    try:
        path = diagram.save(args.out)
    except (viz.RenderError, ValueError) as e:
        raise CLIError(str(e)) from None
    print(f"wrote {path}")
    return 0


def train_cmd(args: argparse.Namespace) -> int:
    import models

    if args.model == "hmm":
        from models.tasks import CopyTask

        net = models.HMM(_positive("hidden", args.hidden), 3, seed=args.seed)
        net.fit(CopyTask().symbols(args.seed, 256), steps=_positive("steps", args.steps), progress=not args.quiet)
    else:
        task_name = args.task or "addition"
        n_in = {"copy": 3, "next-term": 1}.get(task_name, 2)
        net = _model(args.model, n_in, _positive("hidden", args.hidden), args.seed, task_name)
        task = _task(task_name, args.model, getattr(net, "delay", 0))
        opt = am.optim.Adam(net.parameters(), lr=args.lr)
        hist = models.train(net, task, opt, steps=_positive("steps", args.steps), clip=args.clip,
                            seed=args.seed, progress=not args.quiet)
        print(f"final loss {np.mean(hist.loss[-20:]):.4f}")
    path = net.save(args.out)
    print(f"wrote {path}")
    return 0


class _OneLineParser(argparse.ArgumentParser):
    """Bad arguments: one line on stderr and exit status 2, no usage dump, never a traceback."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def parser() -> argparse.ArgumentParser:
    p = _OneLineParser(prog="autograd-mini",
                       description="Draw a recurrent net unrolled through time, or train one.",
                                epilog="Run 'autograd-mini COMMAND --help' for a command's options.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    r = sub.add_parser("render", help="draw a model unrolled through time with the gradient on every edge")
    r.add_argument("--model", choices=MODELS, default="rnn", help="model kind (default rnn)")
    r.add_argument("--task", choices=TASKS, help="task that gives the input and the loss (default addition; copy for hmm)")
    r.add_argument("--steps", type=int, default=8, help="time steps to unroll (default 8)")
    r.add_argument("--hidden", type=int, default=3, help="hidden units, cells or HMM states (default 3)")
    r.add_argument("--weights", help="a .npz saved by 'train' (default: initial weights)")
    r.add_argument("--view", choices=("unrolled", "rolled"), default="unrolled")
    r.add_argument("--detail", choices=("auto", "ops", "modules"), default="auto")
    r.add_argument("--window", type=int, help="draw only the first and last N steps")
    r.add_argument("--labels", action="store_true", help="print each gradient magnitude on its edge")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--out", default="unrolled.svg", help="output file; .svg always, .png/.pdf need the system Graphviz")
    r.set_defaults(run=render_cmd)
    t = sub.add_parser("train", help="train a model on a task and save its parameters (.npz)")
    t.add_argument("--model", choices=MODELS, default="rnn")
    t.add_argument("--task", choices=TASKS, help="default addition")
    t.add_argument("--steps", type=int, default=3000, help="training steps (default 3000)")
    t.add_argument("--hidden", type=int, default=3)
    t.add_argument("--lr", type=float, default=0.05)
    t.add_argument("--clip", type=float, default=None, help="clip the gradient norm to this")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--out", default="model.npz")
    t.set_defaults(run=train_cmd)
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    try:
        args = p.parse_args(argv)
    except SystemExit as e:  # argparse already printed a one-line usage error (or the help)
        return int(e.code or 0)
    if not getattr(args, "command", None):
        p.print_help()
        return 2
    try:
        return args.run(args)
    except CLIError as e:
        print(f"autograd-mini {args.command}: error: {e}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, OSError) as e:
        print(f"autograd-mini {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
