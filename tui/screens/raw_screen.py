"""The raw view: the JSON store file exactly as it is on disk, at the selected record.

A thread worker maps the file and indexes its line starts in 1 MB steps, posting
``Progress`` messages (at most every 50 ms); the view shows the first lines as soon as the
first step is done and reads only the lines on screen. The record's line is found with one
search of the map (``RecordLocated``), marked, and scrolled near the top once indexed.
Nothing from the file is ever parsed as markup: texts are ``Content`` objects made with
``printable``.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static
from textual.worker import get_current_worker

from tui.rawfile import DEFAULT_CHUNK_BYTES, LineIndex
from tui.stylepaths import style
from tui.text import printable
from tui.widgets.raw_view import RawFileView

PROGRESS_INTERVAL = 0.05
"""Seconds between two progress messages while indexing."""


def describe_size(size: int) -> str:
    """A file size for people: bytes below 10 kB, then kB / MB / GB (powers of 1000)."""
    if size < 10_000:
        return f"{size:,} bytes"
    value = float(size)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            break
    return f"{value:.1f} {unit}"


def describe_error(exc: OSError) -> str:
    """Why a file could not be opened, in a few words."""
    if isinstance(exc, FileNotFoundError) or exc.errno == errno.ENOENT:
        return "no such file"
    if isinstance(exc, IsADirectoryError) or exc.errno == errno.EISDIR:
        return "is a folder, not a file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return exc.strerror or str(exc)


class RawFileScreen(Screen[None]):
    """``RawFileScreen(path, record_id=None)``: the file at ``path``, read-only, with the
    line where the top-level key ``record_id`` starts marked and scrolled into view.

    ``escape`` goes back (dismisses with None). Scrolling keys belong to the view.
    """

    CSS_PATH: ClassVar[Any] = [style("raw_view.tcss")]

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="raw.back"),
    ]

    class Opened(Message):
        """The worker mapped the file; lines follow as ``Progress``."""

        def __init__(self, index: LineIndex) -> None:
            super().__init__()
            self.index = index

    class Progress(Message):
        """More of the file is indexed."""

        def __init__(self, indexed_bytes: int, size: int, line_count: int, done: bool) -> None:
            super().__init__()
            self.indexed_bytes = indexed_bytes
            self.size = size
            self.line_count = line_count
            self.done = done

    class RecordLocated(Message):
        """The record's line (0-based), or None when the file does not hold the record."""

        def __init__(self, record_id: str, line: int | None) -> None:
            super().__init__()
            self.record_id = record_id
            self.line = line

    class Failed(Message):
        """The file could not be opened."""

        def __init__(self, reason: str) -> None:
            super().__init__()
            self.reason = reason

    def __init__(
        self,
        path: Path,
        record_id: str | None = None,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.path = Path(path)
        self.record_id = record_id
        self.index: LineIndex | None = None
        self.indexing_done = False
        self.record_line: int | None = None
        self.error: str | None = None
        self.opened_at = time.perf_counter()
        self._leaving = False
        self._shown_path = printable(str(self.path))

    # -- layout ------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self._info_content(), id="raw-info", markup=False)
        yield Static(Content(f"Opening {self._shown_path}…"), id="raw-status", markup=False)
        yield RawFileView(id="raw-view")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Raw file"
        self.sub_title = self._shown_path
        self.query_one(RawFileView).focus()
        self._index_file()

    def on_unmount(self) -> None:
        self._leaving = True
        for worker in self.workers:
            worker.cancel()
        index = self.index
        if index is not None:
            index.close()

    @property
    def view(self) -> RawFileView:
        return self.query_one("#raw-view", RawFileView)

    def action_back(self) -> None:
        self.dismiss(None)

    # -- texts -------------------------------------------------------------------------

    def _info_content(self) -> Content:
        parts = [self._shown_path]
        index = self.index
        if index is not None:
            parts.append(describe_size(index.size))
            count = index.line_count
            if self.indexing_done:
                parts.append(f"{count:,} line" + ("" if count == 1 else "s"))
            else:
                parts.append(f"{count:,}+ lines")
            parts.append("read-only")
        return Content("  ·  ".join(parts))

    def _set_status(self, text: str, kind: str = "") -> None:
        status = self.query_one("#raw-status", Static)
        status.update(Content(text))
        status.set_classes(f"-{kind}" if kind else "")
        status.display = bool(text)

    def _record_status(self) -> tuple[str, str]:
        if self.record_id is None:
            return "", ""
        shown = printable(self.record_id)
        if self.record_line is None:
            if self.indexing_done:
                return f"Record {shown} is not in this file.", "warning"
            return "", ""
        return f"Record {shown} at line {self.record_line + 1:,}", ""

    # -- worker ------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="raw-index", exit_on_error=False)
    def _index_file(self) -> None:
        worker = get_current_worker()
        try:
            index = LineIndex(self.path)
        except OSError as exc:
            self.post_message(self.Failed(describe_error(exc)))
            return
        self.index = index
        if worker.is_cancelled or self._leaving:  # the screen went away meanwhile
            index.close()
            return
        self.post_message(self.Opened(index))
        try:
            self._build_index(index, lambda: worker.is_cancelled)
        except Exception as exc:  # show it; a viewer must not take the app down
            if not (self._leaving or index.closed):
                self.post_message(self.Failed(f"{type(exc).__name__}: {exc}"))

    def _build_index(self, index: LineIndex, cancelled: Callable[[], bool]) -> None:
        """Index in chunks (worker thread), posting Progress and RecordLocated."""
        record_id = self.record_id
        record_offset: int | None = None  # where the record's line starts, once found
        first = True
        last_post = 0.0
        while not cancelled() and not index.closed:
            done = index.index_chunk(DEFAULT_CHUNK_BYTES)
            now = time.monotonic()
            if done or first or now - last_post >= PROGRESS_INTERVAL:
                last_post = now
                self.post_message(
                    self.Progress(index.indexed_bytes, index.size, index.line_count, done)
                )
            if first and record_id is not None:
                # One search of the map; its line number is known once indexed past it.
                record_offset = index.find_record_offset(record_id)
                if record_offset is None:
                    self.post_message(self.RecordLocated(record_id, None))
            if (
                record_id is not None
                and record_offset is not None
                and (index.indexed_bytes > record_offset or done)
            ):
                line = index.line_of_offset(record_offset)
                self.post_message(self.RecordLocated(record_id, line))
                record_offset = None
            first = False
            if done:
                break

    # -- messages ----------------------------------------------------------------------

    @on(Opened)
    def _opened(self, message: Opened) -> None:
        self.view.set_index(message.index)
        self.query_one("#raw-info", Static).update(self._info_content())
        self._set_status(f"Indexing {self._shown_path}… 0%")

    @on(Progress)
    def _progress(self, message: Progress) -> None:
        self.indexing_done = message.done
        self.view.index_updated()
        self.query_one("#raw-info", Static).update(self._info_content())
        if message.done:
            self._set_status(*self._record_status())
        else:
            percent = 100 * message.indexed_bytes // max(message.size, 1)
            self._set_status(f"Indexing {self._shown_path}… {percent}%")

    @on(RecordLocated)
    def _record_located(self, message: RecordLocated) -> None:
        self.record_line = message.line
        self.view.jump_to(message.line)
        if self.indexing_done:
            self._set_status(*self._record_status())

    @on(Failed)
    def _failed(self, message: Failed) -> None:
        self.error = message.reason
        self.indexing_done = True
        self._set_status(f"Cannot show {self._shown_path}: {message.reason}", "error")
        self.view.display = False
