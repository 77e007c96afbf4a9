"""The plan holds records compactly (issue #4) without changing what it decides or writes.

A target record is kept as a fingerprint, which must say "the same" exactly when
``same_json`` does; the records to write are kept as JSON text and must read back as
exactly the values that went in (types, key order, -0.0, integers past 64 bits).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.records import identical, json_values, raw_record
from tui import transfer
from tui.compact import CompactRecords, fingerprint
from tui.config import json_store, sqlite_store
from tui.transfer import same_json


@st.composite
def variant(draw: st.DrawFn, value: Any) -> Any:
    """``value`` with some of its parts swapped for ones that are ``==`` but maybe not
    the same JSON (1 / 1.0 / True, 0.0 / -0.0), and its objects' keys maybe reordered."""
    if isinstance(value, dict):
        items = [(k, draw(variant(v))) for k, v in value.items()]
        if draw(st.booleans()):
            items.reverse()
        return dict(items)
    if isinstance(value, list):
        return [draw(variant(v)) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value if draw(st.booleans()) else draw(st.sampled_from([value, 1, 0, 1.0]))
    if isinstance(value, int | float) and -(2**53) < value < 2**53:
        return draw(st.sampled_from([value, float(value), -float(value), int(value)]))
    return value


@settings(max_examples=500, deadline=None)
@given(st.data())
def test_fingerprints_agree_with_same_json(data: st.DataObject) -> None:
    a = data.draw(json_values(12))
    b = data.draw(st.one_of(variant(a), json_values(12)))
    fa, fb = fingerprint(a), fingerprint(b)
    assert fa is not None and fb is not None  # json_values are all values orjson writes
    assert len(fa) == 16
    assert (fa == fb) == same_json(a, b)
    assert fingerprint(a) == fa  # and it is stable


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "value",
    [2**64, -(2**63) - 1, {"n": [1, 2**100]}, ["\ud800"], nested(300)],
    ids=["u64+1", "i64-1", "nested big int", "lone surrogate", "too deep"],
)
def test_what_orjson_cannot_write_has_no_fingerprint(value: Any) -> None:
    assert fingerprint(value) is None


@pytest.mark.parametrize("value", [2**64 - 1, -(2**63), nested(100), {"a": [1.5, None]}])
def test_what_orjson_can_write_has_one(value: Any) -> None:
    assert fingerprint(value) is not None


writable_records = st.dictionaries(st.text(), json_values(8), max_size=5)
any_records = st.dictionaries(
    st.text(),
    json_values(8) | st.integers(min_value=2**64, max_value=2**80) | st.just([-(2**70)]),
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(any_records, max_size=12), st.data())
def test_compact_records_read_back_exactly(raws: list[dict[str, Any]], data: Any) -> None:
    records = CompactRecords(raws)
    assert len(records) == len(raws)
    assert all(identical(x, y) for x, y in zip(records, raws, strict=True))
    assert len(list(records)) == len(raws)
    for i in range(-len(raws), len(raws)):
        assert identical(records[i], raws[i])
    start = data.draw(st.integers(-15, 15))
    stop = data.draw(st.integers(-15, 15))
    step = data.draw(st.sampled_from([None, 1, 2, -1]))
    assert identical(records[start:stop:step], raws[start:stop:step])
    encoded = list(records.encoded())
    assert len(encoded) == len(raws)
    for kept, raw in zip(encoded, raws, strict=True):
        if isinstance(kept, bytes):
            assert fingerprint(raw) is not None
            assert kept == orjson.dumps(raw)
        else:
            assert kept is raw and fingerprint(raw) is None


def test_compact_records_batches_and_bounds() -> None:
    raws = [raw_record(f"id{i}", f"name {i}", n=i, f=-0.0) for i in range(2500)]
    raws[1234]["big"] = 2**90  # one orjson cannot write, in the middle of a batch
    records = CompactRecords()
    for raw in raws:
        records.append(raw)
    assert len(records) == 2500
    assert all(identical(x, y) for x, y in zip(records, raws, strict=True))
    assert records[1234] is raws[1234]
    assert identical(records[999:1001], raws[999:1001])
    assert records[5:5] == [] and records[10:5] == []
    with pytest.raises(IndexError):
        records[2500]
    with pytest.raises(IndexError):
        records[-2501]
    assert records == raws and records == CompactRecords(raws)
    assert records != raws[:-1]
    assert "2500 records" in repr(records)
    # Each read is a new dict: changing it changes nothing kept.
    first = records[0]
    first["name"] = "changed"
    assert records[0]["name"] == "name 0"


# -- the plan decides as it did ----------------------------------------------------------


CASES = [
    ({"n": 2**70}, {"n": 2**70}, "unchanged"),
    ({"n": 2**70}, {"n": 2**70 + 1}, "changed"),
    ({"n": 2**70}, {"n": 5}, "changed"),
    ({"n": 5}, {"n": 2**70}, "changed"),
    ({"n": 1}, {"n": 1.0}, "changed"),
    ({"n": 1}, {"n": True}, "changed"),
    ({"n": 0.0}, {"n": -0.0}, "changed"),
    ({"n": 2.5, "m": [1, {"a": None}]}, {"n": 2.5, "m": [1, {"a": None}]}, "unchanged"),
    ({"a": 1, "b": 2}, {"b": 2, "a": 1}, "unchanged"),
]


@pytest.mark.parametrize(
    ("source_of", "target_of"),
    [(sqlite_store, json_store), (json_store, sqlite_store)],
    ids=["export", "import"],
)
@pytest.mark.parametrize(("old", "new", "expected"), CASES)
async def test_the_plan_sorts_as_same_json_does(
    tmp_path: Path, source_of: Any, target_of: Any, old: Any, new: Any, expected: str
) -> None:
    target_raw = raw_record("r1", "one") | old
    source_raw = raw_record("r1", "one") | new
    async with target_of(tmp_path) as target, source_of(tmp_path) as source:
        await target.put_raw_many([target_raw, raw_record("k1", "kept")])
        await source.put_raw_many([source_raw, raw_record("n1", "new", n=2**80)])
        for src, dst in ((source, target), (target, source)):  # export and import
            plan = await transfer.make_plan(src, dst)
            assert getattr(plan, expected) == ["r1"]
            assert expected == "changed" or same_json(target_raw, source_raw)
        plan = await transfer.make_plan(source, target)
        assert plan.new == ["n1"] and plan.kept == ["k1"]
        want = [source_raw] if expected == "changed" else []
        assert all(
            identical(x, y)
            for x, y in zip(plan.to_write, [*want, raw_record("n1", "new", n=2**80)], strict=True)
        )
        result = await transfer.apply(plan, target)
        assert result.written == len(plan.to_write)
        after = {e.id: e.raw async for e in target.iter_all()}
        assert identical(after["r1"], source_raw if expected == "changed" else target_raw)
        assert after["n1"]["n"] == 2**80
        again = await transfer.make_plan(source, target)
        assert again.nothing_to_do and sorted(again.unchanged) == ["n1", "r1"]
