"""Recording state is per thread and per asyncio task (issue 11, item 5).

Each test forces the overlap it is about with events and barriers, so a shared state would
fail it every time, not only when the scheduler happens to interleave the threads.
"""
from __future__ import annotations

import asyncio
import sys
import threading
import xml.dom.minidom

import numpy as np
import pytest
import autograd_mini as am
import models
import viz


@pytest.fixture(autouse=True)
def _switch_often():
    """Switch threads every few microseconds (not every 5 ms): an unguarded read-add-write of a
    .grad, or a state one thread changes under another, then goes wrong in every run."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(interval)


def _run(*targets):
    """Run the functions in threads; re-raise the first error any of them hit."""
    errors = []

    def guarded(f):
        def run():
            try:
                f()
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)
        return run

    threads = [threading.Thread(target=guarded(f)) for f in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]


def test_no_grad_in_one_thread_does_not_stop_another_recording():
    inside, done = threading.Event(), threading.Event()
    W = am.Parameter([1.0, 2.0], name="W")

    def quiet():
        with am.no_grad():
            inside.set()
            assert done.wait(10)
            assert not (W * 3.0).requires_grad

    def training():
        assert inside.wait(10)
        (W * W).sum().backward()
        done.set()

    _run(quiet, training)
    np.testing.assert_array_equal(W.grad, [2.0, 4.0])


def test_a_running_backward_does_not_switch_recording_off_elsewhere():
    in_backward, recorded = threading.Event(), threading.Event()

    @am.primitive
    def slow_identity(x):
        return x

    def vjp(g, ans, x):
        in_backward.set()           # the other thread records while this backward runs
        assert recorded.wait(10)
        return g

    am.defvjp(slow_identity, vjp)
    seen = {}

    def backwarding():
        x = am.Tensor([1.0], requires_grad=True)
        slow_identity(x).sum().backward()
        seen["grad"] = x.grad

    def recording():
        assert in_backward.wait(10)
        y = am.Tensor([2.0], requires_grad=True)
        seen["requires_grad"] = (y * y).requires_grad
        recorded.set()

    _run(backwarding, recording)
    assert seen == {"grad": np.array([1.0]), "requires_grad": True}


def test_a_tape_and_a_scope_see_only_their_own_threads_ops():
    opened, other_done = threading.Event(), threading.Event()
    tapes = {}

    def mine():
        with am.Tape() as tape, am.scope("mine", step=0):
            opened.set()
            assert other_done.wait(10)
            am.tanh(am.Tensor([1.0], requires_grad=True))
        tapes["mine"] = tape

    def other():
        assert opened.wait(10)
        with am.Tape() as tape:
            x = am.Tensor([1.0], requires_grad=True)
            (x * 2.0).sum()
        tapes["other"] = tape
        other_done.set()

    _run(mine, other)
    assert [n.op for n in tapes["mine"]] == ["tanh"]
    assert [str(f) for f in tapes["mine"].nodes[0].scope] == ["mine step 0"]
    assert [n.op for n in tapes["other"]] == ["multiply", "sum"]
    assert all(n.scope == () for n in tapes["other"])


def test_anomaly_mode_is_per_thread():
    inside, done = threading.Event(), threading.Event()
    out = {}

    def strict():
        with am.detect_anomaly():
            inside.set()
            assert done.wait(10)

    def relaxed():
        assert inside.wait(10)
        with np.errstate(divide="ignore"):
            out["log"] = am.log(am.Tensor([0.0], requires_grad=True)).value  # no FloatingPointError here
        done.set()

    _run(strict, relaxed)
    assert out["log"][0] == -np.inf


def test_asyncio_tasks_each_have_their_own_grad_mode_and_scope():
    async def quiet(started, finish):
        with am.no_grad(), am.scope("quiet"):
            started.set()
            await finish.wait()
            return (am.Parameter([1.0]) * 2.0).requires_grad

    async def loud(started, finish):
        await started.wait()
        w = am.Parameter([1.0], name="w")
        with am.Tape() as tape:
            y = w * 2.0
        finish.set()
        return y.requires_grad, [n.scope for n in tape]

    async def main():
        started, finish = asyncio.Event(), asyncio.Event()
        return await asyncio.gather(quiet(started, finish), loud(started, finish))

    quiet_grad, (loud_grad, scopes) = asyncio.run(main())
    assert quiet_grad is False and loud_grad is True and scopes == [()]


def test_threads_adding_into_one_leafs_grad_lose_no_update():
    W = am.Parameter(np.ones(3), name="W")
    n_threads, n_steps = 4, 300
    start = threading.Barrier(n_threads)

    def worker():
        start.wait()
        for _ in range(n_steps):
            (W * np.array([1.0, 2.0, 3.0])).sum().backward()

    _run(*[worker] * n_threads)
    np.testing.assert_array_equal(W.grad, n_threads * n_steps * np.array([1.0, 2.0, 3.0]))


def test_record_numbers_stay_unique_across_threads():
    start = threading.Barrier(3)
    seqs = []

    def worker():
        start.wait()
        x = am.Tensor([1.0], requires_grad=True)
        with am.Tape() as tape:
            for _ in range(300):
                x = am.tanh(x)
        seqs.extend(n.index for n in tape)

    _run(*[worker] * 3)
    assert len(seqs) == 900 and len(set(seqs)) == 900


def _train(seed, steps=15):
    net = models.ElmanRNN(2, 3, 1, seed=seed)
    hist = models.train(net, models.tasks.BinaryAddition(bits=3), steps=steps, seed=seed, progress=False)
    return hist.loss, {p.name: p.value.copy() for p in net.parameters()}


def test_separate_models_in_threads_train_as_they_do_alone():
    want = {seed: _train(seed) for seed in range(3)}
    got = {}
    start = threading.Barrier(3)

    def worker(seed):
        def run():
            start.wait()
            got[seed] = _train(seed)
        return run

    _run(*[worker(s) for s in range(3)])
    for seed in range(3):
        assert got[seed][0] == want[seed][0]
        for name, value in want[seed][1].items():
            np.testing.assert_array_equal(got[seed][1][name], value)


def test_one_model_trained_recorded_and_drawn_by_threads_at_once():
    """One thread trains the net while another records it on a keep_grads tape, takes gradients
    without touching .grad, and draws them, and a third predicts under no_grad. The trainer's
    run is exactly the one it makes alone; every drawing is well-formed and adds up."""
    alone = _train(0, steps=25)
    net = models.ElmanRNN(2, 3, 1, seed=0)
    task = models.tasks.BinaryAddition(bits=3)
    start = threading.Barrier(3)
    trained, svgs, predictions = {}, [], []

    def trainer():
        start.wait()
        hist = models.train(net, task, steps=25, seed=0, progress=False)
        trained["loss"] = hist.loss

    def drawer():
        start.wait()
        batch = task.sample(np.random.default_rng(1), 4, None)
        for _ in range(3):
            with am.Tape(keep_grads=True) as tape:
                loss = models.sequence_loss(net(batch.x), batch, task.loss)
            W = net["W_hh"]
            (g,) = am.gradients(loss, [W])
            uses = [n for n in tape if any(a is W for a in n.inputs)]
            total = sum(n.input_grads[[a is W for a in n.inputs].index(True)] for n in uses)
            np.testing.assert_allclose(total, g, rtol=1e-12, atol=1e-15)
            svgs.append(viz.draw(tape).pipe("svg").decode())

    def predictor():
        start.wait()
        x = task.sample(np.random.default_rng(2), 4, None).x
        for _ in range(20):
            with am.no_grad():
                predictions.append(net(x).value)

    _run(trainer, drawer, predictor)
    assert trained["loss"] == alone[0]
    for p in net.parameters():
        np.testing.assert_array_equal(p.value, alone[1][p.name])
    assert len(svgs) == 3 and len(predictions) == 20
    for svg in svgs:
        xml.dom.minidom.parseString(svg)
    assert all(p.shape == predictions[0].shape and np.isfinite(p).all() for p in predictions)


def test_the_embedded_renderer_is_safe_from_several_threads():
    from viz.render import render

    sources = [f'digraph {{ a{i} -> b{i} -> c{i}; a{i} [label="node {i}"] }}' for i in range(6)]
    want = [render(s, "svg", prefer="embedded") for s in sources]
    got = [None] * len(sources)
    start = threading.Barrier(len(sources))

    def worker(i):
        def run():
            start.wait()
            for _ in range(3):
                got[i] = render(sources[i], "svg", prefer="embedded")
        return run

    _run(*[worker(i) for i in range(len(sources))])
    assert got == want


def test_one_no_grad_object_entered_by_two_threads_restores_each_threads_mode():
    NG = am.no_grad()
    a_in, b_done = threading.Event(), threading.Event()
    modes = {}

    def a():
        with NG:
            a_in.set()
            assert b_done.wait(10)
            modes["a inside"] = am.recording.current().grad_enabled
        modes["a after"] = am.recording.current().grad_enabled

    def b():
        assert a_in.wait(10)
        with NG:
            modes["b inside"] = am.recording.current().grad_enabled
        modes["b after"] = am.recording.current().grad_enabled
        b_done.set()

    _run(a, b)
    assert modes == {"a inside": False, "a after": True, "b inside": False, "b after": True}


def test_a_tape_exited_in_another_thread_records_no_more():
    tape = am.Tape()
    ops = {}

    def entering_thread():
        tape.__enter__()
        x = am.Tensor([1.0], requires_grad=True)
        am.tanh(x)
        _run(lambda: tape.__exit__(None, None, None))  # closed from elsewhere
        am.exp(x)                                      # this thread's state still lists the tape
        ops["seen"] = [n.op for n in tape]

    _run(entering_thread)
    assert ops["seen"] == ["tanh"]


def test_no_grad_on_a_generator_function_holds_while_it_runs_and_not_between():
    w = am.Parameter([1.0], name="w")

    @am.no_grad()
    def steps(n):
        for _ in range(n):
            got = yield (w * 2.0).requires_grad
            assert got is None or got == "hello"
        return "done"

    gen = steps(3)
    assert next(gen) is False
    assert (w * 2.0).requires_grad                 # between resumptions the caller's mode holds
    assert gen.send("hello") is False
    with pytest.raises(StopIteration) as stop:
        next(gen), next(gen)
    assert stop.value.value == "done"
    assert am.recording.current().grad_enabled

    @am.no_grad()
    def catching():
        try:
            yield 1
        except KeyError:
            yield (w * 2.0).requires_grad

    g = catching()
    next(g)
    assert g.throw(KeyError("x")) is False         # handled inside the generator, in no_grad
    g.close()
    assert am.recording.current().grad_enabled
