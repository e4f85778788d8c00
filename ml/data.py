"""Reading application files: the original PAKDD format and CSV with a header, local or on S3.

The original format is TAB-separated with no header, latin-1, CRLF line ends, and ``NULL`` or a
single blank for a missing value. A CSV file carries a header row with the schema's column names.
Either may be gzip-compressed. Every value is checked against :mod:`ml.schema`; a problem is
reported with its line number, column and reason, never as a traceback.
"""

from __future__ import annotations

import codecs
import csv
import gzip
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


def decode(data: bytes) -> str:
    """Text of a file: gzip undone, UTF-8 where it is valid, otherwise latin-1 as the original."""
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as exc:
            raise DataFormatError(f"the gzip file is truncated or corrupt ({exc})") from exc
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE)) or b"\x00" in data[:4096]:
        raise DataFormatError("wrong encoding: the file looks like UTF-16 or binary; expected latin-1 or UTF-8 text")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


# -- parsing -------------------------------------------------------------------------------------


def detect_format(first_line: str) -> str:
    first_field = re.split(r"[,\t;]", first_line, maxsplit=1)[0].strip().strip('"').upper()
    return CSV_FORMAT if first_field == schema.ID_COLUMN else ORIGINAL_FORMAT


def parse_text(text: str) -> tuple[pd.DataFrame, str]:
    """All values as stripped strings under the schema's names; structure checked, values not yet."""
    if not text.strip():
        raise DataFormatError("the file is empty")
    first_line = text.split("\n", 1)[0]
    file_format = detect_format(first_line)
    if file_format == CSV_FORMAT:
        frame = _parse_csv(text, first_line)
    else:
        frame = _parse_original(text)
    if frame.empty:
        raise DataFormatError("the file has a header but no applications")
    return frame.apply(lambda s: s.str.strip()), file_format


def _read_table(text: str, **options: Any) -> pd.DataFrame:
    try:
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False, **options)
    except pd.errors.ParserError as exc:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if found:
            expected, line, saw = found.groups()
            raise DataFormatError(f"line {line}: expected {expected} columns, found {saw}") from exc
        raise DataFormatError(f"the file is not a readable table: {exc}") from exc


def _parse_original(text: str) -> pd.DataFrame:
    first = text.split("\n", 1)[0].rstrip("\r").split("\t")
    n_inputs = len(schema.INPUT_NAMES)
    if len(first) not in (n_inputs, n_inputs + 1):
        raise DataFormatError(
            f"line 1: expected {n_inputs} TAB-separated columns (or {n_inputs + 1} with the label), "
            f"found {len(first)}; a CSV file needs a header row starting with {schema.ID_COLUMN}"
        )
    names = list(schema.INPUT_NAMES) + ([schema.LABEL] if len(first) > n_inputs else [])
    _check_field_counts(text, "\t", len(names))
    frame = _read_table(text, sep="\t", header=None, quoting=csv.QUOTE_NONE)
    frame.columns = names
    return frame


def _parse_csv(text: str, first_line: str) -> pd.DataFrame:
    sep = "\t" if "\t" in first_line else ","
    header = [h.strip().strip('"').upper() for h in next(csv.reader([first_line], delimiter=sep))]
    names = _canonical_header(header)
    _check_field_counts(text, sep, len(names))
    frame = _read_table(text, sep=sep, header=0)
    frame.columns = names
    return frame[[n for n in (*schema.INPUT_NAMES, schema.LABEL) if n in frame.columns]]


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


def _check_field_counts(text: str, sep: str, expected: int) -> None:
    """Every non-blank line must hold ``expected`` fields: pandas would pad a short one silently."""
    if '"' in text and sep == ",":
        reader = csv.reader(io.StringIO(text), delimiter=sep)
        for row in reader:
            if row and len(row) != expected:
                raise DataFormatError(f"line {reader.line_num}: expected {expected} columns, found {len(row)}")
        return
    lines = pd.Series(text.splitlines())
    counts = (lines.str.count(sep) + 1).where(lines.str.strip() != "", expected).to_numpy()
    wrong = np.flatnonzero(counts != expected)
    if len(wrong):
        raise DataFormatError(f"line {wrong[0] + 1}: expected {expected} columns, found {counts[wrong[0]]}")


