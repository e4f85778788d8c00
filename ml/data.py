"""Loading application files, local or on S3: their values checked against :mod:`ml.schema`.

The formats themselves (the original PAKDD one and CSV with a header, either gzip-compressed) are
read by :mod:`ml.file_formats`; this module fetches the bytes, checks every value, and reports a
problem with its line number, column and reason, never as a traceback.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from ml import schema
from ml.file_formats import ORIGINAL_FORMAT, DataFormatError, RowProblem, decode, parse_table
from ml.schema import Column, Kind

MAX_PROBLEMS_KEPT = 1000
_CONTROL = re.compile(schema.CONTROL_CHARACTERS)


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
    """Applications in ``text``; with ``strict``, any bad row (value or number of fields) rejects the whole file."""
    table = parse_table(text)
    raw = table.frame
    if require_label and schema.LABEL not in raw.columns:
        raise DataFormatError(f"the file has no label column ({schema.LABEL_ALIASES[0]})")
    frame, found, bad = validate(raw, lines=table.lines)
    problems = sorted(table.problems[:MAX_PROBLEMS_KEPT] + found, key=lambda p: p.line)[:MAX_PROBLEMS_KEPT]
    bad_count = int(bad.sum()) + len(table.problems)
    rows = len(raw) + len(table.problems)
    if strict and bad_count:
        raise DataFormatError(f"{bad_count} of {rows} rows have invalid values", problems, bad_count)
    bad_lines = np.sort(np.concatenate([table.lines[bad], np.array([p.line for p in table.problems], dtype=np.int64)]))
    return Applications(frame[~bad], problems, bad_count, rows, table.file_format, bad_lines)


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
    # The frame's column labels are the input names (str), which pandas' stubs type as Hashable.
    records = cast("list[dict[str, Any]]", frame.astype(object).where(frame.notna(), None).to_dict("records"))
    for record in records:
        for name, value in record.items():
            if isinstance(value, float) and value.is_integer():
                record[name] = int(value)
    return records
