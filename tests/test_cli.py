"""The command line end to end: ``python -m tui`` in subprocesses on a temp data dir.

The contract (DESIGN.md, "Interaction contract"): stdout carries data, stderr messages;
a failure is one line on stderr starting with ``error:`` and a non-zero exit, never a
traceback. Stores are built and inspected by hand (json, sqlite3), not through ``tui``.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import (
    clean_env,
    cli,
    cli_many,
    counts,
    db_path,
    error,
    file_state,
    item,
    json_path,
    ok,
    plan_counts,
    read_json_file,
    read_sqlite,
    write_json_file,
    write_sqlite,
)

from tui import sample

BACKENDS = ("sqlite", "json")
HEADER = ["ID", "NAME", "TAGS", "UPDATED"]
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def table_rows(text: str) -> list[list[str]]:
    """The table's rows (header first), split on runs of 2+ spaces."""
    return [re.split(r" {2,}", line.strip()) for line in text.splitlines()]


def stored(data_dir: Path, backend: str) -> dict[str, Any]:
    """What the store holds, read without tui."""
    if backend == "json":
        path = json_path(data_dir)
        return read_json_file(path) if path.exists() else {}
    return read_sqlite(db_path(data_dir)) if db_path(data_dir).exists() else {}


def build(data_dir: Path, backend: str, records: list[dict[str, Any]]) -> None:
    if backend == "json":
        write_json_file(json_path(data_dir), records)
    else:
        write_sqlite(db_path(data_dir), records)


# -- list --------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_list_on_empty_store(tmp_path: Path, backend: str) -> None:
    d = tmp_path / "data"
    table, as_json = cli_many(
        d,
        [["list", "--backend", backend], ["list", "--backend", backend, "--format", "json"]],
    )
    assert table_rows(ok(table).out) == [HEADER]
    assert "0 record(s)" in table.err
    assert ok(as_json).json() == []
    if backend == "json":
        assert not json_path(d).exists(), "reading an absent JSON store created it"


@pytest.mark.parametrize("backend", BACKENDS)
def test_list_after_adds_table_json_filter_sort(tmp_path: Path, backend: str) -> None:
    d = tmp_path / "data"
    other = "json" if backend == "sqlite" else "sqlite"
    ids = {}
    for name, tags in (("banana", ["fruit", "yellow"]), ("apple", ["fruit"]), ("cherry", ["Veg"])):
        tag_args = [a for t in tags for a in ("--tag", t)]
        ids[name] = ok(cli(d, "add", "--name", name, *tag_args, "--backend", backend)).out.strip()
    table, as_json, app, veg, by_name, by_name_desc, none, other_side = cli_many(
        d,
        [
            ["list", "--backend", backend],
            ["list", "--backend", backend, "--format", "json"],
            ["list", "--backend", backend, "--format", "json", "--filter", "APP"],
            ["list", "--backend", backend, "--format", "json", "--filter", "veg"],
            ["list", "--backend", backend, "--format", "json", "--sort", "name"],
            ["list", "--backend", backend, "--format", "json", "--sort", "name", "--desc"],
            ["list", "--backend", backend, "--filter", "no such thing"],
            ["list", "--backend", other, "--format", "json"],
        ],
    )
    rows = table_rows(ok(table).out)
    assert rows[0] == HEADER
    assert sorted(r[:2] for r in rows[1:]) == sorted([i, n] for n, i in ids.items())
    assert [ids["banana"], "banana", "fruit, yellow"] in [r[:3] for r in rows[1:]]
    assert "3 record(s)" in table.err

    records = ok(as_json).json()
    assert isinstance(records, list)
    assert [r["id"] for r in records] == sorted(ids.values())  # default order: id
    assert {r["name"]: r["tags"] for r in records} == {
        "banana": ["fruit", "yellow"],
        "apple": ["fruit"],
        "cherry": ["Veg"],
    }
    assert [r["name"] for r in ok(app).json()] == ["apple"]  # case-insensitive
    assert [r["name"] for r in ok(veg).json()] == ["cherry"]  # matches a tag
    assert [r["name"] for r in ok(by_name).json()] == ["apple", "banana", "cherry"]
    assert [r["name"] for r in ok(by_name_desc).json()] == ["cherry", "banana", "apple"]
    assert table_rows(ok(none).out) == [HEADER]
    assert ok(other_side).json() == [], "an add landed in the other store"


