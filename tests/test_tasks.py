"""The task generators make what they promise: right targets, masks, shapes, seeds."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.tasks import AddingProblem, BinaryAddition, CopyTask, LongLag, NextTerm, add_bits, target_mask


def _to_int(bits: np.ndarray) -> np.ndarray:
    return (bits * (2 ** np.arange(bits.shape[-1]))).sum(-1)


@given(st.integers(1, 12), st.integers(0, 3), st.integers(0, 2**31))
def test_binary_addition_targets_are_the_sum(bits, delay, seed):
    b = BinaryAddition(bits=bits, delay=delay).sample(seed, 5)
    assert b.x.shape == (bits + 1 + delay, 5, 2) and b.y.shape == (bits + 1 + delay, 5, 1)
    a_int = _to_int(b.x[:bits, :, 0].T.astype(int))
    b_int = _to_int(b.x[:bits, :, 1].T.astype(int))
    s = _to_int(b.y[delay:, :, 0].T.astype(int))
    assert np.array_equal(s, a_int + b_int)
    assert np.all(b.mask[:delay] == 0) and np.all(b.mask[delay:] == 1)
    assert np.array_equal(add_bits(b.x[:bits, :, 0].T.astype(int), b.x[:bits, :, 1].T.astype(int)).T, b.y[delay:, :, 0])


def test_same_seed_same_batches():
    t = NextTerm(lags=(1, 4))
    a, b = next(t.batches(7, 4, 10)), next(t.batches(7, 4, 10))
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    assert not np.array_equal(a.x, next(t.batches(8, 4, 10)).x)


def test_next_term_follows_its_rule_and_targets_are_the_next_input():
    t = NextTerm(lags=(2, 5))
    b = t.sample(0, 3, 20)
    s = np.concatenate([b.x[:, :, 0], b.y[-1:, :, 0]]).astype(int)
    assert np.array_equal(b.y[:-1, :, 0], b.x[1:, :, 0])
    assert np.array_equal(s[5:], s[3:-2] ^ s[:-5])
    assert np.all(b.mask[:5] == 0) and np.all(b.mask[5:] == 1)


def test_long_lag_targets_the_first_bit_at_the_last_step():
    b = LongLag(lag=15).sample(0, 8)
    assert b.x.shape == (16, 8, 2)
    assert np.array_equal(b.y[-1, :, 0], b.x[0, :, 0]) and b.mask.sum() == 8 and np.all(b.x[1:-1] == 0)


def test_adding_problem_targets_and_baseline():
    b = AddingProblem(length=30).sample(0, 4000)
    marks = b.x[:, :, 1]
    assert np.all(marks.sum(0) == 2) and np.all(marks[:15].sum(0) == 1)
    np.testing.assert_allclose(b.y[-1, :, 0], (b.x[:, :, 0] * marks).sum(0))
    assert np.mean((b.y[-1, :, 0] - 1.0) ** 2) == pytest.approx(AddingProblem.BASELINE_MSE, abs=0.01)


def test_copy_task_symbols_and_batches_agree():
    t = CopyTask(k=3)
    s = t.symbols(0, 5)
    assert s.shape == (5, 7) and np.all(s[:, 3] == 2) and np.array_equal(s[:, :3], s[:, 4:])
    b = t.sample(0, 5)
    assert np.array_equal(b.x.argmax(-1).T, s[:, :-1])
    assert np.array_equal(b.y[3:, :, 0].T, s[:, 4:]) and b.mask.sum() == 15


@pytest.mark.parametrize("mode, kw, rows", [("every_step", {}, [1, 1, 1, 1]), ("final", {}, [0, 0, 0, 1]),
                                            ("last_k", {"k": 2}, [0, 0, 1, 1])])
def test_target_masks_in_the_lectures_three_ways(mode, kw, rows):
    m = target_mask(4, 2, 3, mode, **kw)
    assert m.shape == (4, 2, 3) and m[:, 0, 0].tolist() == rows
    sub = target_mask(4, 2, 3, mode, units=[1], **kw)
    assert sub[:, :, [0, 2]].sum() == 0 and sub[:, 0, 1].tolist() == rows


@pytest.mark.parametrize("bad, match", [
    (lambda: BinaryAddition(bits=0), "bits must be a positive integer"),
    (lambda: BinaryAddition(delay=-1), "delay"),
    (lambda: NextTerm(lags=(3, 3)), "lags must differ"),
    (lambda: AddingProblem(length=1), "at least 2"),
    (lambda: target_mask(4, 1, 1, "last_k", k=5), "k=5 is more than the 4 steps"),
    (lambda: target_mask(4, 1, 2, "final", units=[2]), "units"),
    (lambda: BinaryAddition().from_bits(np.array([[2, 0]]), np.array([[0, 1]])), "0/1"),
])
def test_bad_task_arguments_are_clear_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        bad()
