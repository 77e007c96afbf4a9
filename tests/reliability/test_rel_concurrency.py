"""Concurrent writers (issue 5, item 3): 4 processes x 250 operations on one store, with a
transfer into that store running at the same time, lose nothing.

Four writer processes (tests/workers/store_writer.py, ``--mode mix``) are released
together into one data folder and each does 250 operations chosen by its own seeded
random stream: adds of new ids it owns, edits and deletes of those, and edits (upserts)
and deletes of ten shared ids that every writer changes. Each operation gives the record
it writes a description naming the writer and the operation (``w2#17``), and is printed
after the store returned: the acknowledged operations. Meanwhile a fifth process
transfers into the same store, round after round, as ``python -m tui export`` (SQLite ->
JSON, for the JSON store) or ``import`` (JSON -> SQLite) do: ten records of its own
(``x-*``) and five of the shared ids, each round with a new ``generation``. It stops
after the round in which the first writer got half way, so its last round falls among
the writers' operations, and the writers change some shared ids after it (they win) and
leave others alone (it wins).

The model of what the store must hold at the end:

* an id a writer owns: what that writer's last operation on it left (its description,
  or nothing after a delete): one process, so its order is known;
* a shared id: the result of the last operation on it of *some* writer (any of them may
  have been the last), or, for the five shared ids the transfer writes, the transfer's
  last generation; an untouched id keeps its seed;
* the transfer's own ids: all of them, of its last acknowledged generation;
* a record nobody writes (with unknown fields): unchanged; no other id.

A transfer applies all its records at one moment, so the two orders must agree: for each
writer, the shared ids on which the transfer won need all of that writer's operations on
them *before* that moment, the ids on which one of its operations won need that
operation *after* it; the test checks that such a moment exists in every writer's
sequence.

The long run (``TUI_RELIABILITY=long``) repeats it 10 times per store, each with its own
seed (``TUI_CRASH_SEED`` sets the base).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.budget import LONG, Figures, amount
from tests.worker_io import read_line
from tui.models import ExampleItem
from tui.stores import JsonStore, SqliteStore

WORKER = Path(__file__).parents[1] / "workers" / "store_writer.py"
COLLECTION = "example_items"
WRITERS = 4
OPERATIONS = 250
SHARED = [f"s-{i}" for i in range(10)]
# Shared ids are chosen with weight 2**-k: the transfer writes hot and cold ones.
TRANSFER_SHARED = ["s-0", "s-3", "s-5", "s-7", "s-9"]
TRANSFER_OWN = 10  # x-0 .. x-9
TRANSFER_IDS = [f"x-{i}" for i in range(TRANSFER_OWN)] + TRANSFER_SHARED
SEED = os.environ.get("TUI_CRASH_SEED", "20261129")
TIMEOUT = 120.0
UNTOUCHED = {
    "id": "untouched",
    "name": "Grüße",
    "description": "nobody writes this",
    "tags": ["a"],
    "extra": {"nested": [1, 2.5, None, True], "big": 12345678901234567890},
}
COMMAND = (
    f"{'TUI_RELIABILITY=long ' if LONG else ''}"
    ".venv/bin/pytest tests/reliability/test_rel_concurrency.py"
)
RUNS = amount(1, 10)  # per store, each with its own seed

Value = str | None  # a record's description (or "gen:G" for a transfer's), None if absent


def spawn(args: list[str], prefix: str, log: Path) -> subprocess.Popen[bytes]:
    with open(log / f"{prefix}.stderr", "wb") as err:
        return subprocess.Popen(
            [sys.executable, str(WORKER), *args, "--prefix", prefix, "--wait"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            bufsize=0,
        )


@dataclass
class Output:
    prefix: str
    lines: list[str]  # after "opened", without the "done" line
    started: float
    finished: float


def finish(prefix: str, proc: subprocess.Popen[bytes], log: Path, stop: Path | None) -> Output:
    """Read the worker's lines until it exits; touch ``stop`` once it is half way."""
    assert proc.stdout is not None
    reader = io.BufferedReader(proc.stdout)  # "ready" was read unbuffered: nothing is lost
    lines = []
    while line := reader.readline():
        lines.append(line.decode().rstrip("\n"))
        if stop is not None and len(lines) == 1 + OPERATIONS // 2:
            stop.touch()
    proc.wait(TIMEOUT)
    err = (log / f"{prefix}.stderr").read_text(errors="replace")
    assert proc.returncode == 0, f"worker {prefix} failed ({proc.returncode}):\n{err}"
    assert lines[0] == "opened", lines[:1]
    done = lines[-1].split()
    assert done[0] == "done", f"worker {prefix} did not finish: {lines[-3:]}"
    return Output(prefix, lines[1:-1], float(done[1]), float(done[2]))


