"""I/O faults in JSON saves, injected the way SQLite's tests inject them (issue 5, item 1).

For each kind of save (an upsert spliced into a file in our layout, an upsert that
rewrites a hand-edited file, a delete, a ``put_raw_many`` as a transfer applies it, and
the first save that creates the folder and the file) the Nth file operation of the save
(open, mkstemp, write, copy, fchmod, fsync, replace, folder fsync, lock, mkdir, ...) is
made to fail with ENOSPC or EIO, for N = 1, 2, ... until the save goes through without a
fault: once failing a single time ("transient"), once failing every later call too
("persistent"). After every run:

* the file is byte-identical to before (a failed save) or the complete new version (a
  save that succeeded, or that says it is saved but could not be synced), and the
  store's own view is what the file holds;
* no ``.tui-tmp-*`` file is left behind and the file keeps its mode;
* a failure is one clear line naming the file and the OS error;
* the same store object works afterwards: the save (retried if it failed) and a
  following one land, and the file then holds exactly every acknowledged change.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.records import raw_record
from tests.reliability.budget import Figures, amount
from tests.reliability.faults import inject
from tui.models import ExampleItem
from tui.stores import JsonStore, StoreError, jsoncodec, jsonio

COMMAND = "TUI_RELIABILITY=long .venv/bin/pytest tests/reliability/test_rel_json_faults.py"
FILE_MODE = 0o640  # not what a new file gets: every save must keep it
RECORDS = amount(5, 2500)  # the long run: several write batches per save
ERRORS = (errno.ENOSPC, errno.EIO) + ((errno.EDQUOT, errno.EROFS) if RECORDS > 5 else ())
REASONS = {
    errno.ENOSPC: "no space left",
    errno.EIO: os.strerror(errno.EIO),
    errno.EDQUOT: "quota",
    errno.EROFS: "read-only",
}


def rid(n: int) -> str:
    return f"{n:012x}"


def names_of(records: dict[str, Any]) -> dict[str, str]:
    return {key: value["name"] for key, value in records.items()}


@dataclass(frozen=True)
class Scenario:
    name: str
    layout: str  # "ours" (canonical: spliced), "hand" (rewritten whole), "none" (no file)
    op: Callable[[JsonStore[ExampleItem]], Awaitable[object]]
    after: Callable[[dict[str, str]], dict[str, str]]  # the names once the op is done
    splices: bool


async def _upsert_edit(store: JsonStore[ExampleItem]) -> object:
    return await store.upsert(ExampleItem(id=rid(2), name="edited"))


def _after_edit(names: dict[str, str]) -> dict[str, str]:
    return names | {rid(2): "edited"}


async def _delete(store: JsonStore[ExampleItem]) -> object:
    return await store.delete(rid(3))


def _after_delete(names: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in names.items() if k != rid(3)}


async def _put_raw_many(store: JsonStore[ExampleItem]) -> object:
    return await store.put_raw_many(
        [raw_record(rid(2), "imported", extra="kept"), raw_record(rid(10**6), "new one")]
    )


def _after_put(names: dict[str, str]) -> dict[str, str]:
    return names | {rid(2): "imported", rid(10**6): "new one"}


async def _first(store: JsonStore[ExampleItem]) -> object:
    return await store.upsert(ExampleItem(id=rid(1), name="first"))


SCENARIOS = [
    Scenario("splice upsert", "ours", _upsert_edit, _after_edit, True),
    Scenario("full rewrite upsert", "hand", _upsert_edit, _after_edit, False),
    Scenario("delete", "ours", _delete, _after_delete, True),
    Scenario("put_raw_many", "ours", _put_raw_many, _after_put, True),
    Scenario("first save", "none", _first, lambda names: {rid(1): "first"}, False),
]


def _setup(folder: Path, layout: str) -> tuple[Path, bytes | None, dict[str, str]]:
    path = folder / "data" / "json" / "example_items.json"
    if layout == "none":
        return path, None, {}
    path.parent.mkdir(parents=True)
    records = {rid(n): raw_record(rid(n), f"record {n}") for n in range(1, RECORDS + 1)}
    # Our layout is spliced into; a file in another layout is rewritten whole.
    ours = layout == "ours"
    blob = jsoncodec.serialize(records) if ours else json.dumps(records, indent=4).encode()
    path.write_bytes(blob)
    path.chmod(FILE_MODE)
    return path, blob, names_of(records)


def _temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.startswith(jsonio.TEMP_PREFIX)]


async def _view(store: JsonStore[ExampleItem]) -> dict[str, str]:
    return {key: raw["name"] async for key, raw in store.iter_raw()}


def _on_disk(path: Path) -> dict[str, str]:
    return names_of(json.loads(path.read_bytes()))


@dataclass
class Run:
    outcome: str  # "ok", "saved-not-durable", "failed"
    message: str
    injected: list[str]
    ops: list[str]


async def _one_run(
    folder: Path, scenario: Scenario, fail_at: int, persistent: bool, error: int
) -> Run:
    path, original, before = _setup(folder, scenario.layout)
    after = scenario.after(before)
    store = JsonStore(path, ExampleItem)
    await store.open()
    await store.checked()
    message = ""
    with inject(fail_at, persistent, error) as injector:
        try:
            await scenario.op(store)
            outcome = "ok"
        except jsonio.SavedNotDurable as exc:
            outcome, message = "saved-not-durable", str(exc)
        except StoreError as exc:
            outcome, message = "failed", str(exc)
    where = f"{scenario.name}, op {fail_at} ({injector.injected[:1]}), {outcome}: {message}"

    assert not _temp_files(folder), where
    if outcome == "failed":
        assert injector.injected, where
        if original is None:
            assert not path.exists(), where
        else:
            assert path.read_bytes() == original, where
        assert await _view(store) == before, where
    else:
        assert _on_disk(path) == after, where
        assert await _view(store) == after, where
    if outcome != "ok":
        # One line, naming the file and what the OS said.
        assert "\n" not in message and "Traceback" not in message, where
        assert path.name in message, where
        assert REASONS[error].lower() in message.lower(), where
    if outcome == "saved-not-durable":
        assert injector.injected[-1] in ("open", "fsync"), where  # the folder's fsync
    if path.exists():
        assert stat.S_IMODE(path.stat().st_mode) == (FILE_MODE if original else 0o600), where

    # The same store object works again, and keeps every acknowledged change.
    if outcome == "failed":
        await scenario.op(store)
    await store.upsert(ExampleItem(id=rid(999), name="afterwards"))
    expected = after | {rid(999): "afterwards"}
    assert _on_disk(path) == expected, where
    assert await _view(store) == expected, where
    assert not _temp_files(folder), where
    assert stat.S_IMODE(path.stat().st_mode) == (FILE_MODE if original else 0o600), where
    if original is None:  # new folders are private to the user
        for made in (path.parent, path.parent.parent):
            assert stat.S_IMODE(made.stat().st_mode) == 0o700, where
    await store.close()
    reopened = JsonStore(path, ExampleItem)
    await reopened.open()
    assert await _view(reopened) == expected, where
    await reopened.close()
    return Run(outcome, message, injector.injected, injector.calls)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name.replace(" ", "-"))
async def test_every_failing_file_operation_of_a_save(
    tmp_path: Path, scenario: Scenario, figures: Figures
) -> None:
    clean = await _one_run(tmp_path / "clean", scenario, 0, False, errno.EIO)
    assert clean.outcome == "ok" and not clean.injected
    # The scenario takes the path it is meant to: a splice reads the old file's bytes
    # (pread) to copy them; a whole write never reads it.
    assert ("pread" in clean.ops) == scenario.splices, clean.ops
    assert {"open", "write", "fsync", "replace", "flock"} <= set(clean.ops), clean.ops

    tried = lost_nothing = 0
    outcomes: set[str] = set()
    failed_ops: set[str] = set()
    try:
        for persistent in (False, True):
            for error in ERRORS:
                fail_at = 1
                while True:
                    folder = tmp_path / f"{persistent}-{error}-{fail_at}"
                    tried += 1
                    run = await _one_run(folder, scenario, fail_at, persistent, error)
                    lost_nothing += 1
                    outcomes.add(run.outcome)
                    failed_ops.update(run.injected[:1])
                    if not run.injected:
                        tried -= 1  # the save went through untouched: no fault injected
                        lost_nothing -= 1
                        break
                    fail_at += 1
                assert fail_at > 5, "a save makes more file operations than that"
    finally:
        figures.add("JSON save I/O faults injected", tried, lost_nothing, COMMAND)
    # Both a failure and the honest "saved, but not synced" were seen.
    assert {"failed", "saved-not-durable", "ok"} <= outcomes, outcomes
    # Every kind of operation of the save was made to fail at least once.
    kinds = {"flock", "open", "mkstemp", "write", "fchmod", "fsync", "replace"}
    kinds |= {"pread", "copy_file_range"} if scenario.splices else set()
    kinds |= {"mkdir"} if scenario.layout == "none" else set()
    assert kinds <= failed_ops, (kinds - failed_ops, failed_ops)


async def test_folder_fsync_failing_after_the_rename_is_reported_as_saved(
    tmp_path: Path, figures: Figures
) -> None:
    """The rename happened: the store says so (not "unchanged"), holds the new state, and
    the next write builds on it."""
    figures.cases("JSON save I/O faults injected", command=COMMAND)
    path, original, before = _setup(tmp_path, "ours")
    store = JsonStore(path, ExampleItem)
    await store.open()
    with inject() as counter:
        await _upsert_edit(store)
    last_fsync = max(i for i, op in enumerate(counter.calls) if op == "fsync")
    assert counter.calls[last_fsync - 1] == "open"  # open the folder, fsync it
    # Fail the folder's open+fsync and its retry: count the failable calls before it.
    failable_before = sum(
        1 for op in counter.calls[: last_fsync - 1] if op not in ("close", "unlink")
    )
    path.write_bytes(original or b"")
    await store.reload()
    with (
        inject(failable_before + 1, persistent=True) as injector,
        pytest.raises(jsonio.SavedNotDurable) as caught,
    ):
        await store.upsert(ExampleItem(id=rid(2), name="edited"))
    assert injector.injected[0] == "open"
    assert "saved" in str(caught.value) and "unchanged" not in str(caught.value)
    assert _on_disk(path) == _after_edit(before) == await _view(store)
    await store.delete(rid(4))
    assert _on_disk(path) == {k: v for k, v in _after_edit(before).items() if k != rid(4)}
