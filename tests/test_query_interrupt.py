"""A SQLite read superseded by a newer filter stops: it does not hold up the newer one.

The filter's SQL function ``tui_matches`` (the path a needle holding a NUL takes) is
replaced on the store's connection by one that counts its calls and, on its first call,
blocks until the test lets it go. Uninterrupted, the count would call it once per row;
interrupted, SQLite stops the statement as soon as that first call returns. No timing is
measured: the number of calls shows whether the old statement ran on.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from textual.widgets import Input

from tests.app_helpers import SIZE, panes, wait_for, wait_loaded
from tui.app import BrowserApp
from tui.models import ExampleItem
from tui.stores import SqliteStore

NUL_ROWS = 200


def records() -> list[dict[str, Any]]:
    rows = [
        {"id": f"nul{i:04d}", "name": f"item\x00{i}", "description": "", "tags": []}
        for i in range(NUL_ROWS)
    ]
    rows += [
        {"id": f"zep{i}", "name": f"Zephyr {i}", "description": "", "tags": []} for i in range(3)
    ]
    return rows


class Blocker:
    """A stand-in for tui_matches: the first call waits for ``release``."""

    def __init__(self) -> None:
        self.calls = 0  # with the needle "\x00" (another filter calls it too)
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, text: Any, needle: Any) -> bool:
        if needle != "\x00":
            return False
        self.calls += 1
        self.entered.set()
        self.release.wait(30)
        return False

    async def install(self, store: SqliteStore[Any]) -> None:
        await store.db.create_function("tui_matches", 2, self, deterministic=True)


async def make_store(tmp_path: Path) -> SqliteStore[ExampleItem]:
    store = SqliteStore.in_data_dir(tmp_path, "example_items", ExampleItem)
    async with store:
        await store.put_raw_many(records())
    return store


async def start_held_count(store: SqliteStore[Any], blocker: Blocker) -> asyncio.Task[int]:
    """``store.count("\\x00")`` running on the connection's thread, held by ``blocker`` on
    its first row."""
    await blocker.install(store)
    read = asyncio.create_task(store.count("\x00"))
    assert await asyncio.to_thread(blocker.entered.wait, 30)
    return read


async def test_cancelled_count_is_interrupted_and_the_next_query_answers(tmp_path: Path) -> None:
    store = await make_store(tmp_path)
    blocker = Blocker()
    async with store:
        old = await start_held_count(store, blocker)
        old.cancel()  # what a newer keystroke does to the pane's query worker
        newer = asyncio.create_task(store.count("zephyr"))  # queued behind the old one
        await asyncio.wait([old])  # the cancellation has reached the store
        blocker.release.set()
        assert await newer == 3
        assert old.cancelled()
        assert blocker.calls == 1  # the old count stopped at its first row
        # The connection is fine afterwards, and the same filter counts in full.
        blocker.calls = 0
        assert await store.count("\x00") == 0  # the stand-in matches nothing
        assert blocker.calls == NUL_ROWS


async def test_a_read_cancelled_before_it_starts_is_skipped(tmp_path: Path) -> None:
    store = await make_store(tmp_path)
    blocker = Blocker()
    async with store:
        running = await start_held_count(store, blocker)
        # (_count: straight to the counting statement, no freshness check before it)
        queued = asyncio.create_task(store._count("\x00"))  # waits for the thread
        await asyncio.sleep(0.01)
        queued.cancel()
        await asyncio.wait([queued])  # the cancellation has reached the store
        blocker.release.set()
        assert await running == 0  # not cancelled: it runs to its end
        assert await store.count("zephyr") == 3  # queued after the cancelled one
        assert queued.cancelled()
        assert blocker.calls == NUL_ROWS  # the cancelled one never ran


async def test_a_read_cancelled_while_a_write_waits_is_not_interrupted(tmp_path: Path) -> None:
    """sqlite3_interrupt stops whatever the connection runs, and its flag can outlive the
    statement it was meant for: so a read is never interrupted while one of our writes is
    waiting for the connection. The read, cancelled then, runs to its end (every row's
    call is made) and the write after it lands whole."""
    store = await make_store(tmp_path)
    blocker = Blocker()
    async with store:
        read = await start_held_count(store, blocker)
        rows = [{"id": f"w{i:05d}", "name": f"W {i}", "tags": []} for i in range(5000)]
        write = asyncio.create_task(store.put_raw_many(rows))  # queued behind the read
        await asyncio.sleep(0.01)
        assert store._writes == 1  # the write is waiting for the connection
        read.cancel()
        await asyncio.wait([read])
        blocker.release.set()
        assert await write == 5000
        assert blocker.calls == NUL_ROWS  # not interrupted: the read went through every row
        assert await store.count() == NUL_ROWS + 3 + 5000


async def test_pane_shows_the_newer_filter_after_interrupting_the_old_one(tmp_path: Path) -> None:
    await make_store(tmp_path)
    (tmp_path / "json").mkdir()
    (tmp_path / "json" / "example_items.json").write_text("{}\n")
    blocker = Blocker()
    app = BrowserApp(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        _, pane = panes(app)
        store = pane.store
        assert isinstance(store, SqliteStore)
        await blocker.install(store)
        await pilot.press("tab")
        pane.open_filter()
        await pilot.pause()
        box = pane.query_one("#filter", Input)
        box.value = "\x00"  # as if typed: the filter runs once typing pauses
        await wait_for(pilot, blocker.entered.is_set)
        box.value = "zephyr"  # the next keystroke supersedes the running count
        await wait_for(pilot, lambda: pane.query_state.filter == "zephyr")
        await pilot.pause(0.3)  # past the typing pause: the newer query has started
        blocker.release.set()
        await wait_for(
            pilot,
            lambda: (
                pane.shown_query.filter == "zephyr"
                and pane.current is not None
                and pane.current.id == "zep0"
            ),
        )
        assert pane.matching == 3
        assert pane.table.total == 3
        assert pane.error is None
        assert blocker.calls == 1
        await pilot.pause(0.1)
        assert pane.error is None  # the interrupted count surfaced no error
        assert not [n for n in app._notifications if n.severity == "error"]
