"""One contract, two stores: every test here runs against the JSON store and the SQLite store."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.records import raw_record
from tui.models import ExampleItem, new_id, parse_timestamp
from tui.stores import DatabaseError, JsonStore, Query, SqliteStore, StoreError
from tui.stores.base import DEFAULT_QUERY, SORT_FIELDS

if TYPE_CHECKING:
    from conftest import AnyStore, OpenStore

BIG = 123456789012345678901234567890  # past 64 bits: orjson alone cannot keep it


def item(record_id: str, name: str, **fields: Any) -> ExampleItem:
    return ExampleItem(id=record_id, name=name, **fields)


def canon(value: Any) -> str:
    """Type-exact comparison form: 1, 1.0 and true differ; key order does not matter."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


async def ids(
    store: AnyStore, query: Query = DEFAULT_QUERY, offset: int = 0, limit: int = 100
) -> list[str]:
    page = await store.page(query, offset, limit)
    return [entry.id for entry in page.entries]


async def raws_by_id(store: AnyStore) -> dict[str, Any]:
    return {entry.id: entry.raw async for entry in store.iter_all()}


def write_outside(store: AnyStore, raw: dict[str, Any]) -> None:
    """Another program adds a record: edits the JSON file, or commits on its own connection."""
    if store.kind == "json":
        current = json.loads(store.path.read_text("utf-8")) if store.path.exists() else {}
        current[raw["id"]] = raw
        store.path.parent.mkdir(parents=True, exist_ok=True)
        store.path.write_text(json.dumps(current, indent=2) + "\n", "utf-8")
    else:
        with sqlite3.connect(store.path) as db:
            db.execute(
                "INSERT INTO example_items (id, data, created_at, updated_at) VALUES (?, ?, ?, ?)",
                (raw["id"], json.dumps(raw), raw["created_at"], raw["updated_at"]),
            )
        db.close()


# -- empty store, get, count ---------------------------------------------------------------


async def test_empty_store(store: AnyStore) -> None:
    assert await store.count() == 0
    assert await store.count("x") == 0
    assert await store.get("nope") is None
    page = await store.page()
    assert page.entries == [] and page.total == 0 and page.offset == 0
    assert await raws_by_id(store) == {}


async def test_upsert_new_record_then_get(store: AnyStore) -> None:
    before = datetime.now(UTC)
    entry = await store.upsert(item("abc123", "Widget", description="blue", tags=["x", "y"]))
    assert entry.valid and entry.id == "abc123"
    assert entry.record is not None and entry.record.name == "Widget"

    got = await store.get("abc123")
    assert got is not None and got.valid and got.record is not None
    assert got.record.name == "Widget"
    assert got.record.description == "blue"
    assert got.record.tags == ["x", "y"]
    assert got.raw["name"] == "Widget"
    # timestamps are stored as ISO 8601 UTC with Z, and are "now"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", got.raw["updated_at"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", got.raw["created_at"])
    assert got.record.updated_at >= before
    assert await store.count() == 1
    assert await store.get("ABC123") is None  # ids are exact


async def test_edit_keeps_created_at_and_refreshes_updated_at(store: AnyStore) -> None:
    first = await store.upsert(item("e1", "first"))
    assert first.record is not None
    await asyncio.sleep(0.002)
    # The caller's copy claims another created_at: the stored one wins.
    edited = first.record.model_copy(
        update={"name": "second", "created_at": datetime(2000, 1, 1, tzinfo=UTC)}
    )
    await store.upsert(edited)
    got = await store.get("e1")
    assert got is not None and got.record is not None
    assert got.record.name == "second"
    assert got.record.created_at == first.record.created_at
    assert got.record.updated_at > first.record.updated_at
    assert got.raw["created_at"] == first.raw["created_at"]
    assert await store.count() == 1


async def test_upsert_keeps_unknown_fields_of_the_model(store: AnyStore) -> None:
    record = ExampleItem.model_validate(
        {"id": "u1", "name": "n", "extra": {"deep": [1, BIG, None]}, "flag": True}
    )
    await store.upsert(record)
    got = await store.get("u1")
    assert got is not None and got.record is not None
    assert canon(got.raw["extra"]) == canon({"deep": [1, BIG, None]})
    assert got.raw["flag"] is True