# -- get / add ---------------------------------------------------------------------------


def test_get_found_and_unknown(tmp_path: Path) -> None:
    d = tmp_path / "data"
    record = item("abc123", "Lamp", description="warm", tags=["office"], extra={"n": [1, 2]})
    build(d, "sqlite", [record])
    build(d, "json", [item("onlyjson", "J")])
    found, unknown, unknown_json, weird = cli_many(
        d,
        [
            ["get", "abc123"],
            ["get", "nope"],
            ["get", "abc123", "--backend", "json"],
            ["get", "\x1b[2Jx\x9b1m"],
        ],
    )
    assert ok(found).json() == record  # unknown fields and timestamps as stored
    assert found.err == ""
    error(unknown, "nope")
    error(unknown_json, "abc123")  # the JSON store is another store
    line = error(weird)
    assert "\x9b" not in line
    assert "␛[2Jx" in line  # the id is shown, its control characters visible


def test_add_prints_the_id_and_refuses_duplicates(tmp_path: Path) -> None:
    d = tmp_path / "data"
    run = ok(cli(d, "add", "--name", "Desk", "--description", "oak", "--tag", "a", "--tag", "b"))
    assert re.fullmatch(r"[0-9a-f]{12}\n", run.out), run.out
    new_id = run.out.strip()
    assert "Desk" not in run.out
    record = stored(d, "sqlite")[new_id]
    assert record["name"] == "Desk"
    assert record["description"] == "oak"
    assert record["tags"] == ["a", "b"]
    assert record["schema_version"] == 1
    assert ISO_Z.match(record["created_at"]) and ISO_Z.match(record["updated_at"])

    assert ok(cli(d, "add", "--name", "Chair", "--id", "chair-1")).out == "chair-1\n"
    before = stored(d, "sqlite")
    error(cli(d, "add", "--name", "Other chair", "--id", "chair-1"), "chair-1", "exists")
    assert stored(d, "sqlite") == before, "a refused add changed the store"
    # The JSON store is separate: the same id is new there, and then a duplicate there.
    assert ok(cli(d, "add", "--name", "J", "--id", "chair-1", "--backend", "json")).out == (
        "chair-1\n"
    )
    error(cli(d, "add", "--name", "J2", "--id", "chair-1", "--backend", "json"), "exists")
    assert stored(d, "json")["chair-1"]["name"] == "J"
    assert stored(d, "sqlite")["chair-1"]["name"] == "Chair"


def test_add_validation_errors_name_the_field(tmp_path: Path) -> None:
    d = tmp_path / "data"
    empty, long, empty_id, longest = cli_many(
        d,
        [
            ["add", "--name", ""],
            ["add", "--name", "x" * 201],
            ["add", "--name", "ok", "--id", ""],
            ["add", "--name", "山" * 200, "--id", "longest", "--backend", "json"],
        ],
    )
    line = error(empty, "name")
    assert "required: cannot be empty" in line
    line = error(long, "name")
    assert "at most 200 characters" in line
    error(empty_id, "id")
    assert ok(longest).out == "longest\n"  # 200 characters (not bytes) is allowed
    assert stored(d, "json")["longest"]["name"] == "山" * 200
    assert stored(d, "sqlite") == {}, "a refused add wrote something"


def test_default_backend_is_sqlite_and_leaves_the_json_file_alone(tmp_path: Path) -> None:
    d = tmp_path / "data"
    first = ok(cli(d, "add", "--name", "to sqlite")).out.strip()
    assert set(stored(d, "sqlite")) == {first}
    assert not (d / "json").exists(), "an add to SQLite created the JSON store"

    in_json = ok(cli(d, "add", "--name", "to json", "--backend", "json")).out.strip()
    assert set(stored(d, "json")) == {in_json}
    assert set(stored(d, "sqlite")) == {first}
    before = file_state(json_path(d))
    time.sleep(0.05)  # so that a rewrite would show in mtime_ns too
    second = ok(cli(d, "add", "--name", "to sqlite again")).out.strip()
    assert file_state(json_path(d)) == before, "an add to SQLite touched the JSON file"
    assert set(stored(d, "sqlite")) == {first, second}


