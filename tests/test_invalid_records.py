"""Records that fail validation are shown, counted and kept: never dropped, never rewritten."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tui import transfer
from tui.models import ExampleItem
from tui.stores import Query
from tui.stores.base import SORT_FIELDS

if TYPE_CHECKING:
    from conftest import AnyStore, OpenStore

STAMP = "2026-11-29T17:55:20.845500Z"


def good(record_id: str, name: str = "fine") -> dict[str, Any]:
    return {"id": record_id, "name": name, "created_at": STAMP, "updated_at": STAMP}


# key -> (stored value, words the error must contain)
JSON_INVALID: dict[str, tuple[Any, str]] = {
    "mismatch": ({"id": "other", "name": "x", "created_at": STAMP}, "does not match"),
    "no-id": ({"name": "x"}, "does not match"),
    "no-name": ({"id": "no-name", "description": "nameless", "weird": [1, {"a": None}]}, "name"),
    "empty-name": ({"id": "empty-name", "name": ""}, "name"),
    "long-name": ({"id": "long-name", "name": "x" * 201}, "name"),
    "tags-not-list": ({"id": "tags-not-list", "name": "t", "tags": "a,b"}, "tags"),
    "tag-not-text": ({"id": "tag-not-text", "name": "t", "tags": ["a", 3]}, "tags"),
    "bad-created": (
        {"id": "bad-created", "name": "t", "created_at": "yesterday-ish"},
        "created_at",
    ),
    "bad-version": ({"id": "bad-version", "name": "t", "schema_version": "one"}, "schema_version"),
}

# key -> (data column text, words the error must contain)
SQLITE_INVALID: dict[str, tuple[str, str]] = {
    "not-json": ("not json {", "JSON"),
    "truncated": ('{"id": "truncated", "name": "x"', "JSON"),
    "array": ("[1, 2, 3]", "list"),
    "string": ('"just text"', "str"),
    "wrong-types": ('{"id": "wrong-types", "name": 5, "tags": "x"}', "name"),
    "mismatch": ('{"id": "zzz", "name": "x"}', "does not match"),
    "no-name": ('{"id":"no-name","note":"kept as is"}', "name"),
    "duplicate-key": ('{"id":"duplicate-key","name":"a","name":"b"}', "JSON"),
    "nan": ('{"id":"nan","name":"x","v":NaN}', "JSON"),
    "bad-created": ('{"id":"bad-created","name":"x","created_at":"soon"}', "created_at"),
    # deeper than a JSON store file may nest: copied there, the file could not be read back
    "deep-600": ('{"id":"deep-600","name":"x","v":' + "[" * 600 + "]" * 600 + "}", "nest"),
    "deep-1000": ('{"id":"deep-1000","name":"x","v":' + "[" * 1000 + "]" * 1000 + "}", "nest"),
    "deep-5000": ('{"id":"deep-5000","name":"x","v":' + "[" * 5000 + "]" * 5000 + "}", "depth"),
}

VALID_IDS = ["good-1", "good-2"]


async def make_store_with_invalid(kind: str, open_store: OpenStore, data_dir: Path) -> AnyStore:
    if kind == "json":
        path = data_dir / "json" / "example_items.json"
        path.parent.mkdir(parents=True)
        content: dict[str, Any] = {key: value for key, (value, _) in JSON_INVALID.items()}
        content.update({rid: good(rid) for rid in VALID_IDS})
        path.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", "utf-8")
        return await open_store("json")
    store = await open_store("sqlite")  # creates the table
    with sqlite3.connect(store.path) as db:
        db.executemany(
            "INSERT INTO example_items (id, data, created_at, updated_at) VALUES (?, ?, ?, ?)",
            [(key, text, "2026-01-01 00:00:00", None) for key, (text, _) in SQLITE_INVALID.items()]
            + [(rid, json.dumps(good(rid)), STAMP, STAMP) for rid in VALID_IDS],
        )
    db.close()
    return store


def invalid_cases(kind: str) -> dict[str, tuple[Any, str]]:
    return dict(JSON_INVALID) if kind == "json" else dict(SQLITE_INVALID)


def stored_as_is(store: AnyStore) -> dict[str, Any]:
    """What is on disk, read without the store: raw dicts (JSON) or whole rows (SQLite)."""
    if store.kind == "json":
        result: dict[str, Any] = json.loads(store.path.read_text("utf-8"))
        return result
    with sqlite3.connect(store.path) as db:
        rows = db.execute("SELECT id, data, created_at, updated_at FROM example_items").fetchall()
    db.close()
    return {row[0]: row for row in rows}


@pytest.fixture(params=["json", "sqlite"])
async def bad_store(
    request: pytest.FixtureRequest, open_store: OpenStore, data_dir: Path
) -> AnyStore:
    return await make_store_with_invalid(request.param, open_store, data_dir)


async def test_invalid_entries_are_reported_with_a_reason(bad_store: AnyStore) -> None:
    cases = invalid_cases(bad_store.kind)
    entries = {e.id: e async for e in bad_store.iter_all()}
    assert set(entries) == set(cases) | set(VALID_IDS)
    for key, (_, words) in cases.items():
        entry = entries[key]
        assert not entry.valid, key
        assert entry.record is None
        assert entry.error and words in entry.error, (key, entry.error)
        assert "\n" not in entry.error
    for rid in VALID_IDS:
        assert entries[rid].valid and entries[rid].error is None
    # get() says the same
    some_key = next(iter(cases))
    got = await bad_store.get(some_key)
    assert got is not None and not got.valid and got.error == entries[some_key].error


async def test_invalid_raw_is_what_is_stored(bad_store: AnyStore) -> None:
    cases = invalid_cases(bad_store.kind)
    entries = {e.id: e async for e in bad_store.iter_all()}
    if bad_store.kind == "json":
        for key, (value, _) in cases.items():
            assert entries[key].raw == value
    else:
        assert entries["not-json"].raw == "not json {"
        assert entries["array"].raw == [1, 2, 3]
        assert entries["no-name"].raw["note"] == "kept as is"


async def test_invalid_entries_are_counted_and_paged(bad_store: AnyStore) -> None:
    everyone = set(invalid_cases(bad_store.kind)) | set(VALID_IDS)
    assert await bad_store.count() == len(everyone)
    for field in SORT_FIELDS:
        for descending in (False, True):
            page = await bad_store.page(Query(sort=field, descending=descending), 0, 100)
            assert {e.id for e in page.entries} == everyone, (field, descending)
            assert page.total == len(everyone)
            # paging through with small pages sees each exactly once
            walked = []
            for offset in range(0, len(everyone), 3):
                walked += [
                    e.id for e in (await bad_store.page(Query(sort=field), offset, 3)).entries
                ]
            assert sorted(walked) == sorted(everyone), field


async def test_filter_finds_invalid_entries(bad_store: AnyStore) -> None:
    if bad_store.kind == "json":
        assert [e.id for e in (await bad_store.page(Query(filter="NAMELESS"))).entries] == [
            "no-name"
        ]
        assert await bad_store.count("yesterday") == 1
        # the key of a record whose id field is missing or wrong still finds it
        assert [e.id for e in (await bad_store.page(Query(filter="NO-ID"))).entries] == ["no-id"]
        assert await bad_store.count("mismatch") == 1
    else:
        assert [e.id for e in (await bad_store.page(Query(filter="NOT JSON"))).entries] == [
            "not-json"
        ]
        assert await bad_store.count("kept as") == 1
        assert [e.id for e in (await bad_store.page(Query(filter="MISMATCH"))).entries] == [
            "mismatch"
        ]
        # sorting by a field while filtering must not trip over rows that are not JSON
        page = await bad_store.page(Query(sort="name", filter="t"))
        assert {"not-json", "truncated", "mismatch"} <= {e.id for e in page.entries}


async def test_invalid_entries_survive_unrelated_writes(bad_store: AnyStore) -> None:
    cases = invalid_cases(bad_store.kind)
    before = stored_as_is(bad_store)

    await bad_store.upsert(ExampleItem(id="new-1", name="new"))
    await bad_store.upsert_many(
        [ExampleItem(id="new-2", name="n2"), ExampleItem(id="good-1", name="e")]
    )
    await bad_store.put_raw_many([good("new-3")])
    assert await bad_store.delete("good-2") is True

    after = stored_as_is(bad_store)
    assert set(after) == (set(before) - {"good-2"}) | {"new-1", "new-2", "new-3"}
    for key in cases:
        if bad_store.kind == "json":
            # byte for value: the same JSON, the same types, the same key order
            assert json.dumps(after[key]) == json.dumps(before[key]), key
        else:
            assert after[key] == before[key], key  # the whole row, text for text
    entries = {e.id: e async for e in bad_store.iter_all()}
    assert all(not entries[key].valid for key in cases)


async def test_transfer_reports_invalid_and_does_not_copy_them(
    bad_store: AnyStore, open_store: OpenStore, tmp_path: Path
) -> None:
    cases = invalid_cases(bad_store.kind)
    other_kind = "sqlite" if bad_store.kind == "json" else "json"
    target = await open_store(other_kind, data_dir=tmp_path / "target")
    plan = await transfer.make_plan(bad_store, target)
    assert {record_id for record_id, _ in plan.invalid} == set(cases)
    assert all(why for _, why in plan.invalid)
    assert sorted(plan.new) == VALID_IDS
    assert plan.changed == [] and plan.unchanged == [] and plan.kept == []
    result = await transfer.apply(plan, target)
    assert result.written == len(VALID_IDS)
    assert sorted([e.id async for e in target.iter_all()]) == VALID_IDS
    # the source is untouched
    assert await bad_store.count() == len(cases) + len(VALID_IDS)
