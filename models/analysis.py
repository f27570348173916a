"""Looking inside trained and untrained nets: how gradients flow back through time."""
from __future__ import annotations

from typing import Any

import numpy as np

import autograd_mini as am

from .base import Model


def gradient_flow(model: Model, x: Any) -> np.ndarray:
    """||dE/dh_t|| for every step t, where E is the sum of the outputs of the last step.

    The loss sits at the end of the sequence, so entry t shows how much of its gradient is left
    after travelling back ``steps - 1 - t`` steps: with small recurrent weights these shrink
    geometrically, with large ones they grow (the backward pass is linear). For an LSTM the
    norms are those of the cell state (see ``LSTM.hidden_grad_norms``).

    >>> import numpy as np, models
    >>> net = models.ElmanRNN(1, 8, 1, activation="tanh", output="linear", h0=0.0, recurrent_scale=0.5)
    >>> norms = models.gradient_flow(net, np.zeros((20, 1, 1)))
    >>> bool(norms[0] < 1e-3 * norms[-1])
    True
    """
    model.zero_grad()
    out = model(x)
    am.sum(out[-1]).backward()
    norms = model.hidden_grad_norms()
    model.zero_grad()
    return norms


def growth_per_step(norms: np.ndarray) -> float:
    """The geometric factor by which the gradient norm changes per step back in time.

    Fitted as exp(-slope) of log(norm) against the step, over the steps with a finite, non-zero
    norm: below 1 the gradient vanishes with the distance in time, above 1 it explodes.
    """
    norms = np.asarray(norms, dtype=float)
    t = np.arange(len(norms))
    ok = np.isfinite(norms) & (norms > 0)
    if ok.sum() < 2:
        raise ValueError("growth_per_step: needs at least two finite, non-zero norms")
    slope = np.polyfit(t[ok], np.log(norms[ok]), 1)[0]
    return float(np.exp(-slope))
