"""The scale benchmark (issue 4): the browser over a million records, beside its floors.

    .venv/bin/python -m tests.bench.bench_scale [--count 1000000] [--json-count 100000]

Generates ``--count`` example items into a SQLite store (and ``--json-count`` into a JSON
store) in a temp folder, then prints every figure of issue 4's "Targets" beside a floor
measured in the same run, the ratio, the target and OK/MISS. Nothing asserts on time.

- start: ``python -m tui`` in a pseudo-terminal (SQLite store of N records, JSON store
  ``{}``), from spawn until the first SQLite row's id is on the terminal; floor: a bare
  Textual app (``compose`` yields ``Static("ready")``) from spawn until "ready" is on it.
  Interleaved, median of ``--start-reps``. Memory: VmRSS of the app's process once the
  rows are on screen (the larger of right then and one second later; the highest of the
  runs).
- end / home / page_down: in the same kind of terminal, SQLite pane focused, from writing
  the key's escape sequence until the id of the record the cursor lands on is printed.
  Before each ``end`` and ``home`` the app reloads (``r``), so the page it lands on is not
  cached; ``page_down`` is pressed from the top several times, crossing into pages not yet
  fetched. Floor: raw sqlite3 fetching the same 100-row page (``ORDER BY id LIMIT 100
  OFFSET k`` + ``orjson.loads`` of each row). "down" (next row, already in memory) is shown
  as the terminal's own key-to-frame latency.
- filter / sort (in process, ``App.run_test``): the filter box's value set to a needle
  that matches a few % of the rows, until the table has its first page for it (the cursor
  row is a match); floor: raw sqlite3 first page of matches (``data LIKE ? ORDER BY id
  LIMIT 100``). Sort by name: ``sort_by("name")`` until the first page is there; the first
  time (which may build an index) is shown apart from later ones (after sorting by id).
- JSON pane (in a fresh process, with its floor): a data dir with ``--json-count``
  records in the JSON store, from the pane's ``JsonStore.open`` call until its table
  draws the frame with its rows (the first row line drawn while it has its cursor row);
  floor: reading the file + ``orjson.loads`` with the cyclic collector paused. The time
  until the app is idle after that (``pilot.pause()``: the detail panel drawn, the rows
  validated) is printed beside it, and compared with the DataTable's.
- export / import of N records (SQLite -> empty JSON store, then that JSON file -> empty
  SQLite table) each in a subprocess doing only that transfer (``make_plan`` + ``apply``);
  floor: ``bench_foundation.floor_export`` / ``floor_import`` in their own subprocesses.
  Peak memory: the subprocess's peak RSS (VmHWM; its ru_maxrss would include the parent's
  size, which Linux carries across fork + exec), against the JSON file's size.
- edit: ``JsonStore.upsert`` of an existing record (a new name) in the ``--json-count``
  store; floor: temp file + write the file's bytes + fsync + ``os.replace``.
- Textual's built-in DataTable: ``add_rows`` of ``--json-count`` rows until the app is idle
  (``pilot.pause()``), printed beside our JSON pane's load to idle, same count.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import functools
import gc
import os
import platform
import pty
import re
import resource
import select
import shutil
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from tests.bench.bench_foundation import (
    TABLE,
    floor_export,
    floor_import,
    floor_sqlite_page,
    measure,
    raw_atomic_write,
)
from tui.generate import fill_stores, generate_raw_records
from tui.models import ExampleItem

PAGE = 100
TERMINAL = (120, 36)
ANSI = re.compile(
    rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>78]|\x1b\][^\x07]*\x07"
)
KEYS = {"end": b"\x1b[F", "home": b"\x1b[H", "page_down": b"\x1b[6~", "down": b"\x1b[B"}
NEEDLES = ("zephyr", "harbor", "lantern", "meadow", "nebula", "orchard", "quartz")
BARE_APP = """
from textual.app import App
from textual.widgets import Static

class Bare(App):
    def compose(self):
        yield Static("ready")

Bare().run()
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the table ---------------------------------------------------------------------------


