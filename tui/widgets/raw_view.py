"""A read-only, JSON-highlighted view of a file's lines, read on demand from a LineIndex.

Line API: only the lines on screen are read, decoded, tokenized and styled; the styled
strip of a line is cached (LRU) and the cache is cleared when styles or the theme change.
Every character shown goes through ``printable_multiline`` first (tabs expanded), so no
byte of the file reaches the terminal as a control sequence, and nothing is parsed as
markup: strips are built from segments.

The widget does no indexing itself: its owner builds the ``LineIndex`` (in a worker) and
calls ``set_index`` once and ``index_updated`` as lines are added.
"""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.reactive import var
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.rawfile import LineIndex, tokenize_json_line
from tui.text import printable_multiline

MAX_LINE_BYTES = 16_384
"""Bytes of one line read for display; the rest is summarised as "… N more bytes"."""

TAB_SIZE = 8


class RawFileView(ScrollView, can_focus=True):
    """Lines of a file with line numbers and JSON colours; one line may be marked current.

    ``RawFileView(index=None, *, name=None, id=None, classes=None)``. The view is empty
    until ``set_index``. ``current_line`` (0-based, or None) is highlighted;
    ``jump_to(line)`` marks a line and scrolls it near the top as soon as the index has
    enough lines below it to do so.
    """

    ALLOW_SELECT = False  # lines carry no offsets for Textual's text selection

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "scroll_up", "Up", id="raw.scroll_up", show=False),
        Binding("down", "scroll_down", "Down", id="raw.scroll_down", show=False),
        Binding("left", "scroll_left", "Left", id="raw.scroll_left", show=False),
        Binding("right", "scroll_right", "Right", id="raw.scroll_right", show=False),
        Binding("pageup", "page_up", "Page up", id="raw.page_up", show=False),
        Binding("pagedown", "page_down", "Page down", id="raw.page_down", show=False),
        Binding("home", "scroll_home", "Top", id="raw.top", show=False),
        Binding("end", "scroll_end", "Bottom", id="raw.bottom", show=False),
        Binding("g", "goto_current", "To record", id="raw.goto_record"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "rawview--key",
        "rawview--string",
        "rawview--number",
        "rawview--literal",
        "rawview--punct",
        "rawview--other",
        "rawview--gutter",
        "rawview--current-line",
        "rawview--more",
    }

    DEFAULT_CSS = """
    RawFileView {
        background: $surface;
        color: $foreground;
        & > .rawview--key { color: $text-primary; }
        & > .rawview--string { color: $text-success; }
        & > .rawview--number { color: $text-warning; }
        & > .rawview--literal { color: $text-accent; text-style: bold; }
        & > .rawview--punct { color: $foreground-muted; }
        & > .rawview--other { color: $text-error; }
        & > .rawview--gutter { color: $foreground-muted; background: $panel; }
        & > .rawview--current-line { background: $primary-muted; text-style: bold; }
        & > .rawview--more { color: $text-muted; text-style: italic; }
    }
    """

    current_line: var[int | None] = var[int | None](None)
    """The highlighted line (0-based), or None."""

    def __init__(
        self,
        index: LineIndex | None = None,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._index: LineIndex | None = index
        self._line_count = 0
        self._complete = False  # the index was done when _line_count was taken
        self._max_width = 0  # widest content (cells) rendered so far
        self._gutter_width = 0
        self._width_pending = False
        self._jump_pending = False
        self._strips: LRUCache[tuple[int, bool], Strip] = LRUCache(1024)
        self._styles: dict[tuple[str, bool], Style] = {}

    # -- public API --------------------------------------------------------------------

    @property
    def index(self) -> LineIndex | None:
        return self._index

    @property
    def line_count(self) -> int:
        """Lines the view currently knows about."""
        return self._line_count

    def set_index(self, index: LineIndex | None) -> None:
        """Show ``index`` (lines may still be being added to it)."""
        self._index = index
        self._max_width = 0
        self._line_count = 0
        self._clear_caches()
        self.index_updated()
        self.scroll_to(0, 0, animate=False, immediate=True)

    def index_updated(self) -> None:
        """The index has grown: show the new lines, and jump if a jump is waiting."""
        index = self._index
        # done before line_count: if the index was complete, the count read is final
        self._complete = index is None or index.done
        self._line_count = index.line_count if index is not None else 0
        self._gutter_width = self._gutter_width_for(index)
        self._update_virtual_size()
        self.refresh()
        self._try_jump()

    def jump_to(self, line: int | None) -> None:
        """Mark ``line`` current and scroll it near the top once it can be."""
        self.current_line = line
        self._jump_pending = line is not None
        self._try_jump()

    def visible_text(self) -> list[str]:
        """The text of the lines on screen, gutter included (for tests and copying)."""
        return [self.render_line(y).text for y in range(self.size.height)]

    # -- actions -----------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # without a record line the key is hidden
        return not (action == "goto_current" and self.current_line is None)

    def action_goto_current(self) -> None:
        if self.current_line is not None:
            self.jump_to(self.current_line)

    # -- internals ---------------------------------------------------------------------

    def _gutter_width_for(self, index: LineIndex | None) -> int:
        if index is None:
            return 0
        count = index.line_count
        if not index.done and index.progress > 0:
            count = max(count, int(count / index.progress))  # an estimate of the total
        return max(len(str(max(count, 1))), 3) + 1

    def _update_virtual_size(self) -> None:
        self._width_pending = False
        self.virtual_size = Size(self._gutter_width + self._max_width, self._line_count)

    def _try_jump(self) -> None:
        if not self._jump_pending or self.current_line is None:
            return
        height = self.scrollable_content_region.height
        if self._index is None or not height:
            return
        line = self.current_line
        # Only what the view knows counts (the index may be ahead of the virtual size).
        if self._line_count > line and (self._complete or self._line_count >= line + height):
            self._jump_pending = False
            # force: the scrollbars may not be laid out for the new size yet
            self.scroll_to(y=max(line - 2, 0), animate=False, immediate=True, force=True)

    def _clear_caches(self) -> None:
        self._strips.clear()
        self._styles.clear()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._clear_caches()
        self.refresh()

    def on_mount(self) -> None:
        self.watch(self.app, "theme", self._on_theme_change, init=False)

    def _on_theme_change(self) -> None:
        self._clear_caches()
        self.refresh()

    def on_resize(self, event: events.Resize) -> None:
        self._clear_caches()
        self._try_jump()

    def watch_current_line(self, old: int | None, new: int | None) -> None:
        for line in (old, new):
            if line is not None:
                self._strips.discard((line, False))
                self._strips.discard((line, True))
        self.refresh()
        self.refresh_bindings()

    def _style(self, kind: str, current: bool) -> Style:
        key = (kind, current)
        style = self._styles.get(key)
        if style is None:
            if kind in ("base", "space"):
                style = self.rich_style
            else:
                style = self.get_component_rich_style(f"rawview--{kind}")
            if current:
                marked = self.get_component_rich_style("rawview--current-line")
                style = style + Style(bgcolor=marked.bgcolor, bold=marked.bold)
            self._styles[key] = style
        return style

    def _content_strip(self, n: int, current: bool) -> Strip:
        """Line ``n``'s content (no gutter, not cropped), styled; cached."""
        key = (n, current)
        strip = self._strips.get(key)
        if strip is not None:
            return strip
        index = self._index
        assert index is not None
        try:
            text, omitted = index.read_line(n, MAX_LINE_BYTES)
        except IndexError:
            text, omitted = "", 0
        if "\t" in text:
            text = text.expandtabs(TAB_SIZE)
        style = self._style
        segments = [
            Segment(printable_multiline(value), style(kind, current))
            for kind, value in tokenize_json_line(text)
        ]
        if omitted:
            segments.append(Segment(f" … {omitted:,} more bytes", style("more", current)))
        strip = Strip(segments)
        self._strips[key] = strip
        if strip.cell_length > self._max_width:
            self._max_width = strip.cell_length
            if not self._width_pending:  # never resize while rendering: after it
                self._width_pending = True
                self.call_later(self._update_virtual_size)
        return strip

    def _gutter_strip(self, n: int, current: bool) -> Strip:
        width = self._gutter_width
        style = self._style("gutter", current)
        return Strip([Segment(f"{n + 1:>{width - 1}} ", style)], width)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        n = scroll_y + y
        if self._index is None or n >= self._line_count or width <= 0:
            return Strip.blank(width, self.rich_style)
        current = n == self.current_line
        gutter = self._gutter_strip(n, current)
        content_width = max(width - gutter.cell_length, 0)
        content = self._content_strip(n, current).crop_extend(
            scroll_x, scroll_x + content_width, self._style("base", current)
        )
        return Strip.join([gutter, content]).crop(0, width)
