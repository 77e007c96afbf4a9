"""Crash loop (issue 5, item 2): a writer killed with SIGKILL at a random moment never
leaves a broken or partial store, and never loses a write it acknowledged.

A writer process (tests/workers/store_writer.py) starts writing; after a random delay
(spread over its write window) it is killed with SIGKILL, and the stores are checked.
Three kinds of writer, 100 kills in all in the quick run, 1,000 in the long one
(``TUI_RELIABILITY=long .venv/bin/pytest tests/reliability/test_rel_crash.py``):

* JSON saves (``upsert``, one read-modify-write each): the file parses with
  ``json.loads`` at every moment (also while the writer runs) and equals the state before
  the writer or the state after one of its writes, with every acknowledged write in it
  (an id printed before the kill is in the file); the file's mode is kept; opening the
  store again removes the temp file the killed writer left and reads every record.
* Exports (SQLite -> JSON through ``tui.transfer``, as ``python -m tui export``): each
  round first rewrites the SQLite source with a new generation, then plans and applies.
  The JSON target holds every record of one generation or none (all or nothing), the one
  acknowledged last or the one in flight; records only in the target stay as they were;
  the source database passes ``PRAGMA integrity_check`` and holds one whole generation.
* Imports (JSON -> SQLite through ``tui.transfer``, as ``python -m tui import``), 2,500
  records a round so one apply spans two ``executemany`` batches: the database passes
  ``PRAGMA integrity_check`` and holds one whole generation (or none), its own records
  unchanged; the JSON source parses and holds one whole generation.

The delays come from ``random.Random(SEED)``; every failure message starts with the seed
(set ``TUI_CRASH_SEED`` to replay another). Workers are started ahead of time and wait
on stdin, so the ~0.2 s of Python start-up overlaps the previous kill.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import random
import selectors
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.budget import LONG, Figures, amount
from tui.models import ExampleItem
from tui.stores import JsonStore, SqliteStore
from tui.stores import sqlite_store as sqlite_module

SEED = int(os.environ.get("TUI_CRASH_SEED", "20261129"))
WORKER = Path(__file__).parents[1] / "workers" / "store_writer.py"
COLLECTION = "example_items"
TEMP_PREFIX = ".tui-tmp-"
TIMEOUT = 30.0
PREWARM = 2  # workers started ahead, waiting to be released
DURING_PAUSE = 0.005  # between parses of the file while a writer runs (spares the CPU)
FILE_MODE = 0o640  # not the 0600 a new file gets: the writers must keep it
COMMAND = (
    f"{'TUI_RELIABILITY=long ' if LONG else ''}.venv/bin/pytest tests/reliability/test_rel_crash.py"
)

# 100 kills in the quick run, 1,000 in the long one.
JSON_KILLS = amount(50, 500)
JSON_WINDOW = 0.150  # kill 0-150 ms after the writer has opened the store
EXPORT_KILLS = amount(25, 250)
EXPORT_BATCH = 500
EXPORT_WINDOW = 0.150
IMPORT_KILLS = amount(25, 250)
IMPORT_BATCH = sqlite_module._BATCH + 500  # one apply spans two executemany calls
IMPORT_WINDOW = 0.250
# A window is stretched to this many times one write (a JSON save, a transfer round) as
# timed on this machine before the kills: on a slow, loaded machine a write can take
# longer than the whole fixed window, and then no kill would ever land after one.
WINDOW_WRITES = 3

FIGURE_JSON = "kills: JSON saves"
FIGURE_EXPORT = "kills: exports (SQLite -> JSON)"
FIGURE_IMPORT = "kills: imports (JSON -> SQLite)"


# -- worker processes ------------------------------------------------------------------


class Worker:
    """One store_writer process, started with ``--wait`` so it can be released later."""

    def __init__(self, tmp: Path, args: list[str], prefix: str) -> None:
        self.prefix = prefix
        self.err_path = tmp / f"{prefix}.stderr"
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(WORKER), *args, "--prefix", prefix, "--wait"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                bufsize=0,
            )
        self._buf = b""

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def read_line(self, timeout: float = TIMEOUT) -> str:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buf:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    raise AssertionError(f"worker {self.prefix} silent for {timeout}s")
                chunk = os.read(fd, 65536)
                if not chunk:
                    self.proc.wait(TIMEOUT)
                    raise AssertionError(
                        f"worker {self.prefix} exited ({self.proc.returncode}): {self.stderr()}"
                    )
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode()

    def release(self) -> None:
        """Let it open the store and start writing; return once it has opened it."""
        assert self.read_line() == "ready"
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"go\n")
        assert self.read_line() == "opened"

    def kill(self) -> list[str]:
        """SIGKILL it; return the lines it printed (complete lines only) before dying."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(TIMEOUT)
        assert self.proc.stdout is not None
        rest = self._buf + self.proc.stdout.read()
        self.close()
        assert self.proc.returncode == -signal.SIGKILL, (
            f"worker {self.prefix} was not killed but exited ({self.proc.returncode}): "
            f"{self.stderr()}"
        )
        lines = rest.split(b"\n")[:-1]  # a line without its newline was not acknowledged
        return [line.decode() for line in lines]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(TIMEOUT)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


