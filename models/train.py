"""Training any model on any task: the loop, the losses, and what it records."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

import autograd_mini as am

from .base import Model, Progress
from .tasks import Batch, Task


def sequence_loss(outputs: am.Tensor, batch: Batch, kind: str = "bce") -> am.Tensor:
    """Mean loss over the targets the mask selects.

    ``"bce"``: outputs are logits of bits, loss softplus(z) - y z (cross-entropy, stable for any z);
    ``"mse"``: squared error of real-valued outputs.
    """
    if outputs.shape != batch.y.shape:
        raise ValueError(f"sequence_loss: outputs have shape {outputs.shape}, targets {batch.y.shape}")
    count = float(batch.mask.sum())
    if count == 0:
        raise ValueError("sequence_loss: the mask selects no targets")
    targets = am.tag(batch.y, "targets")  # named for the drawings
    if kind == "bce":
        softplus = am.logsumexp(am.stack([am.tag(np.zeros(outputs.shape), "zeros"), outputs]), axis=0)
        per = softplus - outputs * targets
    elif kind == "mse":
        diff = outputs - targets
        per = diff * diff
    else:
        raise ValueError(f"sequence_loss: kind must be 'bce' or 'mse', got {kind!r}")
    return am.tag(am.sum(per * am.tag(batch.mask, "target mask")) / count, "loss")


def bit_accuracy(outputs: Any, batch: Batch, threshold: float = 0.0) -> float:
    """Fraction of masked target bits predicted right: output > ``threshold`` means 1.

    The default 0 suits logits (logistic outputs); use 0.5 for linear outputs fit to 0/1.
    """
    z = outputs.value if isinstance(outputs, am.Tensor) else np.asarray(outputs)
    right = ((z > threshold) == (batch.y > 0.5)) * batch.mask
    return float(right.sum() / batch.mask.sum())


def sequence_accuracy(outputs: Any, batch: Batch, threshold: float = 0.0) -> float:
    """Fraction of sequences whose masked target bits are all right (a whole sum, say)."""
    z = outputs.value if isinstance(outputs, am.Tensor) else np.asarray(outputs)
    wrong = ((z > threshold) != (batch.y > 0.5)) * batch.mask
    return float(np.mean(wrong.sum(axis=(0, 2)) == 0))


@dataclass
class History:
    """What training recorded: the loss and the gradient norm (before clipping) per step."""

    loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.loss)


def train(model: Model, task: Task, optimizer: am.optim.Optimizer | None = None, *, steps: int = 1000,
          batch_size: int = 32, length: int | None = None, clip: float | None = None, seed: int | None = 0,
          loss: str | None = None, progress: bool = True,
          callback: Callable[[int, float], bool | None] | None = None, pause_gc: bool = False) -> History:
    """Train ``model`` on batches of ``task``; returns the loss and gradient-norm history.

    ``optimizer`` defaults to Adam(lr=0.01) on the model's parameters; ``clip`` rescales the
    gradient to that norm when it is larger (the cure for exploding gradients); ``loss``
    overrides the task's loss kind; ``callback(step, loss)`` returning True stops early.
    ``pause_gc=True`` pauses Python's cyclic garbage collector for the run and restores it after
    (``autograd_mini.paused_gc``): faster on long unrolls, off by default as it is the process's.

    >>> import models
    >>> net = models.ElmanRNN(2, 3, 1, seed=0)
    >>> hist = models.train(net, models.tasks.BinaryAddition(bits=4), steps=5, progress=False)
    >>> len(hist.loss), len(hist.grad_norm)
    (5, 5)
    """
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"train: steps must be a positive integer, got {steps!r}")
    n_in = getattr(model, "n_in", None)
    if n_in is not None and n_in != task.n_in:
        raise ValueError(f"train: {model.name} takes {n_in} inputs per step, {type(task).__name__} gives {task.n_in}")
    optimizer = optimizer or am.optim.Adam(model.parameters(), lr=0.01)
    kind = loss or task.loss
    rng = np.random.default_rng(seed)
    history = History()
    bar = Progress(int(steps), desc=f"train {model.name}", enabled=progress)
    try:
        with am.paused_gc(pause_gc):
            for step in range(int(steps)):
                batch = task.sample(rng, batch_size, length)
                optimizer.zero_grad()
                value = sequence_loss(model(batch.x), batch, kind)
                value.backward()
                if clip is not None:
                    norm = am.optim.clip_grad_norm(optimizer.params, clip)
                else:
                    norm = am.optim.grad_norm(optimizer.params)
                optimizer.step()
                history.loss.append(value.item())
                history.grad_norm.append(norm)
                bar.update(loss=history.loss[-1])
                if callback is not None and callback(step, history.loss[-1]):
                    break
    finally:
        bar.close()
    return history
