"""A file the JSON store cannot read is reported (where and why) and never overwritten."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tui.models import ExampleItem
from tui.stores import FileFormatError, JsonStore

if TYPE_CHECKING:
    from conftest import OpenStore

GOOD = {"ok": {"id": "ok", "name": "fine"}}


def rec(value: bytes) -> bytes:
    """A store with one record whose field ``v`` is ``value`` (which starts at column 37)."""
    return b'{"a": {"id": "a", "name": "x", "v": ' + value + b"}}"


def nested(depth: int) -> bytes:
    return rec(b"[" * depth + b"]" * depth)


class Bad:
    """One corpus item: the bytes, and the line:col an error should name (None: no position)."""

    def __init__(self, data: bytes, where: tuple[int, int | None] | None, says: str = "") -> None:
        self.data = data
        self.where = where
        self.says = says


CORPUS: dict[str, Bad] = {
    "truncated": Bad(b'{\n  "a": {\n    "id": "a",\n    "na', (4, 8)),
    "trailing-comma": Bad(b'{"a": {"id": "a", "name": "x",}}', (1, 30)),
    "not-json-at-all": Bad(b"hello\n", (1, 1)),
    "top-level-list": Bad(b'[{"id": "a", "name": "x"}]\n', None, "array"),
    "top-level-string": Bad(b'"text"\n', None, "string"),
    "record-is-string": Bad(b'{"a": "just text"}\n', None, "'a'"),
    "record-is-number": Bad(b'{"a": 12}\n', None, "'a'"),
    "record-is-list": Bad(b'{"a": [1, 2]}\n', None, "'a'"),
    "record-is-null": Bad(b'{"a": null}\n', None, "'a'"),
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
    "nesting-100k-deep": Bad(nested(100_000), (1, None), "nest"),
    "nesting-1015-deep": Bad(nested(1015), None, "nest"),
    "nesting-600-deep": Bad(nested(600), None, "nest"),
    "5000-digit-integer": Bad(rec(b"7" * 5000), (1, 37), "digits"),
    "invalid-utf8": Bad(b'{"a": {"id": "a",\n "name": "x\xff"}}', (2, 12), "UTF-8"),
    "utf8-bom": Bad(b"\xef\xbb\xbf" + json.dumps(GOOD).encode(), (1, 1), "BOM"),
    "lone-surrogate-escape": Bad(b'{"a": {"id": "a", "name": "\\ud800"}}', (1, 28)),
    "raw-control-character": Bad(b'{"a": {"id": "a", "name": "x\x01"}}', (1, 29)),
    "binary-garbage": Bad(bytes(range(256)) * 4, (2, 118)),
    "nul-bytes": Bad(b"\x00\x00\x00\x00", (1, 1)),
}


def store_file(data_dir: Path) -> Path:
    path = data_dir / "json" / "example_items.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def snapshot(path: Path) -> tuple[bytes, int, int, list[str]]:
    st = path.stat()
    folder = sorted(p.name for p in path.parent.iterdir() if not p.name.endswith(".lock"))
    return path.read_bytes(), st.st_mtime_ns, st.st_ino, folder


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
        lambda: store.upsert_many(
            [ExampleItem(id="n1", name="n1"), ExampleItem(id="n2", name="n")]
        ),
        lambda: store.put_raw_many([{"id": "raw", "name": "raw"}]),
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


@pytest.mark.parametrize("name", list(CORPUS))
async def test_malformed_file_is_reported_and_never_written(
    name: str, data_dir: Path, open_store: OpenStore
) -> None:
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


async def test_folder_in_place_of_the_file(data_dir: Path, open_store: OpenStore) -> None:
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


async def test_file_broken_after_open_is_not_overwritten(
    data_dir: Path, open_store: OpenStore
) -> None:
    path = store_file(data_dir)
    path.write_text(json.dumps(GOOD), "utf-8")
    store = await open_store("json")
    assert await store.count() == 1
    # someone else breaks the file while we hold it open
    path.write_bytes(b'{"ok": {"id": "ok", "name": "fine"}')
    before = snapshot(path)
    with pytest.raises(FileFormatError):
        await store.upsert(ExampleItem(id="x", name="x"))
    assert snapshot(path) == before
    assert isinstance(store, JsonStore) and store.load_error is not None


@pytest.mark.parametrize("content", [b"", b" ", b"\n", b"  \n\t\r\n  "], ids=repr)
async def test_empty_or_whitespace_file_is_an_empty_store(
    content: bytes, data_dir: Path, open_store: OpenStore
) -> None:
    path = store_file(data_dir)
    path.write_bytes(content)
    store = await open_store("json")
    assert isinstance(store, JsonStore) and store.load_error is None
    assert await store.count() == 0
    assert path.read_bytes() == content  # opening alone writes nothing
    await store.upsert(ExampleItem(id="a", name="first"))
    assert list(json.loads(path.read_text("utf-8"))) == ["a"]


async def test_missing_file_is_an_empty_store_and_not_created_by_reading(
    data_dir: Path, open_store: OpenStore
) -> None:
    store = await open_store("json")
    assert await store.count() == 0
    assert not store.path.exists()
    assert isinstance(store, JsonStore) and store.load_error is None


HUGE = int("7" * 400)  # legal JSON, exact in Python, too big for a double

HAND_WRITTEN = (
    "{\n"
    '    "h1": {\n'
    '        "id": "h1",\n'
    '        "name": "caf\\u00e9 \\ud83e\\udd84 \\"q\\" \\\\ \\/",\n'
    '        "created_at": "2026-11-29T17:55:20.845500Z",\n'
    '        "updated_at": "2026-11-29T17:55:20.845500+00:00",\n'
    '        "tags": ["a","b"],\n'
    '        "big": 123456789012345678901234567890,\n'
    '        "neg": -98765432109876543210,\n'
    f'        "huge": {HUGE},\n'
    '        "f": 1.50, "e": 1E+2, "small": 5e-324,\n'
    '        "nested": {"deep": [ {"x": null}, true, false, [] ]}\n'
    "    },\n"
    '    "h0": {"id": "h0", "name": "second, in file order"}\n'
    "}"
)


async def test_non_canonical_file_is_read_exactly_and_kept_after_a_write(
    data_dir: Path, open_store: OpenStore
) -> None:
    path = store_file(data_dir)
    path.write_text(HAND_WRITTEN, "ascii")
    original = json.loads(HAND_WRITTEN)
    assert original["h1"]["huge"] == HUGE  # the test data itself is what we think

    store = await open_store("json")
    assert isinstance(store, JsonStore) and store.load_error is None
    entry = await store.get("h1")
    assert entry is not None and entry.valid and entry.record is not None
    assert entry.record.name == 'café 🦄 "q" \\ /'
    assert entry.raw["big"] == 123456789012345678901234567890
    assert type(entry.raw["big"]) is int and type(entry.raw["huge"]) is int
    assert entry.raw["huge"] == HUGE
    assert entry.raw["neg"] == -98765432109876543210
    assert type(entry.raw["e"]) is float and entry.raw["e"] == 100.0

    await store.upsert(ExampleItem(id="new", name="unrelated"))
    rewritten = path.read_text("utf-8")
    again = json.loads(rewritten)
    assert list(again) == ["h1", "h0", "new"]  # file order kept, new at the end
    for key in ("h1", "h0"):
        assert json.dumps(again[key], sort_keys=True) == json.dumps(original[key], sort_keys=True)
        assert list(again[key]) == list(original[key])
    # ...written in the store's own layout: 2-space indent, UTF-8 unescaped, newline at end
    assert rewritten == json.dumps(again, indent=2, ensure_ascii=False) + "\n"
    assert "café 🦄" in rewritten

    fresh = await open_store("json")
    got = await fresh.get("h1")
    assert got is not None and got.raw == original["h1"]
    assert type(got.raw["huge"]) is int
