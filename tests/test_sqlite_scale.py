"""The SQLite store's fast paths give exactly what plain SQL gives, at the edges.

Pages come by keyset from remembered page boundaries, backwards from the end, or by
OFFSET; counts are cached; sorting by a field builds an expression index; the filter runs
a cheap text test before walking the JSON. None of that may change a single row of any
page: every page here is checked against a reference computed in Python from the rows
SQLite holds (its own sort key values, ``ordering.matches_filter`` for the filter).
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.records import raw_record
from tui.generate import generate_raw_records
from tui.models import ExampleItem
from tui.stores import JsonStore, SqliteStore, sqlite_store
from tui.stores.base import Query
from tui.stores.jsoncodec import parse_json_value
from tui.stores.ordering import matches_filter
from tui.stores.sqlite_store import _field_expr

TABLE = "example_items"
GENERATED = 2500


def odd_rows() -> list[tuple[str, str]]:
    """(id, data text) rows the generator never makes: NULL and missing keys, keys of
    every JSON type, invalid JSON, escapes another writer uses, NULs."""
    rows: list[tuple[str, str]] = []

    def add(record_id: str, data: dict[str, Any] | str, **dumps: Any) -> None:
        if isinstance(data, dict):
            data = json.dumps({"id": record_id, **data}, **dumps)
        rows.append((record_id, data))

    for i in range(12):
        add(f"nullname{i:02}", {"name": None, "description": "falcon null"})
        add(f"noname{i:02}", {"description": "no name here", "tags": []})
    for i in range(5):
        add(f"dup{i}", {"name": "Amber Falcon", "tags": ["dup"]})  # ties broken by id
    add("num1", {"name": 7, "description": "", "big": 1e5, "flag": True})
    add("num2", {"name": 2.5, "tags": ["x"]})
    add("bool1", {"name": False, "tags": None})
    add("list1", {"name": ["Zed", "falcon"]})
    add("obj1", {"name": {"nested": "Falcon inside"}})
    add("ascii1", {"name": "Café Falcon 東京", "description": "escaped"}, ensure_ascii=True)
    add("quote1", {"name": 'say "falcon"', "description": "back\\slash"})
    add("nul1", {"name": "a\x00b Falcon", "description": "x\x00y"})
    add("nul2", {"name": "A\x00B"})
    add("pct1", {"name": "100% _done_", "description": "under_score"})
    add("bad1", "not json {falcon")
    add("bad2", "[broken")
    add("scalar1", '"just a falcon string"')
    add("scalar2", "42")
    add("num3", '{"id":"num3","n":1e5,"ok":true}')  # read as 100000.0 and 1
    add("escapes", '{"id":"escapes","name":"\\u0046alcon \\/ slash"}')
    return rows


@pytest.fixture
async def sq(tmp_path: Path) -> AsyncIterator[SqliteStore[ExampleItem]]:
    store = SqliteStore.in_data_dir(tmp_path, TABLE, ExampleItem)
    await store.open()
    await store.put_raw_many(list(generate_raw_records(GENERATED, seed=7)))
    with sqlite3.connect(store.path) as db:
        db.executemany(f"INSERT INTO {TABLE} (id, data) VALUES (?, ?)", odd_rows())
    db.close()
    try:
        yield store
    finally:
        await store.close()


def type_rank(value: Any) -> tuple[int, Any]:
    """SQLite's order of values: NULL, numbers, text (BINARY: by code point)."""
    if value is None:
        return (0, 0)
    if isinstance(value, int | float):
        return (1, value)
    return (2, value)


def reference(path: Path, query: Query) -> list[str]:
    """The ids ``query`` selects, in its order, computed outside the store."""
    expr = "id" if query.sort == "id" else _field_expr(query.sort)
    with sqlite3.connect(path) as db:
        rows = db.execute(f"SELECT id, data, {expr} FROM {TABLE}").fetchall()
    db.close()
    chosen = []
    for record_id, text, key in rows:
        try:
            raw = parse_json_value(text)
        except (ValueError, TypeError):
            raw = text
        if matches_filter(raw, query.filter, record_id):
            chosen.append((type_rank(key), record_id))
    chosen.sort(reverse=query.descending)
    return [record_id for _, record_id in chosen]


