"""The SQLite store: one table per collection, each record a compact JSON ``data`` column.

Layout (the persistence guide's, so its databases open here unchanged):
``(id TEXT PRIMARY KEY NOT NULL, data TEXT NOT NULL, created_at TEXT, updated_at TEXT)``.
WAL, a busy timeout, and every write in a ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
import urllib.parse
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from tui.stores.base import (
    ANY,
    DEFAULT_QUERY,
    DatabaseError,
    Entry,
    FileSignature,
    HoldsModel,
    OpensAndCloses,
    Page,
    Query,
    StoreChanged,
    StoreError,
    T,
    check_collection_name,
    check_expected,
    make_entries,
    make_entry,
    require_model,
    stamp_for_write,
)
from tui.stores.jsoncodec import parse_json_value
from tui.stores.jsonio import make_private_dirs
from tui.stores.ordering import ascii_lower, matches_filter
from tui.stores.sqlite_connection import (
    BUSY_TIMEOUT_MS,
    close_connection,
    enable_wal,
    fetch_all,
    fetch_in,
    file_size,
    open_connection,
)
from tui.stores.sqlite_rows import decode_row, decode_rows, encode_row, plain_id

_BATCH = 2000
_IDS_PER_QUERY = 500  # below SQLite's default limit of bound parameters
# Rows parsed and validated together while iterating (see iter_all).
_PARSE_ROWS = 64

# Page boundaries remembered per query (keyset paging), and how many queries and filter
# counts are remembered: enough for a pane going back and forth, small whatever the store.
_ANCHORS_PER_QUERY = 64
_QUERIES_REMEMBERED = 8
_COUNTS_REMEMBERED = 16

# A needle made only of these could be part of how SQLite writes a number (1e5 reads as
# 100000.0, true as 1, 1e999 as Inf), text that need not appear in the JSON as written.
_NUMBER_CHARS = frozenset("0123456789.-+e")

# Reading a filtered page in index order visits about (rows wanted) x (all rows / matching
# rows) rows, each a random read of the table; past this many, one sequential scan of the
# table and a sort of the matches is cheaper (a filter that few records match).
_SCAN_ROWS = 100_000

Key = tuple[Any, str]  # (sort key, id) of one row: a keyset anchor


class _Read:
    """One read statement queued on the connection's thread, until it has finished."""

    __slots__ = ("abandoned",)

    def __init__(self) -> None:
        self.abandoned = False  # whoever awaited it was cancelled: stop it, skip it


def _retrieved(future: asyncio.Future[Any]) -> None:
    """Mark a read nobody awaits any more as seen (its error goes nowhere)."""
    if not future.cancelled():
        future.exception()


