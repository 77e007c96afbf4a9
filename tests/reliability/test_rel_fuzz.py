"""hypothesis fuzzing (issue 5, item 5): the JSON store's loader on mutated store files,
and the record form on random typed text. Never any exception but the documented one,
never a write, never a crash."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from textual.app import App, ComposeResult
from textual.widgets import Input, Label

from tests.json_files import strict_loads
from tests.records import identical, json_values
from tests.reliability.budget import Figures, amount
from tui.models import ExampleItem
from tui.screens.record_form import RecordForm, split_tags
from tui.stores import FileFormatError, JsonStore, SqliteStore

COMMAND = "TUI_RELIABILITY=long .venv/bin/pytest tests/reliability/test_rel_fuzz.py"
FUZZED_FILES = "fuzzed JSON files: loaded exactly or refused, unwritten"
FUZZED_FORMS = "fuzzed form inputs: saved as typed or refused with a message"
EITHER = object()  # the oracle does not say (deeper nesting than a mutation makes)
ERROR = object()


# -- the oracle: the standard library, strict ---------------------------------------------


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


def utf8_clean(value: Any) -> bool:
    """No lone surrogate anywhere (a UTF-8 file cannot hold one)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(utf8_clean(k) and utf8_clean(v) for k, v in value.items())
    if isinstance(value, list):
        return all(map(utf8_clean, value))
    return True


def expected_store(data: bytes) -> Any:
    """The records a store file must load as, ERROR, or EITHER."""
    if not data.strip(b" \t\r\n"):
        return {}
    try:
        value = strict_loads(data)
    except (ValueError, RecursionError):
        return ERROR
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        return ERROR
    if not utf8_clean(value):
        return ERROR
    if depth(value) > 200:
        return EITHER
    return value


# -- store files and their mutations --------------------------------------------------------

records = st.dictionaries(
    st.text(max_size=6),
    st.dictionaries(st.text(max_size=6), json_values(6), max_size=4),
    max_size=4,
)
TOKENS = [
    b"{",
    b"}",
    b"[",
    b"]",
    b'"',
    b",",
    b":",
    b"\\",
    b" ",
    b"\n",
    b"\t",
    b"\x0c",
    b"\x00",
    b"\xff",
    b"\xc3",
    b"\xef\xbb\xbf",
    b"NaN",
    b"-Infinity",
    b"1e999",
    b"-0",
    b"0.5e-3",
    b"\\ud800",
    b"\\u0000",
    b'"a": 1,',
    b'"id": "x"',
    b"null",
    b"true",
    b"//",
    b"/*",
    b"'",
    b"9" * 400,
]


def layout(data: dict[str, Any], kind: int) -> bytes:
    if kind == 0:  # the store's own layout
        return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    if kind == 1:  # compact, escaped
        return json.dumps(data).encode()
    return json.dumps(data, indent=4, ensure_ascii=False).encode()  # hand-edited look


@st.composite
def store_files(draw: st.DrawFn) -> bytes:
    data = bytearray(layout(draw(records), draw(st.integers(0, 2))))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "token"]))
        if kind == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        else:
            data[at:at] = draw(st.sampled_from(TOKENS))
    return bytes(data)


def check_one_file(data_dir: Path, data: bytes) -> bool:
    """Open a store on ``data``; True when it loaded records, False when it refused."""
    path = data_dir / "json" / "example_items.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    before = path.stat()
    expected = expected_store(data)

    async def load() -> Any:
        store = JsonStore.in_data_dir(data_dir, "example_items", ExampleItem)
        await store.open()
        try:
            if store.load_error is not None:
                return store.load_error
            return dict(store.raw_items())
        finally:
            await store.close()

    got = asyncio.run(load())
    if isinstance(got, BaseException):
        assert isinstance(got, FileFormatError)  # and never any other exception
        assert str(path) in str(got) and "\n" not in str(got)
        assert expected is ERROR or expected is EITHER, (data, got, expected)
    else:
        assert expected is not ERROR, (data, got)
        assert expected is EITHER or identical(got, expected), (data, got, expected)
    after = path.stat()
    assert path.read_bytes() == data  # never written
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert [p.name for p in path.parent.iterdir() if not p.name.endswith(".lock")] == [path.name]
    return not isinstance(got, BaseException)


