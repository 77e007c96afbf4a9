"""The browser: the JSON store on the left, the SQLite store on the right."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import threading
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Button, Footer, Static

from tui.config import json_store, sqlite_store
from tui.first_rows import FirstRows
from tui.sample import seed_if_empty
from tui.stores import Entry, StoreError
from tui.stores.base import ABSENT, RecordConflict, SavedNotDurable
from tui.stylepaths import style
from tui.text import printable
from tui.widgets.keyorder import focus_now
from tui.widgets.record_table import RecordTable
from tui.widgets.store_pane import StorePane

if TYPE_CHECKING:
    from textual.widgets import ProgressBar

    from tui import transfer
    from tui.models import BaseRecord

# Dialogs, forms and transfers are imported when first used: the first frame needs none;
# nor the models (pydantic), imported once the first rows are on screen to validate them.

PROGRESS_DELAY = 0.3  # a transfer shows a progress bar once it takes longer than this

R = TypeVar("R")


def _label(record: Any) -> str:
    raw = record.raw if hasattr(record, "raw") else {}
    name = raw.get("name") if isinstance(raw, dict) else None
    return f"{printable(str(name))!r} ({printable(record.id)})" if name else repr(record.id)


# Records of each kind (new, changed, kept, invalid) the transfer confirmation lists.
DETAIL_LIMIT = 300


class BrowserScreen(Screen[None]):
    """The two panes and the transfer buttons. Its bindings are the product's keys."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "tab",
            "focus_other",
            "Switch pane",
            tooltip="Move the focus to the other pane",
            show=False,
            id="pane.switch",
        ),
        Binding(
            "shift+tab",
            "focus_other",
            "Switch pane",
            tooltip="Move the focus to the other pane",
            show=False,
            id="pane.switch_back",
        ),
        Binding("a", "add", "Add", tooltip="Add a record to the focused pane", id="record.add"),
        Binding(
            "e",
            "edit",
            "Edit",
            tooltip="Edit the selected record of the focused pane",
            id="record.edit",
        ),
        Binding(
            "d,delete",
            "delete",
            "Delete",
            tooltip="Delete the selected record of the focused pane (asks first)",
            id="record.delete",
        ),
        Binding(
            "x",
            "export",
            "Export",
            tooltip="Copy records SQLite → JSON (shows what will change first)",
            id="transfer.export",
        ),
        Binding(
            "i",
            "import",
            "Import",
            tooltip="Copy records JSON → SQLite (shows what will change first)",
            id="transfer.import",
        ),
        # (The table and the error box act on "/" themselves, at once: see keyorder.)
        Binding(
            "slash",
            "filter",
            "Filter",
            tooltip="Show only the records of the focused pane that contain a text",
            key_display="/",
            id="pane.filter",
        ),
        Binding(
            "escape",
            "escape",
            "Cancel transfer / clear filter",
            tooltip="Cancel the running transfer, or clear the focused pane's filter",
            show=False,
            id="pane.clear_filter",
        ),
        Binding(
            "s", "sort", "Sort", tooltip="Sort the focused pane by the next column", id="pane.sort"
        ),
        Binding(
            "S",
            "reverse_sort",
            "Reverse sort",
            tooltip="Reverse the focused pane's sort order",
            show=False,
            id="pane.reverse_sort",
        ),
        Binding(
            "v",
            "view_raw",
            "Raw",
            tooltip="View the JSON file as it is on disk, at the selected record",
            id="pane.view_raw",
        ),
        Binding(
            "r", "reload", "Reload", tooltip="Read both stores again from disk", id="app.reload"
        ),
        Binding("q", "app.quit", "Quit", id="app.quit"),
    ]

    def __init__(self, data_dir: Path, first_rows: FirstRows | None = None) -> None:
        super().__init__()
        self.data_dir = data_dir
        self.first_rows = first_rows  # the SQLite pane's, read while the app started
        self.active: StorePane | None = None
        # Set while a transfer compares or writes: Cancel and Esc cancel it.
        self._transfer_token: transfer.CancelToken | None = None

    def compose(self) -> ComposeResult:
        # One Static, not Textual's Header (four widgets): the first frame comes sooner.
        yield Static(self.app.title, id="title-bar", markup=False)
        with Horizontal(id="toolbar"):  # its buttons come after the first frame
            yield Static(id="transfer-status", markup=False)
        # Its progress bar and Cancel button are mounted by the first transfer.
        yield Horizontal(id="transfer-bar", classes="hidden")
        with Horizontal(id="panes"):
            json_pane = StorePane(json_store(self.data_dir), "JSON", id="json-pane")
            json_pane.add_class("active")  # focused on mount: styled so from the start
            yield json_pane
            yield StorePane(
                sqlite_store(self.data_dir), "SQLite", id="sqlite-pane", first_rows=self.first_rows
            )
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.json_pane.table.focus()
        self.call_after_refresh(self._mount_transfer_buttons)

    def _mount_transfer_buttons(self) -> None:
        """The toolbar's buttons, mounted once the first frame (with the first rows, as
        a rule) is out: they hold nothing up there, and the toolbar's height is fixed, so
        nothing moves when they appear."""
        export = Button("◀ Export  SQLite → JSON  (x)", id="export", compact=True)
        import_ = Button("Import  JSON → SQLite ▶  (i)", id="import", compact=True)
        for button in (export, import_):
            button.can_focus = False  # tab moves between the panes only
        status = self.query_one("#transfer-status", Static)
        toolbar = self.query_one("#toolbar", Horizontal)
        toolbar.mount(export, before=status)
        toolbar.mount(import_, after=status)

    @property
    def json_pane(self) -> StorePane:
        return self.query_one("#json-pane", StorePane)

    @property
    def sqlite_pane(self) -> StorePane:
        return self.query_one("#sqlite-pane", StorePane)

    @property
    def focused_pane(self) -> StorePane:
        # From the focus itself, which focus_now moves at once; self.active follows a
        # turn later (the Focus event), and a key right behind a Tab must not lag.
        focused = self.focused
        if focused is not None:
            for node in focused.ancestors_with_self:
                if isinstance(node, StorePane):
                    return node
        if self.active is None:
            self.active = self.json_pane
        return self.active

    def other(self, pane: StorePane) -> StorePane:
        return self.sqlite_pane if pane is self.json_pane else self.json_pane

    def on_descendant_focus(self, event: Any) -> None:
        for pane in (self.json_pane, self.sqlite_pane):
            if pane in event.widget.ancestors_with_self:
                self.active = pane
                pane.add_class("active")
            else:
                pane.remove_class("active")

    # -- panes -------------------------------------------------------------------------

    def action_focus_other(self) -> None:
        focus_now(self.other(self.focused_pane).focus_target)

    def action_filter(self) -> None:
        self.focused_pane.open_filter()

    def action_clear_filter(self) -> None:
        self.focused_pane.clear_filter()

    def action_escape(self) -> None:
        """Esc cancels a running transfer; else it closes the key help, or clears the
        focused pane's filter."""
        if self._transfer_token is not None:
            self.action_cancel_transfer()
        elif self.query("HelpPanel"):
            self.app.action_hide_help_panel()
        else:
            self.action_clear_filter()

    def action_sort(self) -> None:
        self.focused_pane.next_sort()

    def action_reverse_sort(self) -> None:
        self.focused_pane.reverse_sort()

    def action_reload(self) -> None:
        for pane in (self.json_pane, self.sqlite_pane):
            pane.refresh_from_store()
        self.notify("Reloaded both stores from disk")

    def action_view_raw(self) -> None:
        pane = self.json_pane
        entry = pane.current if self.focused_pane is pane else None
        if entry is None and self.focused_pane is self.sqlite_pane:
            current = self.sqlite_pane.current
            entry = current  # show the same id in the JSON file if it is there
        from tui.screens.raw_screen import RawFileScreen  # loaded when first used

        self.app.push_screen(RawFileScreen(pane.store.path, entry.id if entry else None))

    # -- records -----------------------------------------------------------------------

    def _refuse(self, pane: StorePane, what: str) -> bool:
        if pane.writable:
            return False
        reason = printable(str(pane.error)) if pane.error else "it is still loading"
        self.notify(
            f"Cannot {what} the {pane.kind_title} store: {reason}",
            severity="error",
            markup=False,
        )
        return True

    def action_add(self) -> None:
        pane = self.focused_pane
        if self._refuse(pane, "add to"):
            return
        from tui.screens.record_form import RecordForm

        form = RecordForm(
            pane.store.model, f"Add to {pane.kind_title} store", submit=self._submitter(pane)
        )
        self.app.push_screen(form)

    def _selected(self, pane: StorePane, what: str) -> Entry[Any] | None:
        """The pane's selected entry, if the pane can be written and has one."""
        if self._refuse(pane, what):
            return None
        entry = pane.current
        if entry is None:
            self.notify("No record selected", severity="warning")
        elif not entry.addressable:
            self.notify(
                f"Cannot {what} the {pane.kind_title} store: record {printable(entry.id)}: "
                f"{printable(entry.error or '')}. Fix its row with the sqlite3 shell.",
                severity="error",
                markup=False,
            )
            return None
        return entry

    def action_edit(self) -> None:
        pane = self.focused_pane
        entry = self._selected(pane, "edit in")
        if entry is None:
            return
        # The record is saved under the key it is stored at, whatever its id field says:
        # an invalid record whose id points elsewhere must not overwrite that other one.
        initial = {**entry.raw, "id": entry.id} if isinstance(entry.raw, dict) else {"id": entry.id}
        from tui.screens.record_form import RecordForm

        form = RecordForm(pane.store.model, f"Edit in {pane.kind_title} store", dict(initial))
        form.submit = self._submitter(pane, entry, form.rebase)
        self.app.push_screen(form)

    def _submitter(
        self,
        pane: StorePane,
        entry: Entry[Any] | None = None,
        rebase: Callable[[dict[str, Any]], list[str]] | None = None,
    ) -> Callable[[BaseRecord], Awaitable[str | None]]:
        """The form's save: write into the pane that was focused when it opened, only if
        the record on disk is still the version the form was opened from (``entry``; for
        an add, no record with the id). None when saved, else what the form shows.

        When the record changed on disk meanwhile, ``rebase`` moves the form onto the new
        version (untouched inputs take its values) so that a second save writes only what
        was typed over it, never back the values it replaced."""
        expect: Any = ABSENT if entry is None else entry.raw

        async def submit(record: BaseRecord) -> str | None:
            nonlocal expect
            store = pane.store
            try:
                await store.upsert(record, expect=expect)
            except SavedNotDurable as exc:  # saved: do not invite a second save
                self._warn_not_durable(exc)
            except RecordConflict as exc:
                if entry is None:
                    self.notify(
                        f"Not added: the {pane.kind_title} store already has a record with "
                        f"id {printable(record.id)!r}; edit that one instead",
                        severity="error",
                        markup=False,
                    )
                    return "Not added: a record with this id exists already"
                # Saving again overwrites the version the pane now shows, deliberately.
                both: list[str] = []
                with contextlib.suppress(StoreError):
                    now = await store.get(record.id)
                    expect = ABSENT if now is None else now.raw
                    if now is not None and isinstance(now.raw, dict) and rebase is not None:
                        both = rebase(now.raw)
                pane.refresh_from_store(keep_id=record.id)
                what = "deleted" if exc.now == "deleted" else "changed"
                self.notify(
                    f"Not saved: record {printable(record.id)!r} was {what} outside the app "
                    f"since you opened it; the {pane.kind_title} pane now shows the version "
                    "on disk. What you typed is still in the form.",
                    title="Changed outside the app",
                    severity="warning",
                    markup=False,
                )
                if what == "deleted":
                    return (
                        "This record was deleted outside the app. "
                        "Ctrl+S saves it again with these values; Esc leaves it deleted."
                    )
                clash = (
                    f" You and the outside change both changed: {', '.join(both)}." if both else ""
                )
                return (
                    "This record was changed outside the app: the fields you did not "
                    f"change now show the version on disk.{clash} Ctrl+S saves your changes "
                    "over it; Esc keeps the version on disk."
                )
            except StoreError as exc:
                self.notify(f"Not saved: {printable(str(exc))}", severity="error", markup=False)
                return f"Not saved: {exc}"
            pane.refresh_from_store(keep_id=record.id)
            name = printable(str(getattr(record, "name", record.id)))
            verb = "Added" if entry is None else "Saved"
            self.notify(f"{verb} {name!r} in the {pane.kind_title} store", markup=False)
            return None

        return submit

    def _warn_not_durable(self, exc: SavedNotDurable) -> None:
        """A write that is in the file although the OS could not confirm it is on disk:
        report it as done, with the warning, so nobody writes it a second time."""
        self.notify(
            printable(str(exc)), title="Saved, not synced", severity="warning", markup=False
        )

    @on(RecordTable.Activated)
    def _row_activated(self, event: RecordTable.Activated) -> None:
        if self.app.screen is self:  # not when a dialog opened meanwhile ("d" then Enter)
            self.action_edit()

    def action_delete(self) -> None:
        pane = self.focused_pane
        entry = self._selected(pane, "delete from")
        if entry is None:
            return
        from tui.screens.confirm import ConfirmScreen

        question = ConfirmScreen(
            f"Delete from the {pane.kind_title} store?",
            [f"Delete record {_label(entry)} from {pane.store.path}?", "This cannot be undone."],
            confirm_label="Delete",
            danger=True,
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self._delete(pane, entry)

        self.app.push_screen(question, answered)

    @work(group="write")
    async def _delete(self, pane: StorePane, entry: Entry[Any]) -> None:
        record_id = entry.id
        try:
            # Only the version the user saw and confirmed: not one changed since.
            deleted = await pane.store.delete(record_id, expect=entry.raw)
        except SavedNotDurable as exc:
            self._warn_not_durable(exc)
            deleted = True
        except RecordConflict as exc:
            pane.refresh_from_store(keep_id=record_id)
            if exc.now == "deleted":
                self.notify("It was already gone", markup=False)
                return
            self.notify(
                f"Not deleted: record {printable(record_id)!r} was changed outside the app "
                f"since it was shown; the {pane.kind_title} pane now shows the version on "
                "disk. Delete again to delete that one.",
                title="Changed outside the app",
                severity="warning",
                markup=False,
            )
            return
        except StoreError as exc:
            self.notify(f"Not deleted: {printable(str(exc))}", severity="error", markup=False)
            return
        pane.refresh_from_store()
        message = f"Deleted {printable(record_id)!r}" if deleted else "It was already gone"
        self.notify(message, markup=False)

    # -- transfers ---------------------------------------------------------------------

    @property
    def transfer_running(self) -> bool:
        return self._transfer_token is not None

    def action_export(self) -> None:
        self._start_transfer(self.sqlite_pane, self.json_pane, "Export")

    def action_import(self) -> None:
        self._start_transfer(self.json_pane, self.sqlite_pane, "Import")

    def action_cancel_transfer(self) -> None:
        token = self._transfer_token
        if token is not None and not token.cancelled:
            token.cancel()
            self.query_one("#transfer-status", Static).update(Content("Cancelling…"))

    @on(Button.Pressed, "#export")
    def _export_pressed(self) -> None:
        self.action_export()

    @on(Button.Pressed, "#import")
    def _import_pressed(self) -> None:
        self.action_import()

    @on(Button.Pressed, "#cancel-transfer")
    def _cancel_pressed(self) -> None:
        self.action_cancel_transfer()

    def _start_transfer(self, source: StorePane, target: StorePane, verb: str) -> None:
        if self.transfer_running:
            self.notify("A transfer is running: press Esc to cancel it", severity="warning")
            return
        self._transfer(source, target, verb)

    @work(exclusive=True, group="transfer")
    async def _transfer(self, source: StorePane, target: StorePane, verb: str) -> None:
        from tui import plan_details, transfer
        from tui.screens.confirm import ConfirmScreen

        if self._refuse(source, f"{verb.lower()} from") or self._refuse(
            target, f"{verb.lower()} into"
        ):
            return
        direction = f"{source.kind_title} → {target.kind_title}"
        try:
            plan = await self._tracked(
                f"{verb}: comparing {direction}…",
                lambda progress, token: transfer.make_plan(
                    source.store, target.store, progress, token
                ),
            )
        except transfer.TransferCancelled:
            self.notify(f"{verb} cancelled; nothing was written", markup=False)
            return
        except StoreError as exc:
            self.notify(f"{verb} failed: {printable(str(exc))}", severity="error", markup=False)
            return
        if plan.nothing_to_do:
            if plan.unchanged or plan.invalid:
                why = (
                    f"the {target.kind_title} store already has every valid record"
                    f" ({len(plan.unchanged):,} unchanged, {len(plan.invalid):,} invalid)"
                )
            else:
                why = f"the {source.kind_title} store has no records"
            self.notify(f"Nothing to {verb.lower()}: {why}", markup=False)
            return
        try:
            details = await plan_details.describe(plan, target.store, DETAIL_LIMIT)
        except StoreError as exc:
            self.notify(f"{verb} failed: {printable(str(exc))}", severity="error", markup=False)
            return
        if any(line.kind == "more" for line in details):
            where = shlex.quote(str(self.data_dir))
            hint = (
                f"Every record: python -m tui --data-dir {where} {verb.lower()} --dry-run --details"
            )
            details.append(plan_details.Line("more", hint))
        confirmed = await self.app.push_screen_wait(
            ConfirmScreen(
                f"{verb} {direction}",
                [
                    f"From {source.store.path}",
                    f"Into {target.store.path}",
                    "",
                    *plan.summary_lines(show_ids=0),  # the list below names them
                ],
                confirm_label=verb,
                details=[(line.kind, line.text) for line in details],
            )
        )
        if not confirmed:
            self.notify(f"{verb} cancelled; nothing was written", markup=False)
            return
        count = len(plan.to_write)
        try:
            result = await self._tracked(
                f"{verb}: writing {count} record(s) into the {target.kind_title} store…",
                lambda progress, token: transfer.apply(plan, target.store, progress, token),
            )
        except transfer.TransferCancelled:
            # Nothing was written: both panes stay as they are.
            self.notify(f"{verb} cancelled; nothing was written", markup=False)
            return
        except SavedNotDurable as exc:
            self._warn_not_durable(exc)
            self.notify(
                f"{verb}: wrote {count} record(s) into the {target.kind_title} store",
                markup=False,
            )
        except transfer.TargetChanged as exc:  # says itself that nothing was written
            self.notify(f"{verb} not done: {printable(str(exc))}", severity="warning", markup=False)
        except StoreError as exc:
            self.notify(
                f"{verb} failed, nothing written: {printable(str(exc))}",
                severity="error",
                markup=False,
            )
        else:
            self.notify(
                f"{verb}: wrote {result.written} record(s) into the {target.kind_title} store",
                markup=False,
            )
        for pane in (source, target):
            pane.refresh_from_store()

    async def _progress_bar(self, box: Horizontal) -> ProgressBar:
        """The transfer bar's progress bar, with the Cancel button beside it: mounted on
        first use, the first frame does without them."""
        from textual.widgets import ProgressBar

        if not box.query("#progress"):
            cancel = Button("Cancel (esc)", id="cancel-transfer", compact=True)
            cancel.can_focus = False  # tab moves between the panes only
            await box.mount(ProgressBar(id="progress", show_eta=False), cancel)
        return box.query_one("#progress", ProgressBar)

    async def _tracked(
        self,
        status_text: str,
        run: Callable[[transfer.Progress, transfer.CancelToken], Awaitable[R]],
    ) -> R:
        """Run one step of a transfer with a status line, a progress bar and a Cancel
        button (both shown only once it takes longer than PROGRESS_DELAY); Cancel and
        Esc cancel it through its token."""
        from tui import transfer

        status = self.query_one("#transfer-status", Static)
        box = self.query_one("#transfer-bar", Horizontal)
        if not box.is_attached:  # "q" then "i" in one burst: the app is closing
            raise transfer.TransferCancelled("the app is closing; nothing was written")
        bar = await self._progress_bar(box)
        bar.update(total=None, progress=0)
        status.update(Content(status_text))
        loop = asyncio.get_running_loop()
        ui_thread = threading.get_ident()

        def show(done: int, total: int) -> None:
            bar.update(total=total, progress=done)

        def progress(done: int, total: int) -> None:
            if threading.get_ident() == ui_thread:
                show(done, total)
            else:  # a JSON write reports from its thread: do not make it wait for the UI
                with contextlib.suppress(RuntimeError):  # the app is closing
                    loop.call_soon_threadsafe(show, done, total)

        token = transfer.CancelToken()
        self._transfer_token = token
        timer = self.set_timer(PROGRESS_DELAY, lambda: box.remove_class("hidden"))
        try:
            return await run(progress, token)
        finally:
            self._transfer_token = None
            timer.stop()
            box.add_class("hidden")
            status.update(Content(""))


class BrowserApp(App[None]):
    """``python -m tui``: browse, edit and move records between the two stores."""

    TITLE = "tui: JSON ⇄ SQLite records"
    # The dialogs and the raw view load their own files when first shown.
    CSS_PATH: ClassVar[Any] = [style("app.tcss")]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark,f1", "toggle_keys", "Keys", key_display="?", id="app.keys"),
    ]

    def __init__(self, data_dir: Path, first_rows: FirstRows | None = None) -> None:
        super().__init__()
        self.data_dir = data_dir
        self.first_rows = first_rows

    def get_default_screen(self) -> Screen[Any]:
        return BrowserScreen(self.data_dir, self.first_rows)

    @property
    def browser(self) -> BrowserScreen:
        screen = self.screen_stack[0]
        assert isinstance(screen, BrowserScreen)
        return screen

    def action_toggle_keys(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if not isinstance(screen, BrowserScreen):
            return
        seen: set[str] = set()
        for binding in BrowserScreen.BINDINGS:
            assert isinstance(binding, Binding)
            if binding.action.startswith("app.") or binding.action in seen:
                continue
            seen.add(binding.action)
            action = getattr(screen, f"action_{binding.action}")
            key = binding.key_display or binding.key.split(",")[0]
            yield SystemCommand(binding.description, f"{binding.tooltip} (key: {key})", action)


def run_app(data_dir: Path, first_rows: FirstRows | None = None) -> int:
    with contextlib.suppress(StoreError, OSError):  # the panes will show what is wrong
        asyncio.run(seed_if_empty(data_dir))
    BrowserApp(data_dir, first_rows).run()
    return 0


__all__ = ["BrowserApp", "BrowserScreen", "run_app"]
