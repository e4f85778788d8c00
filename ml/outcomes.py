"""Outcome files: what became of past decisions, as a lender sends them back (plain Python, no Django).

A CSV with a header row naming, in any order and case:

- ``ID_CLIENT`` (the applicant's id as scored) or ``decision_id`` (a single decision's id, a uuid, or a
  bulk decision as ``<job id>:<line>``, the line of the applicant in the uploaded file, header counted);
  a file may hold both columns, a row needs one of them (``decision_id`` wins where both are given);
- ``bad``: 1 if the client defaulted, 0 if not (``TARGET_LABEL_BAD=1`` or ``TARGET_LABEL_BAD``, the PAKDD
  label, is the same);
- ``date`` (optional): when the outcome was observed, ``YYYY-MM-DD``.

Commas, semicolons or tabs separate the fields (the header's decides); other columns are ignored and
named in the answer. A row that cannot be read is listed, never guessed at.

:func:`sort_outcomes` then decides, once every row is matched with a decision, which rows become
outcomes: an unknown id, a repeat of an outcome (in the file or already recorded) and a conflicting
one are listed with the reason, and only the first of a decision's consistent rows is applied.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from ml import schema
from ml.file_formats import DataFormatError

ID_CLIENT = "ID_CLIENT"
DECISION_ID = "decision_id"
BAD = "bad"
DATE = "date"
# Header names (lower case, trimmed) and the column each stands for.
HEADER_NAMES = {
    "id_client": ID_CLIENT,
    "decision_id": DECISION_ID,
    "bad": BAD,
    DATE: DATE,
    **{alias.lower(): BAD for alias in schema.LABEL_ALIASES},
}
SEPARATORS = (",", ";", "\t")

# Why a row is listed. Every kind but AMBIGUOUS leaves the row unapplied.
INVALID = "invalid"  # the row cannot be read
UNKNOWN = "unknown"  # no decision the uploader may see has this id
DUPLICATE = "duplicate"  # the same outcome again: in the file or already recorded
CONFLICT = "conflict"  # another outcome for the same decision: in the file or already recorded
AMBIGUOUS = "ambiguous"  # applied: ID_CLIENT has several decisions, the latest was taken
KINDS = (INVALID, UNKNOWN, DUPLICATE, CONFLICT, AMBIGUOUS)

_INTEGER = re.compile(r"^[0-9]{1,18}$")
_WHOLE = re.compile(r"^([0-9]{1,18})(?:\.0*)?$")  # an id as a spreadsheet or pandas writes it: 17 or 17.0
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_SHOWN = 60  # characters of a bad value quoted in a message


@dataclass(frozen=True)
class DecisionRef:
    """A decision as a ``decision_id`` names it: a single decision's uuid, or a bulk job's uuid and line."""

    request_id: uuid.UUID | None = None
    job_id: uuid.UUID | None = None
    line: int | None = None

    def __str__(self) -> str:
        return str(self.request_id) if self.request_id else f"{self.job_id}:{self.line}"


@dataclass(frozen=True)
class OutcomeRow:
    line: int  # in the file, 1-based, header counted
    id_client: int | None
    decision: DecisionRef | None
    bad: bool
    observed_on: date | None

    @property
    def reference(self) -> str:
        """What the row names, as the lender wrote it: its decision id, or else its ID_CLIENT."""
        return f"decision {self.decision}" if self.decision else f"ID_CLIENT {self.id_client}"


@dataclass(frozen=True)
class ListedRow:
    """A row not applied (or, for AMBIGUOUS, applied with a warning) and why."""

    line: int
    reference: str
    kind: str
    problem: str

    def __str__(self) -> str:
        return f"line {self.line} ({self.reference}): {self.kind}: {self.problem}"


@dataclass(frozen=True)
class OutcomeFile:
    rows: list[OutcomeRow]  # rows read, in file order
    invalid: list[ListedRow]  # rows that could not be read
    ignored_columns: list[str]

    @property
    def lines(self) -> int:
        return len(self.rows) + len(self.invalid)


def parse_outcomes(text: str, *, today: date, max_rows: int | None = None) -> OutcomeFile:
    """Read an outcome file; DataFormatError when its header cannot be used or it holds no row.

    ``today`` bounds the dates (an outcome cannot be observed in the future); ``max_rows`` the rows.
    """
    separator, header = _header(text)
    reader = csv.reader(io.StringIO(text), delimiter=separator)
    rows: list[OutcomeRow] = []
    invalid: list[ListedRow] = []
    try:
        next(reader)  # the header, read above
        start = reader.line_num + 1
        for fields in reader:
            if any("\n" in field or "\r" in field for field in fields):
                # No value of an outcome file spans lines: an unclosed quote swallowed the lines after it.
                raise DataFormatError(
                    f'line {start}: a quote (") opened on this line is never closed, so the '
                    "lines after it would be read as one value; remove or close it"
                )
            start = reader.line_num + 1
            if not any(field.strip() for field in fields):
                continue  # a blank line
            if max_rows is not None and len(rows) + len(invalid) >= max_rows:
                raise DataFormatError(f"the file has more than {max_rows:,} outcome rows; split it into smaller files")
            row = _row(reader.line_num, fields, header, today)
            if isinstance(row, OutcomeRow):
                rows.append(row)
            else:
                invalid.append(row)
    except csv.Error as exc:  # e.g. an unclosed quote that swallowed the rest of the file into one field
        raise DataFormatError(f"line {reader.line_num}: the file cannot be read as CSV ({exc})") from exc
    if not rows and not invalid:
        raise DataFormatError("the file has a header but no outcome rows")
    return OutcomeFile(rows, invalid, [name for lowered, name in header if lowered not in HEADER_NAMES])


def _header(text: str) -> tuple[str, list[tuple[str, str]]]:
    """The separator and the header's names (lower case, as written); DataFormatError if unusable."""
    first = re.split(r"\r\n|\n|\r", text, maxsplit=1)[0]
    if not first.strip():
        raise DataFormatError(
            "the file is empty or its first line is blank: it needs a header row "
            "(ID_CLIENT or decision_id, bad and optionally date)"
        )
    separator = max(SEPARATORS, key=first.count)
    try:
        names = [name.strip() for name in next(csv.reader([first], delimiter=separator))]
    except csv.Error as exc:
        raise DataFormatError(f"the header row cannot be read as CSV ({exc})") from exc
    lowered = [name.lower() for name in names]
    columns = [HEADER_NAMES.get(name) for name in lowered]
    repeated = sorted({c for c in columns if c and columns.count(c) > 1})
    if repeated:
        raise DataFormatError(f"the header names {', '.join(repeated)} more than once")
    missing = []
    if BAD not in columns:
        missing.append("bad (1 if the client defaulted, 0 if not)")
    if ID_CLIENT not in columns and DECISION_ID not in columns:
        missing.append("ID_CLIENT or decision_id")
    if missing:
        raise DataFormatError(
            f"the header row ({_shown(first)}) lacks the column {' and '.join(missing)}; "
            "the first line must name the columns, separated by commas"
        )
    return separator, list(zip(lowered, names, strict=True))


