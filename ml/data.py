"""Reading application files: the original PAKDD format and CSV with a header, local or on S3.

The original format is TAB-separated with no header, latin-1, CRLF line ends, and ``NULL`` or a
single blank for a missing value. A CSV file carries a header row with the schema's column names.
Either may be gzip-compressed. Every value is checked against :mod:`ml.schema`; a problem is
reported with its line number, column and reason, never as a traceback.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml import schema
from ml.schema import Column, Kind

ORIGINAL_FORMAT = "pakdd"
CSV_FORMAT = "csv"
MAX_PROBLEMS_KEPT = 1000
_GZIP_MAGIC = b"\x1f\x8b"
_BINARY_BYTES = (*range(0, 9), 11, *range(14, 32), 127)
_CONTROL = re.compile(schema.CONTROL_CHARACTERS)


@dataclass(frozen=True)
class RowProblem:
    line: int  # line number in the file, 1-based, header included
    column: str
    problem: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.problem}"


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


@dataclass
class Applications:
    """Validated applications: typed rows that passed, and the problems of those that did not."""

    frame: pd.DataFrame
    problems: list[RowProblem] = field(default_factory=list)
    problem_count: int = 0
    rows_read: int = 0
    file_format: str = ORIGINAL_FORMAT
    bad_lines: np.ndarray = field(default_factory=lambda: np.array([], dtype=np.int64))

    @property
    def has_label(self) -> bool:
        return schema.LABEL in self.frame.columns


# -- sources -------------------------------------------------------------------------------------


def read_bytes(uri: str | os.PathLike[str]) -> bytes:
    """The raw bytes at a local path or an ``s3://bucket/key`` address."""
    text = os.fspath(uri)
    if text.startswith("s3://"):
        return _read_s3(text)
    path = Path(text)
    if not path.is_file():
        raise DataFormatError(f"no such file: {path}")
    return path.read_bytes()


def join_uri(base: str, name: str) -> str:
    """``name`` inside the data location ``base`` (a folder or an ``s3://bucket/prefix``)."""
    if base.startswith("s3://"):
        return base.rstrip("/") + "/" + name
    return str(Path(base) / name)


def iter_bytes(uri: str | os.PathLike[str], piece_bytes: int = 1 << 20) -> Iterator[bytes]:
    """The bytes at a local path or ``s3://bucket/key``, in pieces: a large file never sits in memory."""
    text = os.fspath(uri)
    if text.startswith("s3://"):
        with _s3_errors(text):
            body = _s3_object(text)["Body"]
            yield from body.iter_chunks(piece_bytes)
        return
    path = Path(text)
    if not path.is_file():
        raise DataFormatError(f"no such file: {path}")
    with path.open("rb") as handle:
        while piece := handle.read(piece_bytes):
            yield piece


def _read_s3(uri: str) -> bytes:
    with _s3_errors(uri):
        return _s3_object(uri)["Body"].read()


def _s3_object(uri: str) -> Any:
    import boto3  # imported here: only S3 users pay for it

    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket or not key:
        raise DataFormatError(f"an S3 address needs a bucket and a key: {uri}")
    # Credentials and AWS_ENDPOINT_URL come from the environment, as boto3 reads them.
    return boto3.client("s3").get_object(Bucket=bucket, Key=key)


@contextmanager
def _s3_errors(uri: str) -> Iterator[None]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        raise DataFormatError(f"cannot read {uri}: {exc.response['Error'].get('Message', exc)}") from exc
    except BotoCoreError as exc:
        raise DataFormatError(f"cannot read {uri}: {exc}") from exc


def decode(data: bytes, *, max_size: int | None = None) -> str:
    """Text of a file: gzip undone, UTF-8 where it is valid, else Windows-1252, else latin-1 as the original.

    ``max_size`` bounds the bytes after decompression, so a small upload cannot expand into gigabytes.
    Windows-1252 is latin-1 with printable characters in place of control codes 0x80-0x9F; the
    original files hold none of those bytes, so they read the same either way.
    """
    if data[:2] == _GZIP_MAGIC:
        data = _gunzip(data, max_size)
    elif max_size is not None and len(data) > max_size:
        raise DataFormatError(f"the file is larger than {max_size:,} bytes")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DataFormatError("wrong encoding: the file is UTF-16 (Unicode text); save it as UTF-8 or latin-1 text")
    if b"\x00" in data:
        raise DataFormatError(
            "wrong encoding: the file holds NUL bytes, so it is binary or UTF-16; expected latin-1 or UTF-8 text"
        )
    if _looks_binary(data[:65536]):
        raise DataFormatError("the file is not text (it looks binary); expected latin-1 or UTF-8 text")
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


