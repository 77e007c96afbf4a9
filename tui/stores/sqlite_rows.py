"""What a row of a records table means: (id, data, created_at, updated_at) decoded into
a record's id and raw value, or into an invalid entry that says why (data that is not
JSON, not UTF-8, a blob; an id that is not text), and a raw record encoded into a row.

No I/O: the store reads and writes the rows (:mod:`tui.stores.sqlite_store`).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from tui.schema import format_timestamp, parse_timestamp
from tui.stores.base import UNADDRESSABLE
from tui.stores.jsoncodec import parse_json_value, parse_json_values, serialize_compact
from tui.stores.sqlite_connection import NOT_UTF8, NotUtf8, escaped_text

Decoded = tuple[str, Any, str | None]
"""(id, stored value, why it is invalid or None), not validated against the model."""


def decode_row(row: sqlite3.Row | tuple[Any, ...]) -> Decoded:
    """(id, stored value, why it is not JSON) for a row, without validating it."""
    record_id, text, created_at, updated_at = row
    if not plain_id(record_id):
        return _odd_id(record_id, text)
    try:
        raw = parse_json_value(text)
    except (ValueError, TypeError) as exc:
        if isinstance(text, bytes):
            # A blob: shown (and compared) as text, its non-UTF-8 bytes escaped.
            shown = text.decode("utf-8", "backslashreplace")
            return record_id, shown, f"data column is a blob, not JSON text: {exc}"
        if isinstance(text, NotUtf8):
            return record_id, str(text), NOT_UTF8
        return record_id, text, f"data column is not valid JSON: {exc}"
    if isinstance(raw, dict):
        fill_timestamps(raw, created_at, updated_at)
    return record_id, raw, None


def decode_rows(rows: list[Any]) -> list[Decoded]:
    """:func:`decode_row` of each (id, data, data is TEXT, created_at, updated_at) row,
    the UTF-8 texts parsed as one batch."""
    texts = [row[1] for row in rows if row[2] and plain_id(row[0])]
    parsed = iter(parse_json_values(texts) if texts else ())
    raws: list[Decoded] = []
    add = raws.append
    for record_id, data, is_text, created_at, updated_at in rows:
        if not is_text or not plain_id(record_id):
            add(decode_row((record_id, data, created_at, updated_at)))
            continue
        raw = next(parsed)
        if isinstance(raw, dict):
            fill_timestamps(raw, created_at, updated_at)
        elif isinstance(raw, (ValueError, TypeError)):
            # Shown as decode_row shows a TEXT column that is not JSON (or not UTF-8).
            text = escaped_text(data)
            if isinstance(text, NotUtf8):
                add((record_id, str(text), NOT_UTF8))
            else:
                add((record_id, text, f"data column is not valid JSON: {raw}"))
            continue
        add((record_id, raw, None))
    return raws


def encode_row(raw: dict[str, Any]) -> tuple[str, str, Any, Any]:
    created, updated = raw.get("created_at"), raw.get("updated_at")
    return (
        raw["id"],
        serialize_compact(raw),
        created if isinstance(created, str) else None,
        updated if isinstance(updated, str) else None,
    )


def fill_timestamps(raw: dict[str, Any], created_at: Any, updated_at: Any) -> None:
    """The guide's template keeps timestamps in the columns: fill them in where the JSON
    lacks them, so the record reads whole."""
    if "created_at" not in raw and created_at is not None:
        raw["created_at"] = column_timestamp(created_at)
    if "updated_at" not in raw and updated_at is not None:
        raw["updated_at"] = column_timestamp(updated_at)


def plain_id(record_id: object) -> bool:
    """Whether a row's id is UTF-8 text, the only kind a record can be found by."""
    return isinstance(record_id, str) and not isinstance(record_id, NotUtf8)


def _odd_id(record_id: object, data: object) -> tuple[str, Any, str]:
    """A row whose id is not UTF-8 text (a blob, a number, NULL, bad bytes: a table not made
    by us may hold them): an invalid record, its id as SQL would write it (or escaped), its
    data as text. It is shown and kept; it cannot be found again by the id shown."""
    if isinstance(record_id, NotUtf8):
        shown, kind = str(record_id), "TEXT that is not UTF-8 (shown escaped)"
    elif isinstance(record_id, bytes):
        shown, kind = f"x'{record_id.hex()}'", "a blob"
    elif record_id is None:
        shown, kind = "NULL", "NULL"
    else:
        shown, kind = str(record_id), f"a number ({type(record_id).__name__})"
    if isinstance(data, bytes):
        data = data.decode("utf-8", "backslashreplace")
    elif not isinstance(data, str):
        data = str(data)
    return shown, str(data), f"id column is {kind}, not text: {UNADDRESSABLE}"


def column_timestamp(value: Any) -> Any:
    # Columns hold SQLite's zone-less CURRENT_TIMESTAMP (UTC): written as the JSON layout
    # writes times, with Z, so an exported record does not read as a naive time elsewhere.
    parsed = parse_timestamp(value)  # None for one that UTC moves out of range, too
    return value if parsed is None else format_timestamp(parsed)