@contextmanager
def killed_at_exit(procs: list[subprocess.Popen[bytes]]) -> Iterator[None]:
    try:
        yield
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()


def run_all(backend: str, data_dir: Path, tmp: Path, seed: str) -> tuple[list[Output], Output]:
    """Release the writers and the transfer together; stop the transfer once the first
    writer is half way; return the writers' outputs and the transfer's."""
    log = tmp / "logs"
    log.mkdir()
    stop = tmp / "stop"
    common = ["--backend", backend, "--data-dir", str(data_dir)]
    writers = [f"w{n}" for n in range(WRITERS)]
    mix = [*common, "--mode", "mix", "--count", str(OPERATIONS)]
    mix += ["--shared", str(len(SHARED)), "--seed", seed]
    procs = {prefix: spawn(mix, prefix, log) for prefix in writers}
    mode = "export" if backend == "json" else "import"
    transfer = [*common, "--mode", mode, "--count", "100000", "--batch", str(TRANSFER_OWN)]
    transfer += ["--ids", ",".join(TRANSFER_SHARED), "--stop-file", str(stop)]
    procs["t"] = spawn(transfer, "t", log)
    with killed_at_exit(list(procs.values())), ThreadPoolExecutor(len(procs)) as pool:
        for proc in procs.values():
            assert read_line(proc, TIMEOUT) == "ready"
        for proc in procs.values():  # each is blocked on stdin: this releases them together
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
        futures = {
            prefix: pool.submit(finish, prefix, proc, log, None if prefix == "t" else stop)
            for prefix, proc in procs.items()
        }
        wait(futures.values(), timeout=TIMEOUT)
        return [futures[p].result() for p in writers], futures["t"].result()


# -- the model -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    writer: str
    index: int
    record_id: str
    value: Value


def parse_ops(output: Output) -> list[Op]:
    ops = []
    for index, line in enumerate(output.lines):
        kind, record_id, *token = line.split()
        if kind == "set":
            assert token == [f"{output.prefix}#{index}"], line
            ops.append(Op(output.prefix, index, record_id, token[0]))
        else:
            assert (kind, token) == ("del", []), line
            ops.append(Op(output.prefix, index, record_id, None))
    assert len(ops) == OPERATIONS, f"{output.prefix} acknowledged {len(ops)} operations"
    return ops


def value_of(raw: Any) -> Value:
    assert isinstance(raw, dict), raw
    ExampleItem.model_validate(raw)
    assert raw["name"] == f"name of {raw['id']}", raw
    if "generation" in raw:
        return f"gen:{raw['generation']}"
    description = raw["description"]
    assert isinstance(description, str)
    return description


@dataclass
class Verdict:
    mismatches: dict[str, str]  # id -> what is wrong
    kept_ops: int  # acknowledged operations on ids that hold what the model says
    transfer_won: int  # shared ids on which the transfer was last
    writer_won: int


