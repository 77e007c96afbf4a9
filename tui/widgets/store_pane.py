"""One side of the browser: a store's table, its detail panel, filter and error state.

The pane owns its store. Everything that touches the store runs in a worker; widgets
only render what the workers hand them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, ClassVar

from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Input, Static

from tui.first_rows import FirstRows
from tui.stores import DatabaseError, Entry, JsonStore, Query, SqliteStore, Store, StoreError
from tui.stores.base import SORT_FIELDS, checked_entries
from tui.text import pretty_json, printable
from tui.widgets.keyorder import (
    MOVING_KEYS,
    act_in_turn,
    focus_now,
    hand_on_if_left,
    move_to_other_pane,
)
from tui.widgets.record_table import PAGE_SIZE, RecordTable

# The first rows of a query, read early (None: read them again).
_Head = tuple[Query, list[Entry[Any]] | None]

DISK_CHECK_SECONDS = 1.0
TYPING_PAUSE = 0.2  # a filter runs once typing pauses, not once per keystroke


class DetailPanel(VerticalScroll, can_focus=False):
    """The selected record, pretty-printed as JSON (unknown fields included)."""

    _IDLE: Any = object()  # no render scheduled

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._pending: Any = self._IDLE

    def compose(self) -> ComposeResult:
        yield Static(id="detail-body", markup=False)

    def show(self, entry: Entry[Any] | None) -> None:
        """Show ``entry`` once the screen has refreshed: the table's frame comes first,
        and a key held down highlights only the record it stops on."""
        scheduled = self._pending is not self._IDLE
        self._pending = entry
        if not scheduled:
            self.call_after_refresh(self._render_pending)

    def _render_pending(self) -> None:
        entry, self._pending = self._pending, self._IDLE
        body = self.query_one("#detail-body", Static)
        if entry is None or entry is self._IDLE:
            body.update(Content(""))
            return
        # pygments: loaded once there is a record to show, after the frame with its row
        from textual.highlight import highlight

        code = highlight(pretty_json(entry.raw), language="json")
        if entry.error is None:  # valid (or not validated yet: shown again once it is)
            body.update(code)
        else:
            warning = Content.styled(f"Invalid: {printable(entry.error or '')}", "$text-error bold")
            body.update(Content("\n").join([warning, code]))


class ErrorBox(Static, can_focus=True):
    """Why the store cannot be read, in place of the table. It takes the focus (tab
    reaches a pane in this state), so the keys act on this pane and refuse clearly."""

    def __init__(self, open_filter: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._open_filter = open_filter

    async def on_key(self, event: events.Key) -> None:
        if not hand_on_if_left(self, event):
            await act_in_turn(self, event, self._open_filter)


class FilterBox(Input):
    """The filter's input. Enter, Esc and Tab move the focus as they are handled, and a
    key queued behind them is handed on (see :mod:`tui.widgets.keyorder`)."""

    LEAVING_KEYS: ClassVar[frozenset[str]] = frozenset({"enter", "escape", "tab", "shift+tab"})

    def __init__(self, leave: Callable[[str], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._leave = leave

    async def _on_key(self, event: events.Key) -> None:
        if hand_on_if_left(self, event):
            return
        if event.key in self.LEAVING_KEYS:
            event.stop()
            event.prevent_default()
            self._leave(event.key)
            return
        await super()._on_key(event)


class StorePane(Vertical):
    """A titled pane over one store."""

    def __init__(
        self, store: Store[Any], title: str, *, id: str, first_rows: FirstRows | None = None
    ) -> None:
        super().__init__(id=id)
        self.store = store
        self._first_rows = first_rows
        self.kind_title = title
        self.query_state = Query()  # what the user asked for
        self.shown_query = Query()  # what the table's rows are (may lag a keystroke)
        self.error: StoreError | None = None
        self.matching = 0
        self.total_records = 0
        self.loading_state = True  # until its first load is in: no "0 records" before
        self._id_before_error: str | None = None
        self._keep_pending: str | None = None  # where a load still running was to go
        # (row, id) where the last load put the cursor: the row's page may not be read
        # yet when the next reload asks where the cursor is (a CLI write just after a
        # save), and going by the row number alone would land on another record.
        self._placed: tuple[int, str] | None = None
        self._opened = False
        # A SQLite store's opening and first rows, started while the app still mounts
        # and lays out its widgets (the query runs on the connection's own thread).
        self._early: asyncio.Future[_Head] | None = None

    def compose(self) -> ComposeResult:
        if isinstance(self.store, SqliteStore) and not self._opened and self._early is None:
            self._early = asyncio.ensure_future(self._open_early(self.store, self.query_state))
        yield RecordTable(open_filter=self.open_filter, id="table")
        yield ErrorBox(self.open_filter, id="error", classes="hidden", markup=False)
        yield DetailPanel(id="detail")

    @property
    def table(self) -> RecordTable:
        return self.query_one(RecordTable)

    @property
    def focus_target(self) -> Widget:
        """What takes the focus for this pane: its table, or why it cannot show one."""
        return self.query_one(ErrorBox) if self.error is not None else self.table

    @property
    def current(self) -> Entry[Any] | None:
        return self.table.current

    @property
    def writable(self) -> bool:
        return self._opened and self.error is None

    def on_mount(self) -> None:
        self._update_title()
        if isinstance(self.store, JsonStore):
            # Read after the first frame: a big file's split would hold that frame up
            # (the two share the interpreter), and the app is on screen sooner.
            self.call_after_refresh(self.load)
        else:
            self._show_first_rows()
            self.load()
        self.set_interval(DISK_CHECK_SECONDS, self.check_disk)
        # Ready before anyone presses "/": the keys typed right after it must find it.
        self.call_after_refresh(self._filter_box)

    def _show_first_rows(self) -> None:
        """The rows read while the app started (see tui.first_rows), if they are in: in
        the first frame, not one later; the load that follows replaces them."""
        rows = self._first_rows.take() if self._first_rows is not None else None
        self._first_rows = None
        if rows and self.query_state == Query():
            self.matching = min(len(rows), PAGE_SIZE)  # for now, as _show_head does
            self._show(self.query_state, 0, rows[:PAGE_SIZE])

    async def on_unmount(self) -> None:
        # An open aiosqlite connection is a thread that would keep the process alive.
        self._opened = False
        self.workers.cancel_node(self)  # (a load would go on without the table)
        early, self._early = self._early, None
        if early is not None:  # let the opening finish (a load no longer waits), then close
            await asyncio.wait([early])
            if not early.cancelled():
                early.exception()  # (retrieved: it goes nowhere now)
        await self.store.close()

    async def _open_early(self, store: SqliteStore[Any], query: Query) -> _Head:
        await store.open()  # (its error is the load's)
        if query.filter:
            return query, None
        try:
            # Not validated yet, unless that is free: the rows are drawn first, and the
            # models (pydantic) imported afterwards to validate them (see _check_head).
            return query, await store.head(query, PAGE_SIZE, validate=store.model_imported)
        except StoreError:
            return query, None  # the load asks again, and shows the error

    # -- loading -----------------------------------------------------------------------

    @work(exclusive=True, group="load")
    async def load(self, keep_id: str | None = None, announce: str | None = None) -> None:
        """(Re)read the store and show the page around ``keep_id`` (or the cursor)."""
        self.loading_state = True
        self._update_title()
        head_shown = False
        try:
            if not self._opened:
                early, head = self._early, None
                if early is None:
                    await self.store.open()
                else:
                    # Shielded: a load cancelled meanwhile leaves the opening to the next
                    # load, or to on_unmount.
                    try:
                        head = await asyncio.shield(early)
                    finally:
                        if early.done():
                            self._early = None
                self._opened = True
                if keep_id is None and self.error is None:
                    head_shown = await self._show_head(head)
            elif self.error is not None or (
                self.store.kind == "json" and await self.store.changed_on_disk()
            ):
                # A JSON store already holds what it wrote itself; SQLite answers every
                # query from the file, and reopening it would only pull the connection
                # from under page fetches still in flight.
                await self.store.reload()
            if isinstance(self.store, JsonStore) and self.store.known_load_error is not None:
                raise self.store.known_load_error
            self.total_records = await self.store.count()
            query = self.query_state
            cursor = await self._count_and_place(query, keep_id, self.table.cursor)
        except StoreError as exc:
            self.loading_state = False
            self._show_error(exc)
            return
        finally:
            self.loading_state = False  # also when a newer load cancelled this one
        self._clear_error()
        if keep_id == self._keep_pending:
            self._keep_pending = None  # there now
        if head_shown and self.shown_query == query:
            self.table.set_total(self.matching)  # the rows on screen stay
            self._update_title()
        else:
            self._show(query, cursor)
        self._placed = (self.table.cursor, keep_id) if keep_id is not None else None
        if isinstance(self.store, JsonStore):
            self.watch_check(self.store)  # shown before its check: an error comes later
        if announce:
            self.notify(announce, markup=False)
        if self.query_state != query:  # the filter or sort changed while we loaded
            self.requery(self._current_id())

    @work(exclusive=True, group="check")
    async def watch_check(self, store: JsonStore[Any]) -> None:
        """Show the error if the check of the JSON file just shown rejects it."""
        error = await store.checked(hurry=False)
        if error is not None and self.error is None:
            self._show_error(error)

    async def _show_head(self, head: _Head | None = None) -> bool:
        """On opening a store, show its first rows before counting them: on a big SQLite
        table the count is a scan of it all; a JSON store picks them without sorting
        every id. The title says loading… until the count is in."""
        store, query = self.store, self.query_state
        if (
            not isinstance(store, SqliteStore | JsonStore)
            or query.filter
            or self.table.cursor >= PAGE_SIZE
        ):
            return False
        entries = head[1] if head is not None and head[0] == query else None
        if entries is None:
            entries = await store.head(query, PAGE_SIZE)
        if self.query_state != query:
            return False
        self.matching = len(entries)  # for now: the count corrects it
        self._show(query, self.table.cursor, entries)
        if not all(entry.checked for entry in entries):
            self.call_after_refresh(self._check_head, self.table.generation, entries)
        return True

    def _check_head(self, generation: int, entries: list[Entry[Any]]) -> None:
        """Validate the first rows, drawn before the models were imported, once they are
        on screen (the first time, this imports the models): invalid ones are then shown
        as such, and the detail panel says why."""
        table = self.table
        if table.generation != generation or table.page_rows(0) is not entries:
            return  # other rows (validated) replaced them meanwhile
        table.add_page(generation, 0, checked_entries(self.store.model, entries), table.total)

    def refresh_from_store(self, keep_id: str | None = None, announce: str | None = None) -> None:
        # A load replaces the one still running: one that was to go to a record (just
        # saved) hands that record on, or a reload for a change on disk would lose it.
        if keep_id is not None:
            self._keep_pending = keep_id
        self.load(
            keep_id or self._keep_pending or self._current_id() or self._id_before_error,
            announce,
        )

    def _current_id(self) -> str | None:
        entry = self.table.current
        if entry is not None:
            return entry.id
        placed = self._placed
        return placed[1] if placed is not None and placed[0] == self.table.cursor else None

    @on(RecordTable.PageWanted)
    def _page_wanted(self, event: RecordTable.PageWanted) -> None:
        event.stop()
        self.fetch_page(event.generation, event.page)

    @work(group="pages")
    async def fetch_page(self, generation: int, page: int) -> None:
        if not self.writable:
            return
        try:
            result = await self.store.page(self.shown_query, page * PAGE_SIZE, PAGE_SIZE)
        except StoreError as exc:
            self._show_error(exc)
            return
        self.table.add_page(generation, page, result.entries, result.total)
        if result.total != self.matching:
            self.matching = result.total
            self._update_title()

    async def check_disk(self) -> None:
        """Pick up changes made by other programs (editors, the CLI, other apps)."""
        if not self._opened or self.app.screen is not self.screen:
            return
        try:
            changed = await self.store.changed_on_disk()
        except (OSError, StoreError):
            return
        if changed:
            noun = "file" if self.store.kind == "json" else "database"
            self.refresh_from_store(announce=f"{self.kind_title} {noun} changed on disk; reloaded")

    # -- errors ------------------------------------------------------------------------

    def _show_error(self, exc: StoreError) -> None:
        self.error = exc
        if isinstance(exc, DatabaseError):
            self._opened = False
        # Where the cursor was, for when the store reads again (an editor mid-save).
        self._id_before_error = self._current_id() or self._id_before_error
        self.table.reset(0)
        box = self.query_one("#error", Static)
        box.update(
            Content.assemble(
                (f"Cannot read the {self.kind_title} store\n\n", "bold $text-error"),
                printable(str(exc)),
                "\n\nNothing will be written to it. Fix it and press r to reload.",
            )
        )
        box.remove_class("hidden")
        if self.table.has_focus:
            box.focus()  # not left on a hidden table
        self.table.add_class("hidden")
        self.query_one(DetailPanel).add_class("hidden")
        self._update_title()

    def _clear_error(self) -> None:
        if self.error is None:
            return
        self.error = None
        self._id_before_error = None
        box = self.query_one("#error", ErrorBox)
        box.add_class("hidden")
        self.table.remove_class("hidden")
        if box.has_focus:
            self.table.focus()
        self.query_one(DetailPanel).remove_class("hidden")

    # -- title -------------------------------------------------------------------------

    def _update_title(self) -> None:
        store = self.store
        where = str(store.path)
        if store.kind == "sqlite":
            where += f" [{getattr(store, 'table', '')}]"
        if self.loading_state:
            count = "loading…"
        elif self.error is not None:
            count = "error"
        elif self.query_state.filter:
            count = f"{self.matching} of {self.total_records}"
        else:
            count = f"{self.total_records} records"
        # The count before the path: a narrow pane cuts the title's end, not its start.
        self.border_title = Content(printable(f"{self.kind_title} · {count} · {where}"))
        empty = ""
        if not self.loading_state and self.error is None and self.matching == 0:
            if self.query_state.filter:
                empty = f"No record contains {self.query_state.filter!r}. Esc clears the filter."
            else:
                fill = "x exports SQLite's" if self.store.kind == "json" else "i imports JSON's"
                empty = f"No records yet: a adds one, {fill}."
        self.table.set_empty_text(printable(empty))
        sort = f"sort {self.query_state.sort} {'▼' if self.query_state.descending else '▲'}"
        subtitle = sort
        if self.query_state.filter:
            subtitle = f"filter {self.query_state.filter!r} · " + subtitle
        self.border_subtitle = Content(printable(subtitle))

    # -- filter and sort ---------------------------------------------------------------

    def _filter_box(self) -> Input:
        """The filter box above the table, mounted after the first frame (which does
        without it), or when first opened if that comes sooner."""
        found = self.query("#filter")
        if found:
            return found.first(Input)
        box = FilterBox(
            self._leave_filter,
            placeholder="filter: any value contains…",
            id="filter",
            classes="hidden",
            select_on_focus=False,
        )
        self.mount(box, before=self.table)
        return box

    def open_filter(self) -> None:
        box = self._filter_box()
        box.remove_class("hidden")
        focus_now(box)

    def clear_filter(self) -> None:
        found = self.query("#filter")
        if found:
            box = found.first(Input)
            box.add_class("hidden")
            box.value = ""
        focus_now(self.focus_target)  # not a table hidden behind an error
        if self.query_state.filter:
            self._set_query(Query(self.query_state.sort, self.query_state.descending, ""))

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        state = self.query_state
        self._set_query(Query(state.sort, state.descending, event.value), delay=TYPING_PAUSE)

    def _leave_filter(self, key: str) -> None:
        """Enter keeps the filter and goes to the results; Esc and Tab do what the
        screen's keys do (Esc: cancel a transfer, close the key help, or clear the
        filter; Tab: the other pane)."""
        if key == "enter":
            focus_now(self.focus_target)
            return
        if key in MOVING_KEYS:
            move_to_other_pane(self)
            return
        # At once (run_action would wait a turn): the screen's own action.
        action = getattr(self.screen, "action_escape", None)
        if action is not None:
            action()

    def next_sort(self) -> None:
        state = self.query_state
        index = SORT_FIELDS.index(state.sort) if state.sort in SORT_FIELDS else -1
        column = SORT_FIELDS[(index + 1) % len(SORT_FIELDS)]
        self.sort_by(column)

    def sort_by(self, column: str, descending: bool | None = None) -> None:
        state = self.query_state
        if descending is None:
            descending = not state.descending if column == state.sort else False
        self._set_query(Query(column, descending, state.filter))

    def reverse_sort(self) -> None:
        self.sort_by(self.query_state.sort, not self.query_state.descending)

    @on(RecordTable.HeaderClicked)
    def _header_clicked(self, event: RecordTable.HeaderClicked) -> None:
        event.stop()
        self.sort_by(event.column)

    def _set_query(self, query: Query, delay: float = 0.0) -> None:
        self.query_state = query
        self.table.sort_key = query.sort
        self.table.descending = query.descending
        self.requery(self._current_id(), delay)

    @work(exclusive=True, group="query")  # a new query never cancels a load
    async def requery(self, keep_id: str | None, delay: float = 0.0) -> None:
        """New filter or sort: count and reposition off the UI thread (latest wins)."""
        if delay:
            await asyncio.sleep(delay)  # the next keystroke cancels this worker first
        if not self.writable:
            return
        query = self.query_state
        try:
            cursor = await self._count_and_place(query, keep_id, 0)
        except StoreError as exc:
            self._show_error(exc)
            return
        self._show(query, cursor)

    async def _count_and_place(self, query: Query, keep_id: str | None, default: int) -> int:
        """Count what ``query`` matches; the row ``keep_id`` stands on (else ``default``)."""
        self.matching = await self.store.count(query.filter)
        if keep_id is not None:
            found = await self.store.position(query, keep_id)
            if found is not None:
                return found
        return default

    def _show(self, query: Query, cursor: int, first: list[Entry[Any]] | None = None) -> None:
        """Point the table at ``query``'s rows; pages are fetched for it from now on."""
        # Pages still being read are for the rows shown until now: stop them (a SQLite
        # store interrupts such a read) rather than let them hold up the new ones.
        self.workers.cancel_group(self, "pages")
        self.shown_query = query
        self.table.reset(self.matching, cursor, first)
        self._update_title()

    # -- detail ------------------------------------------------------------------------

    @on(RecordTable.CursorMoved)
    def _cursor_moved(self, event: RecordTable.CursorMoved) -> None:
        event.stop()
        self.query_one(DetailPanel).show(event.entry)
