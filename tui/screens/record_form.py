"""A modal form generated from a record model: add or edit one record.

The form does no I/O. It dismisses with a validated record (the app writes it to the store
the form was opened for) or with ``None`` when cancelled.

Everything shown is literal: the title, labels, the read-only info line and error messages
are ``Content`` objects (never parsed as markup) with control characters made visible.
Inputs keep the real value (the user edits the real data) but draw every control
character as a visible placeholder, so no stored byte reaches the terminal as a command.
"""

from __future__ import annotations

import contextlib
import json
import types
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Union, get_args, get_origin

from pydantic import TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from rich.cells import cell_len
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Footer, Input, Label

from tui.models import BaseRecord, field_errors, new_id
from tui.screens.fit import fit_scroller
from tui.stylepaths import style
from tui.text import BIDI_CONTROLS, INVISIBLE_CHARS, printable

# Fields every record has and the store manages: never edited in the form.
MANAGED_FIELDS = ("id", "schema_version", "created_at", "updated_at")
# Shown read-only, as one info line, when editing.
INFO_FIELDS = ("id", "created_at", "updated_at")
# The optional id input offered when adding.
ID_FIELD = "id"

FieldKind = Literal["str", "list", "int", "float", "bool", "json"]

# Characters drawn as a placeholder inside an input, one character for one character so the
# cursor and selection stay where the user expects them.
_BIDI = BIDI_CONTROLS + INVISIBLE_CHARS  # (and invisible characters)


def _input_placeholder(char: str) -> str:
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ ... ␟, ␛ for ESC, ␉ for tab
    if code == 0x7F:
        return "␡"
    return "\ufffd"  # C1 controls (0x80-0x9f) and bidi overrides


_INPUT_TABLE = {code: _input_placeholder(chr(code)) for code in range(0x20)} | {
    code: _input_placeholder(chr(code)) for code in range(0x7F, 0xA0)
}
_INPUT_TABLE |= {ord(char): "\ufffd" for char in _BIDI}


def visible_value(value: str) -> str:
    """``value`` with every control character as a one-character visible placeholder."""
    return value.translate(_INPUT_TABLE)


class LiteralInput(Input):
    """An Input that draws control characters as visible placeholders.

    Textual's Input already draws its value without parsing markup, but it hands control
    characters (ESC, C1, ...) to the terminal as they are. This one keeps the real value and
    only changes how it is drawn: one visible character for each control character.
    """

    @property
    def _value(self) -> Text:
        if self.password:
            return Text("•" * len(self.value), no_wrap=True, overflow="ignore", end="")
        text = Text(visible_value(self.value), no_wrap=True, overflow="ignore", end="")
        if self.highlighter is not None:
            text = self.highlighter(text)
        return text

    def _position_to_cell(self, position: int) -> int:
        return cell_len(visible_value(self.value[:position]))

    def _cell_offset_to_index(self, offset: int) -> int:
        scroll_x, _ = self.scroll_offset
        offset += scroll_x
        cell_offset = 0
        for index, char in enumerate(visible_value(self.value)):
            width = cell_len(char)
            if cell_offset <= offset < cell_offset + width:
                return index
            cell_offset += width
        return max(0, min(offset, len(self.value)))


@dataclass(frozen=True)
class FormField:
    """One generated input: which field, what kind of value, and whether None is allowed."""

    name: str
    kind: FieldKind
    optional: bool = False
    required: bool = False

    @property
    def widget_id(self) -> str:
        return f"field-{self.name}"

    @property
    def error_id(self) -> str:
        return f"error-{self.name}"


def _kind_of(annotation: Any) -> tuple[FieldKind, bool]:
    """The input kind for a field annotation, and whether it accepts None."""
    optional = False
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        optional = len(args) < len(get_args(annotation))
        if len(args) != 1:
            return "json", optional
        annotation = args[0]
        origin = get_origin(annotation)
    if annotation is bool:
        return "bool", optional
    if annotation is str:
        return "str", optional
    if annotation is int:
        return "int", optional
    if annotation is float:
        return "float", optional
    if origin is list and get_args(annotation) in ((str,), ()):
        return "list", optional
    return "json", optional


