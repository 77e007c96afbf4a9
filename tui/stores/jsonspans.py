"""A store file in our layout, split into its records' bytes without parsing them.

What :func:`tui.stores.jsoncodec.serialize` writes is ``{``, then each record as a newline,
two spaces, its key, ``": "`` and its value indented by two more spaces, records joined by
``,``, then ``\\n}\\n``. A raw newline occurs in JSON only between tokens, and every line
below the top level is indented by four spaces or more, so in such a file the records
start exactly where ``,\\n  "`` occurs: the file splits into records by a byte search.

:func:`split_records` trusts that layout (it is cheap: the rows can be shown at once);
:func:`verify_records` then proves it, parsing every record and checking that writing them
back gives the file byte for byte. Until it has, nothing may be written from the split.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import islice
from operator import methodcaller
from pathlib import Path
from typing import Any

import orjson

from tui.gcpause import collector_paused

_OPEN = b'{\n  "'
_CLOSING = b"\n}\n"
_BETWEEN = b',\n  "'
_COLON = b'": '
_READ = 1 << 26  # bytes read at a time by read_split
_BATCH = 2000  # records written back by one orjson call in verify_records

# A record held as bytes is its piece of the file: its key's text (no escapes), ``": ``
# and its value as our layout writes it one level down; from the quote after the newline
# to the end of the value. Kept whole: one copy of the file, no copy of the values.


def split_records(data: bytes) -> dict[str, bytes] | None:
    """Each record's key and piece (see above), in file order, assuming ``data`` is in
    our layout; None when it plainly is not, or a key holds an escape or repeats (then
    parse it in full: the strict parse says what is wrong)."""
    if not (data.startswith(_OPEN) and data.endswith(_CLOSING)):
        return None
    pieces = data.split(_BETWEEN)
    pieces[0] = pieces[0][len(_OPEN) :]
    pieces[-1] = pieces[-1][: -len(_CLOSING)]
    out: dict[str, bytes] = {}
    return out if _add(out, pieces) else None


def read_split(path: Path) -> dict[str, bytes] | None:
    """:func:`split_records` of the file at ``path``, read a chunk at a time: the file is
    never held whole beside its pieces. None as there, and when there is no file or it
    cannot be read (the caller reads it the ordinary way, which says why).

    The cyclic collector is paused meanwhile: the app starting beside the load (a new
    app's first frames make many objects) would otherwise run a full collection or two
    in the middle of it, each as long as a third of the split."""
    with collector_paused():
        return _read_split(path)


def _read_split(path: Path) -> dict[str, bytes] | None:
    try:
        fh = open(path, "rb")  # noqa: SIM115 (closed below)
    except OSError:
        return None
    with fh:
        chunk = fh.read(max(_READ, len(_OPEN)))
        if not chunk.startswith(_OPEN):
            return None
        out: dict[str, bytes] = {}
        carry: bytes | None = None  # the bytes after the last separator so far
        while chunk:
            if carry is None:
                pieces = chunk.split(_BETWEEN)
                pieces[0] = pieces[0][len(_OPEN) :]
            elif _BETWEEN in carry[-4:] + chunk[:4]:  # a separator across the chunks
                pieces = (carry + chunk).split(_BETWEEN)
            else:
                pieces = chunk.split(_BETWEEN)
                pieces[0] = carry + pieces[0]
            del chunk
            carry = pieces.pop()
            if not _add(out, pieces):
                return None
            del pieces
            chunk = fh.read(_READ)
    if carry is None or not carry.endswith(_CLOSING):
        return None
    return out if _add(out, [carry[: -len(_CLOSING)]]) else None


def _add(out: dict[str, bytes], pieces: list[bytes]) -> bool:
    """Put ``pieces`` into ``out`` by key; False when one does not fit the layout."""
    if not pieces:
        return True
    ends = list(map(methodcaller("find", _COLON), pieces))
    if ends.count(ends[0]) == len(ends):  # keys of one length (ids usually are)
        keys = list(map(methodcaller("__getitem__", slice(0, ends[0])), pieces))
    else:
        keys = [piece[:at] for piece, at in zip(pieces, ends, strict=True)]
    if -1 in ends or b"\\" in b"".join(keys):
        return False
    before = len(out)
    try:
        out.update(zip(map(bytes.decode, keys), pieces, strict=True))
    except UnicodeDecodeError:
        return False
    return len(out) == before + len(pieces)  # else a key repeated


def value_view(piece: bytes) -> memoryview:
    """The value's bytes in a record's piece (no copy)."""
    return memoryview(piece)[piece.index(_COLON) + len(_COLON) :]


def loads(piece: bytes) -> Any:
    """The record a piece holds, parsed."""
    return orjson.loads(value_view(piece))


def loads_many(pieces: list[bytes]) -> list[Any]:
    """The records ``pieces`` hold (each with a key of its own), parsed by one call."""
    if not pieces:
        return []
    return list(orjson.loads(b"".join((_OPEN, _BETWEEN.join(pieces), b"\n}"))).values())


def fragment(piece: bytes) -> orjson.Fragment:
    """The value of a piece, for orjson to write as it is."""
    return orjson.Fragment(bytes(value_view(piece)))


def entry(piece: bytes) -> bytes:
    """What :func:`tui.stores.jsonio.record_entry` gives for the record."""
    return b'\n  "' + piece


def piece_of(key: str, value: object) -> bytes | None:
    """The piece our layout writes for a record (see above); None when its key needs an
    escape. Raises TypeError when orjson cannot write it."""
    text = orjson.dumps(key)
    if b"\\" in text:
        return None
    return b"".join((text[1:-1], _COLON, value_bytes(value)))


def pieces_of(keys: list[str], values: Sequence[dict[str, Any]]) -> list[bytes] | None:
    """:func:`piece_of` for many records (objects) at once, by one orjson call: written
    as a list, each element is its value one level down, as a piece holds it. None when
    a key needs an escape or orjson cannot write a value (then one by one)."""
    if not values:
        return []
    try:
        text = orjson.dumps(values, option=orjson.OPT_INDENT_2)
        names = orjson.dumps(keys)
    except TypeError:
        return None
    if b"\\" in names:
        return None
    # "[\n  {...},\n  {...}\n]": inner lines are indented by four spaces or more, so
    # ",\n  {" is only ever between two elements.
    values_text = text[4:-2].split(_ELEMENTS)
    key_texts = names[2:-2].split(b'","')
    if len(values_text) != len(values) or len(key_texts) != len(values):
        return None
    values_text[0] = values_text[0][1:]
    pairs = zip(key_texts, values_text, strict=True)
    return [b"".join((name, _COLON_BRACE, value)) for name, value in pairs]


_ELEMENTS = b",\n  {"
_COLON_BRACE = _COLON + b"{"


def value_bytes(value: object) -> bytes:
    """The bytes of a record's value in our layout (one level down). Raises TypeError
    when orjson cannot write it."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).replace(b"\n", b"\n  ")


def is_exact(piece: bytes, value: object) -> bool:
    """Whether ``piece`` holds exactly what our layout writes for ``value``."""
    try:
        return value_view(piece) == value_bytes(value)
    except TypeError:
        return False


def verify_records(records: dict[str, bytes]) -> bool:
    """Whether ``records`` (from :func:`split_records`) are objects that orjson writes back
    as the file they were split from, byte for byte: then the file is in our layout and
    nothing in it (duplicate keys, integers past 64 bits, other spellings) was bent by the
    split. (The pieces are that file, split losslessly: it is not needed again.)"""
    if not records:
        return False
    items = iter(records.items())
    while True:
        batch = list(islice(items, _BATCH))
        if not batch:
            return True
        # The batch's records as the file has them make a store file of their own: one
        # parse, one write back, and the two must be the same bytes.
        text = b"".join((_OPEN, _BETWEEN.join([piece for _, piece in batch]), b"\n}"))
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            return False
        if (
            len(value) != len(batch)
            or list(value) != [key for key, _ in batch]
            or not all(type(record) is dict for record in value.values())
        ):
            return False
        try:
            if orjson.dumps(value, option=orjson.OPT_INDENT_2) != text:
                return False
        except TypeError:
            return False


def join_records(records: dict[str, bytes]) -> bytes:
    """The file ``records`` were split from (see :func:`split_records`)."""
    return _OPEN + _BETWEEN.join(records.values()) + _CLOSING


__all__ = [
    "entry",
    "fragment",
    "is_exact",
    "join_records",
    "loads",
    "loads_many",
    "piece_of",
    "pieces_of",
    "read_split",
    "split_records",
    "value_bytes",
    "value_view",
    "verify_records",
]
