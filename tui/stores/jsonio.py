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
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import Any, NoReturn

import orjson

from tui.stores import jsonspans
from tui.stores.base import FileFormatError, SavedNotDurable, StoreError

TEMP_PREFIX = ".tui-tmp-"
MAX_DEPTH = 512
_INDENT = orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE


def serialize(data: dict[str, Any]) -> bytes:
    """The store layout: 2-space indent, UTF-8 unescaped, insertion order, trailing newline."""
    return serialize_layout(data)[0]


def serialize_layout(data: dict[str, Any]) -> tuple[bytes, bool]:
    """:func:`serialize`, and whether orjson wrote it: only then can a record's bytes
    (:func:`record_entry`) be spliced into the file and give what a full write gives.

    A record may be held as bytes: its value as our layout writes it one level down
    (see :mod:`tui.stores.jsonspans`); it is written as it is."""
    if any(isinstance(value, bytes) for value in data.values()):
        data = {key: _fragment(value) for key, value in data.items()}
    try:
        return orjson.dumps(data, option=_INDENT), True  # the newline without a copy
    except TypeError:
        data = {key: loads_value(value) for key, value in data.items()}
        # orjson stops at 64-bit integers and some exotic values; the standard library
        # writes the same layout, more slowly (floats may be spelled differently).
        return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8"), False


def _fragment(value: Any) -> Any:
    """A record held as bytes (already in our layout) written as it is by orjson."""
    return jsonspans.fragment(value) if isinstance(value, bytes) else value


def loads_value(value: Any) -> Any:
    """A stored record: parsed from its bytes when held as bytes, else as it is."""
    return jsonspans.loads(value) if isinstance(value, bytes) else value


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
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if not _past_double(exc):
            raise
        # A number orjson reads as a double overflows; it may be a legal integer that
        # Python holds exactly (or a real overflow, which the strict parser rejects).
        return _strict_value(data)
    try:
        if orjson.dumps(value) == data:
            return value  # orjson writes at most 255 levels: no need to check the depth
    except TypeError:
        pass
    return _strict_value(data)


def parse_json_values(texts: Sequence[bytes]) -> list[Any]:
    """:func:`parse_json_value` of each UTF-8 text, for a batch of rows: a value, or in
    its place the ValueError or TypeError that parsing it raised.

    The exactness check is one comparison for the whole batch: each text parsed alone
    (so each is one whole JSON value), the texts joined by commas into an array equal
    orjson's writing of the values' list only when every text is what orjson writes for
    its value (an array's elements are found in its text in one way only). Otherwise
    each is checked on its own, and those that differ are parsed strictly.
    """
    loads = orjson.loads
    try:
        values = list(map(loads, texts))
    except orjson.JSONDecodeError:
        return [_value_or_error(text) for text in texts]
    try:
        if orjson.dumps(values) == b"[" + b",".join(texts) + b"]":
            return values
    except TypeError:  # one orjson cannot write (or the list one level too deep)
        pass
    dumps = orjson.dumps
    out: list[Any] = []
    for value, text in zip(values, texts, strict=True):
        try:
            if dumps(value) == text:
                out.append(value)
                continue
        except TypeError:
            pass
        out.append(_value_or_error(text))
    return out


def _value_or_error(text: bytes) -> Any:
    try:
        return parse_json_value(text)
    except (ValueError, TypeError) as exc:
        return exc


def _strict_value(data: bytes) -> Any:
    """The strict parse of one value, held to the same depth bound as a store file (a
    record we read but could not write into a JSON store that reads it back is no good)."""
    try:
        value = _strict_loads(data.decode("utf-8"))
    except RecursionError:
        raise ValueError("nesting is too deep to be a record") from None
    if _depth_exceeds(value, MAX_DEPTH):
        raise ValueError(f"nesting deeper than {MAX_DEPTH} levels")
    return value


def _past_double(exc: orjson.JSONDecodeError) -> bool:
    """orjson's error for a number too large for a double (``1e400``, or 400 digits)."""
    return "infinity" in exc.msg


def _line_col(data: bytes, byte_offset: int) -> tuple[int, int]:
    line = data.count(b"\n", 0, byte_offset) + 1
    start = data.rfind(b"\n", 0, byte_offset) + 1
    return line, byte_offset - start + 1


class _DuplicateKey(ValueError):
    pass


class _BadConstant(ValueError):
    pass


