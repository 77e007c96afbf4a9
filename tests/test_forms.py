"""The record form and the confirmation/message dialogs, driven with Pilot on a tiny host."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import Field
from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widgets import Checkbox, Input, Label

from tui.models import BaseRecord, ExampleItem
from tui.screens.confirm import ConfirmScreen, MessageScreen
from tui.screens.record_form import LiteralInput, RecordForm, split_tags

STYLES = Path(__file__).resolve().parents[1] / "styles" / "forms.tcss"
SIZE = (100, 30)

# Stored values that must show literally: markup, a broken closing tag, escape sequences,
# C1 CSI, NUL, bidi override, newline, tab.
CORPUS = [
    "[@click=app.quit]x[/]",
    "[/]",
    "[bold red]not bold[/bold red]",
    "\x1b[31mred\x1b[0m",
    "csi\x9b2J",
    "nul\x00byte",
    "rtl\u202eevil",
    "two\nlines",
    "tab\there",
]


class Host(App[None]):
    """Pushes one modal screen at start and records what it dismisses with."""

    CSS_PATH = STYLES

    def __init__(self, screen: Screen[Any]) -> None:
        super().__init__()
        self.modal = screen
        self.results: list[Any] = []

    def compose(self) -> ComposeResult:
        yield Label("host")

    def on_mount(self) -> None:
        self.push_screen(self.modal, self.results.append)


def screen_text(app: App[Any]) -> str:
    """Every character the screen would send, line by line (styles left out)."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


def error_text(screen: Screen[Any], field: str) -> str:
    return str(screen.query_one(f"#error-{field}", Label).content)


def add_form() -> RecordForm:
    return RecordForm(ExampleItem, "Add to JSON store")


RAW = {
    "id": "1b2c3d4e5f60",
    "schema_version": 1,
    "created_at": "2026-11-29T17:55:20.845500Z",
    "updated_at": "2026-11-30T08:00:00.000000Z",
    "name": "Desk lamp",
    "description": "warm light",
    "tags": ["home", "light"],
    "color": "red",
}


# -- RecordForm: add ---------------------------------------------------------------------


async def test_add_returns_record_with_split_tags_and_new_id() -> None:
    app = Host(add_form())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"Desk lamp")
        await pilot.press("tab", *"bright", "tab", *"a, b ,, c")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, RecordForm)
    [record] = app.results
    assert isinstance(record, ExampleItem)
    assert record.name == "Desk lamp"
    assert record.description == "bright"
    assert record.tags == ["a", "b", "c"]
    assert re.fullmatch(r"[0-9a-f]{12}", record.id)


async def test_add_uses_the_id_given() -> None:
    app = Host(add_form())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"Lamp", "tab", "tab", "tab", *"my-id")
        assert app.focused is not None and app.focused.id == "field-id"
        await pilot.press("ctrl+s")
        await pilot.pause()
    [record] = app.results
    assert record.id == "my-id"


async def test_first_field_has_focus_and_footer_shows_keys() -> None:
    app = Host(add_form())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.focused, Input)
        assert app.focused.id == "field-name"
        bindings = {b.binding.id: b.binding for b in app.screen.active_bindings.values()}
        assert bindings["form.save"].key == "ctrl+s"
        assert bindings["form.save"].description == "Save"
        assert bindings["form.cancel"].key == "escape"
        text = screen_text(app)
        assert "^s Save" in text
        assert "esc Cancel" in text
        assert "Add to JSON store" in text


async def test_fields_follow_model_declaration_order() -> None:
    app = Host(add_form())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        ids = [w.id for w in app.screen.query(".form-input")]
        assert ids == ["field-name", "field-description", "field-tags", "field-id"]
        id_input = app.screen.query_one("#field-id", Input)
        assert id_input.placeholder == "leave empty for a new id"


async def test_empty_name_shows_error_and_stays_open() -> None:
    app = Host(add_form())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, RecordForm)
        assert "required: cannot be empty" in error_text(app.screen, "name")
        assert "required: cannot be empty" in screen_text(app)
        assert app.results == []
        # Fixing the field and saving again works; the error went away while typing.
        await pilot.press(*"ok")
        await pilot.pause()
        assert error_text(app.screen, "name") == ""
        await pilot.press("ctrl+s")
        await pilot.pause()
    [record] = app.results
    assert record.name == "ok"


async def test_save_button_validates_too() -> None:
    app = Host(add_form())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.click("#form-save")
        await pilot.pause()
        assert isinstance(app.screen, RecordForm)
        assert "required: cannot be empty" in error_text(app.screen, "name")
        await pilot.click("#form-cancel")
        await pilot.pause()
    assert app.results == [None]


