"""Hostile JSON store files (issue 5, item 5): each is reported in one clear line (the
file, the problem, line:column where that makes sense), is never written (every write
is refused), and in the app the SQLite pane keeps working beside it."""

from __future__ import annotations

import gzip
import json
import os
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pytest

from tests.app_helpers import (
    SIZE,
    FileState,
    browser,
    json_path,
    panes,
    wait_for,
    wait_loaded,
)
from tests.json_files import snapshot, store_file, strict_loads
from tests.reliability.budget import Figures
from tui.app import BrowserApp
from tui.models import ExampleItem
from tui.sample import SQLITE_RECORDS, seed_if_empty
from tui.screens.confirm import ConfirmScreen
from tui.screens.record_form import RecordForm
from tui.stores import FileFormatError, JsonStore, StoreError

if TYPE_CHECKING:
    from conftest import OpenStore

GOOD = {"ok": {"id": "ok", "name": "fine"}}
CANONICAL = (
    orjson.dumps(
        {"a": {"id": "a", "name": "x"}, "b": {"id": "b", "name": "y"}}, option=orjson.OPT_INDENT_2
    )
    + b"\n"
)
COMMAND = ".venv/bin/pytest tests/reliability/test_rel_bad_json.py"


INEXACT = {"25-digit-decimal", "1e-400-underflow"}


def rec(value: bytes) -> bytes:
    """A store with one record whose field ``v`` is ``value`` (which starts at column 37)."""
    return b'{"a": {"id": "a", "name": "x", "v": ' + value + b"}}"


def nested(depth: int) -> bytes:
    return rec(b"[" * depth + b"]" * depth)


def nested_objects(depth: int) -> bytes:
    return rec(b'{"k": ' * depth + b"1" + b"}" * depth)


class Bad:
    """One corpus item: the bytes, and the line:col an error should name (None: no position)."""

    def __init__(self, data: bytes, where: tuple[int, int | None] | None, says: str = "") -> None:
        self.data = data
        self.where = where
        self.says = says


