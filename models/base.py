"""What every model shares: named parameters, saving and loading, input checks, progress."""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

import autograd_mini as am


class Model:
    """Base class: a model owns named :class:`autograd_mini.Parameter` objects.

    Each weight is one object, used at every time step (never a copy per step), so backward
    gives it the sum of the contributions of all its uses.
    """

    name = "model"

    def __init__(self) -> None:
        self._params: dict[str, am.Parameter] = {}

    def add_parameter(self, key: str, value: np.ndarray) -> am.Parameter:
        p = am.Parameter(value, name=f"{self.name}.{key}")
        self._params[key] = p
        return p

    def parameters(self) -> list[am.Parameter]:
        """The model's parameters, in a fixed order (what optimisers take)."""
        return list(self._params.values())

    def named_parameters(self) -> Iterator[tuple[str, am.Parameter]]:
        return iter(self._params.items())

    def __getitem__(self, key: str) -> am.Parameter:
        return self._params[key]

    def zero_grad(self) -> None:
        for p in self._params.values():
            p.grad = None

    def state_dict(self) -> dict[str, np.ndarray]:
        """Parameter values by name (copies)."""
        return {k: p.value.copy() for k, p in self._params.items()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Set parameter values by name; every name and shape must match."""
        missing = set(self._params) - set(state)
        extra = set(state) - set(self._params)
        if missing or extra:
            raise ValueError(f"{self.name}: parameters do not match: missing {sorted(missing)}, unexpected {sorted(extra)}")
        for k, p in self._params.items():
            v = np.asarray(state[k], dtype=np.float64)
            if v.shape != p.shape:
                raise ValueError(f"{self.name}: parameter {k} has shape {p.shape}, the saved value {v.shape}")
            p.value = v.copy()

    def save(self, path: str | Path) -> Path:
        """Write the parameters to a ``.npz`` file (no pickle) and return its path.

        >>> import tempfile, models
        >>> net = models.ElmanRNN(2, 3, 1, seed=0)
        >>> path = net.save(tempfile.mkdtemp() + "/net.npz")
        >>> models.ElmanRNN(2, 3, 1, seed=1).load(path)["W_hh"].shape
        (3, 3)
        """
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **self.state_dict())
        return path

    def load(self, path: str | Path) -> "Model":
        """Read parameters written by :meth:`save` (``allow_pickle=False``); returns the model."""
        with np.load(Path(path), allow_pickle=False) as data:
            self.load_state_dict({k: data[k] for k in data.files})
        return self


def check_sequence(model: str, x: Any, n_in: int, what: str = "input") -> np.ndarray:
    """A (steps, batch, n_in) float array, or a clear ValueError naming the model and the shape.

    A (steps, n_in) array is taken as a batch of one.
    """
    if isinstance(x, am.Tensor):
        x = x.value
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{model}: {what} must be numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if arr.ndim == 2:
        arr = arr[:, None, :]
    if arr.ndim != 3:
        raise ValueError(f"{model}: {what} must have shape (steps, batch, {n_in}), got {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{model}: {what} is an empty sequence (shape {arr.shape}); it needs at least one step")
    if arr.shape[2] != n_in:
        raise ValueError(f"{model}: {what} has {arr.shape[2]} features per step (shape {arr.shape}), "
                         f"the model takes {n_in}")
    bad = ~np.isfinite(arr)
    if bad.any():
        t = int(np.argwhere(bad)[0][0])
        raise ValueError(f"{model}: {what} has a non-finite value at step {t}")
    return arr


class Progress:
    """A one-line progress bar on stderr (no dependency); silent when ``enabled`` is False."""

    def __init__(self, total: int, desc: str = "", enabled: bool = True, every: float = 0.2) -> None:
        self.total, self.desc, self.enabled, self.every = total, desc, enabled, every
        self.start = self.last = time.perf_counter()
        self.n = 0

    def update(self, n: int = 1, **info: float) -> None:
        self.n += n
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self.last < self.every and self.n < self.total:
            return
        self.last = now
        width = 24
        done = int(width * self.n / max(self.total, 1))
        rate = self.n / max(now - self.start, 1e-9)
        extra = "  ".join(f"{k} {v:.4g}" for k, v in info.items())
        sys.stderr.write(f"\r{self.desc} [{'#' * done}{'.' * (width - done)}] {self.n}/{self.total} "
                         f"{rate:.0f} it/s  {extra}   ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()
