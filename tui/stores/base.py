"""What both stores share: entries, pages, errors and the async interface."""

from __future__ import annotations

import re
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Generic, Protocol, Self, TypeVar, cast

from tui.schema import parse_timestamp

if TYPE_CHECKING:
    from tui.models import BaseRecord

# The models (pydantic) are imported when the first record is validated, not with the
# stores: a pane shows its first rows before (see Entry.checked).
T = TypeVar("T", bound="BaseRecord")

# Columns a page can be ordered by. Each sorts on the record's field of that name.
SORT_FIELDS = ("id", "name", "description", "tags", "created_at", "updated_at")

_COLLECTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class StoreError(Exception):
    """A failure a person can act on; ``str(error)`` is one line that says what and where."""


class FileFormatError(StoreError):
    """The JSON file could not be read as a store. Writes are refused until it can."""

    def __init__(
        self, path: Path, message: str, line: int | None = None, column: int | None = None
    ) -> None:
        self.path = path
        self.message = message
        self.line = line
        self.column = column
        where = f"{path}:{line}:{column}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")


class SavedNotDurable(StoreError):
    """A write is in the file, but the OS could not confirm it is on disk (the folder's
    fsync after the rename failed): nothing to redo, but a power loss may undo it.
    Callers report the write as done, with this as a warning."""


class DatabaseError(StoreError):
    """The SQLite file is not a usable database (not SQLite, wrong layout, locked...)."""


class RecordNotFound(StoreError):
    pass


class InvalidRecord(StoreError):
    """A record given to a write failed validation."""


class StoreChanged(StoreError):
    """A write based on one :meth:`Store.version` was refused: someone else wrote to the
    store since. Checked inside the write's lock or transaction; nothing was written."""


class RecordConflict(StoreError):
    """A write of one record was refused: the record on disk is no longer the version
    the write was based on (changed, deleted or added outside since). Nothing was written."""

    def __init__(self, path: Path, record_id: str, now: str) -> None:
        self.path = path
        self.record_id = record_id
        self.now = now  # "changed", "deleted" or "added"
        super().__init__(
            f"{path}: record {record_id!r} was {now} outside the app since it was read; "
            "nothing was written"
        )


class _Sentinel:
    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


# ``expect`` of a write: ANY writes whatever is stored now (last writer wins); ABSENT
# writes only if the record is not stored; any other value writes only if the stored
# value equals it (the version an edit form was opened from).
ANY: Final[Any] = _Sentinel("ANY")
ABSENT: Final[Any] = _Sentinel("ABSENT")


def check_expected(path: Path, record_id: str, present: bool, stored: Any, expect: object) -> None:
    """Raise :class:`RecordConflict` unless the stored record (``present``, ``stored``)
    is what a write with ``expect`` was based on."""
    if expect is ANY:
        return
    if expect is ABSENT:
        if present:
            raise RecordConflict(path, record_id, "added")
        return
    if not present:
        raise RecordConflict(path, record_id, "deleted")
    if not same_value(stored, expect):
        raise RecordConflict(path, record_id, "changed")


def same_value(a: Any, b: Any) -> bool:
    """Equal as JSON values: like ``==`` but 1, 1.0 and true are not the same value."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(same_value, a, b))
    return bool(a == b) or (a != a and b != b)  # NaN, where a parser lets it in


def check_collection_name(name: str) -> str:
    """Collection names become table names and file stems: keep them plain."""
    # fullmatch: ``$`` would let a trailing newline through into a file name.
    if (
        not isinstance(name, str)
        or not _COLLECTION_NAME.fullmatch(name)
        or name.lower().startswith("sqlite_")
    ):
        raise StoreError(
            f"invalid collection name {name!r}: use letters, digits and _ "
            "(not starting with a digit or sqlite_; no path separators or ..)"
        )
    return name


@dataclass(frozen=True, slots=True)
class Entry(Generic[T]):
    """One stored record: its raw stored value, and the validated model or the error.

    ``raw`` is exactly what the store holds (a dict, or for a SQLite ``data`` column that
    is not JSON, the text itself). Invalid entries are shown and kept, never dropped.

    An entry with neither a record nor an error is not validated yet (``checked`` is
    False): only a store's ``head(..., validate=False)`` makes those, for a first frame
    drawn before the models are imported; :func:`checked_entries` validates them.
    """

    id: str
    raw: Any
    record: T | None = None
    error: str | None = None

    @property
    def valid(self) -> bool:
        return self.record is not None

    @property
    def checked(self) -> bool:
        """Validated, valid or not."""
        return self.record is not None or self.error is not None

    @property
    def addressable(self) -> bool:
        """Whether the store finds this entry by its ``id`` (a SQLite id that is not text,
        shown escaped, does not lead back to its row: no edit or delete may use it)."""
        return self.error is None or not self.error.endswith(UNADDRESSABLE)


UNADDRESSABLE = "the record cannot be edited or deleted by id"
"""How an invalid entry's error ends when its id does not lead back to it."""


