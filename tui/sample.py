"""The bundled sample data: a dozen records in each store, partly overlapping.

Written on the app's first run with an empty data dir, so the two panes differ and
Export/Import have real work: some ids are in both stores with different content, some
in one store only, one is identical in both, and one JSON record carries a field the
model does not know.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tui.config import json_store, sqlite_store


def _item(
    record_id: str, name: str, description: str, tags: list[str], day: int, **extra: Any
) -> dict[str, Any]:
    stamp = f"2026-11-{day:02d}T09:{day:02d}:00.000000Z"
    return {
        "id": record_id,
        "schema_version": 1,
        "created_at": stamp,
        "updated_at": stamp,
        "name": name,
        "description": description,
        "tags": tags,
        **extra,
    }


SHARED_SAME = _item("5a1e0c0ffee0", "Coffee grinder", "Burr grinder, 40 settings", ["kitchen"], 3)

JSON_RECORDS = [
    SHARED_SAME,
    _item("1b2c3d4e5f60", "Desk lamp", "Warm white, dimmable", ["office", "lighting"], 1),
    _item("2c3d4e5f6071", "Notebook", "A5 dotted, 120 pages", ["office"], 2),
    _item("3d4e5f607182", "Trail shoes", "Size 43, worn twice", ["outdoor", "sport"], 4),
    _item("4e5f60718293", "Tea kettle", "Edited in the JSON file by hand", ["kitchen"], 5),
    _item("5f60718293a4", "Umbrella", "", [], 6),
    _item("60718293a4b5", "Café au lait mug", "Porcelain, 300 ml", ["kitchen", "café"], 7),
    _item("718293a4b5c6", "Bike light", "USB-C, 400 lm", ["outdoor"], 8, battery_mah=2000),
    _item("8293a4b5c6d7", "Houseplant", "Monstera; water weekly", ["home"], 9),
    _item("93a4b5c6d7e8", "Headphones", "Closed-back", ["audio"], 10),
    _item("a4b5c6d7e8f9", "山の地図", "Hiking map, 1:25000", ["outdoor", "map"], 11),
    _item("b5c6d7e8f90a", "Spare keys", "Blue tag = cellar", ["home"], 12),
]

SQLITE_RECORDS = [
    SHARED_SAME,
    _item("1b2c3d4e5f60", "Desk lamp", "Warm white", ["office"], 1),
    _item("2c3d4e5f6071", "Notebook (A5)", "A5 dotted, 120 pages", ["office", "paper"], 2),
    _item("4e5f60718293", "Tea kettle", "1.7 l, stainless", ["kitchen"], 5),
    _item("c6d7e8f90a1b", "Router", "Wi-Fi 6, in the hall cupboard", ["network"], 13),
    _item("d7e8f90a1b2c", "Drill", "18 V, two batteries", ["tools"], 14),
    _item("e8f90a1b2c3d", "Tent", "2-person, 1.9 kg", ["outdoor", "camping"], 15),
    _item("f90a1b2c3d4e", "Sourdough starter", "Feed at 1:1:1", ["kitchen", "food"], 16),
    _item("0a1b2c3d4e5f", "Monitor", '27", USB-C', ["office", "display"], 17),
    _item("0b1c2d3e4f50", "Board game", "Ages 10+", ["games"], 18),
    _item("0c1d2e3f4051", "Sunscreen", "SPF 50 — check the date", ["outdoor"], 19),
    _item("0d1e2f305162", "Extension cord", "5 m", ["tools", "home"], 20),
]


async def seed_if_empty(data_dir: Path) -> bool:
    """Create both stores with sample records when neither exists yet. True if it did."""
    json_side, sqlite_side = json_store(data_dir), sqlite_store(data_dir)
    if json_side.path.exists() or sqlite_side.path.exists():
        return False
    async with json_side:
        await json_side.put_raw_many(JSON_RECORDS)
    async with sqlite_side:
        await sqlite_side.put_raw_many(SQLITE_RECORDS)
    return True
