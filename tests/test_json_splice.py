"""Edits and deletes in a JSON store splice the file instead of serializing it all again.

Whatever path a write takes, the file must end up exactly as a full write would make it:
a record edited keeps its place, a record removed takes its comma with it, new records
go at the end, and anything that does not match the file exactly is written whole.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.records import json_values as json_values_up_to
from tui.generate import generate_raw_records
from tui.models import ExampleItem
from tui.stores import JsonStore, jsoncodec, jsonio
from tui.stores import json_store as json_store_module

json_values = json_values_up_to(10)
# Keys with escapes, quotes, control characters, unicode, and look-alikes of the layout.
tricky_text = st.text(max_size=6) | st.sampled_from(
    ['"', "\\", "\n  ", '": ', "\n  }", "{}", ",", "東京", "\x00", "\u2028", "a", "a\n"]
)
records = st.dictionaries(tricky_text, json_values, max_size=4)
stores = st.dictionaries(tricky_text, records, min_size=1, max_size=6)

# One operation on the store's dict: ("edit", n, value) edits the n-th key (mod len),
# ("delete", n) removes it, ("add", key, value) sets a key (an edit if it exists), and
# ("move", n) removes a key and puts it back at the end.
operations = st.one_of(
    st.tuples(st.just("edit"), st.integers(0, 50), records),
    st.tuples(st.just("delete"), st.integers(0, 50)),
    st.tuples(st.just("add"), tricky_text, records),
    st.tuples(st.just("move"), st.integers(0, 50)),
)


def apply(data: dict[str, Any], op: tuple[Any, ...]) -> None:
    kind = op[0]
    if kind == "add":
        data[op[1]] = op[2]
        return
    if not data:
        return
    key = list(data)[op[1] % len(data)]
    if kind == "edit":
        data[key] = op[2]
    elif kind == "delete":
        del data[key]
    else:
        data[key] = data.pop(key)


@contextlib.contextmanager
def store_with(initial: dict[str, Any]) -> Iterator[JsonStore[ExampleItem]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "store.json"
        path.write_bytes(jsoncodec.serialize(initial))
        os.chmod(path, 0o640)
        store = JsonStore(path, ExampleItem)
        store._open_sync()
        assert store.load_error is None and store._file_is_serialized
        yield store


@contextlib.contextmanager
def counting_full_writes() -> Iterator[list[int]]:
    """Counts the whole-file writes the store makes (a splice writes by other means)."""
    calls: list[int] = []
    real_write, real_layout = jsonio.atomic_write, jsonio.atomic_write_layout

    def counted_write(path: Path, data: bytes) -> None:
        calls.append(len(data))
        real_write(path, data)

    def counted_layout(path: Path, data: dict[str, Any], *args: Any, **kwargs: Any) -> bool:
        calls.append(len(data))
        return real_layout(path, data, *args, **kwargs)

    jsonio.atomic_write = counted_write
    jsonio.atomic_write_layout = counted_layout
    try:
        yield calls
    finally:
        jsonio.atomic_write = real_write
        jsonio.atomic_write_layout = real_layout


@contextlib.contextmanager
def search_sizes(window: int, chunk: int) -> Iterator[None]:
    saved = jsonio._NEAR, jsonio._WINDOW, jsonio._SCAN_CHUNK
    jsonio._NEAR, jsonio._WINDOW, jsonio._SCAN_CHUNK = min(window, jsonio._NEAR), window, chunk
    try:
        yield
    finally:
        jsonio._NEAR, jsonio._WINDOW, jsonio._SCAN_CHUNK = saved


def check_file(store: JsonStore[ExampleItem], expected: dict[str, Any]) -> None:
    assert dict(store.raw_items()) == expected
    assert [key for key, _ in store.raw_items()] == list(expected)
    on_disk = store.path.read_bytes()
    assert on_disk == jsoncodec.serialize(expected)
    assert os.stat(store.path).st_mode & 0o777 == 0o640
    leftovers = [p for p in store.path.parent.iterdir() if p.name.startswith(jsonio.TEMP_PREFIX)]
    assert not leftovers


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    initial=stores,
    batches=st.lists(st.lists(operations, min_size=1, max_size=4), min_size=1, max_size=4),
    sizes=st.sampled_from([(1 << 18, 1 << 24), (1, 1), (3, 7), (40, 64)]),
    hinted=st.booleans(),
)
def test_a_spliced_file_is_byte_for_byte_a_full_write(
    initial: dict[str, Any],
    batches: list[list[tuple[Any, ...]]],
    sizes: tuple[int, int],
    hinted: bool,
) -> None:
    """Random edits, deletes, adds and moves, in batches of one write each; with
    ``hinted`` the store is told which keys the write touches (as upsert and delete do),
    and then records are only assigned or removed, never moved."""
    with store_with(initial) as store, search_sizes(*sizes), counting_full_writes() as full:
        expected = dict(initial)
        for batch in batches:
            if hinted:
                batch = [op for op in batch if op[0] != "move"]
            before = dict(expected)
            touched = []
            for op in batch:
                if op[0] == "add":
                    touched.append(op[1])
                elif expected:
                    touched.append(list(expected)[op[1] % len(expected)])
                apply(expected, op)

            def change(data: dict[str, Any], batch: list[tuple[Any, ...]] = batch) -> None:
                for op in batch:
                    apply(data, op)

            writes = len(full)
            store._mutate_sync(change, None, touched=touched if hinted else None)
            check_file(store, expected)
            # The whole file is serialized only when a record moved (removed and put
            # back, so it goes to the end) or no record of the old file is left.
            kept = [k for k in before if k in expected]
            moved = kept != list(expected)[: len(kept)]
            if not moved and kept:
                assert len(full) == writes, (before, batch)
        reopened = JsonStore(store.path, ExampleItem)
        reopened._open_sync()
        assert dict(reopened.raw_items()) == expected and reopened._file_is_serialized


@settings(max_examples=200, deadline=None)
@given(initial=stores, data=st.data())
def test_atomic_splice_refuses_a_record_that_is_not_in_the_file(
    initial: dict[str, Any], data: st.DataObject
) -> None:
    """The old value given for a record is not what the file holds: nothing is written."""
    keys = list(initial)
    index = data.draw(st.integers(0, len(keys) - 1))
    key = keys[index]
    wrong = data.draw(records.filter(lambda r: r != initial[key]))
    new = data.draw(st.one_of(records, st.just(jsonio.REMOVED)))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "store.json"
        blob = jsoncodec.serialize(initial)
        path.write_bytes(blob)
        changes = [(index, key, wrong, new)]
        assert not jsonio.atomic_splice(path, lambda st: True, changes, len(keys), b"\n}\n")
        assert path.read_bytes() == blob
        assert os.listdir(tmp) == ["store.json"]


def test_atomic_splice_refuses_changes_out_of_order_or_a_changed_file(tmp_path: Path) -> None:
    path = tmp_path / "store.json"
    initial = {"a": {"x": 1}, "b": {"y": 2}, "c": {}}
    blob = jsoncodec.serialize(initial)
    path.write_bytes(blob)
    edit_a: jsonio.Change = (0, "a", {"x": 1}, {"x": 9})
    edit_c: jsonio.Change = (2, "c", {}, {"z": 3})
    anything = lambda st: True  # noqa: E731
    assert not jsonio.atomic_splice(path, anything, [edit_c, edit_a], 3, b"\n}\n")
    assert not jsonio.atomic_splice(path, lambda st: False, [edit_a], 3, b"\n}\n")
    assert not jsonio.atomic_splice(path, anything, [(3, "c", {}, {})], 3, b"\n}\n")
    # every record removed: "{}" is left to a full write
    removals = [(i, k, v, jsonio.REMOVED) for i, (k, v) in enumerate(initial.items())]
    assert not jsonio.atomic_splice(path, anything, removals, 3, b"\n}\n")
    # a record the file holds at another position
    assert not jsonio.atomic_splice(path, anything, [(1, "a", {"x": 1}, {})], 3, b"\n}\n")
    assert path.read_bytes() == blob
    assert jsonio.atomic_splice(path, anything, [edit_a, edit_c], 3, b"\n}\n")
    assert path.read_bytes() == jsoncodec.serialize({"a": {"x": 9}, "b": {"y": 2}, "c": {"z": 3}})


def store_path(tmp_path: Path) -> Path:
    return tmp_path / "json" / "example_items.json"


async def filled(tmp_path: Path, count: int = 300) -> JsonStore[ExampleItem]:
    store = JsonStore(store_path(tmp_path), ExampleItem)
    await store.open()
    await store.put_raw_many(list(generate_raw_records(count, seed=3)))
    return store


def item(record_id: str, name: str = "New") -> ExampleItem:
    return ExampleItem(id=record_id, name=name, description="ünïcode ☕ 東京", tags=["x"])


def no_full_write(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the whole store was serialized")


async def test_edits_and_deletes_splice_and_keep_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await filled(tmp_path)
    path = store_path(tmp_path)
    path.chmod(0o604)
    ids = [key for key, _ in store.raw_items()]
    with monkeypatch.context() as patched:
        patched.setattr(jsoncodec, "serialize_layout", no_full_write)
        patched.setattr(jsonio, "atomic_write_layout", no_full_write)
        patched.setattr(jsonio, "atomic_write", no_full_write)
        await store.upsert(item(ids[0], "first edited"))
        await store.upsert(item(ids[150], "middle edited"))
        await store.upsert(item(ids[-1], "last edited"))
        assert await store.delete(ids[1])
        assert await store.delete(ids[0])  # the first record, with the comma after it
        assert await store.delete(ids[-1])  # the last record
        assert not await store.delete("no-such-id")
        await store.upsert(item("zzzzzzzzzzzz", "added"))
    expected = dict(store.raw_items())
    assert list(expected) == [*ids[2:-1], "zzzzzzzzzzzz"]
    assert expected[ids[150]]["name"] == "middle edited"
    assert path.read_bytes() == jsoncodec.serialize(expected)
    assert path.stat().st_mode & 0o777 == 0o604
    assert not [p for p in path.parent.iterdir() if p.name.startswith(jsonio.TEMP_PREFIX)]
    reopened = JsonStore(path, ExampleItem)
    await reopened.open()
    assert dict(reopened.raw_items()) == expected


async def test_the_last_record_deleted_leaves_an_empty_store(tmp_path: Path) -> None:
    store = await filled(tmp_path, 1)
    (only,) = (key for key, _ in store.raw_items())
    await store.upsert(item(only, "edited"))  # a single-record store spliced
    assert json.loads(store_path(tmp_path).read_text("utf-8"))[only]["name"] == "edited"
    assert await store.delete(only)
    assert store_path(tmp_path).read_bytes() == b"{}\n"
    await store.upsert(item("aaaaaaaaaaaa"))
    assert store_path(tmp_path).read_bytes() == jsoncodec.serialize(dict(store.raw_items()))


async def test_an_edit_after_another_process_wrote_keeps_both(tmp_path: Path) -> None:
    mine = await filled(tmp_path)
    theirs = JsonStore(store_path(tmp_path), ExampleItem)
    await theirs.open()
    ids = [key for key, _ in mine.raw_items()]
    await theirs.upsert(item(ids[10], "theirs"))
    await theirs.delete(ids[20])
    await mine.upsert(item(ids[30], "mine"))
    await mine.delete(ids[40])
    on_disk = json.loads(store_path(tmp_path).read_text("utf-8"))
    assert on_disk[ids[10]]["name"] == "theirs" and on_disk[ids[30]]["name"] == "mine"
    assert ids[20] not in on_disk and ids[40] not in on_disk
    assert store_path(tmp_path).read_bytes() == jsoncodec.serialize(on_disk)


async def test_an_edit_of_a_file_replaced_behind_our_back_is_never_spliced(
    tmp_path: Path,
) -> None:
    store = await filled(tmp_path, 5)
    path = store_path(tmp_path)
    ids = [key for key, _ in store.raw_items()]
    # Another program swaps the file without the lock and keeps size and mtime; the
    # records it holds are other ones, or ours with other values.
    stat = path.stat()
    other = {r["id"]: r for r in generate_raw_records(5, seed=9)}
    other[ids[2]] = {**dict(store.raw_items())[ids[2]], "name": "changed by hand"}
    replacement = path.with_name("other.json")
    replacement.write_bytes(jsoncodec.serialize(other))
    os.utime(replacement, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(replacement, path)
    await store.upsert(item(ids[0], "edited"))
    await store.delete(ids[1])
    on_disk = json.loads(path.read_text("utf-8"))
    assert set(other) <= set(on_disk) and on_disk[ids[2]]["name"] == "changed by hand"
    assert path.read_bytes() == jsoncodec.serialize(on_disk)


async def test_a_store_orjson_cannot_write_is_written_whole(tmp_path: Path) -> None:
    """An integer past 64 bits: the standard library writes the file (floats may be
    spelled differently there), so no record is spliced into it."""
    path = store_path(tmp_path)
    path.parent.mkdir(parents=True)
    data = {"a": {"id": "a", "big": 2**70, "f": 1e16}, "b": {"id": "b", "f": 1e-7}}
    path.write_bytes(jsoncodec.serialize(data))
    store = JsonStore(path, ExampleItem)
    await store.open()
    assert store.load_error is None and not store._file_is_serialized
    await store.put_raw_many([{"id": "b", "f": 2e16}, {"id": "c", "f": 3e-7}])
    assert path.read_bytes() == jsoncodec.serialize(dict(store.raw_items()))
    await store.delete("a")  # now orjson can write it: the file is ours again
    assert path.read_bytes() == jsoncodec.serialize(dict(store.raw_items()))
    assert store._file_is_serialized


async def test_many_changes_write_the_whole_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(json_store_module, "_SPLICE_LIMIT", 5)
    store = await filled(tmp_path, 20)
    raws = [{**raw, "name": "renamed"} for _, raw in store.raw_items()]
    with counting_full_writes() as full:
        await store.put_raw_many(raws[:5])
        assert full == []
        await store.put_raw_many(raws[5:11])
        assert len(full) == 1
    assert store_path(tmp_path).read_bytes() == jsoncodec.serialize(dict(store.raw_items()))


# -- other processes: concurrent splicing writers, and writers killed mid-write ---------

ROOT = Path(__file__).resolve().parents[1]
SEED = int(os.environ.get("TUI_CRASH_SEED", "20261129"))
WORKER = """
import asyncio, sys
from pathlib import Path
from tui.models import ExampleItem
from tui.stores import JsonStore

