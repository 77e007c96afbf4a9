"""Records held compactly while a transfer plan waits: bytes, not parsed dicts.

A parsed record costs several times its JSON text (a dict, its key and value objects);
a plan over a million records held that way was three times the size of the JSON file on
its own. Here a record is kept as its compact JSON text (what ``orjson.dumps`` writes) and
parsed again only when it is read, and a record that is only compared is kept as a digest.

orjson cannot write every value a store may hold (integers past 64 bits, nesting deeper
than it goes, strings with lone surrogates): such a value is kept as it is, parsed, and
compared the slow way. Data layer: no Textual here.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain
from typing import Any, overload

import orjson

_SORTED = orjson.OPT_SORT_KEYS
_dumps = orjson.dumps
_loads = orjson.loads
_blake2b = hashlib.blake2b


def fingerprint(value: Any) -> bytes | None:
    """A 16-byte digest of ``value`` as canonical JSON (keys sorted), or None when orjson
    cannot write it.

    Two values parsed from JSON have the same fingerprint exactly when
    :func:`tui.transfer.same_json` says they are the same: ``1``, ``1.0`` and ``true``
    differ, as do ``0.0`` and ``-0.0``, and the order of keys does not matter. (Not for
    NaN or infinities, which orjson writes as ``null``; no JSON text holds them.)
    """
    try:
        return _blake2b(_dumps(value, option=_SORTED), digest_size=16).digest()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return None


_READ_BATCH = 1000  # records parsed by one orjson call while iterating


class CompactRecords(Sequence[dict[str, Any]]):
    """A list of records kept as compact JSON text, read back as parsed dicts.

    Reading (indexing, slicing, iterating) parses a record anew and gives back exactly the
    value that was appended (orjson reads back exactly what it writes): each read makes a
    new dict. A record orjson cannot write is kept as the object itself, and read back as
    that object.

    All the records' text is kept in one ``bytearray``, as a JSON array (``[`` and each
    record followed by a comma), with the offset where each ends: iterating parses a
    batch of records with one call. A ``bytes`` per record would cost its object header,
    and worse, the bytes orjson returns keep the whole buffer it wrote into (4 KiB,
    however short the text): a million of them held 4 GB.
    """

    __slots__ = ("_buf", "_ends", "_others")

    def __init__(self, raws: Iterable[dict[str, Any]] = ()) -> None:
        self._buf = bytearray(b"[")
        # Where each record's text ends in _buf, after its comma. A record orjson can't
        # write has no text (it ends where it starts) and is kept in _others instead.
        self._ends = array("Q")
        self._others: dict[int, dict[str, Any]] = {}
        for raw in raws:
            self.append(raw)

    def append(self, raw: dict[str, Any]) -> None:
        self.appender()(raw)

    def appender(self) -> Callable[[dict[str, Any]], None]:
        """:meth:`append` without the lookups, for a loop over many records."""
        buf, ends, others = self._buf, self._ends, self._others
        add_end = ends.append

        def append(raw: dict[str, Any]) -> None:
            try:
                buf.extend(_dumps(raw))
                buf.append(_COMMA)
            except TypeError:  # orjson.JSONEncodeError is a TypeError
                others[len(ends)] = raw
            add_end(len(buf))

        return append

    def __len__(self) -> int:
        return len(self._ends)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self._ends))
            if step == 1:
                return self._read_range(start, stop)
            return [self._read(i) for i in range(start, stop, step)]
        count = len(self._ends)
        if index < 0:
            index += count
        if not 0 <= index < count:
            raise IndexError("CompactRecords index out of range")
        return self._read(index)

    def _start(self, index: int) -> int:
        return self._ends[index - 1] if index else 1

    def _read(self, index: int) -> dict[str, Any]:
        start, end = self._start(index), self._ends[index]
        if start == end:
            return self._others[index]
        value: dict[str, Any] = _loads(self._buf[start : end - 1])
        return value

    def _read_range(self, first: int, stop: int) -> list[dict[str, Any]]:
        """Records ``first`` to ``stop`` (excluded), parsed by one orjson call when they
        all have text."""
        if first >= stop:
            return []
        others = self._others
        if others and any(i in others for i in range(first, stop)):
            return [self._read(i) for i in range(first, stop)]
        # The text from the "[" or "," before the first record to the last one's comma:
        # make that "[...]" and it is a JSON array of the records.
        text = self._buf[self._start(first) - 1 : self._ends[stop - 1]]
        text[0], text[-1] = _OPEN, _CLOSE
        values: list[dict[str, Any]] = _loads(text)
        return values

    def __iter__(self) -> Iterator[dict[str, Any]]:
        count = len(self._ends)
        firsts = range(0, count, _READ_BATCH)
        stops = range(_READ_BATCH, count + _READ_BATCH, _READ_BATCH)
        # The ends of the batches as they are now: records appended meanwhile are not read.
        return chain.from_iterable(
            map(self._read_range, firsts, (min(stop, count) for stop in stops))
        )

    def encoded(self) -> Iterator[bytes | dict[str, Any]]:
        """Each record as kept: its compact JSON text (what ``orjson.dumps`` writes), or
        the record itself where orjson cannot write it. For a store that writes JSON text
        anyway: no need to parse and serialize again."""
        buf, others = self._buf, self._others
        start = 1
        for index, end in enumerate(self._ends):
            yield others[index] if end == start else bytes(buf[start : end - 1])
            start = end

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CompactRecords):
            return (self._buf, self._ends, self._others) == (
                other._buf,
                other._ends,
                other._others,
            )
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes, bytearray)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<CompactRecords: {len(self._ends)} records, {len(self._buf)} bytes>"


_COMMA, _OPEN, _CLOSE = ord(","), ord("["), ord("]")
