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


async def test_a_reload_before_the_rows_are_read_keeps_the_record_not_the_row(
    tmp_path: Path,
) -> None:
    """A CLI write lands right after a save: the reload for it comes before the saved
    record's page is read back. It must go by the record the save put the cursor on, not
    by the row number (a record added before it would take that row)."""
    from tests.records import raw_record

    await seed_if_empty(tmp_path)
    app = BrowserApp(tmp_path)
    async with app.run_test(size=(130, 36)) as pilot:
        await wait_loaded(pilot)
        left, _ = panes(app)
        kept = "b5c6d7e8f90a"  # the last JSON record by id
        left.refresh_from_store(keep_id=kept)
        await wait_for(pilot, lambda: left.current is not None and left.current.id == kept)
        await left.store.put_raw_many([raw_record("000000000000", "before all")])
        left.table.reset(left.table.total, left.table.cursor)  # its page not read yet
        left.refresh_from_store()  # as the disk check does for the outside write
        await wait_for(pilot, lambda: left.table.total == 13)
        await wait_for(pilot, lambda: left.current is not None and left.current.id == kept)
