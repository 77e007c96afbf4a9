"""Talking to worker processes in tests."""

from __future__ import annotations

import os
import selectors
import subprocess
import time

import pytest


def read_line(proc: subprocess.Popen[bytes], timeout: float) -> str:
    """One line of the worker's stdout, or fail with what it said on stderr."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buf = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while not buf.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                pytest.fail(f"worker {proc.args!r} said nothing within {timeout}s")
            chunk = os.read(fd, 1)  # byte by byte: nothing after the line is consumed
            if not chunk:
                _, err = proc.communicate(timeout=timeout)
                pytest.fail(f"worker exited ({proc.returncode}) before a line: {err.decode()}")
            buf += chunk
    return buf.decode().rstrip("\n")
