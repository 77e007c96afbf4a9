"""The SQLite store's bulk reads (``iter_all`` / ``iter_raw``, what an export reads) parse
and validate rows in batches, and read TEXT ``data`` as bytes; they must give exactly the
entries that the row-by-row path (``_entry`` over plain rows) gives, for every kind of
row: canonical, hand-written, not JSON, a blob, a number, duplicate keys, huge integers.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.records import identical
from tui import transfer
from tui.models import ExampleItem
from tui.stores.base import Entry, make_entries, make_entry
from tui.stores.json_store import JsonStore
from tui.stores.jsoncodec import parse_json_value, parse_json_values
from tui.stores.sqlite_store import SqliteStore

TABLE = "example_items"


def good(i: int, **extra: Any) -> str:
    record = {
        "id": f"r{i:04d}",
        "schema_version": 1,
        "created_at": "2024-01-02T03:04:05.000006Z",
        "updated_at": "2024-01-02T03:04:05.000006Z",
        "name": f"name {i}",
        "description": "é 日本語",
        "tags": ["a", "b"],
        **extra,
    }
    return orjson.dumps(record).decode()


# (id, data): each a row that needs some path other than the batch's fast one.
ODD_ROWS: list[tuple[str, Any]] = [
    ("spaced", '{"id": "spaced", "name": "n"}'),
    ("escaped", '{"id":"escaped","name":"caf\\u00e9"}'),
    ("dup", '{"id":"dup","name":"a","name":"b"}'),
    ("big", '{"id":"big","name":"n","n":123456789012345678901234567890}'),
    ("huge", '{"id":"huge","name":"n","n":' + "9" * 400 + "}"),
    ("overflow", '{"id":"overflow","name":"n","x":1e400}'),
    ("float1", '{"id":"float1","name":"n","x":1.0}'),
    ("float2", '{"id":"float2","name":"n","x":1e0}'),
    ("negzero", '{"id":"negzero","name":"n","x":-0.0}'),
    ("surrogate", '{"id":"surrogate","name":"n","x":"\\ud800"}'),
    ("deep", '{"id":"deep","name":"n","x":' + "[" * 253 + "]" * 253 + "}"),
    ("deeper", '{"id":"deeper","name":"n","x":' + "[" * 600 + "]" * 600 + "}"),
    ("nan", '{"id":"nan","name":NaN}'),
    ("not json", "not json at all"),
    ("empty", ""),
    ("pair", '{"id":"pair"},{"id":"x"}'),
    ("half", '{"id":"half","name":"n",'),
    ("list", "[1,2,3]"),
    ("number", "42"),
    ("string", '"a string"'),
    ("null json", "null"),
    ("mismatch", '{"id":"other","name":"n"}'),
    ("no name", '{"id":"no name"}'),
    ("bad stamp", '{"id":"bad stamp","name":"n","created_at":"yesterday"}'),
    ("no stamps", '{"id":"no stamps","name":"n"}'),
    ("unknown", '{"id":"unknown","name":"n","extra":{"b":1,"a":[true,null,0.5]}}'),
    ("blob json", b'{"id":"blob json","name":"in a blob"}'),
    ("blob bytes", b"\xff\xfe\x00binary"),
    ("null", None),
    ("integer", 7),
    ("real", 2.5),
]


def make_db(path: Path, rows: list[tuple[str, Any]], encoding: str = "UTF-8") -> None:
    db = sqlite3.connect(path)
    try:
        db.execute(f"PRAGMA encoding = '{encoding}'")
        with db:
            # The guide's columns without NOT NULL, so a NULL data column can exist too.
            db.execute(f"CREATE TABLE {TABLE} (id TEXT PRIMARY KEY, data, created_at, updated_at)")
            db.executemany(
                f"INSERT INTO {TABLE} (id, data, created_at, updated_at) VALUES (?, ?, ?, ?)",
                [(i, d, "2023-05-06 07:08:09", "2023-05-06 07:08:10") for i, d in rows],
            )
    finally:
        db.close()


def plain_rows(path: Path) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(path)
    try:
        return db.execute(
            f"SELECT id, data, created_at, updated_at FROM {TABLE} ORDER BY rowid"
        ).fetchall()
    finally:
        db.close()


def all_rows() -> list[tuple[str, Any]]:
    """The odd rows spread among canonical ones: some batches clean, some not."""
    rows: list[tuple[str, Any]] = []
    odd = iter(ODD_ROWS)
    for i in range(700):
        rows.append((f"r{i:04d}", good(i)))
        if i % 20 == 7:
            extra = next(odd, None)
            if extra is not None:
                rows.append(extra)
    rows.extend(odd)
    return rows


def same_entries(ours: list[Entry[Any]], theirs: list[Entry[Any]]) -> None:
    assert [e.id for e in ours] == [e.id for e in theirs]
    for a, b in zip(ours, theirs, strict=True):
        assert identical(a.raw, b.raw), a.id
        assert a.error == b.error, a.id
        assert a.record == b.record, a.id
        assert a.valid == b.valid, a.id


@pytest.mark.parametrize("encoding", ["UTF-8", "UTF-16le"])
@pytest.mark.parametrize("batch_size", [5000, 50, 7])
async def test_bulk_reads_give_what_the_row_path_gives(
    tmp_path: Path, encoding: str, batch_size: int
) -> None:
    path = tmp_path / "myapp.db"
    rows = all_rows()
    assert {name for name, _ in ODD_ROWS} <= {name for name, _ in rows}
    make_db(path, rows, encoding)
    async with SqliteStore(path, TABLE, ExampleItem, create=False) as store:
        expected = [store._entry(row) for row in plain_rows(path)]
        entries = [e async for e in store.iter_all(batch_size)]
        same_entries(entries, expected)
        raws = [(k, v) async for k, v in store.iter_raw(batch_size)]
        assert [k for k, _ in raws] == [e.id for e in expected]
        assert all(identical(v, e.raw) for (_, v), e in zip(raws, expected, strict=True))
    by_id = {e.id: e for e in entries}
    # What the strict path must catch is still caught, and read the same.
    assert not by_id["dup"].valid and by_id["dup"].raw.startswith("{")
    assert by_id["big"].valid and by_id["big"].raw["n"] == 123456789012345678901234567890
    assert by_id["huge"].raw["n"] == int("9" * 400)
    assert type(by_id["float1"].raw["x"]) is float and type(by_id["float2"].raw["x"]) is float
    assert by_id["spaced"].valid and by_id["escaped"].raw["name"] == "café"
    assert not by_id["pair"].valid and not by_id["not json"].valid
    assert by_id["blob json"].valid and not by_id["blob bytes"].valid
    assert by_id["no stamps"].raw["created_at"] == "2023-05-06T07:08:09.000000Z"


def test_parse_json_values_is_parse_json_value_of_each() -> None:
    texts = [good(i).encode() for i in range(5)]
    texts += [d.encode() for _, d in ODD_ROWS if isinstance(d, str)]
    texts += [b" 1", b"1 ", b"[1", b"2]", b"{}", b"[]", b'""']
    for chunk in (texts, texts[:5], texts[5:], [b"[1", b"2]"], [b"1", b"2"]):
        got = parse_json_values(chunk)
        assert len(got) == len(chunk)
        for text, value in zip(chunk, got, strict=True):
            try:
                want = parse_json_value(text)
            except (ValueError, TypeError) as exc:
                assert isinstance(value, (ValueError, TypeError)), text
                assert str(value) == str(exc)
            else:
                assert identical(value, want), text


def test_make_entries_is_make_entry_of_each() -> None:
    raws: list[tuple[str, Any]] = [(f"r{i}", json.loads(good(i))) for i in range(10)]
    cases = [
        raws,
        [*raws, ("bad", {"id": "bad"})],
        [("x", [1]), ("y", {"id": "z", "name": "n"}), *raws],
        [("bad", {"id": "bad", "name": ""}), ("s", "text")],
        [],
    ]
    for items in cases:
        assert make_entries(ExampleItem, items) == [make_entry(ExampleItem, k, r) for k, r in items]


async def test_export_reports_invalid_and_writes_the_rest_exactly(tmp_path: Path) -> None:
    path = tmp_path / "db" / "myapp.db"
    path.parent.mkdir()
    rows = all_rows()
    make_db(path, rows)
    async with SqliteStore(path, TABLE, ExampleItem, create=False) as source:
        expected = [source._entry(row) for row in plain_rows(path)]
    async with (
        SqliteStore(path, TABLE, ExampleItem, create=False) as source,
        JsonStore.in_data_dir(tmp_path, TABLE, ExampleItem) as target,
    ):
        plan = await transfer.make_plan(source, target)
        await transfer.apply(plan, target)
    assert plan.invalid == [(e.id, e.error) for e in expected if not e.valid]
    assert plan.new == [e.id for e in expected if e.valid]
    written = json.loads((tmp_path / "json" / f"{TABLE}.json").read_text("utf-8"))
    assert list(written) == plan.new
    for entry in expected:
        if entry.valid:
            assert identical(written[entry.id], entry.raw), entry.id
