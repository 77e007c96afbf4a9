"""Files and folders (issue 5, item 6): modes kept, new ones private, symlinks followed
(never replaced by a plain file), collection names that are not paths.

* The data folder, the JSON file and the database keep their permission bits across
  every kind of write; new folders are 0700 and new files 0600 whatever the umask (the
  JSON file, its lock file, the database and SQLite's -wal/-shm files), from the stores
  and from the CLI.
* A JSON store path that is a symlink is followed: the target is replaced (temp file in
  the target's folder), the link stays a link; a link that cannot be followed (a loop, a
  folder, a missing folder) is a clear error and is left as it is.
* Collection names with path separators, ``..`` or anything but letters, digits and _
  are refused by the stores and by the config.

We run as root here, so permission-denied cases cannot be made with chmod: those tests
skip (with the reason) when uid == 0.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from collections.abc import Awaitable, Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import cli, ok
from tests.records import raw_record
from tests.reliability.budget import Figures
from tui import config
from tui.models import ExampleItem
from tui.stores import JsonStore, SqliteStore, StoreError, jsoncodec, jsonio
from tui.stores.base import check_collection_name

COMMAND = "TUI_RELIABILITY=long .venv/bin/pytest tests/reliability/test_rel_files.py"
MODES = "JSON/SQLite modes kept, new files private"
LINKS = "JSON symlinks followed, never replaced"
NAMES = "bad collection names refused"
ROOT = os.geteuid() == 0


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def rid(n: int) -> str:
    return f"{n:012x}"


@pytest.fixture(params=[0o022, 0o000], ids=["umask-022", "umask-000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _names(path: Path) -> dict[str, str]:
    return {k: v["name"] for k, v in json.loads(path.read_bytes()).items()}


def _temp_files(*folders: Path) -> list[Path]:
    return [p for f in folders for p in f.iterdir() if p.name.startswith(jsonio.TEMP_PREFIX)]


# Every kind of JSON write, each with the names it leaves (from those before it).
Write = tuple[str, Callable[[JsonStore[ExampleItem]], Awaitable[object]], Callable[..., Any]]
WRITES: list[Write] = [
    (
        "splice upsert",
        lambda s: s.upsert(ExampleItem(id=rid(2), name="edited")),
        lambda n: n | {rid(2): "edited"},
    ),
    (
        "splice delete",
        lambda s: s.delete(rid(3)),
        lambda n: {k: v for k, v in n.items() if k != rid(3)},
    ),
    (
        "append",
        lambda s: s.upsert(ExampleItem(id=rid(50), name="appended")),
        lambda n: n | {rid(50): "appended"},
    ),
    (
        "put_raw_many",
        lambda s: s.put_raw_many([raw_record(rid(1), "imported"), raw_record(rid(60), "new")]),
        lambda n: n | {rid(1): "imported", rid(60): "new"},
    ),
]


def _seed_json(path: Path, layout: str = "ours") -> dict[str, str]:
    records = {rid(n): raw_record(rid(n), f"record {n}") for n in range(1, 6)}
    if layout == "ours":
        path.write_bytes(jsoncodec.serialize(records))
    else:  # another tool's layout: the next write rewrites the whole file
        path.write_text(json.dumps(records, indent=4))
    return {k: v["name"] for k, v in records.items()}


async def _all_writes(store: JsonStore[ExampleItem], path: Path, names: dict[str, str]) -> None:
    """Every kind of write in turn, and a whole rewrite of a hand-edited file last."""
    for label, write, after in WRITES:
        await write(store)
        names = after(names)
        assert _names(path) == names, label
    # A hand edit (another layout) in place, then a write: the whole file is rewritten.
    target = path.resolve()
    records = json.loads(target.read_bytes())
    with open(target, "r+") as fh:  # in place: keeps the inode and the mode
        fh.truncate(0)
        fh.write(json.dumps(records, indent=4))
    await store.upsert(ExampleItem(id=rid(4), name="rewritten"))
    assert _names(path) == names | {rid(4): "rewritten"}


# -- modes ---------------------------------------------------------------------------


@pytest.mark.parametrize("file_mode", [0o600, 0o640, 0o644, 0o660])
async def test_json_writes_keep_the_file_and_folder_modes(
    tmp_path: Path, file_mode: int, figures: Figures
) -> None:
    figures.cases(MODES, command=COMMAND)
    data = tmp_path / "data"
    folder = data / "json"
    folder.mkdir(parents=True)
    path = folder / "example_items.json"
    names = _seed_json(path)
    path.chmod(file_mode)
    folder.chmod(0o750)
    data.chmod(0o711)
    async with JsonStore(path, ExampleItem) as store:
        await _all_writes(store, path, names)
    assert (mode(path), mode(folder), mode(data)) == (file_mode, 0o750, 0o711)
    assert not _temp_files(folder)


async def test_sqlite_writes_keep_the_database_mode(tmp_path: Path, figures: Figures) -> None:
    figures.cases(MODES, command=COMMAND)
    db = tmp_path / "data" / "db" / "myapp.db"
    async with SqliteStore(db, "example_items", ExampleItem) as store:
        await store.upsert(ExampleItem(id=rid(1), name="one"))
    db.chmod(0o640)
    db.parent.chmod(0o750)
    async with SqliteStore(db, "example_items", ExampleItem) as store:
        await store.upsert(ExampleItem(id=rid(2), name="two"))
        await store.put_raw_many([raw_record(rid(3), "three")])
        await store.delete(rid(1))
        # SQLite gives the -wal and -shm files the database's mode.
        for suffix in ("", "-wal", "-shm"):
            side = db.with_name(db.name + suffix)
            assert mode(side) == 0o640, suffix
    assert (mode(db), mode(db.parent)) == (0o640, 0o750)
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert {r[0] for r in conn.execute("SELECT id FROM example_items")} == {rid(2), rid(3)}


async def test_new_stores_are_private_to_the_user(
    tmp_path: Path, umask: int, figures: Figures
) -> None:
    figures.cases(MODES, command=COMMAND)
    json_data, sqlite_data = tmp_path / "j" / "data", tmp_path / "s" / "data"
    async with config.json_store(json_data) as js:
        await js.upsert(ExampleItem(id=rid(1), name="one"))
    path = json_data / "json" / "example_items.json"
    assert mode(path) == 0o600
    assert mode(jsonio.lock_path_for(path)) == 0o600
    assert (mode(json_data), mode(json_data / "json")) == (0o700, 0o700)
    async with config.sqlite_store(sqlite_data) as db:
        await db.upsert(ExampleItem(id=rid(1), name="one"))
        files = [sqlite_data / "db" / f"myapp.db{suffix}" for suffix in ("", "-wal", "-shm")]
        assert [mode(f) for f in files] == [0o600] * 3
    assert (mode(sqlite_data), mode(sqlite_data / "db")) == (0o700, 0o700)


def test_the_cli_creates_private_stores(tmp_path: Path, figures: Figures) -> None:
    figures.cases(MODES, command=COMMAND)
    data = tmp_path / "data"
    ok(cli(data, "add", "--name", "json one", "--backend", "json"))
    ok(cli(data, "add", "--name", "sqlite one"))
    assert mode(data) == 0o700
    assert (mode(data / "json"), mode(data / "json" / "example_items.json")) == (0o700, 0o600)
    assert (mode(data / "db"), mode(data / "db" / "myapp.db")) == (0o700, 0o600)


@pytest.mark.skipif(ROOT, reason="root ignores permission bits: cannot make EACCES by chmod")
async def test_a_folder_we_may_not_write_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "json"
    folder.mkdir()
    path = folder / "example_items.json"
    _seed_json(path)
    before = path.read_bytes()
    folder.chmod(0o500)
    try:
        async with JsonStore(path, ExampleItem) as store:
            with pytest.raises(StoreError, match="permission denied"):
                await store.upsert(ExampleItem(id=rid(9), name="nine"))
    finally:
        folder.chmod(0o700)
    assert path.read_bytes() == before


@pytest.mark.skipif(ROOT, reason="root ignores permission bits: cannot make EACCES by chmod")
async def test_a_file_we_may_not_read_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "example_items.json"
    _seed_json(path)
    before = path.read_bytes()
    path.chmod(0o200)
    try:
        async with JsonStore(path, ExampleItem) as store:
            assert store.load_error is not None
            with pytest.raises(StoreError, match="permission denied"):
                await store.upsert(ExampleItem(id=rid(9), name="nine"))
    finally:
        path.chmod(0o600)
    assert path.read_bytes() == before


# -- symlinks ------------------------------------------------------------------------


@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
async def test_a_symlinked_json_file_is_written_through(
    tmp_path: Path, relative: bool, figures: Figures
) -> None:
    figures.cases(LINKS, command=COMMAND)
    folder, elsewhere = tmp_path / "data" / "json", tmp_path / "elsewhere"
    folder.mkdir(parents=True)
    elsewhere.mkdir()
    target = elsewhere / "real.json"
    names = _seed_json(target)
    target.chmod(0o640)
    link = folder / "example_items.json"
    pointer = os.path.relpath(target, folder) if relative else str(target)
    link.symlink_to(pointer)
    # A crashed writer's temp file beside the target: cleaned on the next open.
    stale = elsewhere / f"{jsonio.TEMP_PREFIX}real.json.abc123"
    stale.write_bytes(b"{")
    async with JsonStore(link, ExampleItem) as store:
        assert not stale.exists()
        await _all_writes(store, link, names)
    assert link.is_symlink() and os.readlink(link) == pointer
    assert mode(target) == 0o640
    assert not _temp_files(folder, elsewhere)
    # The lock is the target's: a store on the link and one on the target share it.
    assert jsonio.lock_path_for(link) == jsonio.lock_path_for(target)


async def test_a_dangling_symlink_gets_its_target_created(tmp_path: Path, figures: Figures) -> None:
    figures.cases(LINKS, command=COMMAND)
    target = tmp_path / "elsewhere" / "real.json"
    target.parent.mkdir()
    link = tmp_path / "example_items.json"
    link.symlink_to(target)
    async with JsonStore(link, ExampleItem) as store:
        await store.upsert(ExampleItem(id=rid(1), name="one"))
    assert link.is_symlink() and _names(target) == {rid(1): "one"}
    assert mode(target) == 0o600


def _loop(tmp_path: Path) -> Path:
    link = tmp_path / "example_items.json"
    link.symlink_to(tmp_path / "other.json")
    (tmp_path / "other.json").symlink_to(link)
    return link


def _to_folder(tmp_path: Path) -> Path:
    (tmp_path / "a folder").mkdir()
    link = tmp_path / "example_items.json"
    link.symlink_to(tmp_path / "a folder")
    return link


def _into_missing_folder(tmp_path: Path) -> Path:
    link = tmp_path / "example_items.json"
    link.symlink_to(tmp_path / "no such folder" / "real.json")
    return link


@pytest.mark.parametrize("make", [_loop, _to_folder, _into_missing_folder])
async def test_a_symlink_that_cannot_be_followed_is_a_clear_error(
    tmp_path: Path, make: Callable[[Path], Path], figures: Figures
) -> None:
    figures.cases(LINKS, command=COMMAND)
    link = make(tmp_path)
    pointer = os.readlink(link)
    before = sorted(p.name for p in tmp_path.iterdir())
    async with JsonStore(link, ExampleItem) as store:
        with pytest.raises(StoreError) as caught:
            await store.upsert(ExampleItem(id=rid(1), name="one"))
    message = str(caught.value)
    assert "example_items.json" in message and "\n" not in message
    assert "Traceback" not in message
    assert link.is_symlink() and os.readlink(link) == pointer
    after = sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock"))
    assert after == before


# -- collection names ----------------------------------------------------------------

BAD_NAMES = [
    "../escape",
    "..",
    ".",
    "a/b",
    "/etc/passwd",
    "a\\b",
    "example_items\n",
    "",
    "a.b",
    "a\x00b",
    "sqlite_master",
    "1abc",
    "é",
    "a b",
    "x" * 64,
]


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_collection_names_that_are_not_plain_are_refused(
    tmp_path: Path, name: str, figures: Figures
) -> None:
    data = tmp_path / "data"
    attempts: list[Callable[[], object]] = [
        lambda: check_collection_name(name),
        lambda: JsonStore.in_data_dir(data, name, ExampleItem),
        lambda: SqliteStore.in_data_dir(data, name, ExampleItem),
        lambda: SqliteStore(data / "db.db", name, ExampleItem),
        lambda: config.json_store(data, name),
        lambda: config.sqlite_store(data, name),
        lambda: config.model_for(name),
    ]
    figures.cases(NAMES, len(attempts), COMMAND)
    for attempt in attempts:
        with pytest.raises(StoreError) as caught:
            attempt()
        assert "collection name" in str(caught.value)
    assert not data.exists()


def test_an_unknown_plain_collection_is_a_clear_error(tmp_path: Path, figures: Figures) -> None:
    figures.cases(NAMES, command=COMMAND)
    with pytest.raises(StoreError, match="unknown collection 'other'"):
        config.json_store(tmp_path, "other")
    assert config.model_for("example_items") is ExampleItem


async def test_a_database_folder_that_cannot_be_made_is_a_clear_error(
    tmp_path: Path, figures: Figures
) -> None:
    figures.cases(MODES, command=COMMAND)
    not_a_folder = tmp_path / "data"
    not_a_folder.write_bytes(b"a file\n")
    store = SqliteStore(not_a_folder / "db" / "myapp.db", "example_items", ExampleItem)
    with pytest.raises(StoreError) as caught:
        await store.open()
    assert str(not_a_folder) in str(caught.value) and "Error" not in str(caught.value)
    assert not_a_folder.read_bytes() == b"a file\n"