def check_model(
    final: dict[str, Any], outputs: list[Output], transfer: Output, seeded: set[str]
) -> Verdict:
    ops = {o.prefix: parse_ops(o) for o in outputs}
    generations = [line.split()[0] for line in transfer.lines if not line.startswith("retries")]
    assert generations, "the transfer never applied a round"
    last_gen = f"gen:{generations[-1]}"
    mismatches: dict[str, str] = {}
    final_values = {
        record_id: value_of(raw) for record_id, raw in final.items() if record_id != "untouched"
    }

    # Every writer's last operation on every id it touched.
    last: dict[str, dict[str, Op]] = {}
    for writer_ops in ops.values():
        for op in writer_ops:
            last.setdefault(op.record_id, {})[op.writer] = op
    ids = set(last) | set(seeded) | set(TRANSFER_IDS) | set(final_values)
    ops_on: dict[str, int] = {i: 0 for i in ids}
    for writer_ops in ops.values():
        for op in writer_ops:
            ops_on[op.record_id] += 1

    lower = {w: 0 for w in ops}  # the transfer's last moment: after op lower-1 ...
    upper = {w: OPERATIONS for w in ops}  # ... and not after op upper
    any_after: dict[str, list[Op]] = {}  # one of these deletes came after the transfer
    transfer_won = writer_won = 0
    for record_id in sorted(ids):
        got = final_values.get(record_id)
        if record_id.startswith("x-"):
            allowed: set[Value] = {last_gen}
        elif record_id in SHARED:
            allowed = {op.value for op in last.get(record_id, {}).values()}
            if record_id in TRANSFER_SHARED:
                allowed.add(last_gen)
            elif not last.get(record_id):
                allowed.add("seed")
        elif record_id in last:
            (op,) = last[record_id].values()  # owned: one writer
            allowed = {op.value}
        else:
            allowed = set()
        if got not in allowed:
            mismatches[record_id] = f"holds {got!r}, the model allows {sorted(map(str, allowed))}"
            continue
        if record_id in TRANSFER_SHARED:
            if got == last_gen:
                transfer_won += 1
                for writer, op in last.get(record_id, {}).items():
                    lower[writer] = max(lower[writer], op.index + 1)
            else:
                writer_won += 1
                winners = [op for op in last[record_id].values() if op.value == got]
                if len(winners) == 1:
                    upper[winners[0].writer] = min(upper[winners[0].writer], winners[0].index)
                else:
                    # Several writers' last operation deleted it: the final state cannot
                    # tell whose delete came last, only that one of them followed the
                    # transfer.
                    any_after[record_id] = winners
    for writer in ops:
        if lower[writer] > upper[writer]:
            mismatches[f"order of {writer}"] = (
                f"the transfer's last round must come after {writer}#{lower[writer] - 1} and "
                f"before {writer}#{upper[writer]}: no such moment"
            )
    for record_id, winners in any_after.items():
        if not any(op.index >= lower[op.writer] for op in winners):
            names = ", ".join(f"{op.writer}#{op.index}" for op in winners)
            mismatches[f"order on {record_id}"] = (
                f"one of the deletes {names} must come after the transfer's last round: none can"
            )
    kept = sum(n for record_id, n in ops_on.items() if record_id not in mismatches)
    return Verdict(mismatches, kept, transfer_won, writer_won)


# -- the stores ------------------------------------------------------------------------------


def store_of(backend: str, data_dir: Path) -> Any:
    """The store under test (not opened)."""
    if backend == "json":
        return JsonStore.in_data_dir(data_dir, COLLECTION, ExampleItem)
    return SqliteStore.in_data_dir(data_dir, COLLECTION, ExampleItem)


async def seed_store(backend: str, data_dir: Path) -> None:
    raws = [UNTOUCHED] + [
        {"id": s, "name": f"name of {s}", "description": "seed", "tags": []} for s in SHARED
    ]
    async with store_of(backend, data_dir) as store:
        await store.put_raw_many(raws)


