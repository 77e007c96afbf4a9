"""The records' schema: pydantic models and nothing else.

Fields a model does not declare are kept (``extra="allow"``) so that a record read and
written back loses nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    model_validator,
)


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
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def parse_timestamp(value: Any) -> datetime | None:
    """A stored timestamp as an aware datetime, or None when it is not one."""
    parsed = _parse_timestamp(value)
    return parsed if isinstance(parsed, datetime) else None


def format_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with ``Z``: ``2026-11-29T17:55:20.845500Z``.

    Not ``strftime``: its ``%Y`` does not pad years before 1000 to four digits, which
    would write a timestamp no ISO parser (ours included) reads back.
    """
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


UtcDatetime = Annotated[
    datetime,
    BeforeValidator(_parse_timestamp),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
]


class BaseRecord(BaseModel):
    """Every stored record: an id, a schema version and two UTC timestamps."""

    model_config = ConfigDict(extra="allow", validate_assignment=False)

    id: Annotated[str, Field(min_length=1, max_length=200)]
    schema_version: int = 1
    created_at: UtcDatetime = Field(default_factory=utcnow)
    updated_at: UtcDatetime = Field(default_factory=utcnow)

    @model_validator(mode="after")
    def _same_instant_when_new(self) -> BaseRecord:
        # A record made without an updated_at was last written when it was created.
        if "updated_at" not in self.model_fields_set:
            self.updated_at = self.created_at
        return self

    def to_raw(self) -> dict[str, Any]:
        """The record as JSON-ready data, unknown fields included."""
        return self.model_dump(mode="json")

    def touched(self, created_at: datetime | None = None) -> BaseRecord:
        """A copy stamped as written now, created at ``created_at`` (default: its own)."""
        update = {"updated_at": utcnow(), "created_at": created_at or self.created_at}
        return self.model_copy(update=update)


class ExampleItem(BaseRecord):
    """The example record of the persistence guide (collection ``example_items``)."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: str = ""
    tags: list[str] = Field(default_factory=list)


def describe_validation_error(error: ValidationError) -> str:
    """One line a person can read: ``name: String should have at least 1 character``."""
    parts = []
    for item in error.errors(include_url=False):
        where = ".".join(str(p) for p in item["loc"]) or "record"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def field_errors(error: ValidationError) -> dict[str, str]:
    """Validation messages keyed by top-level field name, for showing beside inputs."""
    out: dict[str, str] = {}
    for item in error.errors(include_url=False):
        field = str(item["loc"][0]) if item["loc"] else ""
        out.setdefault(field, item["msg"])
    return out


# The collections this build knows: name -> model. Names double as the SQLite table
# names and the JSON file stems, so they are checked on the way in.
COLLECTIONS: dict[str, type[BaseRecord]] = {"example_items": ExampleItem}
DEFAULT_COLLECTION = "example_items"
