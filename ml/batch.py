"""Large files in pieces: inspect a file's head once, index its lines, parse and score chunks of lines.

A bulk job never holds a whole file in memory. :func:`inspect_head` reads the first few hundred
kilobytes as :mod:`ml.file_formats` reads any file (encoding, format, separator, header, the shape of
the first rows), so a wrong file is refused at once and in the words every reader uses. :func:`index_lines` streams the file (gzip undone on the way, within
:class:`IndexLimits`) and records where every chunk of ``chunk_rows`` rows starts. :func:`parse_chunk`
turns one chunk's text into typed applications and a list of row problems: a bad row never fails
the chunk.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np
import pandas as pd

from ml.data import validate
from ml.file_formats import (
    EMPTY,
    HEADER_ONLY,
    DataFormatError,
    GunzipReader,
    Layout,
    RowProblem,
    check_text,
    column_count_problem,
    decode_text,
    is_gzip,
    parse_table,
)

HEAD_BYTES = 256 * 1024  # enough for a header and a few hundred rows
_READ_BYTES = 1 << 20


# -- the head ----------------------------------------------------------------------------------------


def read_head(path: Path, size: int = HEAD_BYTES) -> tuple[bytes, bool]:
    """Up to ``size`` bytes of the file's content (decompressed when it is gzip) and whether it was."""
    with path.open("rb") as raw:
        compressed = is_gzip(raw.read(2))
        raw.seek(0)
        if not compressed:
            return raw.read(size), False
        return io.BufferedReader(GunzipReader(raw)).read(size), True


def inspect_head(head: bytes, *, compressed: bool = False, complete: bool | None = None) -> Layout:
    """The layout of a file from its first bytes; DataFormatError saying what is wrong otherwise.

    The head is read as a whole file is (:func:`ml.file_formats.parse_table`): whatever the head
    holds, it is refused here when, and in the words that, a whole-file reader refuses it. (A
    quoting error beyond the head is a row problem of its chunk instead.) Unless ``complete`` (by
    default: the head is shorter than ``HEAD_BYTES``), the head may end inside a line, which is left out.
    """
    check_text(head)
    text = decode_text(head)
    if not (len(head) < HEAD_BYTES if complete is None else complete):
        text = text[: text.rfind("\n") + 1] or text
    return replace(parse_table(text).layout, compressed=compressed)


def _field_count(line: str, layout: Layout) -> int:
    if layout.separator == "," and '"' in line:
        return len(next(csv.reader([line]), []))
    return line.count(layout.separator) + 1


# -- indexing the lines ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChunkSpan:
    """Lines ``first_line`` .. ``first_line + line_count - 1`` (1-based, header counted), at these bytes."""

    index: int
    first_line: int
    line_count: int
    byte_start: int
    byte_end: int


@dataclass
class LineIndex:
    rows: int = 0  # non-blank lines after the header
    chunks: list[ChunkSpan] = field(default_factory=list)
    sha256: str = ""  # of the file as uploaded (compressed bytes for a gzip file)


@dataclass(frozen=True)
class IndexLimits:
    """Bounds of one job's file, checked as it streams: the job fails on the first byte or row over."""

    max_bytes: int | None = None  # of the content, after gzip is undone
    max_rows: int | None = None  # applications (blank lines are not rows)

    def too_many_bytes(self, compressed: bool) -> DataFormatError:
        what = "once decompressed" if compressed else "of text"
        return DataFormatError(
            f"the file is larger than the limit of {self.max_bytes:,} bytes {what} "
            f"({(self.max_bytes or 0) / 1024**2:,.0f} MiB); split it into smaller files"
        )

    def too_many_rows(self) -> DataFormatError:
        return DataFormatError(
            f"the file has more than {self.max_rows:,} applications, the limit of one job; split it into smaller files"
        )


# A run of blank lines at least this long ends a chunk: no chunk ever reads it (blank lines are not rows).
BLANK_RUN_BYTES = 1 << 20
# How often, in bytes of content, an index pass calls its ``check`` (to notice a cancellation).
CHECK_BYTES = 1 << 20