@dataclass
class Row:
    """One printed figure. ``limit`` is a ratio target when ``ratio_target``, else a bound
    on ``ours`` itself (in ``unit``). ``ours`` None means it did not finish in time."""

    name: str
    ours: float | None
    floor: float | None
    unit: str = "ms"
    limit: float | None = None
    ratio_target: bool = True
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.ours is None or not self.floor:
            return None
        return self.ours / self.floor

    @property
    def target_text(self) -> str:
        if self.limit is None:
            return "-"
        return f"<={self.limit:g}x" if self.ratio_target else f"<{self.limit:g} {self.unit}"

    @property
    def verdict(self) -> str:
        if self.limit is None:
            return "-"
        if self.ours is None:
            return "MISS"
        value = self.ratio if self.ratio_target else self.ours
        return "OK" if value is not None and value <= self.limit else "MISS"


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "timeout"
    if unit == "ms" and value >= 100:
        return f"{value:.0f} {unit}"
    return f"{value:.1f} {unit}"


def print_table(rows: list[Row], notes: list[str]) -> None:
    width = max(len(r.name) for r in rows) + 1
    header = f"{'figure':<{width}} {'ours':>11} {'floor':>11} {'ratio':>7} {'target':>10}  ok"
    print(header)
    print("-" * len(header))
    for r in rows:
        ratio = r.ratio
        print(
            f"{r.name:<{width}} {fmt(r.ours, r.unit):>11}"
            f" {fmt(r.floor, r.unit) if r.floor is not None else '-':>11}"
            f" {f'{ratio:.2f}x' if ratio is not None else '-':>7} {r.target_text:>10}"
            f"  {r.verdict}{'  ' + r.note if r.note else ''}"
        )
    print()
    for note in notes:
        print(note)