async def test_upsert_many(store: AnyStore) -> None:
    await store.upsert(item("m1", "old"))
    old = await store.get("m1")
    assert old is not None
    written = await store.upsert_many([item("m1", "new"), item("m2", "two"), item("m3", "three")])
    assert written == 3
    assert await store.count() == 3
    got = {e.id: e async for e in store.iter_all()}
    assert {k: v.raw["name"] for k, v in got.items()} == {"m1": "new", "m2": "two", "m3": "three"}
    assert got["m1"].raw["created_at"] == old.raw["created_at"]
    assert all(e.valid for e in got.values())


async def test_writes_reject_wrong_record_type(store: AnyStore) -> None:
    from pydantic import BaseModel

    class Other(BaseModel):
        id: str = "x"

    with pytest.raises(StoreError):
        await store.upsert(Other())  # type: ignore[arg-type]
    assert await store.count() == 0


async def test_put_raw_many_copies_exactly(store: AnyStore, open_store: OpenStore) -> None:
    raws = [
        raw_record(
            "r1",
            "exact",
            created_at="2020-02-02T02:02:02.000002Z",
            updated_at="2021-03-03T03:03:03.000003Z",
            unknown={"nested": {"list": [1, 2.5, "x", None, True, {"k": []}]}, "big": BIG},
            negative_big=-BIG,
            u64=2**64 - 1,
            huge=int("7" * 400),  # legal JSON, exact in Python, past a double's range
            float_one=1.0,
            unicode='é 日本 🦄 \u0000 \x1b[31m \\ "',
        ),
        raw_record("r2", "other", created_at="2026-11-29T17:55:20.845500+00:00", schema_version=7),
    ]
    assert await store.put_raw_many(raws) == 2
    stored = await raws_by_id(store)
    assert set(stored) == {"r1", "r2"}
    for raw in raws:
        assert canon(stored[raw["id"]]) == canon(raw)
        assert list(stored[raw["id"]]) == list(raw)  # key order kept too
    # ...and from disk, through a fresh store object
    fresh = await open_store(store.kind)
    again = await raws_by_id(fresh)
    for raw in raws:
        assert canon(again[raw["id"]]) == canon(raw)
    entry = await fresh.get("r1")
    assert entry is not None and entry.valid
    assert type(entry.raw["float_one"]) is float
    assert type(entry.raw["unknown"]["big"]) is int and entry.raw["unknown"]["big"] == BIG
    assert entry.raw["huge"] == int("7" * 400)


async def test_put_raw_many_overwrites_whole_record(store: AnyStore) -> None:
    await store.put_raw_many([raw_record("p1", "a", gone="yes")])
    await store.put_raw_many([raw_record("p1", "b", created_at="1999-01-01T00:00:00.000000Z")])
    got = await store.get("p1")
    assert got is not None
    assert canon(got.raw) == canon(raw_record("p1", "b", created_at="1999-01-01T00:00:00.000000Z"))
    assert "gone" not in got.raw


async def test_put_raw_many_reports_progress(store: AnyStore) -> None:
    calls: list[tuple[int, int]] = []
    raws = [raw_record(f"id{i:03}", f"n{i}") for i in range(30)]
    await store.put_raw_many(raws, lambda done, total: calls.append((done, total)))
    assert calls and calls[-1] == (30, 30)
    assert await store.count() == 30


async def test_delete(store: AnyStore) -> None:
    await store.upsert_many([item("d1", "one"), item("d2", "two")])
    assert await store.delete("d1") is True
    assert await store.get("d1") is None
    assert await store.count() == 1
    assert await store.delete("d1") is False
    assert await store.delete("missing") is False
    assert [e.id async for e in store.iter_all()] == ["d2"]


async def test_iter_all_yields_every_entry(store: AnyStore) -> None:
    await store.put_raw_many([raw_record(f"i{i:04}", f"n{i}") for i in range(2500)])
    seen = [e.id async for e in store.iter_all(batch_size=1000)]
    assert sorted(seen) == [f"i{i:04}" for i in range(2500)]
    assert len(seen) == len(set(seen))


# -- ordering and paging -------------------------------------------------------------------