def _row(line: int, fields: list[str], header: list[tuple[str, str]], today: date) -> OutcomeRow | ListedRow:
    if len(fields) != len(header):
        return ListedRow(
            line,
            _raw_reference(_values(fields, header)),
            INVALID,
            f"has {len(fields)} fields, the header has {len(header)}",
        )
    values = _values(fields, header)
    reference = _raw_reference(values)
    problems = []
    id_client, decision = None, None
    if values.get(ID_CLIENT):
        id_client = _integer(values[ID_CLIENT])
        if id_client is None:
            problems.append(f"ID_CLIENT {_shown(values[ID_CLIENT])} is not a whole number")
    if values.get(DECISION_ID):
        decision = decision_ref(values[DECISION_ID])
        if decision is None:
            problems.append(
                f"decision_id {_shown(values[DECISION_ID])} is neither a decision's id (a uuid) nor "
                "a bulk decision's <job id>:<line>"
            )
    if not values.get(ID_CLIENT) and not values.get(DECISION_ID):
        problems.append("neither ID_CLIENT nor decision_id is given")
    bad = re.sub(r"\.0+$", "", values.get(BAD, ""))  # 1.0 as a spreadsheet or pandas may write it
    if bad not in ("0", "1"):
        shown = _shown(values[BAD]) if values.get(BAD) else "empty"
        problems.append(f"bad is {shown}; it must be 1 (defaulted) or 0 (repaid)")
    observed_on, date_problem = _date(values.get(DATE, ""), today)
    if date_problem:
        problems.append(date_problem)
    if problems:
        return ListedRow(line, reference, INVALID, "; ".join(problems))
    return OutcomeRow(line, id_client, decision, bad == "1", observed_on)


