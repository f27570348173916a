"""Optimisers (SGD with momentum, Adam) and gradient-norm clipping.

Updates replace ``p.value`` with a new array instead of writing into it, so a graph that
still holds the old value (retain_graph) is never silently changed under it.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from .tensor import Tensor


def _params(params: Any, who: str) -> list[Tensor]:
    if hasattr(params, "parameters") and callable(params.parameters):
        params = params.parameters()
    if isinstance(params, Tensor):
        params = [params]
    out: list[Tensor] = []
    seen: set[int] = set()
    for p in params:
        if not isinstance(p, Tensor) or not p.requires_grad or p._rec is not None:
            raise TypeError(f"{who}: expected leaf tensors that require grad (Parameters), got {p!r:.80}")
        if id(p) not in seen:  # a shared weight listed twice is still one weight
            seen.add(id(p))
            out.append(p)
    if not out:
        raise ValueError(f"{who}: got an empty parameter list")
    return out


class Optimizer:
    """Base class: holds the parameters, ``zero_grad()`` clears their gradients."""

    def __init__(self, params: Iterable[Tensor] | Any, lr: float) -> None:
        if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
            raise ValueError(f"{type(self).__name__}: lr must be a positive number, got {lr!r}")
        self.params = _params(params, type(self).__name__)
        self.lr = float(lr)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Gradient descent with (optionally Nesterov-free, classical) momentum.

    ``v <- momentum * v + grad;  p <- p - lr * v``

    >>> import autograd_mini as am
    >>> w = am.Parameter([1.0], name="w")
    >>> opt = am.optim.SGD([w], lr=0.1, momentum=0.9)
    >>> (w * w).sum().backward(); opt.step()
    >>> w.value
    array([0.8])
    """

    def __init__(self, params: Iterable[Tensor] | Any, lr: float = 0.01, momentum: float = 0.0) -> None:
        super().__init__(params, lr)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1), got {momentum!r}")
        self.momentum = float(momentum)
        self.velocity = [np.zeros_like(p.value) for p in self.params]

    def step(self) -> None:
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            if self.momentum:
                self.velocity[i] = self.momentum * self.velocity[i] + p.grad
                p.value = p.value - self.lr * self.velocity[i]
            else:
                p.value = p.value - self.lr * p.grad


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias-corrected first and second moment estimates.

    >>> import autograd_mini as am
    >>> w = am.Parameter([1.0], name="w")
    >>> opt = am.optim.Adam([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step()
    >>> w.value   # the first Adam step moves every weight by about lr
    array([0.9])
    """

    def __init__(self, params: Iterable[Tensor] | Any, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        super().__init__(params, lr)
        b1, b2 = betas
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"Adam: betas must be in [0, 1), got {betas!r}")
        self.betas = (float(b1), float(b2))
        self.eps = float(eps)
        self.t = 0
        self.m = [np.zeros_like(p.value) for p in self.params]
        self.v = [np.zeros_like(p.value) for p in self.params]

    def step(self) -> None:
        self.t += 1
        b1, b2 = self.betas
        c1 = 1.0 - b1 ** self.t
        c2 = 1.0 - b2 ** self.t
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = p.grad
            self.m[i] = b1 * self.m[i] + (1.0 - b1) * g
            self.v[i] = b2 * self.v[i] + (1.0 - b2) * (g * g)
            p.value = p.value - self.lr * (self.m[i] / c1) / (np.sqrt(self.v[i] / c2) + self.eps)


def grad_norm(params: Iterable[Tensor] | Any) -> float:
    """The 2-norm of all the parameters' gradients taken together (missing gradients count 0)."""
    total = 0.0
    for p in _params(params, "grad_norm"):
        if p.grad is not None:
            total += float(np.sum(p.grad * p.grad))
    return math.sqrt(total)


def clip_grad_norm(params: Iterable[Tensor] | Any, max_norm: float, error_if_nonfinite: bool = True) -> float:
    """Rescale the gradients so their joint 2-norm is at most ``max_norm``; return the norm before.

    The cure for exploding gradients (Pascanu et al. 2013): if ||g|| > max_norm,
    g <- max_norm * g / ||g||. A non-finite norm raises FloatingPointError, since no rescaling
    of it is meaningful (``error_if_nonfinite=False`` leaves the gradients as they are).

    >>> import autograd_mini as am
    >>> w = am.Parameter([3.0, 4.0], name="w")
    >>> w.grad = am.Tensor([30.0, 40.0]).value
    >>> am.optim.clip_grad_norm([w], 5.0), w.grad
    (50.0, array([3., 4.]))
    """
    if not (max_norm > 0):
        raise ValueError(f"clip_grad_norm: max_norm must be positive, got {max_norm!r}")
    params = _params(params, "clip_grad_norm")
    norm = grad_norm(params)
    if not math.isfinite(norm):
        if error_if_nonfinite:
            raise FloatingPointError(f"clip_grad_norm: the gradient norm is {norm}; cannot clip it")
        return norm
    if norm > max_norm:
        scale = max_norm / norm
        for p in params:
            if p.grad is not None:
                p.grad = p.grad * scale
    return norm
