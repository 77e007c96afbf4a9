"""After a reload that moves the selected record down (an import added records before
it), the table scrolls to where the record is now: the row the detail panel describes is
the highlighted row on screen."""

from __future__ import annotations

from pathlib import Path

from tests.app_helpers import panes, wait_for, wait_loaded
from tui.app import BrowserApp
from tui.sample import seed_if_empty
from tui.screens.confirm import ConfirmScreen


async def test_the_kept_record_is_scrolled_into_view_after_an_import(tmp_path: Path) -> None:
    await seed_if_empty(tmp_path)
    app = BrowserApp(tmp_path)
    async with app.run_test(size=(130, 36)) as pilot:
        await wait_loaded(pilot)
        _, right = panes(app)
        table = right.table
        await pilot.press("tab")
        table.move_to(table.total - 1)  # the last of 12: the import adds 8 before it
        await wait_for(pilot, lambda: right.current is not None)
        assert right.current is not None
        kept = right.current.id
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("enter")
        await wait_for(pilot, lambda: table.total == 20 and table.cursor == 19)
        body = table.size.height - 1  # below the header row
        await wait_for(pilot, lambda: table.scroll_y <= table.cursor < table.scroll_y + body)
        assert right.current is not None and right.current.id == kept
