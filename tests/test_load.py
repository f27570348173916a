"""Model.load of a file from anywhere: atomic, checked from the zip directory and the .npy headers
before any data is read, and every refusal a ValueError naming the file (and the parameter).

Every bad file is built here, byte by byte where numpy would not write it (a real zip bomb: a
member of zeros compressed with deflate).
"""
from __future__ import annotations

import io
import struct
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

import models
from models import HMM
from models.base import Model

MB = 1 << 20


def net(seed: int = 0) -> models.ElmanRNN:
    return models.ElmanRNN(2, 3, 1, seed=seed)   # W_xh (2, 3), W_hh (3, 3), b_h (3,), W_hy (3, 1), b_y (1,)


def snapshot(model: Model) -> dict[str, np.ndarray]:
    return {k: p.value.copy() for k, p in model.named_parameters()}


def assert_unchanged(model: Model, before: dict[str, np.ndarray]) -> None:
    for k, p in model.named_parameters():
        np.testing.assert_array_equal(p.value, before[k], err_msg=f"{k} changed")
        assert p.value.dtype == np.float64


def npy(arr: np.ndarray, version: tuple[int, int] | None = None) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asanyarray(arr), version=version, allow_pickle=True)
    return buf.getvalue()


def npy_header(shape: tuple[int, ...], descr: str = "<f8", fortran: bool = False) -> bytes:
    """A .npy 1.0 header declaring an array, with no data after it."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": fortran, "shape": shape})
    return buf.getvalue()   # the magic string, the length, the header


class Member:
    """One zip member as it goes into the file: the bytes stored, the method, and what the
    directory declares (crc, size when read); all of it may lie."""

    def __init__(self, name: str, raw: bytes, method: int = zipfile.ZIP_STORED, crc: int | None = None,
                 size: int | None = None, compressed: bytes | None = None, flags: int = 0) -> None:
        self.name, self.method, self.flags = name, method, flags
        if compressed is None:
            if method == zipfile.ZIP_DEFLATED:
                c = zlib.compressobj(6, zlib.DEFLATED, -15)
                compressed = c.compress(raw) + c.flush()
            else:
                compressed = raw
        self.data = compressed
        self.crc = zlib.crc32(raw) if crc is None else crc
        self.size = len(raw) if size is None else size


def write_zip(path: Path, members: list[Member]) -> Path:
    """A zip archive with exactly these members (local headers, central directory, end record)."""
    out, central = bytearray(), bytearray()
    for m in members:
        name = m.name.encode("utf-8")
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, m.flags, m.method, 0, 0x21, m.crc, len(m.data),
                           m.size, len(name), 0) + name + m.data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, m.flags, m.method, 0, 0x21, m.crc,
                               len(m.data), m.size, len(name), 0, 0, 0, 0, 0, offset) + name
    out += central + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central),
                                 len(out), 0)
    path.write_bytes(bytes(out))
    return path


def members_of(model: Model, **replace: Member) -> list[Member]:
    """A good file's members (as np.savez writes them), some replaced."""
    return [replace.get(k) or Member(f"{k}.npy", npy(p.value)) for k, p in model.named_parameters()]


