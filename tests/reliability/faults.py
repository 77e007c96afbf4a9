"""I/O fault injection for the JSON store, in the style of SQLite's test VFS.

:func:`inject` swaps the ``os``, ``fcntl`` and ``tempfile`` modules that
``tui.stores.jsonio`` uses for stand-ins that count every file operation a save makes
(open, mkstemp, write, copy, fsync, chmod, replace, folder fsync, lock, mkdir...) and
make the Nth fail with an ``OSError`` (ENOSPC, EIO...): once ("transient"), or that one
and every later one ("persistent"). Only jsonio's own calls are affected: nothing else in
the process (pytest, asyncio, another store) sees a fault.

``close`` and ``unlink`` are not failed: they are how a failed save cleans up (a close
that fails still closes the descriptor on Linux), and they are counted in ``calls`` only.
"""

from __future__ import annotations

import errno
import fcntl
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from tui.stores import jsonio

FAILABLE = {
    "os": (
        "open",
        "write",
        "pread",
        "fstat",
        "fchmod",
        "fsync",
        "replace",
        "copy_file_range",
        "ftruncate",
        "lseek",
        "mkdir",
    ),
    "fcntl": ("flock",),
    "tempfile": ("mkstemp",),
}
COUNTED_ONLY = {"os": ("close", "unlink"), "fcntl": (), "tempfile": ()}


@dataclass
class Injector:
    """Fail the ``fail_at``-th failable operation (1-based) with ``error``; with
    ``persistent``, every one after it too. ``fail_at=None`` only counts."""

    fail_at: int | None = None
    persistent: bool = False
    error: int = errno.EIO
    calls: list[str] = field(default_factory=list)  # every operation, in order
    injected: list[str] = field(default_factory=list)  # the operations made to fail
    _count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def failable_calls(self) -> int:
        return self._count

    def _hit(self, name: str) -> bool:
        with self._lock:
            self.calls.append(name)
            self._count += 1
            n = self._count
            if self.fail_at is None:
                return False
            fail = n == self.fail_at or (self.persistent and n > self.fail_at)
            if fail:
                self.injected.append(name)
            return fail

    def wrap(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def faulty(*args: Any, **kwargs: Any) -> Any:
            if self._hit(name):
                raise OSError(self.error, os.strerror(self.error))
            return real(*args, **kwargs)

        return faulty

    def count(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls.append(name)
            return real(*args, **kwargs)

        return counted


class _Proxy:
    """A module whose listed functions are replaced; everything else is the module's."""

    def __init__(self, module: ModuleType, replaced: dict[str, Callable[..., Any]]) -> None:
        self._module = module
        self.__dict__.update(replaced)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)


@contextmanager
def inject(
    fail_at: int | None = None, persistent: bool = False, error: int = errno.EIO
) -> Iterator[Injector]:
    """Run the block with jsonio's file operations counted and the ``fail_at``-th failed."""
    injector = Injector(fail_at, persistent, error)
    originals = {"os": os, "fcntl": fcntl, "tempfile": tempfile}
    proxies = {}
    for name, module in originals.items():
        replaced = {op: injector.wrap(op, getattr(module, op)) for op in FAILABLE[name]}
        replaced.update({op: injector.count(op, getattr(module, op)) for op in COUNTED_ONLY[name]})
        proxies[name] = _Proxy(module, replaced)
    assert jsonio.os is os and jsonio.fcntl is fcntl and jsonio.tempfile is tempfile, (
        "nested fault injection"
    )
    for name, proxy in proxies.items():
        setattr(jsonio, name, proxy)
    try:
        yield injector
    finally:
        for name, module in originals.items():
            setattr(jsonio, name, module)
