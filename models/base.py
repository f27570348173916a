"""What every model shares: named parameters, saving and loading, input checks, progress."""
from __future__ import annotations

import io
import math
import os
import struct
import sys
import time
import zipfile
import zlib
from pathlib import Path
from typing import Any, BinaryIO, Iterator

import numpy as np
from numpy.lib import format as npy_format

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

    # Parameters whose value may be -inf (an HMM's log of a zero probability); NaN and +inf never.
    minus_inf_ok: frozenset[str] = frozenset()

    def load_state_dict(self, state: dict[str, np.ndarray], *, allow_nonfinite: bool = False) -> None:
        """Set parameter values by name: every name and shape must match, the values be real
        numbers (not complex, not strings) and finite unless ``allow_nonfinite``; nothing is set
        unless all of them are."""
        self._set(self._checked(state, allow_nonfinite))

    def _checked(self, state: dict[str, Any], allow_nonfinite: bool, where: str = "") -> dict[str, np.ndarray]:
        """The values to set, checked and converted to float64 copies (ValueError otherwise)."""
        self._check_names(set(state), where)
        out = {}
        for k, p in self._params.items():
            v = np.asarray(state[k])
            self._check_dtype(k, v.dtype, where)
            if v.shape != p.shape:
                raise ValueError(f"{self.name}: parameter {k} has shape {p.shape}, the saved value {v.shape}{where}")
            out[k] = self._check_values(k, np.array(v, dtype=np.float64, order="C"), allow_nonfinite, where)
        return out

    def _set(self, values: dict[str, np.ndarray]) -> None:
        for k, v in values.items():
            self._params[k].value = v

    def _check_names(self, names: set[str], where: str, others: tuple[str, ...] = ()) -> None:
        missing = set(self._params) - names
        extra = (names - set(self._params)) | set(others)
        if missing or extra:
            raise ValueError(f"{self.name}: parameters do not match: missing {sorted(missing)}, "
                             f"unexpected {sorted(extra)}{where}")

    def _check_dtype(self, k: str, dtype: np.dtype, where: str) -> None:
        if dtype.hasobject:
            raise ValueError(f"{self.name}: parameter {k}{where} holds Python objects (dtype {dtype}), "
                             "which are never unpickled: a weight is an array of real numbers")
        if dtype.kind == "c":
            raise ValueError(f"{self.name}: parameter {k}{where} is complex (dtype {dtype}): a weight is real "
                             "(taking the real part would silently drop the imaginary one)")
        if dtype.kind not in "biuf":
            what = "text" if dtype.kind in "US" else "not numbers"
            raise ValueError(f"{self.name}: parameter {k}{where} is {what} (dtype {dtype}): a weight is an "
                             "array of real numbers")

    def _check_values(self, k: str, v: np.ndarray, allow_nonfinite: bool, where: str) -> np.ndarray:
        if allow_nonfinite:
            return v
        bad = ~np.isfinite(v)
        if k in self.minus_inf_ok:
            bad &= ~np.isneginf(v)
        if bad.any():
            at = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"{self.name}: parameter {k}{where} has {int(bad.sum())} non-finite value(s) "
                             f"({v[at]} at index {list(at)}); load(..., allow_nonfinite=True) accepts them")
        return v

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

    def load(self, path: str | Path, *, allow_nonfinite: bool = False) -> "Model":
        """Read the parameters that :meth:`save` wrote into this model; returns the model.

        ``path`` must name a zip archive as ``numpy.savez`` (or ``numpy.savez_compressed``)
        writes it, and every part of it is checked before a value is set, so that a file from
        anywhere is safe to try:

        - one member ``<name>.npy`` per parameter of this model, no other member, none twice,
          none encrypted, each stored or deflate-compressed;
        - each member a ``.npy`` array of format 1.0 or 2.0 (a header of at most 10,000
          characters) whose dtype is real numbers (bool, int, uint or float, any byte order;
          never objects, which would need pickle, nor complex numbers, strings or records) and
          whose shape is the parameter's; the values are converted to float64;
        - each member's declared size exactly its header plus its data, and no larger than such
          an array can be, and for a compressed member no more than deflate can expand (1032:1);
        - every value finite, unless ``allow_nonfinite=True`` (a model's :attr:`minus_inf_ok`
          parameters may be -inf: an HMM's log of a zero probability).

        Names, dtypes, shapes and sizes are read from the zip directory and the ``.npy`` headers
        before any array data is read (a file declaring a huge array is refused without
        allocating it), and the model is changed only when every parameter has been read and
        checked: a refused file leaves it as it was. Anything else (an empty, truncated or
        damaged file, a bad CRC, a header that does not parse) raises ValueError naming the file
        and, where there is one, the parameter; a missing file raises FileNotFoundError.
        """
        name = os.fspath(path)
        with open(path, "rb") as f:
            try:
                values = self._read_npz(f, name, allow_nonfinite)
            except LoadError:
                raise
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, TypeError, KeyError,
                    struct.error, NotImplementedError, RuntimeError, OverflowError, UnicodeError) as e:
                raise LoadError(f"{self.name}: cannot load {name}: it is not a .npz file as save writes it, "
                                f"or it is damaged ({type(e).__name__}: {e})") from None
        self._set(values)
        return self

    def _read_npz(self, f: BinaryIO, name: str, allow_nonfinite: bool) -> dict[str, np.ndarray]:
        """Phase 1: the zip directory and every .npy header, no data; phase 2: the data."""
        where = f" in {name}"
        file_size = os.fstat(f.fileno()).st_size
        if file_size == 0:
            raise LoadError(f"{self.name}: cannot load {name}: the file is empty")
        with zipfile.ZipFile(f) as zf:
            members: dict[str, zipfile.ZipInfo] = {}
            others = []   # not an array as savez names it: unexpected, whatever its name
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    others.append(info.filename)
                    continue
                key = info.filename[:-4]
                if key in members:
                    raise LoadError(f"{self.name}: cannot load {name}: it holds {info.filename!r} twice")
                members[key] = info
            try:
                self._check_names(set(members), where, tuple(others))
            except ValueError as e:
                raise LoadError(str(e)) from None
            headers = {}
            for k, p in self._params.items():
                info = members[k]
                self._check_member(k, info, p.shape, file_size, where)
                headers[k] = self._read_header(zf, k, info, p.shape, where)
            values = {}
            for k, (shape, fortran, dtype, offset) in headers.items():
                with zf.open(members[k]) as fp:
                    _read_exact(fp, offset, "header")
                    data = _read_exact(fp, math.prod(shape) * dtype.itemsize, "array data")  # its CRC checked
                arr = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
                arr = np.array(arr, dtype=np.float64, order="C")   # a copy of its own, native, writable
                try:
                    values[k] = self._check_values(k, arr, allow_nonfinite, where)
                except ValueError as e:
                    raise LoadError(str(e)) from None
        return values

    def _check_member(self, k: str, info: zipfile.ZipInfo, shape: tuple[int, ...], file_size: int,
                      where: str) -> None:
        """What the zip directory says of a member, before a byte of it is read."""
        member = f"{self.name}: parameter {k}{where} (member {info.filename!r})"
        if info.flag_bits & 0x1:
            raise LoadError(f"{member} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise LoadError(f"{member} is compressed with zip method {info.compress_type}; save stores "
                            "(numpy.savez) and numpy.savez_compressed deflates, nothing else is read")
        largest = _NPY_PREFIX + _NPY_HEADER_MAX + math.prod(shape) * _LARGEST_ITEM
        if info.file_size > largest:
            raise LoadError(f"{member} declares {info.file_size:,} bytes; an array of shape {shape} takes at "
                            f"most {largest:,}: refused before reading it")
        if info.compress_size > file_size:
            raise LoadError(f"{member} declares {info.compress_size:,} compressed bytes, more than the "
                            f"file's {file_size:,}")
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            raise LoadError(f"{member} is stored, yet declares {info.compress_size:,} bytes in the file "
                            f"and {info.file_size:,} read")
        if info.compress_type == zipfile.ZIP_DEFLATED:
            if info.file_size > _DEFLATE_MAX_RATIO * max(info.compress_size, 1):
                raise LoadError(f"{member} declares it inflates {info.compress_size:,} bytes to "
                                f"{info.file_size:,}, more than deflate can ({_DEFLATE_MAX_RATIO}:1)")
            n = info.file_size   # zlib's deflateBound, its most cautious form: no encoder needs more
            if info.compress_size > n + (n + 7) // 8 + (n + 63) // 64 + 11:
                raise LoadError(f"{member} declares {info.compress_size:,} compressed bytes for "
                                f"{info.file_size:,} read, more than deflate ever writes for them")

    def _read_header(self, zf: zipfile.ZipFile, k: str, info: zipfile.ZipInfo, shape: tuple[int, ...],
                     where: str) -> tuple[tuple[int, ...], bool, np.dtype, int]:
        """A member's .npy header (shape, fortran order, dtype) and its length, checked; no data read."""
        member = f"{self.name}: parameter {k}{where} (member {info.filename!r})"
        with zf.open(info) as fp:
            try:
                version = npy_format.read_magic(fp)
            except ValueError as e:
                raise LoadError(f"{member} is not a .npy array: {e}") from None
            readers = {(1, 0): (2, npy_format.read_array_header_1_0), (2, 0): (4, npy_format.read_array_header_2_0)}
            if version not in readers:
                raise LoadError(f"{member} is .npy format {version[0]}.{version[1]}; save writes 1.0 (2.0 is read too)")
            n_len, reader = readers[version]
            raw_len = _read_exact(fp, n_len, "header length")
            n_header = int.from_bytes(raw_len, "little")
            if n_header > _NPY_HEADER_MAX:
                raise LoadError(f"{member} has a {n_header:,}-byte .npy header; at most {_NPY_HEADER_MAX:,} are read")
            header = _read_exact(fp, n_header, "header")
        try:
            saved_shape, fortran, dtype = reader(io.BytesIO(raw_len + header), max_header_size=_NPY_HEADER_MAX)
        except ValueError as e:
            raise LoadError(f"{member} has a .npy header that does not parse: {e}") from None
        try:
            self._check_dtype(k, dtype, where)
        except ValueError as e:
            raise LoadError(str(e)) from None
        if saved_shape != shape:
            raise LoadError(f"{self.name}: parameter {k} has shape {shape}, the saved value {saved_shape}{where}")
        offset = _NPY_MAGIC_LEN + n_len + n_header
        expected = offset + math.prod(shape) * dtype.itemsize
        if info.file_size != expected:
            raise LoadError(f"{member} declares {info.file_size:,} bytes; its header says {expected:,} "
                            f"(a {dtype} array of shape {shape})")
        return saved_shape, fortran, dtype, offset


class LoadError(ValueError):
    """A file :meth:`Model.load` refuses: a ValueError whose message names the file (and the parameter)."""


_NPY_MAGIC_LEN = 8          # b"\x93NUMPY" and the version's two bytes
_NPY_PREFIX = _NPY_MAGIC_LEN + 4
_NPY_HEADER_MAX = 10_000    # numpy's own limit for a header it reads without trusting the file
_LARGEST_ITEM = 16          # bytes per value of the widest dtype load takes (longdouble)
_DEFLATE_MAX_RATIO = 1032   # deflate's largest expansion: 258 bytes from 2 bits


def _read_exact(fp: BinaryIO, n: int, what: str) -> bytes:
    """``n`` bytes from a zip member, or ValueError (a short member)."""
    chunks, left = [], n
    while left > 0:
        chunk = fp.read(min(left, 1 << 20))
        if not chunk:
            raise ValueError(f"the member ends {left:,} bytes before the end of its {what}")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


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