def _gunzip(data: bytes, max_size: int | None) -> bytes:
    """Every member of a gzip file, stopping as soon as the output passes ``max_size``."""
    output = bytearray()
    while data:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # 16+: gzip header and trailer
        try:
            limit = 0 if max_size is None else max_size + 1 - len(output)
            output += inflater.decompress(data, limit)
        except zlib.error as exc:
            raise DataFormatError(f"the gzip file is truncated or corrupt ({exc})") from exc
        if max_size is not None and len(output) > max_size:
            raise DataFormatError(f"the file is larger than {max_size:,} bytes once decompressed")
        if not inflater.eof:
            raise DataFormatError("the gzip file is truncated or corrupt (it ends before its end marker)")
        data = inflater.unused_data.lstrip(b"\x00")  # gzip allows zero padding after a member
    return bytes(output)


# -- parsing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RawTable:
    """Values as stripped strings under the schema's names, with the file line each row starts on."""

    frame: pd.DataFrame
    file_format: str
    lines: np.ndarray


def detect_format(first_line: str) -> str:
    first_field = re.split(r"[,\t;]", first_line, maxsplit=1)[0].strip().strip('"').upper()
    return CSV_FORMAT if first_field == schema.ID_COLUMN else ORIGINAL_FORMAT


def parse_table(text: str) -> RawTable:
    """Structure checked (columns, field counts, quoting), values not yet."""
    # One line end from here on (CRLF, LF or a lone CR as old Mac exports), so line numbers are an editor's.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise DataFormatError("the file is empty")
    first_line = text.split("\n", 1)[0]
    file_format = detect_format(first_line)
    rows, lines = _parse_csv(text, first_line) if file_format == CSV_FORMAT else _parse_original(text)
    if rows.empty:
        raise DataFormatError("the file has a header but no applications")
    return RawTable(rows.apply(lambda s: s.str.strip()), file_format, lines)


def parse_text(text: str) -> tuple[pd.DataFrame, str]:
    """All values as stripped strings under the schema's names; structure checked, values not yet."""
    table = parse_table(text)
    return table.frame, table.file_format


def _parse_original(text: str) -> tuple[pd.DataFrame, np.ndarray]:
    """TAB-separated, no header, no quoting: every non-blank line is one application."""
    all_lines = pd.Series(text.split("\n"), dtype=object)
    rows = all_lines[all_lines.str.strip(" ") != ""]
    counts = (rows.str.count("\t") + 1).to_numpy()
    n_inputs = len(schema.INPUT_NAMES)
    if counts[0] not in (n_inputs, n_inputs + 1):
        raise DataFormatError(
            f"line {rows.index[0] + 1}: expected {n_inputs} TAB-separated columns (or {n_inputs + 1} with the label), "
            f"found {counts[0]}{_separator_hint(rows.iloc[0])}; a CSV file needs a header row starting with "
            f"{schema.ID_COLUMN}"
        )
    names = list(schema.INPUT_NAMES) + ([schema.LABEL] if counts[0] > n_inputs else [])
    wrong = np.flatnonzero(counts != len(names))
    if len(wrong):
        raise DataFormatError(
            f"line {rows.index[wrong[0]] + 1}: expected {len(names)} columns, found {counts[wrong[0]]}"
        )
    frame = rows.str.split("\t", expand=True).reset_index(drop=True)
    frame.columns = names
    return frame, rows.index.to_numpy() + 1


def _separator_hint(line: str) -> str:
    for name, separator in (("semicolons", ";"), ("commas", ",")):
        if line.count(separator) >= len(schema.INPUT_NAMES) - 1:
            return f" (the line seems separated by {name})"
    return ""


