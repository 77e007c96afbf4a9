"""JSON store files in tests: where a data folder keeps one, what it holds read strictly,
and a snapshot of it that any write (even of the same bytes) would change."""

from __future__ import annotations

import json
import math
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
    no NaN/Infinity, no number past a double); ValueError when it is not that."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({key for key, _ in items}) != len(items):
            raise ValueError("duplicate key")
        return dict(items)

    def refuse(text: str) -> Any:
        raise ValueError(text)

    def finite(text: str) -> float:
        value = float(text)
        if math.isinf(value):
            raise ValueError(text)
        return value

    text = data.decode("utf-8")
    return json.loads(text, object_pairs_hook=pairs, parse_constant=refuse, parse_float=finite)
