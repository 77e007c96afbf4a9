"""SVG snapshots of the screens people see, at 100x30.

The stores live in ``./data`` under a temp working directory so the paths in the pane
titles are the same on every machine. Update with ``pytest --snapshot-update``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from tests.app_helpers import panes, type_text, wait_detail, wait_for, wait_loaded
from tui.app import BrowserApp
from tui.sample import seed_if_empty
from tui.screens.confirm import ConfirmScreen
from tui.screens.record_form import RecordForm

SIZE = (100, 30)


def steady_cursors(pilot: Pilot[Any]) -> None:
    """Stop cursors blinking: a blink half a second in would otherwise decide the picture.

    A slow machine that takes the screenshot more than 0.5 s after the last focus change
    draws the focused input without its cursor.
    """
    for widget in pilot.app.screen.query("Input, TextArea"):
        assert isinstance(widget, Input | TextArea)
        widget.cursor_blink = False


@pytest.fixture
async def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BrowserApp:
    monkeypatch.chdir(tmp_path)
    await seed_if_empty(Path("data"))
    return BrowserApp(Path("data"))


async def details_shown(pilot: Pilot[Any]) -> None:
    """Each readable pane's detail panel shows its selected record (it renders only
    after a refresh)."""
    assert isinstance(pilot.app, BrowserApp)
    for pane in panes(pilot.app):
        if pane.error is None:
            await wait_detail(pilot, pane)


def test_main_screen(app: BrowserApp, snap_compare: Any) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        await wait_loaded(pilot)
        await details_shown(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_main_screen_light_theme(app: BrowserApp, snap_compare: Any) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        pilot.app.theme = "textual-light"
        await wait_loaded(pilot)
        await pilot.press("tab", "down", "down")
        await wait_for(pilot, lambda: panes(app)[1].table.cursor == 2)
        await details_shown(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_form_with_validation_error(app: BrowserApp, snap_compare: Any) -> None:
    async def invalid(pilot: Pilot[Any]) -> None:
        await wait_loaded(pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, RecordForm))
        await pilot.press("tab")
        await type_text(pilot, "no name given")
        await pilot.press("ctrl+s")
        form = pilot.app.screen
        await wait_for(pilot, lambda: bool(form.query(".-has-error")))
        steady_cursors(pilot)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=invalid)


def test_export_confirmation(app: BrowserApp, snap_compare: Any) -> None:
    async def confirm(pilot: Pilot[Any]) -> None:
        await wait_loaded(pilot)
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen))
        # The list of changes is fitted to the screen after the first refresh.
        details = pilot.app.screen.query_one("#confirm-details")
        await wait_for(pilot, lambda: details.styles.inline.has_rule("max_height"))
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=confirm)


def test_raw_view(app: BrowserApp, snap_compare: Any) -> None:
    async def raw(pilot: Pilot[Any]) -> None:
        from tui.screens.raw_screen import RawFileScreen

        await wait_loaded(pilot)
        await pilot.press("down", "down", "down", "v")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, RawFileScreen))
        screen = pilot.app.screen
        assert isinstance(screen, RawFileScreen)
        # The picture is of the whole file indexed, scrolled to the record's line.
        await wait_for(
            pilot,
            lambda: (
                screen.indexing_done
                and screen.record_line is not None
                and not screen.view._jump_pending
            ),
        )
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=raw)


def test_malformed_file_state(tmp_path: Path, app: BrowserApp, snap_compare: Any) -> None:
    (tmp_path / "data" / "json" / "example_items.json").write_text(
        '{\n  "1b2c3d4e5f60": {"id": "1b2c3d4e5f60", "name": "Desk lamp",}\n}\n'
    )

    async def ready(pilot: Pilot[Any]) -> None:
        await wait_loaded(pilot)
        await details_shown(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)
