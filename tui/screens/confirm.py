"""Modal dialogs: a yes/no confirmation and a message that any key closes.

They do no I/O. Every string shown is a ``Content`` object made with ``printable`` first,
so stored values (record names, ids, paths) are never parsed as markup and no control
character reaches the terminal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, Static

from tui.screens.fit import fit_scroller
from tui.stylepaths import style
from tui.text import printable


def _literal(text: str) -> Content:
    return Content(printable(text))


# The colour of each kind of detail line (see tui.plan_details.Line).
DETAIL_STYLES = {
    "new": "$text-success",
    "changed": "$text-warning",
    "field": "",
    "kept": "$text-muted",
    "invalid": "$text-error",
    "more": "italic $text-muted",
}


def detail_content(details: Sequence[tuple[str, str]]) -> Content:
    """(kind, text) lines as one literal, coloured block: a single widget however many
    lines there are."""
    parts: list[tuple[str, str] | str] = []
    for n, (kind, text) in enumerate(details):
        if n:
            parts.append("\n")
        parts.append((printable(text), DETAIL_STYLES.get(kind, "")))
    return Content.assemble(*parts)


class ConfirmScreen(ModalScreen[bool]):
    """Ask before doing something; dismisses with True (confirmed) or False (cancelled).

    ``y`` or ``enter`` confirms, ``n`` or ``escape`` cancels; the buttons do the same by
    mouse. The buttons take no focus, so ``enter`` always means confirm. With
    ``details``, (kind, text) lines, ``lines`` and the details scroll together as one
    part (arrow and page keys) fitted to what the title and buttons leave.
    """

    CSS_PATH: ClassVar[Any] = [style("forms.tcss")]

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y,enter", "confirm", "Confirm", id="confirm.yes", key_display="y/⏎"),
        Binding("n,escape", "cancel", "Cancel", id="confirm.no", key_display="n/esc"),
    ]

    def __init__(
        self,
        title: str,
        lines: list[str],
        confirm_label: str = "Confirm",
        danger: bool = False,
        details: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__()
        self.dialog_title = title
        self.lines = list(lines)
        self.details = list(details)
        self.confirm_label = confirm_label
        self.danger = danger
        self._answered = False

    def compose(self) -> ComposeResult:
        classes = "confirm-dialog -danger" if self.danger else "confirm-dialog"
        if self.details:
            classes += " -with-details"
        with Vertical(id="dialog", classes=classes):
            yield Label(_literal(self.dialog_title), id="confirm-title", classes="dialog-title")
            if self.details:
                # One scrolling part, the counts above the list: however short the
                # terminal, the buttons stay on screen and everything can be scrolled to.
                with VerticalScroll(id="confirm-details"):
                    for line in self.lines:
                        yield Label(_literal(line), classes="dialog-line")
                    yield Static(detail_content(self.details), id="confirm-details-text")
            elif self.lines:
                with VerticalScroll(id="confirm-lines", can_focus=False):
                    for line in self.lines:
                        yield Label(_literal(line), classes="dialog-line")
            with Horizontal(classes="dialog-buttons"):
                confirm = Button(
                    _literal(self.confirm_label),
                    variant="error" if self.danger else "primary",
                    id="confirm-yes",
                )
                cancel = Button("Cancel", id="confirm-no")
                confirm.can_focus = False
                cancel.can_focus = False
                yield confirm
                yield cancel
        yield Footer()

    def on_mount(self) -> None:
        if self.details:
            self.call_after_refresh(self._fit_details)

    def on_resize(self, event: events.Resize) -> None:
        if self.details:
            self.call_after_refresh(self._fit_details)

    def _fit_details(self) -> None:
        """The list of changes gets the room the rest of the dialog leaves: the buttons
        stay on screen however short the terminal."""
        if self.is_mounted:
            fit_scroller(self, self.query_one("#dialog"), self.query_one("#confirm-details"))

    def _answer(self, value: bool) -> None:
        if not self._answered:
            self._answered = True
            self.dismiss(value)

    def action_confirm(self) -> None:
        self._answer(True)

    def action_cancel(self) -> None:
        self._answer(False)

    @on(Button.Pressed, "#confirm-yes")
    def _yes_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self._answer(True)

    @on(Button.Pressed, "#confirm-no")
    def _no_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self._answer(False)


class MessageScreen(ModalScreen[None]):
    """A short message ("Nothing to copy"); any key or a click on OK closes it."""

    CSS_PATH: ClassVar[Any] = [style("forms.tcss")]

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter", "close", "Close", id="message.close", key_display="esc/⏎"),
    ]

    def __init__(self, title: str, lines: list[str] | None = None) -> None:
        super().__init__()
        self.dialog_title = title
        self.lines = list(lines or [])
        self._closed = False

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="message-dialog"):
            yield Label(_literal(self.dialog_title), id="message-title", classes="dialog-title")
            for line in self.lines:
                yield Label(_literal(line), classes="dialog-line")
            with Horizontal(classes="dialog-buttons"):
                ok = Button("OK", variant="primary", id="message-ok")
                ok.can_focus = False
                yield ok
        yield Footer()

    def action_close(self) -> None:
        if not self._closed:
            self._closed = True
            self.dismiss(None)

    def on_key(self, event: events.Key) -> None:
        event.stop()
        self.action_close()

    @on(Button.Pressed, "#message-ok")
    def _ok_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_close()