# -- validation ----------------------------------------------------------------------------------


def validate(
    raw: pd.DataFrame, *, header_lines: int = 0, max_problems: int | None = MAX_PROBLEMS_KEPT
) -> tuple[pd.DataFrame, list[RowProblem], np.ndarray]:
    """Typed values of ``raw`` (strings) and the problems found, with the positions of bad rows.

    Numeric columns become float (NaN for missing); codes and text stay strings (None for missing).
    Only the first ``max_problems`` problems are listed (None: all of them).
    """
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
                problems.append(RowProblem(int(pos) + 1 + header_lines, name, reasons[pos]))
    frame = pd.DataFrame(typed, index=raw.index)
    if schema.LABEL in frame.columns:
        frame[schema.LABEL] = frame[schema.LABEL].where(~bad, "0").astype(int)
    problems.sort(key=lambda p: p.line)
    return frame, problems, bad


def _check_column(strings: pd.Series, column: Column) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    missing = strings.isin(schema.MISSING_TOKENS + column.missing_tokens).to_numpy()
    reasons = np.full(len(strings), "", dtype=object)
    invalid = np.zeros(len(strings), dtype=bool)

    def flag(mask: np.ndarray, reason: Any) -> None:
        mask = mask & ~invalid
        invalid[mask] = True
        reasons[mask] = reason[mask] if isinstance(reason, np.ndarray) else reason

    quoted = strings.map(repr).to_numpy(dtype=object)
    if not column.nullable:
        flag(missing, "a value is required")
    if column.is_numeric:
        numbers = pd.to_numeric(strings.where(~missing), errors="coerce").to_numpy(dtype=float)
        flag(~missing & np.isnan(numbers), quoted + " is not a number")
        flag(~missing & np.isinf(numbers), quoted + " is not a finite number")
        with np.errstate(invalid="ignore"):
            if column.kind is Kind.INTEGER:
                flag(~missing & (numbers != np.round(numbers)), quoted + " is not a whole number")
            below = numbers < column.minimum if column.minimum is not None else np.zeros(len(numbers), bool)
            above = numbers > column.maximum if column.maximum is not None else np.zeros(len(numbers), bool)
        flag(below | above, quoted + f" is outside {column.minimum:g} to {column.maximum:g}")
        values = pd.Series(np.where(invalid | missing, np.nan, numbers), index=strings.index, dtype=float)
    else:
        if column.allowed:
            flag(~missing & ~strings.isin(column.allowed).to_numpy(),
                 quoted + f" is not an allowed value ({', '.join(column.allowed)})")  # fmt: skip
        values = strings.astype(object).where(~(missing | invalid), None)
    return values, invalid, reasons


# -- loading -------------------------------------------------------------------------------------


def parse_applications(text: str, *, require_label: bool = False, strict: bool = True) -> Applications:
    """Applications in ``text``; with ``strict``, any bad value rejects the whole file."""
    raw, file_format = parse_text(text)
    if require_label and schema.LABEL not in raw.columns:
        raise DataFormatError(f"the file has no label column ({schema.LABEL_ALIASES[0]})")
    header_lines = 1 if file_format == CSV_FORMAT else 0
    frame, problems, bad = validate(raw, header_lines=header_lines)
    bad_count = int(bad.sum())
    if strict and bad_count:
        raise DataFormatError(f"{bad_count} of {len(raw)} rows have invalid values", problems, bad_count)
    bad_lines = np.flatnonzero(bad) + 1 + header_lines
    return Applications(frame[~bad], problems, bad_count, len(raw), file_format, bad_lines)


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
            series = series.map(lambda v: "NULL" if pd.isna(v) else f"{float(v):g}")
        else:
            series = series.map(lambda v: " " if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
        out[name] = series
    return out.to_csv(sep="\t", header=False, index=False, lineterminator="\r\n", quoting=csv.QUOTE_NONE)


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