class _HashingReader(io.RawIOBase):
    """Reads through ``raw`` while hashing every byte, so one pass gives both content and checksum."""

    def __init__(self, raw: BinaryIO):
        self.raw, self.digest = raw, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.raw.read(len(buffer))
        self.digest.update(data)
        buffer[: len(data)] = data
        return len(data)


def index_lines(
    source: Path,
    layout: Layout,
    chunk_rows: int | Callable[[int], int],
    plain_copy: Path | None = None,
    *,
    limits: IndexLimits | None = None,
    check: Callable[[int], None] | None = None,
) -> LineIndex:
    """One streaming pass: the checksum, the number of rows and the byte span of every chunk.

    ``chunk_rows`` is the rows a chunk, or a function of the file's number of rows that gives
    it (so chunks can be sized once the file is counted). For a gzip file the decompressed text
    goes to ``plain_copy`` (chunks are read from it by offset); otherwise the spans point into
    ``source`` itself. Blank lines are not rows: they are not counted, and a long run of them
    lies between two chunks, never inside one. Past a bound of ``limits``, DataFormatError saying
    which; ``check`` is called with the bytes read so far every ``CHECK_BYTES`` (it may raise to stop).
    """
    index = LineIndex()
    with source.open("rb") as raw:
        hashing = _HashingReader(raw)
        stream: BinaryIO = io.BufferedReader(hashing, _READ_BYTES)
        if layout.compressed:
            stream = io.BufferedReader(GunzipReader(stream, _READ_BYTES), _READ_BYTES)
        with plain_copy.open("wb") if plain_copy else _NoCopy() as copy:
            rows = _rows(stream, copy, layout, limits or IndexLimits(), check)
        while hashing.read(_READ_BYTES):  # anything gzip left unread still counts in the checksum
            pass
    index.sha256 = hashing.digest.hexdigest()
    index.rows = len(rows.starts)
    if index.rows == 0:
        raise DataFormatError(HEADER_ONLY if layout.header_lines else EMPTY)
    size = chunk_rows(index.rows) if callable(chunk_rows) else chunk_rows
    index.chunks = rows.spans(max(size, 1))
    return index


class _Writer(Protocol):
    def write(self, data: bytes, /) -> int: ...


class _NoCopy:
    def __enter__(self) -> _NoCopy:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def write(self, data: bytes) -> int:
        return len(data)


@dataclass
class _Rows:
    """Where each row (non-blank line after the header) starts, its line number, and where long
    runs of blank lines fall: ``breaks`` maps a row to the end of the row before it."""

    starts: array = field(default_factory=lambda: array("q"))
    numbers: array = field(default_factory=lambda: array("q"))
    breaks: dict[int, int] = field(default_factory=dict)
    end: int = 0  # of the last row

    def spans(self, size: int) -> list[ChunkSpan]:
        """Chunks of ``size`` rows, cut also at every long blank run; each spans its rows' bytes only."""
        count, spans = len(self.starts), list[ChunkSpan]()
        cuts = [0, *sorted(self.breaks), count]
        for begin, stop in zip(cuts, cuts[1:], strict=False):
            for first in range(begin, stop, size):
                last = min(first + size, stop)
                if last < stop:
                    byte_end, line_end = self.starts[last], self.numbers[last]
                else:
                    byte_end = self.breaks[stop] if stop < count else self.end
                    line_end = self.numbers[stop - 1] + 1
                spans.append(
                    ChunkSpan(
                        len(spans), self.numbers[first], line_end - self.numbers[first], self.starts[first], byte_end
                    )
                )
        return spans


# A row: a line (from its start, ``^``) with something other than blanks on it. Searching for these skips
# blank lines at the speed of the regular expression engine, not one Python step a line (100 MB of blank
# lines took minutes that way).
_ROW = re.compile(rb"^[^\S\n]*+\S[^\n]*+\n?", re.MULTILINE)


