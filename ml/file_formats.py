"""The application file formats, read in one way by every reader: whole files, bulk heads and chunks.

Two formats: the original PAKDD one (TAB-separated, no header, latin-1, CRLF) and CSV with a header
row of the schema's column names, comma or TAB separated. Either may be gzip-compressed. This module
owns how a file is recognised (gzip, encoding, format, separator), its header, its decoding, the
structure of its rows (field counts, quoting) and the words of every refusal, so a file gets the same
verdict and the same message from the demo page, a bulk upload, a simulation upload and the loaders.
Values are checked against :mod:`ml.schema` by :func:`ml.data.validate`.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zlib
from dataclasses import dataclass, field, replace
from typing import BinaryIO

import numpy as np
import pandas as pd

from ml import schema

ORIGINAL_FORMAT = "pakdd"
CSV_FORMAT = "csv"
GZIP_MAGIC = b"\x1f\x8b"
SHAPE_SAMPLE = 200  # first rows whose field counts decide whether the separator is wrong
_BINARY_BYTES = (*range(0, 9), 11, *range(14, 32), 127)
_FIRST_LINE = re.compile(r"^ *[^ \n].*$", re.MULTILINE)  # the first line that is not blank

EMPTY = "the file is empty"
HEADER_ONLY = "the file has a header but no applications"


@dataclass(frozen=True)
class RowProblem:
    line: int  # line number in the file, 1-based, header included
    column: str  # "" for a problem of the whole row
    problem: str

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}" if self.column else f"line {self.line}"
        return f"{where}: {self.problem}"


class DataFormatError(ValueError):
    """The file cannot be read as applications; the message says where and why."""

    def __init__(self, message: str, problems: list[RowProblem] | None = None, problem_count: int = 0):
        self.problems = problems or []
        self.problem_count = problem_count or len(self.problems)
        if self.problems:
            shown = "\n".join(f"  {p}" for p in self.problems[:10])
            more = self.problem_count - min(10, len(self.problems))
            message = f"{message}\n{shown}" + (f"\n  ... and {more} more" if more > 0 else "")
        super().__init__(message)


def column_count_problem(expected: int, found: int) -> str:
    return f"expected {expected} columns, found {found}"


# -- gzip ----------------------------------------------------------------------------------------


def is_gzip(data: bytes) -> bool:
    return data[:2] == GZIP_MAGIC


def _corrupt_gzip(reason: str) -> DataFormatError:
    return DataFormatError(f"the gzip file is truncated or corrupt ({reason})")


class GunzipReader(io.RawIOBase):
    """The content of a gzip stream, every member in turn, read as it streams from ``raw``.

    One decompressor for whole files, bulk heads and bulk indexing, so a broken file is refused in the
    same words wherever it is read. Zero padding between members is allowed, as gzip allows it.
    """

    def __init__(self, raw: BinaryIO, piece_bytes: int = 1 << 20):
        self._raw, self._piece_bytes = raw, piece_bytes
        self._input = b""
        self._inflater: zlib._Decompress | None = None  # None between members

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while True:
            if not self._input:
                self._input = self._raw.read(self._piece_bytes)
                if not self._input:
                    if self._inflater is not None:
                        raise _corrupt_gzip("it ends before its end marker")
                    return 0
            if self._inflater is None:
                self._input = self._input.lstrip(b"\x00")
                if not self._input:
                    continue
                self._inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # 16+: gzip header and trailer
            output = self._inflate(len(buffer))
            if output:
                buffer[: len(output)] = output
                return len(output)

    def _inflate(self, size: int) -> bytes:
        assert self._inflater is not None
        try:
            output = self._inflater.decompress(self._input, size)
        except zlib.error as exc:
            raise _corrupt_gzip(str(exc)) from exc
        self._input = self._inflater.unconsumed_tail
        if self._inflater.eof:
            self._input, self._inflater = self._inflater.unused_data, None
        return output


def gunzip(data: bytes, max_size: int | None = None) -> bytes:
    """Every member of a gzip file, stopping as soon as the output passes ``max_size``."""
    reader = io.BufferedReader(GunzipReader(io.BytesIO(data)), 1 << 20)
    output = reader.read() if max_size is None else reader.read(max_size + 1)
    if max_size is not None and len(output) > max_size:
        raise DataFormatError(f"the file is larger than {max_size:,} bytes once decompressed")
    return output


# -- bytes to text -------------------------------------------------------------------------------


def decode(data: bytes, *, max_size: int | None = None) -> str:
    """Text of a file: gzip undone, UTF-8 where it is valid, else Windows-1252, else latin-1 as the original.

    ``max_size`` bounds the bytes after decompression, so a small upload cannot expand into gigabytes.
    Windows-1252 is latin-1 with printable characters in place of control codes 0x80-0x9F; the
    original files hold none of those bytes, so they read the same either way.
    """
    if is_gzip(data):
        data = gunzip(data, max_size)
    elif max_size is not None and len(data) > max_size:
        raise DataFormatError(f"the file is larger than {max_size:,} bytes")
    check_text(data)
    return decode_text(data)


def check_text(data: bytes) -> None:
    """Refuse content that is no text of ours: UTF-16, NUL bytes, binary."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DataFormatError("wrong encoding: the file is UTF-16 (Unicode text); save it as UTF-8 or latin-1 text")
    if b"\x00" in data:
        raise DataFormatError(
            "wrong encoding: the file holds NUL bytes, so it is binary or UTF-16; expected latin-1 or UTF-8 text"
        )
    if _looks_binary(data[:65536]):
        raise DataFormatError("the file is not text (it looks binary); expected latin-1 or UTF-8 text")


