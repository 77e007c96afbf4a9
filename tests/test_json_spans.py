"""A JSON store file in our layout is split into records without parsing, then checked.

The split must give exactly what a full parse gives for any file ``jsoncodec.serialize``
writes, or nothing (then the file is parsed in full); the check after it must catch any
file the split could misread, and until it has, nothing may be written.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.records import json_values as json_values_up_to
from tui.models import ExampleItem
from tui.stores import FileFormatError, JsonStore, jsoncodec, jsonio, jsonspans

json_values = json_values_up_to(10)
tricky_text = st.text(max_size=6) | st.sampled_from(
    ['"', "\\", "\n  ", '": ', ',\n  "', "\n  }", "{}", ",", "東京", "\x00", "a", "a\n"]
)
records = st.dictionaries(tricky_text, json_values, max_size=4)
stores = st.dictionaries(tricky_text, records, min_size=1, max_size=6)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


def parsed(split: dict[str, bytes]) -> dict[str, Any]:
    return {key: jsonspans.loads(piece) for key, piece in split.items()}


@SETTINGS
@given(data=stores, chunk=st.integers(1, 64))
def test_split_of_our_layout_is_the_parse(data: dict[str, Any], chunk: int) -> None:
    try:
        blob = jsoncodec.serialize(data)
        orjson.dumps(data)
    except TypeError:
        return  # written by the standard library: not what the split is for
    split = jsonspans.split_records(blob)
    if split is None:
        # Only keys with escapes are left to the full parse.
        assert any(orjson.dumps(key)[1:-1] != key.encode() for key in data)
        return
    assert parsed(split) == orjson.loads(blob)
    assert list(split) == list(data)
    assert jsonspans.join_records(split) == blob
    assert jsonspans.verify_records(split)
    for key, piece in split.items():
        assert jsonspans.entry(piece) == jsonio.record_entry(key, data[key])
        assert jsonspans.is_exact(piece, data[key])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.json"
        path.write_bytes(blob)
        saved = jsonspans._READ
        jsonspans._READ = chunk
        try:
            assert jsonspans.read_split(path) == split
        finally:
            jsonspans._READ = saved


@pytest.mark.parametrize(
    "blob",
    [
        b'{\n  "a": {\n    "x": 1,\n    "x": 2\n  }\n}\n',  # a key repeated in a record
        b'{\n  "a": {\n    "n": 99999999999999999999\n  }\n}\n',  # past 64 bits
        b'{\n  "a": {\n    "f": 1.50\n  }\n}\n',  # another spelling
        b'{\n  "a": {"x": 1}\n}\n',  # another layout inside
        b'{\n  "a": [\n    1\n  ]\n}\n',  # not an object
        b'{\n  "a": {\n    "s": "x\n  "b": {}\n  }\n}\n',  # a raw newline in a string
        b'{\n  "a": {},\n  "b": {}  \n}\n',  # trailing spaces
    ],
)
def test_the_check_rejects_what_the_split_may_misread(blob: bytes) -> None:
    split = jsonspans.split_records(blob)
    assert split is not None
    assert not jsonspans.verify_records(split)
    assert jsonspans.join_records(split) == blob


def test_the_split_declines_what_is_plainly_not_our_layout() -> None:
    declined = [b"", b"{}\n", b'{"a": {}}', b'{\n  "a": {},\n  "a": {}\n}\n']
    for blob in [*declined, b'{\n  "a\\"": {}\n}\n']:
        assert jsonspans.split_records(blob) is None


def open_store(path: Path) -> JsonStore[ExampleItem]:
    store = JsonStore(path, ExampleItem)
    asyncio.run(store.open())
    return store


def record(key: str) -> ExampleItem:
    return ExampleItem.model_validate(
        {
            "id": key,
            "name": f"n{key}",
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
        }
    )


def test_a_check_that_fails_after_open_blocks_writes(tmp_path: Path) -> None:
    path = tmp_path / "json" / "example_items.json"
    path.parent.mkdir()
    good = jsoncodec.serialize({"b": record("b").to_raw()})
    # Our layout to the split, but a key repeats inside the second record.
    blob = good[:-3] + b',\n  "c": {\n    "id": "c",\n    "id": "c"\n  }\n}\n'
    path.write_bytes(blob)

    async def run() -> None:
        store = JsonStore(path, ExampleItem)
        await store.open()
        assert store.known_load_error is None  # rows may show before the check ends
        assert await store.count() == 2
        with pytest.raises(FileFormatError, match="duplicate key"):
            await store.upsert(record("d"))
        error = await store.checked()
        assert error is not None and "duplicate key" in str(error)
        with pytest.raises(FileFormatError):
            await store.delete("b")
        with pytest.raises(FileFormatError):
            await store.put_raw_many([record("e").to_raw()])

    asyncio.run(run())
    assert path.read_bytes() == blob


def test_a_valid_file_not_in_our_layout_is_parsed_strictly_after_the_split(
    tmp_path: Path,
) -> None:
    path = tmp_path / "example_items.json"
    raw = {**record("a").to_raw(), "big": 2**70}
    blob = jsoncodec.serialize({"a": raw})  # written by the standard library
    path.write_bytes(blob)

    async def run() -> None:
        store = JsonStore(path, ExampleItem)
        await store.open()
        entry = await store.get("a")  # before the check: never a bent value
        assert entry is not None and entry.raw["big"] == 2**70
        assert await store.checked() is None
        assert dict(store.raw_items()) == {"a": raw}
        await store.upsert(record("b"))

    asyncio.run(run())
    assert orjson.loads(path.read_bytes())["a"]["name"] == "na"
    assert jsoncodec.parse_store_bytes(path, path.read_bytes())["a"]["big"] == 2**70


def test_records_held_as_bytes_are_written_back_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "example_items.json"
    data = {key: record(key).to_raw() for key in "abcdef"}
    path.write_bytes(jsoncodec.serialize(data))

    async def run() -> None:
        store = JsonStore(path, ExampleItem)
        await store.open()
        assert await store.checked() is None
        assert store._file_is_serialized
        assert all(isinstance(value, bytes) for value in store._data.values())
        raws = [{**record(key).to_raw(), "name": "x"} for key in "ace"]
        await store.put_raw_many(raws)  # spliced
        expected = {**data, **{raw["id"]: raw for raw in raws}}
        assert path.read_bytes() == jsoncodec.serialize(expected)
        assert dict(store.raw_items()) == expected
        assert all(isinstance(value, bytes) for value in store._data.values())
        await store.upsert(record("b"))  # held as a dict
        # Written whole, bytes and dicts mixed: the same bytes.
        mixed = store._data
        assert any(isinstance(v, bytes) for v in mixed.values())
        assert any(isinstance(v, dict) for v in mixed.values())
        other = tmp_path / "whole.json"
        assert jsonio.atomic_write_layout(other, mixed)
        assert other.read_bytes() == path.read_bytes() == jsoncodec.serialize(mixed)

    asyncio.run(run())


def test_the_pane_shows_a_check_that_fails_after_the_rows(tmp_path: Path) -> None:
    from tests.app_helpers import wait_for
    from tui.app import BrowserApp
    from tui.widgets.store_pane import StorePane

    path = tmp_path / "json" / "example_items.json"
    path.parent.mkdir()
    good = jsoncodec.serialize({"b": record("b").to_raw()})
    blob = good[:-3] + b',\n  "c": {\n    "id": "c",\n    "id": "c"\n  }\n}\n'
    path.write_bytes(blob)

    async def run() -> None:
        app = BrowserApp(tmp_path)
        async with app.run_test() as pilot:
            await wait_for(pilot, lambda: bool(app.browser.query(StorePane)))
            pane = app.browser.json_pane
            await wait_for(pilot, lambda: pane.error is not None, timeout=30)
            assert pane.error is not None and "duplicate key" in str(pane.error)
            assert not pane.writable

    asyncio.run(run())
    assert path.read_bytes() == blob
