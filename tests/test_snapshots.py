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

from tests.app_helpers import type_text, wait_for, wait_loaded
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


def test_main_screen(app: BrowserApp, snap_compare: Any) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        await wait_loaded(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_main_screen_light_theme(app: BrowserApp, snap_compare: Any) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        pilot.app.theme = "textual-light"
        await wait_loaded(pilot)
        await pilot.press("tab", "down", "down")

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
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=SIZE, run_before=confirm)


def test_raw_view(app: BrowserApp, snap_compare: Any) -> None:
    async def raw(pilot: Pilot[Any]) -> None:
        from tui.screens.raw_screen import RawFileScreen

        await wait_loaded(pilot)
        await pilot.press("down", "down", "down", "v")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, RawFileScreen))
        await pilot.pause(0.5)

    assert snap_compare(app, terminal_size=SIZE, run_before=raw)


def test_malformed_file_state(tmp_path: Path, app: BrowserApp, snap_compare: Any) -> None:
    (tmp_path / "data" / "json" / "example_items.json").write_text(
        '{\n  "1b2c3d4e5f60": {"id": "1b2c3d4e5f60", "name": "Desk lamp",}\n}\n'
    )

    async def ready(pilot: Pilot[Any]) -> None:
        await wait_loaded(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)