def _parse_csv(text: str, first_line: str) -> tuple[pd.DataFrame, np.ndarray]:
    """CSV with a header row, comma or TAB separated, quoted as spreadsheets write it."""
    separator = "\t" if "\t" in first_line else ","
    if separator == "," and first_line.count(";") > first_line.count(","):
        raise DataFormatError(
            "line 1 (header): the columns are separated by semicolons; "
            "save the file as CSV with commas, or TAB-separated"
        )
    records, lines = _csv_records(text, separator)
    names = _canonical_header([h.strip().upper() for h in records[0]])
    wrong = next((i for i, record in enumerate(records) if len(record) != len(names)), None)
    if wrong is not None:
        raise DataFormatError(f"line {lines[wrong]}: expected {len(names)} columns, found {len(records[wrong])}")
    frame = pd.DataFrame(records[1:], columns=names, dtype=object)
    frame = frame[[n for n in (*schema.INPUT_NAMES, schema.LABEL) if n in frame.columns]]
    return frame, np.array(lines[1:], dtype=np.int64)


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


def _canonical_header(header: list[str]) -> list[str]:
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
        raise DataFormatError("line 1 (header): " + "; ".join(problems))
    return names


# -- validation ----------------------------------------------------------------------------------


def validate(
    raw: pd.DataFrame,
    *,
    header_lines: int = 0,
    lines: np.ndarray | None = None,
    max_problems: int | None = MAX_PROBLEMS_KEPT,
) -> tuple[pd.DataFrame, list[RowProblem], np.ndarray]:
    """Typed values of ``raw`` (strings) and the problems found, with the positions of bad rows.

    Numeric columns become float (NaN for missing); codes and text stay strings (None for missing).
    Problems name ``lines[i]`` for row ``i`` (the file's line numbers), or else ``i + 1 + header_lines``.
    Only the first ``max_problems`` problems are listed (None: all of them).
    """
    if lines is None:
        lines = np.arange(len(raw)) + 1 + header_lines
    typed: dict[str, pd.Series] = {}
    bad = np.zeros(len(raw), dtype=bool)
    problems: list[RowProblem] = []
    for name in raw.columns:
        column = schema.COLUMNS_BY_NAME[name]
        values, invalid, reasons = _check_column(raw[name], column)
        typed[name] = values
        if invalid.any():
            bad |= invalid
            room = None if max_problems is None else max(max_problems - len(problems), 0)
            for pos in np.flatnonzero(invalid)[:room]:
                problems.append(RowProblem(int(lines[pos]), name, reasons[pos]))
    frame = pd.DataFrame(typed, index=raw.index)
    if schema.LABEL in frame.columns:
        frame[schema.LABEL] = frame[schema.LABEL].where(~bad, "0").astype(int)
    problems.sort(key=lambda p: p.line)
    return frame, problems, bad


def _check_column(strings: pd.Series, column: Column) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    missing = strings.isin(schema.MISSING_TOKENS + column.missing_tokens).to_numpy()
    texts = strings.to_numpy(dtype=object)
    reasons = np.full(len(strings), "", dtype=object)
    invalid = np.zeros(len(strings), dtype=bool)

    def flag(mask: np.ndarray, problem: str, *, quote: bool = True) -> None:
        mask = mask & ~invalid
        invalid[mask] = True
        # Quoting only the invalid cells: a repr of every cell of a large file costs seconds.
        reasons[mask] = [f"{_shown(text)} {problem}" for text in texts[mask]] if quote else problem

    if not column.nullable:
        flag(missing, "a value is required", quote=False)
    if column.is_numeric:
        numbers = pd.to_numeric(strings.where(~missing), errors="coerce").to_numpy(dtype=float)
        flag(~missing & np.isnan(numbers), "is not a number")
        flag(~missing & np.isinf(numbers), "is not a finite number")
        with np.errstate(invalid="ignore"):
            if column.kind is Kind.INTEGER:
                flag(~missing & (numbers != np.round(numbers)), "is not a whole number")
            below = numbers < column.minimum if column.minimum is not None else np.zeros(len(numbers), bool)
            above = numbers > column.maximum if column.maximum is not None else np.zeros(len(numbers), bool)
        flag(below | above, f"is outside {column.minimum:g} to {column.maximum:g}")
        values = pd.Series(np.where(invalid | missing, np.nan, numbers), index=strings.index, dtype=float)
    else:
        if column.allowed:
            flag(
                ~missing & ~strings.isin(column.allowed).to_numpy(),
                f"is not an allowed value ({', '.join(column.allowed)})",
            )
        if column.kind is Kind.TEXT:
            if _CONTROL.search("".join(texts)):  # one search of the column first: almost always clean
                flag(
                    strings.str.contains(_CONTROL).to_numpy(dtype=bool),
                    "holds a line break or another control character",
                )
            flag(
                (strings.str.len() > schema.TEXT_MAX_LENGTH).to_numpy(),
                f"is longer than {schema.TEXT_MAX_LENGTH} characters",
            )
        values = strings.astype(object).where(~(missing | invalid), None)
    return values, invalid, reasons


