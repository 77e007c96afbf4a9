"""A plan compares the files as they are when it is made, and keeps the version of exactly
the target records it compared: an editor's save a moment before the plan is seen, and a
write landing while the plan reads is refused at apply."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.records import raw_record
from tui import transfer
from tui.config import json_store, sqlite_store
from tui.stores import JsonStore


def _write_json(path: Path, records: dict[str, dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, indent=2), "utf-8")


async def test_an_import_reads_the_json_source_as_it_is_now(tmp_path: Path) -> None:
    source_path = tmp_path / "json" / "example_items.json"
    _write_json(source_path, {"a": raw_record("a", "old")})
    async with json_store(tmp_path) as source, sqlite_store(tmp_path) as target:
        assert [e.raw["name"] async for e in source.iter_all()] == ["old"]
        # Saved by an editor after the store read the file, before the plan.
        _write_json(source_path, {"a": raw_record("a", "NEW"), "b": raw_record("b", "added")})
        plan = await transfer.make_plan(source, target)
        assert sorted(plan.new) == ["a", "b"]
        await transfer.apply(plan, target)
        assert (await target.get("a")).raw["name"] == "NEW"  # type: ignore[union-attr]


async def test_a_write_while_the_plan_reads_the_json_target_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target_path = tmp_path / "json" / "example_items.json"
    _write_json(target_path, {"t": raw_record("t", "target")})
    async with sqlite_store(tmp_path) as source, json_store(tmp_path) as target:
        assert isinstance(target, JsonStore)
        await source.put_raw_many([raw_record("s", "source")])
        _write_json(target_path, {"t": raw_record("t", "changed outside")})  # re-read...
        real_reload = target._reload_sync

        def reload_then_someone_writes() -> None:
            real_reload()  # ... and right after the re-read, another write lands
            on_disk = json.loads(target_path.read_text("utf-8"))
            _write_json(target_path, {**on_disk, "late": raw_record("late", "late")})

        monkeypatch.setattr(target, "_reload_sync", reload_then_someone_writes)
        plan = await transfer.make_plan(source, target)
        monkeypatch.undo()
        assert "late" not in plan.kept  # the plan did not see it ...
        with pytest.raises(transfer.TargetChanged):  # ... so it must not be applied
            await transfer.apply(plan, target)
    on_disk = json.loads(target_path.read_text("utf-8"))
    assert set(on_disk) == {"t", "late"} and on_disk["t"]["name"] == "changed outside"
