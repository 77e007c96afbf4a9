"""The foundation's benchmark: the data layer against raw sqlite3 + orjson doing the same work.

    .venv/bin/python -m tests.bench.bench_foundation [--count 100000] [--reps 5]

On ``--count`` generated example items in a temp folder, each figure is measured beside
its floor in the same run (interleaved, median of ``--reps`` repetitions):

- export: SQLite -> empty JSON store via ``make_plan`` + ``apply``; floor: sqlite3
  ``SELECT id, data``, ``orjson.loads`` each, ``orjson.dumps`` (indent 2) of the dict, temp
  file, write, fsync, ``os.replace``.
- import: JSON file -> empty SQLite table via ``make_plan`` + ``apply``; floor: read the
  file, ``orjson.loads``, one ``executemany`` INSERT transaction of compact JSON.
- JSON add: ``JsonStore.upsert`` of one new record into the N-record store; floor: temp
  file, write the same number of bytes, fsync, ``os.replace``.
- SQLite add: ``SqliteStore.upsert`` of one new record; floor: sqlite3 INSERT in
  ``BEGIN IMMEDIATE`` + ``COMMIT`` with the same pragmas (WAL, synchronous=FULL).
- pages: ``page(Query(), offset=N/2, limit=100)`` and the same sorted by name, on both
  stores; floor: the same ``SELECT ... ORDER BY ... LIMIT ... OFFSET`` + ``orjson.loads`` of
  each row, or for JSON sorting and slicing the already-parsed dict. The JSON store keeps
  a query's order until its data changes, so its first page after a load (which sorts)
  and the next one ("again", which only slices) are shown apart, beside the same floor.

Nothing here asserts on time: it prints a table (ratio = ours / floor) and peak memory.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from tui.generate import fill_stores
from tui.models import DEFAULT_COLLECTION, ExampleItem
from tui.stores import JsonStore, Query, SqliteStore
from tui.transfer import apply, make_plan

TABLE = DEFAULT_COLLECTION
PAGE_LIMIT = 100
TARGETS = {"export": 1.5, "import": 1.5, "JSON add": 2.0}


@dataclass
class Figure:
    name: str
    ours: list[float]
    floor: list[float]

    @property
    def ours_ms(self) -> float:
        return statistics.median(self.ours) * 1000

    @property
    def floor_ms(self) -> float:
        return statistics.median(self.floor) * 1000

    @property
    def ratio(self) -> float:
        return self.ours_ms / self.floor_ms if self.floor_ms else float("inf")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def timed(work: Callable[[], Awaitable[Any]] | Callable[[], Any], collect: bool) -> float:
    if collect:
        # Before the big figures only: a full collection just before a 1 ms operation
        # leaves cold caches behind and slows it several times over.
        gc.collect()
    start = time.perf_counter()
    result = work()
    if asyncio.iscoroutine(result):
        await result
    return time.perf_counter() - start


def ignore_rep(work: Callable[[], Any]) -> Callable[[int], Any]:
    return lambda rep: work()


async def measure(
    name: str,
    ours: Callable[[int], Any],
    floor: Callable[[int], Any],
    reps: int,
    before: Callable[[int], Any] | None = None,
    collect: bool = False,
) -> Figure:
    """Run ours and the floor alternately ``reps`` times; ``before(rep)`` is untimed setup."""
    figure = Figure(name, [], [])
    for rep in range(reps):
        if before is not None:
            prepared = before(rep)
            if asyncio.iscoroutine(prepared):
                await prepared
        for side, work in (("ours", ours), ("floor", floor)):
            elapsed = await timed(functools.partial(work, rep), collect)
            (figure.ours if side == "ours" else figure.floor).append(elapsed)
    log(f"  {name}: ours {figure.ours_ms:.1f} ms, floor {figure.floor_ms:.1f} ms")
    return figure


# -- floors: raw sqlite3 + orjson doing the same work -------------------------------------


def raw_connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    return conn


def raw_atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".bench-tmp-", dir=path.parent)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def floor_export(db_path: Path, json_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    try:
        rows = conn.execute(f'SELECT id, data FROM "{TABLE}"').fetchall()
    finally:
        conn.close()
    data = {record_id: orjson.loads(text) for record_id, text in rows}
    raw_atomic_write(json_path, orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")


def floor_import(json_path: Path, db_path: Path) -> None:
    data = orjson.loads(json_path.read_bytes())
    conn = raw_connect(db_path)
    try:
        conn.execute(
            f'CREATE TABLE IF NOT EXISTS "{TABLE}" (id TEXT PRIMARY KEY NOT NULL,'
            " data TEXT NOT NULL, created_at TEXT, updated_at TEXT)"
        )
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            f'INSERT INTO "{TABLE}" (id, data, created_at, updated_at) VALUES (?, ?, ?, ?)',
            [
                (key, orjson.dumps(raw).decode(), raw.get("created_at"), raw.get("updated_at"))
                for key, raw in data.items()
            ],
        )
        conn.execute("COMMIT")
    finally:
        conn.close()


def floor_sqlite_page(conn: sqlite3.Connection, order: str, offset: int) -> list[Any]:
    rows = conn.execute(
        f'SELECT id, data, created_at, updated_at FROM "{TABLE}" ORDER BY {order} LIMIT ? OFFSET ?',
        (PAGE_LIMIT, offset),
    ).fetchall()
    return [orjson.loads(row[1]) for row in rows]


def floor_json_page(data: dict[str, Any], sort: str, offset: int) -> list[Any]:
    if sort == "id":
        keys = sorted(data)[offset : offset + PAGE_LIMIT]
        return [data[key] for key in keys]
    keys = sorted(data, key=lambda key: (data[key][sort], key))[offset : offset + PAGE_LIMIT]
    return [data[key] for key in keys]


# -- the benchmark -------------------------------------------------------------------------


_ID_PREFIX = {"json": "a1", "sql": "b2", "raw": "c3"}


def new_item(kind: str, rep: int) -> ExampleItem:
    return ExampleItem(
        id=f"{_ID_PREFIX[kind]}{rep:010x}",
        name=f"Benchmark {kind} {rep}",
        description="added by the benchmark",
        tags=["bench"],
    )


async def run(count: int, reps: int, small_reps: int, root: Path, seed: int) -> list[Figure]:
    src = root / "src"
    log(f"generating {count} records into {src} ...")
    start = time.perf_counter()
    await fill_stores(src, count, "sqlite", seed=seed)
    log(f"  SQLite filled in {time.perf_counter() - start:.2f} s")
    start = time.perf_counter()
    await fill_stores(src, count, "json", seed=seed)
    log(f"  JSON filled in {time.perf_counter() - start:.2f} s")
    src_db = src / "db" / "myapp.db"
    src_json = src / "json" / f"{TABLE}.json"
    sizes = (src_json.stat().st_size / 1e6, src_db.stat().st_size / 1e6)
    log("  JSON file {:.1f} MB, database {:.1f} MB".format(*sizes))
    figures: list[Figure] = []

    # (a) export: SQLite -> an empty JSON store
    def export_dirs(rep: int) -> None:
        for sub in ("export-ours", "export-floor"):
            shutil.rmtree(root / sub, ignore_errors=True)
            (root / sub / "json").mkdir(parents=True)

    async def export_ours(rep: int) -> None:
        async with (
            SqliteStore(src_db, TABLE, ExampleItem) as source,
            JsonStore.in_data_dir(root / "export-ours", TABLE, ExampleItem) as target,
        ):
            plan = await make_plan(source, target)
            await apply(plan, target)

    log("export ...")
    figures.append(
        await measure(
            "export",
            export_ours,
            lambda rep: floor_export(src_db, root / "export-floor" / "json" / f"{TABLE}.json"),
            reps,
            before=export_dirs,
            collect=True,
        )
    )
    exported = orjson.loads((root / "export-ours" / "json" / f"{TABLE}.json").read_bytes())
    assert len(exported) == count, "export wrote the wrong number of records"

    # (b) import: the JSON file -> an empty SQLite table
    def import_dirs(rep: int) -> None:
        for sub in ("import-ours", "import-floor"):
            shutil.rmtree(root / sub, ignore_errors=True)
            (root / sub / "db").mkdir(parents=True)

    async def import_ours(rep: int) -> None:
        async with (
            JsonStore(src_json, ExampleItem) as source,
            SqliteStore.in_data_dir(root / "import-ours", TABLE, ExampleItem) as target,
        ):
            plan = await make_plan(source, target)
            await apply(plan, target)

    log("import ...")
    figures.append(
        await measure(
            "import",
            import_ours,
            lambda rep: floor_import(src_json, root / "import-floor" / "db" / "myapp.db"),
            reps,
            before=import_dirs,
            collect=True,
        )
    )
    async with SqliteStore.in_data_dir(root / "import-ours", TABLE, ExampleItem) as check:
        assert await check.count() == count, "import wrote the wrong number of records"

    # Work on copies from here: the adds change the stores.
    work = root / "work"
    (work / "json").mkdir(parents=True)
    (work / "db").mkdir(parents=True)
    shutil.copyfile(src_json, work / "json" / f"{TABLE}.json")
    shutil.copyfile(src_db, work / "db" / "myapp.db")
    work_json = work / "json" / f"{TABLE}.json"
    floor_json = work / "json" / "floor.json"

    async with (
        JsonStore.in_data_dir(work, TABLE, ExampleItem) as js,
        SqliteStore.in_data_dir(work, TABLE, ExampleItem) as db,
    ):
        # (c) one JSON add
        async def json_add(rep: int) -> None:
            await js.upsert(new_item("json", rep))

        file_bytes = [b""]

        def read_json_file(rep: int) -> None:
            # The floor writes the bytes the store's file holds now (read untimed).
            file_bytes[0] = work_json.read_bytes()

        def json_add_floor(rep: int) -> None:
            raw_atomic_write(floor_json, file_bytes[0])

        log("JSON add ...")
        figures.append(
            await measure("JSON add", json_add, json_add_floor, small_reps, before=read_json_file)
        )

        # (d) one SQLite add
        conn = raw_connect(work / "db" / "myapp.db")

        async def sqlite_add(rep: int) -> None:
            await db.upsert(new_item("sql", rep))

        def sqlite_add_floor(rep: int) -> None:
            raw = new_item("raw", rep).to_raw()
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                f'INSERT INTO "{TABLE}" (id, data, created_at, updated_at) VALUES (?, ?, ?, ?)',
                (raw["id"], orjson.dumps(raw).decode(), raw["created_at"], raw["updated_at"]),
            )
            conn.execute("COMMIT")

        log("SQLite add ...")
        figures.append(await measure("SQLite add", sqlite_add, sqlite_add_floor, small_reps))

        # (e) listing a page in the middle, by id and by name, on both stores
        offset = min(50_000, count // 2)
        parsed = orjson.loads(work_json.read_bytes())
        log("pages ...")
        for sort in ("id", "name"):
            query = Query(sort=sort)
            order = "id" if sort == "id" else f"json_extract(data, '$.{sort}'), id"
            store_page = functools.partial(db.page, query, offset=offset, limit=PAGE_LIMIT)
            figures.append(
                await measure(
                    f"SQLite page by {sort}",
                    ignore_rep(store_page),
                    ignore_rep(functools.partial(floor_sqlite_page, conn, order, offset)),
                    small_reps,
                )
            )
            # The JSON store keeps a query's order until its data changes: the first page
            # after a load sorts, the next ones only slice.
            json_page = ignore_rep(
                functools.partial(js.page, query, offset=offset, limit=PAGE_LIMIT)
            )
            json_floor = ignore_rep(functools.partial(floor_json_page, parsed, sort, offset))
            figures.append(
                await measure(
                    f"JSON page by {sort}",
                    json_page,
                    json_floor,
                    min(small_reps, 5),
                    before=ignore_rep(js.reload),
                )
            )
            figures.append(
                await measure(f"JSON page by {sort}, again", json_page, json_floor, small_reps)
            )
        conn.close()
    return figures


def print_table(figures: list[Figure], count: int, reps: int, small_reps: int) -> None:
    header = f"{'figure':<24} {'ours (ms)':>10} {'floor (ms)':>11} {'ratio':>7} {'target':>7}  ok"
    print(header)
    print("-" * len(header))
    for fig in figures:
        target = TARGETS.get(fig.name)
        if target is None:
            target_text, verdict = "-", "-"
        else:
            target_text = f"<={target:g}x"
            verdict = "OK" if fig.ratio <= target else "MISS"
        print(
            f"{fig.name:<24} {fig.ours_ms:>10.1f} {fig.floor_ms:>11.1f} {fig.ratio:>6.2f}x"
            f" {target_text:>7}  {verdict}"
        )
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print()
    print(f"N = {count} records; median of {reps} runs (export/import), {small_reps} (others).")
    print(f"peak RSS: {peak_kb / 1024:.0f} MB")
    print(
        f"machine: {platform.python_implementation()} {platform.python_version()},"
        f" SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs, load average {load}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="records (default 100000)")
    parser.add_argument("--reps", type=int, default=5, help="runs of export/import (default 5)")
    parser.add_argument("--small-reps", type=int, default=11, help="runs of the others")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dir", type=Path, default=None, help="where the temp folder goes")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args(argv)
    if args.count < 2:
        parser.error("--count must be at least 2")
    root = Path(tempfile.mkdtemp(prefix="tui-bench-", dir=args.dir))
    try:
        figures = asyncio.run(run(args.count, args.reps, args.small_reps, root, args.seed))
    finally:
        if args.keep:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print_table(figures, args.count, args.reps, args.small_reps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
