"""Property tests: records survive JSON -> SQLite -> JSON unchanged, and plans match a model."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import sqlite3
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui import transfer
from tui.models import ExampleItem
from tui.stores import JsonStore, Query, SqliteStore
from tui.stores.base import SORT_FIELDS

KNOWN = {"id", "schema_version", "created_at", "updated_at", "name", "description", "tags"}
# Moderate by default so the file runs in seconds; TUI_HYPOTHESIS_EXAMPLES=2000 digs deeper.
SETTINGS = settings(
    max_examples=int(os.environ.get("TUI_HYPOTHESIS_EXAMPLES", "50")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

AnyStore = JsonStore[ExampleItem] | SqliteStore[ExampleItem]


def canon(value: Any) -> str:
    """Exact comparison form: 1, 1.0 and true differ, big ints stay exact; key order ignored."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


# -- strategies -------------------------------------------------------------------------------

# Text with everything that tends to break things: emoji, control characters, quotes,
# backslashes, markup, line separators (hypothesis' default alphabet, minus surrogates).
tricky = st.sampled_from(
    ["🦄", "🏳️‍🌈", "\x00", "\x1b[31m", "\x7f", "\u0085", "\u2028", '"', "\\", "[/]", "é", "\ufeff"]
)
texts = st.lists(st.one_of(st.text(max_size=6), tricky), max_size=5).map("".join)
names = st.one_of(st.text(min_size=1, max_size=200), texts.filter(lambda t: 1 <= len(t) <= 200))

big_ints = st.sampled_from(
    [2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**30, -(10**30), int("7" * 400)]
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    big_ints,
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)),
    max_leaves=10,
)

moments = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)
timestamps = st.one_of(
    # ours and the guide's: "2026-11-29T17:55:20.845500Z"
    moments.map(lambda d: d.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"),
    moments.map(lambda d: d.isoformat()),  # "+00:00"
    # SQLite's CURRENT_TIMESTAMP: "2026-11-29 17:55:20"
    moments.map(lambda d: d.replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")),
)
record_ids = st.one_of(st.text(min_size=1, max_size=12), st.uuids().map(lambda u: u.hex[:12]))


@st.composite
def valid_records(draw: st.DrawFn, record_id: str) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "id": record_id,
        "schema_version": draw(st.integers(min_value=0, max_value=2**62)),
        "created_at": draw(timestamps),
        "updated_at": draw(timestamps),
        "name": draw(names),
        "description": draw(texts),
        "tags": draw(st.lists(texts, max_size=4)),
    }
    extra = draw(st.dictionaries(texts.filter(lambda k: k not in KNOWN), json_values, max_size=4))
    raw.update(extra)
    return raw


@st.composite
def invalid_records(draw: st.DrawFn, record_id: str) -> dict[str, Any]:
    raw = draw(valid_records(record_id))
    how = draw(st.sampled_from(["empty-name", "no-name", "long-name", "tags", "time", "id"]))
    if how == "empty-name":
        raw["name"] = ""
    elif how == "no-name":
        del raw["name"]
    elif how == "long-name":
        raw["name"] = "n" * 201
    elif how == "tags":
        raw["tags"] = "a,b"
    elif how == "time":
        raw["created_at"] = "not a time"
    else:
        raw["id"] = record_id + "-other"
    return raw


# -- stores on disk ---------------------------------------------------------------------------


def write_json_file(folder: Path, content: dict[str, Any]) -> None:
    path = folder / "json" / "example_items.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", "utf-8")


def write_sqlite_file(folder: Path, content: dict[str, Any]) -> None:
    path = folder / "db" / "myapp.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE example_items (id TEXT PRIMARY KEY NOT NULL, data TEXT NOT NULL,"
            " created_at TEXT, updated_at TEXT)"
        )
        db.executemany(
            "INSERT INTO example_items (id, data) VALUES (?, ?)",
            [(key, json.dumps(raw, ensure_ascii=False)) for key, raw in content.items()],
        )
    db.close()


def store_in(kind: str, folder: Path) -> AnyStore:
    if kind == "json":
        return JsonStore.in_data_dir(folder, "example_items", ExampleItem)
    return SqliteStore.in_data_dir(folder, "example_items", ExampleItem)


async def contents(kind: str, folder: Path) -> dict[str, Any]:
    """Everything a freshly opened store reads from ``folder``: id -> raw."""
    async with store_in(kind, folder) as store:
        return {entry.id: entry.raw async for entry in store.iter_all()}