CORPUS: dict[str, Bad] = {
    # truncated, at several points
    "truncated": Bad(b'{\n  "a": {\n    "id": "a",\n    "na', (4, 8)),
    "truncated-after-open-brace": Bad(b"{", (1, 2)),
    "truncated-in-first-key": Bad(b'{"a', (1, 4)),
    "truncated-after-colon": Bad(b'{"a": ', (1, 7)),
    "truncated-in-escape": Bad(b'{"a": {"id": "a", "name": "x\\', (1, 30)),
    "truncated-in-number": Bad(rec(b"12")[:-2], (1, 39)),
    "truncated-before-last-brace": Bad(CANONICAL[:-2], (10, 1), "end of data"),
    "truncated-mid-utf8-character": Bad(b'{"a": {"id": "a", "name": "caf\xc3', (1, 31), "UTF-8"),
    # not JSON, or JSON extensions that are not JSON
    "trailing-comma": Bad(b'{"a": {"id": "a", "name": "x",}}', (1, 30)),
    "not-json-at-all": Bad(b"hello\n", (1, 1)),
    "trailing-garbage": Bad(b'{"a": {"id": "a", "name": "x"}} garbage', (1, 33), "after"),
    "two-documents": Bad(b"{}\n{}\n", (2, 1), "after"),
    "nul-after-document": Bad(CANONICAL + b"\x00", (11, 1), "after"),
    "line-comment": Bad(b'// note\n{"a": {"id": "a", "name": "x"}}', (1, 1)),
    "block-comment": Bad(b'{"a": {"id": "a", /* c */ "name": "x"}}', (1, 19)),
    "single-quotes": Bad(b"{'a': {'id': 'a', 'name': 'x'}}", (1, 2)),
    "unquoted-key": Bad(b'{a: {"id": "a", "name": "x"}}', (1, 2)),
    "missing-colon": Bad(b'{"a" {"id": "a", "name": "x"}}', (1, 6)),
    "missing-comma": Bad(b'{"a": {"id": "a" "name": "x"}}', (1, 18)),
    "python-literals": Bad(rec(b"None"), (1, 37)),
    "invalid-escape": Bad(b'{"a": {"id": "a", "name": "\\q"}}', (1, 28)),
    "short-unicode-escape": Bad(b'{"a": {"id": "a", "name": "\\u12"}}', (1, 28)),
    "leading-zero": Bad(rec(b"012"), (1, 37)),
    "hex-number": Bad(rec(b"0x1F"), (1, 38)),
    "plus-sign": Bad(rec(b"+1"), (1, 37)),
    # not an object of records
    "top-level-list": Bad(b'[{"id": "a", "name": "x"}]\n', None, "array"),
    "top-level-string": Bad(b'"text"\n', None, "string"),
    "top-level-number": Bad(b"42\n", None, "number"),
    "top-level-null": Bad(b"null\n", None, "null"),
    "top-level-boolean": Bad(b"true\n", None, "boolean"),
    "record-is-string": Bad(b'{"a": "just text"}\n', None, "'a'"),
    "record-is-number": Bad(b'{"a": 12}\n', None, "'a'"),
    "record-is-list": Bad(b'{"a": [1, 2]}\n', None, "'a'"),
    "record-is-null": Bad(b'{"a": null}\n', None, "'a'"),
    "record-is-boolean": Bad(b'{"a": true}\n', None, "'a'"),
    # what a lenient parser would bend
    "duplicate-top-level-key": Bad(
        b'{\n  "a": {"id": "a", "name": "x"},\n  "a": {"id": "a", "name": "y"}\n}\n',
        (3, 3),
        "duplicate key 'a'",
    ),
    "duplicate-nested-key": Bad(
        b'{\n  "a": {"id": "a", "name": "x",\n    "name": "y"},\n'
        b'  "b": {"id": "b", "name": "z"}\n}\n',
        (3, 5),
        "duplicate key 'name'",
    ),
    "duplicate-key-deep-inside": Bad(
        b'{"a": {"id": "a", "name": "x", "m": {"k": 1, "j": {"k": 2}, "k": 3}}}',
        (1, 61),
        "duplicate key 'k'",
    ),
    "NaN": Bad(rec(b"NaN"), (1, 37)),
    "Infinity": Bad(rec(b"Infinity"), (1, 37)),
    "-Infinity": Bad(rec(b"-Infinity"), (1, 38)),  # just after the sign
    "1e400": Bad(rec(b"1e400"), (1, 37), "too large"),
    "-1e400": Bad(rec(b"-1e400"), (1, 37), "too large"),
    "1e999999999999": Bad(rec(b"1e999999999999"), (1, 37), "too large"),
    "5000-digit-integer": Bad(rec(b"7" * 5000), (1, 37), "digits"),
    # Legal JSON a double cannot hold: saving would round it, so it is not read.
    "25-digit-decimal": Bad(rec(b"0.1234567890123456789012345"), (1, 37), "kept exactly"),
    "1e-400-underflow": Bad(rec(b"1e-400"), (1, 37), "too small for a double"),
    "nesting-100k-deep": Bad(nested(100_000), (1, None), "nest"),
    "nesting-100k-deep-objects": Bad(nested_objects(100_000), (1, None), "nest"),
    "nesting-1015-deep": Bad(nested(1015), None, "nest"),
    "nesting-600-deep": Bad(nested(600), None, "nest"),
    # encodings
    "invalid-utf8": Bad(b'{"a": {"id": "a",\n "name": "x\xff"}}', (2, 12), "UTF-8"),
    "overlong-utf8": Bad(b'{"a": {"id": "a", "name": "\xc0\xaf"}}', (1, 28), "UTF-8"),
    "utf8-encoded-surrogate": Bad(b'{"a": {"id": "a", "name": "\xed\xa0\x80"}}', (1, 28), "UTF-8"),
    "utf8-bom": Bad(b"\xef\xbb\xbf" + json.dumps(GOOD).encode(), (1, 1), "BOM"),
    "utf16-with-bom": Bad(json.dumps(GOOD).encode("utf-16"), (1, 1), "UTF-16"),
    "utf16-without-bom": Bad(json.dumps(GOOD).encode("utf-16-le"), (1, 1), "UTF-16"),
    "utf16-big-endian": Bad(json.dumps(GOOD).encode("utf-16-be"), (1, 1), "UTF-16"),
    "utf32-with-bom": Bad(json.dumps(GOOD).encode("utf-32"), (1, 1), "UTF-32"),
    "lone-surrogate-escape": Bad(b'{"a": {"id": "a", "name": "\\ud800"}}', (1, 28)),
    "lone-low-surrogate-escape": Bad(b'{"a": {"id": "a", "name": "\\udc00"}}', (1, 28)),
    "lone-surrogate-in-key": Bad(b'{"\\ud800": {"id": "\\ud800", "name": "x"}}', (1, 3)),
    "raw-control-character": Bad(b'{"a": {"id": "a", "name": "x\x01"}}', (1, 29)),
    "form-feed-only": Bad(b"\x0c\n", (1, 1)),  # not JSON whitespace: not an empty file
    "no-break-space-only": Bad("\u00a0".encode(), (1, 1)),
    # not text at all
    "binary-garbage": Bad(bytes(range(256)) * 4, (2, 118)),
    "random-bytes": Bad(random.Random(5).randbytes(4096), (1, 4), "UTF-8"),
    "nul-bytes": Bad(b"\x00\x00\x00\x00", (1, 1)),
    "gzip-of-a-store": Bad(gzip.compress(CANONICAL, mtime=0), (1, 2), "UTF-8"),
    "sqlite-database": Bad(b"SQLite format 3\x00" + bytes(4080), (1, 1)),
}


