"""Issue 5, item 1 (SQLite): faults injected into the SQLite store's writes and reads.

A full disk is a size limit on the store's own connection (``PRAGMA max_page_count``,
SQLite's SQLITE_FULL path), swept from "no page to spare" upwards until the write fits;
a read-only database is ``PRAGMA query_only``; damage is pages overwritten under an open
store. After every fault: a clear StoreError naming the file, the transaction rolled back,
``PRAGMA integrity_check`` is ``ok``, the data is exactly the old (or, once the write
fits, the new), the store's own reads agree, and it works again once the fault is gone.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.records import raw_record
from tests.reliability.budget import Figures, amount
from tui.models import ExampleItem
from tui.stores import SqliteStore, StoreError

COLLECTION = "example_items"
COMMAND = "pytest tests/reliability/test_rel_sqlite_faults.py"
FULL = "disk is full"


def on_disk(path: Path) -> dict[str, Any]:
    """Integrity-checked contents, read by a connection of its own: id -> parsed data."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = db.execute("SELECT id, data FROM example_items").fetchall()
    finally:
        db.close()
    return {record_id: json.loads(data) for record_id, data in rows}


async def seeded_store(path: Path, count: int) -> SqliteStore[ExampleItem]:
    store = SqliteStore(path, COLLECTION, ExampleItem)
    await store.open()
    await store.put_raw_many(
        [raw_record(f"r{n:05d}", f"record {n}", description="d" * 300) for n in range(count)]
    )
    return store


async def limit_pages(store: SqliteStore[Any], spare: int | None) -> None:
    """Let the database grow by ``spare`` pages at most (None: lift the limit)."""
    rows = await store.db.execute_fetchall("PRAGMA page_count")
    pages = int(next(iter(rows))[0])
    limit = 1_073_741_823 if spare is None else pages + spare
    await store.db.execute(f"PRAGMA max_page_count = {limit}")


def assert_clear(exc: StoreError, path: Path, says: str) -> None:
    message = str(exc)
    assert str(path) in message and says in message, message
    assert "\n" not in message and "Traceback" not in message, message


async def agrees(store: SqliteStore[Any], expected: dict[str, Any]) -> None:
    """The store's own reads (cached counts included) show ``expected``."""
    assert await store.count() == len(expected)
    seen = {e.id: e.raw async for e in store.iter_all()}
    assert seen.keys() == expected.keys()


async def refused_cleanly(
    exc: StoreError, store: SqliteStore[Any], path: Path, old: dict[str, Any]
) -> None:
    """A write refused for the full disk: a clear message, the file and the store's own
    reads still exactly ``old``."""
    assert_clear(exc, path, FULL)
    assert on_disk(path) == old
    await agrees(store, old)


async def test_full_disk_during_upsert(tmp_path: Path, figures: Figures) -> None:
    """N = 0, 1, 2, ... spare pages until a big record fits; each failure retried once
    with the disk still full (a fault on every later call too)."""
    path = tmp_path / "myapp.db"
    store = await seeded_store(path, 200)
    faults = clean = 0
    try:
        old = on_disk(path)
        record = ExampleItem(id="big", name="big", description="x" * 40_000)
        for spare in range(200):
            await limit_pages(store, spare)
            failed = False
            for _attempt in range(2):
                try:
                    await store.upsert(record)
                except StoreError as exc:
                    faults += 1
                    await refused_cleanly(exc, store, path, old)
                    clean += 1
                    failed = True
                else:
                    break
            if not failed:
                break
        else:
            pytest.fail("the record never fitted")
        assert faults >= 4  # a 40 kB record needs several pages: the sweep did fail
        new = on_disk(path)
        assert new.keys() == old.keys() | {"big"}
        assert new["big"]["description"] == "x" * 40_000
        assert {k: v for k, v in new.items() if k != "big"} == old
        await limit_pages(store, None)
        await store.upsert(ExampleItem(id="after", name="after", description="y" * 40_000))
        assert "after" in on_disk(path)
    finally:
        await store.close()
        figures.add("SQLite faults injected (full disk, upsert)", faults, clean, COMMAND)


async def test_full_disk_during_import(tmp_path: Path, figures: Figures) -> None:
    """put_raw_many (what Import applies) of 5,000 records, more than one batch, swept."""
    path = tmp_path / "myapp.db"
    store = await seeded_store(path, 100)
    raws = [
        raw_record(f"r{n:05d}", f"imported {n}", description="i" * 200) for n in range(50, 5050)
    ]
    step = amount(9, 1)
    faults = clean = 0
    try:
        old = on_disk(path)
        expected_new = {**old, **{raw["id"]: raw for raw in raws}}
        spare = 0
        while True:
            await limit_pages(store, spare)
            try:
                await store.put_raw_many(raws)
            except StoreError as exc:
                faults += 1
                await refused_cleanly(exc, store, path, old)
                clean += 1
                spare += step
                assert spare < 5000, "the import never fitted"
            else:
                break
        assert faults >= 10
        assert on_disk(path) == expected_new
        await agrees(store, expected_new)
        await limit_pages(store, None)
        await store.put_raw_many([raw_record("after", "after")])
        assert "after" in on_disk(path)
    finally:
        await store.close()
        figures.add("SQLite faults injected (full disk, import)", faults, clean, COMMAND)