@dataclass
class Stats:
    kills: int = 0
    acked: int = 0  # writes acknowledged before a kill
    unacked_done: int = 0  # kills after a write had landed but before its ack
    temp_left: int = 0  # kills that left a temp file behind (killed inside a write)
    reads_during: int = 0  # parses of the file while a writer was running
    window: float = 0.0  # the kill delays were spread over 0..window seconds
    delays: list[float] = field(default_factory=list)

    def line(self, name: str, extra: str = "") -> str:
        d = sorted(self.delays)
        spread = f"{d[0] * 1000:.0f}-{d[-1] * 1000:.0f} ms" if d else "-"
        json_only = (
            f", {self.temp_left} left a temp file, {self.reads_during} reads while writing"
            if self.reads_during
            else ""
        )
        return (
            f"{name}: seed {SEED}, {self.kills} kills (delays {spread} of a "
            f"{self.window * 1000:.0f} ms window), {self.acked} acked "
            f"writes, {self.unacked_done} landed but unacked{json_only}{extra}"
        )


def time_one_write(tmp: Path, data_dir: Path, worker_args: list[str]) -> float:
    """Seconds from a writer's opening of the store to its first acknowledged write,
    run on a copy of ``data_dir`` (the stores under test stay as they are)."""
    scratch = tmp / "calibration"
    shutil.copytree(data_dir, scratch / "data")
    args = list(worker_args)
    at = args.index("--data-dir") + 1
    args[at] = str(scratch / "data")
    args = [a for a in args if a != "--slow"]
    with closing(Worker(scratch, args, "calibration")) as worker:
        worker.release()
        started = time.monotonic()
        worker.read_line(timeout=TIMEOUT * 4)  # the first acknowledgement
        elapsed = time.monotonic() - started
    shutil.rmtree(scratch)
    return elapsed


def kill_cycles(
    tmp: Path,
    name: str,
    kills: int,
    window: float,
    worker_args: Callable[[int], list[str]],
    check: Callable[[int, list[str]], None],
    figures: Figures,
    during: Callable[[], None] | None = None,
    *,
    data_dir: Path,
) -> Stats:
    """Release a worker, kill it after a random delay, ``check(cycle, acked)``; repeat.

    The delays are spread over ``window``, or over WINDOW_WRITES times one write as
    timed first (on a copy of ``data_dir``) if that is longer. ``during`` is called in
    a loop while the worker runs (e.g. to parse the file). Each kill is counted in
    ``figures`` under ``name``, and as losing nothing once its check passed.
    """
    rng = random.Random(f"{SEED}-{name}")
    stats = Stats()
    logs = tmp / "logs"
    logs.mkdir(exist_ok=True)
    one_write = time_one_write(tmp, data_dir, worker_args(0))
    window = max(window, WINDOW_WRITES * one_write)
    stats.window = window
    pool: collections.deque[Worker] = collections.deque()
    started = 0

    def spawn() -> None:
        nonlocal started
        pool.append(Worker(logs, worker_args(started), f"c{started}"))
        started += 1

    try:
        for _ in range(min(PREWARM, kills)):
            spawn()
        for cycle in range(kills):
            worker = pool.popleft()
            if started < kills:
                spawn()
            delay = rng.uniform(0, window)
            context = (
                f"seed={SEED} {name} cycle={cycle} delay={delay * 1000:.1f}ms "
                f"(window {window * 1000:.0f}ms)"
            )
            with failure_context(context), closing(worker):
                worker.release()
                deadline = time.monotonic() + delay
                while during is not None and time.monotonic() < deadline:
                    during()
                    stats.reads_during += 1
                    time.sleep(min(DURING_PAUSE, max(0.0, deadline - time.monotonic())))
                time.sleep(max(0.0, deadline - time.monotonic()))
                lines = worker.kill()
                figures.add(name, 1, 0, COMMAND)
                stats.kills += 1
                stats.delays.append(delay)
                assert not [x for x in lines if x.startswith("done")], "finished before the kill"
                stats.acked += len(lines)
                check(cycle, lines)
                figures.add(name, 0, 1)
    finally:
        for worker in pool:
            worker.close()
    return stats


