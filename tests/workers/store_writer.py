"""A store writer run as its own process by the concurrency and crash tests.

    python tests/workers/store_writer.py --backend json|sqlite --data-dir D --count N \
        --prefix P [--slow] [--wait] [--mode upsert|transfer|export|import|put|mix]
        [--batch B] [--ids A,B] [--stop-file F] [--shared S] [--seed X]

It prints ``ready`` once it has imported everything and (with ``--wait``) waits for one
line on stdin; then it opens the store (collection ``example_items`` under ``D``), prints
``opened``, and writes. So a test can release several writers into opening and writing
together, or time a kill from the moment writing starts.

Modes, each write its own read-modify-write (JSON) or transaction (SQLite):

* ``upsert`` (default): N upserts of new ``ExampleItem`` records with ids ``P-0`` ..
  ``P-(N-1)``, one per call; after each returns the id is printed.
* ``transfer`` (JSON only): N rounds of ``tui.transfer`` Import into the JSON store. Round
  j rewrites a source JSON store (``D/source``) holding B records ``x-0`` .. ``x-(B-1)``
  with the unknown field ``generation = "P-j"``, makes a plan against the target and
  applies it (one atomic write of all B records); after the apply returns, ``P-j`` is
  printed. The ids are the same in every round, so the target does not grow.
* ``export`` / ``import``: the same rounds as ``transfer``, between the data folder's own
  two stores, as ``python -m tui export`` / ``import`` do: ``export`` copies the SQLite
  store into the JSON store (``--backend json``, the target), ``import`` the JSON store
  into the SQLite store (``--backend sqlite``). Round j first writes generation ``P-j``
  into the source store (one ``put_raw_many``), then plans and applies. ``--ids`` adds
  more ids to the B records. A plan whose target moved on before its apply
  (``TargetChanged``: another writer) is made again. With ``--stop-file F`` the rounds
  go on (N at most) until F exists.
* ``put``: N calls of ``put_raw_many`` with B raw records ``P-j-0`` .. ``P-j-(B-1)``
  each; after each returns, ``P-j`` is printed.
* ``mix``: N operations chosen by ``random.Random(--seed)``: adds of new ids ``P-n``,
  edits and deletes of the ids it added, and edits (upserts) and deletes of the shared
  ids ``s-0`` .. ``s-(S-1)`` (``--shared S``; ``s-k`` chosen with weight ``2**-k``, so
  some are changed often and some seldom) that other writers change too. Operation i
  gives the record it writes the description ``P#i``; after it returns, ``set ID P#i``
  or ``del ID`` is printed.

Every acknowledgement is one line, flushed, written only after the write returned; a
line printed before a kill is therefore a promise that the write is on disk. The last
line is ``done STARTED FINISHED``: the wall-clock times (``time.time()``) at which the
writer was released (just before opening the store) and at which its last write
returned, to show that writers overlapped.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path
from typing import Any

# Run as a script from a checkout: make ``tui`` importable without installing it.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tui.models import ExampleItem, format_timestamp, utcnow
from tui.stores import JsonStore, SqliteStore

COLLECTION = "example_items"


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def record_name(record_id: str) -> str:
    """The name every writer gives a record, so a test can check what it finds."""
    return f"name of {record_id}"


def raw_record(record_id: str, **extra: Any) -> dict[str, Any]:
    now = format_timestamp(utcnow())
    return {
        "id": record_id,
        "schema_version": 1,
        "created_at": now,
        "updated_at": now,
        "name": record_name(record_id),
        "description": "written by store_writer",
        "tags": ["worker"],
        **extra,
    }


def open_store(backend: str, data_dir: Path) -> Any:
    if backend == "json":
        return JsonStore.in_data_dir(data_dir, COLLECTION, ExampleItem)
    return SqliteStore.in_data_dir(data_dir, COLLECTION, ExampleItem)


async def pause(slow: bool) -> None:
    if slow:
        await asyncio.sleep(0.005)


async def run_upserts(store: Any, args: argparse.Namespace) -> None:
    for i in range(args.count):
        record_id = f"{args.prefix}-{i}"
        record = ExampleItem(
            id=record_id,
            name=record_name(record_id),
            description="written by store_writer",
            tags=["worker", args.prefix],
        )
        await store.upsert(record)
        say(record_id)
        await pause(args.slow)


async def run_puts(store: Any, args: argparse.Namespace) -> None:
    for j in range(args.count):
        batch = f"{args.prefix}-{j}"
        raws = [raw_record(f"{batch}-{i}", batch=batch) for i in range(args.batch)]
        await store.put_raw_many(raws)
        say(batch)
        await pause(args.slow)


async def run_transfers(store: Any, args: argparse.Namespace) -> None:
    from tui import transfer

    source = JsonStore.in_data_dir(args.data_dir / "source", COLLECTION, ExampleItem)
    async with source:
        for j in range(args.count):
            generation = f"{args.prefix}-{j}"
            raws = [raw_record(f"x-{i}", generation=generation) for i in range(args.batch)]
            await source.put_raw_many(raws)
            plan = await transfer.make_plan(source, store)
            result = await transfer.apply(plan, store)
            if result.written != args.batch:
                raise SystemExit(f"{generation}: wrote {result.written}, not {args.batch}")
            say(generation)
            await pause(args.slow)


def transfer_ids(args: argparse.Namespace) -> list[str]:
    extra = [i for i in args.ids.split(",") if i] if args.ids else []
    return [f"x-{i}" for i in range(args.batch)] + extra


async def run_store_transfers(store: Any, args: argparse.Namespace) -> None:
    """``export`` (SQLite -> JSON) or ``import`` (JSON -> SQLite) in rounds."""
    from tui import transfer

    source_backend = "sqlite" if args.mode == "export" else "json"
    source = open_store(source_backend, args.data_dir)
    ids = transfer_ids(args)
    retries = 0
    async with source:
        for j in range(args.count):
            # At least one round, even when the writers finished before this process
            # got going (a loaded machine): a test of nothing would prove nothing.
            if j > 0 and args.stop_file is not None and args.stop_file.exists():
                break
            generation = f"{args.prefix}-{j}"
            await source.put_raw_many([raw_record(i, generation=generation) for i in ids])
            while True:
                plan = await transfer.make_plan(source, store)
                try:
                    result = await transfer.apply(plan, store)
                except transfer.TargetChanged:
                    retries += 1
                    continue
                break
            if result.written != len(ids):
                raise SystemExit(f"{generation}: wrote {result.written}, not {len(ids)}")
            say(f"{generation} {time.time():.6f}")
            await pause(args.slow)
    say(f"retries {retries}")


async def run_mix(store: Any, args: argparse.Namespace) -> None:
    rng = random.Random(f"{args.seed}-{args.prefix}")
    shared = [f"s-{i}" for i in range(args.shared)]
    weights = [2.0**-i for i in range(args.shared)]  # s-0 often, each next one half as often
    live: list[str] = []  # ids this writer added and has not deleted
    added = 0
    for i in range(args.count):
        token = f"{args.prefix}#{i}"
        roll = rng.random()
        if shared and roll < 0.4:
            record_id = rng.choices(shared, weights)[0]
            delete = rng.random() < 0.3
        elif not live or roll < 0.65:
            record_id = f"{args.prefix}-{added}"
            added += 1
            live.append(record_id)
            delete = False
        else:
            record_id = rng.choice(live)
            delete = roll >= 0.85
            if delete:
                live.remove(record_id)
        if delete:
            await store.delete(record_id)
            say(f"del {record_id}")
        else:
            record = ExampleItem(
                id=record_id, name=record_name(record_id), description=token, tags=[args.prefix]
            )
            await store.upsert(record)
            say(f"set {record_id} {token}")
        await pause(args.slow)


async def main(args: argparse.Namespace) -> None:
    say("ready")
    if args.wait and not sys.stdin.readline():
        raise SystemExit("stdin closed before the go line")
    started = time.time()
    store = open_store(args.backend, args.data_dir)
    async with store:
        say("opened")
        if args.mode == "upsert":
            await run_upserts(store, args)
        elif args.mode == "put":
            await run_puts(store, args)
        elif args.mode in ("export", "import"):
            await run_store_transfers(store, args)
        elif args.mode == "mix":
            await run_mix(store, args)
        else:
            await run_transfers(store, args)
        finished = time.time()
    say(f"done {started:.6f} {finished:.6f}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("json", "sqlite"), required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--slow", action="store_true", help="sleep 5 ms after each write")
    parser.add_argument("--wait", action="store_true", help="wait for a stdin line to open")
    parser.add_argument(
        "--mode",
        choices=("upsert", "transfer", "export", "import", "put", "mix"),
        default="upsert",
    )
    parser.add_argument("--batch", type=int, default=1000, help="records per import/transfer")
    parser.add_argument("--ids", default="", help="more ids for export/import, comma-separated")
    parser.add_argument("--stop-file", type=Path, help="export/import: stop once it exists")
    parser.add_argument("--shared", type=int, default=0, help="mix: shared ids s-0 ..")
    parser.add_argument("--seed", default="0", help="mix: seed of the operations")
    args = parser.parse_args(argv)
    if args.mode == "transfer" and args.backend != "json":
        parser.error("--mode transfer writes into the JSON store: use --backend json")
    if args.mode == "export" and args.backend != "json":
        parser.error("--mode export writes into the JSON store: use --backend json")
    if args.mode == "import" and args.backend != "sqlite":
        parser.error("--mode import writes into the SQLite store: use --backend sqlite")
    return args


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