def deflated_zeros(name: str, header: bytes, n_zeros: int) -> Member:
    """A real zip bomb: ``header`` then ``n_zeros`` zero bytes, deflated (about 1030:1), built
    without holding or compressing the zeros (after a full flush every 1 MB of zeros compresses
    to the same bytes)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = bytes(MB)
    n_blocks, rest = divmod(n_zeros, MB)
    assert n_blocks >= 3
    head = c.compress(header) + c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    same = [c.compress(block) + c.flush(zlib.Z_FULL_FLUSH) for _ in range(2)]
    assert same[0] == same[1]
    data = head + same[0] * (n_blocks - 1) + c.compress(bytes(rest)) + c.flush()
    crc = zlib.crc32(header)
    for _ in range(n_blocks):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(bytes(rest), crc)
    return Member(name, b"", zipfile.ZIP_DEFLATED, crc=crc, size=len(header) + n_zeros, compressed=data)


def refused_quickly(model: Model, path: Path, match: str, seconds: float = 2.0, peak_mb: float = 8.0) -> str:
    """load raises ValueError naming the file, fast and without allocating the array."""
    before = snapshot(model)
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(ValueError, match=match) as info:
            model.load(path)
    finally:
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert str(path) in str(info.value)
    assert elapsed < seconds, f"refused after {elapsed:.2f} s"
    assert peak < peak_mb * MB, f"allocated {peak / MB:.1f} MB before refusing"
    assert_unchanged(model, before)
    return str(info.value)


# --- what it accepts ---------------------------------------------------------------------------------

@pytest.mark.parametrize("writer", ["savez", "savez_compressed", "float32", "int", "big-endian", "fortran",
                                    "npy 2.0"])
def test_every_way_of_writing_the_weights_round_trips(tmp_path, writer):
    a, b = net(0), net(1)
    state = a.state_dict()
    if writer == "savez":
        path = a.save(tmp_path / "net")
    elif writer == "savez_compressed":
        np.savez_compressed(path := tmp_path / "net.npz", **state)
    else:
        conv = {"float32": lambda v: v.astype(np.float32), "int": lambda v: np.round(v * 100).astype(np.int64),
                "big-endian": lambda v: v.astype(">f8"), "fortran": np.asfortranarray,
                "npy 2.0": lambda v: v}[writer]
        state = {k: conv(v) for k, v in state.items()}
        version = (2, 0) if writer == "npy 2.0" else None
        path = write_zip(tmp_path / "net.npz", [Member(f"{k}.npy", npy(v, version)) for k, v in state.items()])
    assert b.load(path) is b
    for k, p in b.named_parameters():
        assert p.value.dtype == np.float64 and p.value.flags.writeable and p.value.flags.c_contiguous
        np.testing.assert_array_equal(p.value, np.asarray(state[k], dtype=np.float64))


def test_the_models_own_round_trips_still_hold(tmp_path):
    for make in (lambda s: models.ElmanRNN(2, 3, 1, h0="learned", seed=s), lambda s: models.LSTM(2, 3, 1, seed=s),
                 lambda s: models.FeedForward(n_in=2, k=3, hidden=(5, 4), seed=s)):
        a, b = make(0), make(1)
        b.load(a.save(tmp_path / "m"))
        for (_, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
            np.testing.assert_array_equal(pa.value, pb.value)


def test_an_hmm_keeps_its_minus_infinity_logits_but_never_nan(tmp_path):
    hmm = HMM.from_probs([1.0, 0.0], [[0.3, 0.7], [0.0, 1.0]], [[0.5, 0.5, 0.0], [0.1, 0.2, 0.7]])
    other = HMM(2, 3, seed=4).load(hmm.save(tmp_path / "hmm"))
    np.testing.assert_array_equal(other.transition, hmm.transition)
    bad = hmm.state_dict()
    bad["emit_logits"][0, 0] = np.nan
    np.savez(tmp_path / "nan.npz", **bad)
    with pytest.raises(ValueError, match=r"HMM: parameter emit_logits in .*nan\.npz has 1 non-finite"):
        other.load(tmp_path / "nan.npz")
    bad["emit_logits"][0, 0] = np.inf
    np.savez(tmp_path / "inf.npz", **bad)
    with pytest.raises(ValueError, match="emit_logits"):
        other.load(tmp_path / "inf.npz")


# --- atomic ------------------------------------------------------------------------------------------

def test_a_refused_file_changes_nothing(tmp_path):
    """W_xh and W_hh used to be replaced before W_hy's shape error was found."""
    a, b = net(0), net(1)
    state = a.state_dict()
    state["W_hy"] = np.zeros((4, 1))
    np.savez(tmp_path / "shape.npz", **state)
    before = snapshot(b)
    with pytest.raises(ValueError, match=r"ElmanRNN: parameter W_hy has shape \(3, 1\), the saved value \(4, 1\) in .*shape\.npz"):
        b.load(tmp_path / "shape.npz")
    assert_unchanged(b, before)

    state = a.state_dict()
    state["b_y"] = np.array([np.nan])                         # the last parameter, found in the data
    np.savez(tmp_path / "nan.npz", **state)
    with pytest.raises(ValueError, match=r"parameter b_y in .*nan\.npz has 1 non-finite value"):
        b.load(tmp_path / "nan.npz")
    assert_unchanged(b, before)

    good = members_of(a)
    last = good[-1]
    damaged = bytearray(last.data)
    damaged[-1] ^= 0xFF                                        # the last byte of the last array: a bad CRC
    good[-1] = Member(last.name, bytes(damaged), crc=last.crc)
    with pytest.raises(ValueError, match=r"cannot load .*crc\.npz.*(CRC|crc)"):
        b.load(write_zip(tmp_path / "crc.npz", good))
    assert_unchanged(b, before)