class SqliteStore(OpensAndCloses, HoldsModel[T]):
    kind = "sqlite"

    def __init__(
        self,
        path: Path,
        table: str,
        model: type[T] | Callable[[], type[T]],
        *,
        create: bool = True,
    ) -> None:
        self.path = Path(path)
        self.table = check_collection_name(table)
        self._set_model(model)  # the class, or a function importing it when first used
        # False for read-only work (listing, a dry run): open() then creates no file and no
        # table and leaves the journal mode alone; a missing database or table reads as
        # empty, and writes are refused.
        self.create = create
        self._stand_in = False  # the table read is an empty stand-in: nothing on disk
        self._quoted = '"' + self.table + '"'
        self._db: aiosqlite.Connection | None = None
        self._signature: tuple[FileSignature | None, FileSignature | None] | None = None
        # Read caches, valid for one state of the data (see _check_fresh).
        self._data_version: int | None = None
        self._generation = 0  # bumped whenever the caches are dropped
        self._commits = 0  # our own commits (PRAGMA data_version counts only others')
        self._counts: OrderedDict[str, int] = OrderedDict()
        self._anchors: OrderedDict[Query, OrderedDict[int, Key]] = OrderedDict()
        self._indexed: set[str] = set()  # sort fields whose index exists (or failed)
        # The read running on aiosqlite's thread right now (see _fetch / _abandon), and
        # whether a write is under way (0 or 1: they take turns): a write is never
        # interrupted.
        self._read_lock = threading.Lock()
        self._running_read: _Read | None = None
        self._writes = 0
        # Reads share the connection with our write transactions, and would see their
        # rows before the COMMIT (an import's first batches, maybe rolled back by a
        # Cancel): other tasks' reads wait for the write to end.
        self._writer: asyncio.Task[Any] | None = None
        self._no_write = asyncio.Event()
        self._no_write.set()
        self._write_turn = asyncio.Lock()

    @classmethod
    def in_data_dir(
        cls, data_dir: Path, collection: str, model: type[T] | Callable[[], type[T]]
    ) -> SqliteStore[T]:
        return cls(Path(data_dir) / "db" / "myapp.db", collection, model)

    @property
    def label(self) -> str:
        return f"SQLite {self.path} [{self.table}]"

    # -- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        if self._db is not None:
            return
        if self.path.is_dir():
            raise DatabaseError(f"{self.path}: is a folder, not a database file")
        target: str | Path = self.path
        self._stand_in = False
        if not self.path.exists():
            if not self.create:
                # Nothing to read, and nothing to be created for reading: an empty table
                # in memory stands in for it; unless it could never exist there.
                for parent in self.path.parents:
                    if parent.exists():
                        if not parent.is_dir():
                            raise DatabaseError(f"{self.path}: {parent} is not a folder")
                        break
                target, self._stand_in = ":memory:", True
            else:
                try:
                    make_private_dirs(self.path.parent)
                except OSError as exc:
                    raise DatabaseError(
                        f"{self.path.parent}: cannot create the folder: {exc.strerror or exc}"
                    ) from None
                # Create it private to the user before SQLite opens it with the umask's
                # mode. Another process opening the same new database may create it
                # first: use it.
                with contextlib.suppress(FileExistsError):
                    os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
        elif not self.create:
            # Read-only work never creates the file, even if it vanishes meanwhile.
            target = "file:" + urllib.parse.quote(str(self.path.absolute())) + "?mode=rw"
        try:
            # Connected and set up in one trip to the connection's thread: at start-up
            # the event loop is busy drawing, and every trip waits for it.
            db, data_version = await open_connection(target, self._prepare)
        except sqlite3.DatabaseError as exc:
            raise _database_error(self.path, exc) from None
        self._db = db
        self._signature = self._file_signature()
        self._forget()
        self._data_version = data_version  # nothing is cached yet: see _check_fresh
        self._indexed.clear()

    def _check_layout(self, conn: sqlite3.Connection) -> set[str]:
        """Read-only checks that the file is a database whose table (if it has one) is
        ours; the table's columns (none: no such table yet)."""
        # Reading the schema is the first thing that fails on a file that is not SQLite.
        kinds = conn.execute(
            "SELECT type FROM main.sqlite_master WHERE lower(name) = lower(?)", (self.table,)
        ).fetchall()
        if kinds and kinds[0][0] != "table":
            kind = kinds[0][0]
            raise DatabaseError(
                f"{self.path}: {self.table} is {'an' if kind[:1] in 'aeiou' else 'a'} {kind},"
                " not a table; nothing was changed"
            )
        if int(conn.execute("PRAGMA page_count").fetchall()[0][0]) == 0 and file_size(self.path):
            # SQLite reads a file shorter than its header as an empty database, and would
            # write a new one over it.
            raise sqlite3.DatabaseError("file is not a database")
        columns = {row[1] for row in conn.execute(f"PRAGMA main.table_info({self._quoted})")}
        if columns:
            missing = {"id", "data", "created_at", "updated_at"} - columns
            if missing:
                raise DatabaseError(
                    f"{self.path}: table {self.table} has no column(s)"
                    f" {', '.join(sorted(missing))}; expected (id, data, created_at, updated_at)"
                )
        return columns

    def _prepare(self, conn: sqlite3.Connection) -> int:
        """Set up a new connection (on its thread): busy timeout, WAL, the table. Returns
        the database's ``PRAGMA data_version`` as this connection first sees it.

        Nothing is written before the file is known to be a database whose table (if it
        has one) is ours: a file that is not ours is left byte-identical.
        """
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}").fetchall()
        columns = self._check_layout(conn)
        if self.create:
            mode = conn.execute("PRAGMA journal_mode").fetchall()[0][0]
            if str(mode).lower() != "wal":
                # Switching to WAL writes to the file's header: first make sure the file
                # is sound (once per database: it stays in WAL mode).
                problems = conn.execute("PRAGMA quick_check(1)").fetchall()
                if problems != [("ok",)]:
                    raise sqlite3.DatabaseError(
                        f"database disk image is malformed: {problems[0][0]}"
                    )
            enable_wal(conn)
        conn.execute("PRAGMA synchronous = FULL").fetchall()
        if not columns:
            # Read-only work reads an empty stand-in, never written to the file.
            temp = "" if self.create and not self._stand_in else "TEMP "
            self._stand_in = self._stand_in or bool(temp)
            conn.execute(
                f"CREATE {temp}TABLE IF NOT EXISTS {self._quoted} ("
                " id TEXT PRIMARY KEY NOT NULL,"
                " data TEXT NOT NULL,"
                " created_at TEXT,"
                " updated_at TEXT)"
            )
        conn.create_function("tui_matches", 2, _json_matches, deterministic=True)
        return int(conn.execute("PRAGMA data_version").fetchall()[0][0])

    def preview_head(self, limit: int) -> list[Entry[T]] | None:
        """The first ``limit`` rows in the default order (by id), not validated, read on
        the calling thread through a read-only connection of their own; None if they
        cannot be read so (no file, not our table, locked...). Only a preview, for a
        first frame drawn before the event loop could open the store: the store's own
        reads replace it at once. A read-only connection never writes to the database
        file; on a WAL database whose ``-wal``/``-shm`` files are gone (a clean exit) it
        makes them, as the store's own open does right after."""
        if not self.path.is_file():
            return None
        uri = "file:" + urllib.parse.quote(str(self.path.absolute())) + "?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=0.1, isolation_level=None)
            try:
                if not self._check_layout(conn):
                    return None
                rows = conn.execute(
                    f"SELECT id, data, created_at, updated_at FROM {self._quoted}"
                    " ORDER BY id LIMIT ?",
                    (limit,),
                ).fetchall()
            finally:
                conn.close()
        except (sqlite3.Error, StoreError):
            return None
        return [self._unchecked(row) for row in rows]

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await close_connection(db)

    async def reload(self) -> None:
        await self.close()
        await self.open()

    async def version(self) -> object:
        """A value that changes whenever anyone commits to the database."""
        rows = await self._fetch("PRAGMA data_version")
        return (int(rows[0][0]), self._commits)

    async def held_version(self) -> object:
        """:meth:`version`: the store holds nothing; every read reads the database."""
        return await self.version()

    def _file_signature(self) -> tuple[FileSignature | None, FileSignature | None]:
        # In WAL mode a commit may touch only the -wal file.
        return FileSignature.of(self.path), FileSignature.of(Path(f"{self.path}-wal"))

    async def changed_on_disk(self) -> bool:
        """True when another connection committed since we last looked."""
        if self._writes:
            return False  # our own transaction is what grows the files: looked at after
        current = self._file_signature()
        if current != self._signature:
            self._signature = current
            self._forget()
            return True
        return False

    # -- read caches -------------------------------------------------------------------

    def _forget(self) -> None:
        """Drop cached counts and page anchors: the data may have changed."""
        self._generation += 1
        self._counts.clear()
        self._anchors.clear()

    async def _check_fresh(self) -> None:
        """Drop the caches if another connection committed since they were filled.

        ``PRAGMA data_version`` changes on every commit by any other connection (another
        process, or another store on the same file); our own writes drop the caches
        themselves. One cheap query per page, skipped while nothing is cached: the version
        kept is then older than whatever gets cached next, so a commit in between still
        drops it at the next check.
        """
        if self._data_version is not None and not self._counts and not self._anchors:
            return
        rows = await self._fetch("PRAGMA data_version")
        version = int(rows[0][0])
        if version != self._data_version:
            self._data_version = version
            self._forget()

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError(f"{self.label}: store is not open")
        return self._db

    # -- reads -------------------------------------------------------------------------

    def _entry(self, row: sqlite3.Row | tuple[Any, ...]) -> Entry[T]:
        record_id, raw, error = decode_row(row)
        if error is not None:
            return Entry(record_id, raw, None, error)
        return make_entry(self.model, record_id, raw)

    def _unchecked(self, row: sqlite3.Row | tuple[Any, ...]) -> Entry[T]:
        """The row's entry, not validated (unless it is not JSON: invalid already)."""
        record_id, raw, error = decode_row(row)
        return Entry(record_id, raw, None, error)

    async def _fetch(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        """Run one read statement and return all its rows.

        If the task awaiting it is cancelled (a newer filter or sort superseded the query
        it belongs to), the statement is interrupted if it is running and skipped if it
        has not started yet: the connection's single thread moves on to the newer query
        at once. Its "interrupted" error goes nowhere: nobody awaits it any more.
        """
        while self._writes and asyncio.current_task() is not self._writer:
            await self._no_write.wait()
        db = self.db
        read = _Read()

        def run() -> list[Any]:
            # On aiosqlite's thread: execute and fetch as one step, marked as running.
            with self._read_lock:
                if read.abandoned:
                    raise sqlite3.OperationalError("interrupted")
                self._running_read = read
            try:
                return fetch_all(db._conn, sql, params)
            finally:
                with self._read_lock:
                    self._running_read = None

        try:
            # aiosqlite's own execute_fetchall, with the marking around it: run() takes the
            # connection's thread for the statement from its first step to its last row.
            on_thread: Callable[[Callable[[], list[Any]]], Awaitable[Any]] = db._execute
            return list(await on_thread(run))
        except asyncio.CancelledError:
            self._abandon(read)
            raise
        except sqlite3.DatabaseError as exc:
            raise _database_error(self.path, exc) from None

    def _abandon(self, read: _Read) -> None:
        """Stop ``read``: skip it if it is still queued, interrupt it if it is running.

        ``sqlite3_interrupt`` stops whatever statement the connection is running, so it is
        called only while ``read`` itself holds the connection (the lock keeps it from
        finishing meanwhile), and never while one of our writes is under way.
        """
        with self._read_lock:
            read.abandoned = True
            db = self._db
            if self._running_read is read and self._writes == 0 and db is not None:
                with contextlib.suppress(ValueError, sqlite3.Error):  # closed meanwhile
                    db._conn.interrupt()

    def _matching(self, needle: str) -> tuple[str, dict[str, Any]]:
        """SQL condition and parameters for the filter (``1`` when there is none).

        A record matches when the needle is an ASCII case-insensitive substring of the id
        or of any scalar value inside it (``ordering.matches_filter``); a ``data`` column
        that is not JSON matches on its text. Walking the JSON (json_tree) is what costs,
        so JSON rows first pass a cheap test that every match passes: the needle appears
        in the JSON text as written, or the text has an escape (a backslash) that may hide
        it. Needles that could be part of a number as SQLite writes it skip that test.
        """
        if not needle:
            return "1", {}
        # SQLite's JSON functions stop at a NUL in a value, so a value holding one (which
        # JSON writes as \u0000) is compared in Python; LIKE stops at a NUL in the needle,
        # so such a needle compares whole texts (lower() and instr() keep NULs).
        params = {"needle": "%" + _escape_like(needle) + "%", "raw": needle}
        if "\x00" in needle:
            params["needle"] = ascii_lower(needle)
            condition = (
                "(instr(lower(id), :needle) > 0"
                " OR (data GLOB '*\\u0000*' AND json_valid(data) AND tui_matches(data, :raw))"
                " OR (instr(lower(data), :needle) > 0 AND NOT json_valid(data)))"
            )
            return condition, params
        lowered = ascii_lower(needle)
        if set(lowered) <= _NUMBER_CHARS or lowered in "-inf":
            prefilter = ""
        else:
            prefilter = "(data LIKE :needle ESCAPE '\\' OR data GLOB '*\\*') AND "
        condition = (
            f"(id LIKE :needle ESCAPE '\\' OR ({prefilter}CASE"
            " WHEN NOT json_valid(data) THEN data LIKE :needle ESCAPE '\\'"
            " WHEN data GLOB '*\\u0000*' THEN tui_matches(data, :raw)"
            " ELSE EXISTS (SELECT 1 FROM json_tree(data) AS t WHERE t.atom IS NOT NULL"
            " AND CAST(t.atom AS TEXT) LIKE :needle ESCAPE '\\') END))"
        )
        return condition, params

    async def count(self, filter: str = "") -> int:
        await self._check_fresh()
        return await self._count(filter)

    async def _count(self, filter: str) -> int:
        """count() without the freshness check; cached per filter until the data changes."""
        cached = self._counts.get(filter)
        if cached is not None:
            self._counts.move_to_end(filter)
            return cached
        generation = self._generation
        condition, params = self._matching(filter)
        rows = await self._fetch(f"SELECT count(*) FROM {self._quoted} WHERE {condition}", params)
        total = int(rows[0][0])
        if generation == self._generation:
            self._counts[filter] = total
            while len(self._counts) > _COUNTS_REMEMBERED:
                self._counts.popitem(last=False)
        return total

    async def get(self, record_id: str) -> Entry[T] | None:
        rows = await self._fetch(
            f"SELECT id, data, created_at, updated_at FROM {self._quoted} WHERE id = ?",
            (record_id,),
        )
        return self._entry(rows[0]) if rows else None

    async def get_raws(self, record_ids: Sequence[str]) -> dict[str, Any]:
        """The stored values of those of ``record_ids`` that exist, not validated: one
        query per few hundred ids (a plan's details look up a million this way)."""
        found: dict[str, Any] = {}
        for start in range(0, len(record_ids), _IDS_PER_QUERY):
            chunk = record_ids[start : start + _IDS_PER_QUERY]
            marks = ",".join("?" * len(chunk))
            rows = await self._fetch(
                f"SELECT id, data, created_at, updated_at FROM {self._quoted}"
                f" WHERE id IN ({marks})",
                chunk,
            )
            for record_id, raw, _ in map(decode_row, rows):
                found[record_id] = raw
        return found

    async def page(
        self, query: Query = DEFAULT_QUERY, offset: int = 0, limit: int = 100
    ) -> Page[T]:
        """Rows ``offset`` to ``offset + limit - 1`` of ``query``'s order.

        Deep pages are not found by OFFSET, which walks every row before them: the first
        and last row of each page served are remembered (anchors), so the page next to one
        served (page down, page up) starts from its neighbour's key (keyset paging); and a
        page in the second half is read backwards from the end. Only a jump to a page with
        no known neighbour uses OFFSET, from whichever end is nearer.
        """
        await self._check_fresh()
        generation = self._generation
        await self._ensure_index(query.sort)
        total = await self._count(query.filter)
        start = max(offset, 0)  # SQLite reads a negative OFFSET as 0
        if limit < 0:  # SQLite's meaning: no limit
            limit = total
        limit = min(limit, max(total - start, 0))
        if limit == 0:
            return Page([], offset, total)
        forward = not query.descending  # ascending in SQL terms
        everything = await self._count("") if query.filter else total
        sparse = query.filter != "" and limit * everything > _SCAN_ROWS * total
        anchors = self._anchors.get(query)
        if anchors is not None and start - 1 in anchors:
            rows = await self._seek(query, forward, anchors[start - 1], 0, limit, sparse)
        elif start > 0 and anchors is not None and start + limit in anchors:
            rows = await self._seek(query, not forward, anchors[start + limit], 0, limit, sparse)
            rows.reverse()
        elif start <= total - (start + limit):
            sparse = query.filter != "" and (start + limit) * everything > _SCAN_ROWS * total
            rows = await self._seek(query, forward, None, start, limit, sparse)
        else:
            skip = total - start - limit
            sparse = query.filter != "" and (skip + limit) * everything > _SCAN_ROWS * total
            rows = await self._seek(query, not forward, None, skip, limit, sparse)
            rows.reverse()
        if rows and generation == self._generation:
            self._remember(query, start, rows)
        return Page([self._entry(row[:4]) for row in rows], offset, total)

    async def head(
        self, query: Query = DEFAULT_QUERY, limit: int = 100, *, validate: bool = True
    ) -> list[Entry[T]]:
        """The first ``limit`` rows of ``query``'s order, without counting the matches:
        what a pane shows first, before the count (a scan of the whole table) is in.

        ``validate=False``: entries not validated yet (``Entry.checked`` False; rows whose
        data is not JSON are invalid all the same), for a first frame drawn before the
        models are imported; ``checked_entries`` validates them."""
        if query.filter:  # a filtered page picks its plan from the counts
            return (await self.page(query, 0, limit)).entries
        await self._check_fresh()
        generation = self._generation
        await self._ensure_index(query.sort)
        rows = await self._seek(query, not query.descending, None, 0, max(limit, 0))
        if rows and generation == self._generation:
            self._remember(query, 0, rows)
        entry = self._entry if validate else self._unchecked
        return [entry(row[:4]) for row in rows]

    def _remember(self, query: Query, offset: int, rows: list[Any]) -> None:
        anchors = self._anchors.get(query)
        if anchors is None:
            anchors = self._anchors[query] = OrderedDict()
            while len(self._anchors) > _QUERIES_REMEMBERED:
                self._anchors.popitem(last=False)
        else:
            self._anchors.move_to_end(query)
        for where, row in ((offset, rows[0]), (offset + len(rows) - 1, rows[-1])):
            anchors[where] = (row[4], row[0])
            anchors.move_to_end(where)
        while len(anchors) > _ANCHORS_PER_QUERY:
            anchors.popitem(last=False)

    async def _seek(
        self,
        query: Query,
        ascending: bool,
        after: Key | None,
        skip: int,
        limit: int,
        scan: bool = False,
    ) -> list[Any]:
        """Up to ``limit`` rows (id, data, created_at, updated_at, sort key) matching the
        query's filter, in ascending or descending (sort key, id) order, starting after the
        row ``after`` or, without it, after skipping ``skip`` rows. ``scan`` reads the
        table front to back and sorts the matches instead of following an index.

        SQL orders NULL keys first; a keyset condition on a NULL key is no use to the index,
        so the NULL keys and the others are read as two runs, one after the other.
        """
        condition, params = self._matching(query.filter)
        expr = self._sort_expr(query)
        direction = "ASC" if ascending else "DESC"
        order = (
            f"{expr} {direction}" if query.sort == "id" else f"{expr} {direction}, id {direction}"
        )
        select = (
            f"SELECT id, data, created_at, updated_at, {expr} FROM {self._quoted}"
            f"{' NOT INDEXED' if scan else ''} WHERE {condition} AND "
        )
        tail = f" ORDER BY {order} LIMIT :limit OFFSET :skip"
        compare = ">" if ascending else "<"
        if after is None:
            runs = ["1"]
        elif query.sort == "id":
            runs = [f"id {compare} :id"]
        elif after[0] is None:
            runs = [f"{expr} IS NULL AND id {compare} :id"]
            if ascending:
                runs.append(f"{expr} IS NOT NULL")
        else:
            # Not the row value (key, id) > (?, ?): SQLite seeks an expression index by
            # plain comparisons on the expression only.
            runs = [f"{expr} {compare}= :key AND ({expr} {compare} :key OR id {compare} :id)"]
            if not ascending:
                runs.append(f"{expr} IS NULL")
        if after is not None:
            params = {**params, "key": after[0], "id": after[1]}
        rows: list[Any] = []
        for run in runs:
            rows += await self._fetch(
                select + run + tail, {**params, "limit": limit - len(rows), "skip": skip}
            )
            if len(rows) >= limit:
                break
        return rows

    async def position(self, query: Query, record_id: str) -> int | None:
        """Where ``record_id`` stands in ``query``'s order, or None if it is not there."""
        await self._check_fresh()
        await self._ensure_index(query.sort)
        condition, params = self._matching(query.filter)
        expr = self._sort_expr(query)
        found = await self._fetch(
            f"SELECT {expr} FROM {self._quoted} WHERE id = :id AND {condition}",
            {**params, "id": record_id},
        )
        if not found:
            return None
        key = found[0][0]
        # Rows before it in ascending order: NULL keys first, then by (key, id); counted
        # as runs the sort index can answer.
        if query.sort == "id":
            runs = ["id < :id"]
        elif key is None:
            runs = [f"{expr} IS NULL AND id < :id"]
        else:
            runs = [f"{expr} IS NULL", f"{expr} <= :key AND ({expr} < :key OR id < :id)"]
        # Filtered, the rows before it are counted by one sequential scan of the table:
        # an index range would read most of them at random to test the filter.
        scan = " NOT INDEXED" if query.filter else ""
        ascending = 0
        for run in runs:
            rows = await self._fetch(
                f"SELECT count(*) FROM {self._quoted}{scan} WHERE {condition} AND {run}",
                {**params, "id": record_id, "key": key},
            )
            ascending += int(rows[0][0])
        if not query.descending:
            return ascending
        return await self._count(query.filter) - 1 - ascending

    def _sort_expr(self, query: Query) -> str:
        if query.sort == "id":
            return "id"
        return _field_expr(query.sort)

    async def _ensure_index(self, field: str) -> None:
        """Create the expression index that sorting by ``field`` reads, once.

        ``"<table>__<field>"`` on (the field's value, id): ordered pages and keyset seeks
        become index range scans. The field comes from SORT_FIELDS, never from user text.
        A database we cannot write to (read-only, locked) is sorted without one.
        """
        if field == "id" or field in self._indexed:
            return
        self._indexed.add(field)
        name = '"' + self.table + "__" + field + '"'
        db = self.db

        async def create() -> None:
            try:
                await db.execute(
                    f"CREATE INDEX IF NOT EXISTS {name} ON {self._quoted}({_field_expr(field)}, id)"
                )
            except (sqlite3.DatabaseError, ValueError):  # ValueError: closed meanwhile
                return
            # Our own change to the file: not one to report as made by someone else.
            self._signature = self._file_signature()

        # A read that asked for it may be cancelled meanwhile (a newer query): the statement
        # runs on regardless, and the signature is updated once it has finished.
        await asyncio.shield(asyncio.ensure_future(create()))

    async def _rows_in_storage_order(self, batch_size: int) -> AsyncIterator[list[Any]]:
        """All rows in storage (insertion) order, a batch at a time, each as
        ``(id, data, data is UTF-8 text, created_at, updated_at)``.

        A TEXT ``data`` comes as its UTF-8 bytes (``CAST(data AS BLOB)``: no decoding to
        a str to encode again for the parser), told apart from a BLOB by ``typeof``; any
        other value (a blob, NULL, a number), or any value of a database not in UTF-8,
        comes as it is with False.

        Keyset paging on rowid reads the table front to back; paging on id would go
        through the id index and jump around the table, twice as slow on a big export.
        """
        encoding = await self._fetch("PRAGMA encoding")
        if encoding and str(encoding[0][0]).upper() == "UTF-8":
            data = "CASE WHEN typeof(data) = 'text' THEN CAST(data AS BLOB) ELSE data END"
            is_text = "typeof(data) = 'text'"
        else:
            data, is_text = "data", "0"
        columns = f"SELECT rowid, id, {data}, {is_text}, created_at, updated_at FROM {self._quoted}"
        sql = f"{columns} WHERE rowid > ? ORDER BY rowid LIMIT ?"
        # The next batch is read (on the connection's thread) while the caller works on
        # this one: the reading and the parsing overlap.
        pending: asyncio.Future[list[Any]] | None = asyncio.ensure_future(
            self._fetch(sql, [-(2**63), batch_size])
        )
        try:
            while pending is not None:
                rows = await pending
                pending = None
                if len(rows) == batch_size:
                    pending = asyncio.ensure_future(self._fetch(sql, [rows[-1][0], batch_size]))
                if rows:
                    yield [row[1:] for row in rows]
        finally:
            if pending is not None:  # the caller stopped early (or failed)
                pending.cancel()
                pending.add_done_callback(_retrieved)

    async def iter_all(self, batch_size: int = 5000) -> AsyncIterator[Entry[T]]:
        """Every entry in storage order, valid or not, fetched a batch at a time."""
        model = self.model
        async for fetched in self._rows_in_storage_order(batch_size):
            # Parsed and validated a few rows at a time: whole batches at once would be
            # slower, their values no longer in the processor's caches when next looked at.
            for start in range(0, len(fetched), _PARSE_ROWS):
                raws = decode_rows(fetched[start : start + _PARSE_ROWS])
                valid = [(record_id, raw) for record_id, raw, error in raws if error is None]
                validated = make_entries(model, valid)
                if len(validated) == len(raws):
                    for entry in validated:
                        yield entry
                    continue
                # Some are not JSON (invalid already): in storage order with the others.
                found = iter(validated)
                for record_id, raw, error in raws:
                    yield next(found) if error is None else Entry(record_id, raw, None, error)

    async def iter_raw(self, batch_size: int = 5000) -> AsyncIterator[tuple[str, Any]]:
        """Every (id, stored value) in storage order, unvalidated: for comparing only.

        Rows whose id is not UTF-8 text are left out: no record can be written over them
        (their id shown, x'61' say, is not theirs), so a plan must not match a source
        record with them; a transfer leaves them as they are."""
        async for fetched in self._rows_in_storage_order(batch_size):
            for start in range(0, len(fetched), _PARSE_ROWS):
                rows = [row for row in fetched[start : start + _PARSE_ROWS] if plain_id(row[0])]
                for record_id, raw, _ in decode_rows(rows):
                    yield record_id, raw

    # -- writes ------------------------------------------------------------------------

    async def _write(self, work: Callable[[aiosqlite.Connection], Any]) -> Any:
        """Run ``work`` in one BEGIN IMMEDIATE transaction; roll back on any failure."""
        if self._stand_in:
            raise StoreError(
                f"{self.label}: opened for reading only, and there is no such table to write"
            )
        # One write at a time: a second (a form's save during an import) waits its turn
        # instead of failing with "cannot start a transaction within a transaction".
        async with self._write_turn:
            with self._read_lock:
                self._writes += 1
            self._writer = asyncio.current_task()
            self._no_write.clear()
            try:
                return await self._write_transaction(self.db, work)
            finally:
                with self._read_lock:
                    self._writes -= 1
                self._writer = None
                self._no_write.set()

    async def _write_transaction(
        self, db: aiosqlite.Connection, work: Callable[[aiosqlite.Connection], Any]
    ) -> Any:
        try:
            await db.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise _database_error(self.path, exc) from None
        except asyncio.CancelledError:
            # The BEGIN still runs in aiosqlite's thread: the ROLLBACK queued behind it
            # ends the transaction, or there was none.
            with contextlib.suppress(sqlite3.Error):
                await db.execute("ROLLBACK")
            raise
        try:
            # A failure or a cancellation (CancelledError, a BaseException) of ``work``
            # rolls everything back: the ROLLBACK runs after any statement still running.
            result = await work(db)
            await db.execute("COMMIT")
            self._commits += 1
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                await db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.DatabaseError):
                raise _database_error(self.path, exc) from None
            raise
        finally:
            # Whatever was cached meanwhile is dropped, committed or not; and the files'
            # new signature is ours (a rollback grows the -wal file too), not a sign that
            # another program changed the database.
            self._forget()
            self._signature = self._file_signature()
        return result

    async def _check_expected(
        self, db: aiosqlite.Connection, record_id: str, expect: object
    ) -> None:
        """RecordConflict unless the stored row is the version ``expect`` names (run in
        the write transaction: nobody can change the row between this and the write)."""
        if expect is ANY:
            return
        rows = await fetch_in(
            db,
            f"SELECT id, data, created_at, updated_at FROM {self._quoted} WHERE id = ?",
            record_id,
        )
        found = rows[0] if rows else None
        stored = None if found is None else decode_row(found)[1]
        check_expected(self.path, record_id, found is not None, stored, expect)

    def _upsert_sql(self, keep_created: bool) -> str:
        created = "" if keep_created else ", created_at = excluded.created_at"
        return (
            f"INSERT INTO {self._quoted} (id, data, created_at, updated_at) VALUES (?, ?, ?, ?)"
            f" ON CONFLICT(id) DO UPDATE SET data = excluded.data,"
            f" updated_at = excluded.updated_at{created}"
        )

    async def _stamped_rows(self, db: aiosqlite.Connection, records: Sequence[T]) -> list[Any]:
        rows = []
        for record in records:
            found_rows = await fetch_in(
                db, f"SELECT data, created_at FROM {self._quoted} WHERE id = ?", record.id
            )
            found = found_rows[0] if found_rows else None
            existing: Any = None
            if found is not None:
                try:
                    existing = parse_json_value(found[0])
                except (ValueError, TypeError):
                    existing = None
                if not (isinstance(existing, dict) and "created_at" in existing):
                    existing = {"created_at": found[1]}
            stamped = stamp_for_write(record, existing)
            rows.append(encode_row(stamped.to_raw()))
        return rows

    async def upsert(self, record: T, expect: object = ANY) -> Entry[T]:
        """Write ``record``; ``expect`` (see :data:`tui.stores.base.ANY`) is compared with
        the stored row inside the write transaction: RecordConflict when they differ."""
        require_model(self.model, record)

        async def work(db: aiosqlite.Connection) -> Any:
            await self._check_expected(db, record.id, expect)
            rows = await self._stamped_rows(db, [record])
            await db.execute(self._upsert_sql(keep_created=True), rows[0])
            return rows[0]

        row = await self._write(work)
        return self._entry(row)

    async def upsert_many(self, records: Sequence[T]) -> int:
        for record in records:
            require_model(self.model, record)

        async def work(db: aiosqlite.Connection) -> int:
            rows = await self._stamped_rows(db, records)
            await db.executemany(self._upsert_sql(keep_created=True), rows)
            return len(rows)

        return int(await self._write(work))

    async def put_raw_many(
        self,
        raws: Sequence[dict[str, Any]],
        progress: Callable[[int, int], None] | None = None,
        check: Callable[[], None] | None = None,
        expect_version: object = ANY,
    ) -> int:
        """Store records exactly as given, in one transaction, in batches.

        ``check()`` runs before each batch and before the COMMIT, inside the transaction:
        if it raises (a cancelled transfer), or the task is cancelled, ``_write`` rolls
        the whole transaction back. ``expect_version`` is compared inside it too, where
        no other connection can commit.
        """

        async def work(db: aiosqlite.Connection) -> int:
            if expect_version is not ANY:
                async with db.execute("PRAGMA data_version") as cursor:
                    found = await cursor.fetchone()
                if found is None or (int(found[0]), self._commits) != expect_version:
                    raise StoreChanged(f"{self.label}: changed by someone else since it was read")
            sql = self._upsert_sql(keep_created=False)
            total = len(raws)
            for start in range(0, total, _BATCH):
                if check is not None:
                    check()
                batch = raws[start : start + _BATCH]
                await db.executemany(sql, [encode_row(raw) for raw in batch])
                if progress is not None:
                    progress(min(start + _BATCH, total), total)
            if check is not None:
                check()
            return total

        return int(await self._write(work))

    async def delete(self, record_id: str, expect: object = ANY) -> bool:
        async def work(db: aiosqlite.Connection) -> bool:
            await self._check_expected(db, record_id, expect)
            cursor = await db.execute(f"DELETE FROM {self._quoted} WHERE id = ?", (record_id,))
            return cursor.rowcount > 0

        return bool(await self._write(work))


