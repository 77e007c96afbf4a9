"""Helpers for driving the browser app under Pilot."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from tui.app import BrowserApp, BrowserScreen
from tui.widgets.store_pane import StorePane

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
            (p.error is not None) or (p.writable and (p.table.total == 0 or p.current is not None))
            for p in panes(app)
        )

    await wait_for(pilot, ready)
    await pilot.pause()


async def type_text(pilot: Pilot[Any], text: str) -> None:
    await pilot.press(*[c if c != " " else "space" for c in text])


def visible_rows(pane: StorePane) -> list[str]:
    table = pane.table
    return [table.render_line(y).text for y in range(table.size.height)]
