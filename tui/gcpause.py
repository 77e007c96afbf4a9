"""Pausing Python's cyclic garbage collector around bulk work.

Parsing or copying many records makes ~10 objects a record that all stay alive until
the work ends; the collector would rescan them again and again (a third to a half of a
big load's time) and find nothing to free. Pauses nest and may overlap across threads:
the collector comes back when the last one ends, and only if it was on before the first.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_depth = 0
_was_enabled = True


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
