"""The faces of the backward walk: ``loss.backward()`` and ``.grad`` (PyTorch's), ``grad`` and
``value_and_grad`` (JAX's), ``gradients`` (``torch.autograd.grad``). The walk itself is
:func:`autograd_mini.record.run_backward`, beside the record it reads.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .record import _key, _value, defvjp, primitive, run_backward, saves
from .recording import BACKWARD_LOCK, _changed, _grad_mode, current, paused_gc
from .tensor import Tensor


def _seed(output: Tensor, gradient: Any, who: str) -> np.ndarray:
    if gradient is None:
        if output.size != 1:
            raise ValueError(
                f"{who}: the output has shape {output.shape}, not a scalar; pass the seed gradient "
                f"explicitly (an array of shape {output.shape})"
            )
        return np.ones_like(output.value)
    seed = np.asarray(_value(gradient), dtype=output.dtype)
    if seed.shape != output.shape:
        raise ValueError(f"{who}: seed gradient has shape {seed.shape}, the output has shape {output.shape}")
    return seed


def backward(output: Tensor, gradient: Any = None, retain_graph: bool = False) -> None:
    """Accumulate gradients of ``output`` into ``.grad`` of every leaf that requires grad.

    >>> import autograd_mini as am
    >>> w = am.Parameter([3.0], name="w")
    >>> (w * w).sum().backward()
    >>> w.grad
    array([6.])
    """
    if not isinstance(output, Tensor):
        raise TypeError(f"backward: expected a Tensor, got {type(output).__name__}")
    if not output.requires_grad:
        raise RuntimeError(
            "backward: this tensor does not require grad, so nothing was recorded for it (was it "
            "computed inside no_grad(), or from inputs none of which requires grad?)"
        )
    seed = _seed(output, gradient, "backward")
    with BACKWARD_LOCK:  # another thread's backward never adds into a .grad between our read and write
        if output._rec is None:  # a leaf: d(output)/d(output)
            found = {_key(output): (output, seed, False)}
        else:
            found = run_backward(output, seed, None, create_graph=False, retain_graph=retain_graph)
        for t, g, owned in found.values():
            if not owned or g.dtype != t.dtype or type(g) is not np.ndarray:
                g = np.array(g, dtype=t.dtype)  # own, writable, contiguous, the leaf's dtype
            if t.grad is not None:
                g = t.grad + g
                if type(g) is not np.ndarray:  # the sum of 0-d arrays is a numpy scalar
                    g = np.asarray(g)
            t.grad = g


@primitive(name="identity")
def _identity(x: np.ndarray) -> np.ndarray:
    return x


defvjp(_identity, lambda g, ans, x: g)
saves(_identity)


@primitive(name="astype")
def _cast(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``x`` as ``dtype``, differentiably: a float32 input's gradient with create_graph."""
    return x.astype(dtype)


defvjp(_cast, lambda g, ans, x, dtype: _cast(g, x.dtype), None)


def _as_dtype(g: Any, like: Tensor, create_graph: bool) -> Any:
    """A gradient in ``like``'s dtype (a computation that upcast a float32 input gives float64):
    numpy arrays copied (results never share memory), recorded tensors cast on the graph."""
    if create_graph and isinstance(g, Tensor):
        return g if g.dtype == like.dtype else _cast(g, like.dtype)
    return np.array(_value(g), dtype=like.dtype)


def gradients(output: Tensor, inputs: Sequence[Tensor], seed: Any = None,
              create_graph: bool = False, retain_graph: bool | None = None) -> list[Any]:
    """d(output)/d(inputs) seeded with ``seed``, without touching any ``.grad``.

    Like ``torch.autograd.grad``: returns one gradient per input (zeros where no path leads),
    each in its input's dtype. With ``create_graph=True`` the gradients are recorded Tensors that
    can be differentiated again (with respect to ``seed`` too, if it is a Tensor on the graph);
    otherwise numpy arrays.

    >>> import autograd_mini as am
    >>> x = am.Tensor([1.0, 2.0], requires_grad=True)
    >>> am.gradients((x ** 3).sum(), [x])
    [array([ 3., 12.])]
    """
    if retain_graph is None:
        retain_graph = create_graph
    if create_graph and isinstance(seed, Tensor):
        # A seed on the graph stays on it: the result is differentiable in the seed as well
        # (gradgradcheck checks a VJP's derivative with respect to its cotangent so).
        if seed.shape != output.shape:
            raise ValueError(f"gradients: seed gradient has shape {seed.shape}, the output has shape {output.shape}")
        if seed.dtype != output.dtype:
            seed = _cast(seed, output.dtype)
    else:
        seed = _seed(output, seed, "gradients")
        if create_graph:
            seed = Tensor(seed)
    found = {}
    if isinstance(output, Tensor) and output.requires_grad:
        if output._rec is None:
            found = {_key(output): (output, seed, False)}
        else:
            found = run_backward(output, seed, inputs, create_graph, retain_graph)
    out = []
    for x in inputs:
        g = found.get(_key(x))
        if g is None:
            g = np.zeros_like(x.value)
            out.append(Tensor(g) if create_graph else g)
        else:  # in x's dtype, as .grad is; a copy: results never share memory
            out.append(_as_dtype(g[1], x, create_graph))
    return out


