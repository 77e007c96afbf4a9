"""The SQLite store's first rows, read on a thread of their own while the app starts.

Importing Textual and building the screen take most of a start; the store can only open
once the event loop runs, and its connection's thread then waits for that busy loop. So
``python -m tui`` starts this read before it imports Textual, and the SQLite pane draws
its first frame with these rows; its usual load replaces them straight after.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from tui.config import sqlite_store
from tui.stores import Entry, SqliteStore


class FirstRows:
    """Read ``store.preview_head(limit)`` on a daemon thread, started now."""

    def __init__(self, store: SqliteStore[Any], limit: int) -> None:
        self._rows: list[Entry[Any]] | None = None
        self._done = threading.Event()
        # A daemon: a read held up by a lock never keeps the process alive.
        thread = threading.Thread(
            target=self._read, args=(store, limit), name="first-rows", daemon=True
        )
        thread.start()

    def _read(self, store: SqliteStore[Any], limit: int) -> None:
        try:
            self._rows = store.preview_head(limit)
        except Exception:
            self._rows = None
        finally:
            self._done.set()

    def take(self) -> list[Entry[Any]] | None:
        """The rows if they are read by now (it never waits), once; else None."""
        if not self._done.is_set():
            return None
        rows, self._rows = self._rows, None
        return rows


FIRST_ROWS = 100  # a pane's first page


def start_reading_first_rows(data_dir: Path) -> FirstRows | None:
    """Start reading the data folder's SQLite first rows, if it has a database: when it
    has none, the app creates it (with sample records) before it starts."""
    store = sqlite_store(data_dir)
    try:
        exists = store.path.is_file()
    except OSError:  # an unreadable folder: the pane says so once the app runs
        return None
    return FirstRows(store, FIRST_ROWS) if exists else None
