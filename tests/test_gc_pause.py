"""The garbage collector pause is opt-in and always puts the collector back (issue 12, item 6)."""
from __future__ import annotations

import gc

import numpy as np
import pytest

import autograd_mini as am
import models


@pytest.fixture(autouse=True)
def _collector_on():
    was = gc.isenabled()
    gc.enable()
    yield
    (gc.enable if was else gc.disable)()


def _train(**kw):
    seen = []
    net = models.ElmanRNN(2, 3, 1, seed=0)
    hist = models.train(net, models.tasks.BinaryAddition(bits=3), steps=4, progress=False,
                        callback=lambda step, loss: seen.append(gc.isenabled()), **kw)
    return hist, seen


def test_train_pauses_the_collector_only_when_asked_and_gives_the_same_run():
    plain, seen_plain = _train()
    paused, seen_paused = _train(pause_gc=True)
    assert seen_plain == [True] * 4 and seen_paused == [False] * 4
    assert gc.isenabled()
    assert paused.loss == plain.loss


def test_train_leaves_a_collector_the_caller_disabled_disabled():
    gc.disable()
    _train(pause_gc=True)
    assert not gc.isenabled()


def test_train_restores_the_collector_after_an_error():
    def boom(step, loss):
        raise KeyboardInterrupt

    net = models.ElmanRNN(2, 3, 1, seed=0)
    with pytest.raises(KeyboardInterrupt):
        models.train(net, models.tasks.BinaryAddition(bits=3), steps=3, progress=False, callback=boom, pause_gc=True)
    assert gc.isenabled()


def test_value_and_grad_pauses_the_collector_while_it_runs_when_asked():
    seen = []

    def f(x):
        seen.append(gc.isenabled())
        return (x * x).sum()

    x = np.array([1.0, 2.0])
    v1, g1 = am.value_and_grad(f)(x)
    v2, g2 = am.value_and_grad(f, pause_gc=True)(x)
    assert seen == [True, False] and gc.isenabled()
    assert v1 == v2 and np.array_equal(g1, g2)


def test_paused_gc_nests_and_decorates():
    @am.paused_gc()
    def inner():
        with am.paused_gc():
            assert not gc.isenabled()
        return gc.isenabled()

    assert inner() is False and gc.isenabled()
    with am.paused_gc(False):
        assert gc.isenabled()


def test_paused_gc_false_leaves_a_collector_the_block_disabled_alone():
    with am.paused_gc(False):
        gc.disable()
    assert not gc.isenabled()