def form_fields(model: type[BaseRecord]) -> list[FormField]:
    """The editable fields of ``model``, in declaration order."""
    out: list[FormField] = []
    for name, info in model.model_fields.items():
        if name in MANAGED_FIELDS:
            continue
        kind, optional = _kind_of(info.annotation)
        out.append(FormField(name, kind, optional, info.is_required()))
    return out


def _default_of(info: FieldInfo) -> Any:
    if info.is_required():
        return None
    return info.get_default(call_default_factory=True, validated_data={})


def _as_json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def display_value(field: FormField, value: Any) -> str:
    """The text an input starts with for ``value`` (the real data, not made printable)."""
    if value is None:
        return ""
    if field.kind == "list":
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return ", ".join(value)
        return value if isinstance(value, str) else _as_json(value)
    if field.kind in ("str", "int", "float"):
        return value if isinstance(value, str) else _as_json(value)
    return _as_json(value)


def _as_bool(value: Any) -> bool:
    """What a checkbox shows for a stored value: as the model reads it ("false", "0" and
    "no" are unchecked, as pydantic takes them), unchecked for what it cannot read."""
    try:
        return _BOOL.validate_python(value)
    except ValidationError:
        return False


_BOOL: TypeAdapter[bool] = TypeAdapter(bool)


def split_tags(text: str) -> list[str]:
    """Comma-separated input as a list: each item stripped, empty items dropped."""
    return [part.strip() for part in text.split(",") if part.strip()]


_UNSET = object()


def _literal(text: str) -> Content:
    return Content(printable(text))


