"""autograd_mini: a small, exact, tape-based automatic differentiation engine on numpy.

>>> import numpy as np, autograd_mini as am
>>> W = am.Parameter(np.eye(2), name="W")
>>> h = am.Tensor([0.5, 0.5])
>>> loss = am.tanh(W @ h).sum()
>>> loss.backward()
>>> W.grad.shape
(2, 2)
"""
from . import optim
from .backward import backward, grad, gradients, value_and_grad
from .primitives import (
    abs, absolute, add, broadcast_to, clip, concatenate, divide, exp, getitem, log, log_softmax,
    logsumexp, matmul, max, maximum, mean, minimum, multiply, negative, power, relu, reshape,
    sigmoid, softmax, sqrt, stack, subtract, sum, swapaxes, tanh, transpose, unbroadcast, where,
)
from .record import custom_vjp, defvjp, defvjp_argnum, graph_of, primitive, tag
from .recording import Frame, GraphNode, Node, Tag, Tape, detect_anomaly, format_scope, no_grad, paused_gc, scope
from .tensor import Parameter, Tensor

__version__ = "0.1.0"

__all__ = [
    "Tensor", "Parameter", "Tape", "Node", "Frame", "scope", "tag", "Tag", "graph_of", "GraphNode", "no_grad", "paused_gc", "detect_anomaly", "format_scope",
    "primitive", "defvjp", "defvjp_argnum", "custom_vjp", "backward", "grad", "value_and_grad", "gradients", "optim",
    "add", "subtract", "multiply", "divide", "negative", "power", "matmul", "exp", "log", "sqrt", "abs",
    "absolute", "tanh", "sigmoid", "relu", "sum", "mean", "max", "reshape", "transpose", "swapaxes",
    "broadcast_to", "getitem", "concatenate", "stack", "where", "maximum", "minimum", "clip",
    "logsumexp", "softmax", "log_softmax", "unbroadcast",
]
