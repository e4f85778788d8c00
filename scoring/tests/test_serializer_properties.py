"""The API accepts exactly the values the file loader accepts, with the same meaning (hypothesis).

The differences are the JSON ones, stated here: numbers must be JSON numbers, text JSON strings;
codes are taken exactly as the schema spells them (a numeric code may also be a JSON integer), and
``null`` is a code's missing value, where a file also forgives blanks around it and writes ``NULL``.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml import schema
from ml.data import validate
from ml.schema import Column, Kind
from ml.tests.strategies import UNICODE_TEXT, invalid_cells, missing_markers, valid_values
from scoring.serializers import ApplicantInputSerializer
from scoring.tests.factories import applicant_inputs

BASE = applicant_inputs(seed=0)[0]
PROPERTY = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def _padded(text: str) -> st.SearchStrategy[str]:
    return st.sampled_from([text, f" {text}", f"{text} ", f"  {text}\t"])


def json_values(column: Column) -> st.SearchStrategy[Any]:
    """Values a client might send for ``column``: valid ones as JSON would carry them, invalid ones, other types."""
    valid: st.SearchStrategy[Any] = valid_values(column, UNICODE_TEXT).map(
        lambda v: int(v) if isinstance(v, float) and v.is_integer() else v
    )
    return st.one_of(
        valid,
        valid.filter(lambda v: isinstance(v, str)).flatmap(_padded),
        invalid_cells(column),
        invalid_cells(column).filter(lambda text: text == text.strip()).flatmap(_padded),
        st.sampled_from(missing_markers(column)).flatmap(_padded),
        st.none(),
        st.booleans(),
        st.integers(-(10**13), 10**13),
        st.floats(),
        st.text(max_size=8),
        st.lists(st.integers(), max_size=2),
    )


def _cell(value: Any) -> str | None:
    """The text a file would hold for ``value``; None where a file has no such value."""
    if value is None:
        return "NULL"
    if isinstance(value, bool) or isinstance(value, list):
        return None
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return str(value)


def file_reading(column: Column, value: Any) -> tuple[bool, Any]:
    """Whether the loader accepts ``value``'s cell in ``column``, and the value it reads."""
    cell = _cell(value)
    if cell is None:
        return False, None
    typed, problems, _ = validate(pd.DataFrame({column.name: [cell.strip()]}))
    read = typed[column.name].iloc[0]
    return not problems, None if read is None or (isinstance(read, float) and math.isnan(read)) else read


def api_should_accept(column: Column, value: Any) -> bool:
    accepted_by_file, _ = file_reading(column, value)
    if value is None:
        return column.nullable or column.name == schema.ID_COLUMN  # the caller's own id is optional
    if isinstance(value, bool):
        return False
    if column.is_numeric:
        return isinstance(value, (int, float)) and accepted_by_file
    if column.kind is Kind.CATEGORY:
        numeric_codes = all(code.isdigit() for code in column.allowed)
        if isinstance(value, int):
            return numeric_codes and accepted_by_file
        return isinstance(value, str) and value in column.allowed
    return isinstance(value, str) and accepted_by_file


@PROPERTY
@given(data=st.data(), column=st.sampled_from(schema.INPUT_COLUMNS))
def test_the_api_accepts_exactly_what_a_file_may_hold(data, column):
    value = data.draw(json_values(column), label=column.name)
    serializer = ApplicantInputSerializer(data={**BASE, column.name: value})
    expected = api_should_accept(column, value)
    assert serializer.is_valid() == expected, serializer.errors
    if expected:
        _, read = file_reading(column, value)
        taken = serializer.validated_data.get(column.name)
        if read is None:
            assert taken is None
        else:
            assert taken == read
    else:
        assert list(serializer.errors) == [column.name]  # one error, on the field at fault


@PROPERTY
@given(inputs=st.fixed_dictionaries({c.name: valid_values(c) for c in schema.INPUT_COLUMNS}))
def test_any_applicant_a_file_may_hold_is_accepted_whole(inputs):
    record = {name: int(v) if isinstance(v, float) and v.is_integer() else v for name, v in inputs.items()}
    serializer = ApplicantInputSerializer(data=record)
    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data == {name: value for name, value in record.items()}
