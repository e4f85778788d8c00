"""Outcome files: what is read, what is refused, and which rows become outcomes."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from ml.file_formats import DataFormatError
from ml.outcomes import (
    CONFLICT,
    DUPLICATE,
    INVALID,
    DecisionRef,
    OutcomeFile,
    OutcomeRow,
    Recorded,
    decision_ref,
    parse_outcomes,
    sort_outcomes,
)

TODAY = date(2026, 12, 1)
REQUEST = uuid.UUID("7f0c5a4e-1111-4a2b-9c3d-000000000001")
JOB = uuid.UUID("7f0c5a4e-2222-4a2b-9c3d-000000000002")


def _parse(text: str, **options) -> OutcomeFile:
    return parse_outcomes(text, today=TODAY, **options)


def test_rows_by_id_client_and_by_decision_id_are_read_with_their_line_and_date():
    parsed = _parse(f"ID_CLIENT,decision_id,bad,date\n17,,1,2026-06-30\n\n,{REQUEST},0,\n,{JOB}:12,1,2026-01-02\r\n")
    assert [(r.line, r.id_client, r.decision, r.bad, r.observed_on) for r in parsed.rows] == [
        (2, 17, None, True, date(2026, 6, 30)),
        (4, None, DecisionRef(request_id=REQUEST), False, None),
        (5, None, DecisionRef(job_id=JOB, line=12), True, date(2026, 1, 2)),
    ]
    assert parsed.invalid == [] and parsed.lines == 3 and parsed.ignored_columns == []


def test_header_names_are_matched_in_any_case_and_order_and_other_columns_are_named():
    parsed = _parse("Bad;Branch;id_client\n1;north;5\n0;south;6\n")
    assert [(r.id_client, r.bad) for r in parsed.rows] == [(5, True), (6, False)]
    assert parsed.ignored_columns == ["Branch"]


def test_whole_numbers_written_as_decimals_are_read_as_such():
    parsed = _parse("ID_CLIENT,TARGET_LABEL_BAD\n17.0,1.0\n18,0.0\n19.5,1\n20,0.5\n")
    assert [(r.id_client, r.bad) for r in parsed.rows] == [(17, True), (18, False)]
    assert [row.problem for row in parsed.invalid] == [
        "ID_CLIENT '19.5' is not a whole number",
        "bad is '0.5'; it must be 1 (defaulted) or 0 (repaid)",
    ]


def test_the_pakdd_label_column_stands_for_bad_and_tabs_separate():
    parsed = _parse("ID_CLIENT\tTARGET_LABEL_BAD=1\tAGE\n5\t1\t33\n")
    assert [(r.id_client, r.bad) for r in parsed.rows] == [(5, True)]
    assert parsed.ignored_columns == ["AGE"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "needs a header row"),
        ("ID_CLIENT,outcome\n1,1\n", "lacks the column bad"),
        ("client,bad\n1,1\n", "lacks the column ID_CLIENT or decision_id"),
        ("ID_CLIENT,bad,BAD\n1,1,1\n", "names bad more than once"),
        ("ID_CLIENT,bad\n", "no outcome rows"),
        ('ID_CLIENT,bad\n1,1\n2,"0\n3,1\n', "line 3: a quote"),
    ],
)
def test_a_file_without_a_usable_header_or_rows_is_refused(text, message):
    with pytest.raises(DataFormatError, match=message):
        _parse(text)


def test_two_columns_for_bad_are_refused():
    with pytest.raises(DataFormatError, match="names bad more than once"):
        _parse("ID_CLIENT,bad,TARGET_LABEL_BAD=1\n1,1,1\n")


def test_every_unreadable_row_is_listed_with_all_its_problems():
    text = (
        "ID_CLIENT,decision_id,bad,date\n"
        "x1,,1,\n"  # 2
        ",not-a-uuid,0,\n"  # 3
        f",{JOB}:0,0,\n"  # 4
        ",,1,\n"  # 5
        "3,,yes,\n"  # 6
        "4,,1,2026-13-01\n"  # 7
        "5,,1,2027-01-01\n"  # 8
        "6,,1\n"  # 9
        "7,,,31/12/2025\n"
    )
    parsed = _parse(text)
    assert parsed.rows == [] and all(row.kind == INVALID for row in parsed.invalid)
    problems = {row.line: (row.reference, row.problem) for row in parsed.invalid}
    assert problems[2] == ("ID_CLIENT 'x1'", "ID_CLIENT 'x1' is not a whole number")
    assert "neither a decision's id" in problems[3][1] and "neither a decision's id" in problems[4][1]
    assert problems[5] == ("-", "neither ID_CLIENT nor decision_id is given")
    assert problems[6][1] == "bad is 'yes'; it must be 1 (defaulted) or 0 (repaid)"
    assert "not a date written YYYY-MM-DD" in problems[7][1]
    assert problems[8][1] == "date 2027-01-01 is in the future"
    assert problems[9][1] == "has 3 fields, the header has 4"
    assert (
        problems[10][1] == "bad is empty; it must be 1 (defaulted) or 0 (repaid); date '31/12/2025' is not a date "
        "written YYYY-MM-DD"
    )


def test_more_rows_than_allowed_are_refused_whole():
    with pytest.raises(DataFormatError, match="more than 2 outcome rows"):
        _parse("ID_CLIENT,bad\n1,1\n2,0\n3,1\n", max_rows=2)
    assert _parse("ID_CLIENT,bad\n1,1\n2,0\n", max_rows=2).lines == 2


def test_decision_ids_are_a_uuid_or_a_job_and_a_line():
    assert decision_ref(str(REQUEST)) == DecisionRef(request_id=REQUEST)
    assert decision_ref(f"{JOB}:7") == DecisionRef(job_id=JOB, line=7)
    assert decision_ref(f"{JOB}:-1") is None and decision_ref(f"{JOB}:") is None and decision_ref("17") is None


# -- which rows become outcomes ------------------------------------------------------------------


def _row(line: int, bad: bool, id_client: int | None = None) -> OutcomeRow:
    return OutcomeRow(line, id_client if id_client is not None else line, None, bad, None)


def test_first_of_consistent_rows_is_applied_and_its_repeats_are_duplicates():
    rows = [_row(2, True), _row(3, False), _row(4, True), _row(5, False, id_client=99)]
    applied, listed = sort_outcomes(rows, {2: "a", 3: "b", 4: "a"}, {})  # line 5 has no match: the caller's to list
    assert [r.line for r in applied] == [2, 3]
    assert [(r.line, r.kind, r.problem) for r in listed] == [(4, DUPLICATE, "repeats line 2 for the same decision")]


def test_a_decision_given_both_outcomes_in_one_file_takes_neither():
    rows = [_row(2, True), _row(3, False), _row(4, True)]
    applied, listed = sort_outcomes(rows, {2: "a", 3: "a", 4: "b"}, {})
    assert [r.line for r in applied] == [4]
    assert [(r.line, r.kind) for r in listed] == [(2, CONFLICT), (3, CONFLICT)]
    assert "line 2: bad=1, line 3: bad=0" in listed[0].problem and "none is recorded" in listed[0].problem


def test_a_decision_with_an_outcome_on_record_takes_no_other():
    rows = [_row(2, True), _row(3, False)]
    recorded = {"a": Recorded(True, "line 9 of q1.csv"), "b": Recorded(True, "line 4 of q1.csv")}
    applied, listed = sort_outcomes(rows, {2: "a", 3: "b"}, recorded)
    assert applied == []
    assert [(r.line, r.kind) for r in listed] == [(2, DUPLICATE), (3, CONFLICT)]
    assert listed[1].problem == (
        "an outcome is already recorded for this decision (bad=1, line 4 of q1.csv); "
        "recorded outcomes are never changed"
    )
