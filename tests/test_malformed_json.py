"""A JSON store file changed or hand-written outside the app: read exactly, never lost.

The corpus of hostile files (each reported and never written) is in
tests/reliability/test_rel_bad_json.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.json_files import snapshot, store_file
from tui.models import ExampleItem
from tui.stores import FileFormatError, JsonStore

if TYPE_CHECKING:
    from conftest import OpenStore

GOOD = {"ok": {"id": "ok", "name": "fine"}}


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
