"""What the engine is doing right now: grad mode, the scope stack, open tapes, anomaly checks.

That state belongs to a thread or an asyncio task: ``no_grad()`` in one thread never stops
another thread recording, and a ``Tape`` or ``scope`` sees only the ops of the code inside it.
It lives in one ``ContextVar`` holding an immutable :class:`State`; the context managers set a new
state and put the old field back on exit. A new thread starts from the defaults (grad on, no
scope, no tape); an asyncio task starts from the state where it was created. The recording
wrapper in ``tensor.py`` reads it once per op (``current()``).
"""
from __future__ import annotations

import functools
import gc
import inspect
import itertools
import threading
import weakref
from contextlib import ContextDecorator
from contextvars import ContextVar
from typing import Any, Iterator, NamedTuple

import numpy as np


class Frame(NamedTuple):
    """One level of a scope: a module name and, for recurrent models, the time step."""

    name: str
    step: int | None = None

    def __str__(self) -> str:
        return self.name if self.step is None else f"{self.name} step {self.step}"


def format_scope(scope: tuple[Frame, ...]) -> str:
    """``(Frame('rnn', 7), Frame('cell'))`` -> ``'rnn step 7 / cell'``; ``()`` -> ``'top level'``."""
    return " / ".join(str(f) for f in scope) if scope else "top level"


class State:
    """The recording state of one thread or task. Never changed in place: see :func:`_changed`."""

    __slots__ = ("grad_enabled", "scope", "tapes", "anomaly", "depth")

    def __init__(self, grad_enabled: bool = True, scope: tuple[Frame, ...] = (), tapes: tuple = (),
                 anomaly: int = 0, depth: int = 0) -> None:
        self.grad_enabled = grad_enabled
        self.scope = scope
        self.tapes = tapes  # the open Tapes, innermost last
        self.anomaly = anomaly  # how many detect_anomaly() blocks are open
        self.depth = depth  # how many grad()/value_and_grad() evaluations are running

    def replace(self, field: str, value: Any) -> "State":
        s = State(self.grad_enabled, self.scope, self.tapes, self.anomaly, self.depth)
        setattr(s, field, value)
        return s


_STATE: ContextVar[State] = ContextVar("autograd_mini_state", default=State())
current = _STATE.get  # the state of the running thread or task
# Record numbers, shared by all threads (next() on a count is atomic under the GIL): they
# count down, so the newest record is the smallest.
COUNTER = itertools.count(0, -1)
# Backward passes run one at a time: a pass accumulates into its graph's records, and leaves'
# .grad are read, added and written back; recording runs in parallel.
BACKWARD_LOCK = threading.RLock()


class _changed(ContextDecorator):
    """Set one field of this thread's (task's) state inside the block (``value``, or a function
    of the old value); restore that field after, whatever else the block changed. A class, not
    a generator: backward and every model step enter one, and this costs a third as much. What
    to restore is kept in the context too (``_UNDO``), so one instance (``NG = am.no_grad()``)
    may be entered by several threads, or again inside itself."""

    __slots__ = ("field", "value")

    def __init__(self, field: str, value: Any) -> None:
        self.field, self.value = field, value

    def __enter__(self) -> None:
        state = current()
        old = getattr(state, self.field)
        value = self.value
        _UNDO.set(_UNDO.get() + ((self, old),))
        _STATE.set(state.replace(self.field, value(old) if callable(value) else value))

    def __exit__(self, *exc: object) -> None:
        undo = _UNDO.get()
        for k in range(len(undo) - 1, -1, -1):  # the innermost entry of this instance
            if undo[k][0] is self:
                _UNDO.set(undo[:k] + undo[k + 1:])
                _STATE.set(current().replace(self.field, undo[k][1]))
                return

    def _recreate_cm(self) -> "_changed":  # as a decorator: a fresh one per call
        return _changed(self.field, self.value)

    def __call__(self, func: Any) -> Any:
        """As a decorator. A generator function gets the mode around each of its resumptions,
        not only around making the generator (as PyTorch's ``no_grad`` does)."""
        if not inspect.isgeneratorfunction(func):
            return super().__call__(func)

        @functools.wraps(func)
        def generator(*args: Any, **kwargs: Any) -> Any:
            gen = func(*args, **kwargs)
            resume, arg = gen.send, None
            while True:
                try:
                    with self._recreate_cm():
                        item = resume(arg)
                except StopIteration as stop:
                    return stop.value
                try:
                    arg = yield item
                    resume = gen.send
                except GeneratorExit:
                    with self._recreate_cm():
                        gen.close()
                    raise
                except BaseException as e:  # thrown in: the generator handles it, in the mode
                    resume, arg = gen.throw, e

        return generator


