"""custom_vjp: several outputs, one gradient rule with residuals (issue 12, item 4)."""
from __future__ import annotations

import numpy as np
import pytest

import autograd_mini as am
from autograd_mini.testing import gradcheck, gradgradcheck

H = 3


def _gates(z):
    return (am.sigmoid(z[:, :H]), am.sigmoid(z[:, H:2 * H]), am.tanh(z[:, 2 * H:3 * H]), am.sigmoid(z[:, 3 * H:]))


def cell_unfused(z, c):
    i, f, g, o = _gates(z)
    c_new = f * c + i * g
    return o * am.tanh(c_new), c_new


@am.custom_vjp
def cell(z, c):
    return cell_unfused(z, c)


def cell_fwd(z, c):
    i, f, g, o = _gates(z)
    c_new = f * c + i * g
    tc = am.tanh(c_new)
    return (o * tc, c_new), (i, f, g, o, c, tc)


def cell_bwd(res, cot):
    i, f, g, o, c, tc = res
    gh, gc = cot
    dc = 0.0 if gc is None else gc
    do = 0.0
    if gh is not None:
        dc = dc + gh * o * (1.0 - tc * tc)
        do = gh * tc
    di, df, dg = dc * g, dc * c, dc * i
    dz = am.concatenate([di * i * (1.0 - i), df * f * (1.0 - f), dg * (1.0 - g * g), do * o * (1.0 - o)], axis=1)
    return dz, dc * f


cell.defvjp(cell_fwd, cell_bwd)

rng = np.random.default_rng(0)
Z, C = rng.normal(size=(2, 4 * H)), rng.normal(size=(2, H))


