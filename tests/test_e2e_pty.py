"""End to end in a real pseudo-terminal: start ``python -m tui``, add a record with real
key presses, quit with ``q``, and find the record in the JSON file on disk."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

ANSI = re.compile(
    rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>78]|\x1b\][^\x07]*\x07"
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty")


class Terminal:
    """A child process on a pty, with everything it printed so far as plain text."""

    def __init__(self, argv: list[str], cwd: Path, size: tuple[int, int] = (100, 30)) -> None:
        master, slave = pty.openpty()
        cols, rows = size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(cols), "LINES": str(rows)}
        env.pop("TEXTUAL", None)
        self.process = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env, start_new_session=True
        )
        os.close(slave)
        self.master = master
        self.raw = b""

    def read(self, seconds: float = 0.1) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            ready, _, _ = select.select([self.master], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.raw += chunk

    @property
    def text(self) -> str:
        return ANSI.sub(b"", self.raw).decode("utf-8", "replace")

    def wait_for(self, needle: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text:
            if time.monotonic() > deadline:
                tail = self.text[-2000:]
                raise AssertionError(f"{needle!r} never appeared on screen; last output:\n{tail}")
            self.read(0.1)

    def send(self, keys: str | bytes, pause: float = 0.05) -> None:
        for char in keys.encode() if isinstance(keys, str) else keys:
            os.write(self.master, bytes([char]))
            self.read(pause)

    def close(self) -> int:
        try:
            return self.process.wait(timeout=30)
        finally:
            os.close(self.master)


def test_add_a_record_in_a_real_terminal(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    term = Terminal([sys.executable, "-m", "tui", "--data-dir", str(data_dir)], cwd=tmp_path)
    try:
        # A cold start of python -m tui on a slow, loaded machine: a long first wait.
        term.wait_for("JSON · 12 records", timeout=60)
        term.wait_for("SQLite · 12 records")
        term.read(0.5)
        term.send("a")
        term.wait_for("Add to JSON store")
        # The form's own footer: the form is the screen, its first input focused.
        term.wait_for("^s Save")
        term.read(0.3)
        term.send("Typed in a pty")
        term.wait_for("Typed in a pty")
        term.send("\t")
        term.send("by real keys")
        term.wait_for("by real keys")
        term.send(b"\x13")  # ctrl+s
        term.wait_for("in the JSON store")  # the notification
        term.send("q")
        code = term.close()
    finally:
        if term.process.poll() is None:
            term.process.kill()
            term.process.wait()
    assert code == 0
    records = json.loads((data_dir / "json" / "example_items.json").read_text("utf-8"))
    added = [r for r in records.values() if r["name"] == "Typed in a pty"]
    assert len(added) == 1 and added[0]["description"] == "by real keys"
    assert re.fullmatch(r"[0-9a-f]{12}", added[0]["id"])
