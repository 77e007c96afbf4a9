"""Export and Import: copy records from one store to another, only as a confirmed plan says.

``make_plan(source, target)`` sorts every source record into new / changed / unchanged /
invalid and lists the target-only records that stay. ``apply(plan)`` writes new and
changed records exactly as they are in the source (ids, timestamps, unknown fields) in
one SQLite transaction or one atomic JSON write: all or nothing.

Both take a ``progress(done, total)`` callback and a :class:`CancelToken`. A cancelled
plan stops at its next batch; a cancelled apply stops at its next batch too and leaves
both stores exactly as they were (the SQLite transaction is rolled back, the JSON temp
file removed before it replaces anything), raising :class:`TransferCancelled`. Cancelling
the task that awaits them (``task.cancel()``) does the same, raising ``CancelledError``.
A cancel that comes after the commit (the COMMIT or the rename has begun) is too late:
the transfer then completes and reports what it wrote.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from tui.compact import CompactRecords, fingerprint
from tui.gcpause import collector_paused
from tui.stores.base import Store, StoreChanged, StoreError

Progress = Callable[[int, int], None]

# Records compared between two looks at the cancel token (and two progress reports, and
# two chances for the event loop to run the UI: a JSON store's reads never wait).
PLAN_BATCH = 2000


class TargetChanged(StoreError):
    """The target was written by someone else between the plan and its apply."""


_CHANGED = "{} changed since the plan was made; nothing was written, plan again"


class TransferCancelled(StoreError):
    """The transfer was cancelled before it wrote anything: both stores are unchanged."""


class CancelToken:
    """Asks a running plan or apply to stop. Thread-safe: a JSON write checks it from the
    worker thread that serializes the file."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise :class:`TransferCancelled` once :meth:`cancel` was called."""
        if self._event.is_set():
            raise TransferCancelled("cancelled; nothing was written")


@dataclass
class Plan:
    source_label: str
    target_label: str
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    invalid: list[tuple[str, str]] = field(default_factory=list)  # (id, why)
    kept: list[str] = field(default_factory=list)  # only in the target; left as they are
    # The records to write, as they are in the source; kept as compact JSON bytes and
    # parsed again as they are read (a million parsed dicts would be 3x the JSON file).
    to_write: CompactRecords = field(default_factory=CompactRecords, repr=False)
    target_version: object = None  # the target as compared; apply refuses if it moved on

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
            if not ids or show_ids <= 0:
                return ""
            shown = ", ".join(heapq.nsmallest(show_ids, ids))  # the first by id
            more = f", +{len(ids) - show_ids:,} more" if len(ids) > show_ids else ""
            return f" ({shown}{more})"

        return [
            f"{len(self.new):,} new{first(self.new)}",
            f"{len(self.changed):,} changed, will be overwritten{first(self.changed)}",
            f"{len(self.unchanged):,} unchanged, not rewritten",
            f"{len(self.kept):,} only in the target, kept{first(self.kept)}",
            f"{len(self.invalid):,} invalid, skipped{first([i for i, _ in self.invalid])}",
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


async def make_plan(
    source: Store[Any],
    target: Store[Any],
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> Plan:
    """Compare every source record with the target. Reads only; writes nothing.

    ``progress(done, total)`` counts records read: the target's, then the source's.
    Raises :class:`TransferCancelled` at the next batch once ``cancel`` is cancelled.
    """
    with collector_paused():
        return await _make_plan(source, target, progress, cancel)


def _for_compare(raw: Any) -> bytes | tuple[Any]:
    """What the plan keeps of a target record to compare a source record with."""
    digest = fingerprint(raw)
    return (raw,) if digest is None else digest


async def _make_plan(
    source: Store[Any], target: Store[Any], progress: Progress | None, cancel: CancelToken | None
) -> Plan:
    total = 0
    if progress is not None:
        total = await target.count() + await source.count()
    done = 0

    async def batch_done() -> None:
        if cancel is not None:
            cancel.check()
        if progress is not None:
            progress(done, max(total, done))
        await asyncio.sleep(0)  # let the UI run (and see a Cancel) between batches

    if cancel is not None:
        cancel.check()
    # Compare the files as they are now, not as last read (an editor saved a moment ago;
    # the panes look only once a second), and keep the version of the target's records
    # as read: a write after it makes apply refuse, even one before the records are read.
    await source.held_version()
    target_version = await target.held_version()
    # Only compared, never shown: no need to validate the target's records, nor to keep
    # them: a fingerprint (bytes) says whether a source record is the same; a value
    # orjson cannot write is kept as it is, in a 1-tuple, and compared with same_json.
    # Each is taken out as its source record is compared; what is left is only in the
    # target.
    existing: dict[str, bytes | tuple[Any]] = {}
    for_compare = _for_compare
    async for record_id, raw in target.iter_raw():
        existing[record_id] = for_compare(raw)
        done += 1
        if done % PLAN_BATCH == 0:
            await batch_done()
    plan = Plan(source.label, target.label, target_version=target_version)
    write = plan.to_write.appender()
    new, changed, unchanged = plan.new.append, plan.changed.append, plan.unchanged.append
    async for entry in source.iter_all():
        old = existing.pop(entry.id, None)
        done += 1
        if done % PLAN_BATCH == 0:
            await batch_done()
        if not entry.valid:
            plan.invalid.append((entry.id, entry.error or "invalid"))
            continue
        # A valid record's "id" field is its key: keep that string, not a second copy.
        raw = entry.raw
        record_id = raw["id"]
        if old is None:
            new(record_id)
        elif fingerprint(raw) == old if old.__class__ is bytes else same_json(old[0], raw):
            unchanged(record_id)
            continue
        else:
            changed(record_id)
        write(raw)
    plan.kept = list(existing)
    if progress is not None:
        progress(done, done)
    return plan


async def apply(
    plan: Plan,
    target: Store[Any],
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> Result:
    """Write the plan's new and changed records into ``target``, all or nothing.

    ``progress(done, total)`` counts records written, a batch at a time. Once ``cancel``
    is cancelled, the write is abandoned at its next batch (at the latest right before it
    commits) and :class:`TransferCancelled` raised: the target is exactly as it was.
    """
    if cancel is not None:
        cancel.check()
    if plan.nothing_to_do:
        return Result(0, plan)
    if await target.version() != plan.target_version:
        # Someone wrote to the target while the plan waited for its confirmation: what
        # was confirmed is no longer what would happen.
        raise TargetChanged(_CHANGED.format(target.label))
    check = cancel.check if cancel is not None else None
    try:
        with collector_paused():
            # Compared again where the write holds the target (a write landing between
            # the check above and the write's lock or transaction would slip through).
            written = await target.put_raw_many(plan.to_write, progress, check, plan.target_version)
    except StoreChanged:
        raise TargetChanged(_CHANGED.format(target.label)) from None
    return Result(written, plan)
