"""The SQLite pane's first rows, read on a thread while the app starts (tui/first_rows.py).

A preview only: read through a read-only connection of its own, it must show exactly what
the store's own first page shows, never write to the file, give up quietly on anything
that is not our table, and be replaced by the store's rows once the pane loads.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.app_helpers import SIZE, FileState, db_path, panes, wait_for, wait_loaded
from tests.records import raw_record
from tui.app import BrowserApp
from tui.config import sqlite_store
from tui.first_rows import FIRST_ROWS, FirstRows, start_reading_first_rows
from tui.sample import seed_if_empty
from tui.stores import SqliteStore


async def fill(data_dir: Path, count: int) -> list[dict[str, Any]]:
    raws = [raw_record(f"id{i:04d}", f"name {i}") for i in range(count)]
    raws[3]["name"] = 42  # invalid: shown as it is, validated later
    async with sqlite_store(data_dir) as store:
        await store.put_raw_many(raws)
    return raws


def shown(entries: Any) -> list[tuple[str, Any, str | None]]:
    return [(e.id, e.raw, e.error) for e in entries]


async def test_the_preview_is_the_stores_own_first_page(tmp_path: Path) -> None:
    await fill(tmp_path, 250)
    with sqlite3.connect(db_path(tmp_path)) as conn:  # a row whose data is not JSON
        conn.execute("UPDATE example_items SET data = '{oops' WHERE id = 'id0005'")
    store = sqlite_store(tmp_path)
    preview = store.preview_head(FIRST_ROWS)
    assert preview is not None and len(preview) == FIRST_ROWS
    assert not any(entry.checked and entry.error is None for entry in preview)  # unvalidated
    async with sqlite_store(tmp_path) as opened:
        head = await opened.head(limit=FIRST_ROWS, validate=False)
    assert shown(preview) == shown(head)
    assert preview[5].error is not None  # not JSON: invalid already


@pytest.mark.parametrize(
    "make",
    ["missing", "not a database", "empty database", "a view", "other columns", "a folder"],
)
def test_the_preview_gives_up_quietly_and_writes_nothing(tmp_path: Path, make: str) -> None:
    path = db_path(tmp_path)
    path.parent.mkdir(parents=True)
    if make == "not a database":
        path.write_bytes(b"SQLite format 3\x00" + b"\x07" * 2000)
    elif make == "a folder":
        path.mkdir()
    elif make != "missing":
        with sqlite3.connect(path) as conn:  # a rollback-journal database, not WAL
            if make == "a view":
                conn.execute("CREATE TABLE t (id TEXT, data TEXT)")
                conn.execute("CREATE VIEW example_items AS SELECT id, data, 1, 2 FROM t")
            elif make == "other columns":
                conn.execute("CREATE TABLE example_items (id TEXT, data TEXT)")
                conn.execute("INSERT INTO example_items VALUES ('a', '{}')")
        conn.close()
    before = sorted(p.name for p in path.parent.iterdir())
    state = FileState.of(path) if path.is_file() else None
    assert sqlite_store(tmp_path).preview_head(FIRST_ROWS) is None
    assert sorted(p.name for p in path.parent.iterdir()) == before  # no -wal, no -shm
    if state is not None:
        assert FileState.of(path) == state


async def test_first_rows_are_taken_once_and_never_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await fill(tmp_path, 5)
    release = threading.Event()
    real = SqliteStore.preview_head

    def slow_preview(self: SqliteStore[Any], limit: int) -> Any:
        release.wait(10)
        return real(self, limit)

    monkeypatch.setattr(SqliteStore, "preview_head", slow_preview)
    first_rows = start_reading_first_rows(tmp_path)
    assert first_rows is not None
    assert first_rows.take() is None  # still reading: not waited for
    release.set()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not first_rows._done.is_set() and loop.time() < deadline:
        await asyncio.sleep(0.01)
    assert first_rows._done.is_set(), "the first rows were not read in 30 s"
    rows = first_rows.take()
    assert rows is not None and [e.id for e in rows] == [f"id{i:04d}" for i in range(5)]
    assert first_rows.take() is None  # once


def test_nothing_is_read_before_the_database_exists(tmp_path: Path) -> None:
    assert start_reading_first_rows(tmp_path) is None


async def start_with_store_held_closed(
    data_dir: Path, first_rows: FirstRows | None, monkeypatch: pytest.MonkeyPatch
) -> tuple[BrowserApp, asyncio.Event]:
    """An app whose SQLite store does not open until the returned event is set: what
    the SQLite pane shows meanwhile is only what it had before its event loop ran."""
    opening = asyncio.Event()
    real_open = SqliteStore.open

    async def held_open(self: SqliteStore[Any]) -> None:
        await opening.wait()
        await real_open(self)

    monkeypatch.setattr(SqliteStore, "open", held_open)
    return BrowserApp(data_dir, first_rows), opening


@pytest.mark.parametrize("with_first_rows", [True, False])
async def test_the_first_frame_has_the_first_rows_before_the_store_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_first_rows: bool
) -> None:
    await seed_if_empty(tmp_path)
    first_rows = FirstRows(sqlite_store(tmp_path), FIRST_ROWS) if with_first_rows else None
    if first_rows is not None:
        first_rows._done.wait(10)
    app, opening = await start_with_store_held_closed(tmp_path, first_rows, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        _, sqlite_pane = panes(app)
        assert not sqlite_pane.writable  # the store is not open yet
        first = sqlite_pane.table.entry_at(0)
        if with_first_rows:
            assert first is not None and first.id == "0a1b2c3d4e5f"  # the sample's first
        else:
            assert first is None  # nothing to show until the store opens
        opening.set()
        await wait_loaded(pilot)
        # The load replaced the preview with the store's own rows, validated.
        await wait_for(pilot, lambda: bool(sqlite_pane.table.page_rows(0)))
        rows = sqlite_pane.table.page_rows(0)
        assert rows is not None and rows[0].id == "0a1b2c3d4e5f"
        await wait_for(pilot, lambda: all(e.checked for e in sqlite_pane.table.page_rows(0) or []))


async def test_the_preview_of_a_wal_database_leaves_its_file_as_it_was(tmp_path: Path) -> None:
    """Our own databases are in WAL mode; after a clean exit their -wal/-shm files are
    gone, and the read-only preview may make them again (as the store's open does right
    after): the database file itself stays byte-identical."""
    await fill(tmp_path, 20)
    path = db_path(tmp_path)
    assert not Path(f"{path}-wal").exists()  # the store's close removed them
    state = FileState.of(path)
    preview = sqlite_store(tmp_path).preview_head(FIRST_ROWS)
    assert preview is not None and len(preview) == 20
    assert FileState.of(path) == state


async def test_the_title_says_loading_while_only_the_preview_is_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Until the pane's own load counts the records, the title must not claim a count
    (it once said "0 records" above the preview's rows, and both panes did so in their
    first frame)."""
    from tui.widgets.store_pane import StorePane

    await seed_if_empty(tmp_path)
    first_rows = FirstRows(sqlite_store(tmp_path), FIRST_ROWS)
    first_rows._done.wait(10)
    monkeypatch.setattr(StorePane, "load", lambda self, *a, **k: None)  # the preview only
    app = BrowserApp(tmp_path, first_rows)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        _, sqlite_pane = panes(app)
        assert sqlite_pane.table.entry_at(0) is not None
        assert "loading…" in str(sqlite_pane.border_title)
        json_pane, _ = panes(app)
        assert "loading…" in str(json_pane.border_title)  # not loaded either