async def main(path, edits, deletes, count, start):
    async with JsonStore(Path(path), ExampleItem) as store:
        print("opened", flush=True)
        for op, record_id, name in plan(edits.split(","), deletes.split(","), count)[start:]:
            if op == "edit":
                entry = await store.get(record_id)
                await store.upsert(entry.record.model_copy(update={"name": name}))
            else:
                assert await store.delete(record_id)
            print(op, record_id, name, flush=True)

PLAN

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])))
"""


def plan(edits: list[str], deletes: list[str], count: int) -> list[tuple[str, str, str]]:
    """Every fourth operation deletes the next of ``deletes``; the others edit ``edits``
    in turn, each time with a new name."""
    ops = []
    for i in range(count):
        if i % 4 == 3 and i // 4 < len(deletes):
            ops.append(("delete", deletes[i // 4], "-"))
        else:
            ops.append(("edit", edits[i % len(edits)], f"name-{i}"))
    return ops


def worker_source() -> str:
    return WORKER.replace("PLAN", inspect.getsource(plan))


def start_worker(
    path: Path, edits: list[str], deletes: list[str], count: int, start: int = 0
) -> Any:
    """A process that runs ``plan(edits, deletes, count)[start:]`` on the store."""
    args = [str(path), ",".join(edits), ",".join(deletes), str(count), str(start)]
    return subprocess.Popen(
        [sys.executable, "-c", worker_source(), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )


def state_after(names: dict[str, str], ops: list[tuple[str, str, str]]) -> dict[str, str]:
    state = dict(names)
    for op, record_id, name in ops:
        if op == "edit":
            state[record_id] = name
        else:
            del state[record_id]
    return state


def names_on_disk(path: Path) -> dict[str, str]:
    blob = path.read_bytes()
    data = json.loads(blob)
    assert blob == jsoncodec.serialize(data), "the file is not in our layout"
    return {key: value["name"] for key, value in data.items()}


def split_ids(ids: list[str], part: int, parts: int) -> tuple[list[str], list[str]]:
    """Records for one writer (disjoint from the others'): a few to edit again and
    again, the rest to delete. Writer 0 deletes the first record of the file and then
    the last, and edits those that take their places."""
    mine = ids[part::parts]
    edits = [mine[1], mine[-2], *mine[3:-3:7][:6]]
    deletes = [mine[0], mine[-1], *(key for key in mine[2:-2] if key not in edits)]
    return edits, deletes


async def test_processes_editing_one_file_keep_each_others_edits(tmp_path: Path) -> None:
    store = await filled(tmp_path, 400)
    path = store_path(tmp_path)
    ids = [key for key, _ in store.raw_items()]
    names = {key: raw["name"] for key, raw in store.raw_items()}
    writers, per_writer = 3, 40
    plans = {}
    procs = []
    for part in range(writers):
        edits, deletes = split_ids(ids, part, writers)
        plans[part] = plan(edits, deletes, per_writer)
        procs.append(start_worker(path, edits, deletes, per_writer))
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    expected = state_after(names, [op for part in range(writers) for op in plans[part]])
    assert names_on_disk(path) == expected
    assert list(names_on_disk(path)) == list(expected)  # edits kept their places


async def test_a_splicing_writer_killed_at_random_moments_leaves_a_whole_file(
    tmp_path: Path,
) -> None:
    """SIGKILL at a random moment: the file is whole, in our layout, with its mode, and
    holds every acknowledged edit and delete (and at most the one in flight)."""
    store = await filled(tmp_path, 2000)
    path = store_path(tmp_path)
    path.chmod(0o640)
    ids = [key for key, _ in store.raw_items()]
    edits, deletes = split_ids(ids, 0, 1)
    full = plan(edits, deletes, 4000)
    names = {key: raw["name"] for key, raw in store.raw_items()}
    rng = random.Random(SEED)
    done = 0
    for kill in range(12):
        proc = start_worker(path, edits, deletes, len(full), done)
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline() == b"opened\n", proc.stderr.read().decode()
        time.sleep(rng.uniform(0, 0.15))
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
        # (a worker that ran to the end before the kill exited normally)
        assert proc.returncode in (0, -signal.SIGKILL), f"seed {SEED} kill {kill}: {err!r}"
        acked = len(out.split(b"\n")[:-1])
        on_disk = names_on_disk(path)
        applied = [j for j in (done + acked, done + acked + 1) if j <= len(full)]
        states = [state_after(names, full[:j]) for j in applied]
        assert on_disk in states, f"seed {SEED} kill {kill}: not a state the writes leave"
        assert list(on_disk) == list(states[states.index(on_disk)])
        done = applied[states.index(on_disk)]
        assert path.stat().st_mode & 0o777 == 0o640
    assert done > 0, "no write finished before a kill: the test did not test anything"
    reopened = JsonStore(path, ExampleItem)
    await reopened.open()
    assert reopened.load_error is None
    assert not [p for p in path.parent.iterdir() if p.name.startswith(jsonio.TEMP_PREFIX)]