SORT_DATA = [
    raw_record(
        "a1",
        "banana",
        description="zz",
        tags=["b"],
        created_at="2026-01-03T00:00:00.000000Z",
        updated_at="2026-02-01T00:00:00.000000Z",
    ),
    raw_record(
        "b2",
        "Apple",
        description="",
        tags=[],
        created_at="2026-01-01T00:00:00.000000Z",
        updated_at="2026-02-01T00:00:00.000000Z",
    ),
    raw_record(
        "c3",
        "apple",
        description="éclair",
        tags=["a", "b"],
        created_at="2026-01-02T00:00:00.000000Z",
        updated_at="2026-01-01T00:00:00.000000Z",
    ),
    raw_record(
        "d4",
        "cherry",
        description="Zed",
        tags=["a"],
        created_at="2025-12-31T23:59:59.000000Z",
        updated_at="2026-03-01T00:00:00.000000Z",
    ),
    raw_record(
        "e5",
        "banana",
        description="日本",
        tags=["x", "y"],
        created_at="2026-01-05T00:00:00.000000Z",
        updated_at="2026-02-01T00:00:00.000000Z",
    ),
    raw_record(
        "f6",
        "Zebra",
        tags=["🦄"],
        created_at="2026-01-04T00:00:00.000000Z",
        updated_at="2025-01-01T00:00:00.000000Z",
    ),
]
del SORT_DATA[5]["description"]  # missing: sorts first, as SQL's NULL does


def expected_order(records: list[dict[str, Any]], field: str, descending: bool) -> list[str]:
    """Missing first, then text by code point (lists by their compact JSON); ties by id."""

    def key(raw: dict[str, Any]) -> tuple[int, str, str]:
        if field not in raw:
            return (0, "", raw["id"])
        value = raw[field]
        if not isinstance(value, str):
            value = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        return (1, value, raw["id"])

    return [r["id"] for r in sorted(records, key=key, reverse=descending)]


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize("field", SORT_FIELDS)
async def test_sort_by_each_field(store: AnyStore, field: str, descending: bool) -> None:
    await store.put_raw_many(SORT_DATA)
    want = expected_order(SORT_DATA, field, descending)
    assert await ids(store, Query(sort=field, descending=descending)) == want


def test_sort_expectations_are_not_trivial() -> None:
    # Guard the test data itself: each sort gives a different order than by id.
    by_id = [r["id"] for r in SORT_DATA]
    for field in SORT_FIELDS[1:]:
        assert expected_order(SORT_DATA, field, False) != by_id, field
    # binary (code point) order: upper case before lower case, ties broken by id
    assert expected_order(SORT_DATA, "name", False) == ["b2", "f6", "c3", "a1", "e5", "d4"]
    assert expected_order(SORT_DATA, "description", False)[0] == "f6"  # missing first


async def test_unknown_sort_field_is_refused() -> None:
    with pytest.raises(StoreError):
        Query(sort="nope")


@pytest.mark.parametrize("field", ["id", "name", "created_at"])
async def test_offset_paging_walks_everything_once(store: AnyStore, field: str) -> None:
    raws = [
        raw_record(f"p{i:02}", f"name {i % 7}", created_at=f"2026-01-{1 + i % 9:02}T00:00:00Z")
        for i in range(23)
    ]
    await store.put_raw_many(raws)
    query = Query(sort=field)
    whole = await ids(store, query, 0, 100)
    assert len(whole) == 23
    walked: list[str] = []
    for offset in range(0, 30, 5):
        page = await store.page(query, offset, 5)
        assert page.total == 23 and page.offset == offset
        walked.extend(e.id for e in page.entries)
    assert walked == whole
    past = await store.page(query, 50, 5)
    assert past.entries == [] and past.total == 23


# -- filtering -----------------------------------------------------------------------------

FILTER_DATA = [
    raw_record("f1", "Red Apple", description="crisp", tags=["fruit", "Sweet"]),
    raw_record("f2", "green pear", description="SOFT and juicy", tags=["fruit"]),
    raw_record("f3", "Café crème", description="hot ☕", tags=["drink"]),
    raw_record("f4", "Unicorn", description="🦄 magic", tags=[], origin={"planet": "Zorg"}),
    raw_record("f5", "percent", description="100% sure_thing", tags=["a_b"], rating=42),
]


@pytest.mark.parametrize(
    ("needle", "want"),
    [
        ("apple", ["f1"]),  # name, case-insensitive
        ("APPLE", ["f1"]),
        ("soft", ["f2"]),  # description
        ("sweet", ["f1"]),  # a tag, case-insensitive
        ("FRUIT", ["f1", "f2"]),
        ("café", ["f3"]),  # unicode, exact
        ("CAFé", ["f3"]),  # ASCII letters fold (non-ASCII ones do not, as in SQL LIKE)
        ("☕", ["f3"]),
        ("🦄", ["f4"]),
        ("zorg", ["f4"]),  # a value of an unknown, nested field
        ("42", ["f5"]),  # a number in an unknown field
        ("100%", ["f5"]),  # LIKE wildcards are literal
        ("_", ["f5"]),
        ("%", ["f5"]),
        ("f3", ["f3"]),  # the id
        ("nothing-matches", []),
    ],
)
async def test_filter(store: AnyStore, needle: str, want: list[str]) -> None:
    await store.put_raw_many(FILTER_DATA)
    page = await store.page(Query(filter=needle))
    assert [e.id for e in page.entries] == want
    assert page.total == len(want)
    assert await store.count(needle) == len(want)