# -- edit / delete -----------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_edit_changes_only_given_fields(tmp_path: Path, backend: str) -> None:
    d = tmp_path / "data"
    original = item(
        "e1",
        "Old name",
        day=3,
        description="keep this",
        tags=["x", "y"],
        battery_mah=2000,
        nested={"a": [1, 2.5, None, True]},
    )
    neighbour = item("e2", "Neighbour", day=4)
    build(d, backend, [original, neighbour])

    run = ok(cli(d, "edit", "e1", "--name", "New name", "--backend", backend))
    assert run.out == ""
    after = stored(d, backend)
    edited = after["e1"]
    assert edited["name"] == "New name"
    for kept in ("description", "tags", "battery_mah", "nested", "created_at", "schema_version"):
        assert edited[kept] == original[kept], kept
    assert ISO_Z.match(edited["updated_at"]), edited["updated_at"]
    assert edited["updated_at"] > original["updated_at"]
    assert after["e2"] == neighbour

    ok(cli(d, "edit", "e1", "--tag", "new", "--tag", "tags", "--backend", backend))
    edited2 = stored(d, backend)["e1"]
    assert edited2["tags"] == ["new", "tags"]  # replaced, not appended
    assert edited2["name"] == "New name"
    assert edited2["battery_mah"] == 2000
    assert edited2["created_at"] == original["created_at"]

    before = stored(d, backend)
    nothing, unknown, bad_name = cli_many(
        d,
        [
            ["edit", "e1", "--backend", backend],
            ["edit", "nope", "--name", "x", "--backend", backend],
            ["edit", "e1", "--name", "", "--backend", backend],
        ],
    )
    error(nothing, "nothing to change")
    error(unknown, "nope")
    error(bad_name, "name", "required: cannot be empty")
    assert stored(d, backend) == before, "a refused edit changed the store"