async def copy_all(source_kind: str, source: Path, target_kind: str, target: Path) -> int:
    async with store_in(source_kind, source) as src, store_in(target_kind, target) as dst:
        plan = await transfer.make_plan(src, dst)
        assert plan.invalid == [] and plan.changed == []
        result = await transfer.apply(plan, dst)
        return result.written


# -- JSON -> SQLite -> JSON -------------------------------------------------------------------


@st.composite
def record_sets(draw: st.DrawFn) -> dict[str, dict[str, Any]]:
    keys = draw(st.lists(record_ids, unique=True, min_size=1, max_size=6))
    return {key: draw(valid_records(key)) for key in keys}


@SETTINGS
@given(records=record_sets())
def test_json_to_sqlite_to_json_is_lossless(records: dict[str, dict[str, Any]]) -> None:
    async def run(root: Path) -> None:
        async with store_in("json", root / "a") as first:
            assert await first.put_raw_many(list(records.values())) == len(records)
        assert await copy_all("json", root / "a", "sqlite", root / "b") == len(records)
        assert await copy_all("sqlite", root / "b", "json", root / "c") == len(records)

        # Every hop, read back from disk by a fresh store, holds exactly the records.
        for kind, folder in (("json", "a"), ("sqlite", "b"), ("json", "c")):
            got = await contents(kind, root / folder)
            assert {k: canon(v) for k, v in got.items()} == {
                k: canon(v) for k, v in records.items()
            }, (kind, folder)
            for key, raw in records.items():
                assert list(got[key]) == list(raw)  # and the key order of each record

        # ...and the final file, read with the standard library, says the same.
        final = json.loads((root / "c" / "json" / "example_items.json").read_text("utf-8"))
        assert {k: canon(v) for k, v in final.items()} == {k: canon(v) for k, v in records.items()}

        # A second export finds nothing to do.
        async with store_in("sqlite", root / "b") as src, store_in("json", root / "c") as dst:
            plan = await transfer.make_plan(src, dst)
            assert sorted(plan.unchanged) == sorted(records)
            assert plan.nothing_to_do

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(Path(tmp)))


# -- plan/apply against a dict model ----------------------------------------------------------


@st.composite
def transfer_cases(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    keys = draw(st.lists(record_ids, unique=True, max_size=10))
    source: dict[str, Any] = {}
    target: dict[str, Any] = {}
    for key in keys:
        where = draw(st.sampled_from(["source", "target", "same", "differ", "retyped"]))
        bad = draw(st.integers(0, 4)) == 0
        record = draw(invalid_records(key) if bad else valid_records(key))
        if where == "source":
            source[key] = record
        elif where == "target":
            target[key] = record
        elif where == "same":
            source[key] = record
            target[key] = copy.deepcopy(record)
        elif where == "differ":
            source[key] = record
            target[key] = draw(valid_records(key))
        else:
            # The same but for one value's JSON type: 1 vs true vs 1.0 are different content.
            a, b = draw(st.sampled_from([(1, True), (1, 1.0), (0, False), (True, 1.0), (0, None)]))
            source[key] = {**record, "n": a}
            target[key] = {**copy.deepcopy(record), "n": b}
    return source, target


def is_valid(key: str, raw: Any) -> bool:
    if not isinstance(raw, dict) or raw.get("id") != key:
        return False
    try:
        ExampleItem.model_validate(raw)
    except ValueError:
        return False
    return True


KIND_PAIRS = [("json", "sqlite"), ("sqlite", "json"), ("json", "json"), ("sqlite", "sqlite")]


@SETTINGS
@given(case=transfer_cases(), kinds=st.sampled_from(KIND_PAIRS))
def test_plan_and_apply_match_a_dict_model(
    case: tuple[dict[str, Any], dict[str, Any]], kinds: tuple[str, str]
) -> None:
    source, target = case
    source_kind, target_kind = kinds

    # The model: plain dicts, type-exact comparison.
    want_invalid = {k for k, v in source.items() if not is_valid(k, v)}
    good = {k: v for k, v in source.items() if k not in want_invalid}
    want_new = {k for k in good if k not in target}
    want_unchanged = {k for k in good if k in target and canon(target[k]) == canon(good[k])}
    want_changed = set(good) - want_new - want_unchanged
    want_kept = set(target) - set(source)
    expected_after = {k: canon(v) for k, v in {**target, **good}.items()}

    async def run(root: Path) -> None:
        for kind, folder, content in (
            (source_kind, root / "src", source),
            (target_kind, root / "dst", target),
        ):
            (write_json_file if kind == "json" else write_sqlite_file)(folder, content)

        async with (
            store_in(source_kind, root / "src") as src,
            store_in(target_kind, root / "dst") as dst,
        ):
            plan = await transfer.make_plan(src, dst)
            assert set(plan.new) == want_new
            assert set(plan.changed) == want_changed
            assert set(plan.unchanged) == want_unchanged
            assert {k for k, _ in plan.invalid} == want_invalid
            assert set(plan.kept) == want_kept
            counts = plan.counts()
            assert counts["new"] + counts["changed"] + counts["unchanged"] + counts[
                "invalid"
            ] == len(source)
            assert sorted(raw["id"] for raw in plan.to_write) == sorted(want_new | want_changed)
            result = await transfer.apply(plan, dst)
            assert result.written == len(want_new | want_changed)

        after = await contents(target_kind, root / "dst")
        assert {k: canon(v) for k, v in after.items()} == expected_after
        # The source is never written.
        before_source = await contents(source_kind, root / "src")
        assert set(before_source) == set(source)

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(Path(tmp)))


