"""Names as text every output holds: DOT, SVG, HTML, GraphML and JSON.

A name (a Parameter's, a scope's, a tag's, a chart series') may be any object and any string. Two
kinds of character break the outputs: control characters (XML 1.0 forbids most of them, so the
SVG, the charts and the GraphML stop being XML; HTML calls them parse errors; Graphviz ends a
string at a NUL) and lone surrogates (no UTF-8 holds them: writing the file fails).
:func:`safe_text` is the one rule, used by :func:`viz.render.quote` (everything that reaches
DOT), :mod:`viz.charts`, :func:`viz.save_graph` and :mod:`viz.html`:

- a line break (``\\r\\n``, ``\\r``) becomes ``\\n``; newline and tab are kept;
- every other control character (C0, DEL, C1) and the non-characters (U+FDD0-U+FDEF, U+FFFE,
  U+FFFF and their like in every plane; XML or HTML refuses them) are shown the way Python writes
  them: ``\\x00``, ``\\x01``, ``\\x1b``, ``\\x7f``, ``\\x85``, ``\\ufffe``, ``\\U0001ffff`` (a backslash,
  then the code);
- a surrogate pair becomes the character it encodes, a lone surrogate U+FFFD (the replacement
  character);
- everything else, markup characters included, is kept: each output escapes those its own way.

It never escapes a backslash, so it may be applied twice (``safe_text(safe_text(s)) ==
safe_text(s)``). A name that is not a string becomes its ``str()``, or ``<unprintable T>`` when
that fails (:func:`as_text`).
"""
from __future__ import annotations

import re

__all__ = ["as_text", "safe_text"]

_CONTROL = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff"
_ASTRAL = "".join(chr(plane + c) for plane in range(0x10000, 0x110000, 0x10000) for c in (0xfffe, 0xffff))
_UNSAFE = re.compile(f"[{_CONTROL}\r\ud800-\udfff]")   # kept apart: astral characters in a class slow it tenfold
_UNSAFE_ASTRAL = re.compile(f"[{_ASTRAL}]")
_SHOWN = re.compile(f"[{_CONTROL}{_ASTRAL}]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def as_text(value: object) -> str:
    """``str(value)`` as a plain ``str``, never raising: ``<unprintable T>`` when ``str()`` fails.

    >>> as_text(5), as_text(None), as_text("W_hh")
    ('5', 'None', 'W_hh')
    >>> class Odd:
    ...     def __str__(self): raise RuntimeError("no")
    >>> as_text(Odd())
    '<unprintable Odd>'
    """
    if type(value) is str:
        return value
    try:
        text = str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"
    return str.__str__(text)   # a str subclass's own text, as a plain str


def _shown(m: re.Match[str]) -> str:
    code = ord(m.group())
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def safe_text(value: object) -> str:
    """``value`` as text that DOT, SVG, HTML, GraphML and JSON all hold, every character visible.

    >>> safe_text("a\\x00b\\x01c\\x1bd\\x7fe")
    'a\\\\x00b\\\\x01c\\\\x1bd\\\\x7fe'
    >>> safe_text("tab\\there\\r\\nnext"), safe_text("lone \\ud800, pair \\ud83d\\ude00")
    ('tab\\there\\nnext', 'lone �, pair 😀')
    >>> safe_text('<a href="x">&amp;</a> \\\\N'), safe_text(5)
    ('<a href="x">&amp;</a> \\\\N', '5')
    """
    text = as_text(value)
    # the usual case, nothing to do and no copy: every unsafe character is non-printable to Python
    if text.isprintable() or text.replace("\n", "").replace("\t", "").isprintable():
        return text
    if _UNSAFE.search(text) is None and (text.isascii() or _UNSAFE_ASTRAL.search(text) is None):
        return text   # non-printable, yet harmless: a no-break space, a zero-width joiner
    if _SURROGATE.search(text):
        # pairs (as "surrogatepass" decoding leaves them) joined, lone ones replaced by U+FFFD
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _SHOWN.sub(_shown, text)