def decision_ref(text: str) -> DecisionRef | None:
    """``<uuid>`` (a single decision) or ``<job uuid>:<line>`` (a bulk decision); None if neither."""
    head, colon, tail = text.partition(":")
    try:
        identifier = uuid.UUID(head)
    except ValueError:
        return None
    if not colon:
        return DecisionRef(request_id=identifier)
    if not _INTEGER.match(tail) or int(tail) < 1:
        return None
    return DecisionRef(job_id=identifier, line=int(tail))


def _integer(text: str) -> int | None:
    match = _WHOLE.match(text)
    return int(match.group(1)) if match else None


def _date(text: str, today: date) -> tuple[date | None, str]:
    if not text:
        return None, ""
    try:
        value = date.fromisoformat(text) if _ISO_DATE.match(text) else None
    except ValueError:
        value = None
    if value is None:
        return None, f"date {_shown(text)} is not a date written YYYY-MM-DD"
    if value > today:
        return None, f"date {text} is in the future"
    return value, ""


def _values(fields: list[str], header: list[tuple[str, str]]) -> dict[str, str]:
    """The row's values of the columns read, by column (trimmed); a short row lacks the last ones."""
    return {
        HEADER_NAMES[name]: value.strip()
        for (name, _), value in zip(header, fields, strict=False)
        if name in HEADER_NAMES
    }


def _raw_reference(values: Mapping[str, str]) -> str:
    """What a row names as written, for listing it."""
    if values.get(DECISION_ID):
        return f"decision {_shown(values[DECISION_ID])}"
    if values.get(ID_CLIENT):
        return f"ID_CLIENT {_shown(values[ID_CLIENT])}"
    return "-"


def _shown(value: str) -> str:
    return repr(value if len(value) <= _SHOWN else value[:_SHOWN] + "...")


# -- which rows become outcomes ------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """An outcome already on record for a decision, and where it came from (for the message)."""

    bad: bool
    where: str


Decision = TypeVar("Decision", bound=Hashable)  # how the caller names a decision (a request id, a job line)


def sort_outcomes(
    rows: list[OutcomeRow], matches: Mapping[int, Decision], recorded: Mapping[Decision, Recorded]
) -> tuple[list[OutcomeRow], list[ListedRow]]:
    """The rows to apply, and the rows listed instead; ``matches`` maps a row's line to its decision
    (rows without a match are the caller's to list as unknown), ``recorded`` a decision to its outcome
    already on record.

    - A decision with an outcome on record takes no other: the same value again is a duplicate, a
      different one a conflict (the recorded one stands).
    - A decision the file gives both 0 and 1 takes neither: every row of it is a conflict.
    - Otherwise the decision's first row is applied and its repeats are duplicates.
    """
    by_decision: dict[Decision, list[OutcomeRow]] = {}
    for row in rows:
        if row.line in matches:
            by_decision.setdefault(matches[row.line], []).append(row)
    applied: list[OutcomeRow] = []
    listed: list[ListedRow] = []
    for decision, group in by_decision.items():
        if decision in recorded:
            on_record = recorded[decision]
            for row in group:
                same = row.bad == on_record.bad
                listed.append(
                    ListedRow(
                        row.line,
                        row.reference,
                        DUPLICATE if same else CONFLICT,
                        f"an outcome is already recorded for this decision (bad={int(on_record.bad)}, "
                        f"{on_record.where}); " + ("nothing new" if same else "recorded outcomes are never changed"),
                    )
                )
        elif len({row.bad for row in group}) > 1:
            lines = ", ".join(f"line {row.line}: bad={int(row.bad)}" for row in group)
            listed.extend(
                ListedRow(
                    row.line,
                    row.reference,
                    CONFLICT,
                    f"the file gives this decision different outcomes ({lines}); none is recorded",
                )
                for row in group
            )
        else:
            first, *repeats = group
            applied.append(first)
            listed.extend(
                ListedRow(row.line, row.reference, DUPLICATE, f"repeats line {first.line} for the same decision")
                for row in repeats
            )
    applied.sort(key=lambda row: row.line)
    return applied, listed