def check_error(error: BaseException | None, path: Path, bad: Bad) -> None:
    assert isinstance(error, FileFormatError), error
    text = str(error)
    assert str(path) in text
    assert "\n" not in text
    assert bad.says in text
    if bad.where is None:
        return
    line, column = bad.where
    assert error.line == line
    if column is not None:
        assert error.column == column
        assert f"{path}:{line}:{column}: " in text
    else:
        assert error.column is not None
        assert f"{path}:{line}:{error.column}: " in text


async def try_every_write(store: JsonStore[ExampleItem]) -> list[BaseException | None]:
    """Run each write; return what each raised (None when it did not raise)."""
    attempts: list[Any] = [
        lambda: store.upsert(ExampleItem(id="new", name="new")),
        lambda: store.upsert(ExampleItem(id="a", name="an edit")),
        lambda: store.upsert_many(
            [ExampleItem(id="n1", name="n1"), ExampleItem(id="n2", name="n")]
        ),
        lambda: store.put_raw_many([{"id": "raw", "name": "raw"}]),  # an export into it
        lambda: store.delete("a"),
        lambda: store.delete("missing"),
    ]
    raised: list[BaseException | None] = []
    for attempt in attempts:
        try:
            await attempt()
        except Exception as exc:
            raised.append(exc)
        else:
            raised.append(None)
    return raised


def test_the_corpus_is_what_the_issue_asks_for() -> None:
    assert len(CORPUS) >= 40
    assert len({bad.data for bad in CORPUS.values()}) == len(CORPUS)  # no two alike
    for name, bad in CORPUS.items():  # each is not JSON, or not an object of records
        try:
            value = strict_loads(bad.data)
        except (ValueError, RecursionError):
            continue
        is_store = isinstance(value, dict) and all(isinstance(v, dict) for v in value.values())
        # JSON's grammar allows these, but no UTF-8 file can hold a lone surrogate, we
        # write no deeper than MAX_DEPTH, and a double does not hold every decimal.
        allowed = name.startswith("nesting-") or "surrogate" in name or name in INEXACT
        assert not is_store or allowed, name


