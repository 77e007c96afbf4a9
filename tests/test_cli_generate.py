"""``python -m tui generate``: fills empty stores with generated items, run as a subprocess
and checked with sqlite3 and json (not through tui); refuses a store that has data."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from cli_helpers import cli, db_path, error, file_state, json_path, ok, write_json_file

from tui.generate import generate_raw_records

COUNT = 500


def sqlite_rows(data_dir: Path) -> dict[str, dict[str, object]]:
    db = sqlite3.connect(f"file:{db_path(data_dir)}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT id, data FROM example_items").fetchall()
    finally:
        db.close()
    return {record_id: json.loads(text) for record_id, text in rows}


def json_records(data_dir: Path) -> dict[str, dict[str, object]]:
    value = json.loads(json_path(data_dir).read_bytes())
    assert isinstance(value, dict)
    return value


def expected(count: int, seed: int = 0) -> dict[str, dict[str, object]]:
    return {raw["id"]: raw for raw in generate_raw_records(count, seed)}


def test_sqlite_by_default(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    run = ok(cli(data_dir, "generate", "--count", str(COUNT)))
    assert run.out == ""
    assert f"generated {COUNT} record(s) into SQLite" in run.err
    assert " s" in run.err.splitlines()[-1]  # how long it took
    assert sqlite_rows(data_dir) == expected(COUNT)
    assert not json_path(data_dir).exists()


def test_json_backend(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    run = ok(cli(data_dir, "generate", "--count", str(COUNT), "--backend", "json"))
    assert f"generated {COUNT} record(s) into JSON" in run.err
    assert json_records(data_dir) == expected(COUNT)
    assert not db_path(data_dir).exists()


def test_both_backends_with_a_seed(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    run = ok(cli(data_dir, "generate", "--count", str(COUNT), "--backend", "both", "--seed", "7"))
    lines = run.err.strip().splitlines()
    assert len(lines) == 2, run.err
    assert "SQLite" in lines[0] and "JSON" in lines[1]
    records = expected(COUNT, seed=7)
    assert records != expected(COUNT)
    assert sqlite_rows(data_dir) == records
    assert json_records(data_dir) == records


@pytest.mark.parametrize("backend", ["sqlite", "json", "both"])
def test_refuses_a_store_that_is_not_empty(tmp_path: Path, backend: str) -> None:
    data_dir = tmp_path / "data"
    ok(
        cli(
            data_dir,
            "generate",
            "--count",
            "10",
            "--backend",
            "json" if backend == "json" else "sqlite",
        )
    )
    before = (file_state(json_path(data_dir)), file_state(db_path(data_dir)))
    line = error(cli(data_dir, "generate", "--count", str(COUNT), "--backend", backend))
    assert "already exists and is not empty" in line
    assert "nothing was written" in line
    assert (file_state(json_path(data_dir)), file_state(db_path(data_dir))) == before


def test_both_refused_when_only_the_json_store_has_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    write_json_file(json_path(data_dir), [])  # "{}" is still a file with content
    before = file_state(json_path(data_dir))
    line = error(cli(data_dir, "generate", "--count", str(COUNT), "--backend", "both"))
    assert "JSON" in line
    assert file_state(json_path(data_dir)) == before
    assert not db_path(data_dir).exists()  # nothing written to the other store either


def test_an_empty_file_is_filled(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    json_path(data_dir).parent.mkdir(parents=True)
    json_path(data_dir).touch()
    ok(cli(data_dir, "generate", "--count", "20", "--backend", "json"))
    assert len(json_records(data_dir)) == 20


@pytest.mark.parametrize("count", ["0", "-5", "many"])
def test_a_bad_count_is_a_usage_error(tmp_path: Path, count: str) -> None:
    data_dir = tmp_path / "data"
    run = cli(data_dir, "generate", "--count", count)
    assert run.code == 2, str(run)
    assert "Traceback" not in run.err
    assert "--count" in run.err
    assert not data_dir.exists()
