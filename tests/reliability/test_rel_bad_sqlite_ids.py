"""Rows of a table not made by us whose id is not UTF-8 text, or whose timestamp column
is out of range: each is an invalid record, shown and kept; every other record reads,
exports and edits as usual; no edit or delete is aimed at a row by an id that does not
lead back to it.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.app_helpers import SIZE, panes, wait_for, wait_loaded
from tests.reliability.budget import Figures
from tests.reliability.test_rel_bad_sqlite import _stored
from tui.app import BrowserApp
from tui.models import ExampleItem
from tui.screens.confirm import ConfirmScreen
from tui.screens.record_form import RecordForm
from tui.stores import SqliteStore
from tui.transfer import apply, make_plan

COMMAND = "TUI_RELIABILITY=long .venv/bin/pytest tests/reliability/test_rel_bad_sqlite_ids.py"
FIGURE = "bad SQLite rows shown as invalid, kept"

# (the id as stored, how the app shows it, what its error says)
ODD_IDS: list[tuple[Any, str, str]] = [
    (b"ab", "x'6162'", "a blob"),
    (None, "NULL", "NULL"),
    (42, "42", "a number"),
    (4.5, "4.5", "a number"),
    (b"caf\xe9", "caf\\xe9", "not UTF-8"),  # stored as TEXT (below): a legacy encoding
]
GOOD = [f"good{n:02d}" for n in range(30)]  # more rows than one parse batch


def _make_db(path: Path) -> None:
    db = sqlite3.connect(path)
    try:
        with db:
            # The id column without a type, as a hand-made table may have it: SQLite then
            # keeps blobs, numbers and NULL as they are.
            db.execute("CREATE TABLE example_items (id PRIMARY KEY, data, created_at, updated_at)")
            for stored, _, _ in ODD_IDS:
                data = '{"id": "odd", "name": "odd"}'
                if stored == b"caf\xe9":
                    db.execute(
                        "INSERT INTO example_items (id, data) VALUES (CAST(? AS TEXT), ?)",
                        (stored, data),
                    )
                else:
                    db.execute("INSERT INTO example_items (id, data) VALUES (?, ?)", (stored, data))
            db.executemany(
                "INSERT INTO example_items (id, data) VALUES (?, ?)",
                [(i, f'{{"id": "{i}", "name": "{i}"}}') for i in GOOD],
            )
            # A creation time that is before year 1 once in UTC, and one that is fine.
            db.execute(
                'INSERT INTO example_items VALUES (\'old\', \'{"id": "old", "name": "o"}\','
                " '0001-01-01 00:00:00+01:00', NULL)"
            )
            db.execute(
                'INSERT INTO example_items VALUES (\'older\', \'{"id": "older", "name": "o"}\','
                " '0001-01-01 00:00:00-01:00', NULL)"
            )
    finally:
        db.close()


async def test_rows_with_odd_ids_are_invalid_and_the_others_read(
    tmp_path: Path, figures: Figures
) -> None:
    figures.cases(FIGURE, len(ODD_IDS) + 1, COMMAND)
    path = tmp_path / "myapp.db"
    _make_db(path)
    before = _stored(path)
    async with SqliteStore(path, "example_items", ExampleItem) as store:
        paged = {e.id: e for e in (await store.page(limit=100)).entries}
        streamed = {e.id: e for e in [e async for e in store.iter_all()]}
        for entries in (paged, streamed):
            assert set(entries) == {shown for _, shown, _ in ODD_IDS} | set(GOOD) | {
                "old",
                "older",
            }
            for _, shown, kind in ODD_IDS:
                entry = entries[shown]
                assert not entry.valid and not entry.addressable, shown
                assert kind in (entry.error or ""), (shown, entry.error)
            # The rows next to them in the same batches are valid records.
            assert all(entries[i].valid and entries[i].addressable for i in GOOD)
            old = entries["old"]
            assert not old.valid and "out of range" in (old.error or "")
            assert old.addressable  # a plain id: it can be fixed in the app
            assert entries["older"].valid  # -01:00 moves it into year 1: fine
        plan = await make_plan(store, _json_target(tmp_path))
        assert sorted(plan.new) == sorted([*GOOD, "older"])
        assert len(plan.invalid) == len(ODD_IDS) + 1
        assert "Traceback" not in "\n".join(plan.summary_lines())
        # An edit of the record with the bad timestamp replaces the value with a good one.
        fixed = ExampleItem.model_validate({**old.raw, "created_at": "2026-01-01T00:00:00Z"})
        await store.upsert(fixed, expect=old.raw)
        assert (await store.get("old")).valid  # type: ignore[union-attr]
    after = _stored(path)
    assert [row for row in after if row[0] != b"old"] == [r for r in before if r[0] != b"old"]


def _json_target(tmp_path: Path) -> Any:
    from tui.stores import JsonStore

    return JsonStore(tmp_path / "out.json", ExampleItem)


def test_cli_lists_and_exports_odd_rows_without_a_traceback(
    tmp_path: Path, figures: Figures
) -> None:
    figures.cases(FIGURE, 3, COMMAND)
    path = tmp_path / "db" / "myapp.db"
    path.parent.mkdir()
    _make_db(path)
    before = _stored(path)
    env = {**os.environ, "NO_COLOR": "1"}
    for args in (["list"], ["export", "--dry-run", "--details"], ["export", "--details"]):
        run = subprocess.run(
            [sys.executable, "-m", "tui", "--data-dir", str(tmp_path), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert run.returncode == 0, (args, run.stdout, run.stderr)
        assert "Traceback" not in run.stderr and "unexpected" not in run.stderr, run.stderr
        assert "x'6162'" in run.stdout, run.stdout
    exported = (tmp_path / "json" / "example_items.json").read_text()
    assert '"good00"' in exported and '"odd"' not in exported
    assert _stored(path) == before


async def test_app_refuses_to_edit_or_delete_a_row_its_id_cannot_reach(
    tmp_path: Path, figures: Figures
) -> None:
    figures.cases(FIGURE, 2, COMMAND)  # an edit and a delete
    path = tmp_path / "db" / "myapp.db"
    path.parent.mkdir()
    _make_db(path)
    before = _stored(path)
    app = BrowserApp(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        _, right = panes(app)
        await pilot.press("tab")
        blob = next(i for i in range(right.table.total) if right.table.entry_at(i).id == "x'6162'")  # type: ignore[union-attr]
        right.table.move_to(blob)
        await wait_for(pilot, lambda: right.current is not None and right.current.id == "x'6162'")
        for key in ("e", "d"):
            app.clear_notifications()
            await pilot.press(key)
            await wait_for(pilot, lambda: bool(app._notifications))
            said = [n.message for n in app._notifications]
            assert any("x'6162'" in m and "sqlite3 shell" in m for m in said), said
            assert not isinstance(app.screen, (RecordForm, ConfirmScreen))
    assert _stored(path) == before


async def test_an_import_never_matches_a_row_by_the_text_shown_for_its_id(
    tmp_path: Path, figures: Figures
) -> None:
    """A JSON record whose id is literally x'6162' is new to a table holding a blob id
    shown that way: the plan does not call it a change of that row, and the import
    leaves the blob row as it is."""
    figures.cases(FIGURE, 1, COMMAND)
    from tui.stores import JsonStore

    path = tmp_path / "myapp.db"
    _make_db(path)
    before = _stored(path)
    source_path = tmp_path / "in.json"
    source_path.write_text('{"x\'6162\'": {"id": "x\'6162\'", "name": "text id"}}\n', "utf-8")
    async with (
        JsonStore(source_path, ExampleItem) as source,
        SqliteStore(path, "example_items", ExampleItem) as target,
    ):
        plan = await make_plan(source, target)
        assert plan.new == ["x'6162'"] and plan.changed == []
        await apply(plan, target)
        written = await target.get("x'6162'")
        assert written is not None and written.raw["name"] == "text id"
    after = _stored(path)
    assert [row for row in after if row[0] != b"x'6162'"] == before
