"""Hypothesis strategies for applications: valid values of every schema column, and invalid ones."""

from __future__ import annotations

import string

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from ml import schema
from ml.schema import Column, Kind

# Text a latin-1 file and its UTF-8 reading agree on: ASCII and the accented letters (0xC0-0xFF).
# Symbols 0xA0-0xBF would be UTF-8 continuation bytes, so "Ã©" in latin-1 is also valid UTF-8 "é":
# the loader's documented rule (UTF-8 wherever it is valid) reads such a file as UTF-8.
LATIN1_TEXT = "".join(c for c in string.printable if c.isprintable()) + "".join(map(chr, range(0xC0, 0x100)))
# Any printable Unicode: for UTF-8 files.
UNICODE_TEXT = st.characters(blacklist_categories=("Cc", "Cs"))


def missing_markers(column: Column) -> tuple[str, ...]:
    return schema.MISSING_TOKENS + column.missing_tokens


def text_values(column: Column, alphabet: str | st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Free text the loader keeps as it is: trimmed, not a missing marker, not too long."""
    return st.text(alphabet, min_size=1, max_size=schema.TEXT_MAX_LENGTH).filter(
        lambda text: text == text.strip() and text not in missing_markers(column)
    )


def valid_values(column: Column, alphabet: str | st.SearchStrategy[str] = LATIN1_TEXT) -> st.SearchStrategy:
    """Typed values as the loader returns them: float for numbers, str for codes and text, None for missing."""
    if column.kind is Kind.INTEGER:
        values: st.SearchStrategy = st.integers(int(column.minimum or 0), int(column.maximum or 0)).map(float)
    elif column.kind is Kind.DECIMAL:
        values = st.floats(column.minimum, column.maximum, allow_nan=False, allow_infinity=False)
    elif column.kind is Kind.CATEGORY:
        values = st.sampled_from(column.allowed)
    else:
        values = text_values(column, alphabet)
    return st.one_of(st.none(), values) if column.nullable else values


def typed_frame(records: list[dict], columns: list[str]) -> pd.DataFrame:
    """A frame typed as :func:`ml.data.validate` types it (float with NaN; object with None; int label)."""
    data = {}
    for name in columns:
        values = [record[name] for record in records]
        if name == schema.LABEL:
            data[name] = pd.Series(values, dtype=int)
        elif schema.COLUMNS_BY_NAME[name].is_numeric:
            data[name] = pd.Series([np.nan if v is None else v for v in values], dtype=float)
        else:
            data[name] = pd.Series(values, dtype=object)
    return pd.DataFrame(data)


@st.composite
def application_frames(
    draw: st.DrawFn, alphabet: str | st.SearchStrategy[str] = LATIN1_TEXT, max_rows: int = 6
) -> pd.DataFrame:
    """1 to ``max_rows`` valid applications, with or without the label."""
    columns = {column.name: valid_values(column, alphabet) for column in schema.INPUT_COLUMNS}
    if draw(st.booleans()):
        columns[schema.LABEL] = st.sampled_from([0, 1])
    records = draw(st.lists(st.fixed_dictionaries(columns), min_size=1, max_size=max_rows))
    return typed_frame(records, list(columns))


def _number_text(value: float | int) -> str:
    return str(value) if isinstance(value, int) else repr(value)


def invalid_cells(column: Column) -> st.SearchStrategy[str]:
    """Cell text (already trimmed, as the parser hands it on) that the loader must refuse in ``column``."""
    choices: list[st.SearchStrategy[str]] = []
    if not column.nullable:
        choices.append(st.sampled_from(missing_markers(column)))
    if column.is_numeric:
        low, high = column.minimum or 0, column.maximum or 0
        choices += [
            st.text(string.ascii_letters + "=+-@ ", min_size=1, max_size=12).filter(
                lambda text: text == text.strip() and text not in missing_markers(column)
            ),
            st.sampled_from(["nan", "NaN", "inf", "-inf", "Infinity", "1e999", "-1e999", "1,5", "12 kg"]),
            st.floats(max_value=low, exclude_max=True, allow_nan=False, allow_infinity=False).map(_number_text),
            st.floats(min_value=high, exclude_min=True, allow_nan=False, allow_infinity=False).map(_number_text),
            st.integers(max_value=int(low) - 1).map(_number_text),
        ]
        if column.kind is Kind.INTEGER:
            choices.append(st.integers(int(low), int(high) - 1).map(lambda whole: f"{whole}.5"))
    elif column.kind is Kind.CATEGORY:
        choices.append(
            st.text(min_size=1, max_size=10).filter(
                lambda text: text == text.strip() and text not in column.allowed + missing_markers(column)
            )
        )
    else:
        control = st.sampled_from([chr(c) for c in (*range(0, 32), *range(0x7F, 0xA0))])
        around = st.text(string.ascii_letters, min_size=1, max_size=10)
        choices += [
            st.tuples(around, control, around).map("".join),
            st.text(string.ascii_letters + " ", min_size=schema.TEXT_MAX_LENGTH + 1, max_size=300).map(
                lambda text: "x" + text + "x"
            ),
        ]
    return st.one_of(choices)
