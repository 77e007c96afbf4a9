"""The JSON store: one file ``{"<id>": {record}, ...}`` per collection.

The parsed file is kept in memory as raw dicts, in file order; records are validated
only when someone asks for them (a page, a get, a transfer). Every write is a
read-modify-write under an exclusive lock on a lock file beside the data file: if the
file changed on disk since we read it, it is read again and the change applied to what
is there now, so concurrent processes never lose each other's records.
"""

from __future__ import annotations

import asyncio
import operator
import os
import threading
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from itertools import compress, islice
from pathlib import Path
from typing import Any, Generic, TypeVar

from tui.gcpause import collector_paused
from tui.stores import jsonio
from tui.stores.base import (
    DEFAULT_QUERY,
    Entry,
    FileFormatError,
    FileSignature,
    OpensAndCloses,
    Page,
    Query,
    T,
    check_collection_name,
    make_entry,
    require_model,
    stamp_for_write,
)
from tui.stores.ordering import matches_filter, sort_key

R = TypeVar("R")


class _Abandoned(Exception):
    """Raised in the writing thread when the task awaiting the write was cancelled."""


# More records changed or removed than this in one write: write the whole file.
_SPLICE_LIMIT = 1000


class JsonStore(OpensAndCloses, Generic[T]):
    kind = "json"

    def __init__(self, path: Path, model: type[T]) -> None:
        self.path = Path(path)
        self.model = model
        self._data: dict[str, Any] = {}
        self._signature: FileSignature | None = None
        self._load_error: FileFormatError | None = None
        # True while the file holds exactly what orjson writes for self._data (what
        # jsonio.serialize writes), so that records can be spliced into it.
        self._file_is_serialized = False
        self._opened = False
        # (query, the data dict it was computed from, ordered ids)
        self._view: tuple[Query, dict[str, Any], list[str]] | None = None
        self._matches: tuple[str, dict[str, Any], list[str]] | None = None

    @classmethod
    def in_data_dir(cls, data_dir: Path, collection: str, model: type[T]) -> JsonStore[T]:
        check_collection_name(collection)
        return cls(Path(data_dir) / "json" / f"{collection}.json", model)

    @property
    def label(self) -> str:
        return f"JSON {self.path}"

    @property
    def load_error(self) -> FileFormatError | None:
        """Why the file could not be read; while set, every write is refused."""
        return self._load_error

    # -- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        await asyncio.to_thread(self._open_sync)
        self._opened = True

    def _open_sync(self) -> None:
        if not self.path.parent.is_dir():
            self._reload_sync()  # no folder yet (an empty store), or a path that cannot be
            return
        with jsonio.exclusive_lock(self.path):
            # Only under the lock: a live writer's temp file must not vanish mid-write.
            jsonio.remove_stale_temp_files(self.path)
            self._reload_locked()

    async def close(self) -> None:
        self._opened = False

    async def reload(self) -> None:
        await asyncio.to_thread(self._reload_sync)

    def _reload_sync(self) -> None:
        """Read the file; on failure keep the error and refuse writes, but do not raise."""
        if not self.path.parent.is_dir():
            # Nothing to lock: reading says what is there (nothing, or why not).
            self._reload_locked()
            return
        # Under the write lock: a write (ours in another thread, or another process's)
        # cannot land between taking the signature and reading the bytes it describes.
        with jsonio.exclusive_lock(self.path):
            self._reload_locked()

    def _reload_locked(self) -> None:
        """:meth:`_reload_sync` for a caller that holds the write lock already."""
        self._signature = FileSignature.of(self.path)
        try:
            with collector_paused():
                self._data, self._file_is_serialized = self._read_sync()
            self._load_error = None
        except FileFormatError as exc:
            self._data, self._file_is_serialized = {}, False
            self._load_error = exc

    def _read_sync(self) -> tuple[dict[str, Any], bool]:
        data = jsonio.read_file(self.path)
        if data is None:
            return {}, False
        return jsonio.parse_store(self.path, data)

    async def version(self) -> object:
        """A value that changes whenever anyone writes the file."""
        return await asyncio.to_thread(FileSignature.of, self.path)

    async def changed_on_disk(self) -> bool:
        return await asyncio.to_thread(lambda: FileSignature.of(self.path) != self._signature)

    def _check_readable(self) -> None:
        if self._load_error is not None:
            raise self._load_error

    # -- reads -------------------------------------------------------------------------

    async def count(self, filter: str = "") -> int:
        self._check_readable()
        if not filter:
            return len(self._data)
        return len(await asyncio.to_thread(self._matching_keys, self._data, filter))

    async def get(self, record_id: str) -> Entry[T] | None:
        self._check_readable()
        raw = self._data.get(record_id)
        return None if raw is None else make_entry(self.model, record_id, raw)

    async def page(
        self, query: Query = DEFAULT_QUERY, offset: int = 0, limit: int = 100
    ) -> Page[T]:
        self._check_readable()
        return await asyncio.to_thread(self._page_sync, query, offset, limit)

    def _matching_keys(self, data: dict[str, Any], needle: str) -> list[str]:
        """The ids of ``data`` whose record matches ``needle``, in file order; cached."""
        cached = self._matches
        if cached is not None and cached[0] == needle and cached[1] is data:
            return cached[2]
        if needle:
            keys = [k for k, v in data.items() if matches_filter(v, needle, k)]
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
            keys.sort(key=lambda k: sort_key(data[k], k, query.sort), reverse=query.descending)
        self._view = (query, data, keys)
        return keys

    def _page_sync(self, query: Query, offset: int, limit: int) -> Page[T]:
        data = self._data
        keys = self._ordered_keys(data, query)
        chosen = keys[offset : offset + limit]
        return Page([make_entry(self.model, k, data[k]) for k in chosen], offset, len(keys))

    async def position(self, query: Query, record_id: str) -> int | None:
        """Where ``record_id`` stands in ``query``'s order, or None if it is not there."""
        self._check_readable()
        if record_id not in self._data:
            return None

        def find() -> int | None:
            try:
                return self._ordered_keys(self._data, query).index(record_id)
            except ValueError:
                return None

        return await asyncio.to_thread(find)

    async def iter_all(self, batch_size: int = 1000) -> AsyncIterator[Entry[T]]:
        """Every entry in file order, valid or not."""
        self._check_readable()
        for key, raw in list(self._data.items()):
            yield make_entry(self.model, key, raw)

    async def iter_raw(self, batch_size: int = 1000) -> AsyncIterator[tuple[str, Any]]:
        """Every (id, stored value) in file order, unvalidated."""
        for item in self.raw_items():
            yield item

    def raw_items(self) -> list[tuple[str, Any]]:
        """The stored values in file order, unvalidated (for transfers and the raw view)."""
        self._check_readable()
        return list(self._data.items())

    # -- writes ------------------------------------------------------------------------

    async def upsert(self, record: T) -> Entry[T]:
        require_model(self.model, record)

        def change(data: dict[str, Any]) -> Entry[T]:
            stamped = stamp_for_write(record, data.get(record.id))
            raw = stamped.to_raw()
            data[record.id] = raw
            return Entry(record.id, raw, stamped, None)

        return await self._mutate(change, touched=(record.id,))

    async def upsert_many(self, records: Sequence[T]) -> int:
        for record in records:
            require_model(self.model, record)

        def change(data: dict[str, Any]) -> int:
            for record in records:
                data[record.id] = stamp_for_write(record, data.get(record.id)).to_raw()
            return len(records)

        return await self._mutate(change, touched=[record.id for record in records])

    async def put_raw_many(
        self,
        raws: Sequence[dict[str, Any]],
        progress: Callable[[int, int], None] | None = None,
        check: Callable[[], None] | None = None,
    ) -> int:
        """Store records exactly as given (ids, timestamps, unknown fields): one atomic write.

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

        def change(data: dict[str, Any]) -> int:
            for done, raw in enumerate(raws, 1):
                data[raw["id"]] = raw
                if done % 5000 == 0:
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

    async def delete(self, record_id: str) -> bool:
        def change(data: dict[str, Any]) -> bool:
            return data.pop(record_id, None) is not None

        return await self._mutate(change, write_if=bool, touched=(record_id,))


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
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise jsonio.write_error(self.path, exc) from exc
        with jsonio.exclusive_lock(self.path):
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
        value object means the same record; every record spliced is checked against the
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
