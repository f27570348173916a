"""``autograd-mini``: draw a recurrent net unrolled through time, or train one, from the shell.

    autograd-mini render --model rnn --steps 8 --out rnn.svg
    autograd-mini render --model lstm --steps 30 --view rolled --out lstm.svg
    autograd-mini render --detail ops --size page --fontsize 11 --out rnn.html
    autograd-mini train --task addition --model rnn --steps 3000 --out rnn.npz
    autograd-mini render --model rnn --weights rnn.npz --task addition --steps 6 --out trained.svg

``render`` writes what :func:`viz.draw` returns, in the format of the output's extension: .svg,
.png (with the system Graphviz or graphviz-pure), .pdf (system Graphviz), .html (one
self-contained pan/zoom page), .dot/.gv (the DOT text). A bad value is one line on stderr and
exit status 2, checked before anything is computed or written.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

import autograd_mini as am

MODELS = ("rnn", "lstm", "hmm", "ar", "ff")
TASKS = ("addition", "next-term", "long-lag", "adding", "copy")
DETAILS = ("auto", "units", "ops", "modules")
VIEWS = ("unrolled", "rolled")
SIZES = ("slide", "page")
OUT_FORMATS = {"svg": "svg", "png": "png", "pdf": "pdf", "html": "html", "htm": "html", "dot": "dot", "gv": "dot"}


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


def parse_size(text: str) -> Any:
    """``--size``: "slide", "page" or WxH in inches ("8x4.5") -> what :func:`viz.draw` takes.

    >>> parse_size("slide"), parse_size("8x4.5"), parse_size("13.333X7.5")
    ('slide', (8.0, 4.5), (13.333, 7.5))
    """
    t = text.strip().lower()
    if t in SIZES:
        return t
    parts = t.split("x")
    if len(parts) == 2:
        try:
            w, h = float(parts[0]), float(parts[1])
        except ValueError:
            pass
        else:
            if 0 < w < 1000 and 0 < h < 1000:
                return (w, h)
            raise CLIError(f"--size: width and height must be inches above 0 and below 1000, got {text!r}")
    raise CLIError(f"--size must be slide, page or WIDTHxHEIGHT in inches (e.g. 8x4.5), got {text!r}")


def _fontsize(value: float | None) -> float | None:
    if value is not None and not (4 <= value <= 72):  # also refuses nan
        raise CLIError(f"--fontsize must be a number of points from 4 to 72, got {value:g}")
    return value


def output_path(text: str) -> tuple[Path, str]:
    """``--out``: the file and its format (by extension). Its folder must exist and be writable:
    a mistyped folder is refused, never created.
    """
    path = Path(text).expanduser()
    if path.is_dir():
        raise CLIError(f"--out {text} is a folder; give a file name such as {Path(text) / 'unrolled.svg'}")
    ext = path.suffix.lower().lstrip(".")
    if not ext:
        raise CLIError(f"--out {text}: no extension to choose the format by; use .svg, .png, .pdf, .html or .dot")
    if ext not in OUT_FORMATS:
        raise CLIError(f"--out {text}: unknown format .{ext}; use .svg, .png, .pdf, .html or .dot")
    folder = path.parent
    if not folder.exists():
        raise CLIError(f"--out {text}: the folder {folder} does not exist (create it first)")
    if not folder.is_dir():
        raise CLIError(f"--out {text}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CLIError(f"--out {text}: cannot write into {folder}")
    fmt = OUT_FORMATS[ext]
    if fmt in ("png", "pdf"):
        from viz.render import _unavailable, backend

        if backend(fmt) == "none":  # say so now, not after recording and laying out
            raise CLIError(_unavailable(fmt))
    return path, fmt


def render_cmd(args: argparse.Namespace) -> int:
    # Every value is checked before the net is built, recorded or anything is written.
    out, _ = output_path(args.out)
    size = parse_size(args.size)
    fontsize = _fontsize(args.fontsize)
    steps = _positive("steps", args.steps)
    hidden = _positive("hidden", args.hidden)
    window = None if args.window is None else _positive("window", args.window)
    if args.seed < 0:
        raise CLIError(f"--seed must be 0 or more, got {args.seed}")
    import viz

    task_name = args.task or ("copy" if args.model == "hmm" else "addition")
    net = _model(args.model, 3 if task_name == "copy" else (1 if task_name == "next-term" else 2),
                 hidden, args.seed, task_name)
    if args.weights:
        try:
            net.load(args.weights)
        except (OSError, ValueError, KeyError) as e:
            raise CLIError(f"cannot load weights from {args.weights}: {e}") from None
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
    try:
        diagram = viz.draw(tape, view=args.view, detail=args.detail, steps=window, labels=args.labels,
                           size=size, fontsize=fontsize,
                           title=f"{args.model} on {task_name}, {'trained' if args.weights else 'initial'} weights")
    except ValueError as e:  # e.g. detail="units" for a net with no units to find
        raise CLIError(f"cannot draw {args.model} with --detail {args.detail} --view {args.view}: {e}") from None
    try:
        path = diagram.save(out)
    except (viz.RenderError, ValueError) as e:
        raise CLIError(str(e)) from None
    print(f"wrote {path}")
    for line in diagram.caption.splitlines()[1:]:  # what was chosen and left out (the title is line 1)
        print(f"  {line}")
    return 0


def train_cmd(args: argparse.Namespace) -> int:
    out = Path(args.out).expanduser()
    if out.is_dir() or not out.parent.is_dir():
        raise CLIError(f"--out {args.out}: " + ("is a folder" if out.is_dir() else f"the folder {out.parent} does not exist"))
    if not args.lr > 0:
        raise CLIError(f"--lr must be above 0, got {args.lr:g}")
    if args.clip is not None and not args.clip > 0:
        raise CLIError(f"--clip must be above 0, got {args.clip:g}")
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
    r.add_argument("--view", choices=VIEWS, default="unrolled",
                   help="unrolled (a box per step, time left to right) or rolled (one cell, loops)")
    r.add_argument("--detail", choices=DETAILS, default="auto",
                   help="units (a circle per unit, a line per connection), ops, modules, or auto "
                        "(units for small tagged nets; the default)")
    r.add_argument("--size", default="slide",
                   help="slide (16:9, smallest text 12 px at 1280 px wide; the default), page, or WxH in inches")
    r.add_argument("--fontsize", type=float, default=None, help="font size in points (4-72)")
    r.add_argument("--window", type=int, help="draw only the first and last N steps")
    r.add_argument("--labels", action="store_true", help="print each gradient magnitude on its edge")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--out", default="unrolled.svg",
                   help="output file, format by extension: .svg, .png (system Graphviz or graphviz-pure), "
                        ".pdf (system Graphviz), .html (pan/zoom page), .dot; its folder must exist")
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
        print(f"autograd-mini {args.command}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, OSError) as e:
        print(f"autograd-mini {args.command}: error: {_one_line(e)}", file=sys.stderr)
        return 1


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())


if __name__ == "__main__":
    sys.exit(main())
