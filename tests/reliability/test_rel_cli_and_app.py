"""The CLI and a running app on one data folder at the same time (issue 5, item 3).

The browser runs in-process (Pilot) on a data folder with sample records in both stores.
While it runs, two streams of ``python -m tui --data-dir D add/edit/delete ...``
subprocesses (one per store, each call a separate process) add, edit and delete records,
and the app adds records to both panes through its form. Afterwards:

* nothing is lost: each store on disk holds the sample records, changed exactly as the
  acknowledged CLI calls (exit code 0) say, plus every record the app added;
* the app picks up the CLI's changes without a restart or a key press: each pane shows
  exactly what its store holds on disk (ids and descriptions), the CLI's edits included,
  and a last CLI add made after the app's last write (so only the app's watch on the
  files can bring it in).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

from textual.worker import WorkerCancelled

from tests.app_helpers import SIZE, db_path, json_path, panes, type_text, wait_for, wait_loaded
from tests.reliability.budget import Figures
from tui.app import BrowserApp
from tui.sample import JSON_RECORDS, SQLITE_RECORDS, seed_if_empty
from tui.screens.record_form import RecordForm
from tui.widgets.store_pane import StorePane

CLI_TIMEOUT = 60.0
MAX_APP_ROUNDS = 20  # one add to each pane a round
COMMAND = ".venv/bin/pytest tests/reliability/test_rel_cli_and_app.py"

Model = dict[str, str]  # id -> description


def cli_calls(backend: str, seed_ids: list[str]) -> list[tuple[list[str], str, str | None]]:
    """(arguments, id, the description it leaves, None for a delete), in order."""
    p = f"cli-{backend}"
    b = ["--backend", backend]
    calls: list[tuple[list[str], str, str | None]] = []
    for i in range(4):
        calls.append(
            (
                ["add", "--id", f"{p}-{i}", "--name", f"{p} {i}", "--description", "added", *b],
                f"{p}-{i}",
                "added",
            )
        )
    calls += [
        (
            ["edit", f"{p}-1", "--description", "edited by the CLI", *b],
            f"{p}-1",
            "edited by the CLI",
        ),
        (["delete", f"{p}-2", *b], f"{p}-2", None),
        (
            ["edit", seed_ids[0], "--description", "seed edited by the CLI", *b],
            seed_ids[0],
            "seed edited by the CLI",
        ),
        (["delete", seed_ids[-1], *b], seed_ids[-1], None),
    ]
    return calls


async def run_cli(data_dir: Path, args: list[str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tui",
        "--data-dir",
        str(data_dir),
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), CLI_TIMEOUT)
    assert proc.returncode is not None
    return proc.returncode, (out + err).decode(errors="replace")


async def cli_stream(
    data_dir: Path,
    backend: str,
    model: Model,
    seed_ids: list[str],
    touched: list[tuple[str, str]],
) -> int:
    """Run one store's CLI calls in order; apply each acknowledged one to ``model`` and
    note its (store, id) in ``touched``."""
    acked = 0
    for args, record_id, description in cli_calls(backend, seed_ids):
        code, output = await run_cli(data_dir, args)
        assert code == 0, f"python -m tui {' '.join(args)} -> {code}: {output}"
        assert "Traceback" not in output, output
        acked += 1
        touched.append((backend, record_id))
        if description is None:
            del model[record_id]
        else:
            model[record_id] = description
    return acked


def on_disk(backend: str, data_dir: Path) -> Model:
    if backend == "json":
        data = json.loads(json_path(data_dir).read_bytes())
        return {record_id: raw.get("description", "") for record_id, raw in data.items()}
    db = sqlite3.connect(db_path(data_dir))
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = db.execute("SELECT id, data FROM example_items").fetchall()
    finally:
        db.close()
    return {record_id: json.loads(text).get("description", "") for record_id, text in rows}


def shown(pane: StorePane) -> Model | None:
    """What the pane shows (None while a page is not loaded yet)."""
    table = pane.table
    entries = [table.entry_at(i) for i in range(table.total)]
    if pane.error is not None or any(e is None for e in entries):
        return None
    return {e.id: e.raw.get("description", "") for e in entries if e is not None}


def named(pane: StorePane, name: str) -> list[str]:
    """The ids of the records called ``name`` the pane shows."""
    table = pane.table
    entries = [table.entry_at(i) for i in range(table.total)]
    return [e.id for e in entries if e is not None and e.raw.get("name") == name]


async def app_add(pilot: Any, pane: StorePane, name: str) -> str:
    """Add a record through the form of the focused pane; return its id once the pane
    shows it with the cursor on it."""
    app = pilot.app
    await pilot.press("a")
    await wait_for(pilot, lambda: isinstance(app.screen, RecordForm))
    await type_text(pilot, name)  # short: every key is a round trip through the app
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: not isinstance(app.screen, RecordForm))
    await wait_for(pilot, lambda: len(named(pane, name)) == 1)
    (record_id,) = named(pane, name)
    # ... and the cursor goes to it, also when a reload for a CLI change comes between.
    await wait_for(pilot, lambda: pane.current is not None and pane.current.id == record_id)
    return record_id


async def test_cli_and_app_on_one_data_dir_lose_nothing(tmp_path: Path, figures: Figures) -> None:
    assert await seed_if_empty(tmp_path)
    models: dict[str, Model] = {
        "json": {r["id"]: r.get("description", "") for r in JSON_RECORDS},
        "sqlite": {r["id"]: r.get("description", "") for r in SQLITE_RECORDS},
    }
    assert models["json"] == on_disk("json", tmp_path)
    assert models["sqlite"] == on_disk("sqlite", tmp_path)
    touched: list[tuple[str, str]] = []  # (store, id) of every acknowledged operation
    app = BrowserApp(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        left, right = panes(app)
        streams = [
            asyncio.create_task(
                cli_stream(tmp_path, backend, models[backend], list(models[backend]), touched)
            )
            for backend in ("json", "sqlite")
        ]
        app_ops = n = 0
        while n < MAX_APP_ROUNDS and not (n >= 1 and all(s.done() for s in streams)):
            # Add to both panes through the form for as long as the CLI writes.
            for backend, pane in (("json", left), ("sqlite", right)):
                if app.focused is not pane.table:
                    await pilot.press("tab")
                await wait_for(pilot, lambda pane=pane: app.focused is pane.table)
                record_id = await app_add(pilot, pane, f"{backend[0]}{n}")
                models[backend][record_id] = ""
                touched.append((backend, record_id))
                app_ops += 1
            n += 1
        cli_ops = sum(await asyncio.gather(*streams))
        # One more CLI call per store, after the app's last write: only the app's own
        # watch on the files can show it (no key is pressed, the app writes nothing).
        for backend in ("json", "sqlite"):
            record_id = f"cli-{backend}-last"
            args = ["add", "--id", record_id, "--name", "last", "--description", "last"]
            code, output = await run_cli(tmp_path, [*args, "--backend", backend])
            assert code == 0, output
            models[backend][record_id] = "last"
            touched.append((backend, record_id))
            cli_ops += 1
        for backend, pane in (("json", left), ("sqlite", right)):
            await wait_for(pilot, lambda b=backend, p=pane: shown(p) == models[b], timeout=20)
    disk = {backend: on_disk(backend, tmp_path) for backend in ("json", "sqlite")}
    tried = cli_ops + app_ops
    assert len(touched) == tried
    kept = sum(1 for b, record_id in touched if disk[b].get(record_id) == models[b].get(record_id))
    figures.add("CLI + running app: operations kept", tried, kept, COMMAND)
    print(f"{cli_ops} CLI calls and {app_ops} app adds at the same time")
    for backend in ("json", "sqlite"):
        assert on_disk(backend, tmp_path) == models[backend], backend


async def test_a_reload_for_a_change_on_disk_keeps_the_record_just_saved(tmp_path: Path) -> None:
    """After a save the pane moves to the saved record (a reload with ``keep_id``). When
    the timer notices a CLI change at that moment, its reload (which replaces the first)
    must still go to the saved record, not back to the row the cursor was on: found by
    the test above, whose adds sometimes ended with the cursor elsewhere."""
    assert await seed_if_empty(tmp_path)
    app = BrowserApp(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        for pane in panes(app):
            assert pane.current is not None
            before = pane.current.id
            target = pane.table.entry_at(pane.table.total - 1)
            assert target is not None and target.id != before
            pane.refresh_from_store(keep_id=target.id)  # as after saving ``target``
            pane.refresh_from_store(announce="changed on disk; reloaded")  # as check_disk
            for worker in [w for w in app.workers if w.group == "load"]:
                with contextlib.suppress(WorkerCancelled):  # the first one is replaced
                    await worker.wait()
            await pilot.pause()
            assert pane.current is not None
            assert pane.current.id == target.id, f"{pane.kind_title}: back on {pane.current.id}"