class _InexactNumber(_BadConstant):
    """A number a double cannot hold: it would be written back rounded."""

    def __init__(self, text: str) -> None:
        super().__init__(
            f"number {text} has more digits than can be kept exactly (a double):"
            " saving would round it; shorten it or store it as a string"
        )
        self.text = text


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _reject_constant(name: str) -> NoReturn:
    raise _BadConstant(f"{name} is not valid JSON (NaN and Infinity are not numbers JSON has)")


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _BadConstant(f"number {text} is too large (it overflows a double)")
    if repr(value) != text and Decimal(repr(value)) != Decimal(text):
        # 1.10 or 1e2 are written back as 1.1 and 100.0, the same numbers; 0.1 followed
        # by twenty digits, or 1e-400, would not be: never read what we cannot write.
        raise _InexactNumber(text)
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
    return parse_store(path, data)[0]


def _wide_encoding(data: bytes) -> bool:
    """Whether ``data`` starts as JSON in UTF-16 or UTF-32 does (a byte order mark, or an
    ASCII character beside a zero byte)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")):
        return True
    first = data[:2]
    return len(first) == 2 and first.count(0) == 1 and first.strip(b"\x00") in _JSON_STARTS


_JSON_STARTS = frozenset(bytes([c]) for c in b'{["-0123456789tfn \t\r\n')


def parse_store(path: Path, data: bytes) -> tuple[dict[str, Any], bool]:
    """:func:`parse_store_bytes`, and whether ``data`` is exactly what orjson writes for
    the result (what :func:`serialize` writes, so records can be spliced into it)."""
    canonical = False
    if not data or (data.isspace() and not data.translate(None, b" \t\r\n")):
        return {}, False  # (JSON's whitespace only; data.strip() would copy the whole file)
    if data.startswith(b"\xef\xbb\xbf"):
        raise FileFormatError(path, "starts with a UTF-8 byte order mark (BOM); remove it", 1, 1)
    if _wide_encoding(data):
        raise FileFormatError(path, "is UTF-16 or UTF-32, not UTF-8; save it as UTF-8", 1, 1)
    try:
        value = orjson.loads(data)  # orjson rejects invalid UTF-8 anywhere in the bytes
    except orjson.JSONDecodeError as exc:
        text = _decode(path, data)  # invalid UTF-8 is reported as such, with its position
        if "depth" in exc.msg:
            raise FileFormatError(
                path, "nesting is too deep to be a record file", exc.lineno, exc.colno
            ) from None
        if not _past_double(exc):
            raise FileFormatError(path, exc.msg, exc.lineno, exc.colno) from None
        # orjson reads every number past 64 bits as a double: an integer of 309+ digits
        # overflows it, yet is legal JSON that Python keeps exactly. Let the strict parser
        # decide, and keep orjson's position for its error.
        try:
            value = _strict_parse(path, text, data)
        except FileFormatError as strict_error:
            if strict_error.line is not None:
                raise
            raise FileFormatError(path, strict_error.message, exc.lineno, exc.colno) from None
        if _depth_exceeds(value, MAX_DEPTH):
            raise FileFormatError(path, f"nesting deeper than {MAX_DEPTH} levels") from None
    else:
        try:
            # orjson refuses nesting past 254 levels (< MAX_DEPTH), so when it succeeds
            # there is no need to walk the whole value for its depth.
            canonical = _is_orjson_layout(data, value)
        except TypeError:
            # Check the depth before re-serializing with the standard library: it
            # recurses, and must not overflow the stack on a file we are only reading.
            if _depth_exceeds(value, MAX_DEPTH):
                raise FileFormatError(path, f"nesting deeper than {MAX_DEPTH} levels") from None
            serialized = serialize(value)
            if serialized != data:
                value = _strict_parse(path, _decode(path, data), data)
        else:
            if not canonical:
                value = _strict_parse(path, _decode(path, data), data)

    if not isinstance(value, dict):
        raise FileFormatError(
            path, f"top level is {_json_type(value)}; a store file is an object of records"
        )
    for key, record in value.items():
        if not isinstance(record, dict):
            raise FileFormatError(path, f"record {key!r} is {_json_type(record)}, not an object")
    return value, canonical


def _is_orjson_layout(data: bytes, value: Any) -> bool:
    """Whether ``data`` is exactly what orjson writes for ``value`` in the store layout.

    Compared a batch of records at a time, so that a big file is never held twice over
    (the bytes, the records, and a full second serialization). Raises TypeError when
    orjson cannot write ``value``.
    """
    if not isinstance(value, dict) or not value:
        return orjson.dumps(value, option=_INDENT) == data
    view = memoryview(data)
    items = iter(value.items())
    position = 0
    while True:
        batch = dict(islice(items, _LAYOUT_BATCH))
        if not batch:
            break
        body = memoryview(orjson.dumps(batch, option=orjson.OPT_INDENT_2))[1:-2]
        opener = b"," if position else b"{"
        end = position + 1 + len(body)
        if view[position : position + 1] != opener or view[position + 1 : end] != body:
            return False
        position = end
    return view[position:] == _CLOSING


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _line_col(data, exc.start)
        raise FileFormatError(path, "invalid UTF-8 byte sequence", line, col) from None


def _strict_parse(path: Path, text: str, data: bytes) -> Any:
    try:
        return _strict_loads(text)
    except json.JSONDecodeError as exc:
        raise FileFormatError(path, exc.msg, exc.lineno, exc.colno) from None
    except _DuplicateKey as exc:
        line, col = _find_duplicate_key(text)
        raise FileFormatError(path, f"duplicate key {str(exc)!r}", line, col) from None
    except _InexactNumber as exc:
        line, col = _position_of(text, exc.text)
        raise FileFormatError(path, str(exc), line, col) from None
    except _BadConstant as exc:
        raise FileFormatError(path, str(exc)) from None
    except RecursionError:
        raise FileFormatError(path, "nesting is too deep to be a record file") from None
    except ValueError as exc:  # e.g. an integer past Python's digit limit
        message = str(exc).split("\n")[0]
        if "integer string conversion" in message:
            message = (
                "an integer has more digits than the limit "
                + message[message.find("(") : message.find(")") + 1]
            )
        raise FileFormatError(path, message) from None


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\],:]', re.DOTALL)


def _position_of(text: str, number: str) -> tuple[int | None, int | None]:
    """Line and column of the first ``number`` standing alone in ``text`` (not part of a
    longer number or of a string: close enough to lead a person to it)."""
    for match in re.finditer(re.escape(number), text):
        before = text[match.start() - 1 : match.start()]
        after = text[match.end() : match.end() + 1]
        if before not in _NUMBER_CHARS and after not in _NUMBER_CHARS:
            line = text.count("\n", 0, match.start()) + 1
            return line, match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
    return None, None


_NUMBER_CHARS = frozenset("0123456789.eE+-\"") - {""}


def _find_duplicate_key(text: str) -> tuple[int | None, int | None]:
    """Line and column of the first key repeated within one object (no recursion)."""
    # Each open container: the keys seen so far (None for an array), and whether the
    # next string in it is a key.
    stack: list[tuple[set[str] | None, list[bool]]] = []
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token == "{":
            stack.append((set(), [True]))
        elif token == "[":
            stack.append((None, [False]))
        elif token in "]}":
            if stack:
                stack.pop()
        elif stack and stack[-1][0] is not None:
            keys, expecting_key = stack[-1]
            if token == ",":
                expecting_key[0] = True
            elif token == ":":
                expecting_key[0] = False
            elif expecting_key[0] and keys is not None:
                key = json.loads(token)
                if key in keys:
                    start = match.start()
                    line = text.count("\n", 0, start) + 1
                    return line, start - (text.rfind("\n", 0, start) + 1) + 1
                keys.add(key)
    return None, None


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else "null"
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


_LAYOUT_BATCH = 2000  # records serialized by one orjson call in atomic_write_layout


def atomic_write_layout(
    path: Path,
    data: dict[str, Any],
    check: Callable[[], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> bool:
    """``atomic_write(path, serialize(data))`` without the whole file in memory: records
    are serialized a batch at a time straight into the temp file, byte for byte what
    :func:`serialize` writes. Returns what :func:`serialize_layout` returns second.

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
                {key: _fragment(value) for key, value in islice(items, _LAYOUT_BATCH)},
                option=orjson.OPT_INDENT_2,
            )
            _write_all(fd, b"," if done else b"{")
            _write_all(fd, memoryview(body)[1:-2])
            done += min(_LAYOUT_BATCH, total - done)
            if progress is not None:
                progress(done, total)
        _write_all(fd, _CLOSING)
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


_CLOSING = b"\n}\n"  # how a non-empty store file in our layout ends
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
    parts.append(_CLOSING)
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
            or os.pread(src, 3, size - 3) != _CLOSING
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
            after == b"," if index < count - 1 else end == size - len(_CLOSING)
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
    keep = size - len(_CLOSING)
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
    try:
        _wait_for_lock(fd, lock_file)
    except BaseException:
        os.close(fd)
        raise
    try:
        yield
    finally:
        os.close(fd)  # closing releases the lock


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
    try:
        _wait_for_lock(fd, lock_file)
    except BaseException:
        os.close(fd)
        raise
    try:
        yield writable
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
