"""Numbers are read only when they can be written back as the same number: a decimal
with more digits than a double holds is refused (a JSON file) or an invalid record (a
SQLite row), never silently rounded by the next save."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui.models import ExampleItem
from tui.stores import JsonStore, SqliteStore
from tui.stores.base import FileFormatError
from tui.stores.jsoncodec import parse_json_value, parse_store_bytes

HELD = ["0.1", "1.10", "1e2", "-0.0", "5e-324", "1.7976931348623157e308", "123456.789"]
NOT_HELD = ["0.12345678901234567890123", "1e-400", "9007199254740993.0", "0.30000000000000004441"]


def _file(number: str) -> bytes:
    return ('{"a": {"id": "a", "name": "n", "v": ' + number + "}}").encode()


@pytest.mark.parametrize("number", HELD)
def test_numbers_a_double_holds_are_read(number: str) -> None:
    value = parse_store_bytes(Path("x.json"), _file(number))["a"]["v"]
    assert Decimal(repr(value)) == Decimal(number)


@pytest.mark.parametrize("number", NOT_HELD)
def test_numbers_a_double_does_not_hold_are_refused_with_their_place(number: str) -> None:
    with pytest.raises(FileFormatError) as caught:
        parse_store_bytes(Path("x.json"), _file(number))
    assert caught.value.line == 1 and caught.value.column == 37
    assert number in str(caught.value) and "kept exactly" in str(caught.value)


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_double_as_python_and_orjson_write_it_is_read_back_exactly(x: float) -> None:
    for text in (repr(x), json.dumps(x), json.dumps({"v": x}, indent=1)):
        value = parse_json_value(text)
        assert value == x or value == {"v": x}


@settings(max_examples=300, deadline=None)
@given(st.decimals(allow_nan=False, allow_infinity=False, places=None))
def test_any_decimal_is_read_as_itself_or_refused(number: Decimal) -> None:
    text = str(number)
    if "E" in text or "." not in text:
        text = f"{number:.25f}".rstrip("0") + "0"  # a fraction, so JSON reads a float
    try:
        value = parse_json_value(text)
    except ValueError:
        return
    assert Decimal(repr(value)) == Decimal(text)


async def test_a_json_store_with_such_a_number_is_never_written(tmp_path: Path) -> None:
    path = tmp_path / "items.json"
    path.write_bytes(_file(NOT_HELD[0]))
    before = path.read_bytes()
    store = JsonStore(path, ExampleItem)
    await store.open()
    assert isinstance(store.load_error, FileFormatError)
    with pytest.raises(FileFormatError):
        await store.upsert(ExampleItem(id="b", name="other"))
    assert path.read_bytes() == before


async def test_a_sqlite_row_with_such_a_number_is_an_invalid_record_kept_as_it_is(
    tmp_path: Path,
) -> None:
    path = tmp_path / "myapp.db"
    async with SqliteStore(path, "example_items", ExampleItem) as store:
        await store.upsert(ExampleItem(id="ok", name="fine"))
    text = '{"id":"odd","name":"n","v":' + NOT_HELD[0] + "}"
    db = sqlite3.connect(path)
    with db:
        db.execute("INSERT INTO example_items (id, data) VALUES ('odd', ?)", (text,))
    db.close()
    async with SqliteStore(path, "example_items", ExampleItem) as store:
        odd = await store.get("odd")
        assert odd is not None and not odd.valid and "kept exactly" in (odd.error or "")
        assert odd.raw == text  # shown as stored
        assert (await store.get("ok")).valid  # type: ignore[union-attr]
        await store.upsert(ExampleItem(id="new", name="new"))
    db = sqlite3.connect(path)
    assert db.execute("SELECT data FROM example_items WHERE id = 'odd'").fetchone() == (text,)
    db.close()
