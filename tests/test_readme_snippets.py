"""The Python snippets in the README run as written."""
from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_snippets_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # they write into out/
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 3
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    namespace["test_cube"]()  # the property-based test the README shows, run by hypothesis
    assert namespace["W"].grad.shape == (3, 3)
    assert (tmp_path / "out" / "unrolled.svg").stat().st_size > 0
