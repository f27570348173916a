"""Tensor and Parameter: a numpy array, and who may write it.

A tensor holds its array (``_value``), whether it requires grad, and, once an op made it, that
op's record (``_rec``, opaque here: :mod:`autograd_mini.record` owns its layout). The methods
that reach the graph are installed by the modules that own it: ``op`` and ``retain_grad`` by
``record.py``, ``backward`` by ``backward.py``, the operators and ``.sum()``, ``.T``, ... by
``primitives.py``.
"""
from __future__ import annotations

from sys import getrefcount as _getrefcount
from typing import Any

import numpy as np

from .recording import Tag, current


def _to_float_array(value: Any, what: str) -> np.ndarray:
    """numpy array of floats from ``value``; ints and bools become float64, the rest is refused."""
    if isinstance(value, Tensor):
        value = value.value
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as e:  # ragged nested lists
        raise TypeError(f"{what}: cannot make an array of {type(value).__name__}: {e}") from None
    kind = arr.dtype.kind
    if kind == "f":
        return arr
    if kind in "biu":
        return arr.astype(np.float64)
    raise TypeError(
        f"{what}: needs real numbers, got dtype {arr.dtype} ({type(value).__name__}); "
        "strings, objects and complex values are not differentiable here"
    )


class Tensor:
    """A numpy array that records the differentiable ops applied to it.

    >>> import autograd_mini as am
    >>> x = am.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    array([2., 4., 6.])
    """

    # The three attributes every op sets are slots; the rare ones (grad, name) default on the
    # class and only get an instance __dict__ when set.
    __slots__ = ("_value", "requires_grad", "_rec", "__dict__", "__weakref__")
    grad: np.ndarray | None = None
    name: str | None = None
    tag: Tag | None = None  # a leaf's name in the drawings (see autograd_mini.tag)
    # numpy must hand mixed expressions (array * tensor) to us instead of looping over elements.
    __array_ufunc__ = None
    __array_priority__ = 1000.0

    def __init__(self, value: Any, requires_grad: bool = False, name: str | None = None) -> None:
        self._value = np.array(_to_float_array(value, type(self).__name__), copy=True)
        self.requires_grad = bool(requires_grad)
        self._rec: tuple | None = None
        if name is not None:
            self.name = name

    # --- the value, and who may write it ----------------------------------------
    # A recorded op that keeps a leaf's array for backward makes it read-only ("frozen") rather
    # than copying it: weights are used by every step, and a copy per use would cost more than
    # the op. The array thaws when nothing but this tensor holds it (every graph that kept it was
    # backwarded or dropped): reading ``.value`` checks, so ``W.value -= lr * W.grad`` after
    # backward works, and fails at once while a graph that still needs W is alive.
    _frozen = False  # set (in the instance dict) only on leaves a record keeps

    @property
    def value(self) -> np.ndarray:
        """The numpy array (shared, not copied). Read-only while a recorded graph needs it;
        assigning a new array is always allowed and never changes what a graph recorded."""
        if _getrefcount(self._value) > _ALONE:  # a record, a view or the caller holds it too
            if self._rec is not None and not self._frozen:
                _freeze(self)  # an op's output a graph keeps: frozen once someone can write it
        elif self._frozen:
            _thaw(self)
        return self._value

    @value.setter
    def value(self, new: Any) -> None:
        arr = _to_float_array(new, f"{type(self).__name__}.value")
        if arr is new or arr.base is not None or not arr.flags.writeable:
            arr = arr.copy()  # the caller's array (or a view of one): it may write it later
        self._value = arr
        if self._frozen:
            self._frozen = False

    # --- plain array facts -------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self._value.shape

    @property
    def dtype(self) -> np.dtype:
        return self._value.dtype

    @property
    def ndim(self) -> int:
        return self._value.ndim

    @property
    def size(self) -> int:
        return self._value.size

    @property
    def is_leaf(self) -> bool:
        return self._rec is None

    def __len__(self) -> int:
        return len(self.value)

    def item(self) -> float:
        return self.value.item()

    def numpy(self) -> np.ndarray:
        """The value as a numpy array (shared, not copied)."""
        return self.value

    def detach(self) -> "Tensor":
        """A tensor with the same value that is cut from the graph (truncated BPTT uses it)."""
        t = _new(self.value, False)
        if not t._value.flags.writeable:  # shared with a graph: thawed by its own reads, when alone
            t._frozen = True
        return t

    def __repr__(self) -> str:
        extra = ""
        if self._rec is not None:
            extra = f", op={self.op}"
        elif self.requires_grad:
            extra = ", requires_grad=True"
        if self.name is not None:
            extra += f", name={self.name!r}"
        body = np.array2string(self.value, separator=", ", threshold=20, prefix=" " * 7)
        return f"{type(self).__name__}({body}{extra})"

    def __setitem__(self, key: Any, value: Any) -> None:
        raise TypeError(
            "Tensor does not support item assignment: an in-place write would corrupt the recorded "
            "graph. Build a new tensor instead (am.where, am.concatenate, am.stack)."
        )

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if self.requires_grad and current().grad_enabled:
            raise TypeError(
                "numpy was given a Tensor that requires grad: the result would silently leave the "
                "graph. Use an autograd_mini op, or tensor.detach().value / tensor.value."
            )
        return self.value if dtype is None else self.value.astype(dtype)

    # Comparisons give plain boolean arrays, element-wise as numpy's and PyTorch's (so
    # ``am.where(x == 0, 1.0, x)`` works): they are not differentiable. Hashing stays by identity
    # (``__hash__`` below), so tensors are dict keys and set members; but ``t in some_list``,
    # ``some_list.index(t)`` and ``.remove(t)`` compare with == and are no identity tests: look
    # tensors up by ``id(t)`` or with ``any(u is t for u in ...)``.
    def __eq__(self, other: Any) -> np.ndarray:  # type: ignore[override]
        return self.value == _raw(other)

    def __ne__(self, other: Any) -> np.ndarray:  # type: ignore[override]
        return self.value != _raw(other)

    def __lt__(self, other: Any) -> np.ndarray:
        return self.value < _raw(other)

    def __le__(self, other: Any) -> np.ndarray:
        return self.value <= _raw(other)

    def __gt__(self, other: Any) -> np.ndarray:
        return self.value > _raw(other)

    def __ge__(self, other: Any) -> np.ndarray:
        return self.value >= _raw(other)

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        """numpy's truth value: a tensor of one element is its value; more (or none) raise."""
        return bool(self.value)

    def __iter__(self) -> Any:
        """Iterate over the first axis (each element a recorded ``getitem``), as numpy does; a
        0-d tensor raises ``TypeError`` as a 0-d array does (it used to give an empty list)."""
        if self.value.ndim == 0:
            raise TypeError("iteration over a 0-d Tensor")
        return map(self.__getitem__, range(len(self.value)))

    def __contains__(self, item: Any) -> bool:
        """``v in t``: does any element equal ``v`` (numpy's rule)."""
        return bool((self.value == _raw(item)).any())


