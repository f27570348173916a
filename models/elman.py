"""The Elman recurrent net of the lecture, trained by backpropagation through time.

The unrolled net is a layered net with one layer per time step that reuses the same weights:
``W_xh``, ``W_hh`` and ``W_hy`` are each one Parameter used by every step, so backward gives each
the sum of its per-step gradients (the lecture's weight-constraint rule).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

import autograd_mini as am

from .base import Model, check_sequence

ACTIVATIONS = {"logistic": am.sigmoid, "tanh": am.tanh}


class ElmanRNN(Model):
    """A fully connected recurrent net: ``n_in`` inputs, ``n_hidden`` units, ``n_out`` outputs.

    Parameters
    ----------
    activation : "logistic" (the lecture's) or "tanh", for the hidden units.
    output : "logistic" (outputs are bits; the model returns their logits) or "linear".
    h0 : the initial hidden state: a number (default 0.5, as in the lecture) used for every unit,
        or "learned" for a Parameter ``h0`` (initialised at 0.5 through the activation).
    timing : "usual" — the output at step t reads the hidden state of step t — or "synchronous",
        the lecture's binary-addition net: every unit updates from the previous step's
        activities, so an input reaches the output two steps later (``delay`` = 2).
    input_mode : how the input sequence enters (the lecture's three ways):
        "every_step" — an input at every step to the units in ``input_units`` (default all);
        "initial_all" — the input, shape (batch, n_hidden), is the initial state of all hidden units;
        "initial_subset" — the input, shape (batch, len(input_units)), sets the initial state of
        the units in ``input_units``; the others start at ``h0``.
        With the initial modes the net runs ``steps`` steps with no further input.
    n_out : None makes the hidden units themselves the outputs ("activities of all units").

    >>> import numpy as np, models
    >>> net = models.ElmanRNN(n_in=2, n_hidden=3, n_out=1, seed=0)
    >>> net(np.zeros((5, 4, 2))).shape   # (steps, batch, n_out)
    (5, 4, 1)
    """

    name = "ElmanRNN"

    def __init__(self, n_in: int, n_hidden: int, n_out: int | None = 1, *, activation: str = "logistic",
                 output: str = "logistic", h0: float | str = 0.5, timing: str = "usual",
                 input_mode: str = "every_step", input_units: Sequence[int] | None = None,
                 init_scale: float = 1.0, recurrent_scale: float | None = None, seed: int | None = 0) -> None:
        super().__init__()
        for key, val in (("n_in", n_in), ("n_hidden", n_hidden)):
            if not isinstance(val, (int, np.integer)) or val < 1:
                raise ValueError(f"ElmanRNN: {key} must be a positive integer, got {val!r}")
        if n_out is not None and (not isinstance(n_out, (int, np.integer)) or n_out < 1):
            raise ValueError(f"ElmanRNN: n_out must be a positive integer or None, got {n_out!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"ElmanRNN: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if output not in ("logistic", "linear"):
            raise ValueError(f"ElmanRNN: output must be 'logistic' or 'linear', got {output!r}")
        if timing not in ("usual", "synchronous"):
            raise ValueError(f"ElmanRNN: timing must be 'usual' or 'synchronous', got {timing!r}")
        if input_mode not in ("every_step", "initial_all", "initial_subset"):
            raise ValueError(f"ElmanRNN: input_mode must be 'every_step', 'initial_all' or 'initial_subset', got {input_mode!r}")
        units = list(range(n_hidden)) if input_units is None else [int(u) for u in input_units]
        if not units or len(set(units)) != len(units) or not all(0 <= u < n_hidden for u in units):
            raise ValueError(f"ElmanRNN: input_units must be distinct indices in [0, {n_hidden}), got {input_units!r}")
        if input_mode == "initial_all" and input_units is not None:
            raise ValueError("ElmanRNN: input_mode 'initial_all' sets every unit; use 'initial_subset' with input_units")
        if isinstance(h0, str) and h0 != "learned":
            raise ValueError(f"ElmanRNN: h0 must be a number or 'learned', got {h0!r}")
        self.n_in, self.n_hidden, self.n_out = int(n_in), int(n_hidden), n_out
        self.activation, self.output, self.timing = activation, output, timing
        self.input_mode, self.input_units = input_mode, units
        self.h0 = h0
        self.hidden_states: list[am.Tensor] = []
        rng = np.random.default_rng(seed)
        rs = init_scale if recurrent_scale is None else recurrent_scale
        if input_mode == "every_step":
            # Inputs reach only the units in input_units: the other columns of W_xh are absent.
            self.input_mask = np.zeros((1, n_hidden))
            self.input_mask[0, units] = 1.0
            self.add_parameter("W_xh", rng.normal(0, init_scale, (n_in, n_hidden)) * self.input_mask)
        self.add_parameter("W_hh", rng.normal(0, rs / np.sqrt(n_hidden), (n_hidden, n_hidden)))
        self.add_parameter("b_h", np.zeros(n_hidden))
        if n_out is not None:
            self.add_parameter("W_hy", rng.normal(0, init_scale, (n_hidden, n_out)))
            self.add_parameter("b_y", np.zeros(n_out))
        if h0 == "learned":
            start = 0.5 if activation == "logistic" else 0.0
            self.add_parameter("h0", np.full(n_hidden, start))

    @property
    def delay(self) -> int:
        """Steps from an input to the output it first affects (0 usual, 2 synchronous)."""
        return 2 if self.timing == "synchronous" else 0

    @property
    def n_outputs(self) -> int:
        return self.n_hidden if self.n_out is None else self.n_out

    def initial_state(self, batch: int) -> Any:
        if self.h0 == "learned":
            return am.tag(am.broadcast_to(self["h0"], (batch, self.n_hidden)), "h0")
        return am.tag(np.full((batch, self.n_hidden), float(self.h0)), "h0")

    def _readout(self, h: Any) -> Any:
        if self.n_out is None:
            return h
        return h @ self["W_hy"] + self["b_y"]

    def __call__(self, x: Any, steps: int | None = None) -> am.Tensor:
        """Run the net; returns the outputs of every step, shape (steps, batch, n_out).

        For logistic outputs these are the output units' net inputs (logits): the unit's
        activity is ``sigmoid`` of them. The hidden state of each step is kept, with its
        gradient, in ``self.hidden_states`` (see :meth:`hidden_grad_norms`).
        """
        f = ACTIVATIONS[self.activation]
        if self.input_mode == "every_step":
            xs = check_sequence(self.name, x, self.n_in)
            batch, steps = xs.shape[1], xs.shape[0]
            h = self.initial_state(batch)
        else:
            h, batch, steps = self._initial_from_input(x, steps)
            xs = None
        W_xh = None
        if xs is not None:
            W_xh = self["W_xh"]
            if len(self.input_units) < self.n_hidden:  # inputs reach a subset: mask once, not per step
                W_xh = W_xh * self.input_mask
        self.hidden_states = []
        outputs = []
        for t in range(steps):
            with am.scope(self.name, step=t):
                z = h @ self["W_hh"] + self["b_h"]
                if self.timing == "synchronous":
                    # Every unit updates from the previous step's activities: the hidden units
                    # read the inputs of step t-1, the outputs the hidden state of step t-1, so an
                    # input column reaches the output two steps later.
                    if xs is not None and t > 0:
                        z = am.tag(xs[t - 1], "x", t - 1) @ W_xh + z
                    y = self._readout(h)
                    h = f(z)
                else:
                    if xs is not None:
                        z = am.tag(xs[t], "x", t) @ W_xh + z
                    h = f(z)
                    y = self._readout(h)
                am.tag(h, "h", t)
                if self.n_out is not None:
                    am.tag(y, "y", t)
                if isinstance(h, am.Tensor) and h.requires_grad:
                    h.retain_grad()
                self.hidden_states.append(h)
                outputs.append(y if isinstance(y, am.Tensor) else am.Tensor(y))
        return am.stack(outputs, axis=0)

    def _initial_from_input(self, x: Any, steps: int | None) -> tuple[Any, int, int]:
        if steps is None or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ValueError(f"ElmanRNN: input_mode {self.input_mode!r} needs steps >= 1, got {steps!r}")
        arr = np.asarray(x.value if isinstance(x, am.Tensor) else x, dtype=np.float64)
        width = self.n_hidden if self.input_mode == "initial_all" else len(self.input_units)
        if arr.ndim != 2 or arr.shape[1] != width:
            raise ValueError(f"ElmanRNN: input_mode {self.input_mode!r} takes an initial state of shape "
                             f"(batch, {width}), got {arr.shape}")
        if self.input_mode == "initial_all":
            return am.tag(am.Tensor(arr) if not isinstance(x, am.Tensor) else x, "h0"), arr.shape[0], int(steps)
        base = self.initial_state(arr.shape[0])
        chosen = np.zeros((1, self.n_hidden))
        chosen[0, self.input_units] = 1.0
        placed = np.zeros((arr.shape[0], self.n_hidden))
        placed[:, self.input_units] = arr
        return am.tag(base * (1.0 - chosen) + placed, "h0"), arr.shape[0], int(steps)

    def predict(self, x: Any, steps: int | None = None) -> np.ndarray:
        """Output activities (probabilities for logistic outputs) without recording."""
        with am.no_grad():
            out = self(x, steps).value
        return 1.0 / (1.0 + np.exp(-out)) if self.output == "logistic" and self.n_out is not None else out

    def hidden_grad_norms(self) -> np.ndarray:
        """||dLoss/dh_t|| for every step t of the last forward, after ``backward``.

        How gradients vanish or explode with the distance in time: with small recurrent weights
        these shrink geometrically going back from the loss, with large ones they grow.
        """
        if not self.hidden_states:
            raise RuntimeError(f"{self.name}: no forward pass yet")
        norms = []
        for t, h in enumerate(self.hidden_states):
            g = getattr(h, "grad", None)
            norms.append(0.0 if g is None else float(np.linalg.norm(g)))
        return np.array(norms)