@contextmanager
def failure_context(context: str) -> Iterator[None]:
    try:
        yield
    except AssertionError as exc:
        pytest.fail(f"{context}: {exc}")


# -- the JSON store ------------------------------------------------------------------------


def seed_json_file(path: Path) -> list[tuple[str, Any]]:
    """Records the writers must leave exactly as they are: an unknown field, an invalid
    record, non-ASCII text. Written by hand, not in the store's own layout."""
    seed = {
        "seed-known": {
            "id": "seed-known",
            "schema_version": 1,
            "created_at": "2026-11-29T17:55:20.845500Z",
            "updated_at": "2026-11-29T17:55:20.845500Z",
            "name": "Grüße, 世界",
            "description": "",
            "tags": ["a", "b"],
            "extra": {"nested": [1, 2.5, None, True], "big": 12345678901234567890},
        },
        "seed-invalid": {"id": "seed-invalid", "name": "", "tags": "not a list"},
    }
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(seed, indent=4, ensure_ascii=True), encoding="utf-8")
    path.chmod(FILE_MODE)
    return list(seed.items())


def temp_files(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX)]


def read_json_items(path: Path) -> list[tuple[str, Any]]:
    data = json.loads(path.read_bytes())  # never a partial or broken file
    assert isinstance(data, dict), f"top level is {type(data).__name__}"
    return list(data.items())


def after_kill_json(path: Path, stats: Stats) -> list[tuple[str, Any]]:
    """Check the file after a kill; reopen the store; return the file's records."""
    items = read_json_items(path)
    assert items or path.stat().st_size > 0
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode == FILE_MODE, f"file mode became {oct(mode)}"
    if temp_files(path.parent):
        stats.temp_left += 1

    async def reopen() -> int:
        store = JsonStore(path, ExampleItem)
        async with store:
            assert store.load_error is None, store.load_error
            return await store.count()

    assert asyncio.run(reopen()) == len(items)
    left = temp_files(path.parent)
    assert not left, f"opening the store left temp files: {left}"
    assert read_json_items(path) == items, "opening the store changed the file"
    return items


def check_new_record(record_id: str, raw: Any) -> None:
    assert isinstance(raw, dict), f"{record_id}: {raw!r}"
    assert raw.get("id") == record_id, f"{record_id}: id {raw.get('id')!r}"
    assert raw.get("name") == f"name of {record_id}", f"{record_id}: {raw!r}"
    ExampleItem.model_validate(raw)


def seed_sqlite(path: Path) -> list[tuple[str, str]]:
    async def seed() -> None:
        async with SqliteStore(path, COLLECTION, ExampleItem) as store:
            await store.upsert(ExampleItem(id="seed-1", name="kept", tags=["x"]))
            await store.put_raw_many([{"id": "seed-2", "name": "", "extra": [1, 2]}])

    asyncio.run(seed())
    return sqlite_rows(path)


def sqlite_rows(path: Path) -> list[tuple[str, str]]:
    """(id, data) of every row, after ``PRAGMA integrity_check`` (no rows, no database)."""
    if not path.exists():
        return []
    db = sqlite3.connect(path, isolation_level=None)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        tables = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        if (COLLECTION,) not in tables:
            return []
        return db.execute(f"SELECT id, data FROM {COLLECTION} ORDER BY id").fetchall()
    finally:
        db.close()


