"""Stores written by the persistence guide's template open here, and ours open there.

The fixtures are written the way the template writes them: its JSON store calls
``json.dump(data, fh, indent=2, default=str)`` then writes a newline (``ensure_ascii`` left
on, so non-ASCII text is escaped), with records from ``model_dump(mode="json")``; its SQLite
store makes the table below and saves ``model_dump_json()`` with ``CURRENT_TIMESTAMP``
columns. "Reading it there" is the template's own read path: ``json.loads`` and
``model_validate`` of a plain pydantic model with the guide's fields (extra fields ignored),
and ``SELECT data`` + ``model_validate_json``.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from tui import transfer
from tui.models import ExampleItem

if TYPE_CHECKING:
    from conftest import OpenStore


class GuideItem(BaseModel):
    """The guide's example record, as its template declares it (no extra="allow")."""

    id: str
    schema_version: int = 1
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    name: str = Field(..., min_length=1, max_length=200)
    description: str = ""
    tags: list[str] = Field(default_factory=list)


T1 = datetime(2026, 11, 29, 17, 55, 20, 845500, tzinfo=UTC)
T2 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)  # no microseconds: pydantic writes "...05Z"

GUIDE_ITEMS = [
    GuideItem(
        id="a1b2c3d4e5f6", name="Café ☕", tags=["naïve", "日本"], created_at=T1, updated_at=T1
    ),
    GuideItem(id="0123456789ab", name="plain", description="desc", created_at=T2, updated_at=T2),
    GuideItem(id="ffffffffffff", name='Quote " and \\ back', tags=[], created_at=T1, updated_at=T2),
]
OFFSET_RECORD = {  # "+00:00" timestamps, as other pydantic or datetime code writes them
    "id": "0ff5e7000000",
    "schema_version": 1,
    "created_at": "2026-11-29T17:55:20.845500+00:00",
    "updated_at": "2026-11-29T18:00:00+00:00",
    "name": "offset",
    "description": "",
    "tags": ["t"],
}


# -- the template's ways of writing and reading -----------------------------------------------


def guide_write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, default=str)
        fh.write("\n")


def guide_read_json(path: Path) -> list[GuideItem]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [GuideItem.model_validate(v) for v in data.values()]


def guide_connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path))
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(
        "CREATE TABLE IF NOT EXISTS [example_items] ("
        "  id TEXT PRIMARY KEY,"
        "  data TEXT NOT NULL,"
        "  created_at TEXT DEFAULT CURRENT_TIMESTAMP,"
        "  updated_at TEXT DEFAULT CURRENT_TIMESTAMP"
        ")"
    )
    return db


def guide_save_sqlite(path: Path, record_id: str, data_json: str) -> None:
    db = guide_connect(path)
    with db:
        db.execute(
            "INSERT INTO [example_items] (id, data, updated_at) "
            "VALUES (?, ?, CURRENT_TIMESTAMP) "
            "ON CONFLICT(id) DO UPDATE SET "
            "  data = excluded.data,"
            "  updated_at = CURRENT_TIMESTAMP",
            (record_id, data_json),
        )
    db.close()


def guide_read_sqlite(path: Path) -> dict[str, GuideItem]:
    db = guide_connect(path)
    rows = db.execute("SELECT data FROM [example_items]").fetchall()
    db.close()
    items = [GuideItem.model_validate_json(row[0]) for row in rows]
    return {item.id: item for item in items}


def sqlite_rows(path: Path) -> dict[str, tuple[str, str, str]]:
    db = sqlite3.connect(path)
    rows = db.execute("SELECT id, data, created_at, updated_at FROM example_items").fetchall()
    db.close()
    return {row[0]: (row[1], row[2], row[3]) for row in rows}


# -- fixtures as the template leaves them -----------------------------------------------------


def json_fixture(data_dir: Path) -> tuple[Path, dict[str, Any]]:
    path = data_dir / "json" / "example_items.json"
    data = {item.id: item.model_dump(mode="json") for item in GUIDE_ITEMS}
    data[OFFSET_RECORD["id"]] = dict(OFFSET_RECORD)
    guide_write_json(path, data)
    return path, data


NO_STAMPS_ID = "5ta3p5000000"


