"""Reading a (possibly huge) text file line by line without loading it: no Textual here.

``LineIndex`` maps the file with ``mmap`` and records where every line starts (an
``array('q')`` of byte offsets, 8 bytes a line). The index is built in steps by
``index_chunk`` so a worker thread can report progress and stop early; lines are decoded
on demand, only the ones on screen. ``tokenize_json_line`` splits one line of JSON (or of
anything else: a broken file must display too) into kinds for highlighting.

Thread safety: one thread (the worker) calls ``index_chunk``; any thread may call
``line``, ``line_count``, ``find_record_line`` and ``close`` meanwhile. Every access to
the map holds a lock, held for at most one chunk (about a millisecond a megabyte).

Measured on a 37 MB, 1.04 M line store file (best of 5): ``re.finditer`` on the map with
``pos``/``endpos`` 0.087 s, a ``mmap.find`` loop 0.101 s, ``bytes.split`` + accumulate
0.119 s, ``bytes.find`` loop on copied chunks 0.133 s. So the index uses ``re.finditer``.
"""

from __future__ import annotations

import errno
import json
import mmap
import os
import re
import stat
import threading
from array import array
from bisect import bisect_right
from pathlib import Path

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "LineIndex",
    "TokenKind",
    "record_key_needles",
    "tokenize_json_line",
]

DEFAULT_CHUNK_BYTES = 1 << 20
"""Bytes indexed by one ``index_chunk`` call unless told otherwise (about 1 ms)."""

_SEARCH_WINDOW = 4 << 20  # a record search looks at this much of the map per lock hold
_NEWLINE = re.compile(b"\n")
_match_end = re.Match.end


def record_key_needles(record_id: str) -> list[bytes]:
    """The byte strings a top-level key ``"<id>":`` starts with, in the store's layout.

    The store writes 2-space indented JSON with non-ASCII kept (orjson, or ``json.dumps``
    with ``ensure_ascii=False``); the guide's template may write ``\\uXXXX`` escapes
    (``ensure_ascii=True``). Both spellings are tried; each needle starts with the
    newline before the key, so only a key at the start of a line two spaces in matches
    (a JSON string cannot hold a raw newline, so a value never does).
    """
    needles: list[bytes] = []
    for ensure_ascii in (False, True):
        key = json.dumps(record_id, ensure_ascii=ensure_ascii).encode("utf-8")
        needle = b"\n  " + key + b":"
        if needle not in needles:
            needles.append(needle)
    return needles