def read_final(backend: str, data_dir: Path) -> dict[str, Any]:
    """The store as it is on disk, read without the code under test."""
    if backend == "json":
        folder = data_dir / "json"
        left = [p.name for p in folder.iterdir() if p.name.startswith(".tui-tmp-")]
        assert not left, f"temp files left: {left}"
        data = json.loads((folder / f"{COLLECTION}.json").read_bytes())
        assert isinstance(data, dict)
        return data
    db = sqlite3.connect(data_dir / "db" / "myapp.db")
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = db.execute(f"SELECT id, data FROM {COLLECTION}").fetchall()
    finally:
        db.close()
    return {record_id: json.loads(text) for record_id, text in rows}


async def reopen_count(backend: str, data_dir: Path) -> int:
    async with store_of(backend, data_dir) as store:
        return int(await store.count())


def check_overlap(outputs: list[Output], transfer: Output) -> None:
    """No writer ran alone, and the transfer ran while writers did."""
    runs = [*outputs, transfer]
    summary = [(r.prefix, r.started, r.finished) for r in runs]
    for r in runs:
        others = [o for o in outputs if o is not r]
        assert any(o.started < r.finished and r.started < o.finished for o in others), (
            f"{r.prefix} ran alone: {summary}"
        )


@pytest.mark.parametrize("run", range(RUNS))
@pytest.mark.parametrize("backend", ["json", "sqlite"])
def test_four_writers_and_a_transfer_lose_nothing(
    tmp_path: Path, backend: str, run: int, figures: Figures
) -> None:
    data_dir = tmp_path / "data"
    asyncio.run(seed_store(backend, data_dir))
    started = time.monotonic()
    outputs, transfer = run_all(backend, data_dir, tmp_path, f"{SEED}-{run}")
    elapsed = time.monotonic() - started
    final = read_final(backend, data_dir)
    verdict = check_model(final, outputs, transfer, set(SHARED))
    rounds = [line for line in transfer.lines if not line.startswith("retries")]
    retries = transfer.lines[-1]
    tried = WRITERS * OPERATIONS + len(rounds)
    kept = verdict.kept_ops + (len(rounds) if not verdict.mismatches else 0)
    what = "export" if backend == "json" else "import"
    figures.add(f"concurrent ops: {backend} store, 4 writers + {what}", tried, kept, COMMAND)
    print(
        f"{backend}: {tried} operations ({len(rounds)} {what} rounds, {retries}), "
        f"{len(final)} records at the end; on the shared ids the {what} won "
        f"{verdict.transfer_won}x, a writer {verdict.writer_won}x; {elapsed:.1f}s"
    )
    assert not verdict.mismatches, verdict.mismatches
    assert final.get("untouched") == UNTOUCHED, "a record nobody wrote changed"
    check_overlap(outputs, transfer)
    assert asyncio.run(reopen_count(backend, data_dir)) == len(final)


def synthetic(ops: dict[str, list[str]], generations: int = 1) -> tuple[list[Output], Output]:
    outputs = [Output(w, lines, 0.0, 1.0) for w, lines in ops.items()]
    rounds = [f"t-{j} 0.5" for j in range(generations)]
    return outputs, Output("t", [*rounds, "retries 0"], 0.0, 1.0)


def record(record_id: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"id": record_id, "name": f"name of {record_id}", "description": description, **extra}


