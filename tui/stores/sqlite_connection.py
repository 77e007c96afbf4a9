"""One aiosqlite connection to a store's database: opened and set up in one trip to its
thread, closed with its thread joined, and read so that TEXT which is not UTF-8 does not
fail every statement that meets it. No Textual, no store logic: what SqliteStore uses."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

BUSY_TIMEOUT_MS = 5000


def fetch_all(
    conn: sqlite3.Connection, sql: str, params: Sequence[Any] | dict[str, Any]
) -> list[Any]:
    """All the rows of one statement. SQLite does not check that TEXT is UTF-8: when a
    value is not (a legacy encoding), the statement is read again with such values'
    bad bytes escaped (``\\xe9``), so that the row shows as invalid (escaped text is
    never valid JSON) instead of failing every read that meets it."""
    cursor = conn.cursor()
    try:
        return cursor.execute(sql, params).fetchall()
    except sqlite3.OperationalError as exc:
        if not str(exc).startswith("Could not decode to UTF-8"):
            raise
    finally:
        cursor.close()
    conn.text_factory = escaped_text  # (the connection's thread runs one thing at once)
    try:
        cursor = conn.cursor()
        try:
            return cursor.execute(sql, params).fetchall()
        finally:
            cursor.close()
    finally:
        conn.text_factory = str


async def fetch_in(db: aiosqlite.Connection, sql: str, record_id: str) -> list[Any]:
    """:func:`fetch_all` of one row's statement, inside a write's transaction."""
    on_thread: Callable[[Callable[[], list[Any]]], Awaitable[list[Any]]] = db._execute
    return await on_thread(lambda: fetch_all(db._conn, sql, (record_id,)))


class NotUtf8(str):
    """TEXT that was not UTF-8, its bad bytes escaped (see :func:`fetch_all`)."""


def escaped_text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return NotUtf8(data.decode("utf-8", "backslashreplace"))


NOT_UTF8 = "data column is TEXT that is not UTF-8 (its bad bytes shown escaped)"


async def open_connection(
    target: str | Path, prepare: Callable[[sqlite3.Connection], int]
) -> tuple[aiosqlite.Connection, int]:
    """An aiosqlite connection, ``prepare``d on its thread as part of connecting (its
    result is returned with it). Its thread is stopped and joined whatever happens: a
    thread left running would keep the process from exiting, or die with a traceback
    once the event loop is closed."""
    uri = isinstance(target, str) and target.startswith("file:")
    prepared: list[int] = []
    abandoned = threading.Event()  # the awaiting task is gone: set nothing up

    def connect_and_prepare() -> sqlite3.Connection:
        conn = sqlite3.connect(
            target, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, uri=uri
        )
        try:
            if abandoned.is_set():
                raise sqlite3.OperationalError("the opening was cancelled")
            prepared.append(prepare(conn))
        except BaseException:
            conn.close()
            raise
        return conn

    db = aiosqlite.Connection(connect_and_prepare, iter_chunk_size=64)
    try:
        await db
    except BaseException:
        abandoned.set()
        # aiosqlite queued the thread's stop behind the set-up, which may be waiting out
        # another connection's lock: the event loop must not freeze meanwhile, so the
        # thread's end is polled for, not joined. (A connection the set-up still returns
        # is dropped with the cancelled result, and closed as it is freed.)
        thread = db._thread
        while thread.is_alive():
            await asyncio.sleep(0.01)
        raise
    return db, prepared[0]


async def close_connection(db: aiosqlite.Connection) -> None:
    """Close the connection and wait for its thread to end, even if cancelled."""
    try:
        await db.close()
    finally:
        db.stop()  # a no-op after a close that got through: the thread has ended
        join_thread(db)


def join_thread(db: aiosqlite.Connection) -> None:
    # The thread has at most its stop (and the connect) left to run: quick.
    thread = db._thread
    if thread.is_alive() and thread is not threading.current_thread():
        thread.join(timeout=BUSY_TIMEOUT_MS / 1000)


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def enable_wal(conn: sqlite3.Connection) -> None:
    """Switch the database to WAL (a no-op when it already is), on the connection's thread.

    When several processes open the same new database at once, SQLite may answer the
    switch with "database is locked" straight away instead of waiting out the busy
    timeout; so wait and try again, for as long as the busy timeout would have waited.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL").fetchall()
            return
        except sqlite3.OperationalError as exc:
            busy = exc.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
            if not busy or time.monotonic() >= deadline:
                raise
        time.sleep(0.01)
