"""The HTML page in a real browser: headless Chromium zooms, pans, fits and shows tooltips, and runs nothing injected.

No webdriver: Chromium loads a small harness page (``--dump-dom``) that holds the page under test
in a sandboxed iframe (scripts, same origin, but no ``allow-modals``: an injected ``alert`` could
not block, Chromium would log that it ignored it). When the page has loaded, the harness sends it
a wheel event, a drag, a hover, the ``f`` key and a click on "fit", and writes what it saw (the
layer's transform after each, the tooltip, counts of elements) as JSON into its own DOM, which
``--dump-dom`` prints. Every console message of either page reaches stderr through
``--enable-logging=stderr --v=0``: the test wants none but the harness's own marker (which shows
that the console does reach stderr); an error, a CSP violation or an ignored alert would each be one.

Skipped when Chromium is not installed, unless the environment variable CI is set (``.ci/run``
installs it): there a missing Chromium fails.
"""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from viz.render import Diagram, quote

PAYLOADS = ("</script><script>alert(1)</script>", "<img src=x onerror=alert(1)>")
# Chromium's note about the harness's own iframe attributes, the one console line that is not the page's.
SANDBOX_NOTE = "An iframe which has both allow-scripts and allow-same-origin for its sandbox attribute"
MARKER = "vz-harness-marker"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--allow-file-access-from-files", "--enable-logging=stderr", "--v=0", "--window-size=1000,700",
         "--virtual-time-budget=4000", "--dump-dom"]


def find_chromium() -> str | None:
    explicit = os.environ.get("CHROMIUM")   # a browser of your choice, by name or path
    if explicit:
        return shutil.which(explicit)
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


@pytest.fixture(scope="module")
def chromium() -> str:
    exe = find_chromium()
    if exe is None:
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail("Chromium is not installed, and CI is set: .ci/run should have installed it "
                        "(apt-get install chromium)")
        pytest.skip("Chromium is not installed (apt-get install chromium); under CI this fails")
    return exe


