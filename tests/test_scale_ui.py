"""The panes hold a few pages, not the store: memory does not grow with the record count."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.app_helpers import SIZE, panes, wait_for, wait_loaded
from tui.app import BrowserApp
from tui.generate import fill_stores, record_id
from tui.widgets.record_table import MAX_CACHED_PAGES, PAGE_SIZE


@pytest.fixture
async def big(tmp_path: Path) -> Path:
    await fill_stores(tmp_path, 6_000, "both")
    return tmp_path


async def test_sqlite_pane_holds_a_few_pages_however_far_it_scrolls(big: Path) -> None:
    app = BrowserApp(big)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await pilot.press("tab")
        _, right = panes(app)
        table = right.table
        assert table.total == 6_000
        await pilot.press("end")
        await wait_for(pilot, lambda: table.current is not None and table.cursor == 5_999)
        for _ in range(60):
            await pilot.press("pageup")
        await wait_for(pilot, lambda: table.current is not None)
        await pilot.press("home")
        await wait_for(pilot, lambda: table.current is not None and table.cursor == 0)
        for _ in range(80):
            await pilot.press("pagedown")
        await wait_for(pilot, lambda: table.current is not None)
        assert table.cached_rows <= MAX_CACHED_PAGES * PAGE_SIZE
        ids = sorted(record_id(i) for i in range(6_000))
        assert table.current is not None and table.current.id == ids[table.cursor]


async def test_first_and_last_rows_in_every_sort(big: Path) -> None:
    app = BrowserApp(big)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        for pane in panes(app):
            table = pane.table
            for _ in range(2):  # id, then name
                await pilot.press("end")
                await wait_for(pilot, lambda t=table: t.current is not None and t.cursor == 5_999)
                last = table.current
                await pilot.press("home")
                await wait_for(pilot, lambda t=table: t.current is not None and t.cursor == 0)
                first = table.current
                assert first is not None and last is not None
                if table.sort_key == "id":
                    assert first.id < last.id
                else:
                    assert first.raw["name"] <= last.raw["name"]
                await pilot.press("s")
                # The sort key is set at once; wait for the rows of the new sort (the
                # requery's), or end/home would move through the old ones.
                await wait_for(
                    pilot,
                    lambda p=pane, t=table: (
                        p.shown_query.sort != "id" and t.total == 6_000 and t.current is not None
                    ),
                )
            await pilot.press("tab")


async def test_filter_with_no_match_and_unicode(big: Path) -> None:
    app = BrowserApp(big)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        left, _ = panes(app)
        await pilot.press("slash", *"zzqqxx")
        await wait_for(
            pilot, lambda: left.table.total == 0 and "0 of 6000" in str(left.border_title)
        )
        assert left.current is None
        await pilot.press("escape")
        await wait_for(pilot, lambda: left.table.total == 6_000)


async def test_unicode_filter_counts_match_in_both_panes(big: Path) -> None:
    from tui.generate import generate_raw_records
    from tui.stores.ordering import matches_filter

    needle = "rème"
    expected = sum(
        1 for raw in generate_raw_records(6_000) if matches_filter(raw, needle, raw["id"])
    )
    assert expected > 0
    app = BrowserApp(big)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        for pane in panes(app):
            await pilot.press("slash", *needle, "enter")
            await wait_for(
                pilot, lambda p=pane: p.table.total == expected and p.current is not None
            )
            current = pane.current
            assert current is not None and matches_filter(current.raw, needle, current.id)
            await pilot.press("tab")