def walk(total: int, limit: int, rng: random.Random, steps: int) -> list[int]:
    """Page offsets as a person browses: down and up, home, end, jumps, then around them."""
    last = max((total - 1) // limit, 0)
    page, pages = 0, [0]
    for _ in range(steps):
        move = rng.random()
        if move < 0.35:
            page += 1
        elif move < 0.6:
            page -= 1
        elif move < 0.7:
            page = 0
        elif move < 0.8:
            page = last
        else:
            page = rng.randint(0, last)
        page = min(max(page, 0), last)
        pages.append(page)
    return [p * limit for p in pages]


async def check_walk(
    store: SqliteStore[ExampleItem], query: Query, limit: int, seed: int, steps: int = 25
) -> None:
    want = reference(store.path, query)
    assert await store.count(query.filter) == len(want), query
    for offset in walk(len(want), limit, random.Random(seed), steps):
        page = await store.page(query, offset, limit)
        assert page.total == len(want), (query, offset)
        got = [e.id for e in page.entries]
        assert got == want[offset : offset + limit], (query, offset, limit)


SORTS = ("id", "name", "tags", "created_at", "description")


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize("sort", SORTS)
async def test_pages_match_plain_sql(
    sq: SqliteStore[ExampleItem], sort: str, descending: bool
) -> None:
    for seed, (needle, limit) in enumerate([("", 100), ("", 7), ("falcon", 100), ("e", 50)]):
        await check_walk(sq, Query(sort=sort, descending=descending, filter=needle), limit, seed)


NEEDLES = [
    "FALCON",
    "zzz-nothing-matches",
    "東京",
    "café",
    "1",
    "100000",
    "inf",
    "e",
    '"',
    "\\",
    "/",
    "\x00",
    "a\x00b",
    "_",
    "%",
    "Fa",
]


@pytest.mark.parametrize("needle", NEEDLES)
async def test_filters_match_plain_sql(
    sq: SqliteStore[ExampleItem], monkeypatch: pytest.MonkeyPatch, needle: str
) -> None:
    for seed, descending in enumerate([False, True]):
        query = Query(sort="name", descending=descending, filter=needle)
        await check_walk(sq, query, 40, seed, steps=12)
    # The same pages read by a table scan and a sort (what a rare needle gets).
    monkeypatch.setattr(sqlite_store, "_SCAN_ROWS", 0)
    for seed, sort in enumerate(["id", "tags"]):
        query = Query(sort=sort, descending=seed == 1, filter=needle)
        await check_walk(sq, query, 40, seed, steps=12)
        assert await sq.position(query, "ascii1") == (
            reference(sq.path, query).index("ascii1")
            if "ascii1" in reference(sq.path, query)
            else None
        )


async def test_filter_edges(sq: SqliteStore[ExampleItem]) -> None:
    # Empty result: no rows, no error, on any page.
    for offset in (0, 100, 10_000):
        page = await sq.page(Query(sort="name", filter="zzz-nothing"), offset)
        assert (page.entries, page.total) == ([], 0)
    # A NUL matches only values that hold it (LIKE would stop at it and match all).
    assert [e.id for e in (await sq.page(Query(filter="\x00"))).entries] == ["nul1", "nul2"]
    assert [e.id for e in (await sq.page(Query(filter="A\x00b"))).entries] == ["nul1", "nul2"]
    assert [e.id for e in (await sq.page(Query(filter="x\x00Y"))).entries] == ["nul1"]
    # Text another writer escaped (\u00e9, \u0046, \/) still matches.
    assert "ascii1" in [e.id for e in (await sq.page(Query(filter="CAFé FALCON"))).entries]
    found = await sq.page(Query(filter="falcon / slash"))
    assert [e.id for e in found.entries] == ["escapes"]
    # Numbers and booleans match as SQLite writes them (1e5 as 100000.0, true as 1).
    numbers = await sq.page(Query(filter="100000.0"), limit=5000)
    assert {"num1", "num3"} <= {e.id for e in numbers.entries}


async def test_nul_filters_agree_with_the_json_store(tmp_path: Path) -> None:
    raws = [
        raw_record("n1", "a\x00b", description="plain"),
        raw_record("n2", "plain", tags=["x\x00Y"]),
        raw_record("n3", "plain", description="a b"),
    ]
    async with (
        JsonStore.in_data_dir(tmp_path, TABLE, ExampleItem) as js,
        SqliteStore.in_data_dir(tmp_path, TABLE, ExampleItem) as sq,
    ):
        await js.put_raw_many(raws)
        await sq.put_raw_many(raws)
        for needle in ("\x00", "A\x00", "\x00y", "a\x00b", "b\x00"):
            query = Query(filter=needle)
            a, b = await js.page(query), await sq.page(query)
            assert [e.id for e in a.entries] == [e.id for e in b.entries], needle
            assert a.total == b.total == await sq.count(needle), needle


async def browse(store: SqliteStore[ExampleItem], query: Query) -> None:
    """Fill the store's anchors: first pages, the end, and back."""
    total = await store.count(query.filter)
    for offset in (0, 100, 200, (total - 1) // 100 * 100, (total - 1) // 100 * 100 - 100):
        await store.page(query, offset)


async def test_our_writes_drop_anchors_and_counts(sq: SqliteStore[ExampleItem]) -> None:
    query = Query(sort="name")
    await browse(sq, query)
    before = await sq.count()
    # A record that sorts first shifts every page by one: a stale anchor would show it.
    first = ExampleItem.model_validate(raw_record("aaaa", "!"))
    await sq.upsert(first)
    assert await sq.count() == before + 1
    want = reference(sq.path, query)
    for offset in (100, 200, 300, len(want) - 100, 0):
        assert [e.id for e in (await sq.page(query, offset)).entries] == want[offset:][:100]
    await browse(sq, query)
    assert await sq.delete(want[150])
    want = reference(sq.path, query)
    assert await sq.count() == before
    for offset in (100, 200, 300):
        assert [e.id for e in (await sq.page(query, offset)).entries] == want[offset:][:100]


async def test_outside_writes_drop_anchors_and_counts(sq: SqliteStore[ExampleItem]) -> None:
    query = Query(sort="name", descending=True)
    await browse(sq, query)
    before = await sq.count()
    filtered = await sq.count("falcon")
    want = reference(sq.path, query)
    # Another program deletes rows near the top and adds one that sorts first.
    with sqlite3.connect(sq.path) as db:
        db.executemany(f"DELETE FROM {TABLE} WHERE id = ?", [(i,) for i in want[50:60]])
        db.execute(
            f"INSERT INTO {TABLE} (id, data) VALUES (?, ?)",
            ("zzzz", json.dumps({"id": "zzzz", "name": "\uffff falcon"})),
        )
    db.close()
    assert await sq.count() == before - 9
    assert await sq.count("falcon") == len(reference(sq.path, Query(filter="falcon")))
    assert await sq.count("falcon") != filtered
    want = reference(sq.path, query)
    for offset in (100, 200, 0, 100, len(want) - 100):
        assert [e.id for e in (await sq.page(query, offset)).entries] == want[offset:][:100]
    # A second store on the same file is "another connection" too.
    async with SqliteStore(sq.path, TABLE, ExampleItem) as other:
        assert await other.delete(want[120])
    want = reference(sq.path, query)
    assert await sq.count() == before - 10
    assert [e.id for e in (await sq.page(query, 200)).entries] == want[200:300]


async def test_reload_and_changed_on_disk_drop_caches(sq: SqliteStore[ExampleItem]) -> None:
    await browse(sq, Query())
    assert sq._anchors and sq._counts
    await sq.reload()
    assert not sq._anchors and not sq._counts
    await browse(sq, Query())
    with sqlite3.connect(sq.path) as db:
        db.execute(f"DELETE FROM {TABLE} WHERE id = 'dup0'")
    db.close()
    assert await sq.changed_on_disk()
    assert not sq._anchors and not sq._counts


def plans(path: Path, statements: list[tuple[str, Any]]) -> list[str]:
    with sqlite3.connect(path) as db:
        out = []
        for sql, params in statements:
            rows = db.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
            out.append(" / ".join(row[3] for row in rows))
    db.close()
    return out


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
async def test_sort_by_name_reads_the_index(
    sq: SqliteStore[ExampleItem], monkeypatch: pytest.MonkeyPatch, descending: bool
) -> None:
    seen: list[tuple[str, Any]] = []
    fetch = sq._fetch

    async def spy(sql: str, params: Any = ()) -> list[Any]:
        seen.append((sql, params))
        return await fetch(sql, params)

    monkeypatch.setattr(sq, "_fetch", spy)
    query = Query(sort="name", descending=descending)
    await browse(sq, query)
    await sq.page(query, 1000)  # a jump: OFFSET
    assert await sq.position(query, "dup3") is not None
    selects = [(s, p) for s, p in seen if "json_extract" in s and "id = :id" not in s]
    assert len(selects) >= 8
    for (sql, _), plan in zip(selects, plans(sq.path, selects), strict=True):
        assert "INDEX example_items__name" in plan, (sql, plan)
        assert "TEMP B-TREE" not in plan, (sql, plan)
    # Keyset seeks are index searches, not scans from one end.
    assert any("SEARCH" in plan for plan in plans(sq.path, selects))
    with sqlite3.connect(sq.path) as db:
        indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    db.close()
    assert "example_items__name" in indexes


async def test_the_index_keeps_the_guide_template_working(sq: SqliteStore[ExampleItem]) -> None:
    await sq.page(Query(sort="name"))
    await sq.page(Query(sort="tags"))
    # What the guide's template does: plain inserts and upserts of json.dumps text. A row
    # that is not JSON still goes in (the index reads it as NULL) and sorts first.
    with sqlite3.connect(sq.path) as db:
        db.execute(
            f"INSERT INTO {TABLE} (id, data, created_at, updated_at)"
            " VALUES (?, ?, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            " ON CONFLICT(id) DO UPDATE SET data = excluded.data",
            ("guide1", json.dumps({"id": "guide1", "name": "Guide"})),
        )
        db.execute(f"INSERT INTO {TABLE} (id, data) VALUES ('guide2', 'garbage')")
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
    page = await sq.page(Query(sort="name"))
    assert "guide2" in [e.id for e in page.entries[:40]]
    await check_walk(sq, Query(sort="name"), 100, 3, steps=10)


async def test_a_read_only_database_sorts_without_an_index(
    sq: SqliteStore[ExampleItem], monkeypatch: pytest.MonkeyPatch
) -> None:
    real: Callable[..., Any] = sq.db.execute

    def refuse(sql: str, *args: Any) -> Any:
        if sql.startswith("CREATE INDEX"):
            raise sqlite3.OperationalError("attempt to write a readonly database")
        return real(sql, *args)

    monkeypatch.setattr(sq.db, "execute", refuse)
    await check_walk(sq, Query(sort="description", descending=True), 100, 4, steps=10)


async def test_filters_agree_with_the_json_store_on_awkward_text(tmp_path: Path) -> None:
    rng = random.Random(11)
    alphabet = ["a", "A", "b", "é", "É", "\x00", "\x01", '"', "\\", "%", "_", "/", "1", " "]

    def text(most: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, most)))

    raws = [
        raw_record(f"r{i:03}", text(6) or "x", description=text(8), tags=[text(3)])
        for i in range(120)
    ]
    needles = [text(3) for _ in range(60)] + ["\x00", "a\x00", '\\"', "%", "_", "é"]
    async with (
        JsonStore.in_data_dir(tmp_path, TABLE, ExampleItem) as js,
        SqliteStore.in_data_dir(tmp_path, TABLE, ExampleItem) as sq,
    ):
        await js.put_raw_many(raws)
        await sq.put_raw_many(raws)
        for needle in needles:
            query = Query(filter=needle)  # by id: SQLite sorts names cut at a NUL
            a, b = await js.page(query, limit=200), await sq.page(query, limit=200)
            assert [e.id for e in a.entries] == [e.id for e in b.entries], repr(needle)
            assert a.total == b.total, repr(needle)


@pytest.mark.parametrize("sort", ["id", "name", "tags", "updated_at"])
@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
async def test_head_is_the_first_page_without_a_count(
    tmp_path: Path, sort: str, descending: bool
) -> None:
    """What a pane shows on opening, before the count is in: exactly page 0."""
    store = SqliteStore.in_data_dir(tmp_path, TABLE, ExampleItem)
    async with store:
        await store.put_raw_many(list(generate_raw_records(300, seed=3)))
    with sqlite3.connect(store.path) as db:
        db.executemany(f"INSERT INTO {TABLE} (id, data) VALUES (?, ?)", odd_rows())
    db.close()
    reference = SqliteStore.in_data_dir(tmp_path, TABLE, ExampleItem)
    async with store, reference:
        for needle in ("", "falcon"):
            query = Query(sort=sort, descending=descending, filter=needle)
            head = await store.head(query, 100)
            page = await reference.page(query, 0, 100)
            assert [(e.id, e.raw) for e in head] == [(e.id, e.raw) for e in page.entries]
            # The anchors it leaves serve the next page like any other.
            following = await store.page(query, 100, 100)
            expected = await reference.page(query, 100, 100)
            assert [e.id for e in following.entries] == [e.id for e in expected.entries]
