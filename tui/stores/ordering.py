"""Sorting and filtering raw records in memory, with the same meaning SQLite's SQL gives.

Order: missing/null first, then numbers, then text (by code point, as SQLite's BINARY
collation orders UTF-8), then anything else by its compact JSON; ties broken by id.
Filter: a case-insensitive (ASCII, like SQLite's LIKE) substring of any value, or of the id.
"""

from __future__ import annotations

from typing import Any

import orjson

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    return text.translate(_ASCII_LOWER)


def sort_key(raw: Any, key: str, field: str) -> tuple[int, Any, str]:
    value = raw.get(field) if isinstance(raw, dict) else None
    if field == "id":
        return (2, key, key)
    if value is None:
        return (0, 0, key)
    if isinstance(value, bool):
        return (1, int(value), key)
    if isinstance(value, int | float):
        return (1, value, key)
    if isinstance(value, str):
        return (2, value, key)
    try:
        text = orjson.dumps(value).decode("utf-8")
    except TypeError:
        text = repr(value)
    return (2, text, key)


def _scalars(value: Any) -> list[str]:
    """Every scalar inside a JSON value, as text (what SQLite's json_tree yields)."""
    out: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            out.append(item)
        elif isinstance(item, bool):
            out.append("1" if item else "0")
        elif isinstance(item, int | float):
            out.append(str(item))
    return out


def matches_filter(raw: Any, needle: str, key: str = "") -> bool:
    """Whether ``needle`` is in a value of ``raw`` or in its ``key`` (the stored id, which
    an invalid record may lack or contradict; SQLite matches its id column the same way)."""
    if not needle:
        return True
    wanted = ascii_lower(needle)
    if wanted in ascii_lower(key):
        return True
    if isinstance(raw, str):
        return wanted in ascii_lower(raw)
    return any(wanted in ascii_lower(text) for text in _scalars(raw))
