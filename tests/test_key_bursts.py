"""Keys that arrive in one burst (a fast typist, a paste, a slow machine) act as if typed
one by one: the letters after "/" go into the filter box, not to the screen's bindings,
and a transfer started as the app quits ends quietly."""

from __future__ import annotations

from pathlib import Path

from textual import events
from textual.widgets import Input

from tests.app_helpers import SIZE, panes, seeded_app, wait_for, wait_loaded
from tui.app import BrowserApp
from tui.sample import seed_if_empty


def _burst(app: BrowserApp, keys: list[str]) -> None:
    """Queue the keys at once, as the driver does for bytes read in one go."""
    for key in keys:
        character = "/" if key == "slash" else key
        app.post_message(events.Key(key, character))


async def test_letters_typed_with_the_slash_go_into_the_filter(tmp_path: Path) -> None:
    async with seeded_app(tmp_path) as (app, pilot):
        left, _ = panes(app)
        await wait_for(pilot, lambda: bool(left.query("#filter")))  # mounted after frame 1
        _burst(app, ["slash", "q", "u", "i", "e", "t"])  # q quits, i imports, e edits
        box = left.query_one("#filter", Input)
        await wait_for(pilot, lambda: box.value == "quiet")
        await wait_for(pilot, lambda: left.shown_query.filter == "quiet")
        _burst(app, ["r"])  # more typing adds to it (nothing was selected on focus)
        await wait_for(pilot, lambda: box.value == "quietr")
        assert app.is_running and app.screen is app.browser
        assert not app._notifications  # no transfer, no reload


async def test_quitting_in_the_same_burst_as_an_import_ends_cleanly(tmp_path: Path) -> None:
    async with seeded_app(tmp_path) as (app, pilot):
        _burst(app, list("quiet"))  # q: quit; i: an import that starts as the app closes
        await pilot.pause(0.5)
    # run_test re-raises a worker's failure (it was a MountError traceback).
    assert app._exception is None


async def test_an_empty_table_says_why_it_is_empty(tmp_path: Path) -> None:
    (tmp_path / "json").mkdir()
    (tmp_path / "json" / "example_items.json").write_text("{}\n")
    app = BrowserApp(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        left, right = panes(app)
        assert "No records yet" in left.table.empty_text and "x exports" in left.table.empty_text
        await pilot.press("a", *"one", "ctrl+s")
        await wait_for(pilot, lambda: left.table.total == 1)
        assert left.table.empty_text == ""
        await pilot.press("slash", *"zzz")
        await wait_for(pilot, lambda: left.shown_query.filter == "zzz" and left.matching == 0)
        await wait_for(pilot, lambda: "No record contains 'zzz'" in left.table.empty_text)
        assert right.table.total == 0 and "i imports" in right.table.empty_text


async def test_enter_esc_and_tab_in_a_burst_act_in_the_order_typed(tmp_path: Path) -> None:
    """Each key behind Enter, Esc or Tab goes where the focus is once that key has acted:
    '/desk<Enter>' keeps the filter, '/desk<Enter>e' then edits, '/ab<Tab>x' exports."""
    from tui.screens.confirm import ConfirmScreen
    from tui.screens.record_form import RecordForm

    def on_table(app: BrowserApp) -> bool:
        return app.focused is panes(app)[0].table

    def editing(app: BrowserApp) -> bool:
        return isinstance(app.screen, RecordForm)

    def exporting(app: BrowserApp) -> bool:
        return isinstance(app.screen, ConfirmScreen)

    await seed_if_empty(tmp_path)
    for keys, done, typed in (
        (["slash", "d", "e", "s", "k", "enter"], on_table, "desk"),
        (["slash", "d", "e", "s", "k", "enter", "e"], editing, "desk"),
        (["slash", "a", "b", "tab", "x"], exporting, "ab"),
    ):
        app = BrowserApp(tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await wait_loaded(pilot)
            left, _ = panes(app)
            await wait_for(pilot, lambda: bool(left.query("#filter")))  # noqa: B023
            _burst(app, keys)
            box = left.query_one("#filter", Input)
            await wait_for(pilot, lambda: box.value == typed and done(app))  # noqa: B023
            await pilot.pause()


async def test_esc_in_a_burst_clears_the_filter_before_the_next_key(tmp_path: Path) -> None:
    async with seeded_app(tmp_path) as (app, pilot):
        left, _ = panes(app)
        await wait_for(pilot, lambda: bool(left.query("#filter")))
        _burst(app, ["slash", "a", "b", "escape", "q"])  # q after Esc: quit, not text
        await pilot.pause(0.5)
    assert not app.is_running and app._exception is None


async def test_keys_before_a_slash_act_before_it(tmp_path: Path) -> None:
    """'/' acts where it stands in the burst: keys before it act on the table first, the
    keys after it go into the box; a '/' typed in the box is text; Tab before '/' means
    the other pane's filter."""
    async with seeded_app(tmp_path) as (app, pilot):
        left, right = panes(app)
        await wait_for(pilot, lambda: bool(left.query("#filter") and right.query("#filter")))
        _burst(app, ["down", "down", "slash", "a", "slash", "b"])
        box = left.query_one("#filter", Input)
        await wait_for(pilot, lambda: box.value == "a/b")
        assert left.table.cursor == 2
        _burst(app, ["escape", "tab", "slash", "x"])
        other = right.query_one("#filter", Input)
        await wait_for(pilot, lambda: other.value == "x" and box.value == "")
        assert app.focused is other


async def test_enter_after_d_does_not_open_the_edit_form(tmp_path: Path) -> None:
    from tui.screens.confirm import ConfirmScreen
    from tui.screens.record_form import RecordForm

    async with seeded_app(tmp_path) as (app, pilot):
        left, _ = panes(app)
        total = left.table.total
        _burst(app, ["d", "enter"])  # Enter confirms the delete the "d" asked about
        await wait_for(pilot, lambda: left.table.total == total - 1)
        assert not any(isinstance(s, (RecordForm, ConfirmScreen)) for s in app.screen_stack)
