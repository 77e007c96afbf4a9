"""Reads and the disk check while the store's own write transaction runs: the rows of a
transaction are never read before its COMMIT (they may be rolled back), and the store's
own writes are not taken for another program's change."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.records import raw_record
from tui.models import ExampleItem
from tui.stores import SqliteStore
from tui.stores import sqlite_store as sqlite_module

BEFORE = 10
ADDED = 3000


class Stop(Exception):
    """A cancelled transfer's check raises this inside the transaction."""


async def _seeded(path: Path) -> SqliteStore[ExampleItem]:
    store = SqliteStore(path, "example_items", ExampleItem)
    await store.open()
    await store.put_raw_many([raw_record(f"a{n:03d}", f"n{n}") for n in range(BEFORE)])
    # A small page cache: the transaction's pages spill into the -wal file before the
    # COMMIT, as a big import's do.
    await store.db.execute("PRAGMA cache_size = 5")
    await store.changed_on_disk()  # (opened before: this is the baseline)
    return store


@pytest.mark.parametrize("outcome", ["commit", "rollback"])
async def test_reads_during_a_write_see_the_state_before_or_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, outcome: str
) -> None:
    monkeypatch.setattr(sqlite_module, "_BATCH", 100)  # many batches, a turn of the loop each
    store = await _seeded(tmp_path / "myapp.db")
    raws = [raw_record(f"b{n:05d}", f"m{n}") for n in range(ADDED)]
    batches = 0
    seen: list[tuple[int, bool]] = []
    looked: list[tuple[bool, bool]] = []  # (during the write, changed on disk)

    halfway = asyncio.Event()

    def check() -> None:
        nonlocal batches
        batches += 1
        if batches == 10:  # some pages written (and spilled) by now
            halfway.set()
        if outcome == "rollback" and batches == 20:
            raise Stop

    async def read_meanwhile() -> None:
        await halfway.wait()
        while not writing.done():
            # The disk check (first: the reads below wait for the write to end) ...
            looked.append((store._writes > 0, await store.changed_on_disk()))
            # ... a count (cached) and a look-up by id (never cached): neither sees the
            # rows of the transaction before its COMMIT.
            seen.append((await store.count(), await store.get("b00000") is not None))
            await asyncio.sleep(0)

    try:
        writing = asyncio.ensure_future(store.put_raw_many(raws, check=check))
        await asyncio.sleep(0)  # the write has begun
        assert store._writes == 1
        reader = asyncio.ensure_future(read_meanwhile())
        if outcome == "commit":
            await writing
        else:
            with pytest.raises(Stop):
                await writing
        await reader
        after = BEFORE + ADDED if outcome == "commit" else BEFORE
        assert batches >= 20  # the reader had turns to read in the middle of the write
        assert seen and set(seen) <= {(BEFORE, False), (after, after > BEFORE)}, set(seen)
        # Looked at while the write ran, and it was not taken for another program's.
        assert any(during for during, _ in looked) and not any(c for _, c in looked)
        assert await store.count() == after
        assert not await store.changed_on_disk()  # nor is its commit or its rollback
    finally:
        await store.close()


async def test_another_connection_commit_is_still_seen(tmp_path: Path) -> None:
    path = tmp_path / "myapp.db"
    store = await _seeded(path)
    other = SqliteStore(path, "example_items", ExampleItem)
    try:
        await other.open()
        await other.put_raw_many([raw_record("other", "other")])
        assert await store.changed_on_disk()
        assert await store.count() == BEFORE + 1
    finally:
        await other.close()
        await store.close()


async def test_a_write_during_another_waits_its_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A form's save during an import: it used to fail with "cannot start a transaction
    within a transaction"; it is written once the import commits."""
    monkeypatch.setattr(sqlite_module, "_BATCH", 100)
    store = await _seeded(tmp_path / "myapp.db")
    started = asyncio.Event()
    batches = 0

    def check() -> None:
        nonlocal batches
        batches += 1
        if batches == 5:
            started.set()

    try:
        importing = asyncio.ensure_future(
            store.put_raw_many([raw_record(f"b{n:05d}", "i") for n in range(ADDED)], check=check)
        )
        await started.wait()
        entry = await store.upsert(ExampleItem(id="form", name="saved meanwhile"))
        assert importing.done()  # the save waited for the import to commit
        assert await importing == ADDED
        assert entry.valid and (await store.get("form")) is not None
        assert await store.count() == BEFORE + ADDED + 1
    finally:
        await store.close()
