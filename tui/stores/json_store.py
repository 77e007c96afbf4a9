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
from collections.abc import AsyncIterator, Callable, Sequence
from itertools import islice
from pathlib import Path
from typing import Any, Generic, TypeVar

from tui.stores import jsonio
from tui.stores.base import (
    DEFAULT_QUERY,
    Entry,
    FileFormatError,
    FileSignature,
    InvalidRecord,
    Page,
    Query,
    StoreError,
    T,
    check_collection_name,
    make_entry,
    stamp_for_write,
)
from tui.stores.ordering import matches_filter, sort_key

R = TypeVar("R")


class JsonStore(Generic[T]):
    kind = "json"

    def __init__(self, path: Path, model: type[T]) -> None:
        self.path = Path(path)
        self.model = model
        self._data: dict[str, Any] = {}
        self._signature: FileSignature | None = None
        self._load_error: FileFormatError | None = None
        # True while the file holds exactly what jsonio.serialize(self._data) writes, so
        # that new records can be appended without serializing the others again.
        self._file_is_serialized = False
        self._opened = False
        # (query, the data dict it was computed from, ordered ids)
        self._view: tuple[Query, dict[str, Any], list[str]] | None = None

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
        if self.path.parent.is_dir():
            # Only under the lock: a live writer's temp file must not vanish mid-write.
            with jsonio.exclusive_lock(self.path):
                jsonio.remove_stale_temp_files(self.path)
        self._reload_sync()

    async def close(self) -> None:
        self._opened = False

    async def __aenter__(self) -> JsonStore[T]:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def reload(self) -> None:
        await asyncio.to_thread(self._reload_sync)

    def _reload_sync(self) -> None:
        """Read the file; on failure keep the error and refuse writes, but do not raise."""
        try:
            self._data, self._signature, self._file_is_serialized = self._read_sync()
            self._load_error = None
        except FileFormatError as exc:
            self._data, self._signature = {}, FileSignature.of(self.path)
            self._file_is_serialized = False
            self._load_error = exc

    def _read_sync(self) -> tuple[dict[str, Any], FileSignature | None, bool]:
        # Take the signature before reading: if the file changes in between, the next
        # check sees a difference and reads again, never the reverse.
        signature = FileSignature.of(self.path)
        data = jsonio.read_file(self.path)
        if data is None:
            return {}, None, False
        value, serialized = jsonio.parse_store(self.path, data)
        return value, signature, serialized

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
        return sum(1 for k, raw in self._data.items() if matches_filter(raw, filter, k))

    async def get(self, record_id: str) -> Entry[T] | None:
        self._check_readable()
        raw = self._data.get(record_id)
        return None if raw is None else make_entry(self.model, record_id, raw)

    async def page(
        self, query: Query = DEFAULT_QUERY, offset: int = 0, limit: int = 100
    ) -> Page[T]:
        self._check_readable()
        return await asyncio.to_thread(self._page_sync, query, offset, limit)

    def _ordered_keys(self, query: Query) -> list[str]:
        """The ids matching ``query`` in its order; cached until the data changes."""
        data = self._data
        if self._view is not None and self._view[0] == query and self._view[1] is data:
            return self._view[2]
        keys = [k for k, v in data.items() if matches_filter(v, query.filter, k)]
        if query.sort == "id":
            keys.sort(reverse=query.descending)
        else:
            keys.sort(key=lambda k: sort_key(data[k], k, query.sort), reverse=query.descending)
        self._view = (query, data, keys)
        return keys

    def _page_sync(self, query: Query, offset: int, limit: int) -> Page[T]:
        data = self._data
        keys = self._ordered_keys(query)
        chosen = keys[offset : offset + limit]
        return Page([make_entry(self.model, k, data[k]) for k in chosen], offset, len(keys))

    async def position(self, query: Query, record_id: str) -> int | None:
        """Where ``record_id`` stands in ``query``'s order, or None if it is not there."""
        self._check_readable()
        if record_id not in self._data:
            return None

        def find() -> int | None:
            try:
                return self._ordered_keys(query).index(record_id)
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
        self._require_valid(record)

        def change(data: dict[str, Any]) -> Entry[T]:
            stamped = stamp_for_write(record, data.get(record.id))
            raw = stamped.to_raw()
            data[record.id] = raw
            return Entry(record.id, raw, stamped, None)

        return await self._mutate(change)

    async def upsert_many(self, records: Sequence[T]) -> int:
        for record in records:
            self._require_valid(record)

        def change(data: dict[str, Any]) -> int:
            for record in records:
                data[record.id] = stamp_for_write(record, data.get(record.id)).to_raw()
            return len(records)

        return await self._mutate(change)

    async def put_raw_many(
        self,
        raws: Sequence[dict[str, Any]],
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Store records exactly as given (ids, timestamps, unknown fields): one atomic write."""

        def change(data: dict[str, Any]) -> int:
            for done, raw in enumerate(raws, 1):
                data[raw["id"]] = raw
                if progress is not None and done % 5000 == 0:
                    progress(done, len(raws))
            return len(raws)

        count = await self._mutate(change)
        if progress is not None:
            progress(len(raws), len(raws))
        return count

    async def delete(self, record_id: str) -> bool:
        def change(data: dict[str, Any]) -> bool:
            return data.pop(record_id, None) is not None

        return await self._mutate(change, write_if=bool)

    def _require_valid(self, record: T) -> None:
        if not isinstance(record, self.model):
            raise InvalidRecord(f"expected {self.model.__name__}, got {type(record).__name__}")

    async def _mutate(
        self, change: Callable[[dict[str, Any]], R], write_if: Callable[[R], bool] | None = None
    ) -> R:
        return await asyncio.to_thread(self._mutate_sync, change, write_if)

    def _mutate_sync(
        self, change: Callable[[dict[str, Any]], R], write_if: Callable[[R], bool] | None
    ) -> R:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with jsonio.exclusive_lock(self.path):
            if FileSignature.of(self.path) != self._signature or self._load_error is not None:
                # Someone else wrote (or we could not read it last time): start from what
                # is on disk now. A file we cannot read is never overwritten.
                self._reload_sync()
                self._check_readable()
            data = dict(self._data)  # on failure the cache keeps the old content
            result = change(data)
            if write_if is not None and not write_if(result):
                return result
            try:
                if not self._append_sync(data):
                    jsonio.atomic_write(self.path, jsonio.serialize(data))
            except OSError as exc:
                raise jsonio.write_error(self.path, exc) from exc
            self._data = data
            self._signature = FileSignature.of(self.path)
            self._file_is_serialized = True
            return result

    def _append_sync(self, data: dict[str, Any]) -> bool:
        """Write ``data`` by appending to the file when it is ``self._data`` plus new
        records at the end (one add at 100k records need not serialize the 100k).

        Stored values are never changed in place (writes put new dicts), so the same
        value object means the same record. False when the whole file must be written.
        """
        old = self._data
        count = len(old)
        if not (self._file_is_serialized and self._signature and 0 < count < len(data)):
            return False
        if not (
            all(map(operator.is_, old, islice(data, count)))
            and all(map(operator.is_, old.values(), islice(data.values(), count)))
        ):
            return False  # a record was changed, removed or moved: write it all
        tail = jsonio.appended_tail((key, data[key]) for key in islice(data, count, None))
        if tail is None:
            return False
        signature = self._signature

        def unchanged(st: os.stat_result) -> bool:
            return FileSignature(st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size) == signature

        return jsonio.atomic_append(self.path, unchanged, tail)


__all__ = ["JsonStore", "StoreError"]
