"""Several processes creating one new SQLite database at the same moment all succeed.

Writer processes (tests/workers/store_writer.py) start, import everything, report
``ready`` and wait; the test then releases them together, so they open the same store in
a fresh data folder at the same moment. The concurrent writers of issue 5 (4 processes x
250 adds, edits and deletes, with a transfer at the same time, on both stores) are in
tests/reliability/test_rel_concurrency.py.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.worker_io import read_line
from tui.models import ExampleItem
from tui.stores import SqliteStore

WORKER = Path(__file__).parent / "workers" / "store_writer.py"
TIMEOUT = 60.0
COLLECTION = "example_items"


def spawn(backend: str, data_dir: Path, prefix: str, count: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            str(WORKER),
            *("--backend", backend, "--data-dir", str(data_dir)),
            *("--count", str(count), "--prefix", prefix, "--wait"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
    )


@dataclass
class Finished:
    prefix: str
    acked: list[str]
    started: float  # wall clock when released (before it opened the store)
    finished: float  # ... and when its last write returned


def run_writers(backend: str, data_dir: Path, writers: int, count: int) -> list[Finished]:
    """Start the writers, release them together once all are ready, wait for all."""
    prefixes = [f"w{n}" for n in range(writers)]
    procs = [spawn(backend, data_dir, prefix, count) for prefix in prefixes]
    try:
        for proc in procs:
            assert read_line(proc, TIMEOUT) == "ready"
        for proc in procs:  # every one is blocked on stdin: this releases them together
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")  # unbuffered; communicate() closes it later
        results = []
        for prefix, proc in zip(prefixes, procs, strict=True):
            out, err = proc.communicate(timeout=TIMEOUT)
            assert proc.returncode == 0, f"writer {prefix} failed:\n{err.decode()}"
            lines = out.decode().splitlines()  # ("ready" was read above)
            assert lines[0] == "opened", lines[:1]
            done = lines[-1].split()
            assert done[0] == "done", f"writer {prefix} did not finish: {lines[-3:]}"
            results.append(Finished(prefix, lines[1:-1], float(done[1]), float(done[2])))
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def check_acks(results: list[Finished], count: int) -> None:
    for result in results:
        assert result.acked == [f"{result.prefix}-{i}" for i in range(count)]


def expected_ids(writers: int, count: int) -> list[str]:
    return [f"w{n}-{i}" for n in range(writers) for i in range(count)]


def read_sqlite_rows(data_dir: Path) -> list[tuple[str, str]]:
    """(id, data) in insertion order, after checking the database's integrity."""
    db = sqlite3.connect(data_dir / "db" / "myapp.db")
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        return db.execute(f"SELECT id, data FROM {COLLECTION} ORDER BY rowid").fetchall()
    finally:
        db.close()


CREATORS = 6
CREATE_ROUNDS = 4


def test_processes_creating_the_same_new_database_at_once(tmp_path: Path) -> None:
    """Several processes released together into a data folder with no database yet: every
    one opens it (creating it, switching it to WAL, creating the table) and adds a
    record. The races here show only sometimes, so the round is repeated; the two tests
    below pin each race down deterministically."""
    for round_no in range(CREATE_ROUNDS):
        data_dir = tmp_path / f"round{round_no}"
        results = run_writers("sqlite", data_dir, CREATORS, 1)
        check_acks(results, 1)
        ids = [record_id for record_id, _ in read_sqlite_rows(data_dir)]
        assert sorted(ids) == expected_ids(CREATORS, 1), f"round {round_no}"


def test_opening_a_database_another_process_has_just_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file appears between "does it exist?" and "create it": open it as it is."""
    path = tmp_path / "db" / "myapp.db"

    async def add(record_id: str) -> int:
        async with SqliteStore(path, COLLECTION, ExampleItem) as store:
            await store.upsert(ExampleItem(id=record_id, name=record_id))
            return await store.count()

    assert asyncio.run(add("first")) == 1
    real_exists = Path.exists
    monkeypatch.setattr(
        Path, "exists", lambda self, *a, **k: self != path and real_exists(self, *a, **k)
    )
    assert asyncio.run(add("second")) == 2


def test_opening_a_new_database_while_another_connection_writes(tmp_path: Path) -> None:
    """A database not yet in WAL mode with another connection in a write transaction
    (as when another process is switching it to WAL or creating its table): SQLite
    refuses the switch to WAL at once, without the busy timeout. Opening must wait for
    the other writer, not fail."""
    path = tmp_path / "myapp.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE unrelated (x)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO unrelated VALUES (1)")
    assert other.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    committing = threading.Event()

    def commit() -> None:
        committing.set()  # (before: the opener may finish as soon as COMMIT does)
        other.execute("COMMIT")

    committer = threading.Timer(0.3, commit)

    async def open_and_add() -> int:
        async with SqliteStore(path, COLLECTION, ExampleItem) as store:
            await store.upsert(ExampleItem(id="r1", name="r1"))
            return await store.count()

    try:
        started = time.monotonic()  # before the timer: a stall between counts as waiting
        committer.start()
        assert asyncio.run(open_and_add()) == 1
        assert committing.is_set()  # it did wait for the other writer
        assert time.monotonic() - started >= 0.25
    finally:
        committer.join()
        other.close()
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT x FROM unrelated").fetchall() == [(1,)]
    finally:
        db.close()


async def test_a_save_gives_up_on_a_lock_held_too_long(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fcntl
    import os

    from tui.models import ExampleItem
    from tui.stores import JsonStore, StoreError, jsonio

    monkeypatch.setattr(jsonio, "LOCK_TIMEOUT", 0.2)
    store = JsonStore.in_data_dir(tmp_path, "example_items", ExampleItem)
    async with store:
        await store.upsert(ExampleItem(id="aaaaaaaaaaaa", name="first"))
        before = store.path.read_bytes()
        holder = os.open(jsonio.lock_path_for(store.path), os.O_RDWR)
        try:
            fcntl.flock(holder, fcntl.LOCK_EX)  # another open file: another holder
            with pytest.raises(StoreError, match="held the lock"):
                await store.upsert(ExampleItem(id="bbbbbbbbbbbb", name="second"))
            assert store.path.read_bytes() == before
        finally:
            os.close(holder)
        await store.upsert(ExampleItem(id="bbbbbbbbbbbb", name="second"))
        assert await store.count() == 2
