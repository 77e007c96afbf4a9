"""Realistic example items, made fast and deterministically, for benchmarks and tests.

``generate_raw_records(count, seed, start)`` yields raw ``ExampleItem`` dicts (the stored
layout: ids, timestamps as ISO 8601 text), record ``i`` always the same for a given seed,
however the range is cut into calls. ``fill_stores`` writes them into a data dir through
the stores' bulk path (one atomic JSON write, one SQLite transaction).

No Textual here: this is part of the headless data layer.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, overload

from tui.models import DEFAULT_COLLECTION, ExampleItem
from tui.stores.json_store import JsonStore
from tui.stores.sqlite_store import SqliteStore

Backend = Literal["sqlite", "json", "both"]

# Records are generated in chunks, each from its own RNG seeded by (seed, chunk): a range
# starting anywhere costs at most one partial chunk of skipped work.
_CHUNK = 1000

# -- ids: a bijection on 48 bits, so ids are unique for every index below 2**48 ---------

_MASK48 = (1 << 48) - 1
_MUL1 = 0x9E3779B97F4B & _MASK48 | 1  # odd multipliers are invertible modulo 2**48
_MUL2 = 0xBF58476D1CE5 & _MASK48 | 1


def _seed_offset(seed: int) -> int:
    return random.Random(f"tui-ids-{seed}").getrandbits(48)


def _mix48(x: int) -> int:
    x ^= x >> 24
    x = (x * _MUL1) & _MASK48
    x ^= x >> 21
    x = (x * _MUL2) & _MASK48
    x ^= x >> 24
    return x


def record_id(index: int, seed: int = 0) -> str:
    """The id of record ``index`` for ``seed``: 12 lowercase hex characters."""
    return format(_mix48((index + _seed_offset(seed)) & _MASK48), "012x")


# -- vocabulary ----------------------------------------------------------------------

_ADJECTIVES = (
    "Ancient", "Brisk", "Candid", "Dusty", "Eager", "Fuzzy", "Gentle", "Hollow", "Icy",
    "Jolly", "Keen", "Lucky", "Mellow", "Nimble", "Odd", "Plain", "Quiet", "Rapid",
    "Silent", "Tidy", "Urgent", "Vivid", "Witty", "Young", "Zesty", "Amber", "Cobalt",
    "Crimson", "Golden", "Silver", "Naïve", "Über", "Blessé", "Señorial", "Groß",
)  # fmt: skip
_NOUNS = (
    "Falcon", "Harbor", "Lantern", "Meadow", "Nebula", "Orchard", "Pebble", "Quartz",
    "Ribbon", "Summit", "Thistle", "Utensil", "Voyage", "Willow", "Yarrow", "Zephyr",
    "Invoice", "Report", "Widget", "Gadget", "Ticket", "Sprint", "Backlog", "Release",
    "Café", "Crème brûlée", "Fjörd", "Smørrebrød", "Jalapeño", "Façade", "Ångström",
    "東京", "データ", "서울", "Москва", "Αθήνα", "مكتبة", "北京烤鸭",
)  # fmt: skip
_SUFFIXES = (
    "", "", "", "", "", "", " v2", " (draft)", " #7", " 🚀", " ✅", " ☕", " — final",
    " [beta]", " 2.0", " ★",
)  # fmt: skip
_WORDS = (
    "the", "a", "of", "and", "to", "in", "for", "with", "on", "by", "from", "data",
    "record", "value", "user", "order", "shipment", "batch", "queue", "archive", "cache",
    "request", "review", "pending", "approved", "customer", "invoice", "team", "quarterly",
    "migrate", "export", "import", "check", "update", "sync", "legacy", "schema", "field",
    "note", "later", "ASAP", "café", "résumé", "naïve", "日本語", "テスト", "数据",
    "👍", "🔥", "ünïcödé", "emoji", "multi-line", "JSON", "SQLite",
)  # fmt: skip
_TAGS = (
    "urgent", "backlog", "frontend", "backend", "bug", "feature", "docs", "ops", "qa",
    "design", "research", "billing", "infra", "v1", "v2", "later", "wontfix", "priorité",
    "重要", "🔖",
)  # fmt: skip
_ODD_DESCRIPTIONS = (
    "[bold]not markup[/bold] and [@click=app.quit]x[/]",
    "Line one\nLine two\n\tindented",
    "Quotes \"double\" and 'single' and back\\slash",
    "   leading and trailing spaces   ",
)

# Timestamps between 2019-01-01 and 2026-12-01, in microseconds.
_EPOCH = datetime(2019, 1, 1)
_SPAN_US = int((datetime(2026, 12, 1) - _EPOCH).total_seconds()) * 1_000_000
_YEAR_US = 365 * 24 * 3600 * 1_000_000


def _timestamp(us: int) -> str:
    """ISO 8601 UTC with Z and microseconds, as the stores write it."""
    return (_EPOCH + timedelta(microseconds=us)).isoformat(timespec="microseconds") + "Z"


def _sentence(rng: random.Random) -> str:
    text = " ".join(rng.choices(_WORDS, k=rng.randint(3, 12)))
    return text[0].upper() + text[1:] + rng.choice((".", ".", ".", "!", "?", "..."))


# Descriptions are made of sentences from a fixed pool: varied text, cheap to assemble.
_POOL_RNG = random.Random("tui-pool")
_SENTENCES = tuple(_sentence(_POOL_RNG) for _ in range(512))
_TAG_SETS = tuple(
    tuple(_POOL_RNG.sample(_TAGS, _POOL_RNG.choice((0, 1, 1, 2, 2, 3, 4)))) for _ in range(1024)
)
del _POOL_RNG


def _description(rand: Callable[[], float]) -> str:
    roll = rand()
    if roll < 0.15:
        return ""
    if roll < 0.17:
        return _ODD_DESCRIPTIONS[int(rand() * len(_ODD_DESCRIPTIONS))]
    if roll < 0.72:
        n = 1  # a phrase
    elif roll < 0.97:
        n = 2 + int(rand() * 5)  # a few sentences
    else:
        n = 10 + int(rand() * 30)  # a long note
    pool = _SENTENCES
    size = len(pool)
    return " ".join([pool[int(rand() * size)] for _ in range(n)])


def _make_record(rng: random.Random, index: int, offset: int) -> dict[str, Any]:
    rand = rng.random
    created = int(rand() * _SPAN_US)
    # A third never edited; the rest edited up to a year later (never past the span).
    edited = 0 if rand() < 0.3 else int(rand() * min(_YEAR_US, _SPAN_US - created))
    updated = created + edited
    name = (
        _ADJECTIVES[int(rand() * len(_ADJECTIVES))]
        + " "
        + _NOUNS[int(rand() * len(_NOUNS))]
        + _SUFFIXES[int(rand() * len(_SUFFIXES))]
    )
    if rand() < 0.2:
        name = f"{name} {1 + int(rand() * 9999)}"
    return {
        "id": format(_mix48((index + offset) & _MASK48), "012x"),
        "schema_version": 1,
        "created_at": _timestamp(created),
        "updated_at": _timestamp(updated),
        "name": name,
        "description": _description(rand),
        "tags": list(_TAG_SETS[int(rand() * len(_TAG_SETS))]),
    }


def generate_raw_records(count: int, seed: int = 0, start: int = 0) -> Iterator[dict[str, Any]]:
    """Yield records ``start`` to ``start + count - 1`` for ``seed`` as raw dicts.

    Deterministic: record ``i`` is the same whichever range it is generated in. Ids are
    unique within a seed.
    """
    if count < 0 or start < 0:
        raise ValueError("count and start must not be negative")
    offset = _seed_offset(seed)
    end = start + count
    index = start
    while index < end:
        chunk = index // _CHUNK
        rng = random.Random(f"tui-records-{seed}-{chunk}")
        first = chunk * _CHUNK
        for skipped in range(first, index):
            _make_record(rng, skipped, offset)  # advance the RNG to where the range starts
        for i in range(index, min(first + _CHUNK, end)):
            yield _make_record(rng, i, offset)
        index = min(first + _CHUNK, end)


class GeneratedRecords(Sequence[dict[str, Any]]):
    """``count`` generated records as a lazy sequence: slices are made on demand, so a
    bulk write that takes them a batch at a time never holds them all."""

    def __init__(self, count: int, seed: int = 0) -> None:
        self._count = count
        self._seed = seed

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return generate_raw_records(self._count, self._seed)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            first, stop, step = index.indices(self._count)
            if step != 1:
                return [self[i] for i in range(first, stop, step)]
            return list(generate_raw_records(max(0, stop - first), self._seed, first))
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError(index)
        return next(generate_raw_records(1, self._seed, index))


async def fill_stores(
    data_dir: Path | str, count: int, backend: Backend = "both", seed: int = 0
) -> int:
    """Add ``count`` generated records to the data dir's stores; returns ``count``.

    JSON: one atomic write of the whole file. SQLite: one transaction, fed a batch at a
    time from a lazy sequence, so memory stays flat however many records are made.
    Existing records with other ids are kept; the same id is overwritten.
    """
    if backend not in ("sqlite", "json", "both"):
        raise ValueError(f"unknown backend {backend!r}: choose sqlite, json or both")
    data_dir = Path(data_dir)
    if backend in ("sqlite", "both"):
        async with SqliteStore.in_data_dir(data_dir, DEFAULT_COLLECTION, ExampleItem) as db:
            await db.put_raw_many(GeneratedRecords(count, seed))
    if backend in ("json", "both"):
        async with JsonStore.in_data_dir(data_dir, DEFAULT_COLLECTION, ExampleItem) as js:
            await js.put_raw_many(list(generate_raw_records(count, seed)))
    return count


__all__ = ["GeneratedRecords", "fill_stores", "generate_raw_records", "record_id"]
