"""Properties of the loader and its validator, checked by hypothesis on generated files and values.

``derandomize=True``: the same examples on every run, so CI cannot fail (or pass) on a lucky draw.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml import schema
from ml.data import parse_applications, to_original_format, validate
from ml.file_formats import DataFormatError, decode
from ml.tests.bad_files import as_csv, as_original, original_rows
from ml.tests.strategies import UNICODE_TEXT, application_frames, invalid_cells

PROPERTY = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def _cells(frame: pd.DataFrame) -> list[list[str]]:
    """Each value as the file's text, from the original format's writer."""
    return [line.split("\t") for line in to_original_format(frame).split("\r\n") if line]


def _csv_text(frame: pd.DataFrame, line_end: str) -> str:
    header = [schema.LABEL_ALIASES[0] if name == schema.LABEL else name for name in frame.columns]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=line_end)
    writer.writerow(header)
    writer.writerows([[cell.strip() for cell in row] for row in _cells(frame)])
    return out.getvalue()


def _loaded(data: bytes) -> pd.DataFrame:
    return parse_applications(decode(data)).frame


@PROPERTY
@given(frame=application_frames(), compressed=st.booleans())
def test_valid_rows_round_trip_through_the_original_format(frame, compressed):
    data = to_original_format(frame).encode("latin-1")  # TAB, no header, CRLF
    loaded = _loaded(gzip.compress(data, mtime=0) if compressed else data)
    pd.testing.assert_frame_equal(loaded, frame, check_exact=True)


@PROPERTY
@given(
    frame=application_frames(alphabet=UNICODE_TEXT),
    compressed=st.booleans(),
    bom=st.booleans(),
    line_end=st.sampled_from(["\r\n", "\n"]),
)
def test_valid_rows_round_trip_through_csv_with_a_header(frame, compressed, bom, line_end):
    data = (codecs.BOM_UTF8 if bom else b"") + _csv_text(frame, line_end).encode("utf-8")
    loaded = _loaded(gzip.compress(data, mtime=0) if compressed else data)
    pd.testing.assert_frame_equal(loaded, frame, check_exact=True)


def _read_or_refuse(data: bytes) -> None:
    """The only way to fail is DataFormatError with a message; what is read is typed applications."""
    try:
        frame = _loaded(data)
    except DataFormatError as exc:
        assert str(exc).strip()
    else:
        assert len(frame) >= 1 and set(frame.columns) <= set(schema.COLUMNS_BY_NAME)
        assert frame[schema.ID_COLUMN].notna().all()


@PROPERTY
@given(st.binary(max_size=4000))
def test_arbitrary_bytes_are_read_or_refused_with_a_message(data):
    _read_or_refuse(data)
    _read_or_refuse(gzip.compress(data, mtime=0))


GOOD_FILES = (as_original(original_rows()).encode("latin-1"), as_csv(original_rows()).encode("utf-8"))
# Pieces that matter to a parser: separators, quotes, line ends, markers, encodings' special bytes.
PIECES = st.one_of(
    st.sampled_from(
        [
            "\t",
            ",",
            ";",
            '"',
            "\r",
            "\n",
            "\r\n",
            " ",
            "NULL",
            "ID_CLIENT",
            "1e999",
            "nan",
            "-1",
            "=",
            "\x00",
            "\x85",
            "\ufeff",
            "é",
            "\u2028",
        ]
    ).map(lambda text: text.encode("utf-8")),
    st.binary(min_size=1, max_size=3),
)


@PROPERTY
@given(
    original=st.sampled_from(GOOD_FILES),
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 5), PIECES), min_size=1, max_size=6),
)
def test_a_damaged_file_is_read_or_refused_with_a_message(original, edits):
    data = bytearray(original)
    for position, deleted, inserted in edits:
        at = position % (len(data) + 1)
        data[at : at + deleted] = inserted
    _read_or_refuse(bytes(data))


@PROPERTY
@given(cut=st.integers(0, 10**6))
def test_a_gzip_file_cut_anywhere_is_read_whole_or_refused(cut):
    data = gzip.compress(GOOD_FILES[0], mtime=0)
    cut %= len(data) + 1
    try:
        frame = _loaded(data[:cut])
    except DataFormatError as exc:
        assert re.search("gzip|empty|binary", str(exc))
    else:
        assert cut == len(data) and len(frame) == 5


def _as_raw(frame: pd.DataFrame) -> pd.DataFrame:
    """The trimmed strings the parser hands to the validator."""
    return pd.DataFrame([[cell.strip() for cell in row] for row in _cells(frame)], columns=list(frame.columns))


@PROPERTY
@given(data=st.data())
def test_the_validator_flags_exactly_the_invalid_cells(data):
    frame = data.draw(application_frames(max_rows=5))
    raw = _as_raw(frame)
    broken = data.draw(
        st.sets(st.tuples(st.integers(0, len(raw) - 1), st.sampled_from(schema.INPUT_COLUMNS)), max_size=6)
    )
    for row, column in broken:
        raw.loc[row, column.name] = data.draw(invalid_cells(column))
    lines = np.arange(len(raw)) * 3 + 7  # any line numbers: problems must name these
    typed, problems, bad = validate(raw, lines=lines)
    assert {(p.line, p.column) for p in problems} == {(lines[row], column.name) for row, column in broken}
    assert all(p.problem for p in problems)
    assert set(np.flatnonzero(bad)) == {row for row, _ in broken}
    good = sorted(set(range(len(raw))) - {row for row, _ in broken})
    pd.testing.assert_frame_equal(typed.loc[good], frame.loc[good], check_exact=True)


@PROPERTY
@given(frame=application_frames(max_rows=3), column=st.sampled_from(schema.INPUT_COLUMNS), data=st.data())
def test_an_invalid_value_is_reported_with_line_column_and_value(frame, column, data):
    # Within one TAB-separated line: no TAB or line end in the value (those are structure, tested above).
    value = data.draw(invalid_cells(column).filter(lambda text: not set(text) & {"\t", "\n", "\r"}))
    rows = _cells(frame)
    rows[-1][list(frame.columns).index(column.name)] = value
    try:
        parse_applications("".join("\t".join(row) + "\r\n" for row in rows))
    except DataFormatError as exc:
        expected_line = len(rows)
        assert exc.problems and exc.problems[0].line == expected_line and exc.problems[0].column == column.name
        assert f"line {expected_line}, column {column.name}: " in str(exc)
    else:
        raise AssertionError(f"{value!r} in {column.name} was accepted")