class RecordForm(ModalScreen[BaseRecord | None]):
    """Add or edit one record of ``model``; dismisses with the valid record or ``None``."""

    CSS_PATH: ClassVar[Any] = [style("forms.tcss")]

    AUTO_FOCUS = ".form-input"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="form.save", priority=True),
        Binding("escape", "cancel", "Cancel", id="form.cancel"),
    ]

    def __init__(
        self,
        model: type[BaseRecord],
        title: str,
        initial: dict[str, Any] | None = None,
        submit: Callable[[BaseRecord], Awaitable[str | None]] | None = None,
    ) -> None:
        """``submit``, when given, writes the valid record when the user saves: the form
        closes (with the record) when it returns None and otherwise stays open, every
        typed value kept, showing the message it returned (a failed or refused save
        loses no typing). Without it the form closes with the record at once."""
        super().__init__()
        self.model = model
        self.submit = submit
        self.saving = False
        self.form_title = title
        self.initial: dict[str, Any] = dict(initial) if initial is not None else {}
        self.adding = initial is None
        self.fields = form_fields(model)
        if self.adding:
            self.fields.append(FormField(ID_FIELD, "str"))
        self._checked: dict[str, str | bool] = {}
        # What each input showed when the form opened (or was last rebased on the version
        # on disk): an input still showing it is untouched, and its stored value is kept
        # exactly, not rebuilt from its text (tags "a,b" or " x" would not survive that).
        self._started: dict[str, str | bool] = {}

    # -- building -------------------------------------------------------------------------

    def _info_line(self) -> str:
        parts = []
        for name in INFO_FIELDS:
            if name in self.initial:
                value = self.initial[name]
                parts.append(f"{name}: {value if isinstance(value, str) else _as_json(value)}")
        return "   ".join(parts)

    def _initial_text(self, field: FormField) -> str:
        if field.name == ID_FIELD and self.adding:
            return ""
        if field.name in self.initial:
            return display_value(field, self.initial[field.name])
        if self.adding:
            return display_value(field, _default_of(self.model.model_fields[field.name]))
        return ""

    def _start_value(self, field: FormField) -> str | bool:
        """What the input of ``field`` shows for ``self.initial``."""
        if field.kind == "bool":
            value = self.initial.get(field.name)
            if value is None and self.adding:
                value = _default_of(self.model.model_fields[field.name])
            return _as_bool(value)
        return self._initial_text(field)

    def _make_input(self, field: FormField) -> Widget:
        start = self._started[field.name] = self._start_value(field)
        if isinstance(start, bool):
            return Checkbox(
                _literal(field.name),
                value=start,
                id=field.widget_id,
                classes="form-input",
            )
        placeholder = ""
        input_type: Literal["integer", "number", "text"] = "text"
        if field.name == ID_FIELD and self.adding:
            placeholder = "leave empty for a new id"
        elif field.kind == "list":
            placeholder = "comma-separated, e.g. red, blue"
        elif field.kind == "json":
            placeholder = "JSON"
        elif field.kind == "int":
            input_type = "integer"
        elif field.kind == "float":
            input_type = "number"
        return LiteralInput(
            value=start,
            placeholder=placeholder,
            type=input_type,
            id=field.widget_id,
            classes="form-input",
            select_on_focus=False,
        )

    def _label_text(self, field: FormField) -> str:
        if field.name == ID_FIELD and self.adding:
            return "id (optional)"
        if field.kind == "list":
            return f"{field.name} (comma-separated)"
        if field.required:
            return f"{field.name} *"
        return field.name

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="form-dialog"):
            info = "" if self.adding else self._info_line()
            title_classes = "dialog-title -with-info" if info else "dialog-title"
            yield Label(_literal(self.form_title), id="form-title", classes=title_classes)
            if info:
                yield Label(_literal(info), id="form-info", classes="dialog-info")
            with VerticalScroll(id="form-fields", can_focus=False):
                for field in self.fields:
                    if field.kind != "bool":  # a checkbox carries its own label
                        yield Label(_literal(self._label_text(field)), classes="field-label")
                    yield self._make_input(field)
                    yield Label("", id=field.error_id, classes="field-error -empty")
            yield Label("", id="form-general-error", classes="field-error -empty")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", variant="primary", id="form-save")
                yield Button("Cancel", id="form-cancel")
        yield Footer()

    # -- fitting the terminal -------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        self.call_after_refresh(self._fit_fields)

    def _fit_fields(self) -> None:
        """Cap the scrolling field list so the whole dialog fits above the footer."""
        if self.is_mounted:
            fit_scroller(self, self.query_one("#dialog"), self.query_one("#form-fields"))

    # -- values and validation ------------------------------------------------------------

    def _raw_value(self, field: FormField) -> str | bool:
        """What the widget of ``field`` holds: its text, or a checkbox's state."""
        widget = self.query_one(f"#{field.widget_id}")
        if isinstance(widget, Checkbox):
            return widget.value
        assert isinstance(widget, Input)
        return widget.value

    def _field_value(self, field: FormField) -> Any:
        """The value of one input for validation; ValueError for JSON that is not JSON."""
        raw = self._raw_value(field)
        if isinstance(raw, bool):
            return raw
        text = raw
        if field.name == ID_FIELD and self.adding:
            return text.strip() or new_id()
        if field.kind == "list":
            return split_tags(text)
        if field.kind == "str":
            return None if (field.optional and text == "") else text
        if text.strip() == "" and field.optional:
            return None
        if field.kind in ("int", "float"):
            return text.strip()  # pydantic parses numeric strings and explains failures
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"Not valid JSON: {error.msg} (column {error.colno})") from None

    def _set_error(self, field_name: str | None, message: str) -> None:
        label_id = "form-general-error" if field_name is None else f"error-{field_name}"
        label = self.query_one(f"#{label_id}", Label)
        label.update(_literal(message))
        label.set_class(not message, "-empty")
        if field_name is not None:
            widget = self.query_one(f"#field-{field_name}")
            widget.set_class(bool(message), "-has-error")

    def _clear_errors(self) -> None:
        for field in self.fields:
            self._set_error(field.name, "")
        self._set_error(None, "")

    def untouched(self, field: FormField) -> bool:
        """Whether the input of ``field`` still shows what it started with."""
        return self._raw_value(field) == self._started.get(field.name, _UNSET)

    def build_record(self) -> BaseRecord | None:
        """Validate the form; show errors beside their fields and return None if invalid.

        An edit keeps the stored value of every field whose input is untouched; only the
        fields typed in take their values from the text. Should a kept value not validate
        (an invalid record being fixed), the text its input shows is used instead: what
        the user sees is what is saved.
        """
        self._clear_errors()
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        self._checked = {field.name: self._raw_value(field) for field in self.fields}
        kept = set()
        if not self.adding:
            kept = {f.name for f in self.fields if f.name in self.initial and self.untouched(f)}
        for field in self.fields:
            if field.name in kept:
                continue
            try:
                values[field.name] = self._field_value(field)
            except ValueError as error:
                errors[field.name] = str(error)
        record, invalid = self._validate({**self.initial, **values})
        retry = kept & invalid.keys()
        if retry:
            for field in self.fields:
                if field.name in retry:
                    with contextlib.suppress(ValueError):
                        values[field.name] = self._field_value(field)
            record, invalid = self._validate({**self.initial, **values})
        for name, message in invalid.items():
            errors.setdefault(name, message)
        if errors:
            self._show_errors(errors)
            return None
        return record

    def _validate(self, data: dict[str, Any]) -> tuple[BaseRecord | None, dict[str, str]]:
        try:
            return self.model.model_validate(data), {}
        except ValidationError as error:
            return None, field_errors(error)

    def rebase(self, now: dict[str, Any]) -> list[str]:
        """Base the form on ``now``, the record as it is on disk since it opened: inputs
        the user has not touched show its values; typed ones keep the typing. Returns the
        fields that were typed in and changed on disk as well."""
        both: list[str] = []
        self.initial = {**now, ID_FIELD: self.initial.get(ID_FIELD, now.get(ID_FIELD))}
        for field in self.fields:
            fresh = self._start_value(field)
            widget = self.query_one(f"#{field.widget_id}")
            if self.untouched(field):
                if isinstance(widget, Checkbox):
                    widget.value = bool(fresh)
                elif isinstance(widget, Input):
                    widget.value = str(fresh)
            elif fresh != self._started.get(field.name):
                both.append(field.name)
            self._started[field.name] = fresh
        info = self._info_line()
        for label in self.query("#form-info").results(Label):
            label.update(_literal(info))
        return both

    def _show_errors(self, errors: dict[str, str]) -> None:
        names = {field.name for field in self.fields}
        general = []
        first: str | None = None
        for field in self.fields:
            if field.name in errors:
                self._set_error(field.name, errors[field.name])
                first = first or field.name
        for name, message in errors.items():
            if name not in names:
                general.append(f"{name}: {message}" if name else message)
        if general:
            self._set_error(None, "; ".join(general))
        self.call_after_refresh(self._fit_fields)
        if first is not None:
            self.query_one(f"#field-{first}").focus()

    # -- actions --------------------------------------------------------------------------

    def action_save(self) -> None:
        if self.saving:
            return
        record = self.build_record()
        if record is None:
            return
        if self.submit is None:
            self.dismiss(record)
            return
        self.saving = True
        self.run_worker(self._submit(self.submit, record), group="form-save")

    async def _submit(
        self, submit: Callable[[BaseRecord], Awaitable[str | None]], record: BaseRecord
    ) -> None:
        try:
            problem = await submit(record)
        finally:
            self.saving = False
        if problem is None:
            if self.is_current:
                self.dismiss(record)
            return
        self._set_error(None, problem)
        self.call_after_refresh(self._fit_fields)

    def action_cancel(self) -> None:
        if not self.saving:  # a save under way ends in a moment: its outcome is shown
            self.dismiss(None)

    @on(Button.Pressed, "#form-save")
    def _save_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_save()

    @on(Button.Pressed, "#form-cancel")
    def _cancel_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_cancel()

    @on(Input.Changed, ".form-input")
    @on(Checkbox.Changed, ".form-input")
    def _edited(self, event: Input.Changed | Checkbox.Changed) -> None:
        """Editing a field clears its error: the message described the old value."""
        widget = event.control
        if widget.id is None or not widget.has_class("-has-error"):
            return
        name = widget.id.removeprefix("field-")
        # A change message can arrive after the save that checked the same value.
        if self._checked.get(name, _UNSET) != event.value:
            self._set_error(name, "")
