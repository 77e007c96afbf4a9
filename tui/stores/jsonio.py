"""The JSON store's file on disk: reads, durable atomic writes (whole, appended or
spliced), locks and temp-file hygiene. What the bytes mean is :mod:`tui.stores.jsoncodec`.

The fault injector of the reliability suite (tests/reliability/faults.py) swaps this
module's ``os``, ``fcntl`` and ``tempfile``: every file operation of a save goes through
them.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from tui.stores import jsonspans
from tui.stores.base import FileFormatError, SavedNotDurable, StoreError
from tui.stores.jsoncodec import CLOSING, LAYOUT_BATCH, fragment, loads_value

TEMP_PREFIX = ".tui-tmp-"


def read_file(path: Path) -> bytes | None:
    """The file's bytes, or None when there is no file."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise FileFormatError(path, "is a folder, not a file") from None
    except PermissionError:
        raise FileFormatError(path, "permission denied") from None
    except OSError as exc:
        raise FileFormatError(path, exc.strerror or str(exc)) from None


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ReplacedNotSynced(OSError):
    """The new file replaced the old one, but the folder could not be fsynced after
    the rename: the data is in place and every reader sees it, yet the rename may not
    survive a power loss. Raised by the atomic writes after one retry of the fsync; the
    caller must treat the write as done (its state is the new file's)."""


def not_durable_error(path: Path, exc: OSError) -> SavedNotDurable:
    reason = exc.strerror or str(exc)
    return SavedNotDurable(
        f"{path}: saved, but the folder could not be synced to disk ({reason}); "
        "the change is in the file but may not survive a power loss"
    )


def write_target(path: Path) -> Path:
    """The file a write replaces: ``path``, or for a symlink the file it points to (the
    link itself is never replaced by a plain file). Raises OSError for a link loop."""
    if not path.is_symlink():
        return path
    try:
        return path.resolve()
    except (RuntimeError, OSError):  # Python 3.11 raises RuntimeError for a loop
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(path)) from None