@pytest.mark.parametrize("name", list(CORPUS))
async def test_malformed_file_is_reported_and_never_written(
    name: str, data_dir: Path, open_store: OpenStore, figures: Figures
) -> None:
    figures.cases("bad JSON files: refused, byte-identical", command=COMMAND)
    bad = CORPUS[name]
    path = store_file(data_dir)
    path.write_bytes(bad.data)
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))  # a recognisable mtime
    before = snapshot(path)

    store = await open_store("json")
    assert isinstance(store, JsonStore)
    check_error(store.load_error, path, bad)
    # reads say why, too
    with pytest.raises(FileFormatError):
        await store.count()
    with pytest.raises(FileFormatError):
        await store.page()

    raised = await try_every_write(store)
    for exc in raised:
        check_error(exc, path, bad)
    assert snapshot(path) == before

    # A second try (after reload) is refused just the same.
    await store.reload()
    check_error(store.load_error, path, bad)
    assert all(isinstance(e, FileFormatError) for e in await try_every_write(store))
    assert snapshot(path) == before

    # Fixing the file and reloading recovers, and writes work again.
    path.write_text(json.dumps(GOOD), "utf-8")
    await store.reload()
    assert store.load_error is None
    assert await store.count() == 1
    await store.upsert(ExampleItem(id="new", name="new"))
    assert sorted(json.loads(path.read_text("utf-8"))) == ["new", "ok"]


async def test_folder_in_place_of_the_file(
    data_dir: Path, open_store: OpenStore, figures: Figures
) -> None:
    figures.cases("bad JSON files: refused, byte-identical", command=COMMAND)
    path = store_file(data_dir)
    path.mkdir()
    (path / "inside.txt").write_text("keep me")
    store = await open_store("json")
    assert isinstance(store, JsonStore)
    check_error(store.load_error, path, Bad(b"", None, "folder"))
    for exc in await try_every_write(store):
        check_error(exc, path, Bad(b"", None, "folder"))
    assert path.is_dir()
    assert [p.name for p in path.iterdir()] == ["inside.txt"]
    assert (path / "inside.txt").read_text() == "keep me"

    (path / "inside.txt").unlink()
    path.rmdir()
    path.write_text(json.dumps(GOOD), "utf-8")
    await store.reload()
    assert store.load_error is None and await store.count() == 1


async def test_dangling_symlink_is_never_replaced_by_a_plain_file(
    data_dir: Path, open_store: OpenStore, figures: Figures
) -> None:
    figures.cases("bad JSON files: refused, byte-identical", command=COMMAND)
    path = store_file(data_dir)
    target = data_dir / "elsewhere" / "items.json"  # its folder does not exist
    path.symlink_to(target)
    store = await open_store("json")
    assert isinstance(store, JsonStore)
    for exc in await try_every_write(store):
        # Refused in one clear line, or followed (the target is written): never replaced.
        if exc is not None:
            assert isinstance(exc, StoreError) and str(path) in str(exc)
            assert "\n" not in str(exc)
    assert path.is_symlink() and os.readlink(path) == str(target)
    assert not target.exists() or isinstance(json.loads(target.read_bytes()), dict)

    # Once the target's folder exists, a write goes through the link to the target.
    target.parent.mkdir()
    await store.upsert(ExampleItem(id="via-link", name="x"))
    assert path.is_symlink() and os.readlink(path) == str(target)
    assert "via-link" in json.loads(target.read_bytes())


# Records the file holds but that are not valid records: the file opens, each such record
# is shown invalid with the reason, and it is written back unchanged, never dropped.
RECORD_LEVEL: dict[str, tuple[dict[str, Any], str]] = {
    "key-id-mismatch": ({"id": "other", "name": "x"}, "does not match key"),
    "no-id": ({"name": "x"}, "does not match key"),
    "id-not-a-string": ({"id": 5, "name": "x"}, "does not match key"),
    "no-name": ({"id": "bad"}, "name"),
    "name-too-long": ({"id": "bad", "name": "n" * 201}, "name"),
    "tags-not-a-list": ({"id": "bad", "name": "x", "tags": "a,b"}, "tags"),
}


