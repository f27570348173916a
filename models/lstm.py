"""Long short-term memory: a recurrent net made of cells that remember a value for a long time.

Each cell has a write gate (input gate), a keep gate (forget gate) and a read gate (output
gate). While the keep gate is open the cell's value passes from step to step multiplied by
about 1, so its gradient neither vanishes nor explodes on the way back.
"""
from __future__ import annotations

from typing import Any

import numpy as np

import autograd_mini as am

from .base import Model, check_sequence


class LSTM(Model):
    """An LSTM layer with a readout: ``n_in`` inputs, ``n_hidden`` cells, ``n_out`` outputs.

    The four gate pre-activations come from one matmul of [x_t, h_{t-1}] with ``W`` (sliced
    into write, keep, read and candidate parts); ``forget_bias`` (default 1.0) starts the keep
    gates open. Weights are shared by every step.

    >>> import numpy as np, models
    >>> net = models.LSTM(n_in=2, n_hidden=4, n_out=1, seed=0)
    >>> net(np.zeros((6, 3, 2))).shape
    (6, 3, 1)
    """

    name = "LSTM"

    def __init__(self, n_in: int, n_hidden: int, n_out: int = 1, *, output: str = "linear",
                 forget_bias: float = 1.0, init_scale: float | None = None, seed: int | None = 0) -> None:
        super().__init__()
        for key, val in (("n_in", n_in), ("n_hidden", n_hidden), ("n_out", n_out)):
            if not isinstance(val, (int, np.integer)) or val < 1:
                raise ValueError(f"LSTM: {key} must be a positive integer, got {val!r}")
        if output not in ("logistic", "linear"):
            raise ValueError(f"LSTM: output must be 'logistic' or 'linear', got {output!r}")
        self.n_in, self.n_hidden, self.n_out, self.output = int(n_in), int(n_hidden), int(n_out), output
        rng = np.random.default_rng(seed)
        scale = 1.0 / np.sqrt(n_in + n_hidden) if init_scale is None else init_scale
        H = self.n_hidden
        b = np.zeros(4 * H)
        b[H:2 * H] = forget_bias  # order: write (input), keep (forget), read (output), candidate
        self.add_parameter("W", rng.normal(0, scale, (n_in + n_hidden, 4 * H)))
        self.add_parameter("b", b)
        self.add_parameter("W_hy", rng.normal(0, 1.0 / np.sqrt(n_hidden), (n_hidden, n_out)))
        self.add_parameter("b_y", np.zeros(n_out))
        self.hidden_states: list[am.Tensor] = []
        self.cell_states: list[am.Tensor] = []
        self.gates: list[dict[str, am.Tensor]] = []

    def __call__(self, x: Any) -> am.Tensor:
        """Run over a (steps, batch, n_in) sequence; outputs of every step, (steps, batch, n_out).

        Keeps ``hidden_states``, ``cell_states`` (with gradients after backward) and the gate
        activities of every step (``gates``: dicts with "write", "keep", "read").
        """
        xs = check_sequence(self.name, x, self.n_in)
        batch, H = xs.shape[1], self.n_hidden
        h: Any = am.tag(np.zeros((batch, H)), "h0")
        c: Any = am.tag(np.zeros((batch, H)), "c0")
        self.hidden_states, self.cell_states, self.gates = [], [], []
        outputs = []
        for t in range(xs.shape[0]):
            with am.scope(self.name, step=t):
                z = am.concatenate([am.tag(xs[t], "x", t), h], axis=1) @ self["W"] + self["b"]
                write = am.tag(am.sigmoid(z[:, :H]), "write", t)
                keep = am.tag(am.sigmoid(z[:, H:2 * H]), "keep", t)
                read = am.tag(am.sigmoid(z[:, 2 * H:3 * H]), "read", t)
                candidate = am.tag(am.tanh(z[:, 3 * H:]), "candidate", t)
                c = am.tag(keep * c + write * candidate, "c", t)
                h = am.tag(read * am.tanh(c), "h", t)
                h.retain_grad()
                c.retain_grad()
                outputs.append(am.tag(h @ self["W_hy"] + self["b_y"], "y", t))
            self.hidden_states.append(h)
            self.cell_states.append(c)
            self.gates.append({"write": write, "keep": keep, "read": read})
        return am.stack(outputs, axis=0)

    def predict(self, x: Any) -> np.ndarray:
        """Output activities without recording (probabilities for logistic outputs)."""
        with am.no_grad():
            out = self(x).value
        return 1.0 / (1.0 + np.exp(-out)) if self.output == "logistic" else out

    def hidden_grad_norms(self, which: str = "cell") -> np.ndarray:
        """||dLoss/dc_t|| (``which="cell"``) or ||dLoss/dh_t|| (``"hidden"``) per step, after backward."""
        states = {"cell": self.cell_states, "hidden": self.hidden_states}.get(which)
        if states is None:
            raise ValueError(f"LSTM: which must be 'cell' or 'hidden', got {which!r}")
        if not states:
            raise RuntimeError("LSTM: no forward pass yet")
        return np.array([0.0 if s.grad is None else float(np.linalg.norm(s.grad)) for s in states])