def decode_text(data: bytes) -> str:
    """UTF-8 (its byte order mark dropped), else Windows-1252, else latin-1: never refuses.

    A bulk chunk is decoded with this alone: its odd bytes become row problems, not a failed chunk.
    """
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]  # Excel's "CSV UTF-8" starts with one
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _looks_binary(head: bytes) -> bool:
    """More than 1% control bytes other than TAB, line ends and form feed: no text file has that many."""
    controls = sum(head.count(bytes([code])) for code in _BINARY_BYTES)
    return controls > len(head) / 100


# -- layout: format, separator, header -----------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """How a file's lines are to be read: found once from its first line, used for every row."""

    file_format: str  # ORIGINAL_FORMAT or CSV_FORMAT
    separator: str
    names: tuple[str, ...]  # the schema's column names, in the file's order
    compressed: bool = False

    @property
    def header_lines(self) -> int:
        return 1 if self.file_format == CSV_FORMAT else 0

    @property
    def has_label(self) -> bool:
        return schema.LABEL in self.names

    def as_dict(self) -> dict[str, object]:
        return {
            "file_format": self.file_format,
            "separator": self.separator,
            "names": list(self.names),
            "compressed": self.compressed,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Layout:
        return cls(
            str(data["file_format"]),
            str(data["separator"]),
            tuple(data["names"]),  # type: ignore[arg-type]
            bool(data["compressed"]),
        )


def detect_format(first_line: str) -> str:
    first_field = re.split(r"[,\t;]", first_line, maxsplit=1)[0].strip().strip('"').upper()
    return CSV_FORMAT if first_field == schema.ID_COLUMN else ORIGINAL_FORMAT


def layout_of(first_line: str, line: int = 1) -> Layout:
    """The layout the file's first non-blank line (``line``) gives; DataFormatError saying what is wrong."""
    if detect_format(first_line) == CSV_FORMAT:
        separator = "\t" if "\t" in first_line else ","
        if separator == "," and first_line.count(";") > first_line.count(","):
            raise DataFormatError(
                f"line {line} (header): the columns are separated by semicolons; "
                "save the file as CSV with commas, or TAB-separated"
            )
        header = next(csv.reader([first_line], delimiter=separator), [])
        return Layout(CSV_FORMAT, separator, tuple(canonical_header([h.strip().upper() for h in header], line)))
    count = first_line.count("\t") + 1
    n_inputs = len(schema.INPUT_NAMES)
    if count not in (n_inputs, n_inputs + 1):
        raise DataFormatError(
            f"line {line}: expected {n_inputs} TAB-separated columns (or {n_inputs + 1} with the label), "
            f"found {count}{_separator_hint(first_line)}; a CSV file needs a header row starting with "
            f"{schema.ID_COLUMN}"
        )
    return Layout(ORIGINAL_FORMAT, "\t", (*schema.INPUT_NAMES, *([schema.LABEL] if count > n_inputs else [])))


def _separator_hint(line: str) -> str:
    for name, separator in (("semicolons", ";"), ("commas", ",")):
        if line.count(separator) >= len(schema.INPUT_NAMES) - 1:
            return f" (the line seems separated by {name})"
    return ""


def canonical_header(header: list[str], line: int = 1) -> list[str]:
    """The schema's names for a header's (upper-cased) names; DataFormatError naming unknown, missing, repeated."""
    names: list[str] = []
    for name in header:
        if name in schema.LABEL_ALIASES:
            name = schema.LABEL
        elif name == "EDUCATION_LEVEL" and "EDUCATION_LEVEL" in names:
            name = "MATE_EDUCATION_LEVEL"  # the original list names column 44 EDUCATION_LEVEL too
        names.append(name)
    unknown = [n for n in names if n not in schema.COLUMNS_BY_NAME]
    missing = [n for n in schema.INPUT_NAMES if n not in names]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    problems = []
    if unknown:
        problems.append(f"unknown columns: {', '.join(unknown[:10])}" + (" ..." if len(unknown) > 10 else ""))
    if missing:
        problems.append(f"missing columns: {', '.join(missing)}")
    if duplicated:
        problems.append(f"repeated columns: {', '.join(duplicated)}")
    if problems:
        raise DataFormatError(f"line {line} (header): " + "; ".join(problems))
    return names


def check_shape(counts: list[int], lines: list[int], layout: Layout) -> None:
    """Refuse a file most of whose first rows have the wrong number of fields: its separator is wrong.

    A few such rows are row problems (:func:`column_count_problem`); most of them mean the whole file
    is read wrongly.
    """
    sample = np.array(counts[:SHAPE_SAMPLE])
    wrong = np.flatnonzero(sample != len(layout.names))
    if len(wrong) * 2 > len(sample):
        first = int(wrong[0])
        separator = {"\t": "TABs", ",": "commas"}.get(layout.separator, repr(layout.separator))
        raise DataFormatError(
            f"line {lines[first]}: expected {len(layout.names)} columns separated by {separator}, "
            f"found {sample[first]}; most of the first rows have the wrong number of columns"
        )


# -- the rows of a whole text --------------------------------------------------------------------


@dataclass(frozen=True)
class RawTable:
    """Values as stripped strings under the schema's names, with the file line each row starts on.

    Rows with the wrong number of fields are not in ``frame``: each is one of ``problems``.
    """

    frame: pd.DataFrame
    layout: Layout
    lines: np.ndarray
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def file_format(self) -> str:
        return self.layout.file_format


def parse_table(text: str, *, compressed: bool = False) -> RawTable:
    """Structure checked (layout, header, field counts, quoting), values not yet."""
    # One line end from here on (CRLF, LF or a lone CR as old Mac exports), so line numbers are an editor's.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise DataFormatError(EMPTY)
    first = _FIRST_LINE.search(text)
    assert first is not None  # the text is not blank
    layout = replace(layout_of(first.group(), text.count("\n", 0, first.start()) + 1), compressed=compressed)
    if layout.file_format == CSV_FORMAT:
        frame, counts, lines = _csv_rows(text, layout)
    else:
        frame, counts, lines = _original_rows(text, layout)
    if not len(lines):
        raise DataFormatError(HEADER_ONLY)
    check_shape(counts.tolist(), lines.tolist(), layout)
    width = len(layout.names)
    wrong = np.flatnonzero(counts != width)
    problems = [RowProblem(int(lines[i]), "", column_count_problem(width, int(counts[i]))) for i in wrong]
    frame = frame[[n for n in (*schema.INPUT_NAMES, schema.LABEL) if n in frame.columns]]
    frame = frame.apply(lambda s: s.str.strip()) if len(frame) else frame
    return RawTable(frame, layout, lines[counts == width], problems)


def _original_rows(text: str, layout: Layout) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """TAB-separated, no header, no quoting: every non-blank line is one application.

    The rows with the layout's number of fields as a frame; the field count and line of every row.
    """
    all_lines = pd.Series(text.split("\n"), dtype=object)
    rows = all_lines[all_lines.str.strip(" ") != ""]
    counts = (rows.str.count("\t") + 1).to_numpy()
    good = rows[counts == len(layout.names)]
    frame = good.str.split("\t", expand=True).reset_index(drop=True) if len(good) else pd.DataFrame()
    frame.columns = list(layout.names) if len(good) else frame.columns
    return frame, counts, rows.index.to_numpy(dtype=np.int64) + 1


def _csv_rows(text: str, layout: Layout) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """As :func:`_original_rows`, for CSV: the records after the header."""
    records, lines = _csv_records(text, layout.separator)
    records, lines = records[layout.header_lines :], lines[layout.header_lines :]
    counts = np.array([len(record) for record in records], dtype=np.int64)
    width = len(layout.names)
    good = [record for record in records if len(record) == width]
    return pd.DataFrame(good, columns=list(layout.names), dtype=object), counts, np.array(lines, dtype=np.int64)


def _csv_records(text: str, separator: str) -> tuple[list[list[str]], list[int]]:
    """Non-blank records and the line each starts on (a quoted value may span lines)."""
    reader = csv.reader(io.StringIO(text), delimiter=separator, strict=True)
    records: list[list[str]] = []
    lines: list[int] = []
    start = 1
    try:
        for record in reader:
            if any(value.strip() for value in record) or len(record) > 1:
                records.append(record)
                lines.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise DataFormatError(f"line {start}: {_csv_problem(str(exc))}") from exc
    return records, lines


def _csv_problem(message: str) -> str:
    if "field larger than field limit" in message:
        return "a value is longer than 131,072 characters (is a quote left open?)"
    if "unexpected end of data" in message:
        return "a quoted value is never closed"
    if "expected after" in message:
        return "a quote inside a value: quote the whole value and double the quotes inside it"
    return f"not readable as CSV ({message})"