def _shown(value: str) -> str:
    """The value as a message quotes it: repr shows hidden characters; a long value is cut."""
    return repr(value) if len(value) <= 40 else repr(value[:37]) + "..."


# -- loading -------------------------------------------------------------------------------------


def parse_applications(text: str, *, require_label: bool = False, strict: bool = True) -> Applications:
    """Applications in ``text``; with ``strict``, any bad value rejects the whole file."""
    table = parse_table(text)
    raw = table.frame
    if require_label and schema.LABEL not in raw.columns:
        raise DataFormatError(f"the file has no label column ({schema.LABEL_ALIASES[0]})")
    frame, problems, bad = validate(raw, lines=table.lines)
    bad_count = int(bad.sum())
    if strict and bad_count:
        raise DataFormatError(f"{bad_count} of {len(raw)} rows have invalid values", problems, bad_count)
    return Applications(frame[~bad], problems, bad_count, len(raw), table.file_format, table.lines[bad])


def load_applications(uri: str | os.PathLike[str], *, require_label: bool = False, strict: bool = True) -> Applications:
    """Read, decode, parse and validate the file at a local path or ``s3://`` address."""
    return parse_applications(decode(read_bytes(uri)), require_label=require_label, strict=strict)


def to_original_format(frame: pd.DataFrame) -> str:
    """``frame`` (typed or raw) written back in the original TAB format: used by tests and samples."""
    names = [n for n in (*schema.INPUT_NAMES, schema.LABEL) if n in frame.columns]
    out = frame[names].copy()
    for name in names:
        column = schema.COLUMNS_BY_NAME[name]
        series = out[name]
        if column.kind is Kind.INTEGER or name == schema.LABEL:
            series = series.map(lambda v: "NULL" if pd.isna(v) else str(int(float(v))))
        elif column.kind is Kind.DECIMAL:
            # repr: the shortest text that reads back as the same float ("%g" would round 1234567.5 to 1.23457e+06)
            series = series.map(lambda v: "NULL" if pd.isna(v) else _decimal_text(float(v)))
        else:
            series = series.map(lambda v: " " if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
        out[name] = series
    return out.to_csv(sep="\t", header=False, index=False, lineterminator="\r\n", quoting=csv.QUOTE_NONE)


def _decimal_text(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def frame_from_records(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Typed frame, as :func:`load_applications` gives, from already validated values by column name.

    Absent columns are missing. Used to score applicants that arrive one by one (API, demo page).
    """
    data: dict[str, Any] = {}
    for column in schema.INPUT_COLUMNS:
        values = [record.get(column.name) for record in records]
        if column.is_numeric:
            data[column.name] = pd.Series([np.nan if v is None or v == "" else float(v) for v in values], dtype=float)
        else:
            data[column.name] = pd.Series([None if v is None or v == "" else str(v) for v in values], dtype=object)
    return pd.DataFrame(data)


def records_from_frame(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of a typed frame as JSON values: None for missing, whole numbers as int.

    The inverse of :func:`frame_from_records`; what an API client would send for each row.
    """
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    for record in records:
        for name, value in record.items():
            if isinstance(value, float) and value.is_integer():
                record[name] = int(value)
    return records
