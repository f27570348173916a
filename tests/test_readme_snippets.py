"""The Python snippets in the README run as written."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_snippets_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # they write into out/
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 3
    namespace: dict = {}
    for i, block in enumerate(blocks):
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own README
        if i == 0:  # the ten-line engine example
            W, tape = namespace["W"], namespace["tape"]
            uses = [n.input_grads[1] for n in tape.nodes if n.op == "matmul" and n.inputs[1] is W]
            assert len(uses) == 4
            np.testing.assert_allclose(W.grad, sum(uses), rtol=1e-12)  # the README's claim
    namespace["test_cube"]()  # the property-based test the README shows, run by hypothesis
    for name in ("four_steps.svg", "unrolled.svg"):
        assert (tmp_path / "out" / name).read_text().lstrip().startswith(("<?xml", "<svg", "<!DOCTYPE"))