class LineIndex:
    """Line start offsets of one file, built incrementally; lines read on demand.

    ``LineIndex(path)`` opens and maps the file (``OSError`` if it cannot: missing,
    a folder, no permission). An empty file has zero lines. A line ends at ``\\n``; a
    trailing ``\\r`` is dropped from the text, a last line without a newline counts.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._closed = False
        # O_NONBLOCK: opening a FIFO must not wait for a writer; a folder opens on
        # Linux, fstat tells what it is.
        fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(path))
            if not stat.S_ISREG(st.st_mode):
                raise OSError(errno.EINVAL, "not a regular file", str(path))
            self._size = st.st_size
            # mmap of a zero-length file fails: such a file simply has no lines.
            self._map: mmap.mmap | None = (
                mmap.mmap(fd, 0, access=mmap.ACCESS_READ) if self._size else None
            )
        finally:
            os.close(fd)
        if self._map is not None:
            self._size = len(self._map)  # the file may have changed since fstat
        self._starts = array("q", [0] if self._size else [])
        self._indexed = 0  # bytes [0, _indexed) are indexed

    # -- state -------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """The file's size in bytes (as mapped)."""
        return self._size

    @property
    def indexed_bytes(self) -> int:
        """How many bytes from the start have been indexed."""
        return self._indexed

    @property
    def done(self) -> bool:
        """True once the whole file is indexed (or the index is closed)."""
        return self._indexed >= self._size or self._closed

    @property
    def progress(self) -> float:
        """Fraction indexed, 0.0 to 1.0 (1.0 for an empty file)."""
        return 1.0 if not self._size else min(self._indexed / self._size, 1.0)

    @property
    def line_count(self) -> int:
        """Lines known so far: complete lines while indexing, every line once done."""
        starts = self._starts
        count = len(starts)
        if not count:
            return 0
        if self._indexed < self._size:
            return count - 1  # the last start begins a line whose end is not known yet
        return count if starts[-1] < self._size else count - 1

    @property
    def closed(self) -> bool:
        return self._closed

    # -- building ----------------------------------------------------------------------

    def index_chunk(self, max_bytes: int = DEFAULT_CHUNK_BYTES) -> bool:
        """Index up to ``max_bytes`` more bytes; returns True when the file is done."""
        with self._lock:
            mm = self._map
            if mm is None or self._closed:
                self._indexed = self._size
                return True
            start = self._indexed
            end = min(start + max(max_bytes, 1), self._size)
            self._starts.extend(map(_match_end, _NEWLINE.finditer(mm, start, end)))
            self._indexed = end
            return end >= self._size

    def index_all(self) -> None:
        """Index the rest of the file in one go (tests, scripts)."""
        while not self.index_chunk(16 << 20):
            pass

    # -- reading -----------------------------------------------------------------------

    def line_start(self, n: int) -> int:
        """The byte offset where line ``n`` starts (``IndexError`` if not known yet)."""
        if n < 0 or n >= self.line_count:
            raise IndexError(f"line {n} is not indexed")
        return self._starts[n]

    def _span(self, n: int) -> tuple[int, int]:
        """Start and end (line ending excluded) of line ``n``; call with the lock held."""
        if n < 0 or n >= self.line_count:
            raise IndexError(f"line {n} is not indexed")
        mm = self._map
        starts = self._starts
        start = starts[n]
        end = starts[n + 1] if n + 1 < len(starts) else self._size
        if mm is None:
            return start, start
        if end > start and mm[end - 1] == 0x0A:
            end -= 1
        if end > start and mm[end - 1] == 0x0D:
            end -= 1
        return start, end

    def line_bytes(self, n: int, max_bytes: int | None = None) -> tuple[bytes, int]:
        """The raw bytes of line ``n`` without its line ending, cut to at most
        ``max_bytes`` at a UTF-8 character boundary, and how many bytes were left out.

        ``IndexError`` if line ``n`` is not (yet) known.
        """
        with self._lock:
            start, end = self._span(n)
            mm = self._map
            if mm is None:
                return b"", 0
            cut = end
            if max_bytes is not None and end - start > max_bytes:
                cut = start + max(max_bytes, 0)
                back = 0  # never split a UTF-8 sequence
                while back < 3 and cut > start and (mm[cut] & 0xC0) == 0x80:
                    cut -= 1
                    back += 1
            return mm[start:cut], end - cut

    def read_line(self, n: int, max_bytes: int | None = None) -> tuple[str, int]:
        """Line ``n`` as text (see ``line``) and the number of bytes left out of it."""
        data, omitted = self.line_bytes(n, max_bytes)
        return data.decode("utf-8", errors="replace"), omitted

    def line(self, n: int, max_bytes: int | None = None) -> str:
        """Line ``n`` (0-based) as text: UTF-8, bad bytes as U+FFFD, no line ending.

        With ``max_bytes`` only that much of a long line is read and decoded.
        ``IndexError`` if line ``n`` is not (yet) known.
        """
        return self.read_line(n, max_bytes)[0]

    def line_of_offset(self, offset: int) -> int:
        """The line holding byte ``offset``, counting newlines past the index if needed."""
        offset = max(0, min(offset, self._size))
        if offset < self._indexed or self.done:
            return max(bisect_right(self._starts, offset) - 1, 0)
        line = len(self._starts) - 1
        pos = self._indexed
        while pos < offset:
            end = min(pos + _SEARCH_WINDOW, offset)
            with self._lock:
                mm = self._map
                if mm is None:
                    break
                line += mm[pos:end].count(b"\n")
            pos = end
        return max(line, 0)

    def find_offset(self, needle: bytes, start: int = 0) -> int:
        """The first offset of ``needle`` at or after ``start``, or -1; searched in
        windows so the lock (and the GIL) is never held for the whole file."""
        size = self._size
        if not needle:
            return -1
        pos = max(start, 0)
        while pos < size:
            end = min(pos + _SEARCH_WINDOW + len(needle) - 1, size)
            with self._lock:
                mm = self._map
                if mm is None:
                    return -1
                found = mm.find(needle, pos, end)
            if found >= 0:
                return found
            pos += _SEARCH_WINDOW
        return -1

    def find_record_offset(self, record_id: str) -> int | None:
        """Byte offset of the line where the top-level key ``"<id>":`` starts."""
        best: int | None = None
        for needle in record_key_needles(record_id):
            found = self.find_offset(needle)
            if found >= 0 and (best is None or found + 1 < best):
                best = found + 1  # the needle starts with the newline before the line
        if best is None and self._map is not None:
            # A compact file: {"<id>": ... on the first line.
            for needle in record_key_needles(record_id):
                head = b"{" + needle[3:]
                if self.find_offset(head) == 0:
                    return 0
        return best

    def find_record_line(self, record_id: str) -> int | None:
        """The line where the top-level key ``"<id>":`` starts, or None if absent.

        Works before the index is complete (it counts newlines up to the match).
        """
        offset = self.find_record_offset(record_id)
        return None if offset is None else self.line_of_offset(offset)

    # -- lifetime ----------------------------------------------------------------------

    def close(self) -> None:
        """Unmap the file; idempotent. Lines read afterwards are empty."""
        with self._lock:
            self._closed = True
            if self._map is not None:
                self._map.close()
                self._map = None

    def __enter__(self) -> LineIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- tokenizing one line of JSON --------------------------------------------------------

TokenKind = str
"""One of "key", "string", "number", "literal", "punct", "space", "other"."""

_STRING = r'"(?:[^"\\]|\\.)*(?:"|\\?$)'
_TOKEN = re.compile(
    rf"(?P<key>{_STRING}(?=\s*:))"
    rf"|(?P<string>{_STRING})"
    r"|(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"
    r"|(?P<literal>\b(?:true|false|null)\b)"
    r"|(?P<punct>[{}\[\],:])"
    r"|(?P<space>\s+)"
    r'|(?P<other>[^\s"{}\[\],:]+|.)',
    re.DOTALL,
)


def tokenize_json_line(text: str) -> list[tuple[TokenKind, str]]:
    """Split one line into ``(kind, text)`` tokens whose texts join back to ``text``.

    Kinds: ``key`` (a string followed by ``:``), ``string``, ``number``, ``literal``
    (true/false/null), ``punct`` (``{}[],:``), ``space``, ``other`` (anything else: the
    tokenizer never fails, an unterminated string runs to the end of the line).
    """
    tokens: list[tuple[TokenKind, str]] = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or "other"
        value = match.group()
        if tokens and tokens[-1][0] == kind and kind in ("other", "space"):
            tokens[-1] = (kind, tokens[-1][1] + value)
        else:
            tokens.append((kind, value))
    return tokens