# -- JSON and SQLite order and filter alike -----------------------------------------------------

# Known differences, left out here: SQLite's JSON functions and LIKE stop at a NUL
# character; SQLite reads integers past 64 bits as doubles; and it writes doubles as text
# differently (1.0e-05 for 1e-05, 15 significant digits), which matters when filtering.
sort_values = st.one_of(
    texts,
    st.none(),
    st.integers(-5, 5),
    st.integers(-40, 40).map(lambda n: n / 4),
    st.booleans(),
    st.lists(texts, max_size=3),
)


def comparable(value: Any) -> Any:
    """``value`` without what SQLite cannot filter on as Python does (see above)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else value % 1000
    if isinstance(value, float):
        return round(value * 4) / 4 if abs(value) < 1e6 else 0.25
    if isinstance(value, list):
        return [comparable(v) for v in value]
    if isinstance(value, dict):
        return {comparable(k): comparable(v) for k, v in value.items()}
    return value


@st.composite
def parity_cases(draw: st.DrawFn) -> tuple[list[dict[str, Any]], str]:
    keys = draw(st.lists(record_ids, unique=True, min_size=1, max_size=8))
    raws = []
    for key in keys:
        raw = draw(valid_records(key))
        for field in draw(st.sets(st.sampled_from(["name", "description", "tags", "created_at"]))):
            if draw(st.booleans()):
                del raw[field]
            else:
                raw[field] = draw(sort_values)  # may make it invalid: it still sorts
        raws.append(comparable(raw))
    pick = draw(st.sampled_from(raws))
    source = draw(st.sampled_from([v for v in pick.values() if isinstance(v, str)] or [""]))
    start = draw(st.integers(0, len(source)))
    needle = source[start : start + draw(st.integers(0, 4))]
    if draw(st.booleans()):
        needle = needle.upper()
    return raws, draw(st.one_of(st.just(needle), texts.map(comparable)))


@SETTINGS
@given(case=parity_cases(), field=st.sampled_from(SORT_FIELDS), descending=st.booleans())
def test_json_and_sqlite_order_and_filter_alike(
    case: tuple[list[dict[str, Any]], str], field: str, descending: bool
) -> None:
    raws, needle = case

    async def run(root: Path) -> None:
        async with store_in("json", root) as js, store_in("sqlite", root) as sq:
            await js.put_raw_many(raws)
            await sq.put_raw_many(raws)
            for text in (needle, ""):
                query = Query(sort=field, descending=descending, filter=text)
                a, b = await js.page(query), await sq.page(query)
                assert [e.id for e in a.entries] == [e.id for e in b.entries], text
                assert a.total == b.total == await js.count(text) == await sq.count(text)

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(Path(tmp)))


# -- a record written through the model reads back the same -----------------------------------


@SETTINGS
@given(raw=record_ids.flatmap(valid_records))
def test_upsert_then_read_back_gives_the_same_record(raw: dict[str, Any]) -> None:
    record = ExampleItem.model_validate(raw)

    async def run(root: Path) -> None:
        start = datetime.now(UTC)
        for kind in ("json", "sqlite"):
            async with store_in(kind, root) as store:
                await store.upsert(record)
            async with store_in(kind, root) as fresh:
                entry = await fresh.get(record.id)
                assert entry is not None and entry.record is not None, entry and entry.error
                got = entry.record
                assert got.created_at == record.created_at  # a new record keeps its own
                assert got.updated_at >= start  # written now
                for field in ("name", "description", "tags", "schema_version"):
                    assert getattr(got, field) == getattr(record, field), (kind, field)
                extras = {k: v for k, v in raw.items() if k not in KNOWN}
                assert canon({k: entry.raw[k] for k in extras}) == canon(extras), kind

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(Path(tmp)))
