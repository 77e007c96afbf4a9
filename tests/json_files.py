"""JSON store files in tests: where a data folder keeps one, what it holds read strictly,
and a snapshot of it that any write (even of the same bytes) would change."""

from __future__ import annotations

import json
import math
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any


def store_file(data_dir: Path) -> Path:
    path = data_dir / "json" / "example_items.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def snapshot(path: Path) -> tuple[bytes, int, int, list[str]]:
    """Bytes, mtime, inode and the folder's other files (the lock file aside)."""
    st = path.stat()
    folder = sorted(p.name for p in path.parent.iterdir() if not p.name.endswith(".lock"))
    return path.read_bytes(), st.st_mtime_ns, st.st_ino, folder


def strict_loads(data: bytes) -> Any:
    """What the file holds per RFC 8259 read strictly (strict UTF-8, no duplicate keys,
    no NaN/Infinity, no number past a double, no number a save would change: the text
    must be its double written to the text's own precision); ValueError when it is not
    that."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({key for key, _ in items}) != len(items):
            raise ValueError("duplicate key")
        return dict(items)

    def refuse(text: str) -> Any:
        raise ValueError(text)

    def finite(text: str) -> float:
        value = float(text)
        if math.isinf(value) or not written_back_the_same(text, value):
            raise ValueError(text)
        return value

    text = data.decode("utf-8")
    return json.loads(text, object_pairs_hook=pairs, parse_constant=refuse, parse_float=finite)


def written_back_the_same(text: str, value: float) -> bool:
    """Whether a JSON number's ``text`` is its double ``value`` written with the text's
    number of significant digits (so no save can change the number it says)."""
    try:
        exact = Decimal(text)
    except InvalidOperation:  # an exponent past Decimal's: only a zero is still fine
        return value == 0.0 and not text.split("e")[0].split("E")[0].strip("-0.")
    if exact == 0 or value == 0.0:
        return exact == 0 and value == 0.0
    digits = len(exact.normalize().as_tuple().digits)
    shortest = Decimal(repr(value))  # what Python and orjson write for it
    return exact == shortest or Decimal(format(value, f".{digits}g")) == exact