async def test_full_disk_then_delete_frees_space(tmp_path: Path, figures: Figures) -> None:
    """A delete needs no new page: it goes through on a full disk, and the space it
    frees takes a record that did not fit before."""
    figures.cases("SQLite faults injected (full disk, delete)", command=COMMAND)
    path = tmp_path / "myapp.db"
    store = await seeded_store(path, 100)
    try:
        await store.upsert(ExampleItem(id="big", name="big", description="x" * 40_000))
        await limit_pages(store, 0)
        before = on_disk(path)
        other = ExampleItem(id="other", name="other", description="z" * 30_000)
        with pytest.raises(StoreError) as caught:
            await store.upsert(other)
        assert_clear(caught.value, path, FULL)
        assert on_disk(path) == before
        assert await store.delete("big")
        after_delete = on_disk(path)
        assert after_delete == {k: v for k, v in before.items() if k != "big"}
        await store.upsert(other)  # the freed pages are reused within the limit
        assert on_disk(path).keys() == after_delete.keys() | {"other"}
    finally:
        await store.close()


@pytest.mark.parametrize("operation", ["upsert", "delete", "import"])
async def test_read_only_database_refuses_every_write(
    tmp_path: Path, operation: str, figures: Figures
) -> None:
    figures.cases("SQLite faults injected (read-only)", 3, COMMAND)
    path = tmp_path / "myapp.db"
    store = await seeded_store(path, 50)
    try:
        old = on_disk(path)
        await store.db.execute("PRAGMA query_only = 1")
        for _ in range(3):  # failing every call, not only the first
            with pytest.raises(StoreError) as caught:
                if operation == "upsert":
                    await store.upsert(ExampleItem(id="r00001", name="changed"))
                elif operation == "delete":
                    await store.delete("r00001")
                else:
                    await store.put_raw_many([raw_record("new", "new")] * 3)
            assert_clear(caught.value, path, "read-only")
            assert on_disk(path) == old
            await agrees(store, old)
        await store.db.execute("PRAGMA query_only = 0")
        assert await store.delete("r00002")
        assert on_disk(path).keys() == old.keys() - {"r00002"}
    finally:
        await store.close()


async def test_pages_damaged_under_an_open_store(tmp_path: Path, figures: Figures) -> None:
    """The file is damaged after the store opened it: reads and writes give a clear
    error, never a traceback, and the store works again once the file is put back."""
    path = tmp_path / "myapp.db"
    store = await seeded_store(path, 300)
    await store.close()
    good = path.read_bytes()
    assert not Path(f"{path}-wal").exists()  # checkpointed on close: all in the file
    reads = ("page", "count", "iter", "get", "upsert")
    figures.cases("SQLite faults injected (damaged pages)", len(reads), COMMAND)
    store = SqliteStore(path, COLLECTION, ExampleItem)
    await store.open()
    try:
        damaged = bytearray(good)
        damaged[4096 * 2 :] = bytes(range(256)) * ((len(good) - 8192) // 256)
        path.write_bytes(bytes(damaged[: len(good)]))
        for read in reads:
            with pytest.raises(StoreError) as caught:
                if read == "page":
                    await store.page(limit=500)
                elif read == "count":
                    await store.count("record")
                elif read == "iter":
                    async for _ in store.iter_all():
                        pass
                elif read == "get":
                    await store.get("r00299")
                else:
                    await store.upsert(ExampleItem(id="r00299", name="changed"))
            assert_clear(caught.value, path, "damaged")
        path.write_bytes(good)
        await store.reload()
        assert await store.count() == 300
    finally:
        await store.close()
    assert len(on_disk(path)) == 300


async def test_app_reports_a_failed_sqlite_write_and_works_again(
    tmp_path: Path, figures: Figures
) -> None:
    """In the app: a save and a delete on a database that refuses writes are reported as
    one message, change nothing, and go through once the fault is gone."""
    from tests.app_helpers import SIZE, panes, type_text, wait_for, wait_loaded
    from tui.app import BrowserApp
    from tui.sample import seed_if_empty
    from tui.screens.confirm import ConfirmScreen
    from tui.screens.record_form import RecordForm

    assert await seed_if_empty(tmp_path)
    path = tmp_path / "db" / "myapp.db"
    app = BrowserApp(tmp_path)
    figures.cases("SQLite faults injected (in the app)", 2, COMMAND)  # a save, a delete
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        _, right = panes(app)
        store = right.store
        assert isinstance(store, SqliteStore)
        old = on_disk(path)

        def errors() -> list[str]:
            return [n.message for n in app._notifications if n.severity == "error"]

        await pilot.press("tab")
        await store.db.execute("PRAGMA query_only = 1")
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, RecordForm))
        await type_text(pilot, "refused")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(errors()) == 1)
        assert str(path) in errors()[0] and "read-only" in errors()[0], errors()
        assert on_disk(path) == old
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, RecordForm))
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: len(errors()) == 2)
        assert "read-only" in errors()[1], errors()
        assert on_disk(path) == old
        await store.db.execute("PRAGMA query_only = 0")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: len(on_disk(path)) == len(old) - 1)
        assert len(errors()) == 2
