"""Helpers for tests/test_cli.py: run ``python -m tui`` in a subprocess and build stores
by hand (without the code under test), so the CLI is checked from the outside."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TIMEOUT = 30  # seconds for one CLI call; a normal call takes a fraction of one

# The guide's table layout, as its template creates it.
GUIDE_TABLE = (
    "CREATE TABLE IF NOT EXISTS example_items ("
    " id TEXT PRIMARY KEY NOT NULL, data TEXT NOT NULL, created_at TEXT, updated_at TEXT)"
)


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    code: int
    out_bytes: bytes
    err_bytes: bytes

    @property
    def out(self) -> str:
        return self.out_bytes.decode("utf-8")

    @property
    def err(self) -> str:
        return self.err_bytes.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.out_bytes)

    def __str__(self) -> str:  # shown by pytest when an assertion about a run fails
        return f"python -m tui {' '.join(self.args)} -> {self.code}\n{self.out}\n{self.err}"


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without TUI_DATA_DIR, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "TUI_DATA_DIR"}
    env.update(extra)
    return env


def cli(
    data_dir: Path | None,
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Run:
    """``python -m tui [--data-dir DATA_DIR] ARGS`` with stdout and stderr kept apart."""
    argv = [sys.executable, "-m", "tui"]
    if data_dir is not None:
        argv += ["--data-dir", str(data_dir)]
    argv += list(args)
    proc = subprocess.run(
        argv,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=TIMEOUT,
        env=dict(env) if env is not None else clean_env(),
        cwd=cwd if cwd is not None else (data_dir.parent if data_dir is not None else None),
    )
    return Run(tuple(args), proc.returncode, proc.stdout, proc.stderr)


def cli_many(data_dir: Path, calls: Sequence[Sequence[str]]) -> list[Run]:
    """Several independent (read-only or refused) calls at once, results in order."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda args: cli(data_dir, *args), calls))


def ok(run: Run) -> Run:
    assert run.code == 0, str(run)
    assert "Traceback" not in run.err, str(run)
    return run


def error(run: Run, *says: str, stdout_empty: bool = True) -> str:
    """Assert the contract for a failure; return the one error line."""
    assert run.code != 0, str(run)
    assert "Traceback" not in run.err, str(run)
    line = run.err.strip()
    assert line, str(run)
    assert "\n" not in line, f"more than one line on stderr:\n{run}"
    assert line.startswith("error:"), str(run)
    assert "\x1b" not in line, str(run)
    if stdout_empty:
        assert run.out == "", str(run)
    for text in says:
        assert text in line, f"{text!r} not in {line!r}"
    return line


_PLAN_LINE = re.compile(
    r"^\s*(\d+) (new|changed|unchanged|only in the target|invalid)\b", re.MULTILINE
)
_PLAN_NAMES = {"only in the target": "kept"}


def plan_counts(text: str) -> dict[str, int]:
    """The plan's counts as ``export``/``import`` print them."""
    counts = {_PLAN_NAMES.get(m[2], m[2]): int(m[1]) for m in _PLAN_LINE.finditer(text)}
    assert set(counts) == {"new", "changed", "unchanged", "kept", "invalid"}, text
    return counts


def counts(
    new: int = 0, changed: int = 0, unchanged: int = 0, kept: int = 0, invalid: int = 0
) -> dict[str, int]:
    return {
        "new": new,
        "changed": changed,
        "unchanged": unchanged,
        "kept": kept,
        "invalid": invalid,
    }


# -- stores built and read without tui ---------------------------------------------------


def json_path(data_dir: Path) -> Path:
    return data_dir / "json" / "example_items.json"


def db_path(data_dir: Path) -> Path:
    return data_dir / "db" / "myapp.db"


def write_json_file(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """A JSON store file as the guide writes it: ``{id: record}``, 2-space indent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {r["id"]: r for r in records}
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_json_file(path: Path) -> dict[str, Any]:
    value = json.loads(path.read_bytes())
    assert isinstance(value, dict)
    return value


def write_sqlite(path: Path, rows: Iterable[dict[str, Any] | tuple[str, str]]) -> None:
    """Rows in the guide's layout: a record dict (stored as compact JSON with its
    timestamps in the columns too), or ``(id, data text)`` stored as given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    try:
        with db:
            db.execute(GUIDE_TABLE)
            for row in rows:
                if isinstance(row, tuple):
                    db.execute("INSERT INTO example_items (id, data) VALUES (?, ?)", row)
                else:
                    db.execute(
                        "INSERT INTO example_items VALUES (?, ?, ?, ?)",
                        (
                            row["id"],
                            json.dumps(row, separators=(",", ":"), ensure_ascii=False),
                            row.get("created_at"),
                            row.get("updated_at"),
                        ),
                    )
    finally:
        db.close()


def read_sqlite(path: Path) -> dict[str, Any]:
    """id -> the ``data`` column parsed (or its text when it is not JSON)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT id, data FROM example_items ORDER BY id").fetchall()
    finally:
        db.close()
    out: dict[str, Any] = {}
    for record_id, text in rows:
        try:
            out[record_id] = json.loads(text)
        except ValueError:
            out[record_id] = text
    return out


def file_state(path: Path) -> tuple[bytes, int, int] | None:
    """Bytes, inode and mtime_ns (a rewrite of the same bytes still shows), or None when
    the file does not exist."""
    if not path.exists():
        return None
    st = path.stat()
    return path.read_bytes(), st.st_ino, st.st_mtime_ns


def item(record_id: str, name: str, day: int = 1, **fields: Any) -> dict[str, Any]:
    """An example item as stored, with fixed timestamps."""
    stamp = f"2026-11-{day:02d}T09:00:00.000000Z"
    record = {
        "id": record_id,
        "schema_version": 1,
        "created_at": stamp,
        "updated_at": stamp,
        "name": name,
        "description": "",
        "tags": [],
    }
    record.update(fields)
    return record