async def test_escape_cancels() -> None:
    app = Host(add_form())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"half typed", "escape")
        await pilot.pause()
        assert not isinstance(app.screen, RecordForm)
    assert app.results == [None]


async def test_small_terminal_scrolls_fields_and_keeps_buttons_visible() -> None:
    app = Host(add_form())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        dialog = screen.query_one("#dialog").region
        assert dialog.bottom <= 23  # above the footer
        for button in ("#form-save", "#form-cancel"):
            assert dialog.contains_region(screen.query_one(button).region)
        await pilot.press("tab", "tab", "tab")
        await pilot.pause()
        fields = screen.query_one("#form-fields").region
        assert fields.contains_region(screen.query_one("#field-id").region)


# -- RecordForm: edit --------------------------------------------------------------------


async def test_edit_keeps_unknown_fields_id_and_created_at() -> None:
    app = Host(RecordForm(ExampleItem, "Edit in SQLite store", RAW))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        name = app.screen.query_one("#field-name", Input)
        assert name.value == "Desk lamp"
        assert app.screen.query_one("#field-tags", Input).value == "home, light"
        text = screen_text(app)
        assert "1b2c3d4e5f60" in text and "2026-11-29T17:55:20.845500Z" in text
        assert not app.screen.query("#field-id")  # no id input when editing
        await pilot.press("end", *["backspace"] * len("lamp"), *"chair")
        await pilot.press("ctrl+s")
        await pilot.pause()
    [record] = app.results
    assert isinstance(record, ExampleItem)
    assert record.name == "Desk chair"
    assert record.id == "1b2c3d4e5f60"
    assert record.created_at == datetime(2026, 11, 29, 17, 55, 20, 845500, tzinfo=UTC)
    assert record.tags == ["home", "light"]
    assert record.description == "warm light"
    assert record.model_extra == {"color": "red"}
    assert record.to_raw()["color"] == "red"


async def test_edit_error_on_field_without_input_goes_to_general_line() -> None:
    raw = {**RAW, "created_at": "not a time"}
    app = Host(RecordForm(ExampleItem, "Edit in JSON store", raw))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, RecordForm)
        general = str(app.screen.query_one("#form-general-error", Label).content)
        assert general.startswith("created_at: ")
    assert app.results == []


async def test_control_characters_stay_in_the_value() -> None:
    raw = {**RAW, "description": "a\x1bb"}
    app = Host(RecordForm(ExampleItem, "Edit in JSON store", raw))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("tab", "end", "c", "ctrl+s")
        await pilot.pause()
    [record] = app.results
    assert record.description == "a\x1bbc"


@pytest.mark.parametrize("value", CORPUS)
async def test_corpus_in_initial_values_renders_literally(value: str) -> None:
    raw = {**RAW, "id": value, "name": value, "description": value, "tags": [value]}
    title = f"Edit {value}"
    app = Host(RecordForm(ExampleItem, title, raw))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert screen.query_one("#field-name", Input).value == value  # the real data
        text = screen_text(app)
        for char in "\x1b\x9b\x00\u202e":
            assert char not in text  # no control character reaches the terminal
        shown = value.replace("\x1b", "␛").replace("\x00", "␀").replace("\t", "␉")
        shown = shown.replace("\n", "␊")
        if value.isprintable():
            assert value in screen.query_one("#field-name", LiteralInput).render_line(0).text
            assert value in text
        elif "\x9b" not in value and "\u202e" not in value:
            assert shown in text
        # Click on the value, the title and the info line: nothing runs, nothing closes.
        for selector in ("#field-name", "#form-title", "#form-info", "#field-description"):
            await pilot.click(selector, offset=(3, 0))
            await pilot.click(selector, offset=(5, 1))
        await pilot.pause()
        assert app._running and not app._exit
        assert isinstance(app.screen, RecordForm)
        await pilot.press("ctrl+s")
        await pilot.pause()
    [record] = app.results
    assert record.name == value


