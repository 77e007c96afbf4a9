"""Cancelling a transfer leaves both stores exactly as they were.

A transfer is cancelled through its :class:`CancelToken` (the Cancel button, Esc) or by
cancelling the task that runs it: at any of its checkpoints (before the first batch,
after one, in the middle of serializing the JSON file, right before the temp file
replaces it or the SQLite transaction commits) nothing is written. The files are
compared byte for byte, the database also row by row after ``PRAGMA integrity_check``,
and no temp file is left beside the JSON file. The chunked JSON writer writes exactly
the bytes :func:`jsoncodec.serialize` writes.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from textual.widgets import Button

from tests.app_helpers import SIZE, FileState, db_path, json_path, wait_for, wait_loaded
from tui import app as tui_app
from tui import transfer
from tui.app import BrowserApp
from tui.generate import fill_stores, generate_raw_records
from tui.models import ExampleItem
from tui.screens.confirm import ConfirmScreen
from tui.stores import JsonStore, SqliteStore, jsoncodec, jsonio
from tui.stores.jsonio import TEMP_PREFIX

TABLE = "example_items"
SQLITE_ONLY = 6000  # records 0..5999 of seed 0 (three SQLite batches, three JSON batches)
JSON_SHARED = 3000  # records 0..2999 of seed 0 are in the JSON store too...
JSON_CHANGED = 1500  # ...the first 1500 of them with another name
JSON_ONLY = 2500  # and 2500 records of seed 7 only in the JSON store


def _json_records(changed: int) -> list[dict[str, Any]]:
    shared = list(generate_raw_records(JSON_SHARED, seed=0))
    for raw in shared[:changed]:
        raw["name"] = raw["name"] + " (edited)"
    return shared + list(generate_raw_records(JSON_ONLY, seed=7))


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Data dirs made once: ``full`` (so many records change that the whole JSON file is
    rewritten) and ``splice`` (no record changes: new ones are appended)."""
    made: dict[str, Path] = {}
    for name, changed in (("full", JSON_CHANGED), ("splice", 0)):
        data_dir = tmp_path_factory.mktemp(f"template-{name}")

        async def fill(data_dir: Path = data_dir, changed: int = changed) -> None:
            await fill_stores(data_dir, SQLITE_ONLY, "sqlite")
            async with JsonStore.in_data_dir(data_dir, TABLE, ExampleItem) as store:
                await store.put_raw_many(_json_records(changed))

        asyncio.run(fill())
        made[name] = data_dir
    return made


def copy_of(template: Path, tmp_path: Path) -> Path:
    data_dir = tmp_path / "data"
    shutil.copytree(template, data_dir)
    return data_dir


def sqlite_rows(path: Path) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        return db.execute(f'SELECT rowid, * FROM "{TABLE}" ORDER BY rowid').fetchall()


def temp_files(data_dir: Path) -> list[str]:
    return sorted(p.name for p in (data_dir / "json").iterdir() if p.name.startswith(TEMP_PREFIX))


