"""What a transfer plan will do, record by record: which records are new, which are
overwritten and how (field by field, the target's value beside the source's), which
stay only in the target, which are skipped as invalid and why.

The confirmation dialog and ``export/import --details`` show these lines. No Textual
here: every line is plain text (made printable by whoever draws it).
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from tui.stores.base import Store
from tui.transfer import Plan, same_json

Kind = Literal["new", "changed", "kept", "invalid", "field", "more"]

VALUE_WIDTH = 60
MAX_FIELDS = 40  # field lines of one record in a dialog
_YIELD_EVERY = 10_000
_LOOKUP_CHUNK = 500
_ABSENT = object()
_MARKS: dict[str, str] = {"new": "+", "changed": "~", "kept": "=", "invalid": "!"}


@dataclass(frozen=True)
class Line:
    """One line of the details: what kind of line it is (for its colour) and its text."""

    kind: Kind
    text: str


def short_json(value: Any, width: int = VALUE_WIDTH) -> str:
    """A value as compact JSON on one line, cut to ``width`` characters."""
    try:
        text = orjson.dumps(value).decode("utf-8")
    except TypeError:  # past 64 bits, or nested deeper than orjson goes
        text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def field_changes(before: dict[str, Any], after: dict[str, Any]) -> list[Line]:
    """The fields a write of ``after`` over ``before`` changes, in ``after``'s order and
    then the fields it drops (only in ``before``)."""
    lines: list[Line] = []
    for name, value in after.items():
        old = before.get(name, _ABSENT)
        if old is _ABSENT:
            lines.append(Line("field", f"    + {name}: {short_json(value)}"))
        elif not same_json(old, value):
            lines.append(Line("field", f"    {name}: {short_json(old)} → {short_json(value)}"))
    for name, old in before.items():
        if name not in after:
            lines.append(Line("field", f"    - {name}: {short_json(old)} (dropped)"))
    return lines


def _record_line(kind: Kind, record_id: str, raw: Any, note: str = "") -> Line:
    name = raw.get("name") if isinstance(raw, dict) else None
    shown = f"  {name}" if isinstance(name, str) and name else ""
    return Line(kind, f"{_MARKS[kind]} {kind:<8} {record_id}{shown}{note}")


async def _written(
    plan: Plan,
    target: Store[Any],
    wanted: set[str] | None = None,
    kind: Literal["new", "changed"] | None = None,
    max_fields: int | None = None,
) -> AsyncIterator[tuple[str, list[Line]]]:
    """(id, lines) of each record the plan writes (only those in ``wanted``, or of one
    ``kind``, if given), in the order the plan met them (the source's storage order).
    The target's values of changed records are looked up a few hundred at a time;
    reading the plan's records stops once every wanted one was met."""
    changed = set(plan.changed)
    left = len(wanted) if wanted is not None else -1
    chunk: list[dict[str, Any]] = []
    for n, raw in enumerate(plan.to_write):
        if left == 0:
            break
        if n % _YIELD_EVERY == _YIELD_EVERY - 1:
            await asyncio.sleep(0)  # a million records parse in about a second: let the UI run
        record_id = raw["id"]
        if wanted is not None:
            if record_id not in wanted:
                continue
            left -= 1
        if kind is not None and (record_id in changed) != (kind == "changed"):
            continue
        chunk.append(raw)
        if len(chunk) == _LOOKUP_CHUNK:
            for item in await _lines_of(chunk, changed, target, max_fields):
                yield item
            chunk = []
    for item in await _lines_of(chunk, changed, target, max_fields):
        yield item


async def _lines_of(
    raws: list[dict[str, Any]], changed: set[str], target: Store[Any], max_fields: int | None
) -> list[tuple[str, list[Line]]]:
    overwritten = [raw["id"] for raw in raws if raw["id"] in changed]
    before_of = await target.get_raws(overwritten) if overwritten else {}
    out: list[tuple[str, list[Line]]] = []
    for raw in raws:
        record_id = raw["id"]
        if record_id not in changed:
            out.append((record_id, [_record_line("new", record_id, raw)]))
            continue
        lines = [_record_line("changed", record_id, raw, "  (overwritten)")]
        before = before_of.get(record_id)
        if isinstance(before, dict):
            fields = field_changes(before, raw)
            if max_fields is not None and len(fields) > max_fields:
                hidden = len(fields) - max_fields
                fields = [*fields[:max_fields], Line("more", f"    … and {hidden:,} more fields")]
            lines += fields
        elif before is not None:
            lines.append(Line("field", f"    the target holds {short_json(before)}"))
        out.append((record_id, lines))
    return out


def _kept_line(record_id: str) -> Line:
    return Line("kept", f"= kept     {record_id}  (only in the target, left as it is)")


def _invalid_line(record_id: str, why: str) -> Line:
    return Line("invalid", f"! invalid  {record_id}  skipped: {why}")


def _more(count: int, what: str) -> list[Line]:
    return [Line("more", f"  … and {count:,} more {what}")] if count > 0 else []


async def describe(plan: Plan, target: Store[Any], limit: int) -> list[Line]:
    """The plan's lines for a dialog: the first ``limit`` records by id of each kind
    (changed, new, kept, invalid), then how many more there are. Changed records come
    with their field changes, read from ``target``."""
    first_changed = heapq.nsmallest(limit, plan.changed)
    first_new = heapq.nsmallest(limit, plan.new)
    found: dict[str, list[Line]] = {}
    wanted = {*first_changed, *first_new}
    async for record_id, lines in _written(plan, target, wanted, max_fields=MAX_FIELDS):
        found[record_id] = lines
    out: list[Line] = []
    # Overwrites first: they are what a confirmation is most about.
    for first, total, what in (
        (first_changed, len(plan.changed), "changed"),
        (first_new, len(plan.new), "new"),
    ):
        for record_id in first:
            out += found[record_id]
        out += _more(total - len(first), f"{what} record(s)")
    out += [_kept_line(i) for i in heapq.nsmallest(limit, plan.kept)]
    out += _more(len(plan.kept) - limit, "record(s) only in the target")
    out += [_invalid_line(i, why) for i, why in heapq.nsmallest(limit, plan.invalid)]
    out += _more(len(plan.invalid) - limit, "invalid record(s)")
    return out


async def iter_lines(plan: Plan, target: Store[Any]) -> AsyncIterator[Line]:
    """Every line of the plan, as they come (the CLI prints a million records' lines
    without holding them): overwritten records first, then new, kept and invalid ones,
    each kind in the order the plan met them."""
    for kind in ("changed", "new"):
        async for _, lines in _written(plan, target, kind=kind):
            for line in lines:
                yield line
    for record_id in plan.kept:
        yield _kept_line(record_id)
    for record_id, why in plan.invalid:
        yield _invalid_line(record_id, why)