def print_markdown(rows: list[Row]) -> None:
    """The same table for the README."""
    print("| figure | ours | floor | ratio | target | |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        ratio = r.ratio
        target = r.target_text.replace("<=", "≤ ").replace("<", "< ")
        print(
            f"| {r.name} | {fmt(r.ours, r.unit)} | {fmt(r.floor, r.unit) if r.floor else '-'}"
            f" | {f'{ratio:.2f}x' if ratio is not None else '-'} | {target} | {r.verdict} |"
        )


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


# -- a program in a pseudo-terminal -----------------------------------------------------


class Terminal:
    """A child process on a pty; everything it printed so far, as raw bytes."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        master, slave = pty.openpty()
        cols, rows = TERMINAL
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(cols), "LINES": str(rows)}
        env.pop("TEXTUAL", None)
        env.pop("TUI_DATA_DIR", None)
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env, start_new_session=True
        )
        os.close(slave)
        self.master = master
        self.raw = bytearray()

    def _read_some(self, timeout: float) -> None:
        ready, _, _ = select.select([self.master], [], [], max(timeout, 0))
        if ready:
            try:
                chunk = os.read(self.master, 1 << 16)
            except OSError:
                return
            self.raw += chunk

    def text(self, since: int = 0) -> str:
        return ANSI.sub(b"", bytes(self.raw[since:])).decode("utf-8", "replace")

    def wait_for(self, needle: str, since: int = 0, timeout: float = 60.0) -> float | None:
        """Seconds from now until ``needle`` is in the output after byte ``since``."""
        start = time.perf_counter()
        deadline = start + timeout
        while True:
            # Only the tail can hold a new match; keep the scan short on long sessions.
            scan_from = max(since, len(self.raw) - 200_000)
            if needle in self.text(scan_from):
                return time.perf_counter() - start
            if time.perf_counter() > deadline:
                return None
            self._read_some(min(0.05, deadline - time.perf_counter()))

    def drain(self, seconds: float) -> None:
        end = time.perf_counter() + seconds
        while (left := end - time.perf_counter()) > 0:
            self._read_some(left)

    def press(self, key: bytes, needle: str, timeout: float = 30.0) -> float | None:
        since = len(self.raw)
        start = time.perf_counter()
        os.write(self.master, key)
        waited = self.wait_for(needle, since, timeout)
        return None if waited is None else time.perf_counter() - start

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        return int(match.group(1)) / 1024 if match else float("nan")

    def close(self, quit_key: bytes) -> None:
        with contextlib.suppress(OSError):
            os.write(self.master, quit_key)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        finally:
            os.close(self.master)


def ids_in_order(db_path: Path, offsets: list[int]) -> dict[int, str]:
    conn = sqlite3.connect(db_path)
    try:
        return {
            k: conn.execute(
                f'SELECT id FROM "{TABLE}" ORDER BY id LIMIT 1 OFFSET ?', (k,)
            ).fetchone()[0]
            for k in offsets
        }
    finally:
        conn.close()


def time_floor_page(db_path: Path, offset: int) -> float:
    conn = sqlite3.connect(db_path)
    try:
        start = time.perf_counter()
        floor_sqlite_page(conn, "id", offset)
        return time.perf_counter() - start
    finally:
        conn.close()


def page_of(index: int) -> int:
    return index // PAGE * PAGE


def terminal_figures(data: Path, count: int, reps: int, key_reps: int) -> tuple[list[Row], str]:
    """Start (vs a bare app), memory, and end/home/page_down/down in a real terminal."""
    db_path = data / "db" / "myapp.db"
    first_ids = ids_in_order(db_path, list(range(min(count, 200))))
    first_id, last_id = first_ids[0], ids_in_order(db_path, [count - 1])[count - 1]
    tui_argv = [sys.executable, "-m", "tui", "--data-dir", str(data)]
    bare_argv = [sys.executable, "-c", BARE_APP]
    ours: list[float] = []
    floor: list[float] = []
    rss: list[float] = []
    timed_out = False
    log("start in a terminal ...")
    for _ in range(reps):
        bare = Terminal(bare_argv, data.parent)
        try:
            waited = bare.wait_for("ready")
            if waited is not None:
                floor.append(time.perf_counter() - bare.started)
        finally:
            bare.close(b"\x11")  # ctrl+q
        term = Terminal(tui_argv, data.parent)
        try:
            waited = term.wait_for(first_id, timeout=120)
            if waited is None:
                timed_out = True
                continue
            ours.append(time.perf_counter() - term.started)
            now = term.rss_mb()
            term.drain(1.0)
            rss.append(max(now, term.rss_mb()))
        finally:
            term.close(b"q")
    start_ms = median_ms(ours) if ours and not timed_out else None
    log(f"  start: ours {start_ms} ms, bare {median_ms(floor):.0f} ms, RSS {rss} MB")
    rows = [
        Row("start to first SQLite rows", start_ms, median_ms(floor), limit=1.5),
        Row(
            "resident memory, SQLite pane full",
            max(rss) if rss else None,
            None,
            unit="MB",
            limit=150,
            ratio_target=False,
        ),
    ]

    log("keys in a terminal ...")
    term = Terminal(tui_argv, data.parent)
    presses: dict[str, list[float | None]] = {"end": [], "home": [], "page_down": [], "down": []}
    floors: dict[str, list[float]] = {"end": [], "home": [], "page_down": [], "down": []}
    visible = 0
    try:
        if term.wait_for(first_id, timeout=120) is None:
            raise RuntimeError("the app never showed its first row")
        term.drain(1.0)
        screen = term.text()
        visible = 1 + sum(1 for i in range(1, len(first_ids)) if first_ids[i] in screen)
        term.press(b"\t", "", 1)  # focus the SQLite pane
        term.drain(0.5)
        steps = list(range(1, 7))
        targets = ids_in_order(db_path, [min(i * visible, count - 1) for i in steps])

        def reload() -> None:
            since = len(term.raw)
            os.write(term.master, b"r")
            term.wait_for("Reloaded", since, 10)
            term.drain(0.5)

        for _ in range(key_reps):
            reload()
            presses["end"].append(term.press(KEYS["end"], last_id))
            floors["end"].append(time_floor_page(db_path, page_of(count - 1)))
            term.drain(0.3)
            reload()
            presses["home"].append(term.press(KEYS["home"], first_id))
            floors["home"].append(time_floor_page(db_path, 0))
            term.drain(0.3)
            for i in steps:
                index = min(i * visible, count - 1)
                presses["page_down"].append(term.press(KEYS["page_down"], targets[index]))
                floors["page_down"].append(time_floor_page(db_path, page_of(index)))
                term.drain(0.2)
            term.press(KEYS["home"], first_id)
            term.drain(0.3)
            for i in (1, 2, 3):
                presses["down"].append(term.press(KEYS["down"], first_ids[i]))
                floors["down"].append(time_floor_page(db_path, 0))
                term.drain(0.2)
            term.press(KEYS["home"], first_id)
            term.drain(0.3)
    finally:
        term.close(b"q")
    for key in ("end", "page_down", "home"):
        done = [p for p in presses[key] if p is not None]
        missed = len(done) < len(presses[key])
        rows.append(
            Row(
                f"{key} on the SQLite pane",
                None if missed or not done else median_ms(done),
                median_ms(floors[key]),
                limit=50,
                ratio_target=False,
                note=f"(n={len(presses[key])}, slowest {max(done) * 1000 if done else 0:.0f} ms)",
            )
        )
    downs = [p for p in presses["down"] if p is not None]
    rows.append(
        Row(
            "down (row in memory)",
            median_ms(downs) if downs else None,
            None,
            note="key-to-frame latency of the terminal path",
        )
    )
    return rows, f"{visible} rows visible in the SQLite pane at {TERMINAL[0]}x{TERMINAL[1]}"


# -- in process: filter, sort, the JSON pane, DataTable ---------------------------------


def disk_mb(db_path: Path) -> float:
    """The database file and its WAL, in MB."""
    wal = db_path.with_name(db_path.name + "-wal")
    return (db_path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)) / 1e6


async def poll(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(0.001)
    return True


def record_text(entry: Any) -> str:
    return str(orjson.dumps(entry.raw).decode().lower() + entry.id)


async def filter_sort_figures(data: Path, count: int, reps: int) -> tuple[list[Row], list[str]]:
    from textual.widgets import Input

    from tui.app import BrowserApp

    db_path = data / "db" / "myapp.db"
    conn = sqlite3.connect(db_path)
    notes: list[str] = []
    indexes_before = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    ).fetchall()
    size_before = disk_mb(db_path) * 1e6
    needles = NEEDLES[:reps]
    started = time.perf_counter()
    matches = conn.execute(
        f'SELECT count(*) FROM "{TABLE}" WHERE data LIKE ?', (f"%{needles[0]}%",)
    ).fetchone()[0]
    share = [matches / count]
    notes.append(
        f"filter {needles[0]!r}: {matches} matches; raw sqlite3 count(*) WHERE data LIKE"
        f" (a full scan) takes {(time.perf_counter() - started) * 1000:.0f} ms"
    )
    rows: list[Row] = []
    app = BrowserApp(data)
    async with app.run_test(size=TERMINAL) as pilot:
        pane = app.browser.sqlite_pane
        table = pane.table
        if not await poll(lambda: table.total == count and table.current is not None, 120):
            raise RuntimeError("the SQLite pane never loaded")
        await pilot.pause()
        table.focus()

        # filter
        log("filter ...")
        ours: list[float | None] = []
        floor: list[float] = []
        pane.open_filter()
        await pilot.pause()
        box = pane.query_one("#filter", Input)
        for needle in needles:
            generation = table.generation
            start = time.perf_counter()
            box.value = needle

            def matched(needle: str = needle, generation: int = generation) -> bool:
                entry = table.current
                return (
                    table.generation != generation
                    and entry is not None
                    and needle in record_text(entry)
                )

            if await poll(matched, 60):
                await pilot.pause()
                ours.append(time.perf_counter() - start)
            else:
                ours.append(None)
            started = time.perf_counter()
            conn.execute(
                f'SELECT id, data FROM "{TABLE}" WHERE data LIKE ? ORDER BY id LIMIT {PAGE}',
                (f"%{needle}%",),
            ).fetchall()
            floor.append(time.perf_counter() - started)
            generation = table.generation
            box.value = ""

            def cleared(generation: int = generation) -> bool:
                return (
                    table.generation != generation
                    and table.total == count
                    and table.current is not None
                )

            await poll(cleared, 60)
            await pilot.pause()
        done = [x for x in ours if x is not None]
        rows.append(
            Row(
                "filter: first results",
                median_ms(done) if len(done) == len(ours) else None,
                median_ms(floor),
                limit=1000,
                ratio_target=False,
                note=f"(n={len(ours)}, ~{share[0]:.1%} of rows match)",
            )
        )
        pane.clear_filter()
        await poll(lambda: table.total == count and table.current is not None, 60)
        await pilot.pause()

        # sort by name
        log("sort ...")

        async def sort(column: str) -> float | None:
            generation = table.generation
            start = time.perf_counter()
            pane.sort_by(column, False)
            ok = await poll(
                lambda: table.generation != generation and table.current is not None, 120
            )
            if not ok:
                return None
            await pilot.pause()
            return time.perf_counter() - start

        first = await sort("name")
        later: list[float | None] = []
        for _ in range(reps):
            await sort("id")
            later.append(await sort("name"))
        done = [x for x in later if x is not None]
        rows.append(
            Row(
                "sort by name, first time",
                None if first is None else first * 1000,
                None,
                note="(includes building an index, if one is built on first use)",
            )
        )
        rows.append(
            Row(
                "sort by name, again",
                median_ms(done) if len(done) == len(later) else None,
                None,
                limit=1000,
                ratio_target=False,
                note=f"(n={len(later)}, each after sorting by id)",
            )
        )
    indexes_after = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    ).fetchall()
    conn.close()
    new = [sql for name, sql in indexes_after if (name,) not in indexes_before]
    notes.append(
        f"indexes in the database: {[n for n, _ in indexes_after] or 'none'};"
        f" made during this run: {len(new)};"
        f" database + WAL {size_before / 1e6:.0f} MB before, {disk_mb(db_path):.0f} MB after"
    )
    return rows, notes


def shows_rows(table: Any) -> bool:
    return bool(table.total > 0 and table.current is not None)


async def json_pane_figure(data: Path, reps: int) -> tuple[Row, float, float, float]:
    """(the figure, from launch to the frame with rows, the floor with the collector on,
    from the pane's load until the app is idle); medians in ms."""
    from tui.app import BrowserApp
    from tui.stores import JsonStore
    from tui.widgets.record_table import RecordTable

    path = data / "json" / f"{TABLE}.json"
    original = JsonStore.open
    opened: list[float] = []

    @functools.wraps(original)
    async def timed_open(self: Any) -> None:
        opened.append(time.perf_counter())
        await original(self)

    # The frame with the rows: the first time the pane's table draws a row line while it
    # has its cursor row (the frame is written right after its lines are drawn).
    watched: list[Any] = []
    drawn: list[float] = []
    original_line = RecordTable.render_line

    @functools.wraps(original_line)
    def timed_line(self: Any, y: int) -> Any:
        if not drawn and watched and self is watched[0] and y > 0 and shows_rows(self):
            drawn.append(time.perf_counter())
        return original_line(self, y)

    ours: list[float] = []
    floor: list[float] = []
    first_frame: list[float] = []
    to_idle: list[float] = []
    floor_gc_on: list[float] = []
    hooked = True
    JsonStore.open = timed_open  # type: ignore[method-assign]
    RecordTable.render_line = timed_line  # type: ignore[method-assign]
    try:
        for _ in range(reps):
            gc.collect()
            opened.clear()
            watched.clear()
            drawn.clear()
            app = BrowserApp(data)
            launched = time.perf_counter()
            async with app.run_test(size=TERMINAL) as pilot:
                table = app.browser.json_pane.table
                watched.append(table)
                if not await poll(lambda: bool(drawn), 120):
                    raise RuntimeError("the JSON pane never drew its rows")
                await pilot.pause()
                idle = time.perf_counter()
                # From the pane's first store call; if that hook was not hit, from launch.
                hooked = hooked and bool(opened)
                start = opened[0] if opened else launched
                ours.append(drawn[0] - start)
                first_frame.append(drawn[0] - launched)
                to_idle.append(idle - start)
            # The floor parses with the cyclic collector paused, as a bulk load should:
            # with it running, its passes over the new dicts double orjson's time.
            gc.collect()
            gc.disable()
            try:
                start = time.perf_counter()
                orjson.loads(path.read_bytes())
                floor.append(time.perf_counter() - start)
            finally:
                gc.enable()
            gc.collect()
            start = time.perf_counter()
            orjson.loads(path.read_bytes())
            floor_gc_on.append(time.perf_counter() - start)
    finally:
        JsonStore.open = original  # type: ignore[method-assign]
        RecordTable.render_line = original_line  # type: ignore[method-assign]
    row = Row(
        "JSON pane: load to rows on screen",
        median_ms(ours),
        median_ms(floor),
        limit=1.3,
        note="" if hooked else "(from app launch: the pane never called JsonStore.open)",
    )
    return row, median_ms(first_frame), median_ms(floor_gc_on), median_ms(to_idle)


async def datatable_figure(records: int) -> float:
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    class TableApp(App[None]):
        def compose(self) -> ComposeResult:
            yield DataTable()

    keys = ("id", "name", "description", "tags", "updated_at")
    rows = [tuple(str(raw[k]) for k in keys) for raw in generate_raw_records(records, seed=0)]
    app = TableApp()
    async with app.run_test(size=TERMINAL) as pilot:
        table = app.query_one(DataTable)
        await pilot.pause()
        gc.collect()
        start = time.perf_counter()
        table.add_columns(*keys)
        table.add_rows(rows)
        await pilot.pause()
        elapsed = time.perf_counter() - start
        assert table.row_count == records
    return elapsed * 1000


async def edit_figure(data: Path, work: Path, reps: int, seed: int) -> Row:
    from tui.stores import JsonStore

    shutil.copytree(data / "json", work / "json")
    path = work / "json" / f"{TABLE}.json"
    floor_path = work / "json" / "floor.json"
    ids = [raw["id"] for raw in generate_raw_records(reps, seed=seed)]
    async with JsonStore.in_data_dir(work, TABLE, ExampleItem) as store:
        bytes_now = [b""]

        async def edit(rep: int) -> None:
            entry = await store.get(ids[rep])
            assert entry is not None
            await store.upsert(ExampleItem.model_validate({**entry.raw, "name": f"Edit {rep}"}))

        def read(rep: int) -> None:
            bytes_now[0] = path.read_bytes()

        figure = await measure(
            "edit",
            edit,
            lambda rep: raw_atomic_write(floor_path, bytes_now[0]),
            reps,
            before=read,
        )
    return Row(
        f"one edit, {path.stat().st_size / 1e6:.0f} MB JSON file",
        figure.ours_ms,
        figure.floor_ms,
        limit=2.0,
        note="(JsonStore.upsert of an existing record)",
    )


# -- transfers, each in its own process -------------------------------------------------


async def _child_transfer(kind: str, src: Path, dst: Path) -> None:
    from tui.stores import JsonStore, SqliteStore
    from tui.transfer import apply, make_plan

    if kind == "export-floor":
        floor_export(src, dst)
    elif kind == "import-floor":
        floor_import(src, dst)
    elif kind == "export":
        async with (
            SqliteStore(src, TABLE, ExampleItem) as source,
            JsonStore(dst, ExampleItem) as target,
        ):
            await apply(await make_plan(source, target), target)
    elif kind == "import":
        async with (
            JsonStore(src, ExampleItem) as source,
            SqliteStore(dst, TABLE, ExampleItem) as target,
        ):
            await apply(await make_plan(source, target), target)
    else:
        raise ValueError(kind)


def peak_rss_kb() -> int:
    """This process's peak resident set. VmHWM, not ru_maxrss: Linux carries ru_maxrss
    over from the parent across fork + exec, so a child would report the bench's own size
    when that is larger."""
    with contextlib.suppress(OSError):
        status = Path("/proc/self/status").read_text()
        match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
        if match:
            return int(match.group(1))
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child_main(kind: str, src: Path, dst: Path) -> int:
    before_kb = peak_rss_kb()
    gc.collect()
    start = time.perf_counter()
    asyncio.run(_child_transfer(kind, src, dst))
    seconds = time.perf_counter() - start
    print(
        orjson.dumps(
            {"seconds": seconds, "peak_kb": peak_rss_kb(), "before_kb": before_kb}
        ).decode()
    )
    return 0


def bench_in_child(what: str, *args: str) -> dict[str, Any]:
    """Run this module with ``args`` in a process of its own; its last line, as JSON."""
    proc = subprocess.run(
        [sys.executable, "-m", "tests.bench.bench_scale", *args],
        capture_output=True,
        timeout=1800,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{proc.stderr.decode(errors='replace')[-3000:]}")
    result: dict[str, Any] = orjson.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run_child(kind: str, src: Path, dst: Path) -> dict[str, Any]:
    dst.parent.mkdir(parents=True, exist_ok=True)
    result = bench_in_child(kind, "--child", kind, str(src), str(dst))
    log(f"  {kind}: {result['seconds']:.2f} s, peak {result['peak_kb'] / 1024:.0f} MB")
    return result


def transfer_figures(db: Path, root: Path, count: int) -> tuple[list[Row], list[str]]:
    log(f"export and import of {count} records, each in its own process ...")
    export = run_child("export", db, root / "export-ours" / f"{TABLE}.json")
    export_floor = run_child("export-floor", db, root / "export-floor" / f"{TABLE}.json")
    json_file = root / "export-ours" / f"{TABLE}.json"
    size_mb = json_file.stat().st_size / 1e6
    imported = run_child("import", json_file, root / "import-ours" / "myapp.db")
    import_floor = run_child("import-floor", json_file, root / "import-floor" / "myapp.db")
    check = sqlite3.connect(root / "import-ours" / "myapp.db")
    written = check.execute(f'SELECT count(*) FROM "{TABLE}"').fetchone()[0]
    check.close()
    assert written == count, f"import wrote {written} records, not {count}"
    for sub in ("export-floor", "import-ours", "import-floor"):
        shutil.rmtree(root / sub, ignore_errors=True)
    rows = [
        Row(
            "export (SQLite -> JSON)",
            export["seconds"] * 1000,
            export_floor["seconds"] * 1000,
            limit=1.5,
        ),
        Row(
            "import (JSON -> SQLite)",
            imported["seconds"] * 1000,
            import_floor["seconds"] * 1000,
            limit=1.5,
        ),
    ]
    for name, ours, floor in (
        ("export", export, export_floor),
        ("import", imported, import_floor),
    ):
        rows.append(
            Row(
                f"{name} peak memory / JSON size",
                ours["peak_kb"] / 1024 / size_mb,
                floor["peak_kb"] / 1024 / size_mb,
                unit="x",
                limit=3,
                ratio_target=False,
                note=f"({ours['peak_kb'] / 1024:.0f} MB vs floor {floor['peak_kb'] / 1024:.0f} MB;"
                f" {ours['before_kb'] / 1024:.0f} MB before the work)",
            )
        )
    return rows, [f"JSON file of {count} records: {size_mb:.0f} MB"]


# -- the run -----------------------------------------------------------------------------


@contextlib.contextmanager
def timed_step(what: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    log(f"  {what} in {time.perf_counter() - start:.1f} s")


def run(args: argparse.Namespace, root: Path) -> tuple[list[Row], list[str]]:
    count, json_count = args.count, args.json_count
    big = root / "big"
    (big / "json").mkdir(parents=True)
    log(f"generating {count} SQLite records into {big} ...")
    with timed_step(f"{count} SQLite records"):
        asyncio.run(fill_stores(big, count, "sqlite", seed=args.seed))
    (big / "json" / f"{TABLE}.json").write_bytes(b"{}\n")  # empty: the app seeds nothing
    mid = root / "mid"
    with timed_step(f"{json_count} JSON records"):
        asyncio.run(fill_stores(mid, json_count, "json", seed=args.seed))
    db = big / "db" / "myapp.db"
    notes = [f"database of {count} records: {db.stat().st_size / 1e6:.0f} MB"]
    rows: list[Row] = []

    def section(name: str, work: Callable[[], Any]) -> Any:
        """One group of figures; a failure becomes a note, the others still run."""
        try:
            return work()
        except Exception as exc:
            log(f"  {name} failed: {type(exc).__name__}: {exc}")
            notes.append(f"{name}: FAILED ({type(exc).__name__}: {str(exc)[:200]})")
            return None

    got = section(
        "start and keys",
        lambda: terminal_figures(big, count, args.start_reps, args.key_reps),
    )
    if got is not None:
        rows.extend(got[0])
        notes.append(got[1])

    got = section(
        "filter and sort", lambda: asyncio.run(filter_sort_figures(big, count, args.reps))
    )
    if got is not None:
        rows.extend(got[0])
        notes.extend(got[1])

    log("JSON pane (in a fresh process) ...")
    json_got = section("JSON pane", lambda: json_pane_in_child(mid, args.start_reps))
    if json_got is not None:
        rows.append(json_got[0])
        notes.append(
            f"JSON pane floor: read + orjson.loads with the cyclic collector paused;"
            f" with it running: {json_got[2]:.0f} ms. From its load until the app is idle"
            f" (the detail panel drawn, the rows validated): {json_got[3]:.0f} ms"
        )

    log("edit ...")
    got = section(
        "edit",
        lambda: asyncio.run(edit_figure(mid, root / "edit", args.edit_reps, args.seed)),
    )
    if got is not None:
        rows.append(got)

    got = section("export and import", lambda: transfer_figures(db, root, count))
    if got is not None:
        rows.extend(got[0])
        notes.extend(got[1])

    if args.skip_datatable:
        notes.append("Textual DataTable: skipped (--skip-datatable)")
    else:
        log(f"Textual DataTable with {json_count} rows ...")
        table_ms = section("Textual DataTable", lambda: asyncio.run(datatable_figure(json_count)))
        if table_ms is not None:
            ours = (
                f"our JSON pane with the same count, measured the same way (to idle):"
                f" {json_got[3]:.0f} ms from its load"
                if json_got is not None
                else "our JSON pane: not measured"
            )
            notes.append(
                f"Textual DataTable: add_rows of {json_count} rows until the app is idle"
                f" {table_ms:.0f} ms; {ours}"
            )
    return rows, notes


def json_pane_in_child(data: Path, reps: int) -> tuple[Row, float, float, float]:
    """:func:`json_pane_figure` in a process of its own, ours and the floor both: in this
    one, the earlier sections' million objects make every collector pass the app's load
    triggers slower, while the floor runs with the collector paused."""
    got = bench_in_child("JSON pane", "--json-pane", str(data), str(reps))
    row = Row(got["name"], got["ours"], got["floor"], limit=got["limit"], note=got["note"])
    return row, got["first_frame"], got["floor_gc_on"], got["to_idle"]


def json_pane_main(data: Path, reps: int) -> int:
    row, first_frame, floor_gc_on, to_idle = asyncio.run(json_pane_figure(data, reps))
    fields = {"name": row.name, "ours": row.ours, "floor": row.floor, "limit": row.limit}
    fields |= {"note": row.note, "first_frame": first_frame, "floor_gc_on": floor_gc_on}
    fields |= {"to_idle": to_idle}
    print(orjson.dumps(fields).decode())
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child_main(argv[1], Path(argv[2]), Path(argv[3]))
    if argv[:1] == ["--json-pane"]:
        return json_pane_main(Path(argv[1]), int(argv[2]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="SQLite records")
    parser.add_argument("--json-count", type=int, default=100_000, help="JSON pane records")
    parser.add_argument("--start-reps", type=int, default=3, help="app starts (default 3)")
    parser.add_argument("--key-reps", type=int, default=3, help="rounds of key presses")
    parser.add_argument("--reps", type=int, default=5, help="filters and sorts (max 7)")
    parser.add_argument("--edit-reps", type=int, default=7, help="JSON edits")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-datatable", action="store_true", help="skip the slow DataTable")
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    parser.add_argument("--dir", type=Path, default=None, help="where the temp folder goes")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args(argv)
    if args.count < 1000 or args.json_count < 100:
        parser.error("--count must be at least 1000 and --json-count at least 100")
    args.reps = max(1, min(args.reps, len(NEEDLES)))
    started = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="tui-scale-", dir=args.dir))
    try:
        rows, notes = run(args, root)
    finally:
        if args.keep:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    notes.append(
        f"N = {args.count} SQLite records, {args.json_count} JSON records;"
        f" whole run {time.perf_counter() - started:.0f} s"
    )
    notes.append(
        f"machine: {platform.python_implementation()} {platform.python_version()},"
        f" SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs, load average {load}"
    )
    print_table(rows, notes)
    if args.markdown:
        print()
        print_markdown(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