def make_entry(model: type[T], key: str, raw: Any) -> Entry[T]:
    """Validate one stored value into an entry (valid or not)."""
    if not isinstance(raw, dict):
        return Entry(key, raw, None, f"record is a {type(raw).__name__}, not an object")
    if raw.get("id") != key:
        return Entry(key, raw, None, f"id field {raw.get('id')!r} does not match key {key!r}")
    try:
        return Entry(key, raw, model.model_validate(raw), None)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        return Entry(key, raw, None, _validation_message(exc))


def make_entries(model: type[T], items: Sequence[tuple[str, Any]]) -> list[Entry[T]]:
    """:func:`make_entry` of each ``(key, raw)``, the records validated as one list (one
    call into pydantic for a batch: faster than one by one); a batch with an invalid
    record is validated again record by record, for each record's own error."""
    if all(raw.__class__ is dict and raw.get("id") == key for key, raw in items):
        # Every one an object with its key as its id (the common case): one list.
        raws = [raw for _, raw in items]
        try:
            records = _list_validator(model)(raws) if raws else []
        except ValueError:  # pydantic's ValidationError is a ValueError
            return [make_entry(model, key, raw) for key, raw in items]
        valid: Callable[[str, Any, T], Entry[T]] = Entry
        return list(map(valid, [key for key, _ in items], raws, records))
    entries: list[Entry[T]] = []
    candidates: list[Any] = []
    for key, raw in items:
        if raw.__class__ is not dict or raw.get("id") != key:
            entries.append(make_entry(model, key, raw))  # invalid (or a dict subclass)
        else:
            candidates.append(raw)
            entries.append(Entry(key, raw))
    if not candidates:
        return entries
    try:
        records = _list_validator(model)(candidates)
    except ValueError:  # pydantic's ValidationError is a ValueError
        return [make_entry(model, e.id, e.raw) if not e.checked else e for e in entries]
    found = iter(records)
    return [e if e.checked else Entry(e.id, e.raw, next(found), None) for e in entries]


_LIST_VALIDATORS: dict[type[Any], Callable[[list[Any]], list[Any]]] = {}


def _list_validator(model: type[T]) -> Callable[[list[Any]], list[T]]:
    """What validates a list of records of ``model`` (made once per model)."""
    validate = _LIST_VALIDATORS.get(model)
    if validate is None:
        # Imported here: the model was, to be given (validation only, nothing else).
        from pydantic import TypeAdapter

        validate = _LIST_VALIDATORS[model] = TypeAdapter(list[model]).validate_python  # type: ignore[valid-type]
    return cast("Callable[[list[Any]], list[T]]", validate)


def _validation_message(exc: ValueError) -> str:
    # Imported here: the model was, if it raised this (validation only, nothing else).
    from pydantic import ValidationError

    from tui.models import describe_validation_error

    if not isinstance(exc, ValidationError):
        raise exc
    return describe_validation_error(exc)


def checked_entries(model: type[T], entries: list[Entry[T]]) -> list[Entry[T]]:
    """``entries`` with those not validated yet (see :attr:`Entry.checked`) validated."""
    return [e if e.checked else make_entry(model, e.id, e.raw) for e in entries]


class HoldsModel(Generic[T]):
    """A store's model, given as the class or as a function that returns it (and imports
    it, on first use): a store can open and read raw values without pydantic."""

    _model: type[T] | None = None
    _load_model: Callable[[], type[T]] | None = None

    def _set_model(self, model: type[T] | Callable[[], type[T]]) -> None:
        if isinstance(model, type):
            self._model, self._load_model = cast("type[T]", model), None
        else:
            self._model, self._load_model = None, model

    @property
    def model(self) -> type[T]:
        model = self._model
        if model is None:
            assert self._load_model is not None
            model = self._model = self._load_model()
        return model

    @property
    def model_imported(self) -> bool:
        """True when validating costs no import: the model, or the models' module, is."""
        return self._model is not None or "tui.models" in sys.modules