class Parameter(Tensor):
    """A named tensor that requires grad: a model's weight.

    >>> import autograd_mini as am
    >>> W = am.Parameter([[0.5, -0.5]], name="W_hh")
    >>> W.requires_grad, W.name
    (True, 'W_hh')
    """

    __slots__ = ()

    def __init__(self, value: Any, name: str | None = None) -> None:
        super().__init__(value, requires_grad=True, name=name)


def _raw(x: Any) -> Any:
    return x.value if isinstance(x, Tensor) else x


def _alone() -> int:
    """What ``getrefcount(t._value)`` gives in ``Tensor.value`` when only the tensor holds the
    array (measured, since the count an interpreter reports for its own temporaries varies)."""
    t = Tensor(0.0)
    return _getrefcount(t._value)


_ALONE = _alone()


def _freeze(t: Tensor) -> None:
    """A record keeps this leaf's array: in-place writes would change what backward reads."""
    t._value.flags.writeable = False
    t._frozen = True


def _thaw(t: Tensor) -> None:
    t._frozen = False
    try:
        t._value.flags.writeable = True
    except ValueError:  # a view of a read-only array (a detached broadcast): it stays read-only
        t._frozen = True
        return
    # Another thread may have recorded an op on it since the count was taken: it saw _frozen
    # still set and did not freeze it, so look again now that _frozen is clear.
    if _getrefcount(t._value) > _ALONE:
        _freeze(t)


def _own(v: Any) -> Any:
    """A constant a record keeps, safe from the caller's later writes: a numpy array (or a list,
    or an index tuple holding them) is copied; numbers, slices and tuples of them are immutable."""
    kind = type(v)
    if kind is _ndarray:
        return v.copy()
    if kind is tuple:
        for e in v:
            if type(e) is _ndarray or type(e) is list:
                return tuple(_own(e) for e in v)
        return v
    if kind is list:
        return [_own(e) for e in v]
    if isinstance(v, np.ndarray):  # a subclass: np.memmap, np.matrix
        return np.array(v)
    return v


_Tensor_new = object.__new__
_ndarray = np.ndarray


def _new(value: np.ndarray, requires_grad: bool, rec: tuple | None = None) -> Tensor:
    t = _Tensor_new(Tensor)
    t._value = value
    t.requires_grad = requires_grad
    t._rec = rec
    return t
























