def _field_expr(field: str) -> str:
    """The SQL for a record field's value, as the sort index on it is declared (the same
    text, so SQLite matches them). json_extract raises on a row whose data is not JSON:
    such rows give NULL."""
    return f"(CASE WHEN json_valid(data) THEN json_extract(data, '$.{field}') END)"


def _json_matches(text: Any, needle: Any) -> bool:
    """tui_matches(data, needle) in SQL: the filter applied to a JSON document in Python,
    for needles SQLite's JSON functions cannot compare (they stop at a NUL)."""
    try:
        return matches_filter(parse_json_value(text), str(needle))
    except Exception:  # an exception here would abort the whole query
        return False


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _database_error(path: Path, exc: sqlite3.DatabaseError) -> DatabaseError:
    message = " ".join(str(exc).split())  # one line, whatever SQLite said
    # not "malformed" alone: SQLite's JSON functions say "malformed JSON"
    if "not a database" in message:
        return DatabaseError(f"{path}: is not a SQLite database ({message})")
    if "database disk image is malformed" in message:
        return DatabaseError(
            f"{path}: is damaged, not a readable SQLite database; nothing was written ({message})"
        )
    if "locked" in message or "busy" in message:
        return DatabaseError(f"{path}: database is locked by another program ({message})")
    if "readonly" in message or "read-only" in message:
        return DatabaseError(f"{path}: database is read-only; nothing was written ({message})")
    if "disk is full" in message or "full" in message:
        return DatabaseError(
            f"{path}: the disk is full (or the database reached its size limit);"
            f" nothing was written ({message})"
        )
    if "disk I/O error" in message:
        return DatabaseError(f"{path}: the disk failed to read or write ({message})")
    return DatabaseError(f"{path}: {message}")
