"""The JSON store: one file ``{"<id>": {record}, ...}`` per collection.

The file is kept in memory in file order, each record as the bytes of its value in the
file when the file is in our own layout (parsed when someone asks for it: a page, a get,
a transfer; see :mod:`tui.stores.jsonspans`), as a raw dict otherwise (a file written by
hand or by another tool, and records written since). Records are validated only when
someone asks for them.

Opening a file in our layout splits it into records without parsing them, so the first
page shows at once; a background thread then proves the split right (every record
parsed, the file exactly what we would write for them) and, if it is not, parses the
file strictly instead, or keeps the error. Every write, filter, sort other than by id,
and bulk read waits for that check; :attr:`JsonStore.load_error` waits for it too.

Every write is a read-modify-write under an exclusive lock on a lock file beside the
data file: if the file changed on disk since we read it, it is read again and the change
applied to what is there now, so concurrent processes never lose each other's records.
A write given ``expect`` (an edit form's save) first compares the record on disk with the
version it was based on, and is refused with RecordConflict if another program changed it.
"""

from __future__ import annotations

import asyncio
import heapq
import operator
import os
import threading
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from itertools import compress, islice
from pathlib import Path
from typing import Any, TypeVar

import orjson

from tui.gcpause import collector_paused
from tui.stores import jsoncodec, jsonio, jsonspans
from tui.stores.base import (
    ANY,
    DEFAULT_QUERY,
    Entry,
    FileFormatError,
    FileSignature,
    HoldsModel,
    OpensAndCloses,
    Page,
    Query,
    StoreChanged,
    T,
    check_collection_name,
    check_expected,
    make_entry,
    require_model,
    stamp_for_write,
)
from tui.stores.ordering import ascii_lower, matches_filter, sort_key

R = TypeVar("R")


class _Abandoned(Exception):
    """Raised in the writing thread when the task awaiting the write was cancelled."""


# More records changed or removed than this in one write: write the whole file.
_SPLICE_LIMIT = 1000

# The check of a split file starts when someone waits for it, or this long after the
# open (first rows drawn: the check does not compete with them for the interpreter).
_CHECK_DELAY = 1.0

# Up to this many records, :meth:`JsonStore.head` picks the first page on the event loop
# (~2 ms for 100k ids); past it in a thread, with the rest of a page.
_HEAD_INLINE = 200_000

# Records made into pieces by one orjson call in put_raw_many.
_PUT_BATCH = 1000

_loads = jsoncodec.loads_value
_GONE = object()


class _NotExact(ValueError):
    """A record's bytes are not what our layout writes for what they parse to."""


def _exact(raw: Any) -> Any:
    """:func:`_loads`, raising :class:`_NotExact` (or orjson's error) when the bytes are
    not what we would write for the value: a split not checked yet may hold anything
    (an integer past 64 bits orjson bends, a duplicate key). One record's cost."""
    if not isinstance(raw, bytes):
        return raw
    value = jsonspans.loads(raw)
    if not jsonspans.is_exact(raw, value):
        raise _NotExact
    return value


class _Check:
    """The background check of one split load (see the module's docstring)."""

    def __init__(self) -> None:
        self.wanted = threading.Event()  # someone waits: start now
        self.done = threading.Event()
        self.dropped = False  # the store closed first: drop the load, do not check it


def _filter_bytes(needle: str) -> bytes | None:
    """What a record's bytes, lowered (ASCII), must contain to match ``needle``, when
    that is a sure test of a record held as bytes: ASCII letters and spaces appear in
    the text of a string exactly as in its JSON, and never in a number's text but for
    an exponent's ``e``. None when no such test is safe (check every record)."""
    # ASCII only: "İ".lower() is two characters and the Kelvin sign lowers to "k", so a
    # non-ASCII needle's lowered bytes say nothing sure about the record's bytes.
    if not needle or not needle.isascii() or not all(c == " " or c.isalpha() for c in needle):
        return None
    lowered = needle.lower()
    if not lowered.replace("e", "").strip():
        return None
    return lowered.encode("ascii")


