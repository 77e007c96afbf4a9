"""An edit writes what was typed and nothing else: untouched inputs keep their stored
values exactly, and a save refused because the record changed on disk moves the untouched
inputs onto the new version (a second save never writes back what the outside change
replaced)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from textual.widgets import Input

from tests.app_helpers import SIZE, json_path, panes, type_text, wait_for, wait_loaded
from tests.test_forms import Host
from tui.app import BrowserApp
from tui.models import ExampleItem
from tui.sample import seed_if_empty
from tui.screens.record_form import RecordForm

STORED = {
    "id": "r1",
    "schema_version": 1,
    "created_at": "2026-11-29T17:55:20.845500Z",
    "updated_at": "2026-11-30T08:00:00.000000Z",
    "name": "Desk lamp",
    "description": "  two spaces, kept  ",
    "tags": ["a,b", " padded", "", "c"],  # text "a,b,  padded, , c" splits differently
    "extra": {"kept": [1, 2.5, None]},
}


def edit_form(raw: dict[str, Any]) -> RecordForm:
    return RecordForm(ExampleItem, "Edit in JSON store", dict(raw))


async def test_untouched_inputs_keep_their_stored_values_exactly() -> None:
    app = Host(edit_form(STORED))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("end", *" X", "ctrl+s")
        await wait_for(pilot, lambda: bool(app.results))
    [record] = app.results
    dumped = record.model_dump(mode="json")
    assert dumped["name"] == "Desk lamp X"
    assert dumped["tags"] == STORED["tags"]
    assert dumped["description"] == STORED["description"]
    assert dumped["extra"] == STORED["extra"]


async def test_a_typed_field_is_taken_from_its_text() -> None:
    app = Host(edit_form(STORED))
    async with app.run_test(size=(100, 30)) as pilot:
        tags = app.screen.query_one("#field-tags", Input)
        tags.value = "x, y"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: bool(app.results))
    [record] = app.results
    assert record.tags == ["x", "y"] and record.name == "Desk lamp"


async def test_an_invalid_stored_value_is_saved_as_the_text_shown() -> None:
    """Fixing an invalid record: its tags are a string (not a list); the input shows it
    as text, and saving without touching it saves what the input shows."""
    app = Host(edit_form({**STORED, "tags": "red, blue", "name": ""}))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press(*"named", "ctrl+s")
        await wait_for(pilot, lambda: bool(app.results))
    [record] = app.results
    assert record.tags == ["red", "blue"] and record.name == "named"


def _rewrite(data_dir: Path, record_id: str, **fields: Any) -> None:
    path = json_path(data_dir)
    data = json.loads(path.read_text("utf-8"))
    data[record_id].update(fields)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), "utf-8")


async def _edit_first_json_record(pilot: Any, app: BrowserApp) -> tuple[str, RecordForm]:
    await wait_loaded(pilot)
    left, _ = panes(app)
    assert left.current is not None
    record_id = left.current.id
    await pilot.press("e")
    await wait_for(pilot, lambda: isinstance(app.screen, RecordForm))
    form = app.screen
    assert isinstance(form, RecordForm)
    return record_id, form


async def test_a_save_after_an_outside_change_keeps_that_change(tmp_path: Path) -> None:
    """The user types in the name; the description changes on disk; the save is refused,
    the description input now shows the disk's version, and the second save writes the
    new name over the record as changed outside: both changes are in the file."""
    await seed_if_empty(tmp_path)
    app = BrowserApp(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        record_id, form = await _edit_first_json_record(pilot, app)
        await pilot.press("end")
        await type_text(pilot, " EDITED")
        _rewrite(tmp_path, record_id, description="changed by the CLI")
        await pilot.press("ctrl+s")
        description = form.query_one("#field-description", Input)
        await wait_for(pilot, lambda: description.value == "changed by the CLI")
        general = str(form.query_one("#form-general-error").render())
        assert "changed outside the app" in general and "both changed" not in general
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, RecordForm))
    final = json.loads(json_path(tmp_path).read_text("utf-8"))[record_id]
    assert final["name"].endswith(" EDITED")
    assert final["description"] == "changed by the CLI"


async def test_a_field_changed_on_both_sides_is_named_and_the_typing_wins(
    tmp_path: Path,
) -> None:
    await seed_if_empty(tmp_path)
    app = BrowserApp(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        record_id, form = await _edit_first_json_record(pilot, app)
        form.query_one("#field-description", Input).value = "mine"
        _rewrite(tmp_path, record_id, description="theirs", tags=["outside"])
        await pilot.press("ctrl+s")
        general = form.query_one("#form-general-error")
        await wait_for(pilot, lambda: "both changed: description" in str(general.render()))
        assert form.query_one("#field-description", Input).value == "mine"
        assert form.query_one("#field-tags", Input).value == "outside"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, RecordForm))
    final = json.loads(json_path(tmp_path).read_text("utf-8"))[record_id]
    assert final["description"] == "mine" and final["tags"] == ["outside"]


async def test_a_checkbox_shows_a_stored_bool_as_the_model_reads_it() -> None:
    """A stored "false" (a string) is read by the model as False: the box is unchecked,
    and saving untouched keeps what the box shows."""
    from pydantic import Field
    from textual.widgets import Checkbox

    from tui.models import BaseRecord

    class Task(BaseRecord):
        title: str
        done: bool = Field(default=False)

    for stored, shown in (("false", False), ("0", False), ("yes", True), ("maybe", False)):
        raw = {"id": "t", "title": "x", "done": stored}
        app = Host(RecordForm(Task, "Edit in JSON store", raw))
        async with app.run_test(size=(100, 30)) as pilot:
            assert app.screen.query_one("#field-done", Checkbox).value is shown, stored
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: bool(app.results))  # noqa: B023
        [record] = app.results
        assert record.done is shown, stored
