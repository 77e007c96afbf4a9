"""The records' schema: pydantic models and nothing else.

Fields a model does not declare are kept (``extra="allow"``) so that a record read and
written back loses nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    model_validator,
)

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

# Re-exported: the plain parts of the schema, from where the stores take them.
from tui.schema import COLLECTION_NAMES as COLLECTION_NAMES
from tui.schema import DEFAULT_COLLECTION as DEFAULT_COLLECTION
from tui.schema import _parse_timestamp as _parse_timestamp
from tui.schema import format_timestamp as format_timestamp
from tui.schema import new_id as new_id
from tui.schema import parse_timestamp as parse_timestamp
from tui.schema import utcnow as utcnow

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


def _plain_message(item: ErrorDetails) -> str:
    """pydantic's message in the words of a form: "required" for an empty name, not
    "String should have at least 1 character"."""
    kind, ctx = item["type"], item.get("ctx") or {}
    if kind == "missing" or (kind == "string_too_short" and ctx.get("min_length") == 1):
        return "required: cannot be empty"
    if kind == "string_too_short":
        return f"too short: at least {ctx.get('min_length')} characters"
    if kind == "string_too_long":
        return f"too long: at most {ctx.get('max_length')} characters"
    plain = {
        "string_type": "must be text",
        "int_parsing": "must be a whole number",
        "int_type": "must be a whole number",
        "int_from_float": "must be a whole number",
        "float_parsing": "must be a number",
        "float_type": "must be a number",
        "list_type": "must be a list",
        "bool_type": "must be true or false",
        "bool_parsing": "must be true or false",
    }
    return plain.get(kind, item["msg"])


def describe_validation_error(error: ValidationError) -> str:
    """One line a person can read: ``name: required: cannot be empty``."""
    parts = []
    for item in error.errors(include_url=False):
        where = ".".join(str(p) for p in item["loc"]) or "record"
        parts.append(f"{where}: {_plain_message(item)}")
    return "; ".join(parts)


def field_errors(error: ValidationError) -> dict[str, str]:
    """Validation messages keyed by top-level field name, for showing beside inputs."""
    out: dict[str, str] = {}
    for item in error.errors(include_url=False):
        field = str(item["loc"][0]) if item["loc"] else ""
        where = ".".join(str(p) for p in item["loc"][1:])
        message = _plain_message(item)
        out.setdefault(field, f"{where}: {message}" if where else message)
    return out


# The collections this build knows (tui.schema.COLLECTION_NAMES): name -> model. Names
# double as the SQLite table names and the JSON file stems, so they are checked on the
# way in.
COLLECTIONS: dict[str, type[BaseRecord]] = {"example_items": ExampleItem}