def test_loader_on_mutated_store_files(tmp_path: Path, figures: Figures) -> None:
    seen = {"loaded": 0, "refused": 0}

    @settings(
        max_examples=amount(300, 5000),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    @given(store_files())
    def run(data: bytes) -> None:
        figures.cases(FUZZED_FILES, command=COMMAND)
        seen["loaded" if check_one_file(tmp_path, data) else "refused"] += 1

    run()
    assert seen["loaded"] and seen["refused"]  # both sides of the oracle were reached


def test_loader_on_random_json_values(tmp_path: Path, figures: Figures) -> None:
    """Any JSON document at all as a store file (most are not an object of records)."""

    @settings(max_examples=amount(150, 2000), deadline=None, database=None)
    @given(json_values(12), st.integers(0, 2))
    def run(value: Any, kind: int) -> None:
        data = (
            orjson.dumps(value, option=orjson.OPT_INDENT_2)
            if kind == 0
            else json.dumps(value, indent=kind, ensure_ascii=kind == 1).encode()
        )
        figures.cases(FUZZED_FILES, command=COMMAND)
        check_one_file(tmp_path, data)

    run()


# -- the record form ------------------------------------------------------------------------

HOSTILE = [
    "[@click=app.quit]x[/]",
    "[link=https://x]y[/link]",
    "[/]",
    "[bold",
    "\x1b[2J",
    "\x1b]52;c;aGk=\x07",
    "\x1b]8;;https://x\x1b\\x\x1b]8;;\x1b\\",
    "\x9b2J",
    "\u202eevil\u2066",
    "\u200b\u200d\ufeff",
    "\x00\x07\x7f",
    "-12",
    "3.5e10",
    "NaN",
    "  ",
    "a, b,,c , ",
    "🦄 東京 é",
]
typed = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(codec="utf-8"), max_size=40),
    st.sampled_from(HOSTILE),
    st.lists(st.sampled_from(HOSTILE), min_size=1, max_size=4).map("".join),
    st.integers().map(str),
    st.floats().map(str),
    st.text(min_size=190, max_size=210),  # around the name's 200-character limit
    st.just("x" * 100_000),
)
form_inputs = st.fixed_dictionaries(
    {"name": typed, "description": typed, "tags": typed, "id": typed, "edit": st.booleans()}
)


class Host(App[None]):
    CSS_PATH = Path(__file__).resolve().parents[2] / "styles" / "forms.tcss"

    def __init__(self) -> None:
        super().__init__()
        self.results: list[Any] = []

    def compose(self) -> ComposeResult:
        yield Label("host")


EXISTING = {
    "id": "kept-id",
    "schema_version": 1,
    "created_at": "2026-01-01T00:00:00.000000Z",
    "updated_at": "2026-01-01T00:00:00.000000Z",
    "name": "old",
    "description": "old",
    "tags": ["old"],
    "unknown": {"kept": [1, "two"]},
}


async def fill_forms(cases: list[dict[str, Any]], data_dir: Path) -> tuple[int, int]:
    """Fill and save one form per case; return (saved, refused with a message)."""
    saved = refused = 0
    app = Host()
    json_store = JsonStore.in_data_dir(data_dir, "example_items", ExampleItem)
    sqlite_store = SqliteStore.in_data_dir(data_dir, "example_items", ExampleItem)
    await json_store.open()
    await sqlite_store.open()
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            for case in cases:
                form = (
                    RecordForm(ExampleItem, "Edit in JSON store", EXISTING)
                    if case["edit"]
                    else RecordForm(ExampleItem, "Add to JSON store")
                )
                await app.push_screen(form, app.results.append)
                await pilot.pause()
                fields = ["name", "description", "tags"] + ([] if case["edit"] else ["id"])
                for field in fields:  # as pasted; the first field gets a few keys typed too
                    form.query_one(f"#field-{field}", Input).value = case[field]
                await pilot.press("end", "z", "backspace")  # real keys in the focused field
                await pilot.press("ctrl+s")
                await pilot.pause()
                assert app.is_running
                if app.screen is form:  # refused: a message says why, the form stays
                    messages = [
                        str(label.content)
                        for label in form.query(Label)
                        if "error" in str(label.id)
                    ]
                    assert any(m.strip() for m in messages), case
                    refused += 1
                    await pilot.press("escape")
                    await pilot.pause()
                    assert app.screen is not form
                    continue
                record = app.results[-1]
                assert isinstance(record, ExampleItem)
                assert record.name == case["name"]
                assert record.description == case["description"]
                assert record.tags == split_tags(case["tags"])
                if case["edit"]:
                    assert record.id == "kept-id"
                    assert record.model_extra == {"unknown": {"kept": [1, "two"]}}
                else:
                    assert record.id == (case["id"].strip() or record.id)
                # ...and both stores keep exactly that.
                for store in (json_store, sqlite_store):
                    await store.upsert(record)
                    entry = await store.get(record.id)
                    assert entry is not None and entry.record is not None
                    got = entry.record
                    assert (got.name, got.description, got.tags) == (
                        record.name,
                        record.description,
                        record.tags,
                    )
                saved += 1
    finally:
        await json_store.close()
        await sqlite_store.close()
    return saved, refused


def test_form_on_random_typed_text(tmp_path: Path, figures: Figures) -> None:
    outcomes = {"saved": 0, "refused": 0}
    run_number = 0

    @settings(
        max_examples=amount(5, 100),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    @given(st.lists(form_inputs, min_size=2, max_size=5))
    def run(cases: list[dict[str, Any]]) -> None:
        nonlocal run_number
        run_number += 1
        figures.cases(FUZZED_FORMS, len(cases), COMMAND)
        saved, refused = asyncio.run(fill_forms(cases, tmp_path / str(run_number)))
        outcomes["saved"] += saved
        outcomes["refused"] += refused

    run()
    assert outcomes["saved"] and outcomes["refused"]  # both outcomes were reached