@pytest.mark.parametrize("name", list(RECORD_LEVEL))
async def test_invalid_record_is_reported_and_kept_byte_for_byte(
    name: str, data_dir: Path, open_store: OpenStore, figures: Figures
) -> None:
    figures.cases("invalid records in a good file: shown, kept as they are", command=COMMAND)
    raw, says = RECORD_LEVEL[name]
    path = store_file(data_dir)
    body = orjson.dumps(raw)
    path.write_bytes(b'{"bad": ' + body + b', "ok": {"id": "ok", "name": "fine"}}')
    store = await open_store("json")
    assert isinstance(store, JsonStore) and store.load_error is None
    entry = await store.get("bad")
    assert entry is not None and not entry.valid
    assert entry.error is not None and says in entry.error
    await store.upsert(ExampleItem(id="new", name="new"))
    await store.upsert(ExampleItem(id="ok", name="edited"))
    await store.delete("new")
    stored = json.loads(path.read_bytes())
    assert list(stored) == ["bad", "ok"] and stored["bad"] == raw
    assert orjson.dumps(stored["bad"]) == body  # field order kept as well


APP_SUBSET = [
    "truncated",
    "trailing-garbage",
    "top-level-list",
    "record-is-null",
    "duplicate-nested-key",
    "NaN",
    "5000-digit-integer",
    "nesting-100k-deep",
    "invalid-utf8",
    "utf8-bom",
    "utf16-with-bom",
    "lone-surrogate-escape",
    "binary-garbage",
    "form-feed-only",
]


async def test_app_reports_each_bad_file_and_the_sqlite_pane_keeps_working(
    tmp_path: Path, figures: Figures
) -> None:
    """One app session: each bad file in turn (reloaded with ``r``) is an error state in
    the JSON pane that no key can write through; the SQLite pane still adds records."""
    assert await seed_if_empty(tmp_path)
    path = json_path(tmp_path)
    app = BrowserApp(tmp_path)
    added = 0
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        left, right = panes(app)
        screen = browser(app)
        for n, name in enumerate(APP_SUBSET):
            figures.cases("bad JSON files in the app: refused, other pane works", command=COMMAND)
            path.write_bytes(CORPUS[name].data)
            before = FileState.of(path)
            await pilot.press("r")
            await wait_for(pilot, lambda: left.error is not None)
            shown = str(left.query_one("#error").render())
            assert str(path.name) in shown and "Nothing will be written" in shown
            assert "\x1b" not in shown and "\x00" not in shown
            # The JSON pane is the one the keys act on: its error box has the focus.
            screen.set_focus(left.focus_target)
            for key in ("a", "e", "d", "x"):
                await pilot.press(key)
                await pilot.pause()
                assert not isinstance(app.screen, (RecordForm, ConfirmScreen)), (name, key)
            said = [n.message for n in app._notifications]
            for what in ("add to", "edit in", "delete from"):
                assert any(
                    m.startswith(f"Cannot {what} the JSON store: {path}") and "\n" not in m
                    for m in said
                ), (name, what, said)
            assert any(m.startswith("Cannot export") for m in said), (name, said)
            app.clear_notifications()
            assert FileState.of(path) == before
            if n % 4 == 0:  # the other pane keeps taking records
                screen.set_focus(right.focus_target)
                await pilot.press("a")
                await wait_for(pilot, lambda: isinstance(app.screen, RecordForm))
                await pilot.press(*f"sqlite{n}", "ctrl+s")
                await wait_for(pilot, lambda: not isinstance(app.screen, RecordForm))
                added += 1
                total = len(SQLITE_RECORDS) + added
                await wait_for(pilot, lambda: right.table.total == total)  # noqa: B023
            assert app.is_running
        path.write_bytes(b"{}\n")
        await pilot.press("r")
        await wait_for(pilot, lambda: left.error is None)
