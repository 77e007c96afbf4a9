"""Reading and writing the JSON store's file: strict parsing and durable atomic writes.

Parsing takes a fast path and a strict path. orjson parses the bytes; if re-serializing
the result gives back the very same bytes, the file is canonical (our own layout) and
nothing can have been lost. Otherwise (hand-edited, written by another tool, or holding
something orjson would bend, such as duplicate keys or integers past 64 bits) the file is
parsed again by the standard library with hooks that reject what would lose data.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import orjson

from tui.stores.base import FileFormatError, StoreError

TEMP_PREFIX = ".tui-tmp-"
MAX_DEPTH = 512
_INDENT = orjson.OPT_INDENT_2


def serialize(data: dict[str, Any]) -> bytes:
    """The store layout: 2-space indent, UTF-8 unescaped, insertion order, trailing newline."""
    try:
        return orjson.dumps(data, option=_INDENT) + b"\n"
    except TypeError:
        # orjson stops at 64-bit integers and some exotic values; the standard library
        # writes the same layout, more slowly.
        return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def serialize_compact(value: Any) -> str:
    """Compact JSON for SQLite's ``data`` column."""
    try:
        return orjson.dumps(value).decode("utf-8")
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def parse_json_value(text: str | bytes) -> Any:
    """Parse one JSON value (a SQLite ``data`` column) without losing anything.

    Compact canonical text (what we and the guide's template write) takes the fast path;
    anything else is parsed strictly, so duplicate keys and huge integers are caught.
    Raises ValueError when the text is not JSON we can keep.
    """
    data = text.encode("utf-8") if isinstance(text, str) else text
    value = orjson.loads(data)
    try:
        if orjson.dumps(value) == data:
            return value
    except TypeError:
        pass
    return _strict_loads(data.decode("utf-8"))


def _line_col(data: bytes, byte_offset: int) -> tuple[int, int]:
    line = data.count(b"\n", 0, byte_offset) + 1
    start = data.rfind(b"\n", 0, byte_offset) + 1
    return line, byte_offset - start + 1


class _DuplicateKey(ValueError):
    pass


class _BadConstant(ValueError):
    pass


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _reject_constant(name: str) -> NoReturn:
    raise _BadConstant(name)


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _BadConstant(text)
    return value


def _strict_loads(text: str) -> Any:
    return json.loads(
        text,
        object_pairs_hook=_reject_duplicates,
        parse_constant=_reject_constant,
        parse_float=_parse_float,
    )


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth > limit:
                return True
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            if depth > limit:
                return True
            stack.extend((v, depth + 1) for v in item)
    return False


def parse_store_bytes(path: Path, data: bytes) -> dict[str, Any]:
    """Parse a store file's bytes or raise :class:`FileFormatError` saying where and why.

    Empty or whitespace-only means an empty store.
    """
    if not data.strip():
        return {}
    if data.startswith(b"\xef\xbb\xbf"):
        raise FileFormatError(path, "starts with a UTF-8 byte order mark (BOM); remove it", 1, 1)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _line_col(data, exc.start)
        raise FileFormatError(path, "invalid UTF-8 byte sequence", line, col) from None

    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if "depth" in exc.msg:
            raise FileFormatError(
                path, "nesting is too deep to be a record file", exc.lineno, exc.colno
            ) from None
        raise FileFormatError(path, exc.msg, exc.lineno, exc.colno) from None
    else:
        if serialize(value) != data:
            value = _strict_parse(path, text, data)

    if not isinstance(value, dict):
        raise FileFormatError(
            path, f"top level is a {_json_type(value)}; a store file is an object of records"
        )
    for key, record in value.items():
        if not isinstance(record, dict):
            raise FileFormatError(path, f"record {key!r} is a {_json_type(record)}, not an object")
    if _depth_exceeds(value, MAX_DEPTH):
        raise FileFormatError(path, f"nesting deeper than {MAX_DEPTH} levels")
    return value


def _strict_parse(path: Path, text: str, data: bytes) -> Any:
    try:
        return _strict_loads(text)
    except json.JSONDecodeError as exc:
        raise FileFormatError(path, exc.msg, exc.lineno, exc.colno) from None
    except _DuplicateKey as exc:
        line, col = _find_key(data, str(exc))
        raise FileFormatError(path, f"duplicate key {str(exc)!r}", line, col) from None
    except _BadConstant as exc:
        raise FileFormatError(
            path, f"{exc} is not valid JSON (NaN and Infinity are not numbers JSON has)"
        ) from None
    except RecursionError:
        raise FileFormatError(path, "nesting is too deep to be a record file") from None
    except ValueError as exc:  # e.g. an integer past Python's digit limit
        raise FileFormatError(path, str(exc).split("\n")[0]) from None


def _find_key(data: bytes, key: str) -> tuple[int | None, int | None]:
    """Best effort: the position of the last occurrence of a duplicated key."""
    needle = json.dumps(key, ensure_ascii=False).encode("utf-8") + b":"
    matches = [m.start() for m in re.finditer(re.escape(needle[:-1]) + rb"\s*:", data)]
    if len(matches) < 2:
        return None, None
    return _line_col(data, matches[-1])


def _json_type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), "number" if isinstance(value, int | float) else "null"
    )


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


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that readers see the old bytes or the new, never a mix.

    Temp file in the same folder, flush, fsync, os.replace, fsync the folder. The file's
    permission bits are kept; a new file is private to the user (0600).
    """
    target = path.resolve() if path.is_symlink() else path  # write through a symlink
    folder = target.parent
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = 0o600
    fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX + target.name + ".", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _fsync_dir(folder)


def remove_stale_temp_files(path: Path) -> int:
    """Remove temp files a crashed writer left beside ``path``. Call under the write lock."""
    removed = 0
    with contextlib.suppress(FileNotFoundError):
        for child in path.parent.iterdir():
            if child.name.startswith(TEMP_PREFIX + path.name + "."):
                with contextlib.suppress(FileNotFoundError):
                    child.unlink()
                    removed += 1
    return removed


def lock_path_for(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the store's lock file (not the data file itself,
    which os.replace swaps out from under any lock held on it)."""
    lock_file = lock_path_for(path)
    try:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StoreError(f"{lock_file}: cannot open lock file: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def write_error(path: Path, exc: OSError) -> StoreError:
    """Turn an OSError from a write into one line a person can act on."""
    reason = {
        errno.ENOSPC: "no space left on the device",
        errno.EACCES: "permission denied",
        errno.EROFS: "the file system is read-only",
        errno.EDQUOT: "disk quota exceeded",
    }.get(exc.errno or 0, exc.strerror or str(exc))
    return StoreError(f"{path}: could not save: {reason}; the file on disk is unchanged")
