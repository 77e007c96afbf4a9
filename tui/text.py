"""Making stored strings safe to show on a terminal, without Textual.

Stored values are data, never commands: control characters (C0, DEL, C1 such as the
single-byte CSI 0x9b), bidi overrides and invisible zero-width characters are replaced with
visible placeholders before anything reaches the screen. Markup safety is the renderer's
job (Text objects); this module only deals with the characters themselves.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

# Bidi embedding/override/isolate controls can make text read differently than stored.
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
# Invisible characters that hide what a value really is ("adm\u200bin" reads "admin"),
# and the Unicode line/paragraph separators, which some line splitters break rows at.
# (The zero-width joiner and non-joiner are left alone: emoji and scripts need them.)
INVISIBLE_CHARS = "\u200b\u2060\ufeff\u2028\u2029"
_OTHERS = BIDI_CONTROLS + INVISIBLE_CHARS
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f" + _OTHERS + "]")
_UNSAFE_INLINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f" + _OTHERS + "]")

NEWLINE_MARK = "↵"


def _placeholder(char: str) -> str:
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ ␁ ... ␟ (Unicode control pictures)
    if code == 0x7F:
        return "␡"
    return f"\\u{code:04x}" if code > 0xFF else f"\\x{code:02x}"


def printable(text: str) -> str:
    """One line: every control character visible, newlines shown as ↵."""
    text = text.replace("\r\n", NEWLINE_MARK).replace("\n", NEWLINE_MARK)
    return _UNSAFE.sub(lambda m: _placeholder(m.group()), text)


def printable_multiline(text: str) -> str:
    """Keeps newlines and tabs (for pretty-printed JSON); every other control is visible."""
    return _UNSAFE_INLINE.sub(lambda m: _placeholder(m.group()), text)


def cell_text(value: Any, width: int | None = None) -> str:
    """A value as one line for a table cell or a CLI column."""
    if value is None:
        text = ""
    elif isinstance(value, str):
        text = value
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        text = ", ".join(value)
    else:
        try:
            text = orjson.dumps(value).decode("utf-8")
        except TypeError:
            text = repr(value)
    text = printable(text)
    if width is not None and len(text) > width:
        text = text[: max(width - 1, 0)] + "…"
    return text


def pretty_json(value: Any) -> str:
    """Pretty-printed JSON (as in the store file), safe to show."""
    if isinstance(value, str):  # a SQLite data column that is not JSON: show its text
        return printable_multiline(value)
    try:
        text = orjson.dumps(value, option=orjson.OPT_INDENT_2).decode("utf-8")
    except TypeError:  # integers past 64 bits
        text = json.dumps(value, indent=2, ensure_ascii=False)
    return printable_multiline(text)
