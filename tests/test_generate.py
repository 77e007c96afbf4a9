"""The data generator: deterministic, valid, unique, exact; and it fills both stores."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from tui.generate import GeneratedRecords, fill_stores, generate_raw_records, record_id
from tui.models import DEFAULT_COLLECTION, ExampleItem
from tui.stores import JsonStore, SqliteStore

ID = re.compile(r"^[0-9a-f]{12}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def test_count_is_exact() -> None:
    for count in (0, 1, 999, 1000, 1001, 2500):
        assert sum(1 for _ in generate_raw_records(count, seed=3)) == count


def test_same_seed_same_records_other_seed_other_records() -> None:
    first = list(generate_raw_records(1500, seed=7))
    assert first == list(generate_raw_records(1500, seed=7))
    other = list(generate_raw_records(1500, seed=8))
    assert {r["id"] for r in first}.isdisjoint({r["id"] for r in other})
    assert [r["name"] for r in first] != [r["name"] for r in other]


def test_a_range_is_the_same_wherever_it_is_cut() -> None:
    whole = list(generate_raw_records(3000, seed=1))
    assert list(generate_raw_records(1234, seed=1, start=987)) == whole[987 : 987 + 1234]
    assert list(generate_raw_records(5, seed=1, start=2995)) == whole[2995:]
    assert [record_id(i, seed=1) for i in (0, 1500, 2999)] == [
        whole[i]["id"] for i in (0, 1500, 2999)
    ]
    lazy = GeneratedRecords(3000, seed=1)
    assert len(lazy) == 3000
    assert lazy[2000:2100] == whole[2000:2100]
    assert lazy[-1] == whole[-1]
    assert list(lazy) == whole


def test_ids_are_unique_hex() -> None:
    ids = [r["id"] for r in generate_raw_records(50_000, seed=0)]
    assert len(set(ids)) == len(ids)
    assert all(ID.match(i) for i in ids)


def test_records_are_valid_and_round_trip_unchanged() -> None:
    raws = list(generate_raw_records(5000, seed=11))
    for raw in raws[::7]:
        item = ExampleItem.model_validate(raw)
        assert item.to_raw() == raw  # timestamps written exactly as the stores write them
        assert raw["schema_version"] == 1
        assert TIMESTAMP.match(raw["created_at"]) and TIMESTAMP.match(raw["updated_at"])
        assert raw["created_at"] <= raw["updated_at"]
        assert 0 <= len(raw["tags"]) <= 4 and len(set(raw["tags"])) == len(raw["tags"])


def test_records_are_varied() -> None:
    raws = list(generate_raw_records(5000, seed=0))
    descriptions = [r["description"] for r in raws]
    assert "" in descriptions
    assert max(len(d) for d in descriptions) > 500
    assert len({r["name"] for r in raws}) > 1000
    assert len({r["created_at"] for r in raws}) == len(raws)
    assert any(r["created_at"] == r["updated_at"] for r in raws)
    assert any(r["created_at"] != r["updated_at"] for r in raws)
    text = orjson.dumps(raws).decode()
    assert any(ord(c) > 0x2000 for c in text)  # CJK and emoji, not just accents
    assert any(ord(c) > 0xFFFF for c in text)  # astral-plane emoji
    assert any(len(r["tags"]) == 0 for r in raws) and any(len(r["tags"]) == 4 for r in raws)


def test_tag_lists_are_not_shared_between_records() -> None:
    raws = [r for r in generate_raw_records(2000, seed=0) if r["tags"]]
    assert len({id(r["tags"]) for r in raws}) == len(raws)


def test_negative_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        list(generate_raw_records(-1))
    with pytest.raises(ValueError):
        list(generate_raw_records(1, start=-1))


async def test_fill_stores_writes_the_same_records_to_both(tmp_path: Path) -> None:
    assert await fill_stores(tmp_path, 2500, "both", seed=5) == 2500
    expected = {r["id"]: r for r in generate_raw_records(2500, seed=5)}
    async with JsonStore.in_data_dir(tmp_path, DEFAULT_COLLECTION, ExampleItem) as js:
        assert await js.count() == 2500
        assert dict(js.raw_items()) == expected
    async with SqliteStore.in_data_dir(tmp_path, DEFAULT_COLLECTION, ExampleItem) as db:
        assert await db.count() == 2500
        got = {e.id: e.raw async for e in db.iter_all()}
        assert got == expected
        entry = await db.get(next(iter(expected)))
        assert entry is not None and entry.valid


async def test_fill_stores_one_backend_only(tmp_path: Path) -> None:
    await fill_stores(tmp_path, 10, "json")
    assert (tmp_path / "json" / f"{DEFAULT_COLLECTION}.json").exists()
    assert not (tmp_path / "db").exists()
    with pytest.raises(ValueError):
        await fill_stores(tmp_path, 10, "csv")  # type: ignore[arg-type]
