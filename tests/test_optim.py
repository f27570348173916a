"""Optimisers against their update formulas written out by hand, and gradient clipping."""
from __future__ import annotations

import numpy as np
import pytest

import autograd_mini as am
from autograd_mini.optim import SGD, Adam, clip_grad_norm, grad_norm


def _quadratic_grads(w: am.Parameter, target: np.ndarray) -> np.ndarray:
    w.grad = None
    ((w - target) ** 2).sum().backward()
    return w.grad.copy()


def test_sgd_with_momentum_follows_its_formula():
    target = np.array([1.0, -2.0])
    w = am.Parameter([0.0, 0.0])
    opt = SGD([w], lr=0.1, momentum=0.9)
    ref, v = np.zeros(2), np.zeros(2)
    for _ in range(4):
        g = _quadratic_grads(w, target)
        np.testing.assert_allclose(g, 2 * (ref - target))
        opt.step()
        v = 0.9 * v + g
        ref = ref - 0.1 * v
        np.testing.assert_allclose(w.value, ref, rtol=1e-12)


def test_adam_follows_its_formula():
    target = np.array([3.0])
    w = am.Parameter([0.0])
    opt = Adam([w], lr=0.05, betas=(0.8, 0.9), eps=1e-8)
    ref, m, s = np.zeros(1), np.zeros(1), np.zeros(1)
    for t in range(1, 6):
        g = _quadratic_grads(w, target)
        opt.step()
        m = 0.8 * m + 0.2 * g
        s = 0.9 * s + 0.1 * g * g
        ref = ref - 0.05 * (m / (1 - 0.8 ** t)) / (np.sqrt(s / (1 - 0.9 ** t)) + 1e-8)
        np.testing.assert_allclose(w.value, ref, rtol=1e-12)


@pytest.mark.parametrize("make", [lambda p: SGD(p, lr=0.1, momentum=0.5), lambda p: Adam(p, lr=0.1)])
def test_optimisers_minimise_a_quadratic(make):
    target = np.array([1.5, -0.5, 2.0])
    w = am.Parameter(np.zeros(3))
    opt = make([w])
    for _ in range(300):
        opt.zero_grad()
        ((w - target) ** 2).sum().backward()
        opt.step()
    np.testing.assert_allclose(w.value, target, atol=1e-3)


def test_zero_grad_and_shared_parameters_listed_twice():
    w = am.Parameter([1.0])
    opt = SGD([w, w], lr=1.0)
    assert len(opt.params) == 1
    (w * 2).sum().backward()
    opt.step()
    assert w.value.tolist() == [-1.0]  # one step, not two
    opt.zero_grad()
    assert w.grad is None


def test_update_does_not_write_into_the_old_value():
    w = am.Parameter([1.0])
    before = w.value
    (w * w).sum().backward()
    SGD([w], lr=0.1).step()
    assert before.tolist() == [1.0] and w.value.tolist() == [0.8]


def test_clip_grad_norm_rescales_to_the_threshold():
    a, b = am.Parameter([0.0, 0.0]), am.Parameter([0.0])
    a.grad, b.grad = np.array([3.0, 0.0]), np.array([4.0])
    assert clip_grad_norm([a, b], 1.0) == pytest.approx(5.0)
    assert grad_norm([a, b]) == pytest.approx(1.0)
    np.testing.assert_allclose(a.grad, [0.6, 0.0])
    np.testing.assert_allclose(b.grad, [0.8])
    assert clip_grad_norm([a, b], 10.0) == pytest.approx(1.0)  # below: unchanged
    np.testing.assert_allclose(b.grad, [0.8])


def test_clip_grad_norm_refuses_a_non_finite_norm():
    a = am.Parameter([0.0])
    a.grad = np.array([np.inf])
    with pytest.raises(FloatingPointError, match="inf"):
        clip_grad_norm([a], 1.0)
    assert np.isinf(clip_grad_norm([a], 1.0, error_if_nonfinite=False))


@pytest.mark.parametrize("bad", [dict(lr=0.0), dict(lr=-1.0), dict(lr=float("nan")), dict(momentum=1.0)])
def test_bad_hyperparameters_are_refused(bad):
    with pytest.raises(ValueError, match="SGD"):
        SGD([am.Parameter([1.0])], **{"lr": 0.1, **bad})


def test_non_parameters_are_refused():
    with pytest.raises(TypeError, match="leaf tensors"):
        SGD([am.Tensor([1.0])], lr=0.1)
    with pytest.raises(ValueError, match="empty"):
        Adam([], lr=0.1)
