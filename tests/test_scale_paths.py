"""The shortcuts the scale work took give exactly what the plain paths give: a JSON
store's first page picked without a full sort, pieces made a batch at a time, the
timestamp fast path, and an export read ahead a batch while the last one is parsed."""

from __future__ import annotations

import asyncio
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.records import json_values as json_values_up_to
from tui.generate import generate_raw_records
from tui.models import ExampleItem, _parse_timestamp
from tui.stores import JsonStore, Query, SqliteStore, jsonspans

TABLE = "example_items"
json_values = json_values_up_to(6)
keys = st.text(max_size=6) | st.sampled_from(['"', "\\", ",\n  {", "東京", "a"])
records = st.dictionaries(keys, json_values, max_size=4)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=st.lists(st.tuples(keys, records), max_size=6))
def test_pieces_made_a_batch_at_a_time_are_piece_of_each(batch: list[tuple[str, Any]]) -> None:
    names, values = [k for k, _ in batch], [v for _, v in batch]
    one_by_one = []
    for name, value in batch:
        try:
            one_by_one.append(jsonspans.piece_of(name, value))
        except TypeError:
            one_by_one.append(None)
    pieces = jsonspans.pieces_of(names, values)
    if pieces is None:  # declined: the caller goes one by one
        assert None in one_by_one
    else:
        assert pieces == one_by_one


def test_pieces_of_generated_records() -> None:
    raws = list(generate_raw_records(2000, seed=5))
    names = [raw["id"] for raw in raws]
    assert jsonspans.pieces_of(names, raws) == [
        jsonspans.piece_of(n, r) for n, r in zip(names, raws, strict=True)
    ]


@pytest.mark.parametrize(
    "text",
    [
        "2022-03-24T10:50:44.266382Z",
        "2022-03-24T10:50:44Z",
        " 2022-03-24T10:50:44Z ",
        "2022-03-24T10:50:44z",
        "2022-03-24 10:50:44",
        "2022-03-24T10:50:44+02:00",
        "20220324T105044Z",
        "2022-03-24Z",
        "Z",
        "not a time Z",
        "",
    ],
)
def test_the_timestamp_fast_path_is_the_slow_one(text: str) -> None:
    expected: Any = text
    stripped = text.strip()
    if stripped.endswith(("Z", "z")):
        stripped = stripped[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(stripped)
        expected = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except ValueError:
        pass
    got = _parse_timestamp(text)
    assert got == expected
    assert type(got) is type(expected)
    if isinstance(got, datetime):
        assert got.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize("descending", [False, True])
def test_a_json_head_is_the_first_page(tmp_path: Path, descending: bool) -> None:
    async def run() -> None:
        store = JsonStore.in_data_dir(tmp_path, TABLE, ExampleItem)
        async with store:
            await store.put_raw_many(list(generate_raw_records(350, seed=2)))
        reopened = JsonStore.in_data_dir(tmp_path, TABLE, ExampleItem)
        async with reopened:
            for query in (
                Query(descending=descending),
                Query("name", descending, ""),
                Query("id", descending, "a"),
            ):
                head = await reopened.head(query, 100)
                page = await reopened.page(query, 0, 100)
                assert [(e.id, e.raw) for e in head] == [(e.id, e.raw) for e in page.entries]
            assert await reopened.head(Query(), 0) == []

    asyncio.run(run())


def test_an_export_read_stopped_early_leaves_nothing_behind(tmp_path: Path) -> None:
    async def run() -> None:
        store = SqliteStore.in_data_dir(tmp_path, TABLE, ExampleItem)
        async with store:
            await store.put_raw_many(list(generate_raw_records(1200, seed=4)))
            seen = [entry.id async for entry in store.iter_all(batch_size=100)]
            assert len(seen) == len(set(seen)) == 1200
            partial = store.iter_all(batch_size=100)
            async for _ in partial:
                break
            await partial.aclose()  # the batch read ahead is dropped
            assert await store.count() == 1200  # the connection still answers

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        asyncio.run(run())
