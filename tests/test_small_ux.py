"""Small things a user meets: Esc closes the key help; an export from an empty store
says the source is empty."""

from __future__ import annotations

from pathlib import Path

from tests.app_helpers import SIZE, seeded_app, wait_for, wait_loaded
from tui.app import BrowserApp


async def test_escape_closes_the_key_help(tmp_path: Path) -> None:
    async with seeded_app(tmp_path) as (app, pilot):
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: bool(app.screen.query("HelpPanel")))
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.screen.query("HelpPanel"))


async def test_an_export_from_an_empty_store_says_so(tmp_path: Path) -> None:
    app = BrowserApp(tmp_path)  # nothing seeded: both stores empty
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await pilot.press("x")
        said = "Nothing to export: the SQLite store has no records"
        await wait_for(pilot, lambda: any(n.message == said for n in app._notifications))
