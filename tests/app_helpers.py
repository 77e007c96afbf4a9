"""Helpers for driving the browser app under Pilot."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input

from tui.app import BrowserApp, BrowserScreen
from tui.text import pretty_json
from tui.widgets.store_pane import DetailPanel, StorePane

SIZE = (120, 36)


@dataclass(frozen=True)
class FileState:
    """Bytes and identity of a file: equal states mean it was not touched at all."""

    data: bytes | None
    inode: int | None
    mtime_ns: int | None

    @classmethod
    def of(cls, path: Path) -> FileState:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return cls(None, None, None)
        return cls(path.read_bytes(), st.st_ino, st.st_mtime_ns)


def json_path(data_dir: Path) -> Path:
    return data_dir / "json" / "example_items.json"


def db_path(data_dir: Path) -> Path:
    return data_dir / "db" / "myapp.db"


def browser(app: BrowserApp) -> BrowserScreen:
    return app.browser


def panes(app: BrowserApp) -> tuple[StorePane, StorePane]:
    screen = app.browser
    return screen.json_pane, screen.sqlite_pane


async def wait_for(pilot: Pilot[Any], condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Let the app run until ``condition()`` holds; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.02)


async def wait_loaded(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, BrowserApp)

    def ready() -> bool:
        if not app.browser.query(StorePane):
            return False  # not composed yet
        return all(
            (p.error is not None)
            or (
                p.writable
                and not p.loading_state  # the count is in, not just the first page
                and (p.table.total == 0 or p.current is not None)
            )
            for p in panes(app)
        )

    await wait_for(pilot, ready)
    await pilot.pause()


def detail_text(pane: StorePane) -> str:
    """What the pane's detail panel shows now."""
    return str(pane.query_one("#detail-body").render())


def detail_shows_current(pane: StorePane) -> bool:
    """The detail panel shows the record under the cursor, with no render pending
    (DetailPanel.show renders after the next refresh)."""
    entry = pane.current
    panel = pane.query_one(DetailPanel)
    return (
        entry is not None
        and panel._pending is DetailPanel._IDLE
        and pretty_json(entry.raw) in detail_text(pane)
    )


async def wait_detail(pilot: Pilot[Any], pane: StorePane, timeout: float = 15.0) -> str:
    """Wait until the detail panel shows the record under the cursor; its text."""
    await wait_for(pilot, lambda: detail_shows_current(pane), timeout)
    return detail_text(pane)


async def wait_form_ready(pilot: Pilot[Any]) -> Screen[Any]:
    """Wait until a record form is the screen with one of its inputs focused (keys
    typed before then would go elsewhere, or nowhere); the form."""
    from tui.screens.record_form import RecordForm

    app = pilot.app
    await wait_for(
        pilot,
        lambda: (
            isinstance(app.screen, RecordForm)
            and isinstance(app.focused, Input)
            and app.focused.screen is app.screen
        ),
    )
    return app.screen


def loads_done(pane: StorePane) -> bool:
    """No load of ``pane`` is pending or running (one started by a key has finished)."""
    return all(w.is_finished for w in pane.app.workers if w.node is pane and w.group == "load")


async def type_text(pilot: Pilot[Any], text: str) -> None:
    await pilot.press(*[c if c != " " else "space" for c in text])


def visible_rows(pane: StorePane) -> list[str]:
    table = pane.table
    return [table.render_line(y).text for y in range(table.size.height)]


@contextlib.asynccontextmanager
async def seeded_app(
    data_dir: Path, size: tuple[int, int] = SIZE
) -> AsyncIterator[tuple[BrowserApp, Pilot[Any]]]:
    """The app on the sample data in ``data_dir``, both panes loaded."""
    from tui.sample import seed_if_empty

    await seed_if_empty(data_dir)
    app = BrowserApp(data_dir)
    async with app.run_test(size=size) as pilot:
        await wait_loaded(pilot)
        yield app, pilot