HARNESS = r"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>harness</title></head>
<body style="margin:0">
<pre id="result">pending</pre>
<iframe id="page" src="page.html" sandbox="allow-scripts allow-same-origin" width="900" height="600"></iframe>
<script>
(function () {
  var frame = document.getElementById('page');
  var result = document.getElementById('result');
  frame.addEventListener('load', function () {
    var out = {errors: []};
    try {
      var win = frame.contentWindow, doc = frame.contentDocument;
      win.addEventListener('error', function (e) { out.errors.push(String(e.message)); });
      var svg = doc.querySelector('#vz-view > svg');
      var layer = svg.querySelector('g.vz-layer');
      var box = svg.getBoundingClientRect();
      function tr() { return layer.getAttribute('transform'); }
      function at(type, Ctor, x, y, extra) {
        var init = {bubbles: true, cancelable: true, clientX: box.left + x, clientY: box.top + y, button: 0,
                    pointerId: 1, isPrimary: true, pointerType: 'mouse'};
        for (var k in (extra || {})) { init[k] = extra[k]; }
        return new Ctor(type, init);
      }
      out.title = doc.title;
      out.svgs = doc.querySelectorAll('svg').length;
      out.nodes = svg.querySelectorAll('g.node[data-tip]').length;
      out.edges = svg.querySelectorAll('g.edge[data-tip]').length;
      out.box = [box.width, box.height];
      out.fitted = tr();
      var ok = svg.dispatchEvent(at('wheel', win.WheelEvent, 200, 150, {deltaY: -300, deltaMode: 0}));
      out.wheel_default_prevented = !ok;
      out.zoomed = tr();
      svg.dispatchEvent(at('pointerdown', win.PointerEvent, 300, 200));
      win.dispatchEvent(at('pointermove', win.PointerEvent, 330, 240));
      win.dispatchEvent(at('pointermove', win.PointerEvent, 350, 260));
      win.dispatchEvent(at('pointerup', win.PointerEvent, 350, 260));
      out.panned = tr();
      var target = svg.querySelector('g.node[data-tip] polygon, g.node[data-tip] ellipse, g.node[data-tip] path');
      var group = target.closest('[data-tip]');
      var r = target.getBoundingClientRect();
      target.dispatchEvent(new win.PointerEvent('pointerover', {bubbles: true, clientX: r.left + 2, clientY: r.top + 2}));
      var tip = doc.getElementById('vz-tip');
      out.tip_shown = !tip.hidden;
      out.tip_text = tip.textContent;
      out.tip_wanted = group.getAttribute('data-tip');
      out.tip_children = tip.children.length;
      svg.dispatchEvent(new win.PointerEvent('pointerleave', {bubbles: false}));
      out.tip_hidden_after = tip.hidden;
      doc.dispatchEvent(new win.KeyboardEvent('keydown', {key: 'f', bubbles: true, cancelable: true}));
      out.after_key_f = tr();
      svg.dispatchEvent(at('wheel', win.WheelEvent, 100, 100, {deltaY: 500, deltaMode: 0}));
      out.zoomed_out = tr();
      doc.getElementById('vz-fit').click();
      out.after_fit_button = tr();
      out.scripts = doc.querySelectorAll('script').length;
      out.imgs = doc.querySelectorAll('img, image, iframe, object, embed, foreignObject').length;
      var handlers = 0, all = doc.querySelectorAll('*');
      for (var i = 0; i < all.length; i++) {
        for (var j = 0; j < all[i].attributes.length; j++) {
          if (/^on/i.test(all[i].attributes[j].name)) { handlers++; }
        }
      }
      out.handlers = handlers;
    } catch (e) {
      out.errors.push('harness: ' + e);
    }
    result.textContent = JSON.stringify(out);
    console.info('vz-harness-marker');   // proves the console reaches stderr, so "nothing logged" means something
  });
})();
</script>
</body></html>
"""


def tooltip_dot() -> str:
    a, b = PAYLOADS
    lines = ["digraph G {", "  node [shape=box, style=rounded];"]
    lines.append(f"  x [label={quote(a)}, tooltip={quote('matmul: shape (2, 3)' + chr(10) + 'grad norm 1.5e-03' + chr(10) + a)}];")
    lines.append(f"  y [label={quote(b)}, tooltip={quote(b)}];")
    lines.append(f"  subgraph cluster_0 {{ label={quote(a)}; tooltip={quote(b)}; z [label=\"z\", tooltip=\"z: sigmoid\"]; }}")
    lines.append(f"  x -> y [tooltip={quote('grad ' + b)}];")
    lines.append(f"  y -> z [tooltip={quote('grad ' + a)}];")
    for i in range(8):
        lines.append(f"  z -> w{i} [tooltip=\"edge {i}\"]; w{i} [tooltip=\"w{i}\"];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def transform(text: str) -> tuple[float, float, float]:
    m = re.fullmatch(r"translate\((-?[\d.]+) (-?[\d.]+)\) scale\(([\d.e+-]+)\)", text)
    assert m, text
    x, y, k = (float(v) for v in m.groups())
    return x, y, k


def test_the_page_zooms_pans_fits_and_shows_tooltips_in_chromium(chromium, tmp_path):
    caption = "tooltips " + PAYLOADS[0]
    Diagram(tooltip_dot(), caption=caption).save(tmp_path / "page.html")
    (tmp_path / "harness.html").write_text(HARNESS, encoding="utf-8")
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=tmp_path)
    cmd = [chromium, *FLAGS, f"--user-data-dir={profile}", (tmp_path / "harness.html").as_uri()]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail("Chromium did not finish in 60 s: did a dialog (an injected alert) block the page?")
    stdout = proc.stdout.decode("utf-8", errors="replace")
    stderr = proc.stderr.decode("utf-8", errors="replace")
    m = re.search(r'<pre id="result">(.*?)</pre>', stdout, re.S)
    assert m, f"Chromium printed no result (exit {proc.returncode}):\n{stdout[-2000:]}\n{stderr[-3000:]}"
    assert m.group(1) != "pending", f"the page never loaded:\n{stderr[-3000:]}"
    out = json.loads(html.unescape(m.group(1)))

    console = [line for line in re.findall(r":CONSOLE[^\]]*\] (.*)", stderr) if SANDBOX_NOTE not in line]
    assert any(MARKER in line for line in console), f"Chromium's console did not reach stderr:\n{stderr[-3000:]}"
    console = [line for line in console if MARKER not in line]
    assert console == [], "the console logged:\n" + "\n".join(console)
    assert out["errors"] == []

    # the SVG is in the page, with a tooltip on every node and edge
    assert out["title"] == caption and out["svgs"] == 1
    assert out["nodes"] == 11 and out["edges"] == 10
    # fitted to the window at load
    x0, y0, k0 = transform(out["fitted"])
    assert k0 > 0 and out["box"][0] > 500
    # the wheel zooms about the pointer: the picture point under it stays under it
    assert out["wheel_default_prevented"]
    x1, y1, k1 = transform(out["zoomed"])
    assert k1 > k0 * 1.2
    assert (200 - x0) / k0 == pytest.approx((200 - x1) / k1, abs=0.05)
    assert (150 - y0) / k0 == pytest.approx((150 - y1) / k1, abs=0.05)
    # a drag pans by the distance dragged, at the same zoom
    x2, y2, k2 = transform(out["panned"])
    assert k2 == pytest.approx(k1) and x2 - x1 == pytest.approx(50, abs=0.02) and y2 - y1 == pytest.approx(60, abs=0.02)
    # the tooltip box shows the DOT tooltip as text
    assert out["tip_shown"] and out["tip_text"] == out["tip_wanted"] and out["tip_children"] == 0
    assert any(p in out["tip_text"] for p in PAYLOADS)
    assert out["tip_hidden_after"]
    # "f" and the fit button fit again
    assert transform(out["after_key_f"]) == pytest.approx((x0, y0, k0))
    assert transform(out["zoomed_out"])[2] < k0
    assert transform(out["after_fit_button"]) == pytest.approx((x0, y0, k0))
    # the injection strings did nothing: our one script, no image, no handler
    assert out["scripts"] == 1 and out["imgs"] == 0 and out["handlers"] == 0