_UNDO: ContextVar[tuple] = ContextVar("autograd_mini_undo", default=())


def _grad_mode(enabled: bool) -> Any:
    """Record (or not) inside the block, whatever the caller's mode."""
    return _changed("grad_enabled", bool(enabled))


def scope(name: str, step: int | None = None) -> Any:
    """Tag every op recorded inside with ``name`` (and ``step``); nested scopes compose.

    Models mark modules and time steps with it; error messages and the renderer read it back.

    >>> import autograd_mini as am
    >>> x = am.Tensor([1.0, 2.0], requires_grad=True)
    >>> with am.Tape() as tape, am.scope("rnn", step=3):
    ...     y = am.tanh(x)
    >>> str(tape.nodes[0].scope[0])
    'rnn step 3'
    """
    if not isinstance(name, str):
        raise TypeError(f"scope: name must be a str, got {type(name).__name__}")
    if step is not None and not isinstance(step, (int, np.integer)):
        raise TypeError(f"scope: step must be an int or None, got {type(step).__name__}")
    frame = Frame(name, None if step is None else int(step))
    return _changed("scope", lambda outer: outer + (frame,))


def no_grad() -> Any:
    """Run ops without recording them: results do not require grad (in this thread or task).

    >>> import autograd_mini as am
    >>> w = am.Parameter([1.0], name="w")
    >>> with am.no_grad():
    ...     y = w * 2
    >>> y.requires_grad
    False
    """
    return _grad_mode(False)


def detect_anomaly() -> Any:
    """Raise ``FloatingPointError`` at the first op whose output or gradient is not finite.

    The message names the op and the scope it ran in. Costs one ``isfinite`` per op while active
    (in this thread or task).

    >>> import autograd_mini as am
    >>> x = am.Tensor([0.0], requires_grad=True)
    >>> with am.detect_anomaly():
    ...     am.log(x)
    Traceback (most recent call last):
    ...
    FloatingPointError: log produced a non-finite value (-inf) at top level
    """
    return _changed("anomaly", lambda n: n + 1)


class paused_gc(ContextDecorator):
    """Pause Python's cyclic garbage collector inside the block (if ``enabled``), then put it back
    as it was. Opt-in, never a default: the collector is the whole process's.

    A recorded graph is many small objects that live until backward, so the collector passes over
    them again and again and finds nothing to free (a 10,000-step unroll spent 27-33% of its time
    so). ``models.train(..., pause_gc=True)`` and ``value_and_grad(f, pause_gc=True)`` use it.
    Reference cycles made inside stay until the collector runs again after the block.

    >>> import gc, autograd_mini as am
    >>> with am.paused_gc():
    ...     gc.isenabled()
    False
    >>> gc.isenabled()
    True
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = bool(enabled)
        self.was: list[bool] = []

    def __enter__(self) -> None:
        self.was.append(gc.isenabled())
        if self.enabled:
            gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self.was.pop() and self.enabled:  # paused_gc(False) leaves the collector alone
            gc.enable()

    def _recreate_cm(self) -> "paused_gc":
        return paused_gc(self.enabled)


class Tag(NamedTuple):
    """What a model calls a tensor (see :func:`autograd_mini.tag`): ``Tag("x", 3)`` is x_3,
    ``Tag("h0")`` the initial state. The engine only carries it; drawings read it."""

    name: str
    index: int | None = None

    def __str__(self) -> str:
        return self.name if self.index is None else f"{self.name}_{self.index}"


def _step_of(scope: tuple[Frame, ...]) -> int | None:
    for frame in reversed(scope):
        if frame.step is not None:
            return frame.step
    return None


class GraphNode:
    """One op of a recorded graph, as :func:`autograd_mini.graph_of` gives it.

    ``inputs`` holds, per argument, the :class:`GraphNode` that made it, a tensor that entered
    from outside (a weight, an input; read its ``name`` and ``tag``), or the constant as given.
    ``value`` is the output's value where it is still kept (else None). ``input_grads`` and
    ``output_grad`` are the per-edge gradients of a ``Tape(keep_grads=True)`` after backward;
    ``input_grads`` is None where they were not kept.
    """

    __slots__ = ("index", "op", "inputs", "scope", "shape", "tag", "value", "input_grads", "output_grad")

    def __init__(self, index: int, op: str, inputs: tuple, scope: tuple[Frame, ...], shape: tuple,
                 tag: Tag | None, value: Any = None, input_grads: tuple | None = None,
                 output_grad: Any = None) -> None:
        self.index, self.op, self.inputs, self.scope, self.shape = index, op, inputs, scope, shape
        self.tag, self.value, self.input_grads, self.output_grad = tag, value, input_grads, output_grad

    @property
    def step(self) -> int | None:
        """The innermost time step of the scope, or None."""
        return _step_of(self.scope)

    def __repr__(self) -> str:
        return f"GraphNode({self.index}: {self.op} {self.shape} in {format_scope(self.scope)})"


class Node:
    """One recorded op, as a :class:`Tape` exposes it.

    ``inputs`` are the op's arguments as given (tensors and constants), ``output`` its result
    (None once nothing else holds it: the node keeps it weakly, since the tensor's record holds
    the node and a strong reference back would make a cycle for the garbage collector),
    ``value`` and ``shape`` the output's. After a backward pass over a tape made with
    ``keep_grads=True``, ``output_grad`` holds the gradient that reached the output and
    ``input_grads[i]`` the vector-Jacobian product sent to input ``i`` (``None`` for inputs that
    got none) — the per-edge contributions.
    """

    __slots__ = ("op", "inputs", "_output", "value", "shape", "scope", "index", "keep_grads", "input_grads",
                 "output_grad", "tag")

    def __init__(self, op: str, inputs: tuple, output: Any, scope: tuple[Frame, ...], index: int, keep_grads: bool):
        self.tag: Tag | None = None  # set by autograd_mini.tag
        self.op = op
        self.inputs = inputs
        self._output = weakref.ref(output)
        self.value, self.shape = output.value, tuple(output.shape)
        self.scope = scope
        self.index = index
        self.keep_grads = keep_grads
        self.input_grads: list[Any] = [None] * len(inputs)
        self.output_grad: Any = None

    @property
    def output(self) -> Any:
        """The op's result, while anything else holds it (else None)."""
        return self._output()

    @property
    def step(self) -> int | None:
        """The innermost time step of the scope, or None."""
        return _step_of(self.scope)

    @property
    def input_grad_norms(self) -> list[float | None]:
        """Frobenius norm of each input's contribution (``None`` where none flowed)."""
        return [None if g is None else float(np.linalg.norm(np.ravel(g))) for g in self.input_grads]

    def __repr__(self) -> str:
        return f"Node({self.index}: {self.op} in {format_scope(self.scope)})"


