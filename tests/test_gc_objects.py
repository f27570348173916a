"""A recorded op leaves at most one object for Python's garbage collector, and a 10,000-step
forward runs at most one full collection (issue 12, item 1).

Counted in a fresh process that imports only numpy and the engine, after a forward, before
backward, with the collector off so that nothing is untracked behind the count's back.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROGRAM = r'''
import gc, json, sys
import numpy as np
import autograd_mini as am

rng = np.random.default_rng(0)

def elman(T=200):
    W_xh, W_hh = am.Parameter(rng.normal(size=(2, 3))), am.Parameter(rng.normal(size=(3, 3)))
    b, W_hy = am.Parameter(np.zeros(3)), am.Parameter(rng.normal(size=(3, 1)))
    xs, ys = rng.normal(size=(T, 32, 2)), rng.normal(size=(T, 32, 1))
    def forward():
        h, loss = np.full((32, 3), 0.5), None
        for t in range(T):
            h = am.sigmoid(xs[t] @ W_xh + h @ W_hh + b)
            d = am.sigmoid(h @ W_hy) - ys[t]
            term = (d * d).sum()
            loss = term if loss is None else loss + term
        return loss
    return forward

def lstm(T=50, n=8):
    W_x, W_h, b = (am.Parameter(rng.normal(size=s)) for s in ((4, 4 * n), (n, 4 * n), (4 * n,)))
    xs = rng.normal(size=(T, 2, 4))
    gates = [(slice(None), slice(k * n, (k + 1) * n)) for k in range(4)]
    def forward():
        h = c = np.zeros((2, n))
        for t in range(T):
            z = am.matmul(am.concatenate([xs[t], h], 1), am.concatenate([W_x, W_h], 0)) + b
            i, f, o = (am.sigmoid(z[s]) for s in (gates[0], gates[1], gates[3]))
            c = f * c + i * am.tanh(z[gates[2]])
            h = o * am.tanh(c)
        return (h * h).sum()
    return forward

out = {}
for name, make in (("elman", elman), ("lstm", lstm)):
    forward = make()
    forward().backward()                      # warm up: interned shapes, caches
    gc.collect()
    gc.disable()
    before = len(gc.get_objects())
    loss = forward()
    tracked = len(gc.get_objects()) - before
    gc.enable()
    ops = len(am.graph_of(loss))
    loss.backward()
    del loss, forward
    out[name] = {"ops": ops, "tracked": tracked}

# The 10,000-step Elman 2-8-1 forward of the speed issue: how often the collector runs in it.
W_xh, W_hh, W_hy = (am.Parameter(rng.normal(size=s)) for s in ((2, 8), (8, 8), (8, 1)))
xs, ys = rng.normal(size=(10000, 1, 2)), rng.normal(size=(10000, 1, 1))
starts = [0, 0, 0]
def count(phase, info):
    if phase == "start":
        starts[info["generation"]] += 1
def long_forward():
    h, loss = np.full((1, 8), 0.5), None
    for t in range(10000):
        h = am.sigmoid(xs[t] @ W_xh + h @ W_hh)
        d = am.sigmoid(h @ W_hy) - ys[t]
        term = (d * d).sum()
        loss = term if loss is None else loss + term
    return loss
long_forward().backward()
gc.collect()
gc.callbacks.append(count)
loss = long_forward()
gc.callbacks.remove(count)
out["long"] = {"collections": starts}
json.dump(out, sys.stdout)
'''


def test_a_forward_leaves_at_most_one_tracked_object_per_op():
    run = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr
    counts = json.loads(run.stdout)
    gen0, gen1, full = counts.pop("long")["collections"]
    assert full <= 1, f"{full} full collections during the 10,000-step forward ({gen0} young, {gen1} middle)"
    for name, c in counts.items():
        assert c["ops"] > 400, (name, c)
        # one per op, and the loss tensor the forward returns
        assert c["tracked"] <= c["ops"] + 1, f"{name}: {c['tracked']} tracked objects for {c['ops']} ops"