def one_generation(items: list[tuple[str, Any]], ids: set[str], what: str) -> str | None:
    """The generation every transferred record carries: all of them or none (None)."""
    copied = {k: v for k, v in items if k.startswith("x-")}
    if not copied:
        return None
    assert set(copied) == ids, f"{what}: {len(copied)} of {len(ids)} records"
    for record_id, raw in copied.items():
        check_new_record(record_id, raw)
    generations = {v.get("generation") for v in copied.values()}
    assert len(generations) == 1, f"{what}: a mix of generations: {sorted(generations)[:5]}"
    (generation,) = generations
    assert isinstance(generation, str)
    return generation


def acked_generations(cycle: int, acked: list[str]) -> list[str]:
    """The generations a transfer worker acknowledged (``P-j TIME`` lines), in order."""
    generations = [line.split()[0] for line in acked]
    assert generations == [f"c{cycle}-{j}" for j in range(len(generations))], generations[:5]
    return generations


# -- the tests -------------------------------------------------------------------------------


def test_json_saves_killed_at_random_moments(tmp_path: Path, figures: Figures) -> None:
    data_dir = tmp_path / "data"
    path = data_dir / "json" / f"{COLLECTION}.json"
    state = {"items": seed_json_file(path)}
    stats = Stats()
    rng = random.Random(f"{SEED}-slow")

    def args(cycle: int) -> list[str]:
        slow = ["--slow"] if rng.random() < 0.25 else []  # some kills land between writes
        return ["--backend", "json", "--data-dir", str(data_dir), "--count", "1000000", *slow]

    def during() -> None:
        read_json_items(path)

    def check(cycle: int, acked: list[str]) -> None:
        before = state["items"]
        items = after_kill_json(path, stats)
        assert items[: len(before)] == before, "records that were there before changed"
        new = items[len(before) :]
        new_ids = [record_id for record_id, _ in new]
        assert new_ids == [f"c{cycle}-{i}" for i in range(len(new))], (
            f"the new records are not the writer's first writes in order: {new_ids[:5]}..."
        )
        assert acked == new_ids[: len(acked)], (
            f"acknowledged but missing: {sorted(set(acked) - set(new_ids))[:5]}"
        )
        assert len(new) <= len(acked) + 1, f"{len(new)} new records but {len(acked)} acked"
        stats.unacked_done += len(new) - len(acked)
        for record_id, raw in new:
            check_new_record(record_id, raw)
        state["items"] = items

    started = time.monotonic()
    run = kill_cycles(
        tmp_path,
        FIGURE_JSON,
        JSON_KILLS,
        JSON_WINDOW,
        args,
        check,
        figures,
        during,
        data_dir=data_dir,
    )
    run.temp_left, run.unacked_done = stats.temp_left, stats.unacked_done
    elapsed = time.monotonic() - started
    print(run.line("json", f", {len(state['items'])} records at the end, {elapsed:.1f}s"))
    assert run.kills == JSON_KILLS
    assert run.acked > 0, "no save was ever acknowledged before a kill"
    # The kills must also land inside writes (between the temp file and the replace),
    # or this test would prove little.
    assert run.temp_left > 0, "no kill landed inside a write"


def check_generations(
    cycle: int,
    acked: list[str],
    target: str | None,
    source: str | None,
    state: dict[str, str | None],
    stats: Stats,
) -> None:
    """After a killed transfer: each store holds the last acknowledged generation or the
    one in flight (the one before, if none was acknowledged this cycle), and the target
    never holds one the source did not."""
    generations = acked_generations(cycle, acked)
    in_flight = f"c{cycle}-{len(generations)}"
    last = generations[-1] if generations else None
    allowed = {last, in_flight} if generations else {state["target"], in_flight}
    assert target in allowed, f"target generation {target!r}, expected one of {allowed}"
    allowed = {last, in_flight} if generations else {state["source"], in_flight}
    assert source in allowed, f"source generation {source!r}, expected one of {allowed}"
    if target == in_flight:
        assert source == in_flight, "the target holds a generation the source never had"
        stats.unacked_done += 1
    state["target"], state["source"] = target, source


