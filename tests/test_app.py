"""The browser driven by its keys (Pilot): every flow of the interaction contract."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import orjson
import pytest

from tests.app_helpers import (
    SIZE,
    FileState,
    db_path,
    json_path,
    panes,
    type_text,
    visible_rows,
    wait_detail,
    wait_for,
    wait_loaded,
)
from tui.app import BrowserApp
from tui.sample import JSON_RECORDS, SQLITE_RECORDS, seed_if_empty
from tui.screens.confirm import ConfirmScreen
from tui.screens.record_form import RecordForm


@pytest.fixture
async def seeded(tmp_path: Path) -> Path:
    assert await seed_if_empty(tmp_path)
    return tmp_path


def json_records(data_dir: Path) -> dict[str, dict[str, object]]:
    data = json.loads(json_path(data_dir).read_text("utf-8"))
    assert isinstance(data, dict)
    return data


def sqlite_records(data_dir: Path) -> dict[str, dict[str, object]]:
    with sqlite3.connect(db_path(data_dir)) as db:
        rows = db.execute("SELECT id, data FROM example_items").fetchall()
    db.close()
    return {row[0]: json.loads(row[1]) for row in rows}


async def test_start_shows_both_stores_with_json_focused(seeded: Path) -> None:
    app = BrowserApp(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        left, right = panes(app)
        assert "JSON" in str(left.border_title) and "12 records" in str(left.border_title)
        assert "SQLite" in str(right.border_title) and "example_items" in str(right.border_title)
        assert app.focused is left.table
        assert left.has_class("active") and not right.has_class("active")
        assert left.table.total == len(JSON_RECORDS)
        assert right.table.total == len(SQLITE_RECORDS)
        await pilot.press("tab")
        assert app.focused is right.table and right.has_class("active")
        await pilot.press("shift+tab")
        assert app.focused is left.table


@pytest.mark.parametrize("side", ["json", "sqlite"])
async def test_add_writes_only_to_the_focused_store(seeded: Path, side: str) -> None:
    other = db_path(seeded) if side == "json" else json_path(seeded)
    before = FileState.of(other)
    app = BrowserApp(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        if side == "sqlite":
            await pilot.press("tab")
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, RecordForm))
        await type_text(pilot, "Added by test")
        await pilot.press("tab")
        await type_text(pilot, "about it")
        await pilot.press("tab")
        await type_text(pilot, "one, two")
        await pilot.press("ctrl+s")
        pane = panes(app)[0 if side == "json" else 1]
        await wait_for(
            pilot, lambda: pane.current is not None and pane.current.raw["name"] == "Added by test"
        )
        records = json_records(seeded) if side == "json" else sqlite_records(seeded)
        saved = [r for r in records.values() if r["name"] == "Added by test"]
        assert len(saved) == 1
        assert saved[0]["description"] == "about it" and saved[0]["tags"] == ["one", "two"]
        assert pane.table.total == 13
    assert FileState.of(other) == before  # not even rewritten with the same bytes


async def test_validation_error_keeps_form_open_and_writes_nothing(seeded: Path) -> None:
    before = (FileState.of(json_path(seeded)), FileState.of(db_path(seeded)))
    app = BrowserApp(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, RecordForm))
        form = app.screen
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: bool(form.query(".-has-error")))  # the form said why
        assert app.screen is form
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, RecordForm))
    assert (FileState.of(json_path(seeded)), FileState.of(db_path(seeded))) == before


@pytest.mark.parametrize("key", ["e", "enter"])
async def test_edit_keeps_unknown_fields_and_created_at(seeded: Path, key: str) -> None:
    before_db = FileState.of(db_path(seeded))
    app = BrowserApp(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        left, _ = panes(app)
        position = await left.store.position(left.query_state, "718293a4b5c6")  # battery_mah
        assert position is not None
        left.table.move_to(position)
        await pilot.pause()
        await pilot.press(key)
        await wait_for(pilot, lambda: isinstance(app.screen, RecordForm))
        await pilot.press("end", "space", "X")
        await pilot.press("ctrl+s")
        await wait_for(
            pilot, lambda: left.current is not None and left.current.raw["name"] == "Bike light X"
        )
    record = json_records(seeded)["718293a4b5c6"]
    assert record["name"] == "Bike light X"
    assert record["battery_mah"] == 2000
    assert record["created_at"] == "2026-11-08T09:08:00.000000Z"
    assert record["updated_at"] != record["created_at"]
    assert FileState.of(db_path(seeded)) == before_db


async def test_delete_asks_first_and_cancel_keeps_the_record(seeded: Path) -> None:
    app = BrowserApp(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await pilot.press("tab")
        _, right = panes(app)
        target = right.current
        assert target is not None
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await pilot.pause(0.2)
        assert target.id in sqlite_records(seeded)
        before_json = FileState.of(json_path(seeded))
        await pilot.press("delete")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: right.table.total == len(SQLITE_RECORDS) - 1)
        assert target.id not in sqlite_records(seeded)
        assert FileState.of(json_path(seeded)) == before_json


async def test_export_confirmed_copies_and_cancel_writes_nothing(seeded: Path) -> None:
    app = BrowserApp(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        before = FileState.of(json_path(seeded))
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert FileState.of(json_path(seeded)) == before
        db_before = FileState.of(db_path(seeded))
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        left, _ = panes(app)
        expected = len({r["id"] for r in JSON_RECORDS} | {r["id"] for r in SQLITE_RECORDS})
        await wait_for(pilot, lambda: left.table.total == expected)
        assert FileState.of(db_path(seeded)).data == db_before.data
    exported = json_records(seeded)
    for record in SQLITE_RECORDS:
        assert exported[record["id"]] == record  # copied exactly, timestamps included


async def test_export_started_twice_at_once_asks_once_and_cancels_nothing(seeded: Path) -> None:
    """Two starts before the first transfer got going (a double press: the first has not
    reached its cancel token yet) make one question and no "cancelled" notice. (Keys
    pressed through Pilot wait for idle in between, by when the dialog is up, so the two
    actions are called back to back.)"""
    app = BrowserApp(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        app.browser.action_export()
        app.browser.action_export()
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.pause(0.2)
        assert len([s for s in app.screen_stack if isinstance(s, ConfirmScreen)]) == 1
        messages = [str(n.message) for n in app._notifications]
        assert not any("cancelled" in m for m in messages), messages
        await pilot.press("y")
        left, _ = panes(app)
        expected = len({r["id"] for r in JSON_RECORDS} | {r["id"] for r in SQLITE_RECORDS})
        await wait_for(pilot, lambda: left.table.total == expected)
        assert not isinstance(app.screen, ConfirmScreen)  # asked once
        assert not app.browser.transfer_running


async def test_import_then_nothing_left_to_copy(seeded: Path) -> None:
    app = BrowserApp(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("enter")
        _, right = panes(app)
        expected = len({r["id"] for r in JSON_RECORDS} | {r["id"] for r in SQLITE_RECORDS})
        await wait_for(pilot, lambda: right.table.total == expected)
        before = FileState.of(db_path(seeded))
        await pilot.press("i")
        await wait_for(
            pilot, lambda: any("Nothing to import" in n.message for n in app._notifications)
        )
        assert not isinstance(app.screen, ConfirmScreen)  # nothing to copy: no question
        assert FileState.of(db_path(seeded)).data == before.data
    imported = sqlite_records(seeded)
    for record in JSON_RECORDS:
        assert imported[record["id"]] == record


async def test_filter_shows_n_of_m_and_escape_clears(seeded: Path) -> None:
    app = BrowserApp(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        left, _ = panes(app)
        await pilot.press("slash")
        await type_text(pilot, "KITCHEN")
        await wait_for(pilot, lambda: left.table.total == 3)
        assert "3 of 12" in str(left.border_title)
        await pilot.press("enter")  # back to the table, filter kept
        assert app.focused is left.table
        await pilot.press("escape")
        await wait_for(pilot, lambda: left.table.total == 12)
        assert "· 12 records ·" in str(left.border_title)


async def test_sort_cycles_columns_with_a_marker(seeded: Path) -> None:
    app = BrowserApp(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        left, _ = panes(app)
        total = left.table.total
        await pilot.press("s")
        # The table's sort key is set at once; the rows come with the requery: wait for
        # the shown query and every row of it.
        await wait_for(
            pilot,
            lambda: (
                left.shown_query.sort == "name"
                and not left.shown_query.descending
                and left.table.total == total
                and all(left.table.entry_at(i) is not None for i in range(total))
            ),
        )
        await wait_for(pilot, lambda: "name ▲" in visible_rows(left)[0])
        names = [left.table.entry_at(i).raw["name"] for i in range(left.table.total)]  # type: ignore[union-attr]
        assert names == sorted(names)
        await pilot.press("S")
        await wait_for(
            pilot,
            lambda: (
                left.shown_query.sort == "name"
                and left.shown_query.descending
                and left.table.total == total
                and all(left.table.entry_at(i) is not None for i in range(total))
            ),
        )
        await wait_for(pilot, lambda: "name ▼" in visible_rows(left)[0])
        names = [left.table.entry_at(i).raw["name"] for i in range(left.table.total)]  # type: ignore[union-attr]
        assert names == sorted(names, reverse=True)


async def test_raw_view_opens_at_the_selected_record_and_escape_returns(seeded: Path) -> None:
    from tui.screens.raw_screen import RawFileScreen

    app = BrowserApp(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        left, _ = panes(app)
        left.table.move_to(5)
        await pilot.pause()
        selected = left.current
        assert selected is not None
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, RawFileScreen))
        screen = app.screen
        assert isinstance(screen, RawFileScreen)
        assert screen.record_id == selected.id
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, RawFileScreen))


async def test_outside_change_is_picked_up_and_cursor_stays(seeded: Path) -> None:
    app = BrowserApp(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        left, right = panes(app)
        left.table.move_to(3)
        await pilot.pause()
        keep = left.current
        assert keep is not None
        data = json_records(seeded)
        data = {
            "000000000000": {**JSON_RECORDS[1], "id": "000000000000", "name": "Outside"},
            **data,
        }
        json_path(seeded).write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
        with sqlite3.connect(db_path(seeded)) as db:
            db.execute("DELETE FROM example_items WHERE id = ?", (SQLITE_RECORDS[-1]["id"],))
        db.close()
        await wait_for(pilot, lambda: left.table.total == 13, timeout=15)
        await wait_for(pilot, lambda: left.current is not None and left.current.id == keep.id)
        await wait_for(pilot, lambda: right.table.total == 11, timeout=15)


async def test_malformed_json_is_an_error_state_and_r_recovers(seeded: Path) -> None:
    path = json_path(seeded)
    path.write_bytes(b'{\n  "a": {"id": "a", "name": "x"},\n  oops\n}\n')
    before = FileState.of(path)
    app = BrowserApp(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        left, right = panes(app)
        assert left.error is not None and ":3:" in str(left.error)
        assert not left.query_one("#error").has_class("hidden")
        assert right.table.total == 12  # the other pane keeps working
        for key in ("a", "x"):
            await pilot.press(key)
            await pilot.pause(0.2)
            assert not isinstance(app.screen, (RecordForm, ConfirmScreen))
        await pilot.press("tab", "a")  # SQLite side still takes records
        await wait_for(pilot, lambda: isinstance(app.screen, RecordForm))
        await pilot.press("escape")
        assert FileState.of(path) == before
        path.write_bytes(b"{}\n")
        await pilot.press("r")
        await wait_for(pilot, lambda: left.error is None)
        assert left.table.total == 0


async def test_not_a_database_keeps_json_pane_working(seeded: Path) -> None:
    db = db_path(seeded)
    db.write_bytes(b"this is not sqlite" * 100)
    for extra in (Path(f"{db}-wal"), Path(f"{db}-shm")):
        extra.unlink(missing_ok=True)
    before = FileState.of(db)
    app = BrowserApp(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        left, right = panes(app)
        assert right.error is not None and "not a SQLite database" in str(right.error)
        assert left.table.total == 12
        await pilot.press("i")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, ConfirmScreen)
    assert FileState.of(db) == before


HOSTILE = [
    "[@click=app.quit]x[/]",
    "[/]",
    "[bold]not bold[/bold]",
    "\x1b[31mred\x1b[0m",
    "csi\x9b31m",
    "nul\x00byte",
    "bidi\u202eevil",
    "two\nlines",
    "[link=https://example.com]link[/link]",
]


async def test_hostile_values_are_shown_literally_and_never_run(tmp_path: Path) -> None:
    from tui.screens.raw_screen import RawFileScreen

    records = {}
    for n, value in enumerate(HOSTILE):
        record_id = f"hostile{n:02d}"
        records[record_id] = {
            "id": record_id,
            "name": value,
            "description": value,
            "tags": [value],
            value: value,
        }
    path = json_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(orjson.dumps(records, option=orjson.OPT_INDENT_2) + b"\n")
    app = BrowserApp(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        left, _ = panes(app)
        assert left.table.total == len(HOSTILE)
        for y in range(1, len(HOSTILE) + 1):
            await pilot.click(left.table, offset=(16, y))  # the name cell
            await pilot.pause(0.05)
            assert app.is_running
        rows = "\n".join(visible_rows(left))
        assert "[@click=app." in rows and "[/]" in rows
        assert "\x1b" not in rows and "\x9b" not in rows and "\x00" not in rows
        assert "two↵lines" in rows
        shown = ""
        for y in range(len(HOSTILE)):
            left.table.move_to(y)
            await wait_for(pilot, lambda y=y: left.table.cursor == y)
            shown += await wait_detail(pilot, left)
            await pilot.press("e")
            await wait_for(pilot, lambda: isinstance(app.screen, RecordForm))
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, RecordForm))
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, RawFileScreen))
        raw = app.screen
        assert isinstance(raw, RawFileScreen)
        await wait_for(pilot, lambda: raw.indexing_done)
        assert raw.error is None
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, RawFileScreen))
        assert app.is_running
    assert "[@click=app.quit]x[/]" in shown and "[link=https://example.com]link[/link]" in shown
    assert "\x1b" not in shown and "\x9b" not in shown and "\u202e" not in shown


async def test_command_palette_lists_every_action(seeded: Path) -> None:
    app = BrowserApp(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        titles = {command.title for command in app.get_system_commands(app.screen)}
        for wanted in ("Add", "Edit", "Delete", "Export", "Import", "Filter", "Sort", "Reload"):
            assert wanted in titles
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "CommandPalette")
        await pilot.press("escape")


async def test_keys_help_and_quit(seeded: Path) -> None:
    app = BrowserApp(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: bool(app.screen.query("HelpPanel")))
        await pilot.press("f1")
        await wait_for(pilot, lambda: not app.screen.query("HelpPanel"))
        await pilot.press("q")
        await pilot.pause(0.2)
    assert app.return_code == 0


async def test_every_binding_has_an_id_and_description() -> None:
    from tui.app import BrowserScreen

    for binding in BrowserScreen.BINDINGS:
        assert not isinstance(binding, tuple)
        assert binding.id and binding.description  # type: ignore[union-attr]


async def test_export_into_malformed_json_is_refused(seeded: Path) -> None:
    path = json_path(seeded)
    path.write_bytes(b"[1, 2]\n")
    before = FileState.of(path)
    app = BrowserApp(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await pilot.press("x")
        await wait_for(pilot, lambda: any("Cannot export" in n.message for n in app._notifications))
        assert not isinstance(app.screen, ConfirmScreen)
    await asyncio.sleep(0)
    assert FileState.of(path) == before


async def test_a_pane_that_cannot_read_its_store_still_takes_the_focus(seeded: Path) -> None:
    """Tab reaches the JSON pane while it shows why its file cannot be read (its table is
    hidden), so the keys act on that pane and refuse clearly; once the file is fixed and
    reloaded, the focus is on its table again."""
    path = json_path(seeded)
    good = path.read_bytes()
    path.write_bytes(b"[1, 2]\n")
    app = BrowserApp(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        left, right = panes(app)
        assert left.error is not None
        error_box = left.query_one("#error")
        await wait_for(pilot, lambda: app.focused is error_box)  # not a hidden table
        await pilot.press("tab")
        assert app.focused is right.table
        await pilot.press("tab")
        assert app.focused is error_box
        assert app.browser.focused_pane is left
        await pilot.press("a")
        await wait_for(
            pilot, lambda: any("Cannot add" in str(n.message) for n in app._notifications)
        )
        assert not isinstance(app.screen, RecordForm)
        await pilot.press("escape")  # clears the filter: the focus stays where it is
        assert app.focused is error_box
        await pilot.press("slash", "escape")
        assert app.focused is error_box
        path.write_bytes(good)
        await pilot.press("r")
        await wait_for(pilot, lambda: left.error is None and left.table.total > 0)
        await wait_for(pilot, lambda: app.focused is left.table)


async def test_transfer_buttons_work_by_mouse(seeded: Path) -> None:
    app = BrowserApp(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await pilot.click("#import")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Import JSON → SQLite" in str(app.screen.query_one("#confirm-title").render())
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        await pilot.click("#export")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Export SQLite → JSON" in str(app.screen.query_one("#confirm-title").render())
        await pilot.press("escape")


async def test_editing_a_record_whose_id_field_points_elsewhere_keeps_the_other(
    tmp_path: Path,
) -> None:
    path = json_path(tmp_path)
    path.parent.mkdir(parents=True)
    stray = {"id": "xyz", "name": "stray copy"}
    real = {"id": "xyz", "name": "the real xyz", "description": "keep me"}
    path.write_bytes(orjson.dumps({"abc": stray, "xyz": real}, option=orjson.OPT_INDENT_2))
    app = BrowserApp(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        left, _ = panes(app)
        assert left.current is not None and left.current.id == "abc"
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, RecordForm))
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, RecordForm))
        await pilot.pause(0.3)
    records = json_records(tmp_path)
    assert records["xyz"] == real
    assert records["abc"]["id"] == "abc" and records["abc"]["name"] == "stray copy"


async def test_adding_an_existing_id_is_refused(seeded: Path) -> None:
    before = FileState.of(json_path(seeded))
    app = BrowserApp(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, RecordForm))
        await type_text(pilot, "new thing")
        await pilot.press("tab", "tab", "tab")
        await type_text(pilot, "1b2c3d4e5f60")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: any("Not added" in n.message for n in app._notifications))
    assert FileState.of(json_path(seeded)) == before


async def test_cursor_survives_an_editor_that_writes_the_file_in_two_steps(seeded: Path) -> None:
    app = BrowserApp(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        left, _ = panes(app)
        left.table.move_to(4)
        await pilot.pause()
        keep = left.current
        assert keep is not None
        whole = json_path(seeded).read_bytes()
        json_path(seeded).write_bytes(whole[: len(whole) // 2])  # caught mid-save
        await wait_for(pilot, lambda: left.error is not None)
        json_path(seeded).write_bytes(whole + b"\n")
        await wait_for(pilot, lambda: left.error is None and left.current is not None)
        assert left.current is not None and left.current.id == keep.id