def test_load_state_dict_is_atomic_too():
    b = net(1)
    before = snapshot(b)
    state = net(0).state_dict()
    state["W_hy"] = np.zeros((4, 1))
    with pytest.raises(ValueError, match=r"W_hy has shape \(3, 1\), the saved value \(4, 1\)"):
        b.load_state_dict(state)
    assert_unchanged(b, before)
    state = net(0).state_dict()
    state["b_y"] = state["b_y"] + 1j
    with pytest.raises(ValueError, match="parameter b_y is complex"):
        b.load_state_dict(state)
    assert_unchanged(b, before)


# --- huge arrays refused from the headers ------------------------------------------------------------

def test_a_zip_bomb_is_refused_before_it_is_inflated(tmp_path):
    """196 kB of deflated zeros declaring a 200 MB W_hh: it used to allocate 201 MB first."""
    n = 25_000_000
    bomb = deflated_zeros("W_hh.npy", npy_header((n,)), n * 8)
    path = write_zip(tmp_path / "bomb.npz", members_of(net(0), W_hh=bomb))
    assert path.stat().st_size < 250_000
    with zipfile.ZipFile(path) as zf:                         # a valid archive: what it says is true
        assert zf.getinfo("W_hh.npy").file_size == len(npy_header((n,))) + n * 8
    message = refused_quickly(net(1), path, r"parameter W_hh .* declares 200,000,\d+ bytes")
    assert "refused before reading it" in message


def test_a_gigabyte_of_zeros_is_refused_at_once(tmp_path):
    """1 GiB of zeros (a 1 MB file) declared as a W_hh of the right dtype: it took 7.5 s to refuse."""
    n = 1 << 27
    bomb = deflated_zeros("W_hh.npy", npy_header((n,)), n * 8)
    path = write_zip(tmp_path / "gig.npz", members_of(net(0), W_hh=bomb))
    refused_quickly(net(1), path, r"parameter W_hh .* declares 1,073,741,\d+ bytes")


def test_a_header_declaring_800_gb_is_refused_without_a_memory_error(tmp_path):
    n = 100_000_000_000
    member = Member("W_hh.npy", npy_header((n,)))            # the header only: no data follows
    path = write_zip(tmp_path / "huge.npz", members_of(net(0), W_hh=member))
    refused_quickly(net(1), path, r"parameter W_hh has shape \(3, 3\), the saved value \(100000000000,\)")
    right_shape = Member("W_hh.npy", npy_header((3, 3)))       # the right shape, but its data is missing
    path = write_zip(tmp_path / "short.npz", members_of(net(0), W_hh=right_shape))
    refused_quickly(net(1), path, r"W_hh.*declares \d+ bytes; its header says \d+")


def test_a_member_that_lies_about_its_size_is_never_read_past_it(tmp_path):
    """The directory declares a (3, 3) array; the deflate stream holds 100 MB."""
    header = npy_header((3, 3))
    bomb = deflated_zeros("W_hh.npy", header, 100 * MB)
    bomb.size = len(header) + 72
    bomb.crc = zlib.crc32(header + bytes(72))
    path = write_zip(tmp_path / "liar.npz", members_of(net(0), W_hh=bomb))
    refused_quickly(net(1), path, r"W_hh.*declares [\d,]+ compressed bytes for 200 read, more than deflate ever writes")


