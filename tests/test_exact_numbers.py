"""Numbers are read only when they can be written back as the same number: a decimal
with more digits than a double holds is refused (a JSON file) or an invalid record (a
SQLite row), never silently rounded by the next save."""

from __future__ import annotations

import json
import math
import sqlite3
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tui.models import ExampleItem
from tui.stores import JsonStore, SqliteStore
from tui.stores.base import FileFormatError
from tui.stores.jsoncodec import parse_json_value, parse_store_bytes

HELD = [
    "0.1",
    "1.10",
    "1e2",
    "1E5",
    "1.0E+22",
    "-0.0",
    "-0e0",
    "5e-324",
    "1.7976931348623157e308",
    "123456.789",
    "0.10000000000000001",  # C's %.17g of 0.1
    "4.9406564584124654e-324",
    "6.66666666666681e-311",  # what SQLite's json_object writes for a subnormal
    "0e99999999999999999999",  # zero, whatever the exponent
    "5.960464477539063e-8",  # 2**-24: shortest digits (a tie: format(.16g) ends in 2)
]
NOT_HELD = [
    "0.12345678901234567890123",
    "1e-400",
    "1e-99999999999999999999",
    "9007199254740993.0",
    "0.1234567890123456789e5",
    # 17 digits that read as the double whose 17-digit form ends in 535 (found by the
    # long fuzz run): a save would write ...535, so the text is not kept either.
    "1.4756395258965534e+21",
]


def _file(number: str) -> bytes:
    return ('{"a": {"id": "a", "name": "n", "v": ' + number + "}}").encode()


@pytest.mark.parametrize("number", HELD)
def test_numbers_a_double_holds_are_read(number: str) -> None:
    value = parse_store_bytes(Path("x.json"), _file(number))["a"]["v"]
    assert value == float(number)


@pytest.mark.parametrize("number", NOT_HELD)
def test_numbers_a_double_does_not_hold_are_refused_with_their_place(number: str) -> None:
    with pytest.raises(FileFormatError) as caught:
        parse_store_bytes(Path("x.json"), _file(number))
    assert caught.value.line == 1 and caught.value.column == 37
    why = "too small for a double" if float(number) == 0 else "kept exactly"
    assert number in str(caught.value) and why in str(caught.value)


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_double_as_python_and_orjson_write_it_is_read_back_exactly(x: float) -> None:
    for text in (
        repr(x),
        json.dumps(x),
        json.dumps({"v": x}, indent=1),
        orjson.dumps(x).decode(),  # shortest digits too, spelled 5.960464477539063e-8
        '{"v": ' + orjson.dumps(x).decode() + " }",  # ...in a file not in our layout
    ):
        value = parse_json_value(text)
        assert value == x or value == {"v": x}


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False), st.integers(1, 25))
def test_a_double_written_to_any_precision_is_read_as_written(x: float, digits: int) -> None:
    """No false refusals: whatever precision a writer used (%.3g, %.17g, ...)."""
    text = format(x, f".{digits}e")
    assume(math.isfinite(float(text)))  # 1.8e+308 is past a double: refused as too large
    assert parse_json_value(text) == float(text)


@settings(max_examples=300, deadline=None)
@given(st.text("0123456789", min_size=18, max_size=30), st.integers(-330, 310))
def test_digits_past_a_double_are_read_only_when_they_are_the_double(
    digits: str, exponent: int
) -> None:
    text = f"0.{digits}e{exponent}"
    try:
        value = parse_json_value(text)
    except ValueError:
        return
    # Held only when the text is the double itself written to the text's precision.
    significant = digits.lstrip("0").rstrip("0")
    if value == 0.0:
        assert not significant
    else:
        assert Decimal(format(value, f".{len(significant)}g")) == Decimal(text)


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
