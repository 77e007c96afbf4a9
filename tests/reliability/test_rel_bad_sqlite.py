"""Issue 5, item 5 (SQLite): bad database files and bad rows.

Every bad file gives a clear error (one that names the file), stays byte-identical (bytes,
inode and mtime: SQLite must not rewrite it, switch its journal mode or add our table to
it), leaves no journal files behind, and does not stop the JSON pane. Rows whose ``data``
is not a JSON object are shown as invalid entries and stay as they are.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.app_helpers import (
    SIZE,
    FileState,
    loads_done,
    panes,
    wait_for,
    wait_form_ready,
    wait_loaded,
)
from tests.cli_helpers import GUIDE_TABLE, cli, error, ok
from tests.reliability.budget import Figures
from tui.app import BrowserApp
from tui.models import ExampleItem
from tui.sample import seed_if_empty
from tui.stores import SqliteStore, StoreError

COLLECTION = "example_items"
COMMAND = "pytest tests/reliability/test_rel_bad_sqlite.py"


def _real_db(path: Path, rows: int = 400, wal: bool = False) -> None:
    db = sqlite3.connect(path)
    try:
        if wal:
            db.execute("PRAGMA journal_mode=WAL")
        with db:
            db.execute(GUIDE_TABLE)
            db.executemany(
                "INSERT INTO example_items (id, data) VALUES (?, ?)",
                [
                    (f"r{n:05d}", json.dumps({"id": f"r{n:05d}", "name": "x" * 200}))
                    for n in range(rows)
                ],
            )
    finally:
        db.close()


def _schema(*statements: str) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        db = sqlite3.connect(path)
        try:
            with db:
                for statement in statements:
                    db.execute(statement)
        finally:
            db.close()

    return make


def _bytes(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


def _truncated(keep: float) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        _real_db(path)
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * keep)])

    return make


def _corrupt_pages(path: Path) -> None:
    """A real database whose table pages (not page 1) are overwritten with noise."""
    _real_db(path)
    data = bytearray(path.read_bytes())
    noise = random.Random(5).randbytes(len(data) - 8192)
    data[8192:] = noise
    path.write_bytes(bytes(data))


_RNG = random.Random(1)

# name -> how to make the file; every one must be refused with a clear message.
BAD_FILES: dict[str, Callable[[Path], None]] = {
    "random bytes": _bytes(_RNG.randbytes(8192)),
    "a JSON file": _bytes(b'{"r1": {"id": "r1", "name": "json, not sqlite"}}\n'),
    "text": _bytes(b"this is not a database\n" * 300),
    "one byte": _bytes(b"S"),
    "sqlite magic then noise": _bytes(b"SQLite format 3\x00" + _RNG.randbytes(4080)),
    "sqlite header only": _bytes(b"SQLite format 3\x00" + bytes(84)),
    "truncated to 1%": _truncated(0.01),
    "truncated to half": _truncated(0.5),
    "table pages overwritten": _corrupt_pages,
    "table with other columns": _schema("CREATE TABLE example_items (x, y)"),
    "table without data column": _schema(
        "CREATE TABLE example_items (id TEXT PRIMARY KEY, created_at TEXT, updated_at TEXT)"
    ),
    "table without timestamps": _schema(
        "CREATE TABLE example_items (id TEXT PRIMARY KEY, data TEXT)"
    ),
    "a view named like the table": _schema(
        "CREATE TABLE other (id TEXT, data TEXT, created_at TEXT, updated_at TEXT)",
        "CREATE VIEW example_items AS SELECT * FROM other",
    ),
    "a view in other case": _schema(
        "CREATE TABLE other (id TEXT, data TEXT, created_at TEXT, updated_at TEXT)",
        "CREATE VIEW EXAMPLE_ITEMS AS SELECT * FROM other",
    ),
    "an index named like the table": _schema(
        "CREATE TABLE other (id TEXT)", "CREATE INDEX example_items ON other(id)"
    ),
    "a virtual-looking table name clash": _schema(
        "CREATE TABLE Example_Items (a, b, c)",
    ),
}


def _folder_state(folder: Path) -> dict[str, FileState]:
    return {p.name: FileState.of(p) for p in folder.iterdir()} if folder.exists() else {}


async def _read_everything(store: SqliteStore[Any]) -> None:
    await store.open()
    try:
        await store.page(limit=50)
        async for _ in store.iter_all():
            pass
    finally:
        await store.close()


@pytest.mark.parametrize("create", [True, False], ids=["app", "read-only"])
async def test_bad_database_files_are_refused_and_left_alone(
    tmp_path: Path, create: bool, figures: Figures
) -> None:
    figures.cases("bad SQLite files refused, file untouched", len(BAD_FILES), COMMAND)
    for name, make in BAD_FILES.items():
        folder = tmp_path / name.replace(" ", "_")
        folder.mkdir()
        path = folder / "myapp.db"
        make(path)
        before = _folder_state(folder)
        store = SqliteStore(path, COLLECTION, ExampleItem, create=create)
        with pytest.raises(StoreError) as caught:
            await _read_everything(store)
        message = str(caught.value)
        assert str(path) in message, (name, message)
        assert "Traceback" not in message and "\n" not in message, (name, message)
        assert _folder_state(folder) == before, f"{name}: the file was changed: {message}"
        # It works again at once when the file is out of the way (the same store object).
        path.unlink()
        await store.open()
        assert await store.count() == 0
        await store.close()


async def test_a_folder_where_the_database_should_be(tmp_path: Path, figures: Figures) -> None:
    figures.cases("bad SQLite files refused, file untouched", 3, COMMAND)
    path = tmp_path / "myapp.db"
    path.mkdir()
    (path / "inside").write_text("keep me")
    for create in (True, False):
        with pytest.raises(StoreError, match="is a folder"):
            await SqliteStore(path, COLLECTION, ExampleItem, create=create).open()
    assert path.is_dir() and (path / "inside").read_text() == "keep me"
    # the CLI's own layout: db/myapp.db
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "myapp.db").mkdir()
    run = cli(tmp_path, "list")
    error(run, "myapp.db", "is a folder")


async def test_an_empty_file_is_an_empty_database(tmp_path: Path, figures: Figures) -> None:
    """Like an empty JSON file: no records, not an error; reading leaves it empty."""
    figures.cases("bad SQLite files refused, file untouched", command=COMMAND)
    path = tmp_path / "myapp.db"
    path.write_bytes(b"")
    before = FileState.of(path)
    store = SqliteStore(path, COLLECTION, ExampleItem, create=False)
    await store.open()
    assert await store.count() == 0
    with pytest.raises(StoreError, match="reading only"):
        await store.upsert(ExampleItem(id="r1", name="n"))
    await store.close()
    assert FileState.of(path) == before
    async with SqliteStore(path, COLLECTION, ExampleItem) as writer:
        await writer.upsert(ExampleItem(id="r1", name="n"))
    async with SqliteStore(path, COLLECTION, ExampleItem, create=False) as reader:
        assert [e.id for e in (await reader.page()).entries] == ["r1"]


# -- rows whose data is not a record ---------------------------------------------------


class TextBytes(bytes):
    """Stored as TEXT that is not UTF-8: SQLite does not check (a legacy encoding)."""


BAD_ROWS: list[tuple[str, Any]] = [
    ("text", "not json at all"),
    ("truncated", '{"id": "t", "name": "cut'),
    ("empty text", ""),
    ("blob bytes", b"\xff\xfe\x00binary"),
    ("blob json", b'{"id": "blob json", "name": "in a blob"}'),
    ("null", None),
    ("json null", "null"),
    ("json list", "[1, 2, 3]"),
    ("json number", "42"),
    ("json string", '"a string"'),
    ("json true", "true"),
    ("nan", '{"id": "nan", "name": NaN}'),
    ("id mismatch", '{"id": "other", "name": "mismatch"}'),
    ("no name", '{"id": "no name"}'),
    ("markup", '{"id": "markup", "name": "[@click=app.quit]x[/]", "tags": "[/]"}'),
    ("deep", "[" * 5000 + "]" * 5000),
    ("huge int", '{"id": "huge int", "name": "n", "n": ' + "9" * 5000 + "}"),
    ("not utf-8", TextBytes(b'{"id": "not utf-8", "name": "caf\xe9"}')),
]


def _bad_rows_db(path: Path) -> None:
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        with db:
            # The guide's columns without NOT NULL, so a NULL data column can exist too.
            db.execute(
                "CREATE TABLE example_items (id TEXT PRIMARY KEY, data, created_at, updated_at)"
            )
            db.execute(
                "INSERT INTO example_items (id, data) VALUES (?, ?)",
                ("good", json.dumps({"id": "good", "name": "fine"})),
            )
            db.executemany(
                "INSERT INTO example_items (id, data) VALUES (?, ?)",
                [(n, v) for n, v in BAD_ROWS if not isinstance(v, TextBytes)],
            )
            db.executemany(
                "INSERT INTO example_items (id, data) VALUES (?, CAST(? AS TEXT))",
                [(n, bytes(v)) for n, v in BAD_ROWS if isinstance(v, TextBytes)],
            )
    finally:
        db.close()


def _stored(path: Path) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    db.text_factory = bytes  # the bytes as stored (one row's TEXT is not UTF-8)
    try:
        return db.execute("SELECT * FROM example_items ORDER BY id").fetchall()
    finally:
        db.close()


async def test_bad_rows_are_invalid_entries_and_stay_as_they_are(
    tmp_path: Path, figures: Figures
) -> None:
    figures.cases("bad SQLite rows shown as invalid, kept", len(BAD_ROWS), COMMAND)
    path = tmp_path / "myapp.db"
    _bad_rows_db(path)
    rows_before = _stored(path)
    async with SqliteStore(path, COLLECTION, ExampleItem) as store:
        entries = {e.id: e for e in (await store.page(limit=100)).entries}
        assert set(entries) == {"good"} | {name for name, _ in BAD_ROWS}
        assert entries["good"].valid
        for name, _ in BAD_ROWS:
            if name in ("blob json", "markup"):
                continue  # JSON objects that are fine records (markup is just text)
            entry = entries[name]
            assert not entry.valid and entry.error, name
            assert "Traceback" not in entry.error
            assert await store.get(name) is not None
        # Every filter and sort reads the bad rows without failing.
        for needle in ("a", "not", "42", "\x00"):
            await store.count(needle)
        async for _ in store.iter_all():
            pass
        # A valid write next to them leaves them as they are.
        await store.upsert(ExampleItem(id="new", name="new"))
        assert await store.delete("new")
    assert _stored(path) == rows_before  # the bad rows, byte for byte


def test_cli_reads_bad_rows_without_a_traceback(tmp_path: Path, figures: Figures) -> None:
    figures.cases("bad SQLite rows shown as invalid, kept", 5, COMMAND)
    path = tmp_path / "db" / "myapp.db"
    path.parent.mkdir()
    _bad_rows_db(path)
    rows_before = _stored(path)
    listed = ok(cli(tmp_path, "list"))
    shown = re.search(r"(\d+) record\(s\) in .*, (\d+) invalid", listed.err)
    assert shown is not None, listed.err
    assert int(shown[1]) == len(BAD_ROWS) + 1 and int(shown[2]) >= len(BAD_ROWS) - 2
    as_json = ok(cli(tmp_path, "list", "--format", "json"))
    json.loads(as_json.out)
    for name in ("blob bytes", "null", "text"):
        ok(cli(tmp_path, "get", name))
    plan = ok(cli(tmp_path, "export", "--dry-run"))
    assert "invalid" in plan.out
    assert _stored(path) == rows_before


# -- the CLI and the app -----------------------------------------------------------------

CLI_FILES = [
    "random bytes",
    "truncated to half",
    "table with other columns",
    "a view named like the table",
]


@pytest.mark.parametrize("name", CLI_FILES)
def test_cli_refuses_bad_files_in_one_line(tmp_path: Path, name: str, figures: Figures) -> None:
    figures.cases("bad SQLite files refused, file untouched", 4, COMMAND)
    path = tmp_path / "db" / "myapp.db"
    path.parent.mkdir()
    BAD_FILES[name](path)
    before = _folder_state(path.parent)
    for args in (["list"], ["get", "r00001"], ["export", "--dry-run"], ["add", "--name", "n"]):
        error(cli(tmp_path, *args), str(path))
    assert _folder_state(path.parent) == before


@pytest.mark.parametrize(
    "name", ["sqlite magic then noise", "table without data column", "a view named like the table"]
)
async def test_bad_database_keeps_the_json_pane_working(
    tmp_path: Path, name: str, figures: Figures
) -> None:
    figures.cases("bad SQLite files refused, file untouched", command=COMMAND)
    assert await seed_if_empty(tmp_path)
    db = tmp_path / "db" / "myapp.db"
    for extra in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        extra.unlink(missing_ok=True)
    BAD_FILES[name](db)
    before = _folder_state(db.parent)
    json_file = tmp_path / "json" / "example_items.json"
    app = BrowserApp(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        left, right = panes(app)
        assert right.error is not None and str(db) in str(right.error)
        assert left.error is None and left.writable
        total = left.table.total
        # The JSON pane still takes a new record.
        await pilot.press("a")
        await wait_form_ready(pilot)
        for char in "still works":
            await pilot.press("space" if char == " " else char)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: left.table.total == total + 1)
        await pilot.press("r")
        await wait_for(pilot, lambda: loads_done(left) and loads_done(right))  # reloaded
        assert right.error is not None
    names = {r["name"] for r in json.loads(json_file.read_text("utf-8")).values()}
    assert "still works" in names
    assert _folder_state(db.parent) == before


# -- a cancelled open leaves no thread behind ---------------------------------------------

_OPEN_AND_CANCEL = textwrap.dedent(
    """
    import asyncio, sys, threading
    from pathlib import Path
    from tui.models import ExampleItem
    from tui.stores import SqliteStore

    async def main(folder):
        leaked = 0
        for i in range(60):
            store = SqliteStore(Path(folder) / f"db{i % 3}.db", "example_items", ExampleItem)
            task = asyncio.ensure_future(store.open())
            for _ in range(i % 12):
                await asyncio.sleep(0)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            await store.close()
            leaked += threading.active_count() > 1
        print(leaked)

    asyncio.run(main(sys.argv[1]))
    """
)


def test_a_cancelled_open_stops_its_thread(tmp_path: Path, figures: Figures) -> None:
    figures.cases("cancelled SQLite opens, no thread left", 60, COMMAND)
    proc = subprocess.run(
        [sys.executable, "-c", _OPEN_AND_CANCEL, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr
    assert proc.stdout.strip() == "0", "connection threads still running after close"


def test_read_only_commands_create_no_files(tmp_path: Path, figures: Figures) -> None:
    data = tmp_path / "data"
    calls = [
        ["list"],
        ["list", "--format", "json"],
        ["get", "abc"],
        ["edit", "abc", "--name", "x"],
        ["delete", "abc"],
        ["export", "--dry-run"],
        ["import", "--dry-run"],
    ]
    figures.cases("read-only commands that created no file", 2 * len(calls), COMMAND)
    for args in calls:
        cli(data, *args)
        assert not (data / "db").exists(), f"{args} created {list((data / 'db').iterdir())}"
    # A database without our table stays without it (and in its journal mode).
    db = data / "db" / "myapp.db"
    db.parent.mkdir(parents=True)
    _schema("CREATE TABLE unrelated (x)")(db)
    before = _folder_state(db.parent)
    for args in calls:
        cli(data, *args)
    assert _folder_state(db.parent) == before


async def test_app_shows_bad_rows_as_invalid(tmp_path: Path, figures: Figures) -> None:
    """Every bad row is a row of the SQLite pane; stepping through them all (the detail
    panel renders each) crashes nothing and changes nothing."""
    figures.cases("bad SQLite rows shown as invalid, kept", len(BAD_ROWS), COMMAND)
    assert await seed_if_empty(tmp_path)
    db = tmp_path / "db" / "myapp.db"
    for extra in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        extra.unlink(missing_ok=True)
    _bad_rows_db(db)
    rows_before = _stored(db)
    app = BrowserApp(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        left, right = panes(app)
        assert right.error is None and right.table.total == len(BAD_ROWS) + 1
        await pilot.press("tab")
        seen = set()
        for _ in range(len(BAD_ROWS) + 1):
            current = right.current
            assert current is not None
            seen.add(current.id)
            await pilot.press("down")
            await pilot.pause()
        assert seen == {"good"} | {name for name, _ in BAD_ROWS}
        assert left.error is None and left.writable
    assert _stored(db) == rows_before


async def test_a_row_not_in_utf8_can_be_fixed_in_place(tmp_path: Path) -> None:
    """A TEXT value in a legacy encoding reads as an invalid record (its bad bytes
    escaped), and an edit made with the version shown replaces it: the usual way to fix
    an invalid record works for it too."""
    path = tmp_path / "myapp.db"
    _bad_rows_db(path)
    async with SqliteStore(path, COLLECTION, ExampleItem) as store:
        shown = await store.get("not utf-8")
        assert shown is not None and not shown.valid
        assert shown.raw == '{"id": "not utf-8", "name": "caf\\xe9"}'
        await store.upsert(ExampleItem(id="not utf-8", name="café"), expect=shown.raw)
        fixed = await store.get("not utf-8")
        assert fixed is not None and fixed.valid and fixed.raw["name"] == "café"


async def test_cancelling_an_open_held_up_by_a_lock_leaves_the_loop_running(
    tmp_path: Path,
) -> None:
    """An open whose set-up waits out another connection's lock, cancelled (a reload
    superseded, the app quitting): the event loop keeps running while the connection's
    thread winds down (it once joined that thread on the loop, frozen for up to the busy
    timeout), and the thread is gone once the cancellation is through."""
    path = tmp_path / "myapp.db"
    other = sqlite3.connect(path, isolation_level=None)  # rollback journal: locks readers
    other.execute("CREATE TABLE example_items (id TEXT PRIMARY KEY, data, created_at, updated_at)")
    other.execute("BEGIN EXCLUSIVE")
    before = threading.active_count()
    store = SqliteStore(path, COLLECTION, ExampleItem)
    opening = asyncio.ensure_future(store.open())
    await asyncio.sleep(0.3)  # its set-up is now waiting for the lock, on its thread
    assert not opening.done()
    opening.cancel()
    for _ in range(50):  # the loop runs meanwhile ...
        await asyncio.sleep(0)
    assert not opening.done()  # ... while the thread still waits for the lock
    other.execute("COMMIT")
    other.close()
    with pytest.raises(asyncio.CancelledError):
        await opening
    assert threading.active_count() == before
