"""The schema's plain parts: collection names, record ids and timestamps.

No pydantic here: the stores and the app's start use these without importing the models
(``tui.models`` builds them on these parts, and is imported when a record is validated).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

# The collections this build knows (``tui.models.COLLECTIONS`` maps each to its model).
# Names double as the SQLite table names and the JSON file stems.
COLLECTION_NAMES = ("example_items",)
DEFAULT_COLLECTION = "example_items"


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    """12 lowercase hex characters of a uuid4, as the persistence guide makes them."""
    return uuid.uuid4().hex[:12]


def _parse_timestamp(value: Any) -> Any:
    """Accept ISO 8601 (``Z`` or an offset) and SQLite's ``YYYY-MM-DD HH:MM:SS``.

    A timestamp without a zone is SQLite's CURRENT_TIMESTAMP, which is UTC.
    """
    if value.__class__ is str and value[-1:] == "Z":
        # What we write (format_timestamp): read as it is, no copies (every record read
        # passes here twice). The same datetime as below: 3.11 reads "Z" as +00:00.
        try:
            stamp: datetime | None = datetime.fromisoformat(value)
        except ValueError:
            stamp = None
        if stamp is not None and stamp.tzinfo is not None:
            return stamp
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return value  # let pydantic report it in its own words
        return _writable(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))
    if isinstance(value, datetime):
        return _writable(value if value.tzinfo else value.replace(tzinfo=UTC))
    return value


def _writable(stamp: datetime) -> datetime:
    """``stamp`` if it can be written in UTC: 0001-01-01 with a positive offset (or 9999-12-31
    with a negative one) is before year 1 (after 9999) in UTC, which no datetime holds."""
    try:
        stamp.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{stamp.isoformat()} is out of range once in UTC") from None
    return stamp


def parse_timestamp(value: Any) -> datetime | None:
    """A stored timestamp as an aware datetime, or None when it is not one."""
    try:
        parsed = _parse_timestamp(value)
    except ValueError:  # a time that is not writable in UTC
        return None
    return parsed if isinstance(parsed, datetime) else None


def format_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with ``Z``: ``2026-11-29T17:55:20.845500Z``.

    Not ``strftime``: its ``%Y`` does not pad years before 1000 to four digits, which
    would write a timestamp no ISO parser (ours included) reads back.
    """
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