def make_private_dirs(folder: Path) -> None:
    """Create ``folder`` and any missing parents private to the user (0700); folders
    that exist are left as they are."""
    missing: list[Path] = []
    current = Path(folder)
    while not os.path.isdir(current) and current != current.parent:
        missing.append(current)
        current = current.parent
    for item in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(item, 0o700)


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that readers see the old bytes or the new, never a mix.

    Temp file in the same folder, flush, fsync, os.replace, fsync the folder. The file's
    permission bits are kept; a new file is private to the user (0600). A symlink is
    written through (its target replaced; see :func:`write_target`). Raises
    :class:`ReplacedNotSynced` when only the folder's fsync failed (the file is new).
    """
    _replace_with(path, lambda fd: _write_all(fd, data))


def _replace_with(
    path: Path, fill: Callable[[int], None], before_replace: Callable[[], None] | None = None
) -> None:
    """The atomic replace: ``fill(fd)`` writes the new content into a temp file in the
    same folder, which is fsynced, given the file's mode and renamed over ``path``.

    ``before_replace()`` runs last before the rename: if it (or ``fill``) raises, the
    temp file is removed and ``path`` is untouched (a cancelled transfer)."""
    target = write_target(path)  # write through a symlink: the link stays a link
    folder = target.parent
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = 0o600
    fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX + target.name + ".", dir=folder)
    try:
        try:
            fill(fd)
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        if before_replace is not None:
            before_replace()
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    # The new file is in place: from here on the write has happened, whatever fails.
    try:
        _fsync_dir(folder)
    except OSError:
        try:
            _fsync_dir(folder)  # once more (a transient error); then say what is true
        except OSError as exc:
            raise ReplacedNotSynced(exc.errno, exc.strerror or str(exc), str(folder)) from None


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


_LAYOUT_BATCH = LAYOUT_BATCH  # (a module global: tests make it small)


def atomic_write_layout(
    path: Path,
    data: dict[str, Any],
    check: Callable[[], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> bool:
    """``atomic_write(path, serialize(data))`` without the whole file in memory: records
    are serialized a batch at a time straight into the temp file, byte for byte what
    ``jsoncodec.serialize`` writes. Returns what ``jsoncodec.serialize_layout`` returns
    second.

    ``check()`` runs before each batch and right before the rename, ``progress(done,
    total)`` after each batch (records written); if ``check`` raises, the temp file is
    removed and ``path`` is untouched.
    """
    by_orjson = True

    def fill(fd: int) -> None:
        nonlocal by_orjson
        by_orjson = _write_layout(fd, data, check, progress)

    _replace_with(path, fill, check)
    return by_orjson


def _write_layout(
    fd: int,
    data: dict[str, Any],
    check: Callable[[], None] | None,
    progress: Callable[[int, int], None] | None,
) -> bool:
    total = len(data)
    if not total:
        _write_all(fd, b"{}\n")
        return True
    try:
        # orjson writes a batch of records as ``{`` + the records + ``\n}``, and the
        # records exactly as in the whole file (a batch is a top-level object too).
        items = iter(data.items())
        done = 0
        while done < total:
            if check is not None:
                check()
            body = orjson.dumps(
                {key: fragment(value) for key, value in islice(items, _LAYOUT_BATCH)},
                option=orjson.OPT_INDENT_2,
            )
            _write_all(fd, b"," if done else b"{")
            _write_all(fd, memoryview(body)[1:-2])
            done += min(_LAYOUT_BATCH, total - done)
            if progress is not None:
                progress(done, total)
        _write_all(fd, CLOSING)
        return True
    except TypeError:
        pass
    # As serialize: what orjson cannot write, the standard library writes in the same
    # layout (its encoder yields the text in small pieces: gather them into big writes).
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    pieces: list[str] = []
    size = 0
    parsed = {key: loads_value(value) for key, value in data.items()}
    for piece in json.JSONEncoder(indent=2, ensure_ascii=False).iterencode(parsed):
        pieces.append(piece)
        size += len(piece)
        if size >= 1 << 20:
            if check is not None:
                check()
            _write_all(fd, "".join(pieces).encode("utf-8"))
            pieces, size = [], 0
    pieces.append("\n")
    _write_all(fd, "".join(pieces).encode("utf-8"))
    if progress is not None:
        progress(total, total)
    return False


_NEAR = 1 << 13  # bytes read either side of where a record is expected to be,
_WINDOW = 1 << 18  # then this many
_SCAN_CHUNK = 1 << 24  # then the file is searched this much at a time

# A change in :func:`atomic_splice`'s list: the record's position in the file (0-based,
# counting records), its key, its value in the file now, and its new value or REMOVED.
REMOVED: Any = object()
Change = tuple[int, str, Any, Any]


def record_entry(key: str, value: Any) -> bytes:
    """The bytes :func:`serialize` writes for one record of a store, from the newline
    before its key to its closing brace (the comma between records is not part of it).

    Raises TypeError when orjson cannot write it (the caller then writes it all).
    """
    if not isinstance(key, str):
        raise TypeError("a record key must be a string")
    # A record nested one level down is the record alone, each line indented by two
    # more spaces; raw newlines occur in JSON only between tokens. A value held as bytes
    # is its piece of the file, key included (see :mod:`tui.stores.jsonspans`).
    if isinstance(value, bytes):
        return jsonspans.entry(value)
    body = orjson.dumps(value, option=orjson.OPT_INDENT_2).replace(b"\n", b"\n  ")
    return b"\n  " + orjson.dumps(key) + b": " + body


def appended_tail(items: Iterable[tuple[Any, Any]]) -> bytes | None:
    """What replaces the closing ``\n}\n`` of a non-empty file in our layout when the
    records ``items`` are appended: exactly the bytes :func:`serialize` would write for
    them there. None when orjson cannot write them (the caller then writes it all)."""
    parts = []
    try:
        for key, value in items:
            parts.append(b"," + record_entry(key, value))
    except TypeError:
        return None
    parts.append(CLOSING)
    return b"".join(parts)


def atomic_append(path: Path, expected: Callable[[os.stat_result], bool], tail: bytes) -> bool:
    """Atomically replace ``path`` by its bytes up to the closing ``\n}\n`` plus ``tail``.

    The unchanged bytes are copied from the old file by the kernel, not serialized again;
    otherwise as :func:`atomic_write`. Writes nothing and returns False unless the file
    is still the one ``expected(os.fstat(fd))`` accepts and ends as our layout does.
    """
    return atomic_splice(path, expected, [], 0, tail)


def atomic_splice(
    path: Path,
    expected: Callable[[os.stat_result], bool],
    changes: Sequence[Change],
    count: int,
    tail: bytes,
    before_replace: Callable[[], None] | None = None,
) -> bool:
    """Atomically rewrite a store file in our layout with some records changed or
    removed and the closing ``\n}\n`` replaced by ``tail`` (see :func:`appended_tail`).

    ``changes`` are in file order; ``count`` is the number of records in the file. Each
    changed record is found by the exact bytes :func:`record_entry` gives for its value
    in the file now (a key at two spaces' indent starts a line only at the top level, and
    a serialized object is a prefix of no other, so a match is that record, whole and
    unchanged); the bytes between are copied from the old file by the kernel. Writes
    nothing and returns False when the file is not the one ``expected(os.fstat(fd))``
    accepts, or anything does not match exactly; the caller then writes the whole file.
    Otherwise as :func:`atomic_write`.
    """
    try:
        found = [
            (index, record_entry(key, old), None if new is REMOVED else record_entry(key, new))
            for index, key, old, new in changes
        ]
    except TypeError:
        return False
    try:
        src = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        st = os.fstat(src)
        size = st.st_size
        if (
            not expected(st)
            or size < 4
            or os.pread(src, 1, 0) != b"{"
            or os.pread(src, 3, size - 3) != CLOSING
        ):
            return False
        plan = _splice_plan(src, size, found, count)
        if plan is None:
            return False
        plan.append(tail)

        def fill(fd: int) -> None:
            for part in plan:
                if isinstance(part, bytes):
                    _write_all(fd, part)
                else:
                    _copy_range(src, fd, *part)

        _replace_with(path, fill, before_replace)
        return True
    finally:
        os.close(src)


def _splice_plan(
    src: int, size: int, changes: list[tuple[int, bytes, bytes | None]], count: int
) -> list[bytes | tuple[int, int]] | None:
    """The new file as (start, end) ranges of the old one and new bytes, up to (not
    including) the closing ``\n}\n``; None when a record is not where and what it must be."""
    plan: list[bytes | tuple[int, int]] = []
    copied = 0  # the old file's bytes before this are in the plan
    search_from = 1
    removed_from_start = 0  # records removed from the front of the file so far
    last = -1
    for index, old_entry, new_entry in changes:
        if not last < index < count:
            return None
        # Records are much alike in size: expect this one as far after the last one
        # found as the records between take on average.
        guess = search_from + (index - last - 1) * size // count
        last = index
        pos = _locate(src, size, old_entry, search_from, guess)
        if pos < 0:
            return None
        end = pos + len(old_entry)
        before = os.pread(src, 1, pos - 1)
        after = os.pread(src, 1, end)
        if before != (b"{" if index == 0 else b",") or not (
            after == b"," if index < count - 1 else end == size - len(CLOSING)
        ):
            return None
        if new_entry is not None:
            cut = (pos, end)
        elif index == removed_from_start:
            # The first record left goes with its comma: the next one becomes the first.
            if after != b",":
                return None  # every record removed: the caller writes "{}"
            cut = (pos, end + 1)
            removed_from_start += 1
        else:
            cut = (pos - 1, end)  # the comma before it goes too
        if copied < cut[0]:
            plan.append((copied, cut[0]))
        if new_entry is not None:
            plan.append(new_entry)
        copied = cut[1]
        search_from = end
    keep = size - len(CLOSING)
    if copied < keep:
        plan.append((copied, keep))
    return plan


def _locate(src: int, size: int, needle: bytes, start: int, guess: int) -> int:
    """Where ``needle`` occurs in ``src`` at or after ``start``, or -1; looked for first
    around ``guess``, then farther around it, then through the whole file."""
    for radius in (_NEAR, _WINDOW):
        low = max(start, guess - radius)
        high = min(size, guess + radius + len(needle))
        if low < high:
            found = os.pread(src, high - low, low).find(needle)
            if found >= 0:
                return low + found
    offset = start
    while offset < size:
        chunk = os.pread(src, _SCAN_CHUNK + len(needle), offset)
        found = chunk.find(needle)
        if found >= 0:
            return offset + found
        if len(chunk) < _SCAN_CHUNK + len(needle):
            break
        offset += _SCAN_CHUNK
    return -1


def _copy_range(src: int, dst: int, start: int, end: int) -> None:
    """Copy bytes ``start`` to ``end`` of ``src`` to ``dst``'s position, in the kernel."""
    offset = start
    try:
        while offset < end:
            copied = os.copy_file_range(src, dst, end - offset, offset)
            if copied == 0:
                raise OSError(errno.EIO, "the file shrank while it was being copied")
            offset += copied
        return
    except OSError as exc:
        # Not supported here (an old kernel, another file system): copy by hand from
        # where the kernel stopped.
        if exc.errno not in (errno.ENOSYS, errno.EXDEV, errno.EINVAL, errno.EOPNOTSUPP):
            raise
    except AttributeError:  # no os.copy_file_range on this platform
        pass
    while offset < end:
        chunk = os.pread(src, min(1 << 24, end - offset), offset)
        if not chunk:
            raise OSError(errno.EIO, "the file shrank while it was being copied")
        _write_all(dst, chunk)
        offset += len(chunk)