async def test_corpus_error_message_is_literal() -> None:
    class Picky(BaseRecord):
        name: str = Field(pattern="^[a-z]+$")

    app = Host(RecordForm(Picky, "[b]Add[/b] to JSON store"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"[/]", "ctrl+s")
        await pilot.pause()
        assert "[b]Add[/b] to JSON store" in screen_text(app)
        assert "^[a-z]+$" in error_text(app.screen, "name")
        assert app.results == []


# -- RecordForm: other field kinds -------------------------------------------------------


class Gadget(BaseRecord):
    label: str
    count: int = 3
    price: float | None = None
    active: bool = True
    meta: dict[str, Any] = Field(default_factory=dict)


async def test_generated_inputs_for_numbers_bools_and_json() -> None:
    app = Host(RecordForm(Gadget, "Add to SQLite store"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert screen.query_one("#field-count", Input).type == "integer"
        assert screen.query_one("#field-count", Input).value == "3"
        assert screen.query_one("#field-price", Input).type == "number"
        assert screen.query_one("#field-active", Checkbox).value is True
        assert screen.query_one("#field-meta", Input).value == "{}"
        await pilot.press(*"g", "tab", "backspace", *"12", "tab", *"2.5", "tab", "space")
        await pilot.press("tab")
        meta = screen.query_one("#field-meta", Input)
        assert app.focused is meta
        meta.value = "{not json"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert error_text(screen, "meta").startswith("Not valid JSON")
        assert app.results == []
        meta.value = '{"k": [1, 2]}'
        await pilot.press("ctrl+s")
        await pilot.pause()
    [record] = app.results
    assert isinstance(record, Gadget)
    assert (record.label, record.count, record.price, record.active) == ("g", 12, 2.5, False)
    assert record.meta == {"k": [1, 2]}


def test_split_tags() -> None:
    assert split_tags("a, b ,, c") == ["a", "b", "c"]
    assert split_tags("") == []
    assert split_tags(" , ") == []


# -- ConfirmScreen -----------------------------------------------------------------------


def confirm(lines: list[str] | None = None, danger: bool = False) -> ConfirmScreen:
    return ConfirmScreen(
        "Delete record 'Desk lamp' (1b2c3d4e5f60) from the JSON store?",
        lines or [],
        confirm_label="Delete",
        danger=danger,
    )


@pytest.mark.parametrize(("key", "answer"), [("y", True), ("enter", True), ("n", False)])
async def test_confirm_keys(key: str, answer: bool) -> None:
    app = Host(confirm())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(key)
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
    assert app.results == [answer]


async def test_confirm_escape_cancels() -> None:
    app = Host(confirm(danger=True))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("escape")
        await pilot.pause()
    assert app.results == [False]


@pytest.mark.parametrize(("button", "answer"), [("#confirm-yes", True), ("#confirm-no", False)])
async def test_confirm_buttons(button: str, answer: bool) -> None:
    app = Host(confirm())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.click(button)
        await pilot.pause()
    assert app.results == [answer]


async def test_confirm_footer_and_bindings() -> None:
    app = Host(confirm())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        bindings = {b.binding.id: b.binding for b in app.screen.active_bindings.values()}
        assert bindings["confirm.yes"].description == "Confirm"
        assert bindings["confirm.no"].description == "Cancel"
        text = screen_text(app)
        assert "Delete record 'Desk lamp' (1b2c3d4e5f60) from the JSON store?" in text
        assert "y/⏎ Confirm" in text and "n/esc Cancel" in text


async def test_confirm_lines_render_literally_and_clicks_do_nothing() -> None:
    lines = [
        "3 new ([/], [@click=app.quit]x[/])",
        "[@click=app.quit]x[/]",
        "[/]",
        "esc \x1b[2J and csi \x9b2J",
    ]
    app = Host(ConfirmScreen("Import [b]plan[/b]", lines, confirm_label="[/]Import"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "Import [b]plan[/b]" in text
        assert "3 new ([/], [@click=app.quit]x[/])" in text
        assert "[@click=app.quit]x[/]" in text
        assert "[/]Import" in text
        assert "esc ␛[2J and csi \\x9b2J" in text
        assert "\x1b" not in text and "\x9b" not in text
        for label in app.screen.query(".dialog-line"):
            await pilot.click(label, offset=(2, 0))
            await pilot.click(label, offset=(4, 0))
        await pilot.pause()
        assert app._running and not app._exit
        assert isinstance(app.screen, ConfirmScreen)
        assert app.results == []
        await pilot.press("n")
        await pilot.pause()
    assert app.results == [False]


async def test_confirm_shows_transfer_plan_lines() -> None:
    from tui.transfer import Plan

    plan = Plan("SQLite", "JSON", new=["a", "b"], changed=["c"], kept=["d"])
    app = Host(ConfirmScreen("Export: SQLite -> JSON", plan.summary_lines(), "Export"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        for line in plan.summary_lines():
            assert line in text
        await pilot.press("enter")
        await pilot.pause()
    assert app.results == [True]


# -- MessageScreen -----------------------------------------------------------------------


@pytest.mark.parametrize("key", ["enter", "escape", "x", "space"])
async def test_message_any_key_closes(key: str) -> None:
    app = Host(MessageScreen("Nothing to copy", ["[/] is already there"]))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "Nothing to copy" in text and "[/] is already there" in text
        await pilot.press(key)
        await pilot.pause()
        assert not isinstance(app.screen, MessageScreen)
    assert app.results == [None]
