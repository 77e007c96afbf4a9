"""A plan applies only to the target it was made against: a write in between is refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tui import transfer
from tui.config import json_store, sqlite_store
from tui.models import ExampleItem
from tui.sample import seed_if_empty

Factory = Callable[[Path], Any]


@pytest.mark.parametrize(
    ("source_of", "target_of"),
    [(sqlite_store, json_store), (json_store, sqlite_store)],
    ids=["export", "import"],
)
async def test_a_write_between_plan_and_apply_is_refused(
    tmp_path: Path, source_of: Factory, target_of: Factory
) -> None:
    await seed_if_empty(tmp_path)
    async with source_of(tmp_path) as source, target_of(tmp_path) as target:
        plan = await transfer.make_plan(source, target)
        async with target_of(tmp_path) as someone_else:
            await someone_else.upsert(ExampleItem(id="outsider", name="written meanwhile"))
        with pytest.raises(transfer.TargetChanged, match="plan again"):
            await transfer.apply(plan, target)
        async with target_of(tmp_path) as reread:
            after = {e.id: e.raw async for e in reread.iter_all()}
        assert "outsider" in after  # the other write stands
        assert len(after) == len(plan.kept) + len(plan.changed) + len(plan.unchanged) + 1
        fresh = await transfer.make_plan(source, target)
        assert "outsider" in fresh.kept
        result = await transfer.apply(fresh, target)
        assert result.written == len(fresh.to_write) > 0


@pytest.mark.parametrize(
    ("source_of", "target_of"),
    [(sqlite_store, json_store), (json_store, sqlite_store)],
    ids=["export", "import"],
)
async def test_a_write_right_after_applys_own_check_is_refused_too(
    tmp_path: Path, source_of: Factory, target_of: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race the early check cannot see: another writer commits after apply compared
    versions and before the write takes the target's lock or transaction. The write
    compares again where nobody else can write, so the confirmed plan is never applied
    to a target it was not made against."""
    await seed_if_empty(tmp_path)
    async with source_of(tmp_path) as source, target_of(tmp_path) as target:
        # A changed record in the plan, so that it has something to write.
        first = await source.get((await source.page()).entries[0].id)
        assert first is not None
        await source.put_raw_many([{**first.raw, "description": "from the source"}])
        plan = await transfer.make_plan(source, target)
        assert plan.to_write
        before = {e.id: e.raw async for e in target.iter_all()}
        real_version = target.version

        async def version_then_someone_writes() -> object:
            version = await real_version()
            async with target_of(tmp_path) as someone_else:
                await someone_else.upsert(ExampleItem(id="outsider", name="written meanwhile"))
            return version

        monkeypatch.setattr(target, "version", version_then_someone_writes)
        with pytest.raises(transfer.TargetChanged, match="plan again"):
            await transfer.apply(plan, target)
        monkeypatch.undo()
        async with target_of(tmp_path) as reread:
            after = {e.id: e.raw async for e in reread.iter_all()}
        assert after.pop("outsider")["name"] == "written meanwhile"
        assert after == before  # nothing of the plan was written
