"""What a transfer will change, record by record and field by field: the lines the
confirmation shows and ``--details`` prints."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from textual.containers import VerticalScroll
from textual.widgets import Static

from tests.app_helpers import FileState, json_path, seeded_app, wait_for
from tests.records import raw_record
from tui import transfer
from tui.config import json_store, sqlite_store
from tui.plan_details import describe, field_changes, iter_lines
from tui.sample import seed_if_empty
from tui.screens.confirm import ConfirmScreen


def test_field_changes_name_each_added_changed_and_dropped_field() -> None:
    before = {"id": "a", "name": "old", "n": 1, "same": {"x": 1, "y": 2}, "gone": [1]}
    after = {"id": "a", "name": "new", "n": 1.0, "same": {"y": 2, "x": 1}, "extra": None}
    texts = [line.text.strip() for line in field_changes(before, after)]
    assert texts == [
        'name: "old" → "new"',
        "n: 1 → 1.0",  # a different JSON value, though == in Python
        "+ extra: null",
        "- gone: [1] (dropped)",
    ]


def test_long_values_are_cut_to_one_short_line() -> None:
    [line] = field_changes({"d": "x"}, {"d": "y" * 500})
    assert len(line.text) < 150 and line.text.endswith("…")


async def _plan(tmp_path: Path, export: bool = True) -> tuple[transfer.Plan, Any, Any]:
    source = sqlite_store(tmp_path) if export else json_store(tmp_path)
    target = json_store(tmp_path) if export else sqlite_store(tmp_path)
    await source.open()
    await target.open()
    return await transfer.make_plan(source, target), source, target


async def test_every_record_of_the_plan_has_its_line(tmp_path: Path) -> None:
    await seed_if_empty(tmp_path)
    db = sqlite3.connect(tmp_path / "db" / "myapp.db")
    with db:
        db.execute("INSERT INTO example_items (id, data) VALUES ('bad', 'not json')")
    db.close()
    plan, source, target = await _plan(tmp_path)
    try:
        lines = [line async for line in iter_lines(plan, target)]
        shown = await describe(plan, target, limit=1000)
        for got in (lines, shown):
            by_kind: dict[str, list[str]] = {}
            for line in got:
                if line.kind not in ("field", "more"):
                    by_kind.setdefault(line.kind, []).append(line.text.split()[2])
            assert sorted(by_kind["new"]) == sorted(plan.new)
            assert sorted(by_kind["changed"]) == sorted(plan.changed)
            assert sorted(by_kind["kept"]) == sorted(plan.kept)
            assert by_kind["invalid"] == ["bad"]
        # The sample's Desk lamp: SQLite's copy overwrites the JSON file's, whose
        # "lighting" tag and longer description go.
        text = "\n".join(line.text for line in shown)
        assert "~ changed  1b2c3d4e5f60  Desk lamp  (overwritten)" in text
        assert 'tags: ["office","lighting"] → ["office"]' in text
        # Sorted by id within each kind, the overwrites first.
        kinds = [line.kind for line in shown if line.kind != "field"]
        assert kinds == sorted(kinds, key=["changed", "new", "kept", "invalid"].index)
        new_ids = [line.text.split()[2] for line in shown if line.kind == "new"]
        assert new_ids == sorted(new_ids)
    finally:
        await source.close()
        await target.close()


async def test_a_limit_shows_the_first_ids_and_counts_the_rest(tmp_path: Path) -> None:
    async with sqlite_store(tmp_path) as source, json_store(tmp_path) as target:
        await source.put_raw_many([raw_record(f"r{n:04d}", f"n{n}") for n in range(2500, 0, -1)])
        await target.put_raw_many([raw_record(f"r{n:04d}", "old") for n in range(1, 11)])
        await target.put_raw_many([raw_record(f"k{n:04d}", "kept") for n in range(30)])
        plan = await transfer.make_plan(source, target)
        shown = await describe(plan, target, limit=5)
    records = [line.text for line in shown if line.kind in ("changed", "new", "kept")]
    assert [r.split()[2] for r in records] == [
        *(f"r{n:04d}" for n in range(1, 6)),  # changed: the first five ids
        *(f"r{n:04d}" for n in range(11, 16)),  # new
        *(f"k{n:04d}" for n in range(5)),  # kept
    ]
    more = [line.text.strip() for line in shown if line.kind == "more"]
    assert more == [
        "… and 5 more changed record(s)",
        "… and 2,485 more new record(s)",
        "… and 25 more record(s) only in the target",
    ]


def test_the_cli_prints_the_details_and_a_dry_run_writes_nothing(tmp_path: Path) -> None:
    import asyncio

    asyncio.run(seed_if_empty(tmp_path))
    before = FileState.of(json_path(tmp_path))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "tui",
            "--data-dir",
            str(tmp_path),
            "export",
            "--dry-run",
            "--details",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert "~ changed  1b2c3d4e5f60  Desk lamp  (overwritten)" in run.stdout
    assert '      tags: ["office","lighting"] → ["office"]' in run.stdout
    assert "+ new      c6d7e8f90a1b  Router" in run.stdout
    assert FileState.of(json_path(tmp_path)) == before


async def test_the_confirmation_lists_the_changes_and_scrolls_by_keys(tmp_path: Path) -> None:
    async with seeded_app(tmp_path, (120, 30)) as (app, pilot):
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        screen = app.screen
        text = str(screen.query_one("#confirm-details-text", Static).render())
        assert 'tags: ["office","lighting"] → ["office"]' in text
        assert "= kept     3d4e5f607182" in text
        scroller = screen.query_one("#confirm-details", VerticalScroll)
        await wait_for(pilot, lambda: scroller.has_focus and scroller.max_scroll_y > 0)
        await pilot.press("pagedown")
        await wait_for(pilot, lambda: scroller.scroll_y > 0)
        await pilot.press("enter")  # still confirms
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        await wait_for(
            pilot,
            lambda: "Router" in json.dumps(json.loads(json_path(tmp_path).read_text("utf-8"))),
        )


async def test_the_confirmation_fits_a_short_terminal(tmp_path: Path) -> None:
    """The counts and the list scroll together: the buttons stay on a 60x16 screen."""
    async with seeded_app(tmp_path, (60, 16)) as (app, pilot):
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        button = app.screen.query_one("#confirm-yes")
        await wait_for(pilot, lambda: button.region.bottom <= 16 - 1)  # above the footer
        scroller = app.screen.query_one("#confirm-details", VerticalScroll)
        await pilot.press("end")
        await wait_for(pilot, lambda: scroller.scroll_y == scroller.max_scroll_y > 0)


async def test_past_the_limit_the_dialog_says_how_to_see_every_record(
    tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setattr("tui.app.DETAIL_LIMIT", 2)
    async with seeded_app(tmp_path, (160, 40)) as (app, pilot):
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        text = str(app.screen.query_one("#confirm-details-text", Static).render())
    assert "… and 6 more new record(s)" in text
    assert f"python -m tui --data-dir {tmp_path} export --dry-run --details" in text


async def test_get_raws_finds_what_exists_in_both_stores(tmp_path: Path) -> None:
    await seed_if_empty(tmp_path)
    for store in (json_store(tmp_path), sqlite_store(tmp_path)):
        async with store:
            ids = [e.id for e in (await store.page()).entries]
            found = await store.get_raws([*ids, "missing"])
            assert set(found) == set(ids)
            for record_id in ids:
                entry = await store.get(record_id)
                assert entry is not None and found[record_id] == entry.raw