@pytest.mark.parametrize("backend", BACKENDS)
def test_edit_of_a_record_whose_id_field_disagrees_with_its_key(
    tmp_path: Path, backend: str
) -> None:
    """Editing key k1 must change k1, never the record its stale id field names."""
    d = tmp_path / "data"
    precious = item("k2", "precious", description="keep me")
    stale = {**item("k1", "wrong id field"), "id": "k2"}
    if backend == "sqlite":
        write_sqlite(db_path(d), [("k1", json.dumps(stale)), ("k2", json.dumps(precious))])
    else:
        json_path(d).parent.mkdir(parents=True)
        json_path(d).write_text(json.dumps({"k1": stale, "k2": precious}, indent=2))
    ok(cli(d, "edit", "k1", "--name", "fixed", "--backend", backend))
    after = stored(d, backend)
    assert after["k2"] == precious, "the edit overwrote another record"
    assert after["k1"]["name"] == "fixed"
    assert after["k1"]["id"] == "k1"
    assert set(after) == {"k1", "k2"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_delete(tmp_path: Path, backend: str) -> None:
    d = tmp_path / "data"
    build(d, backend, [item("d1", "one"), item("d2", "two")])
    run = ok(cli(d, "delete", "d1", "--backend", backend))
    assert run.out == ""
    assert "d1" in run.err
    gone, again, other = cli_many(
        d,
        [
            ["get", "d1", "--backend", backend],
            ["delete", "d1", "--backend", backend],
            ["get", "d2", "--backend", backend],
        ],
    )
    error(gone, "d1")
    error(again, "d1")
    assert ok(other).json() == item("d2", "two")
    assert set(stored(d, backend)) == {"d2"}


# -- export / import ---------------------------------------------------------------------

A = item("aaaa", "same in both", day=1, extra=True)
B_SQLITE = item("bbbb", "changed in SQLite", day=2, tags=["new"])
B_JSON = item("bbbb", "old in JSON", day=2)
C = item("cccc", "only in SQLite", day=3, battery_mah=1200)
D = item("dddd", "only in JSON", day=4)
BAD_NAME = item("xxxx", "", day=5)
NOT_JSON = ("yyyy", "this is not JSON {")


def test_export_dry_run_writes_nothing(tmp_path: Path) -> None:
    d = tmp_path / "data"
    write_sqlite(db_path(d), [A, B_SQLITE])
    run = ok(cli(d, "export", "--dry-run"))
    assert plan_counts(run.out) == counts(new=2)
    assert "dry run" in run.err
    assert not json_path(d).exists(), "a dry run created the JSON file"

    write_json_file(json_path(d), [B_JSON, D])
    before = file_state(json_path(d))
    time.sleep(0.05)
    run = ok(cli(d, "export", "--dry-run"))
    assert plan_counts(run.out) == counts(new=1, changed=1, kept=1)
    assert file_state(json_path(d)) == before, "a dry run changed the JSON file"


def test_export_counts_apply_and_second_export(tmp_path: Path) -> None:
    d = tmp_path / "data"
    write_sqlite(db_path(d), [A, B_SQLITE, C, BAD_NAME, NOT_JSON])
    write_json_file(json_path(d), [A, B_JSON, D])

    # The invalid rows are listed and shown, not dropped.
    listing, as_json, bad = cli_many(d, [["list"], ["list", "--format", "json"], ["get", "yyyy"]])
    assert "5 record(s)" in ok(listing).err and "2 invalid" in listing.err
    assert "invalid" in {r[0]: r[1] for r in table_rows(listing.out)[1:]}["xxxx"]
    assert NOT_JSON[1] in ok(as_json).json()
    assert ok(bad).json() == NOT_JSON[1]
    assert bad.err.startswith("warning:")
    # Editing a row whose data is not an object would replace it with the given fields.
    error(cli(d, "edit", "yyyy", "--name", "x"), "yyyy", "not a JSON object")
    assert stored(d, "sqlite")["yyyy"] == NOT_JSON[1]

    run = ok(cli(d, "export"))
    assert plan_counts(run.out) == counts(new=1, changed=1, unchanged=1, kept=1, invalid=2)
    assert "cccc" in run.out and "bbbb" in run.out and "dddd" in run.out
    assert "wrote 2 record(s)" in run.err
    after = read_json_file(json_path(d))
    assert after == {"aaaa": A, "bbbb": B_SQLITE, "cccc": C, "dddd": D}  # copied exactly
    assert list(after) == ["aaaa", "bbbb", "dddd", "cccc"]  # file order kept, new at the end

    before = file_state(json_path(d))
    time.sleep(0.05)
    run = ok(cli(d, "export"))
    assert plan_counts(run.out) == counts(unchanged=3, kept=1, invalid=2)
    assert "nothing to copy" in run.err
    assert file_state(json_path(d)) == before, "an export with nothing to copy wrote"


def seeded(data_dir: Path) -> Path:
    assert asyncio.run(sample.seed_if_empty(data_dir))
    return data_dir


def test_import_default_from_the_json_store_into_sqlite(tmp_path: Path) -> None:
    d = seeded(tmp_path / "data")
    sqlite_before = stored(d, "sqlite")
    json_before = file_state(json_path(d))
    run = ok(cli(d, "import", "--dry-run"))
    assert plan_counts(run.out) == counts(new=8, changed=3, unchanged=1, kept=8)
    assert stored(d, "sqlite") == sqlite_before, "a dry run wrote to SQLite"

    run = ok(cli(d, "import"))
    assert plan_counts(run.out) == counts(new=8, changed=3, unchanged=1, kept=8)
    after = stored(d, "sqlite")
    json_records = read_json_file(json_path(d))
    assert len(after) == 20
    for record_id, record in json_records.items():  # exactly, unknown fields included
        assert after[record_id] == record
    assert after["718293a4b5c6"]["battery_mah"] == 2000
    for record_id in set(sqlite_before) - set(json_records):
        assert after[record_id] == sqlite_before[record_id]
    assert file_state(json_path(d)) == json_before, "import changed its source"

    run = ok(cli(d, "import"))
    assert plan_counts(run.out) == counts(unchanged=12, kept=8)
    assert "nothing to copy" in run.err


def test_import_into_the_json_store_from_another_file(tmp_path: Path) -> None:
    d = tmp_path / "data"
    write_json_file(json_path(d), [B_JSON, D])
    other = tmp_path / "other.json"
    write_json_file(other, [B_SQLITE, C])
    other_before = file_state(other)
    store_before = file_state(json_path(d))

    run = ok(cli(d, "import", "--target", "json", "--from", str(other), "--dry-run"))
    assert plan_counts(run.out) == counts(new=1, changed=1, kept=1)
    assert file_state(json_path(d)) == store_before

    run = ok(cli(d, "import", "--target", "json", "--from", str(other)))
    assert plan_counts(run.out) == counts(new=1, changed=1, kept=1)
    assert read_json_file(json_path(d)) == {"bbbb": B_SQLITE, "dddd": D, "cccc": C}
    assert file_state(other) == other_before, "import changed its source"
    assert not (d / "db").exists(), "an import into the JSON store touched SQLite"


def test_import_errors(tmp_path: Path) -> None:
    d = tmp_path / "data"
    write_json_file(json_path(d), [D])
    broken = tmp_path / "broken.json"
    broken.write_bytes(b'{\n  "a": {"id": "a", "name": "x"},\n  "b": [1,,2]\n}\n')
    broken_before = file_state(broken)
    missing, malformed, same, missing_dry = cli_many(
        d,
        [
            ["import", "--from", str(tmp_path / "missing.json")],
            ["import", "--from", str(broken)],
            ["import", "--target", "json", "--from", str(json_path(d))],
            ["import", "--from", str(tmp_path / "missing.json"), "--dry-run"],
        ],
    )
    error(missing, "missing.json")
    error(missing_dry, "missing.json")
    assert re.search(r"broken\.json:3:\d+: ", error(malformed))
    error(same, "same file")
    assert file_state(broken) == broken_before
    assert stored(d, "sqlite") == {}


# -- schema, data dir --------------------------------------------------------------------


def test_schema_is_a_json_schema_of_the_record(tmp_path: Path) -> None:
    schema = ok(cli(None, "schema", cwd=tmp_path)).json()
    assert schema["type"] == "object"
    props = schema["properties"]
    assert props["name"]["type"] == "string"
    assert props["name"]["minLength"] == 1 and props["name"]["maxLength"] == 200
    assert props["description"]["type"] == "string"
    assert props["tags"]["type"] == "array" and props["tags"]["items"]["type"] == "string"
    assert {"id", "name"} <= set(schema["required"])
    assert "description" not in schema["required"]
    json_types = {"object", "array", "string", "number", "integer", "boolean", "null"}
    for prop in props.values():
        types = [prop["type"]] if "type" in prop else [t["type"] for t in prop["anyOf"]]
        assert set(types) <= json_types, prop
    assert schema.get("additionalProperties", True) is not False  # unknown fields allowed
    assert not (tmp_path / "data").exists(), "schema created a data dir"


def test_data_dir_from_env_option_and_default(tmp_path: Path) -> None:
    env_dir, opt_dir = tmp_path / "from-env", tmp_path / "from-option"
    env = clean_env(TUI_DATA_DIR=str(env_dir))
    a = ok(cli(None, "add", "--name", "via env", env=env, cwd=tmp_path)).out.strip()
    assert set(stored(env_dir, "sqlite")) == {a}
    b = ok(cli(opt_dir, "add", "--name", "via option", env=env, cwd=tmp_path)).out.strip()
    assert set(stored(opt_dir, "sqlite")) == {b}
    assert set(stored(env_dir, "sqlite")) == {a}, "--data-dir did not override TUI_DATA_DIR"
    listed = ok(cli(None, "list", "--format", "json", env=env, cwd=tmp_path)).json()
    assert [r["id"] for r in listed] == [a]
    c = ok(cli(None, "add", "--name", "default", cwd=tmp_path)).out.strip()
    assert set(stored(tmp_path / "data", "sqlite")) == {c}  # ./data


def test_data_dir_that_is_a_file(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "data"
    not_a_dir.write_bytes(b"a file, not a folder\n")
    for run in cli_many(
        not_a_dir,
        [["list"], ["add", "--name", "x"], ["list", "--backend", "json"], ["export"]],
    ):
        error(run, str(not_a_dir))
    assert not_a_dir.read_bytes() == b"a file, not a folder\n"


# -- files the stores cannot use ---------------------------------------------------------


def test_malformed_json_store_is_reported_and_never_written(tmp_path: Path) -> None:
    d = tmp_path / "data"
    write_sqlite(db_path(d), [A, C])
    path = json_path(d)
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{\n  "ok": {"id": "ok", "name": "fine"},\n  "bad": {"id": "bad",, }\n}\n')
    before = file_state(path)
    good = tmp_path / "good.json"
    write_json_file(good, [D])
    runs = cli_many(
        d,
        [
            ["list", "--backend", "json"],
            ["get", "ok", "--backend", "json"],
            ["add", "--name", "x", "--backend", "json"],
            ["edit", "ok", "--name", "y", "--backend", "json"],
            ["delete", "ok", "--backend", "json"],
            ["export"],
            ["export", "--dry-run"],
            ["import"],
            ["import", "--target", "json", "--from", str(good)],
        ],
    )
    for run in runs:
        line = error(run)
        assert re.search(r"json/example_items\.json:3:\d+: ", line), line
    assert file_state(path) == before, "a file the store could not read was written"
    assert [r["id"] for r in ok(cli(d, "list", "--format", "json")).json()] == ["aaaa", "cccc"]


def test_file_that_is_not_a_database(tmp_path: Path) -> None:
    d = tmp_path / "data"
    path = db_path(d)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database, just some text\n" * 100)
    before = file_state(path)
    runs = cli_many(
        d,
        [
            ["list"],
            ["get", "x"],
            ["add", "--name", "x"],
            ["export"],
            ["import", "--dry-run"],
        ],
    )
    for run in runs:
        error(run, str(path), "not a SQLite database")
    assert file_state(path) == before, "the CLI wrote into a file that is not a database"
    assert not json_path(d).exists(), "a failed export created the JSON file"


def test_locked_database(tmp_path: Path) -> None:
    d = tmp_path / "data"
    write_sqlite(db_path(d), [A])
    ok(cli(d, "list"))  # the store switches the database to WAL, as it always runs
    holder = sqlite3.connect(db_path(d), isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")  # held for the whole CLI call (busy timeout: 5 s)
        started = time.monotonic()
        run = cli(d, "add", "--name", "blocked", "--id", "blocked")
        waited = time.monotonic() - started
    finally:
        holder.rollback()
        holder.close()
    error(run, "locked")
    assert waited >= 3, "gave up without waiting for the lock"
    assert set(stored(d, "sqlite")) == {"aaaa"}
    assert ok(cli(d, "add", "--name", "free now", "--id", "blocked")).out == "blocked\n"


# -- display safety ----------------------------------------------------------------------

NASTY_NAME = "\x1b[31mred\x1b[0m [@click=app.quit]x[/] \x9b2J \x07bell \u202eevil"
NASTY_TAG = "\x1b]0;title\x07"
NASTY_ID = "id\x1b[2J"


@pytest.mark.parametrize("backend", BACKENDS)
def test_control_characters_and_markup_are_shown_not_obeyed(tmp_path: Path, backend: str) -> None:
    d = tmp_path / "data"
    add = cli(
        d, "add", "--name", NASTY_NAME, "--tag", NASTY_TAG, "--id", NASTY_ID, "--backend", backend
    )
    assert ok(add).out_bytes == NASTY_ID.encode() + b"\n"  # stdout is data, exactly
    assert b"\x1b" not in add.err_bytes
    table, as_json, got = cli_many(
        d,
        [
            ["list", "--backend", backend],
            ["list", "--backend", backend, "--format", "json"],
            ["get", NASTY_ID, "--backend", backend],
        ],
    )
    out = ok(table).out
    for raw in ("\x1b", "\x9b", "\x07", "\u202e"):
        assert raw not in out, f"{raw!r} reached the terminal"
    assert b"\x1b" not in table.out_bytes
    assert "␛[31mred␛[0m [@click=app.quit]x[/] " in out  # markup printed literally
    assert "␛]0;title␇" in out
    assert "id␛[2J" in out

    for run in (ok(as_json), ok(got)):
        for raw in ("\x1b", "\x9b", "\x07", "\u202e"):
            assert raw not in run.out, f"{raw!r} reached the terminal"
    record = as_json.json()[0]
    assert record == got.json()
    assert record["name"] == NASTY_NAME  # the exact data, JSON-escaped
    assert record["tags"] == [NASTY_TAG]
    assert record["id"] == NASTY_ID


def test_error_lines_stay_one_line_whatever_the_path(tmp_path: Path) -> None:
    d = tmp_path / "odd\x1b[31m\nname"
    path = json_path(d)
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{"a": {"id": "a", "name": "x"},}')
    line = error(cli(d, "list", "--backend", "json"), "odd␛[31m↵name")
    assert re.search(r"example_items\.json:1:\d+: ", line), line


# -- usage errors ------------------------------------------------------------------------


def test_usage_errors_exit_2_without_a_traceback(tmp_path: Path) -> None:
    d = tmp_path / "data"
    bad_choice, missing_name, unknown = cli_many(
        d,
        [
            ["list", "--format", "xml"],
            ["add"],
            ["frobnicate"],
        ],
    )
    for run, says in ((bad_choice, "invalid choice"), (missing_name, "--name"), (unknown, "")):
        assert run.code == 2, str(run)
        assert run.out == ""
        assert "Traceback" not in run.err
        assert run.err.startswith("usage:"), str(run)
        assert "error:" in run.err.splitlines()[-1] and says in run.err
    assert not d.exists(), "a usage error touched the data dir"


def test_no_subcommand_off_a_terminal_fails_instead_of_starting_the_app(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tui", "--data-dir", str(tmp_path / "d")],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    assert done.stderr.strip().startswith("error:") and "terminal" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "d").exists()


@pytest.mark.parametrize("backend", ["json", "sqlite"])
@pytest.mark.parametrize("command", ["edit", "delete"])
def test_a_record_changed_while_the_command_ran_is_not_overwritten(
    tmp_path: Path,
    backend: str,
    command: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tui.cli import main
    from tui.stores import JsonStore, SqliteStore
    from tui.stores.base import ANY

    d = tmp_path / "data"
    build(d, backend, [item("e1", "Old name", day=3)])
    store_class: Any = JsonStore if backend == "json" else SqliteStore
    real_upsert, real_delete = store_class.upsert, store_class.delete

    async def outside_edit(self: Any) -> None:
        """Another writer, between the command's read and its write."""
        entry = await self.get("e1")
        await real_upsert(self, entry.record.model_copy(update={"name": "Outside"}))

    async def upsert(self: Any, record: Any, expect: object = ANY) -> Any:
        await outside_edit(self)
        return await real_upsert(self, record, expect=expect)

    async def delete(self: Any, record_id: str, expect: object = ANY) -> bool:
        await outside_edit(self)
        return bool(await real_delete(self, record_id, expect=expect))

    monkeypatch.setattr(store_class, "upsert", upsert)
    monkeypatch.setattr(store_class, "delete", delete)
    args = ["--name", "Mine"] if command == "edit" else []
    assert main(["--data-dir", str(d), command, "e1", *args, "--backend", backend]) == 1
    assert "changed by someone else" in capsys.readouterr().err
    monkeypatch.undo()
    assert stored(d, backend)["e1"]["name"] == "Outside"


@pytest.mark.parametrize("backend", ["json", "sqlite"])
def test_edit_with_an_empty_tag_clears_the_tags(tmp_path: Path, backend: str) -> None:
    d = tmp_path / "data"
    build(d, backend, [item("e1", "Tagged", day=3, tags=["x", "y"])])
    ok(cli(d, "edit", "e1", "--tag", "", "--backend", backend))
    assert stored(d, backend)["e1"]["tags"] == []