class Snapshot:
    """Both stores' files as they are on disk (the JSON file down to inode and mtime)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.json = FileState.of(json_path(data_dir))
        self.db = db_path(data_dir).read_bytes()
        self.rows = sqlite_rows(db_path(data_dir))

    def assert_unchanged(self) -> None:
        assert FileState.of(json_path(self.data_dir)) == self.json
        assert sqlite_rows(db_path(self.data_dir)) == self.rows
        assert db_path(self.data_dir).read_bytes() == self.db
        assert temp_files(self.data_dir) == []


def stores(data_dir: Path, direction: str) -> tuple[Any, Any]:
    json_store = JsonStore.in_data_dir(data_dir, TABLE, ExampleItem)
    sqlite_store = SqliteStore.in_data_dir(data_dir, TABLE, ExampleItem)
    if direction == "export":
        return sqlite_store, json_store
    return json_store, sqlite_store


class CountingToken(transfer.CancelToken):
    """Cancels itself at its ``cancel_at``-th check (0: never); records each check."""

    def __init__(self, data_dir: Path, cancel_at: int = 0) -> None:
        super().__init__()
        self.data_dir = data_dir
        self.cancel_at = cancel_at
        self.checks = 0
        self.temp_at_checks: list[list[str]] = []

    def check(self) -> None:
        self.checks += 1
        self.temp_at_checks.append(temp_files(self.data_dir))
        if self.checks == self.cancel_at:
            self.cancel()
        super().check()


async def run_transfer(
    data_dir: Path,
    direction: str,
    token: transfer.CancelToken | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> transfer.Result:
    source, target = stores(data_dir, direction)
    async with source, target:
        plan = await transfer.make_plan(source, target)
        assert plan.counts()["new"] == SQLITE_ONLY - JSON_SHARED or direction == "import"
        result = await transfer.apply(plan, target, progress, token)
        if token is not None and token.cancelled:
            raise AssertionError("apply returned although it was cancelled")
        return result


@pytest.mark.parametrize("template", ["full", "splice"])
@pytest.mark.parametrize("direction", ["export", "import"])
async def test_cancel_at_every_stage_of_apply_writes_nothing(
    templates: dict[str, Path], tmp_path: Path, direction: str, template: str
) -> None:
    # A run that is not cancelled counts the checkpoints and sees the progress.
    counted = copy_of(templates[template], tmp_path / "counted")
    token = CountingToken(counted)
    reports: list[tuple[int, int]] = []
    result = await run_transfer(
        counted, direction, token, lambda done, total: reports.append((done, total))
    )
    total = result.written
    assert total == len(result.plan.to_write) > 0
    assert reports[-1] == (total, total)
    done = [d for d, _ in reports]
    assert done == sorted(set(done)) and all(t == total for _, t in reports)
    checks = token.checks
    assert checks >= 3
    if direction == "export":
        # The last check comes after the new file is written in full, right before it
        # replaces the old one.
        assert token.temp_at_checks[-1] != []
        assert token.temp_at_checks[0] == []
        if template == "full":
            assert len(reports) >= 3  # the file is serialized and reported in batches

    for cancel_at in sorted({1, 2, checks // 2, checks - 1, checks}):
        data_dir = copy_of(templates[template], tmp_path / f"cancel-{cancel_at}")
        before = Snapshot(data_dir)
        with pytest.raises(transfer.TransferCancelled):
            await run_transfer(data_dir, direction, CountingToken(data_dir, cancel_at))
        before.assert_unchanged()
        # The stores are usable afterwards: the same transfer completes.
        again = await run_transfer(data_dir, direction)
        assert again.written == total


# (Appending to the JSON file reports no progress part-way: the next test covers it.)
@pytest.mark.parametrize(
    ("direction", "template"), [("export", "full"), ("import", "full"), ("import", "splice")]
)
async def test_cancelling_the_task_writes_nothing(
    templates: dict[str, Path], tmp_path: Path, direction: str, template: str
) -> None:
    data_dir = copy_of(templates[template], tmp_path)
    before = Snapshot(data_dir)
    loop = asyncio.get_running_loop()
    task: asyncio.Task[Any] | None = None
    cancelled_at: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        if cancelled_at or done >= total:
            return
        cancelled_at.append((done, total))
        assert task is not None
        if threading.current_thread() is threading.main_thread():
            task.cancel()  # SQLite: the next await (the next batch) is cancelled
        else:
            # JSON: the writer thread waits until the loop has cancelled the task.
            loop.call_soon_threadsafe(task.cancel)
            time.sleep(0.3)

    task = asyncio.create_task(run_transfer(data_dir, direction, None, progress))
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled_at
    before.assert_unchanged()
    # Nothing lingers (an open transaction, a lock): the same transfer completes.
    again = await run_transfer(data_dir, direction)
    assert again.written == len(again.plan.to_write) > 0


async def test_task_cancelled_during_json_splice_writes_nothing(
    templates: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = copy_of(templates["splice"], tmp_path)
    before = Snapshot(data_dir)
    started = threading.Event()
    real_write_all = jsonio._write_all

    def slow_write_all(fd: int, data: bytes | memoryview) -> None:
        started.set()
        time.sleep(0.3)
        real_write_all(fd, data)

    monkeypatch.setattr(jsonio, "_write_all", slow_write_all)
    task = asyncio.create_task(run_transfer(data_dir, "export"))
    while not started.is_set():
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    before.assert_unchanged()
    monkeypatch.setattr(jsonio, "_write_all", real_write_all)
    again = await run_transfer(data_dir, "export")
    assert again.written == SQLITE_ONLY - JSON_SHARED


@pytest.mark.parametrize("direction", ["export", "import"])
async def test_plan_reports_progress_and_can_be_cancelled(
    templates: dict[str, Path], direction: str
) -> None:
    data_dir = templates["full"]
    before = Snapshot(data_dir)
    source, target = stores(data_dir, direction)
    async with source, target:
        total = await source.count() + await target.count()
        reports: list[tuple[int, int]] = []
        plan = await transfer.make_plan(
            source, target, lambda done, of: reports.append((done, of)), transfer.CancelToken()
        )
        assert reports[-1] == (total, total)
        done = [d for d, _ in reports]
        assert done == sorted(set(done)) and len(reports) >= 3
        counts = plan.counts()
        if direction == "export":
            assert counts == {
                "new": SQLITE_ONLY - JSON_SHARED,
                "changed": JSON_CHANGED,
                "unchanged": JSON_SHARED - JSON_CHANGED,
                "invalid": 0,
                "kept": JSON_ONLY,
            }

        token = transfer.CancelToken()

        def cancel_half_way(done: int, of: int) -> None:
            if done >= of // 2:
                token.cancel()

        with pytest.raises(transfer.TransferCancelled):
            await transfer.make_plan(source, target, cancel_half_way, token)
        with pytest.raises(transfer.TransferCancelled):
            await transfer.apply(plan, target, None, token)  # cancelled before it starts
    before.assert_unchanged()


# -- the chunked JSON writer writes what serialize writes --------------------------------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)  # past 64 bits: the slow path
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(data=st.dictionaries(st.text(), st.dictionaries(st.text(), _values), max_size=12))
def test_chunked_write_is_byte_for_byte_serialize(data: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        path = folder / "store.json"
        old = jsonio._LAYOUT_BATCH
        try:
            jsonio._LAYOUT_BATCH = 3  # many batches even for a few records
            try:
                expected, by_orjson = jsoncodec.serialize_layout(data)
            except UnicodeEncodeError:  # a lone surrogate: neither writes it
                with pytest.raises(UnicodeEncodeError):
                    jsonio.atomic_write_layout(path, data)
                assert list(folder.iterdir()) == []
                return
            assert jsonio.atomic_write_layout(path, data) == by_orjson
        finally:
            jsonio._LAYOUT_BATCH = old
        assert path.read_bytes() == expected
        assert sorted(p.name for p in folder.iterdir()) == ["store.json"]


def test_chunked_write_of_generated_records(tmp_path: Path) -> None:
    data = {raw["id"]: raw for raw in generate_raw_records(5000, seed=3)}
    path = tmp_path / "store.json"
    reports: list[tuple[int, int]] = []
    assert jsonio.atomic_write_layout(path, data, None, lambda d, t: reports.append((d, t)))
    assert path.read_bytes() == jsoncodec.serialize(data)
    assert reports[-1] == (5000, 5000) and len(reports) == -(-5000 // jsonio._LAYOUT_BATCH)


def test_chunked_write_cancelled_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "store.json"
    path.write_bytes(b'{\n  "a": {}\n}\n')
    before = FileState.of(path)
    data = {raw["id"]: raw for raw in generate_raw_records(5000, seed=3)}
    calls = 0

    def check() -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise transfer.TransferCancelled("cancelled")

    with pytest.raises(transfer.TransferCancelled):
        jsonio.atomic_write_layout(path, data, check)
    assert FileState.of(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.json"]


# -- the browser: Cancel and Esc during a transfer ----------------------------------------


@pytest.fixture
async def big(tmp_path: Path) -> Path:
    await fill_stores(tmp_path, 3000, "sqlite")
    await fill_stores(tmp_path, 200, "json", seed=5)
    return tmp_path


@pytest.mark.parametrize("how", ["escape", "click"])
async def test_cancel_an_export_in_the_browser(
    big: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    # Slow the JSON write down so that the export is still running when it is cancelled.
    real_write_all = jsonio._write_all

    def slow_write_all(fd: int, data: bytes | memoryview) -> None:
        time.sleep(1.0)
        real_write_all(fd, data)

    monkeypatch.setattr(jsonio, "_write_all", slow_write_all)
    before = Snapshot(big)
    app = BrowserApp(big)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = app.browser
        left, right = screen.json_pane, screen.sqlite_pane
        shown = (left.table.total, right.table.total)
        bar = screen.query_one("#transfer-bar")
        assert bar.has_class("hidden")
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: not bar.has_class("hidden"))  # after 0.3 s
        assert screen.transfer_running
        assert screen.query_one("#cancel-transfer", Button).display
        if how == "escape":
            await pilot.press("escape")
        else:
            await pilot.click("#cancel-transfer")
        await wait_for(
            pilot,
            lambda: any(
                "Export cancelled; nothing was written" in str(n.message)
                for n in app._notifications
            ),
        )
        assert not screen.transfer_running
        assert bar.has_class("hidden")
        assert (left.table.total, right.table.total) == shown
        assert not any("wrote" in str(n.message) for n in app._notifications)
        # Still responsive: keys work, and Esc is back to clearing the filter.
        await pilot.press("tab")
        assert app.focused is right.table
        await pilot.press("escape")
        assert not screen.transfer_running
    before.assert_unchanged()


async def test_a_quick_transfer_never_shows_the_progress_bar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bar waits PROGRESS_DELAY before it shows; a loaded machine can take longer
    # than the real 0.3 s over a step (an fsync), so the delay is made long: the bar
    # must still not show at once.
    monkeypatch.setattr(tui_app, "PROGRESS_DELAY", 60.0)
    await fill_stores(tmp_path, 20, "sqlite")
    app = BrowserApp(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        bar = app.browser.query_one("#transfer-bar")
        seen: list[bool] = []
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        left = app.browser.json_pane

        def exported() -> bool:
            seen.append(bar.has_class("hidden"))
            return left.table.total == 20

        await wait_for(pilot, exported, timeout=30)
        assert seen and all(seen)
        assert any("Export: wrote 20" in str(n.message) for n in app._notifications)