def test_the_model_rejects_lost_and_misordered_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checker itself: a store that lost an update, brought back a deleted record, kept
    an older value of a shared id, or shows the transfer both before and after one
    operation is caught."""
    monkeypatch.setattr(sys.modules[__name__], "OPERATIONS", 4)
    ops = {
        "w0": ["set w0-0 w0#0", "set s-0 w0#1", "set s-3 w0#2", "set w0-0 w0#3"],
        "w1": ["del s-3", "set s-0 w1#1", "set w1-0 w1#2", "del w1-0"],
    }
    outputs, transfer = synthetic(ops, generations=2)
    gen = {"generation": "t-1"}
    good = {
        "w0-0": record("w0-0", "w0#3"),
        "s-0": record("s-0", "w1#1"),
        "s-3": record("s-3", "x", **gen),
        **{f"x-{i}": record(f"x-{i}", "x", **gen) for i in range(TRANSFER_OWN)},
        **{s: record(s, "seed") for s in SHARED if s not in ("s-0", "s-3")},
    }
    for s in ("s-5", "s-7", "s-9"):
        good[s] = record(s, "x", **gen)
    assert check_model(good, outputs, transfer, set(SHARED)).mismatches == {}
    # Either writer may have been the last on s-0 (w0, with its s-3 write after the transfer)
    either = {**good, "s-0": record("s-0", "w0#1"), "s-3": record("s-3", "w0#2")}
    assert check_model(either, outputs, transfer, set(SHARED)).mismatches == {}

    def bad(**changes: Any) -> set[str]:
        final = {**good, **changes}
        for record_id, value in changes.items():
            if value is None:
                del final[record_id]
        return set(check_model(final, outputs, transfer, set(SHARED)).mismatches)

    assert bad(**{"w0-0": record("w0-0", "w0#0")}) == {"w0-0"}  # an older edit
    assert bad(**{"w0-0": None}) == {"w0-0"}  # a lost add
    assert bad(**{"w1-0": record("w1-0", "w1#2")}) == {"w1-0"}  # a delete undone
    assert bad(**{"s-1": None}) == {"s-1"}  # an untouched record lost
    assert bad(**{"x-3": record("x-3", "x", generation="t-0")}) == {"x-3"}  # half a transfer
    assert bad(**{"s-0": record("s-0", "x", **gen)}) == set()  # the transfer was last on s-0
    # w0's s-3 write (op 2) after the transfer, its s-0 write (op 1) before: fine ...
    assert bad(**{"s-3": record("s-3", "w0#2"), "s-0": record("s-0", "x", **gen)}) == set()
    # ... but not the transfer after w0's op 2 on s-3 and before its op 1 on s-0.
    ops["w0"] = ["set w0-0 w0#0", "set s-3 w0#1", "set s-0 w0#2", "set w0-0 w0#3"]
    outputs, transfer = synthetic(ops, generations=2)
    final = {**good, "s-3": record("s-3", "w0#1"), "s-0": record("s-0", "x", **gen)}
    assert set(check_model(final, outputs, transfer, set(SHARED)).mismatches) == {"order of w0"}


def test_the_model_allows_any_of_several_deletes_to_be_last(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two writers whose last operation on a shared id deleted it: the final state cannot
    say whose delete was last, so one of them after the transfer is enough (the checker
    once blamed the first writer it met, a false "no such moment")."""
    monkeypatch.setattr(sys.modules[__name__], "OPERATIONS", 3)
    ops = {
        "w0": ["del s-3", "set s-0 w0#1", "set w0-0 w0#2"],
        "w1": ["set w1-0 w1#0", "del s-3", "set w1-1 w1#2"],
    }
    outputs, transfer = synthetic(ops, generations=1)
    gen = {"generation": "t-0"}
    final = {
        "w0-0": record("w0-0", "w0#2"),
        "w1-0": record("w1-0", "w1#0"),
        "w1-1": record("w1-1", "w1#2"),
        "s-0": record("s-0", "x", **gen),  # the transfer came after w0's delete of s-3 ...
        **{f"x-{i}": record(f"x-{i}", "x", **gen) for i in range(TRANSFER_OWN)},
        **{s: record(s, "seed") for s in SHARED if s not in ("s-0", "s-3")},
    }
    for s in ("s-5", "s-7", "s-9"):
        final[s] = record(s, "x", **gen)
    # ... and s-3 is gone: w1's delete came after the transfer. Consistent.
    assert check_model(final, outputs, transfer, set(SHARED)).mismatches == {}
    # If the transfer also came after w1's delete (it won on s-5, which w1 wrote after),
    # neither delete can have followed it: s-3 should hold the transfer's record.
    ops["w1"] = ["set w1-0 w1#0", "del s-3", "set s-5 w1#2"]
    outputs, transfer = synthetic(ops, generations=1)
    final.pop("w1-1")
    assert set(check_model(final, outputs, transfer, set(SHARED)).mismatches) == {"order on s-3"}
