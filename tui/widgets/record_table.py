"""A table of records that renders only what is visible and asks for pages it lacks.

The table holds no store. When a visible row is missing it posts ``PageWanted``; its
owner fetches that page in a worker and hands it back with ``add_page``. A ``generation``
number ties pages to the query that asked for them, so a page fetched for an old filter
or sort is dropped.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.stores import Entry
from tui.text import cell_text
from tui.widgets.keyorder import act_in_turn, hand_on_if_left

PAGE_SIZE = 100
MAX_CACHED_PAGES = 8  # memory stays flat however big the store is


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    min_width: int
    weight: int  # share of the spare width


# In order of importance: narrow panes keep the first ones.
COLUMNS = (
    Column("id", "id", 12, 0),
    Column("name", "name", 12, 3),
    Column("tags", "tags", 10, 1),
    Column("updated_at", "updated", 19, 0),
    Column("description", "description", 12, 3),
)
DISPLAY_ORDER = ("id", "name", "description", "tags", "updated_at")


def fit(text: str, width: int) -> str:
    """Pad or cut ``text`` to exactly ``width`` terminal cells, marking a cut with …."""
    if cell_len(text) <= width:
        return set_cell_size(text, width)
    return set_cell_size(text, max(width - 1, 0)) + "…" if width > 0 else ""


@lru_cache(maxsize=8)  # asked for on every rendered line; the width rarely changes
def layout_columns(width: int) -> tuple[tuple[Column, int], ...]:
    """Choose the columns that fit ``width`` and share out the spare cells."""
    chosen: list[Column] = []
    used = 0
    for column in COLUMNS:
        need = column.min_width + (1 if chosen else 0)
        if used + need > width and chosen:
            break
        chosen.append(column)
        used += need
    spare = max(width - used, 0)
    weights = sum(c.weight for c in chosen) or 1
    widths = {c.key: c.min_width + spare * c.weight // weights for c in chosen}
    leftover = width - used - sum(spare * c.weight // weights for c in chosen)
    if leftover > 0 and chosen:
        widths[chosen[-1].key if chosen[-1].weight else chosen[1 % len(chosen)].key] += leftover
    ordered = [c for key in DISPLAY_ORDER for c in chosen if c.key == key]
    return tuple((c, widths[c.key]) for c in ordered)


def cell_value(entry: Entry[Any], key: str) -> str:
    if key == "id":
        return cell_text(entry.id)
    raw = entry.raw if isinstance(entry.raw, dict) else {}
    value = raw.get(key)
    if key == "updated_at" and isinstance(value, str):
        return cell_text(value.replace("T", " ")[:19])
    if key == "name" and entry.error is not None:  # (one not validated yet is not marked)
        return "⚠ invalid " + cell_text(value)
    return cell_text(value)


class RecordTable(ScrollView, can_focus=True):
    """Rows of one store's records; a cursor; a header that shows the sort."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "record-table--header",
        "record-table--cursor",
        "record-table--invalid",
        "record-table--loading",
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False, id="table.up"),
        Binding("down", "cursor(1)", "Down", show=False, id="table.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="table.page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="table.page_down"),
        Binding("home", "jump(0)", "First", show=False, id="table.home"),
        Binding("end", "jump(-1)", "Last", show=False, id="table.end"),
    ]

    DEFAULT_CSS = """
    RecordTable { height: 1fr; overflow-x: hidden; }
    RecordTable > .record-table--header { text-style: bold; background: $panel; }
    RecordTable > .record-table--cursor { background: $block-cursor-blurred-background; }
    RecordTable:focus > .record-table--cursor {
        background: $block-cursor-background; color: $block-cursor-foreground;
        text-style: bold;
    }
    RecordTable > .record-table--invalid { color: $text-error; }
    RecordTable > .record-table--loading { color: $text-muted; }
    """

    class PageWanted(Message):
        def __init__(self, table: RecordTable, generation: int, page: int) -> None:
            super().__init__()
            self.table = table
            self.generation = generation
            self.page = page

    class CursorMoved(Message):
        def __init__(self, table: RecordTable, entry: Entry[Any] | None) -> None:
            super().__init__()
            self.table = table
            self.entry = entry

    class Activated(Message):
        """Enter or a double click on a row."""

        def __init__(self, table: RecordTable, entry: Entry[Any]) -> None:
            super().__init__()
            self.table = table
            self.entry = entry

    class HeaderClicked(Message):
        def __init__(self, table: RecordTable, column: str) -> None:
            super().__init__()
            self.table = table
            self.column = column

    def __init__(
        self,
        *,
        open_filter: Callable[[], None] | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """``open_filter``: what "/" does, called as the key is handled (see keyorder)."""
        super().__init__(id=id, classes=classes)
        self._open_filter = open_filter
        self.total = 0
        self.cursor = 0
        # Said where the first row would be when there are no rows (set by the pane).
        self.empty_text = ""
        self.generation = 0
        self.sort_key = "id"
        self.descending = False
        self._pages: OrderedDict[int, list[Entry[Any]]] = OrderedDict()
        self._wanted: set[int] = set()

    # -- data in ---------------------------------------------------------------------

    def reset(self, total: int, cursor: int = 0, first: list[Entry[Any]] | None = None) -> int:
        """Forget every row (new query or new data); returns the new generation.
        ``first``: the new query's first page, when it is already at hand."""
        self.generation += 1
        self._pages.clear()
        self._wanted.clear()
        if first is not None:
            self._pages[0] = first
        self.total = total
        self.cursor = min(max(cursor, 0), max(total - 1, 0))
        self.virtual_size = Size(0, total + 1)
        self._scroll_cursor_into_view(center=True)
        # A scroll past the old row count is clamped to it until the new size is laid out
        # (the cursor kept on a record that moved down after an import stayed off screen).
        self.call_after_refresh(self._scroll_cursor_into_view, True)
        self.refresh()
        self._announce()
        return self.generation

    def add_page(self, generation: int, page: int, entries: list[Entry[Any]], total: int) -> None:
        if generation != self.generation:
            return  # fetched for an older query
        self._wanted.discard(page)
        self._pages[page] = entries
        self._pages.move_to_end(page)
        while len(self._pages) > MAX_CACHED_PAGES:
            self._pages.popitem(last=False)
        if total != self.total:
            self.total = total
            self.virtual_size = Size(0, total + 1)
            self.cursor = min(self.cursor, max(total - 1, 0))
        self.refresh()
        if self.cursor // PAGE_SIZE == page:
            self._announce()

    def page_rows(self, page: int) -> list[Entry[Any]] | None:
        """The rows of ``page`` held now, if any."""
        return self._pages.get(page)

    def set_empty_text(self, text: str) -> None:
        if text != self.empty_text:
            self.empty_text = text
            self.refresh()

    def set_total(self, total: int) -> None:
        """A new row count for the same query: the rows already fetched stay."""
        if total == self.total:
            return
        self.total = total
        self.virtual_size = Size(0, total + 1)
        old = self.cursor
        self.cursor = min(self.cursor, max(total - 1, 0))
        self.refresh()
        if self.cursor != old:
            self._announce()

    def entry_at(self, index: int) -> Entry[Any] | None:
        if not 0 <= index < self.total:
            return None
        rows = self._pages.get(index // PAGE_SIZE)
        if rows is None:
            self._want(index // PAGE_SIZE)
            return None
        offset = index % PAGE_SIZE
        return rows[offset] if offset < len(rows) else None

    @property
    def current(self) -> Entry[Any] | None:
        return self.entry_at(self.cursor)

    @property
    def cached_rows(self) -> int:
        return sum(len(rows) for rows in self._pages.values())

    def _want(self, page: int) -> None:
        if page not in self._wanted:
            self._wanted.add(page)
            self.post_message(self.PageWanted(self, self.generation, page))

    # -- cursor ------------------------------------------------------------------------

    def move_to(self, index: int) -> None:
        if self.total == 0:
            index = 0
        index = min(max(index, 0), max(self.total - 1, 0))
        if index != self.cursor:
            old = self.cursor
            self.cursor = index
            self._refresh_row(old)
            self._refresh_row(index)
        self._scroll_cursor_into_view()
        self._announce()

    def _announce(self) -> None:
        self.post_message(self.CursorMoved(self, self.current))

    def _refresh_row(self, index: int) -> None:
        y = index + 1 - int(self.scroll_y)
        if 0 <= y < self.size.height:
            self.refresh_line(y)

    @property
    def _body_height(self) -> int:
        return max(self.size.height - 1, 1)

    def _scroll_cursor_into_view(self, center: bool = False) -> None:
        top = int(self.scroll_y)
        height = self._body_height
        if center and not (top <= self.cursor < top + height):
            target = max(self.cursor - height // 2, 0)
        elif self.cursor < top:
            target = self.cursor
        elif self.cursor >= top + height:
            target = self.cursor - height + 1
        else:
            return
        self.scroll_to(y=target, animate=False, immediate=True)

    def action_cursor(self, delta: int) -> None:
        self.move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_to(self.cursor + direction * self._body_height)

    def action_jump(self, where: int) -> None:
        self.move_to(0 if where == 0 else self.total - 1)

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(0, self.total + 1)
        self._scroll_cursor_into_view()

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            x = 0
            for column, width in layout_columns(self._row_width):
                if x <= event.x < x + width + 1:
                    self.post_message(self.HeaderClicked(self, column.key))
                    return
                x += width + 1
            return
        index = int(self.scroll_y) + event.y - 1
        if 0 <= index < self.total:
            self.move_to(index)
            if event.chain >= 2 and (entry := self.current) is not None:
                self.post_message(self.Activated(self, entry))

    async def on_key(self, event: events.Key) -> None:
        if hand_on_if_left(self, event):
            return  # queued before a key ahead of it moved the focus: handed on
        action = _KEY_ACTIONS.get(event.key)
        if action is not None:
            # The table's own keys act here, in turn: a binding would be looked up when
            # the key has bubbled up, by when a "/" behind it may have moved the focus.
            event.stop()
            await self.run_action(action)
        elif event.key == "enter":
            event.stop()
            if (entry := self.current) is not None:
                self.post_message(self.Activated(self, entry))
        else:
            await act_in_turn(self, event, self._open_filter)

    # -- rendering ---------------------------------------------------------------------

    @property
    def _row_width(self) -> int:
        return self.scrollable_content_region.width  # excludes the scrollbar

    def render_line(self, y: int) -> Strip:
        width = self._row_width
        columns = layout_columns(width)
        if y == 0:
            return self._header(columns, width)
        index = int(self.scroll_y) + y - 1
        if index >= self.total:
            if self.total == 0 and y == 2 and self.empty_text:
                style = self.rich_style + self.get_component_rich_style("record-table--loading")
                return Strip([Segment(fit(" " + self.empty_text, width), style)], width)
            return Strip.blank(width, self.rich_style)
        entry = self.entry_at(index)
        base = self.rich_style
        if entry is None:
            style = base + self.get_component_rich_style("record-table--loading")
            return Strip([Segment(fit(" …", width), style)], width)
        if entry.error is not None:  # invalid (one not validated yet is shown plain)
            base = base + self.get_component_rich_style("record-table--invalid")
        if index == self.cursor:
            base = base + self.get_component_rich_style("record-table--cursor")
        cells = [fit(cell_value(entry, column.key), w) for column, w in columns]
        return Strip([Segment(fit(" ".join(cells), width), base)], width)

    def _header(self, columns: tuple[tuple[Column, int], ...], width: int) -> Strip:
        style: Style = self.rich_style + self.get_component_rich_style("record-table--header")
        labels = []
        for column, w in columns:
            label = column.label
            if column.key == self.sort_key:
                label += " ▼" if self.descending else " ▲"
            labels.append(fit(label, w))
        return Strip([Segment(fit(" ".join(labels), width), style)], width)


# The table's keys, acted on by on_key (the bindings name them for the help and footer).
_KEY_ACTIONS: dict[str, str] = {
    key: binding.action
    for binding in RecordTable.BINDINGS
    if isinstance(binding, Binding)
    for key in binding.key.split(",")
}