def test_exports_killed_at_random_moments(tmp_path: Path, figures: Figures) -> None:
    """SQLite -> JSON: the JSON target (and the SQLite source) all or nothing."""
    data_dir = tmp_path / "data"
    path = data_dir / "json" / f"{COLLECTION}.json"
    db = data_dir / "db" / "myapp.db"
    seed = seed_json_file(path)
    state: dict[str, str | None] = {"target": None, "source": None}
    stats = Stats()
    ids = {f"x-{i}" for i in range(EXPORT_BATCH)}

    def args(cycle: int) -> list[str]:
        return [
            *("--backend", "json", "--data-dir", str(data_dir), "--mode", "export"),
            *("--count", "1000000", "--batch", str(EXPORT_BATCH)),
        ]

    def during() -> None:
        read_json_items(path)

    def check(cycle: int, acked: list[str]) -> None:
        items = after_kill_json(path, stats)
        kept = [(k, v) for k, v in items if not k.startswith("x-")]
        assert kept == seed, "records only in the target changed"
        target = one_generation(items, ids, "JSON target")
        rows = sqlite_rows(db)  # integrity_check first
        assert {k for k, _ in rows} <= ids, "the source holds records never written"
        source = one_generation([(k, json.loads(v)) for k, v in rows], ids, "SQLite source")
        check_generations(cycle, acked, target, source, state, stats)

    started = time.monotonic()
    run = kill_cycles(
        tmp_path,
        FIGURE_EXPORT,
        EXPORT_KILLS,
        EXPORT_WINDOW,
        args,
        check,
        figures,
        during,
        data_dir=data_dir,
    )
    run.temp_left, run.unacked_done = stats.temp_left, stats.unacked_done
    elapsed = time.monotonic() - started
    print(run.line("export", f", {elapsed:.1f}s"))
    assert run.kills == EXPORT_KILLS
    assert run.acked > 0, "no export was ever applied before a kill"


def test_imports_killed_at_random_moments(tmp_path: Path, figures: Figures) -> None:
    """JSON -> SQLite: the database passes integrity_check and holds whole generations."""
    data_dir = tmp_path / "data"
    db = data_dir / "db" / "myapp.db"
    source_path = data_dir / "json" / f"{COLLECTION}.json"
    seed = seed_sqlite(db)
    seed_ids = {record_id for record_id, _ in seed}
    source_path.parent.mkdir(parents=True)
    source_path.write_text("{}\n", encoding="utf-8")
    source_path.chmod(FILE_MODE)
    state: dict[str, str | None] = {"target": None, "source": None}
    stats = Stats()
    ids = {f"x-{i}" for i in range(IMPORT_BATCH)}

    def args(cycle: int) -> list[str]:
        return [
            *("--backend", "sqlite", "--data-dir", str(data_dir), "--mode", "import"),
            *("--count", "1000000", "--batch", str(IMPORT_BATCH)),
        ]

    def check(cycle: int, acked: list[str]) -> None:
        rows = sqlite_rows(db)  # integrity_check first
        assert [r for r in rows if r[0] in seed_ids] == seed, "the database's own rows changed"
        assert {k for k, _ in rows} <= ids | seed_ids, "rows never written"
        target = one_generation([(k, json.loads(v)) for k, v in rows], ids, "SQLite target")
        source = one_generation(after_kill_json(source_path, stats), ids, "JSON source")
        check_generations(cycle, acked, target, source, state, stats)

        async def reopen() -> int:
            async with SqliteStore(db, COLLECTION, ExampleItem) as store:
                return await store.count()

        assert asyncio.run(reopen()) == len(rows)

    started = time.monotonic()
    run = kill_cycles(
        tmp_path,
        FIGURE_IMPORT,
        IMPORT_KILLS,
        IMPORT_WINDOW,
        args,
        check,
        figures,
        data_dir=data_dir,
    )
    run.temp_left, run.unacked_done = stats.temp_left, stats.unacked_done
    elapsed = time.monotonic() - started
    print(run.line("import", f", {elapsed:.1f}s"))
    assert run.kills == IMPORT_KILLS
    assert run.acked > 0, "no import was ever applied before a kill"