def _array(g: Any) -> Any:
    return getattr(g, "value", g)  # a Tensor's array; an array or None as it is


class Tape:
    """Collects the nodes recorded while it is open, in execution order.

    ``keep_grads=True`` makes the next backward pass store on every node the gradient
    contribution along each of its input edges (for the renderer); without it backward
    stores nothing.

    >>> import autograd_mini as am
    >>> w = am.Parameter([2.0], name="w")
    >>> with am.Tape(keep_grads=True) as tape:
    ...     loss = (w * w).sum()
    >>> loss.backward()
    >>> [n.op for n in tape.nodes], tape.nodes[0].input_grads
    (['multiply', 'sum'], [array([2.]), array([2.])])
    """

    def __init__(self, keep_grads: bool = False) -> None:
        self.keep_grads = keep_grads
        self.nodes: list[Node] = []
        # How many times it is entered and not yet exited. A tape exited in another thread than
        # the one that entered it is still in that thread's state: this says it is closed.
        self.depth = 0

    def __enter__(self) -> "Tape":
        self.depth += 1
        state = current()
        _STATE.set(state.replace("tapes", state.tapes + (self,)))
        return self

    def __exit__(self, *exc: object) -> None:
        self.depth -= 1
        state = current()
        _STATE.set(state.replace("tapes", tuple(t for t in state.tapes if t is not self)))

    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def _graph(self) -> list[GraphNode]:
        """The tape as :func:`autograd_mini.graph_of` gives it: an input made by an earlier node
        of the tape is that node; tensors from outside the tape stay tensors."""
        made: dict[int, GraphNode] = {}
        out = []
        for node in self.nodes:
            inputs = tuple(made.get(id(a), a) for a in node.inputs)
            # A backward with create_graph keeps tensors as the gradients: the graph gives arrays.
            grads = tuple(_array(x) for x in node.input_grads) if node.keep_grads else None
            g = GraphNode(node.index, node.op, inputs, node.scope, node.shape, node.tag,
                          node.value, grads, _array(node.output_grad))
            result = node.output
            if result is not None:  # a dead output's id may be a newer tensor's: only live ones match
                made[id(result)] = g
            out.append(g)
        return out
