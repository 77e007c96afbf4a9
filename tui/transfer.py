"""Export and Import: copy records from one store to another, only as a confirmed plan says.

``make_plan(source, target)`` sorts every source record into new / changed / unchanged /
invalid and lists the target-only records that stay. ``apply(plan)`` writes new and
changed records exactly as they are in the source (ids, timestamps, unknown fields) in
one SQLite transaction or one atomic JSON write: all or nothing.
"""

from __future__ import annotations

import contextlib
import gc
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from tui.stores.base import Store

Progress = Callable[[int, int], None]


@dataclass
class Plan:
    source_label: str
    target_label: str
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    invalid: list[tuple[str, str]] = field(default_factory=list)  # (id, why)
    kept: list[str] = field(default_factory=list)  # only in the target; left as they are
    to_write: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def nothing_to_do(self) -> bool:
        return not self.to_write

    def counts(self) -> dict[str, int]:
        return {
            "new": len(self.new),
            "changed": len(self.changed),
            "unchanged": len(self.unchanged),
            "invalid": len(self.invalid),
            "kept": len(self.kept),
        }

    def summary_lines(self, show_ids: int = 5) -> list[str]:
        """The plan in words, as the CLI prints it and the confirmation shows it."""

        def first(ids: list[str]) -> str:
            if not ids:
                return ""
            shown = ", ".join(ids[:show_ids])
            more = f", +{len(ids) - show_ids} more" if len(ids) > show_ids else ""
            return f" ({shown}{more})"

        return [
            f"{len(self.new)} new{first(self.new)}",
            f"{len(self.changed)} changed, will be overwritten{first(self.changed)}",
            f"{len(self.unchanged)} unchanged, not rewritten",
            f"{len(self.kept)} only in the target, kept{first(self.kept)}",
            f"{len(self.invalid)} invalid, skipped{first([i for i, _ in self.invalid])}",
        ]


@dataclass(frozen=True)
class Result:
    written: int
    plan: Plan


def same_json(a: Any, b: Any) -> bool:
    """Whether two stored values are the same JSON. Unlike ``==``, ``1``, ``1.0`` and
    ``true`` differ (as do ``0.0`` and ``-0.0``); the order of keys does not matter."""
    if a != b:
        return False
    try:
        return orjson.dumps(a, option=orjson.OPT_SORT_KEYS) == orjson.dumps(
            b, option=orjson.OPT_SORT_KEYS
        )
    except TypeError:  # past 64 bits, or nested deeper than orjson goes
        pass
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if type(x) is not type(y):
            return False
        if isinstance(x, dict):
            if x.keys() != y.keys():
                return False
            stack.extend((value, y[key]) for key, value in x.items())
        elif isinstance(x, list):
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y, strict=True))
        elif isinstance(x, float):
            if x != y or math.copysign(1.0, x) != math.copysign(1.0, y):
                return False
        elif x != y:
            return False
    return True


async def _target_raws(target: Store[Any]) -> dict[str, Any]:
    # Only compared, never shown: no need to validate the target's records.
    return {record_id: raw async for record_id, raw in target.iter_raw()}


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Bulk work makes ~10 objects a record that all stay alive until it ends; the cyclic
    garbage collector would rescan them over and over (a third of an import's time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


async def make_plan(source: Store[Any], target: Store[Any]) -> Plan:
    """Compare every source record with the target. Reads only; writes nothing."""
    with _collector_paused():
        return await _make_plan(source, target)


async def _make_plan(source: Store[Any], target: Store[Any]) -> Plan:
    existing = await _target_raws(target)
    plan = Plan(source.label, target.label)
    seen: set[str] = set()
    async for entry in source.iter_all():
        seen.add(entry.id)
        if not entry.valid:
            plan.invalid.append((entry.id, entry.error or "invalid"))
            continue
        if entry.id not in existing:
            plan.new.append(entry.id)
        elif same_json(existing[entry.id], entry.raw):
            plan.unchanged.append(entry.id)
            continue
        else:
            plan.changed.append(entry.id)
        plan.to_write.append(entry.raw)
    plan.kept = [record_id for record_id in existing if record_id not in seen]
    return plan


async def apply(plan: Plan, target: Store[Any], progress: Progress | None = None) -> Result:
    """Write the plan's new and changed records into ``target``, all or nothing."""
    if plan.nothing_to_do:
        return Result(0, plan)
    with _collector_paused():
        written = await target.put_raw_many(plan.to_write, progress)
    return Result(written, plan)
