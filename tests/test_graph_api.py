"""The engine's public graph API: am.graph_of walks what made a tensor (before and after backward),
am.tag names tensors for the drawings."""
import numpy as np
import pytest

import autograd_mini as am


def _unroll(steps: int = 3):
    W = am.Parameter(np.eye(2) * 0.5, name="W_hh")
    h = am.tag(np.full((1, 2), 0.5), "h0")
    for t in range(steps):
        with am.scope("rnn", step=t):
            h = am.tag(am.tanh(h @ W), "h", t)
    return W, (h ** 2).sum()


def _structure(nodes):
    index = {id(n): i for i, n in enumerate(nodes)}
    return [(n.op, n.shape, n.step, None if n.tag is None else str(n.tag),
             tuple(("node", index[id(p)]) if isinstance(p, am.GraphNode) else
                   ("tensor", p.name or str(p.tag)) if isinstance(p, am.Tensor) else ("const", repr(p))
                   for p in n.inputs)) for n in nodes]


def test_graph_of_a_loss_is_the_same_before_and_after_backward():
    W, loss = _unroll()
    before = _structure(am.graph_of(loss))
    loss.backward()
    after = _structure(am.graph_of(loss))
    assert before == after
    assert [op for op, *_ in after] == ["matmul", "tanh"] * 3 + ["power", "sum"]
    assert after[0][4] == (("tensor", "h0"), ("tensor", "W_hh"))
    assert after[2][4][0] == ("node", 1)           # step 1 reads step 0's tanh
    assert [s for _, _, s, _, _ in after] == [0, 0, 1, 1, 2, 2, None, None]
    assert [tg for *_, tg, _ in after][1::2][:3] == ["h_0", "h_1", "h_2"]


def test_backward_still_frees_the_saved_values():
    W, loss = _unroll()
    loss.backward()
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()
    assert all(n.value is None for n in am.graph_of(loss)[:-1])  # only the root's own value is known


def test_graph_of_a_tape_carries_the_kept_gradients():
    W = am.Parameter(np.array([[2.0]]), name="W")
    with am.Tape(keep_grads=True) as tape:
        y = am.tag((np.array([[3.0]]) @ W), "y")
        loss = (y * y).sum()
    nodes = am.graph_of(tape)
    assert [n.op for n in nodes] == ["matmul", "multiply", "sum"]
    assert nodes[0].input_grads is not None and nodes[0].input_grads[1] is None  # before backward
    loss.backward()
    nodes = am.graph_of(tape)
    assert nodes[1].inputs[0] is nodes[0] and nodes[1].inputs[1] is nodes[0]
    assert str(nodes[0].tag) == "y"
    np.testing.assert_allclose(nodes[0].input_grads[1], [[36.0]])   # d(9 W^2)/dW = 18 W
    np.testing.assert_allclose(nodes[2].output_grad, 1.0)
    with am.Tape() as plain:
        (W * 2.0).sum()
    assert am.graph_of(plain)[0].input_grads is None                 # not kept: None, not zeros


def test_tag_names_arrays_leaves_and_recorded_tensors():
    x = np.ones((1, 2))
    t = am.tag(x, "x", 4)
    assert isinstance(t, am.Tensor) and str(t.tag) == "x_4" and not t.requires_grad
    x[0, 0] = 7.0
    assert t.value[0, 0] == 1.0                  # a copy: a later write to the array is not seen
    W = am.Parameter(np.eye(2), name="W")
    y = am.tag(t @ W, "y", 4)
    assert y is am.tag(y, "y", 4)
    assert str(am.graph_of(y)[0].tag) == "y_4"
    with pytest.raises(TypeError, match="tag: name must be a str"):
        am.tag(y, 5)
    with pytest.raises(TypeError, match="tag: index"):
        am.tag(y, "y", 1.5)


def test_graph_of_refuses_other_things():
    assert am.graph_of(am.Tensor([1.0])) == []   # a leaf: nothing made it
    with pytest.raises(TypeError, match="graph_of: expected a Tensor or a Tape"):
        am.graph_of(np.ones(2))


def test_an_op_on_named_constants_is_recorded_for_the_drawings_and_sends_no_gradient():
    W = am.Parameter(np.ones((3, 2)), name="W")
    x0, h0 = am.tag(np.ones((1, 1)), "x", 0), am.tag(np.zeros((1, 2)), "h0")
    xh = am.concatenate([x0, h0], axis=1)
    assert not xh.requires_grad and xh.op == "concatenate"
    loss = am.sum(xh @ W)
    loss.backward()
    nodes = am.graph_of(loss)
    assert [n.op for n in nodes] == ["concatenate", "matmul", "sum"]
    assert nodes[0].inputs == (x0, h0)
    np.testing.assert_allclose(W.grad, np.ones((1, 3)).T @ np.ones((1, 2)) * np.array([[1.0], [0.0], [0.0]]))
    with am.no_grad():
        assert am.concatenate([x0, h0], axis=1).op is None    # nothing recorded without grad mode
    assert (am.Tensor(np.ones(2)) * 2.0).op is None           # nor for unnamed constants


def test_a_named_constant_stays_a_constant_in_second_order_and_a_freed_graph_is_refused():
    W = am.Parameter(np.array([[0.5, -0.2], [0.1, 0.3]]), name="W")
    c = am.tanh(am.tag(np.array([[1.0, 2.0]]), "x", 0))   # recorded for the drawings, no gradient
    for _ in range(2):                                      # reused: once freed it must not be visited
        W.grad = None
        (g,) = am.gradients(am.tanh(c @ W).sum(), [W], create_graph=True)
        (g * g).sum().backward()
        assert W.grad is not None and np.isfinite(W.grad).all()
    h = am.tag(np.ones((1, 2)) @ W, "h", 0)
    assert str(h.tag) == "h_0"                              # the tensor carries its tag too
    loss = (h * 3).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="second time"):
        am.gradients(loss, [W])                             # not silently zeros


def test_a_keep_grads_tape_makes_no_reference_cycles():
    import gc

    W = am.Parameter(np.eye(3) * 0.5, name="W")
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(20):
            with am.Tape(keep_grads=True) as tape:
                h = am.tag(np.ones((2, 3)), "h0")
                for t in range(5):
                    with am.scope("rnn", step=t):
                        h = am.tanh(h @ W)
                loss = am.sum(h)
            loss.backward()
            assert len(am.graph_of(tape)) == 11
            del tape, h, loss
        assert gc.collect() == 0     # everything went when its last reference did
    finally:
        if was:
            gc.enable()