def sqlite_fixture(data_dir: Path) -> Path:
    path = data_dir / "db" / "myapp.db"
    for item in GUIDE_ITEMS:
        guide_save_sqlite(path, item.id, item.model_dump_json())
    guide_save_sqlite(path, OFFSET_RECORD["id"], json.dumps(OFFSET_RECORD))
    # A record whose data lacks the timestamps: they live in the columns only.
    bare = GuideItem(id=NO_STAMPS_ID, name="columns only")
    guide_save_sqlite(path, bare.id, bare.model_dump_json(exclude={"created_at", "updated_at"}))
    db = sqlite3.connect(path)
    with db:
        db.execute(
            "UPDATE example_items SET created_at = '2024-02-29 23:59:58',"
            " updated_at = '2024-03-01 00:00:01' WHERE id = ?",
            (NO_STAMPS_ID,),
        )
    db.close()
    return path


# -- JSON -------------------------------------------------------------------------------------


def test_guide_fixture_is_what_we_think(data_dir: Path) -> None:
    path, _ = json_fixture(data_dir)
    text = path.read_text("utf-8")
    assert "Caf\\u00e9 \\u2615" in text  # ensure_ascii escapes
    assert '"created_at": "2026-11-29T17:55:20.845500Z"' in text
    assert '"created_at": "2025-01-02T03:04:05Z"' in text
    assert text.endswith("}\n") and text.startswith('{\n  "a1b2c3d4e5f6": {\n    "id"')


async def test_guide_json_file_is_read(data_dir: Path, open_store: OpenStore) -> None:
    _, data = json_fixture(data_dir)
    store = await open_store("json")
    entries = {e.id: e async for e in store.iter_all()}
    assert list(entries) == list(data)  # file order
    for item in GUIDE_ITEMS:
        entry = entries[item.id]
        assert entry.valid and entry.record is not None, entry.error
        assert entry.record.name == item.name
        assert entry.record.tags == item.tags
        assert entry.record.created_at == item.created_at
        assert entry.record.updated_at == item.updated_at
        assert entry.raw == data[item.id]
    offset = entries[OFFSET_RECORD["id"]].record
    assert offset is not None and offset.created_at == T1
    assert offset.updated_at == datetime(2026, 11, 29, 18, 0, tzinfo=UTC)


async def test_guide_json_file_edited_here_reads_there(
    data_dir: Path, open_store: OpenStore
) -> None:
    path, data = json_fixture(data_dir)
    store = await open_store("json")
    edited = await store.get("a1b2c3d4e5f6")
    assert edited is not None and edited.record is not None
    await store.upsert(edited.record.model_copy(update={"name": "Café, edited", "tags": ["é"]}))
    await store.upsert(ExampleItem(id="abcdefabcdef", name="added here", custom={"x": 1}))
    assert await store.delete("0123456789ab") is True

    # The template reads it all with its own code.
    items = {item.id: item for item in guide_read_json(path)}
    assert set(items) == {"a1b2c3d4e5f6", "ffffffffffff", "0ff5e7000000", "abcdefabcdef"}
    assert items["a1b2c3d4e5f6"].name == "Café, edited"
    assert items["a1b2c3d4e5f6"].tags == ["é"]
    assert items["a1b2c3d4e5f6"].created_at == T1  # kept
    assert items["a1b2c3d4e5f6"].updated_at > T1  # refreshed
    assert items["abcdefabcdef"].name == "added here"
    # Records nobody touched are exactly as the template wrote them.
    again = json.loads(path.read_text("utf-8"))
    for key in ("ffffffffffff", "0ff5e7000000"):
        assert again[key] == data[key]
    assert again["abcdefabcdef"]["custom"] == {"x": 1}
    # ...and the file is now in our layout: unescaped UTF-8, 2-space indent, newline at end.
    text = path.read_text("utf-8")
    assert "Café, edited" in text and text.endswith("}\n")
    assert text == json.dumps(again, indent=2, ensure_ascii=False) + "\n"


async def test_json_store_made_here_reads_there(data_dir: Path, open_store: OpenStore) -> None:
    store = await open_store("json")
    await store.upsert_many(
        [ExampleItem(id="000000000001", name="ünï", tags=["a"]), ExampleItem(id="x2", name="b")]
    )
    items = {item.id: item for item in guide_read_json(store.path)}
    assert items["000000000001"].name == "ünï" and items["000000000001"].tags == ["a"]
    assert items["x2"].created_at.tzinfo is not None


# -- SQLite -----------------------------------------------------------------------------------