class JsonStore(OpensAndCloses, HoldsModel[T]):
    kind = "json"

    def __init__(
        self, path: Path, model: type[T] | Callable[[], type[T]], lock_file: bool = True
    ) -> None:
        """``lock_file=False``: a file only read (an import's source from elsewhere):
        no lock file is made beside it, one that is there is still honoured."""
        self.path = Path(path)
        self._make_lock_file = lock_file
        self._set_model(model)  # the class, or a function importing it when first used
        self._data: dict[str, Any] = {}
        self._signature: FileSignature | None = None
        self._load_error: FileFormatError | None = None
        # True while the file holds exactly what orjson writes for self._data (what
        # jsoncodec.serialize writes), so that records can be spliced into it.
        self._file_is_serialized = False
        self._opened = False
        self._check: _Check | None = None  # a split load not proven yet
        self._state_lock = threading.Lock()
        # (query, the data dict it was computed from, ordered ids)
        self._view: tuple[Query, dict[str, Any], list[str]] | None = None
        self._matches: tuple[str, dict[str, Any], list[str]] | None = None

    @classmethod
    def in_data_dir(
        cls, data_dir: Path, collection: str, model: type[T] | Callable[[], type[T]]
    ) -> JsonStore[T]:
        check_collection_name(collection)
        return cls(Path(data_dir) / "json" / f"{collection}.json", model)

    @property
    def label(self) -> str:
        return f"JSON {self.path}"

    @property
    def load_error(self) -> FileFormatError | None:
        """Why the file could not be read; while set, every write is refused. Waits for
        the check of the last load (see :attr:`known_load_error` for a look that does
        not wait)."""
        self._wait_checked()
        return self._load_error

    @property
    def known_load_error(self) -> FileFormatError | None:
        """:attr:`load_error` as known now, without waiting for the load's check."""
        return self._load_error

    async def checked(self, hurry: bool = True) -> FileFormatError | None:
        """Wait for the check of the last load; then :attr:`load_error`. ``hurry=False``
        waits without starting the check early (a watcher that only wants the outcome)."""
        if self._check is not None:
            await asyncio.to_thread(self._wait_checked, hurry)
        return self._load_error

    def _wait_checked(self, hurry: bool = True) -> None:
        check = self._check
        if check is not None:
            if hurry:
                check.wanted.set()
            check.done.wait()

    # -- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        await asyncio.to_thread(self._open_sync)
        self._opened = True

    def _open_sync(self) -> None:
        if not self.path.parent.is_dir():
            self._reload_sync()  # no folder yet (an empty store), or a path that cannot be
            return
        with jsonio.read_lock(self.path, self._make_lock_file) as locked:
            if locked:
                # Only under the lock: a live writer's temp file must not vanish mid-write.
                jsonio.remove_stale_temp_files(self.path)
            self._reload_locked(background=True)

    async def close(self) -> None:
        self._opened = False
        check = self._check
        if check is not None:
            # Not worth checking any more; what was read unchecked is forgotten (a use
            # after this reads the file again).
            check.dropped = True
            check.wanted.set()

    async def reload(self) -> None:
        await asyncio.to_thread(self._reload_sync)

    def _reload_sync(self) -> None:
        """Read the file; on failure keep the error and refuse writes, but do not raise."""
        if not self.path.parent.is_dir():
            # Nothing to lock: reading says what is there (nothing, or why not).
            self._reload_locked()
            return
        # Under the lock: a write (ours in another thread, or another process's) cannot
        # land between taking the signature and reading the bytes it describes.
        with jsonio.read_lock(self.path, self._make_lock_file):
            self._reload_locked(background=True)

    def _reload_locked(self, background: bool = False) -> None:
        """:meth:`_reload_sync` for a caller that holds the write lock already.

        ``background``: a file that splits as our layout is checked by a thread, after
        this returns (see the module's docstring); otherwise before."""
        signature = FileSignature.of(self.path)
        # Split as it is read when in our layout (the pieces are the file: it is never
        # held twice); else read whole, to be parsed.
        records = jsonspans.read_split(self.path)
        blob = None
        if records is None:
            try:
                blob = jsonio.read_file(self.path)
            except FileFormatError as exc:
                self._set_state(None, {}, False, exc, signature)
                return
        if records is not None and background:
            check = _Check()
            self._set_state(check, records, False, None, signature)
            thread = threading.Thread(
                target=self._check_split,
                args=(check, records),
                name=f"check {self.path.name}",
                daemon=True,
            )
            thread.start()
            return
        self._set_state(None, *self._parse(blob, records), signature)

    def _set_state(
        self,
        check: _Check | None,
        data: dict[str, Any],
        serialized: bool,
        error: FileFormatError | None,
        signature: FileSignature | None,
    ) -> None:
        with self._state_lock:
            previous = self._check
            self._check = check
            self._data, self._file_is_serialized, self._load_error = data, serialized, error
            self._signature = signature
        if previous is not None:
            previous.wanted.set()  # superseded: let its thread finish now

    def _parse(
        self, blob: bytes | None, records: dict[str, bytes] | None
    ) -> tuple[dict[str, Any], bool, FileFormatError | None]:
        """(data, whether the file is in our layout, the error) for the file's bytes, or
        for the records it split into."""
        try:
            with collector_paused():
                if records is not None:
                    if jsonspans.verify_records(records):
                        return records, True, None
                    blob = jsonspans.join_records(records)
                    records = None
                if blob is None:
                    return {}, False, None
                data, serialized = jsoncodec.parse_store(self.path, blob)
            return data, serialized, None
        except FileFormatError as exc:
            return {}, False, exc

    def _check_split(self, check: _Check, records: dict[str, bytes]) -> None:
        """The background check of a split load: on success the load stands; otherwise
        the strict parse's data or error replace it (unless a newer load did)."""
        try:
            check.wanted.wait(_CHECK_DELAY)
            if self._check is not check:
                return
            if check.dropped:
                with self._state_lock:
                    if self._check is check:
                        self._data, self._signature, self._check = {}, None, None
                        self._load_error = FileFormatError(self.path, "closed before it was read")
                return
            try:
                data, serialized, error = self._parse(None, records)
            except Exception as exc:  # never leave a split load unchecked and writable
                data, serialized, error = {}, False, FileFormatError(self.path, str(exc))
            with self._state_lock:
                if self._check is check:
                    self._data, self._file_is_serialized = data, serialized
                    self._load_error = error
                    self._check = None
        finally:
            check.done.set()

    async def version(self) -> object:
        """A value that changes whenever anyone writes the file."""
        return await asyncio.to_thread(FileSignature.of, self.path)

    async def changed_on_disk(self) -> bool:
        return await asyncio.to_thread(lambda: FileSignature.of(self.path) != self._signature)

    async def held_version(self) -> object:
        """Read the file again if it changed since it was read; the version of the records
        the store now holds (what :meth:`version` said when they were read, taken under
        the same lock): a plan made from them is refused if the file moves on from it."""

        def run() -> object:
            if FileSignature.of(self.path) != self._signature:
                self._reload_sync()
            with self._state_lock:
                return self._signature

        return await asyncio.to_thread(run)

    def _check_readable(self) -> None:
        if self._load_error is not None:
            raise self._load_error

    # -- reads -------------------------------------------------------------------------

    async def count(self, filter: str = "") -> int:
        self._check_readable()
        if not filter:
            return len(self._data)
        await self.checked()
        self._check_readable()
        return len(await asyncio.to_thread(self._matching_keys, self._data, filter))

    async def get(self, record_id: str) -> Entry[T] | None:
        self._check_readable()
        raw = self._data.get(record_id)
        if raw is None:
            return None
        try:
            value = _exact(raw)
        except (orjson.JSONDecodeError, _NotExact):
            # Not our layout after all: the check parses it strictly (or rejects it).
            await self._after_check()
            return await self.get(record_id)
        return make_entry(self.model, record_id, value)

    async def get_raws(self, record_ids: Sequence[str]) -> dict[str, Any]:
        """The stored values of those of ``record_ids`` that exist, not validated."""
        found: dict[str, Any] = {}
        for record_id in record_ids:
            entry = await self.get(record_id)
            if entry is not None:
                found[record_id] = entry.raw
        return found

    async def _after_check(self) -> None:
        """Wait for the load's check: raise its error, or go on with what it kept (a
        record held as bytes then always parses)."""
        await self.checked()
        self._check_readable()

    async def page(
        self, query: Query = DEFAULT_QUERY, offset: int = 0, limit: int = 100
    ) -> Page[T]:
        self._check_readable()
        if query.filter or query.sort != "id":
            await self.checked()  # a pass over every record: only over checked ones
            self._check_readable()
        try:
            return await asyncio.to_thread(self._page_sync, query, offset, limit)
        except (orjson.JSONDecodeError, _NotExact):
            await self._after_check()
            return await asyncio.to_thread(self._page_sync, query, offset, limit)

    async def head(self, query: Query = DEFAULT_QUERY, limit: int = 100) -> list[Entry[T]]:
        """The first ``limit`` records of ``query``'s order: what a pane shows first. By
        id, picked without sorting every id (on the event loop: a pass over the ids and
        ``limit`` records parsed, no thread to wait for); otherwise :meth:`page`'s."""
        self._check_readable()
        data = self._data
        if query.filter or query.sort != "id" or limit <= 0 or len(data) > _HEAD_INLINE:
            return (await self.page(query, 0, limit)).entries
        chosen = (heapq.nlargest if query.descending else heapq.nsmallest)(limit, data)
        try:
            return [make_entry(self.model, k, _exact(data[k])) for k in chosen]
        except (orjson.JSONDecodeError, _NotExact):
            return (await self.page(query, 0, limit)).entries  # (page waits for the check)

    def _matching_keys(self, data: dict[str, Any], needle: str) -> list[str]:
        """The ids of ``data`` whose record matches ``needle``, in file order; cached."""
        cached = self._matches
        if cached is not None and cached[0] == needle and cached[1] is data:
            return cached[2]
        if needle:
            wanted = ascii_lower(needle)
            sure = _filter_bytes(needle)
            keys = [
                k
                for k, v in data.items()
                if wanted in ascii_lower(k)
                or (
                    (sure is None or not isinstance(v, bytes) or sure in v.lower())
                    and matches_filter(_loads(v), needle, k)
                )
            ]
        else:
            keys = list(data)
        self._matches = (needle, data, keys)
        return keys

    def _ordered_keys(self, data: dict[str, Any], query: Query) -> list[str]:
        """The ids of ``data`` matching ``query`` in its order; cached until data changes.

        Callers pass one snapshot of ``self._data``: a reload may swap it meanwhile."""
        if self._view is not None and self._view[0] == query and self._view[1] is data:
            return self._view[2]
        keys = list(self._matching_keys(data, query.filter))
        if query.sort == "id":
            keys.sort(reverse=query.descending)
        else:
            keys.sort(
                key=lambda k: sort_key(_loads(data[k]), k, query.sort), reverse=query.descending
            )
        self._view = (query, data, keys)
        return keys

    def _page_sync(self, query: Query, offset: int, limit: int) -> Page[T]:
        data = self._data
        keys = self._ordered_keys(data, query)
        chosen = keys[offset : offset + limit]
        return Page([make_entry(self.model, k, _exact(data[k])) for k in chosen], offset, len(keys))

    async def position(self, query: Query, record_id: str) -> int | None:
        """Where ``record_id`` stands in ``query``'s order, or None if it is not there."""
        self._check_readable()
        if record_id not in self._data:
            return None
        if query.filter or query.sort != "id":
            await self.checked()
            self._check_readable()

        def find() -> int | None:
            try:
                return self._ordered_keys(self._data, query).index(record_id)
            except ValueError:
                return None

        return await asyncio.to_thread(find)

    async def iter_all(self, batch_size: int = 1000) -> AsyncIterator[Entry[T]]:
        """Every entry in file order, valid or not."""
        async for key, raw in self.iter_raw(batch_size):
            yield make_entry(self.model, key, raw)

    async def iter_raw(self, batch_size: int = 1000) -> AsyncIterator[tuple[str, Any]]:
        """Every (id, stored value) in file order, unvalidated; each parsed as it is
        yielded (a big store is never held parsed all at once)."""
        await self.checked()
        self._check_readable()
        items = iter(self._data.items())  # never changed in place: writes swap it
        loads_many = jsonspans.loads_many
        while batch := list(islice(items, max(batch_size, 1))):
            pieces = [raw for _, raw in batch if type(raw) is bytes]
            if len(pieces) == len(batch):  # (keys are unique: one object of them all)
                for (key, _), value in zip(batch, loads_many(pieces), strict=True):
                    yield key, value
            else:
                for key, raw in batch:
                    yield key, _loads(raw)

    def raw_items(self) -> list[tuple[str, Any]]:
        """The stored values in file order, unvalidated (for transfers and the raw view)."""
        self._wait_checked()
        self._check_readable()
        return [(key, _loads(raw)) for key, raw in self._data.items()]

    # -- writes ------------------------------------------------------------------------

    async def upsert(self, record: T, expect: object = ANY) -> Entry[T]:
        """Write ``record``. ``expect`` (see :data:`tui.stores.base.ANY`): the stored
        version the write is based on, compared under the lock with what the file holds
        now; :class:`RecordConflict` when they differ, and nothing is written."""
        require_model(self.model, record)

        def change(data: dict[str, Any]) -> Entry[T]:
            self._check_expected(data, record.id, expect)
            stamped = stamp_for_write(record, _loads(data.get(record.id)))
            raw = stamped.to_raw()
            data[record.id] = raw
            return Entry(record.id, raw, stamped, None)

        return await self._mutate(change, touched=(record.id,))

    async def upsert_many(self, records: Sequence[T]) -> int:
        for record in records:
            require_model(self.model, record)

        def change(data: dict[str, Any]) -> int:
            for record in records:
                data[record.id] = stamp_for_write(record, _loads(data.get(record.id))).to_raw()
            return len(records)

        return await self._mutate(change, touched=[record.id for record in records])

    async def put_raw_many(
        self,
        raws: Sequence[dict[str, Any]],
        progress: Callable[[int, int], None] | None = None,
        check: Callable[[], None] | None = None,
        expect_version: object = ANY,
    ) -> int:
        """Store records exactly as given (ids, timestamps, unknown fields): one atomic write.
        ``expect_version`` is compared with the file under the lock.

        ``progress(done, total)`` follows the file being written (scaled to ``raws``);
        ``check()`` runs (in the worker thread) between batches and right before the temp
        file replaces the old one: if it raises, nothing is written. If the awaiting task
        is cancelled, the write is abandoned the same way before CancelledError goes on.
        """
        total = len(raws)
        abandoned = threading.Event()
        reported = 0

        def checkpoint() -> None:
            if abandoned.is_set():
                raise _Abandoned
            if check is not None:
                check()

        def written(done: int, count: int) -> None:
            nonlocal reported
            scaled = total if done >= count else done * total // count
            if progress is not None and scaled > reported:
                reported = scaled
                progress(scaled, total)

        piece_of, pieces_of = jsonspans.piece_of, jsonspans.pieces_of

        def change(data: dict[str, Any]) -> int:
            if expect_version is not ANY and FileSignature.of(self.path) != expect_version:
                raise StoreChanged(f"{self.label}: changed by someone else since it was read")
            # Held as the bytes the file will hold (see jsonspans), not as parsed dicts:
            # a big transfer's records would cost several times the file otherwise.
            for start in range(0, total, _PUT_BATCH):
                batch = list(raws[start : start + _PUT_BATCH])  # (compact: one parse)
                keys = [raw["id"] for raw in batch]
                pieces = pieces_of(keys, batch)
                if pieces is not None:
                    data.update(zip(keys, pieces, strict=True))
                else:
                    for key, raw in zip(keys, batch, strict=True):
                        try:
                            data[key] = piece_of(key, raw) or raw
                        except TypeError:  # orjson cannot write it: kept parsed
                            data[key] = raw
                if start // _PUT_BATCH % 5 == 4:
                    checkpoint()
            checkpoint()
            return total

        ids = [raw["id"] for raw in raws] if total <= _SPLICE_LIMIT else None
        future = asyncio.ensure_future(self._mutate(change, None, checkpoint, written, ids))
        try:
            count = await asyncio.shield(future)
        except asyncio.CancelledError:
            # The thread goes on until its next checkpoint: wait for it, so that no temp
            # file outlives the cancellation (a write past its last checkpoint completes).
            abandoned.set()
            await asyncio.wait([future])
            if not future.cancelled():
                future.exception()  # retrieved: it is the cancellation's doing
            raise
        written(total, total)
        return count

    async def delete(self, record_id: str, expect: object = ANY) -> bool:
        """Remove the record; ``expect`` as for :meth:`upsert`."""

        def change(data: dict[str, Any]) -> bool:
            self._check_expected(data, record_id, expect)
            return data.pop(record_id, _GONE) is not _GONE

        return await self._mutate(change, write_if=bool, touched=(record_id,))

    def _check_expected(self, data: dict[str, Any], record_id: str, expect: object) -> None:
        if expect is not ANY:
            present = record_id in data
            stored = _loads(data[record_id]) if present else None
            check_expected(self.path, record_id, present, stored, expect)

    async def _mutate(
        self,
        change: Callable[[dict[str, Any]], R],
        write_if: Callable[[R], bool] | None = None,
        check: Callable[[], None] | None = None,
        progress: Callable[[int, int], None] | None = None,
        touched: Collection[str] | None = None,
    ) -> R:
        return await asyncio.to_thread(
            self._mutate_sync, change, write_if, check, progress, touched
        )

    def _mutate_sync(
        self,
        change: Callable[[dict[str, Any]], R],
        write_if: Callable[[R], bool] | None,
        check: Callable[[], None] | None = None,
        progress: Callable[[int, int], None] | None = None,
        touched: Collection[str] | None = None,
    ) -> R:
        """``change`` a copy of the data and write it, under the lock. ``check()`` (a
        cancellation hook) runs while the file is written and right before it replaces
        the old one: if it raises, the temp file is removed and nothing changes.

        ``touched``, when given, holds every key ``change`` may set or remove (only by
        assignment or removal, never removed and put back): then finding what changed
        costs a look at those keys, not a pass over all the records."""
        try:
            jsonio.make_private_dirs(self.path.parent)
        except OSError as exc:
            raise jsonio.write_error(self.path, exc) from exc
        self._wait_checked()
        with jsonio.exclusive_lock(self.path):
            self._wait_checked()  # (a reload meanwhile)
            if FileSignature.of(self.path) != self._signature or self._load_error is not None:
                # Someone else wrote (or we could not read it last time): start from what
                # is on disk now. A file we cannot read is never overwritten.
                self._reload_locked()
                self._check_readable()
            data = dict(self._data)  # on failure the cache keeps the old content
            result = change(data)
            if write_if is not None and not write_if(result):
                return result
            try:
                if self._splice_sync(data, check, touched):
                    serialized = True
                else:
                    serialized = jsonio.atomic_write_layout(self.path, data, check, progress)
            except jsonio.ReplacedNotSynced as exc:
                # The file is the new one: so is our state; only its durability is in doubt.
                self._data, self._file_is_serialized = data, False
                self._signature = FileSignature.of(self.path)
                raise jsonio.not_durable_error(self.path, exc) from None
            except OSError as exc:
                raise jsonio.write_error(self.path, exc) from exc
            self._data = data
            self._signature = FileSignature.of(self.path)
            self._file_is_serialized = serialized
            return result

    def _splice_sync(
        self,
        data: dict[str, Any],
        before_replace: Callable[[], None] | None = None,
        touched: Collection[str] | None = None,
    ) -> bool:
        """Write ``data`` by splicing the file when it is ``self._data`` with a few records
        changed or removed and new ones at the end: only their bytes are serialized, the
        rest is copied from the old file (one edit at 100k records need not serialize the
        100k). False when the whole file must be written.

        Stored values are never changed in place (writes put new dicts), so the same
        value object means the same record (a record held as bytes is the very bytes of
        its value in the file); every record spliced is checked against the
        file's bytes for its old value, so a mismatch costs a full write, never the data.
        """
        old = self._data
        if not (self._file_is_serialized and self._signature and old and data):
            return False
        found = self._diff(data) if touched is None else self._diff_touched(data, touched)
        if found is None:
            return False
        changes, added = found
        if len(changes) > _SPLICE_LIMIT:
            return False
        # The records added are the last ``added`` of ``data``, in its order.
        tail = jsonio.appended_tail(reversed(list(islice(reversed(data.items()), added))))
        if tail is None:
            return False
        signature = self._signature

        def unchanged(st: os.stat_result) -> bool:
            return FileSignature(st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size) == signature

        return jsonio.atomic_splice(self.path, unchanged, changes, len(old), tail, before_replace)

    def _diff(self, data: dict[str, Any]) -> tuple[list[jsonio.Change], int] | None:
        """The records of ``self._data`` changed or removed in ``data`` (in file order) and
        how many were added at its end; None when records moved (write it all)."""
        old = self._data
        count = len(old)
        limit = _SPLICE_LIMIT + 1
        changes: list[jsonio.Change]
        if len(data) >= count and all(map(operator.eq, old, islice(data, count))):
            kept = count  # nothing removed or moved: values changed in place, or added
            changes = [
                (index, key, value, data[key])
                for index, (key, value) in islice(
                    compress(
                        enumerate(old.items()), map(operator.is_not, old.values(), data.values())
                    ),
                    limit,
                )
            ]
        else:
            present = list(map(data.__contains__, old))
            kept = sum(present)
            if not kept or count - kept > _SPLICE_LIMIT:
                return None
            # The records kept must lead ``data`` in their old order (a record removed and
            # put back moved to the end: write it all).
            if not all(map(operator.eq, compress(old, present), islice(data, kept))):
                return None
            edited = compress(
                compress(enumerate(old.items()), present),
                map(operator.is_not, compress(old.values(), present), data.values()),
            )
            changes = [
                (index, key, value, data[key]) for index, (key, value) in islice(edited, limit)
            ]
            changes += [
                (index, key, value, jsonio.REMOVED)
                for index, (key, value) in compress(
                    enumerate(old.items()), map(operator.not_, present)
                )
            ]
            changes.sort(key=operator.itemgetter(0))
        return changes, len(data) - kept

    def _diff_touched(
        self, data: dict[str, Any], touched: Collection[str]
    ) -> tuple[list[jsonio.Change], int] | None:
        """:meth:`_diff` when only the keys ``touched`` can differ (see _mutate_sync)."""
        old = self._data
        if len(touched) > _SPLICE_LIMIT:
            return None
        keys = dict.fromkeys(touched)
        removed = [key for key in keys if key in old and key not in data]
        edited = [key for key in keys if key in old and key in data and old[key] is not data[key]]
        added = sum(1 for key in keys if key not in old and key in data)
        kept = len(old) - len(removed)
        if not kept or len(data) != kept + added:
            return None  # not what ``touched`` promised, or no old record left
        # The new records end ``data``, after the last old one kept (cheap checks that
        # nothing moved).
        *new_keys, last_kept = islice(reversed(data), added + 1)
        gone = set(removed)
        if any(key in old for key in new_keys) or last_kept != next(
            key for key in reversed(old) if key not in gone
        ):
            return None
        # Where the records are in the file: a pass over the keys (in C) for a few of
        # them, one pass in Python for many.
        wanted = edited + removed
        if len(wanted) <= 16:
            positions = [operator.indexOf(old, key) for key in wanted]
        else:
            want = set(wanted)
            at = {key: index for index, key in enumerate(old) if key in want}
            positions = [at[key] for key in wanted]
        changes: list[jsonio.Change] = [
            (index, key, old[key], data.get(key, jsonio.REMOVED))
            for index, key in zip(positions, wanted, strict=True)
        ]
        changes.sort(key=operator.itemgetter(0))
        return changes, added


__all__ = ["JsonStore"]
