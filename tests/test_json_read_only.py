"""Reading a JSON store needs no write access: a read-only folder lists, and a file read
from elsewhere (an import's ``--from``) gets no lock file beside it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.records import raw_record

REPO = Path(__file__).resolve().parents[1]


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "tui", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def _cli_as_nobody(data_dir: Path, *args: str) -> tuple[int, str, str]:
    """The CLI in a forked child that runs as user nobody when we are root (root writes
    anywhere; the interpreter's files may not be readable by nobody, so no exec: every
    module the command needs is imported before the fork)."""
    import concurrent.futures.thread  # noqa: F401  (asyncio.to_thread's executor)
    import contextlib
    import io

    import tui.models  # noqa: F401  (imported when the first record is validated)
    from tui import cli

    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        code = 70
        try:
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = cli.main(["--data-dir", str(data_dir), *args])
                except SystemExit as exc:
                    code = int(exc.code or 0)
            os.write(out_w, json.dumps([code, out.getvalue(), err.getvalue()]).encode())
        finally:
            os._exit(0)
    os.close(out_w)
    with os.fdopen(out_r, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    code, out, err = json.loads(data)
    return code, out, err


def test_an_import_source_from_elsewhere_gets_no_lock_file(tmp_path: Path) -> None:
    elsewhere = tmp_path / "downloads"
    elsewhere.mkdir()
    source = elsewhere / "items.json"
    source.write_text(json.dumps({"a": raw_record("a", "from elsewhere")}), "utf-8")
    run = _cli(tmp_path / "data", "import", "--from", str(source))
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in elsewhere.iterdir()) == ["items.json"]
    assert "from elsewhere" in _cli(tmp_path / "data", "list").stdout


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder another user can reach (pytest's tmp_path is private to its user)."""
    folder = Path(tempfile.mkdtemp(prefix="tui-ro-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for path in [folder, *folder.rglob("*")]:
            if path.is_dir():
                path.chmod(0o755)
        shutil.rmtree(folder)


def test_a_read_only_json_folder_is_listed_and_not_written(shared_tmp: Path) -> None:
    json_dir = shared_tmp / "data" / "json"
    json_dir.mkdir(parents=True)
    (shared_tmp / "data").chmod(0o755)
    store = json_dir / "example_items.json"
    store.write_text(json.dumps({"r": raw_record("r", "readable")}), "utf-8")
    store.chmod(0o644)
    json_dir.chmod(0o555)
    for args in (["list", "--backend", "json"], ["get", "r", "--backend", "json"]):
        code, out, err = _cli_as_nobody(shared_tmp / "data", *args)
        assert code == 0, (args, err)
        assert "readable" in out
    assert sorted(p.name for p in json_dir.iterdir()) == ["example_items.json"]
    # A write is refused in one line, the file untouched.
    before = store.read_bytes()
    code, out, err = _cli_as_nobody(shared_tmp / "data", "add", "--name", "x", "--backend", "json")
    assert code != 0 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert store.read_bytes() == before