def test_an_impossible_compression_ratio_is_refused_before_inflating(tmp_path):
    big = models.ElmanRNN(2, 100, 1, seed=0)                 # W_hh (100, 100): 80 kB
    good = Member("W_hh.npy", npy(big["W_hh"].value), zipfile.ZIP_DEFLATED)
    liar = Member("W_hh.npy", b"", zipfile.ZIP_DEFLATED, crc=good.crc, size=good.size, compressed=good.data[:40])
    path = write_zip(tmp_path / "ratio.npz", members_of(big, W_hh=liar))
    refused_quickly(models.ElmanRNN(2, 100, 1, seed=1), path, r"W_hh.*inflates 40 bytes to 80,\d+, more than deflate can")


def test_a_header_too_long_to_read_safely_is_refused_unread(tmp_path):
    big_header = np.lib.format.magic(2, 0) + struct.pack("<I", 100 * MB) + b"{" + b" " * 100
    path = write_zip(tmp_path / "header.npz", members_of(net(0), W_hh=Member("W_hh.npy", big_header)))
    refused_quickly(net(1), path, r"W_hh.*104,857,600-byte \.npy header")


# --- files that are not what save writes ------------------------------------------------------------

def damaged_files(tmp_path: Path) -> dict[str, Path]:
    good = net(0).save(tmp_path / "good.npz").read_bytes()
    np.save(tmp_path / "array.npy", np.zeros(3))
    files = {"empty": b"", "truncated": good[: len(good) // 2], "text": b"W_hh = [[1, 2, 3]]\n",
             "zip header only": good[:30], "no end record": good[:-22]}
    out = {k: tmp_path / f"{k.replace(' ', '_')}.npz" for k in files}
    for k, data in files.items():
        out[k].write_bytes(data)
    out["a .npy, not a .npz"] = tmp_path / "array.npy"
    crc = members_of(net(0))
    data = bytearray(crc[1].data)
    data[-3] ^= 0x01
    crc[1] = Member(crc[1].name, bytes(data), crc=crc[1].crc)
    out["bad CRC"] = write_zip(tmp_path / "crc.npz", crc)
    deflated = members_of(net(0), W_hh=Member("W_hh.npy", npy(net(0)["W_hh"].value), zipfile.ZIP_DEFLATED))
    middle = len(deflated[1].data) // 2
    deflated[1].data = deflated[1].data[:middle] + bytes([deflated[1].data[middle] ^ 0x55]) + deflated[1].data[middle + 1:]
    out["bad deflate data"] = write_zip(tmp_path / "deflate.npz", deflated)
    out["not npy data"] = write_zip(tmp_path / "notnpy.npz", members_of(net(0), W_hh=Member("W_hh.npy", b"hello" * 40)))
    out["bad npy header"] = write_zip(tmp_path / "badheader.npz", members_of(
        net(0), W_hh=Member("W_hh.npy", np.lib.format.magic(1, 0) + struct.pack("<H", 20) + b"{'shape': (3, 3)}   \n")))
    return out


@pytest.mark.parametrize("kind", ["empty", "truncated", "text", "zip header only", "no end record",
                                  "a .npy, not a .npz", "bad CRC", "bad deflate data", "not npy data",
                                  "bad npy header"])
def test_a_damaged_file_is_a_value_error_naming_the_file(tmp_path, kind):
    path = damaged_files(tmp_path)[kind]
    b = net(1)
    before = snapshot(b)
    with pytest.raises(ValueError) as info:
        b.load(path)
    assert type(info.value).__name__ == "LoadError" and str(path) in str(info.value)
    assert_unchanged(b, before)


def test_a_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        net().load(tmp_path / "nowhere.npz")


def test_members_that_do_not_match_are_refused_by_name(tmp_path):
    a = net(0)
    cases = {
        "extra": members_of(a) + [Member("W_extra.npy", npy(np.zeros(2)))],
        "missing": members_of(a)[:-1],
        "not .npy": members_of(a)[:-1] + [Member("b_y", npy(np.zeros(1)))],
        "in a folder": members_of(a)[:-1] + [Member("x/b_y.npy", npy(np.zeros(1)))],
    }
    for what, members in cases.items():
        path = write_zip(tmp_path / f"{what}.npz", members)
        with pytest.raises(ValueError, match=rf"parameters do not match: missing .*, unexpected .* in .*{what}\.npz"):
            net(1).load(path)
    twice = members_of(a) + [Member("W_hh.npy", npy(np.zeros((3, 3))))]
    with pytest.raises(ValueError, match=r"twice\.npz: it holds 'W_hh\.npy' twice"):
        net(1).load(write_zip(tmp_path / "twice.npz", twice))
    encrypted = members_of(a)
    encrypted[0].flags = 0x1
    with pytest.raises(ValueError, match=r"parameter W_xh in .*enc\.npz \(member 'W_xh\.npy'\) is encrypted"):
        net(1).load(write_zip(tmp_path / "enc.npz", encrypted))
    with zipfile.ZipFile(tmp_path / "bz2.npz", "w", zipfile.ZIP_BZIP2) as zf:
        for k, p in a.named_parameters():
            zf.writestr(f"{k}.npy", npy(p.value))
    with pytest.raises(ValueError, match=r"W_xh.*compressed with zip method 12"):
        net(1).load(tmp_path / "bz2.npz")


# --- values that are not real, finite numbers --------------------------------------------------------

class Boom:
    """Unpickling one would run code: it must never happen."""
    ran = False

    def __reduce__(self):
        return (Boom._run, ())

    @staticmethod
    def _run():
        Boom.ran = True
        return 0.0


@pytest.mark.parametrize("kind, value, match", [
    ("pickle", lambda: np.array([[Boom()] * 3] * 3, dtype=object), r"W_hh in .*holds Python objects"),
    ("complex", lambda: np.full((3, 3), 0.5 + 2j), r"parameter W_hh in .*is complex \(dtype complex128\)"),
    ("string", lambda: np.full((3, 3), "0.5"), r"parameter W_hh in .*is text \(dtype <U3\)"),
    ("bytes", lambda: np.full((3, 3), b"1"), r"parameter W_hh in .*is text"),
    ("datetime", lambda: np.full((3, 3), np.datetime64("2020-01-01")), r"parameter W_hh in .*is not numbers"),
    ("record", lambda: np.zeros((3, 3), dtype=[("a", "<f8")]), r"parameter W_hh in .*is not numbers"),
    ("nan", lambda: np.where(np.eye(3) > 0, np.nan, 0.5), r"parameter W_hh in .*has 3 non-finite value\(s\) \(nan at index \[0, 0\]\)"),
    ("inf", lambda: np.full((3, 3), -np.inf), r"parameter W_hh in .*has 9 non-finite"),
])
def test_weights_that_are_not_real_finite_numbers_are_refused_naming_the_parameter(tmp_path, kind, value, match):
    state = net(0).state_dict()
    state["W_hh"] = value()
    path = write_zip(tmp_path / f"{kind}.npz", [Member(f"{k}.npy", npy(v)) for k, v in state.items()])
    b = net(1)
    before = snapshot(b)
    with pytest.raises(ValueError, match=match):
        b.load(path)
    assert_unchanged(b, before)
    assert not Boom.ran


def test_non_finite_weights_load_when_allowed(tmp_path):
    state = net(0).state_dict()
    state["W_hh"][1, 2] = np.nan
    state["b_h"][:] = np.inf
    np.savez(tmp_path / "nonfinite.npz", **state)
    b = net(1).load(tmp_path / "nonfinite.npz", allow_nonfinite=True)
    assert np.isnan(b["W_hh"].value[1, 2]) and np.all(np.isposinf(b["b_h"].value))
    with pytest.raises(ValueError, match=r"allow_nonfinite=True\) accepts them"):
        net(1).load(tmp_path / "nonfinite.npz")


def test_load_says_what_it_accepts():
    doc = Model.load.__doc__
    for words in ("numpy.savez", "allow_nonfinite", "before any array data is read", "ValueError", "complex",
                  "pickle", "1032:1", "FileNotFoundError"):
        assert words in doc