@pytest.mark.parametrize(
    ("needle", "want"),
    [
        ("İ", ["u1"]),  # lowers to two characters: no ASCII shortcut may apply
        ("\u212a", ["u2"]),  # the Kelvin sign, which str.lower() turns into "k"
        ("Kelvin", ["u3"]),
        ("istanbul", ["u3"]),
    ],
)
async def test_filter_by_non_ascii_letters(store: AnyStore, needle: str, want: list[str]) -> None:
    await store.put_raw_many(
        [
            raw_record("u1", "İstanbul map"),
            raw_record("u2", "\u212a-rated"),
            raw_record("u3", "Kelvin of istanbul"),
        ]
    )
    assert [e.id for e in (await store.page(Query(filter=needle))).entries] == want
    assert await store.count(needle) == len(want)


async def test_filter_with_sort_and_paging(store: AnyStore) -> None:
    await store.put_raw_many(FILTER_DATA)
    query = Query(sort="name", descending=True, filter="e")
    everything = await ids(store, query)
    # records with an "e"/"E" in some value (f4 has none), by name descending, code point
    assert everything == ["f5", "f2", "f1", "f3"]
    assert await ids(store, query, 1, 2) == ["f2", "f1"]
    assert (await store.page(query, 1, 2)).total == 4


async def test_filter_on_empty_store(store: AnyStore) -> None:
    page = await store.page(Query(filter="x", sort="name"))
    assert page.entries == [] and page.total == 0


async def test_unicode_round_trip(store: AnyStore, open_store: OpenStore) -> None:
    name = 'Ünïcødé 日本語 🦄🏳️‍🌈 "quoted" back\\slash \t tab'
    await store.upsert(item("uni", name, tags=["😀", "ß"], description="\u2028\u2029\x7f"))
    fresh = await open_store(store.kind)
    got = await fresh.get("uni")
    assert got is not None and got.record is not None
    assert got.record.name == name
    assert got.record.tags == ["😀", "ß"]
    assert got.record.description == "\u2028\u2029\x7f"


# -- changes made by others ----------------------------------------------------------------


async def test_changed_on_disk_after_outside_write_then_reload(store: AnyStore) -> None:
    await store.upsert(item("mine", "mine"))
    assert await store.changed_on_disk() is False  # our own write is not "a change"
    await asyncio.sleep(0.01)
    write_outside(store, raw_record("theirs", "theirs"))
    assert await store.changed_on_disk() is True
    await store.reload()
    assert await store.changed_on_disk() is False
    got = await store.get("theirs")
    assert got is not None and got.valid
    assert await store.count() == 2


async def test_write_after_outside_change_keeps_both(store: AnyStore) -> None:
    await store.upsert(item("mine", "mine"))
    await asyncio.sleep(0.01)
    write_outside(store, raw_record("theirs", "theirs"))
    # No reload: the store must notice and apply the change to what is on disk now.
    await store.upsert(item("mine2", "mine2"))
    assert sorted([e.id async for e in store.iter_all()]) == ["mine", "mine2", "theirs"]
    if store.kind == "json":
        on_disk = json.loads(store.path.read_text("utf-8"))
        assert sorted(on_disk) == ["mine", "mine2", "theirs"]


async def test_reload_sees_deletions_by_others(store: AnyStore) -> None:
    await store.upsert_many([item("k1", "one"), item("k2", "two")])
    if store.kind == "json":
        data = json.loads(store.path.read_text("utf-8"))
        del data["k1"]
        store.path.write_text(json.dumps(data, indent=2) + "\n", "utf-8")
    else:
        with sqlite3.connect(store.path) as db:
            db.execute("DELETE FROM example_items WHERE id = 'k1'")
        db.close()
    await store.reload()
    assert [e.id async for e in store.iter_all()] == ["k2"]


# -- JSON and SQLite agree -----------------------------------------------------------------