def _rows(
    stream: BinaryIO, copy: _Writer, layout: Layout, limits: IndexLimits, check: Callable[[int], None] | None
) -> _Rows:
    rows = _Rows()
    max_bytes, max_rows = limits.max_bytes or math.inf, limits.max_rows or math.inf
    carry, base, line, header, next_check = bytearray(), 0, 1, layout.header_lines, CHECK_BYTES
    while True:
        block = stream.read(_READ_BYTES)
        position = base + len(carry) + len(block)
        if position > max_bytes:
            raise limits.too_many_bytes(layout.compressed)
        if check is not None and position >= next_check:
            check(position)
            next_check = position + CHECK_BYTES
        copy.write(block)
        if block and b"\n" not in block:  # in the middle of a long line: kept, copied once when it ends
            carry += block
            continue
        data = carry + block
        complete = data.rfind(b"\n") + 1 if block else len(data)  # whole lines only, until the end
        scan = 0
        if header and complete:
            scan = data.find(b"\n", 0, complete) + 1 or complete
            line, header = line + 1, 0
        for match in _ROW.finditer(data, scan, complete):
            line += data.count(b"\n", scan, match.start())
            start, scan = base + match.start(), match.end()
            if start - rows.end >= BLANK_RUN_BYTES and rows.starts:
                rows.breaks[len(rows.starts)] = rows.end
            rows.starts.append(start)
            rows.numbers.append(line)
            rows.end = base + scan
            line += data[scan - 1] == 10  # the row's own newline (10 is "\n")
            if len(rows.starts) > max_rows:
                raise limits.too_many_rows()
        line += data.count(b"\n", scan, complete)
        carry, base = data[complete:], base + complete
        if not block:
            return rows


def read_span(path: Path, span: ChunkSpan) -> str:
    with path.open("rb") as handle:
        handle.seek(span.byte_start)
        return decode_text(handle.read(span.byte_end - span.byte_start))


# -- parsing one chunk -------------------------------------------------------------------------------


@dataclass
class ParsedChunk:
    frame: pd.DataFrame  # typed, valid rows only
    lines: np.ndarray  # the file line number of each row of ``frame``
    problems: list[RowProblem]  # one per bad row at least, in line order
    rows: int  # non-blank lines in the chunk


def parse_chunk(text: str, first_line: int, layout: Layout) -> ParsedChunk:
    """The chunk's valid applications and a problem for each bad line; never raises for a bad row."""
    lines = np.array(text.splitlines(), dtype=object)
    numbers = np.arange(first_line, first_line + len(lines))
    keep = np.array([bool(line.strip()) for line in lines], dtype=bool)
    lines, numbers = lines[keep], numbers[keep]
    raw, shape_ok = _split_fields(lines, layout)
    problems = [
        RowProblem(int(n), "", column_count_problem(len(layout.names), count))
        for n, count in zip(numbers[~shape_ok], _counts(lines[~shape_ok], layout), strict=True)
    ]
    typed, found, bad = validate(raw, header_lines=0, max_problems=None)
    good_numbers = numbers[shape_ok]
    problems += [RowProblem(int(good_numbers[p.line - 1]), p.column, p.problem) for p in found]
    problems.sort(key=lambda p: p.line)
    frame = typed[~bad].reset_index(drop=True)
    return ParsedChunk(frame, good_numbers[~bad], problems, len(lines))


def _counts(lines: np.ndarray, layout: Layout) -> list[int]:
    return [_field_count(str(line), layout) for line in lines]


def _split_fields(lines: np.ndarray, layout: Layout) -> tuple[pd.DataFrame, np.ndarray]:
    """Fields of the lines with the right number of them, as stripped strings; and which lines those are.

    Plain ``str.split`` and ``str.strip`` over one flat list: the same as pandas' string methods
    column by column, at a fraction of their cost (they dominated a chunk's parsing).
    """
    width = len(layout.names)
    if layout.separator == "," and any('"' in line for line in lines):
        rows = [next(csv.reader([line]), []) for line in lines]
    else:
        rows = [line.split(layout.separator) for line in lines]
    ok = np.fromiter((len(row) == width for row in rows), dtype=bool, count=len(rows))
    fields = [field.strip() for row, good in zip(rows, ok, strict=True) if good for field in row]
    table = np.array(fields, dtype=object).reshape(-1, width)
    return pd.DataFrame(table, columns=list(layout.names), dtype=object), ok
