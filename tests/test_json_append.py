"""Adding records to a JSON store appends to the file instead of serializing it all again.

Whatever path a write takes, the file must end up exactly as a full write would make it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.records import json_values as json_values_up_to
from tui.generate import generate_raw_records
from tui.models import ExampleItem
from tui.stores import JsonStore, jsoncodec, jsonio

json_values = json_values_up_to(12)
records = st.dictionaries(st.text(), json_values, max_size=4)
stores = st.dictionaries(st.text(min_size=1), records, max_size=5)


@settings(max_examples=300, deadline=None)
@given(old=stores.filter(bool), new=stores.filter(bool))
def test_appended_tail_is_what_a_full_write_puts_there(
    old: dict[str, Any], new: dict[str, Any]
) -> None:
    added = {k: v for k, v in new.items() if k not in old}
    before = jsoncodec.serialize(old)
    tail = jsonio.appended_tail(added.items())
    assert tail is not None
    assert before.endswith(b"\n}\n")
    assert before[:-3] + tail == jsoncodec.serialize({**old, **added})


def test_appended_tail_refuses_what_orjson_cannot_write() -> None:
    assert jsonio.appended_tail([("a", {"big": 2**70})]) is None
    assert jsonio.appended_tail([(5, {})]) is None


def store_path(tmp_path: Path) -> Path:
    return tmp_path / "json" / "example_items.json"


async def filled(tmp_path: Path, count: int = 300) -> JsonStore[ExampleItem]:
    store = JsonStore(store_path(tmp_path), ExampleItem)
    await store.open()
    await store.put_raw_many(list(generate_raw_records(count, seed=2)))
    return store


def expect_file(path: Path, data: dict[str, Any]) -> None:
    assert path.read_bytes() == jsoncodec.serialize(data)


def item(record_id: str, name: str = "New") -> ExampleItem:
    return ExampleItem(id=record_id, name=name, description="ünïcode ☕ 東京", tags=["x"])


async def test_an_add_appends_and_the_file_is_what_a_full_write_makes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await filled(tmp_path)
    path = store_path(tmp_path)
    before = dict(store.raw_items())
    mode = path.stat().st_mode

    def no_full_write(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an add serialized the whole store")

    with monkeypatch.context() as patched:
        for name in ("serialize", "serialize_layout"):
            patched.setattr(jsoncodec, name, no_full_write)
        for name in ("atomic_write", "atomic_write_layout"):
            patched.setattr(jsonio, name, no_full_write)
        entry = await store.upsert(item("aaaaaaaaaaaa"))
        await store.put_raw_many([{"id": "bbbbbbbbbbbb", "name": "raw", "extra": [1, {}]}])
    expected = {**before, "aaaaaaaaaaaa": entry.raw}
    expected["bbbbbbbbbbbb"] = {"id": "bbbbbbbbbbbb", "name": "raw", "extra": [1, {}]}
    expect_file(path, expected)
    assert path.stat().st_mode == mode
    assert not [p for p in path.parent.iterdir() if p.name.startswith(jsonio.TEMP_PREFIX)]
    reopened = JsonStore(path, ExampleItem)
    await reopened.open()
    assert dict(reopened.raw_items()) == expected


async def test_edits_deletes_and_moves_give_what_a_full_write_gives(tmp_path: Path) -> None:
    store = await filled(tmp_path)
    path = store_path(tmp_path)
    first, second = (key for key, _ in store.raw_items()[:2])
    await store.upsert(item(first, "edited"))  # same id: the record changes in place
    await store.delete(second)
    await store.upsert(item("cccccccccccc"))
    expected = dict(store.raw_items())
    assert next(iter(expected)) == first and expected[first]["name"] == "edited"
    assert second not in expected
    expect_file(path, expected)
    # a record removed and put back lands at the end, as a full write would put it
    raw = expected[first]
    await store.put_raw_many([{**raw}])
    await store.delete(first)
    await store.put_raw_many([raw, {"id": "dddddddddddd", "name": "d"}])
    expect_file(path, dict(store.raw_items()))
    assert list(dict(store.raw_items()))[-2:] == [first, "dddddddddddd"]


async def test_an_add_after_another_process_wrote_keeps_both(tmp_path: Path) -> None:
    mine = await filled(tmp_path)
    theirs = JsonStore(store_path(tmp_path), ExampleItem)
    await theirs.open()
    await theirs.upsert(item("eeeeeeeeeeee", "theirs"))
    await mine.upsert(item("ffffffffffff", "mine"))
    on_disk = json.loads(store_path(tmp_path).read_text("utf-8"))
    assert on_disk["eeeeeeeeeeee"]["name"] == "theirs"
    assert on_disk["ffffffffffff"]["name"] == "mine"
    expect_file(store_path(tmp_path), on_disk)


async def test_a_hand_edited_file_is_written_whole_in_our_layout(tmp_path: Path) -> None:
    path = store_path(tmp_path)
    path.parent.mkdir(parents=True)
    raws = list(generate_raw_records(3, seed=4))
    path.write_text(json.dumps({r["id"]: r for r in raws}, indent=4) + "\n\n", "utf-8")
    store = JsonStore(path, ExampleItem)
    await store.open()
    await store.upsert(item("abababababab"))
    expect_file(path, dict(store.raw_items()))


async def test_a_file_replaced_behind_our_back_is_never_spliced(tmp_path: Path) -> None:
    store = await filled(tmp_path, 5)
    path = store_path(tmp_path)
    # Another program swaps the file without the lock and keeps size and mtime.
    stat = path.stat()
    other = {r["id"]: r for r in generate_raw_records(5, seed=9)}
    text = jsoncodec.serialize(other)
    replacement = path.with_name("other.json")
    replacement.write_bytes(text)
    os.utime(replacement, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(replacement, path)
    await store.upsert(item("acacacacacac"))
    on_disk = json.loads(path.read_text("utf-8"))
    assert set(other) <= set(on_disk) and "acacacacacac" in on_disk
    expect_file(path, on_disk)