PARITY_DATA = [
    *SORT_DATA,
    *FILTER_DATA,
    raw_record("g1", "apple", description=None, tags=["a"]),
    raw_record("g2", "Apple pie", created_at="2026-11-29 17:55:20", updated_at=None),
    raw_record("g3", "ápple", description="Ápple", tags=["Á", "a"], n=3, f=2.5, b=False),
    raw_record("g4", "[bracket]", description="x\ny", tags=["\\"]),
]


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize("field", SORT_FIELDS)
async def test_json_and_sqlite_agree(
    open_store: OpenStore, tmp_path: Path, field: str, descending: bool
) -> None:
    json_store = await open_store("json")
    sqlite_store = await open_store("sqlite")
    await json_store.put_raw_many(PARITY_DATA)
    await sqlite_store.put_raw_many(PARITY_DATA)
    for needle in ["", "a", "APPLE", "á", "e", "fruit", "1", "2.5", "0", "[", "\\", "\n", "🦄"]:
        query = Query(sort=field, descending=descending, filter=needle)
        from_json = await json_store.page(query)
        from_sqlite = await sqlite_store.page(query)
        assert [e.id for e in from_json.entries] == [e.id for e in from_sqlite.entries], needle
        assert from_json.total == from_sqlite.total, needle


def test_parse_timestamp_formats() -> None:
    want = datetime(2026, 11, 29, 17, 55, 20, tzinfo=UTC)
    assert parse_timestamp("2026-11-29T17:55:20Z") == want
    assert parse_timestamp("2026-11-29T17:55:20+00:00") == want
    assert parse_timestamp("2026-11-29 17:55:20") == want
    assert parse_timestamp("2026-11-29T19:55:20+02:00") == want
    assert parse_timestamp("garbage") is None


def test_new_ids_are_12_hex_characters_of_a_uuid4() -> None:
    made = {new_id() for _ in range(200)}
    assert len(made) == 200
    assert all(re.fullmatch(r"[0-9a-f]{12}", i) for i in made)


# -- what only one backend has ---------------------------------------------------------------


async def test_json_file_layout(open_store: OpenStore) -> None:
    store = await open_store("json")
    await store.put_raw_many([raw_record("b", "Bé 🦄"), raw_record("a", "first?")])
    await store.upsert(item("c", "third"))
    await store.upsert(item("b", "edited"))  # an edit keeps the record's place
    text = store.path.read_text("utf-8")
    data = json.loads(text)
    assert list(data) == ["b", "a", "c"]  # insertion order, not sorted
    assert text == json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    assert "\\u" not in text
    assert store.path.stat().st_mode & 0o777 == 0o600  # a new file is private


async def test_json_write_keeps_the_files_mode(open_store: OpenStore) -> None:
    store = await open_store("json")
    await store.upsert(item("a", "one"))
    store.path.chmod(0o644)
    await store.upsert(item("b", "two"))
    assert store.path.stat().st_mode & 0o777 == 0o644
    leftovers = [p.name for p in store.path.parent.iterdir() if p.name.startswith(".tui-tmp")]
    assert leftovers == []


async def test_sqlite_refuses_a_file_that_is_not_a_database(data_dir: Path) -> None:
    path = data_dir / "db" / "myapp.db"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database, just text\n" * 200)
    before = path.read_bytes()
    store = SqliteStore.in_data_dir(data_dir, "example_items", ExampleItem)
    with pytest.raises(DatabaseError, match="not a SQLite database"):
        await store.open()
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "name", ["sqlite_master", "SQLITE_x", "1abc", "a-b", "a b", "x" * 64, "", "t]; DROP", "é"]
)
def test_collection_names_are_checked(data_dir: Path, name: str) -> None:
    with pytest.raises(StoreError):
        SqliteStore.in_data_dir(data_dir, name, ExampleItem)
    with pytest.raises(StoreError):
        JsonStore.in_data_dir(data_dir, name, ExampleItem)


@pytest.mark.parametrize(
    "stamp",
    ["0001-01-01T00:00:00Z", "0999-12-31T23:59:59.5Z", "9999-12-31T23:59:59.999999+00:00"],
)
async def test_edit_of_a_record_with_an_extreme_timestamp(store: AnyStore, stamp: str) -> None:
    await store.put_raw_many([raw_record("old", "old", created_at=stamp)])
    entry = await store.get("old")
    assert entry is not None and entry.record is not None, entry and entry.error
    await store.upsert(entry.record.model_copy(update={"name": "edited"}))
    again = await store.get("old")
    assert again is not None and again.record is not None, again and again.error
    assert again.record.created_at == parse_timestamp(stamp)
    assert again.raw["created_at"][:4] == stamp[:4]  # years keep four digits