def test_a_fused_cell_has_the_gradients_of_its_unfused_ops():
    for use in (lambda h, c: (h * h).sum() + (c * 3.0).sum(), lambda h, c: h.sum(), lambda h, c: c.sum()):
        grads = []
        for f in (cell, cell_unfused):
            z, c = am.Tensor(Z, requires_grad=True), am.Tensor(C, requires_grad=True)
            use(*f(z, c)).backward()
            grads.append((z.grad, c.grad))
        np.testing.assert_allclose(grads[0][0], grads[1][0], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(grads[0][1], grads[1][1], rtol=1e-12, atol=1e-14)


def test_gradcheck_and_gradgradcheck():
    assert gradcheck(lambda z, c: cell(z, c), Z, C)
    assert gradgradcheck(lambda z, c: cell(z, c), Z, C)
    assert gradgradcheck(lambda z, c: cell(z, c)[0], Z, C)  # one output unused


def test_a_chain_of_cells_through_time_is_checked_too():
    def unroll(z, c):
        h = None
        for t in range(3):
            h, c = cell(z * (t + 1.0), c)
        return h

    assert gradcheck(unroll, Z, C)


def test_under_no_grad_it_is_the_plain_function_and_outputs_are_constants():
    z = am.Tensor(Z, requires_grad=True)
    with am.no_grad():
        h, c = cell(z, am.Tensor(C))
    assert not h.requires_grad and not c.requires_grad
    np.testing.assert_allclose(h.value, cell_unfused(am.Tensor(Z), am.Tensor(C))[0].value)
    h2, _ = cell(Z, C)                              # numpy in, numpy out
    assert type(h2) is np.ndarray


def test_clear_errors():
    @am.custom_vjp
    def two(x):
        return x * 2.0, x * 3.0

    x = am.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(NotImplementedError, match="two.defvjp"):
        two(x)
    two.defvjp(lambda x: ((x * 2.0, x * 3.0), ()), lambda res, cot: (np.ones(5),))
    a, b = two(x)
    with pytest.raises(ValueError, match=r"two: bwd's gradient for input 0 has shape \(5,\), the input \(2,\)"):
        (a + b).sum().backward()
    two.defvjp(lambda x: ((x * 2.0, x * 3.0), ()), lambda res, cot: (cot[0], cot[1]))
    a, b = two(x)
    with pytest.raises(ValueError, match="two: bwd returned 2 gradients for 1 inputs"):
        (a + b).sum().backward()
    assert a.op == "two[0]" and b.op == "two[1]"
    two.defvjp(lambda x: ((x * 2.0, x * 3.0), ()),
               lambda res, cot: (2.0 * cot[0] + (0.0 if cot[1] is None else 3.0 * cot[1]),))
    y = am.Tensor([1.0, 2.0], requires_grad=True)
    a, b = two(y)
    a.sum().backward()
    np.testing.assert_array_equal(y.grad, [2.0, 2.0])
    with pytest.raises(RuntimeError, match="second time"):
        a.sum().backward()


def _on_tape(f, use, keep_grads=True):
    z, c = am.Tensor(Z, requires_grad=True), am.Tensor(C, requires_grad=True)
    with am.Tape(keep_grads=keep_grads) as tape:
        h, c_new = f(z, c)
        loss = use(h, c_new)
    loss.backward()
    return tape, z, c, h, c_new


def test_a_tape_shows_one_node_per_output_read_from_every_input():
    tape, z, c, h, c_new = _on_tape(cell, lambda h, c: (h * h).sum() + (c * 3.0).sum(), keep_grads=False)
    cells = [n for n in tape if n.op.startswith("cell")]
    assert [n.op for n in cells] == ["cell[0]", "cell[1]"]
    assert [n.output for n in cells] == [h, c_new] and all(n.inputs == (z, c) for n in cells)
    graph = am.graph_of(tape)  # the squares read the cell's nodes: the drawing links them
    users = [g for g in graph if g.op == "multiply"]
    assert {g.inputs[0].op for g in users} == {"cell[0]", "cell[1]"}


def test_keep_grads_gives_each_output_its_own_share_of_every_input_gradient():
    use = lambda h, c: (h * h).sum() + (c * 3.0).sum()  # noqa: E731
    tape, z, c, h, c_new = _on_tape(cell, use)
    n0, n1 = [n for n in tape if n.op.startswith("cell")]
    np.testing.assert_allclose(n0.output_grad, 2 * h.value, rtol=1e-12)
    np.testing.assert_allclose(n1.output_grad, np.full(C.shape, 3.0), rtol=1e-12)
    # the shares add up to the inputs' gradients...
    np.testing.assert_allclose(n0.input_grads[0] + n1.input_grads[0], z.grad, rtol=1e-12)
    np.testing.assert_allclose(n0.input_grads[1] + n1.input_grads[1], c.grad, rtol=1e-12)
    # ...and each is what that output alone sends, as the unfused ops give it
    for k, part in ((0, lambda h, c: (h * h).sum()), (1, lambda h, c: (c * 3.0).sum())):
        _, uz, uc, _, _ = _on_tape(cell_unfused, part)
        node = (n0, n1)[k]
        np.testing.assert_allclose(node.input_grads[0], uz.grad, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(node.input_grads[1], uc.grad, rtol=1e-10, atol=1e-12)


def test_an_output_no_gradient_reached_and_a_constant_input_have_no_share():
    z, c = am.Tensor(Z, requires_grad=True), am.Tensor(C)  # c: a constant
    with am.Tape(keep_grads=True) as tape:
        h, _ = cell(z, c)
        loss = h.sum()
    loss.backward()
    n0, n1 = [n for n in tape if n.op.startswith("cell")]
    assert n1.output_grad is None and n1.input_grads == [None, None]
    assert n0.input_grads[1] is None
    np.testing.assert_allclose(n0.input_grads[0], z.grad, rtol=1e-12)


def test_a_drawing_of_the_tape_shows_the_fused_op():
    import viz
    tape, *_ = _on_tape(cell, lambda h, c: (h * h).sum() + (c * 3.0).sum())
    dot = viz.draw(tape).source
    assert "cell[0]" in dot and "cell[1]" in dot


def test_a_tag_on_an_output_reaches_its_tape_node():
    z = am.Tensor(Z, requires_grad=True)
    with am.Tape() as tape:
        h, c_new = cell(z, am.Tensor(C))
        am.tag(h, "h", 2)
        am.tag(c_new, "c", 2)
    assert [str(n.tag) for n in tape] == ["h_2", "c_2"]


def test_keep_grads_never_hands_bwd_a_none_for_an_output_that_got_a_gradient():
    # A bwd written for a model that uses every output may not handle None: the per-output
    # shares are taken with zeros at the other outputs (bwd is linear in them).
    @am.custom_vjp
    def sincos(x):
        return np.sin(x), np.cos(x)
    seen = []

    def bwd(res, cot):
        seen.append(tuple(g is None for g in cot))
        s, c = res
        gs, gc = cot
        return (gs * c - gc * s,)
    sincos.defvjp(lambda x: ((np.sin(x), np.cos(x)), (np.sin(x), np.cos(x))), bwd)
    grads = []
    for keep in (False, True):
        x = am.Tensor([0.0, 1.0], requires_grad=True)
        with am.Tape(keep_grads=keep) as tape:
            s, c = sincos(x)
            loss = (s + 2 * c).sum()
        loss.backward()
        grads.append(x.grad)
    assert not any(any(call) for call in seen)
    np.testing.assert_array_equal(grads[0], grads[1])
    n0, n1 = [n for n in tape if n.op.startswith("sincos")]
    np.testing.assert_allclose(n0.input_grads[0], np.cos([0.0, 1.0]), rtol=1e-12)
    np.testing.assert_allclose(n1.input_grads[0], -2 * np.sin([0.0, 1.0]), rtol=1e-12)


def test_residuals_may_be_none():
    @am.custom_vjp
    def double(x):
        return 2 * x
    double.defvjp(lambda x: (2 * x, None), lambda res, cot: (2 * cot[0],))
    x = am.Tensor([1.0, 2.0], requires_grad=True)
    double(x).sum().backward()  # None residuals are not a freed graph
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])