def value_and_grad(fun: Callable, argnums: int | Sequence[int] = 0, *, pause_gc: bool = False) -> Callable:
    """``fun``'s value and its gradient with respect to the arguments ``argnums``.

    ``fun`` must return a scalar. Numpy arrays in, numpy arrays out; called inside another
    differentiation (on tensors that require grad) it returns recorded tensors instead, so it
    composes: ``grad(grad(f))`` is the second derivative. ``pause_gc=True`` pauses the cyclic
    garbage collector while it records and differentiates (see :class:`paused_gc`).

    >>> import numpy as np, autograd_mini as am
    >>> am.value_and_grad(lambda x: (x ** 2).sum())(np.array([1.0, 3.0]))
    (10.0, array([2., 6.]))
    """
    single = isinstance(argnums, (int, np.integer))
    nums = (int(argnums),) if single else tuple(argnums)

    def wrapper(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        if pause_gc:
            with paused_gc():
                return evaluate(*args, **kwargs)
        return evaluate(*args, **kwargs)

    def evaluate(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        args = list(args)
        for i in nums:
            if not -len(args) <= i < len(args):
                raise IndexError(f"grad: argnums {i} is out of range for {len(args)} positional arguments")
        # Inside another differentiation the result must stay on the graph, whether the outer
        # variable comes in as an argument or through a closure.
        state = current()
        nested = state.grad_enabled and (state.depth > 0 or any(
            isinstance(args[i], Tensor) and args[i].requires_grad for i in nums))
        wrt = []
        for i in nums:
            a = args[i]
            if isinstance(a, Tensor) and a.requires_grad and state.grad_enabled:
                t = _identity(a)  # a fresh node downstream of the outer variable
            else:
                t = Tensor(a, requires_grad=True)
            args[i] = t
            wrt.append(t)
        with _grad_mode(True), _changed("depth", state.depth + 1):
            out = fun(*args, **kwargs)
        if not isinstance(out, Tensor):
            out_arr = np.asarray(out)
            if out_arr.size != 1 or out_arr.dtype.kind not in "fiub":
                raise TypeError(f"grad: the function must return a scalar, got {type(out).__name__}")
            out = Tensor(out_arr)
        if out.size != 1:
            raise ValueError(f"grad: the function must return a scalar, got shape {out.shape}; "
                             "sum it, or use autograd_mini.gradients with an explicit seed")
        gs = gradients(out, wrt, create_graph=nested)
        value: Any = out if nested else out.value.reshape(()).item()
        return value, (gs[0] if single else tuple(gs))

    return wrapper


def grad(fun: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The gradient of scalar ``fun`` with respect to the arguments ``argnums``.

    >>> import numpy as np, autograd_mini as am
    >>> am.grad(am.tanh)(0.0)
    array(1.)
    >>> am.grad(am.grad(lambda x: x ** 3))(2.0)   # second derivative, 6x
    array(12.)
    """
    vg = value_and_grad(fun, argnums)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return vg(*args, **kwargs)[1]

    return wrapper


def _backward_method(self: Tensor, gradient: Any = None, retain_graph: bool = False) -> None:
    """Accumulate d(self)/d(leaf) into ``.grad`` of every leaf that requires grad.

    A non-scalar tensor needs ``gradient`` (the seed, same shape). The graph's saved values
    are freed afterwards unless ``retain_graph=True``.
    """
    backward(self, gradient, retain_graph=retain_graph)


Tensor.backward = _backward_method
