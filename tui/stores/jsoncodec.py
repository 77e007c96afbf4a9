"""JSON text and values for the stores, with nothing lost either way.

Parsing takes a fast path and a strict path. orjson parses the bytes; if re-serializing
the result gives back the very same bytes, the file is canonical (our own layout) and
nothing can have been lost. Otherwise (hand-edited, written by another tool, or holding
something orjson would bend, such as duplicate keys, integers past 64 bits or decimals
past a double) the text is parsed again by the standard library with hooks that refuse
what would lose data, and errors say where. Serializing writes the store layout. No file
I/O here (that is :mod:`tui.stores.jsonio`).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from itertools import islice
from pathlib import Path
from typing import Any, NoReturn

import orjson

from tui.stores import jsonspans
from tui.stores.base import FileFormatError

MAX_DEPTH = 512
_INDENT = orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
LAYOUT_BATCH = 2000  # records serialized (or compared) by one orjson call
CLOSING = b"\n}\n"  # how a non-empty store file in our layout ends


def serialize(data: dict[str, Any]) -> bytes:
    """The store layout: 2-space indent, UTF-8 unescaped, insertion order, trailing newline."""
    return serialize_layout(data)[0]


def serialize_layout(data: dict[str, Any]) -> tuple[bytes, bool]:
    """:func:`serialize`, and whether orjson wrote it: only then can a record's bytes
    (:func:`record_entry`) be spliced into the file and give what a full write gives.

    A record may be held as bytes: its value as our layout writes it one level down
    (see :mod:`tui.stores.jsonspans`); it is written as it is."""
    if any(isinstance(value, bytes) for value in data.values()):
        data = {key: fragment(value) for key, value in data.items()}
    try:
        return orjson.dumps(data, option=_INDENT), True  # the newline without a copy
    except TypeError:
        data = {key: loads_value(value) for key, value in data.items()}
        # orjson stops at 64-bit integers and some exotic values; the standard library
        # writes the same layout, more slowly (floats may be spelled differently).
        return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8"), False


def fragment(value: Any) -> Any:
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

    def __init__(self, text: str, underflow: bool = False) -> None:
        why = (
            "is too small for a double (it reads as 0)"
            if underflow
            else "has more digits than can be kept exactly (a double)"
        )
        super().__init__(
            f"number {text} {why}: saving would change it; shorten it or store it as a string"
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
    if repr(value) != text and not _holds(value, text):
        raise _InexactNumber(text, underflow=value == 0.0)
    return value


def _significant_digits(text: str) -> str:
    """The digits of a JSON number's text that carry its value: ``-0.0120e5`` -> ``12``."""
    mantissa = text.lstrip("-").split("e")[0].split("E")[0]
    return mantissa.replace(".", "").strip("0")


def _holds(value: float, text: str) -> bool:
    """Whether the double ``value`` is what ``text`` says, to the text's own precision:
    the text is the double written with as many digits as the text has.

    So 1.10, 1e2, or 0.10000000000000001 (what 17-digit writers such as C's %.17g give
    for 0.1) are held, and written back as 1.1, 100.0, 0.1: the same double. The digits
    of 0.1 followed by twenty more, 9007199254740993.0 (2**53 + 1), or 1e-400 (which
    reads as 0.0) are not: saving would change the number.
    """
    digits = _significant_digits(text)
    if value == 0.0:
        return not digits  # 0e99999999999999999999 is zero; 1e-400 is not
    if len(digits) <= 15 and abs(value) >= sys.float_info.min:
        return True  # any 15 digits survive a normal double's round trip
    try:
        exact = Decimal(text)
        # The shortest digits that read back as the double (what repr and orjson write;
        # at an exact tie they may round the other way than format() does), or the
        # double correctly rounded to the text's number of digits.
        return exact == Decimal(repr(value)) or exact == Decimal(format(value, f".{len(digits)}g"))
    except InvalidOperation:  # an exponent past what Decimal takes
        return False


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
        batch = dict(islice(items, LAYOUT_BATCH))
        if not batch:
            break
        body = memoryview(orjson.dumps(batch, option=orjson.OPT_INDENT_2))[1:-2]
        opener = b"," if position else b"{"
        end = position + 1 + len(body)
        if view[position : position + 1] != opener or view[position + 1 : end] != body:
            return False
        position = end
    return view[position:] == CLOSING


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


_NUMBER_CHARS = frozenset('0123456789.eE+-"') - {""}


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