def remove_stale_temp_files(path: Path) -> int:
    """Remove temp files a crashed writer left beside ``path``. Call under the write lock."""
    removed = 0
    try:
        path = write_target(path)  # temp files are written beside a symlink's target
    except OSError:
        return 0
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for child in path.parent.iterdir():
            if child.name.startswith(TEMP_PREFIX + path.name + "."):
                with contextlib.suppress(FileNotFoundError):
                    child.unlink()
                    removed += 1
    return removed


def lock_path_for(path: Path) -> Path:
    """The lock file of a store file: beside it, or beside a symlink's target (so that a
    write through the link and a write to the target take the same lock)."""
    try:
        target = write_target(path)
    except OSError:
        target = path
    if target is not path and not target.parent.is_dir():
        target = path
    return target.with_name(f".{target.name}.lock")


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the store's lock file (not the data file itself,
    which os.replace swaps out from under any lock held on it)."""
    lock_file = lock_path_for(path)
    try:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StoreError(f"{lock_file}: cannot open lock file: {exc.strerror}") from None
    with _locked(fd, lock_file):
        yield


@contextlib.contextmanager
def read_lock(path: Path, create: bool = True) -> Iterator[bool]:
    """The lock for a read: yields whether it is held (and the folder writable).

    A read needs no write access: where the lock file cannot be made (a read-only folder
    or file system, or ``create=False``: a file read from elsewhere, whose folder gets no
    lock file of ours) an existing lock file is taken through a read-only handle, and
    without one the read goes on unlocked. That is safe: writers replace the file whole,
    so a read sees the old or the new file, and a signature taken before a replace only
    makes the next look read the file again.
    """
    lock_file = lock_path_for(path)
    fd = -1
    writable = False
    if create:
        try:
            fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
            writable = True
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise StoreError(f"{lock_file}: cannot open lock file: {exc.strerror}") from None
    if fd < 0:
        try:
            fd = os.open(lock_file, os.O_RDONLY)
        except OSError:
            yield False  # no lock file to share, and none may be made: read unlocked
            return
    with _locked(fd, lock_file):
        yield writable


@contextlib.contextmanager
def _locked(fd: int, lock_file: Path) -> Iterator[None]:
    """Hold the flock on the open ``fd`` for the block; the fd is closed in any case
    (closing releases the lock)."""
    try:
        _wait_for_lock(fd, lock_file)
        yield
    finally:
        os.close(fd)


# Another process's whole-file write of a big store holds the lock for seconds; one that
# holds it for this long is stuck (or a person is holding it), and a save must not hang.
LOCK_TIMEOUT = 60.0


def _wait_for_lock(fd: int, lock_file: Path) -> None:
    timeout = LOCK_TIMEOUT
    deadline = time.monotonic() + timeout
    pause = 0.001
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise StoreError(
                    f"{lock_file}: another process has held the lock for {timeout:g} s;"
                    " nothing was written"
                ) from None
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
        except OSError as exc:
            raise StoreError(f"{lock_file}: cannot lock: {exc.strerror or exc}") from None


def write_error(path: Path, exc: OSError) -> StoreError:
    """Turn an OSError from a write into one line a person can act on."""
    if isinstance(exc, ReplacedNotSynced):  # the file was replaced: do not say unchanged
        return not_durable_error(path, exc)
    reason = {
        errno.ENOSPC: "no space left on the device",
        errno.EACCES: "permission denied",
        errno.EROFS: "the file system is read-only",
        errno.EDQUOT: "disk quota exceeded",
    }.get(exc.errno or 0, exc.strerror or str(exc))
    return StoreError(f"{path}: could not save: {reason}; the file on disk is unchanged")