def require_model(model: type[T], record: object) -> None:
    """Stores take records of their own model only (anything else is a caller's bug)."""
    if not isinstance(record, model):
        raise InvalidRecord(f"expected {model.__name__}, got {type(record).__name__}")


def stamp_for_write(record: T, existing: Any) -> T:
    """The record as written now: ``updated_at`` refreshed; ``created_at`` is the stored
    record's, or (new, or stored one unreadable) the record's own."""
    if isinstance(existing, dict):
        created = parse_timestamp(existing.get("created_at")) or record.created_at
    else:
        created = record.created_at
    stamped = record.touched(created)
    assert isinstance(stamped, type(record))
    return stamped


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    entries: list[Entry[T]]
    offset: int
    total: int  # records matching the filter


@dataclass(frozen=True, slots=True)
class Query:
    """How a page is chosen: ordering and a case-insensitive substring filter."""

    sort: str = "id"
    descending: bool = False
    filter: str = ""

    def __post_init__(self) -> None:
        if self.sort not in SORT_FIELDS:
            raise StoreError(f"cannot sort by {self.sort!r}; choose one of {SORT_FIELDS}")


DEFAULT_QUERY = Query()


@dataclass(frozen=True, slots=True)
class FileSignature:
    """What tells us a file changed on disk behind our back."""

    device: int
    inode: int
    mtime_ns: int
    size: int

    @classmethod
    def of(cls, path: Path) -> FileSignature | None:
        try:
            st = path.stat()
        except OSError:
            # Missing, or not statable (a symlink loop, a path through a file): no
            # signature; reading it then says why, and writes are refused.
            return None
        return cls(st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


@dataclass
class WriteResult:
    written: int = 0
    ids: list[str] = field(default_factory=list)


class OpensAndCloses:
    """``async with store:`` opens it and always closes it."""

    async def open(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class Store(Protocol[T]):
    """The one async interface both backends implement."""

    kind: str  # "json" or "sqlite"
    path: Path

    @property
    def model(self) -> type[T]: ...
    @property
    def label(self) -> str: ...

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def __aenter__(self) -> Store[T]: ...
    async def __aexit__(self, *exc: object) -> None: ...
    async def reload(self) -> None: ...
    async def changed_on_disk(self) -> bool: ...
    async def version(self) -> object: ...
    async def held_version(self) -> object: ...
    async def count(self, filter: str = "") -> int: ...
    async def get(self, record_id: str) -> Entry[T] | None: ...
    async def get_raws(self, record_ids: Sequence[str]) -> dict[str, Any]: ...
    async def page(
        self, query: Query = DEFAULT_QUERY, offset: int = 0, limit: int = 100
    ) -> Page[T]: ...
    async def position(self, query: Query, record_id: str) -> int | None: ...
    def iter_all(self, batch_size: int = 1000) -> AsyncIterator[Entry[T]]: ...
    def iter_raw(self, batch_size: int = 1000) -> AsyncIterator[tuple[str, Any]]: ...
    async def upsert(self, record: T, expect: object = ANY) -> Entry[T]:
        """Write ``record``; with ``expect`` (see :data:`ANY`), only if the stored record
        is still that version, else :class:`RecordConflict` and nothing is written."""
        ...

    async def upsert_many(self, records: Sequence[T]) -> int: ...
    async def put_raw_many(
        self,
        raws: Sequence[dict[str, Any]],
        progress: Callable[[int, int], None] | None = None,
        check: Callable[[], None] | None = None,
        expect_version: object = ANY,
    ) -> int:
        """Store records exactly as given, all or nothing, reporting ``progress(done,
        total)``. ``check()`` is called between batches and right before the commit; if
        it raises, nothing is written and the exception propagates. With
        ``expect_version`` (a :meth:`version`), :class:`StoreChanged` unless the store is
        still at that version once the write holds it."""
        ...

    async def delete(self, record_id: str, expect: object = ANY) -> bool:
        """Remove the record; ``expect`` as for :meth:`upsert`."""
        ...