async def test_guide_sqlite_database_is_read(data_dir: Path, open_store: OpenStore) -> None:
    sqlite_fixture(data_dir)
    store = await open_store("sqlite")
    entries = {e.id: e async for e in store.iter_all()}
    assert set(entries) == {item.id for item in GUIDE_ITEMS} | {"0ff5e7000000", NO_STAMPS_ID}
    for item in GUIDE_ITEMS:
        entry = entries[item.id]
        assert entry.valid and entry.record is not None, entry.error
        assert entry.record.name == item.name
        assert entry.record.tags == item.tags
        assert entry.record.created_at == item.created_at
    offset = entries["0ff5e7000000"].record
    assert offset is not None and offset.created_at == T1
    bare = entries[NO_STAMPS_ID].record
    assert bare is not None, entries[NO_STAMPS_ID].error
    assert bare.created_at == datetime(2024, 2, 29, 23, 59, 58, tzinfo=UTC)
    assert bare.updated_at == datetime(2024, 3, 1, 0, 0, 1, tzinfo=UTC)
    # filled in from the columns, written the way the JSON layout writes timestamps
    assert entries[NO_STAMPS_ID].raw["created_at"] == "2024-02-29T23:59:58.000000Z"
    assert await store.count("columns only") == 1


async def test_guide_sqlite_database_edited_here_reads_there(
    data_dir: Path, open_store: OpenStore
) -> None:
    path = sqlite_fixture(data_dir)
    before = sqlite_rows(path)
    store = await open_store("sqlite")
    for record_id in ("a1b2c3d4e5f6", NO_STAMPS_ID):
        entry = await store.get(record_id)
        assert entry is not None and entry.record is not None
        await store.upsert(entry.record.model_copy(update={"name": f"edited {record_id}"}))
    await store.upsert(ExampleItem(id="abcdefabcdef", name="added here", custom=[1, 2]))
    assert await store.delete("0123456789ab") is True
    await store.close()

    items = guide_read_sqlite(path)
    assert set(items) == {
        "a1b2c3d4e5f6",
        "ffffffffffff",
        "0ff5e7000000",
        NO_STAMPS_ID,
        "abcdefabcdef",
    }
    assert items["a1b2c3d4e5f6"].name == "edited a1b2c3d4e5f6"
    assert items["a1b2c3d4e5f6"].created_at == T1
    assert items["a1b2c3d4e5f6"].updated_at > T1
    # the record whose timestamps were columns only keeps its creation time
    assert items[NO_STAMPS_ID].created_at == datetime(2024, 2, 29, 23, 59, 58, tzinfo=UTC)
    assert items["abcdefabcdef"].name == "added here"

    after = sqlite_rows(path)
    for untouched in ("ffffffffffff", "0ff5e7000000"):
        assert after[untouched] == before[untouched]  # row for row, text for text
    # our writes keep the created_at column and set updated_at
    assert after[NO_STAMPS_ID][1] == "2024-02-29 23:59:58"
    assert after[NO_STAMPS_ID][2] != before[NO_STAMPS_ID][2]
    assert json.loads(after["abcdefabcdef"][0])["custom"] == [1, 2]

    # The template saves over a record we wrote; we still read it.
    guide_save_sqlite(
        path,
        "abcdefabcdef",
        items["abcdefabcdef"].model_copy(update={"name": "by guide"}).model_dump_json(),
    )
    store = await open_store("sqlite")
    entry = await store.get("abcdefabcdef")
    assert entry is not None and entry.record is not None
    assert entry.record.name == "by guide"


async def test_guide_stores_transfer_both_ways(data_dir: Path, open_store: OpenStore) -> None:
    json_path, _ = json_fixture(data_dir)
    db_path = sqlite_fixture(data_dir)
    json_store = await open_store("json")
    sqlite_store = await open_store("sqlite")

    # Export: SQLite -> JSON. Same ids in both fixtures: the template's "+00:00" record is
    # the same content in both, the others differ only in how the timestamps are written.
    plan = await transfer.make_plan(sqlite_store, json_store)
    assert plan.invalid == []
    assert "0ff5e7000000" in plan.unchanged
    assert NO_STAMPS_ID in plan.new
    await transfer.apply(plan, json_store)
    exported = {item.id: item for item in guide_read_json(json_path)}
    # UTC with Z in the file: the template reads an aware time, not a naive one
    assert exported[NO_STAMPS_ID].created_at == datetime(2024, 2, 29, 23, 59, 58, tzinfo=UTC)
    assert json.loads(json_path.read_text("utf-8"))[NO_STAMPS_ID]["updated_at"] == (
        "2024-03-01T00:00:01.000000Z"
    )
    assert exported["a1b2c3d4e5f6"].name == "Café ☕"

    # Import back: nothing left to do.
    await json_store.reload()
    back = await transfer.make_plan(json_store, sqlite_store)
    assert back.nothing_to_do and back.invalid == []
    assert sorted(back.unchanged) == sorted(exported)
    assert set(guide_read_sqlite(db_path)) == set(exported)
