"""A corpus of bad application files, generated (never committed), shared by the loader and command tests.

Each entry is the file's bytes and a pattern of the message that must answer it: the line, the column
where there is one, and the problem. The good files are five synthetic applicants, in the original
format (TAB, latin-1, CRLF, no header) and as CSV with a header.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import random
from dataclasses import dataclass

from ml import schema
from ml.data import to_original_format
from ml.sample import synthetic_applications

APPLICANTS = synthetic_applications(5, seed=3, with_label=False)
ORIGINAL = to_original_format(APPLICANTS)  # 5 lines
N_INPUTS = len(schema.INPUT_NAMES)


def original_rows() -> list[list[str]]:
    return [line.split("\t") for line in ORIGINAL.split("\r\n") if line]


def as_original(rows: list[list[str]]) -> str:
    return "".join("\t".join(row) + "\r\n" for row in rows)


def as_csv(rows: list[list[str]], header: list[str] | None = None, separator: str = ",") -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=separator, lineterminator="\r\n")
    writer.writerow(header or list(schema.INPUT_NAMES))
    writer.writerows([[value.strip() for value in row] for row in rows])
    return out.getvalue()


def with_value(line: int, column: str, value: str) -> list[list[str]]:
    """The good rows with one cell replaced; ``line`` is the row's line in the original format."""
    rows = original_rows()
    rows[line - 1][schema.INPUT_NAMES.index(column)] = value
    return rows


@dataclass(frozen=True)
class BadFile:
    name: str
    content: bytes
    message: str  # a regular expression the error message must match


def _latin1(text: str) -> bytes:
    return text.encode("latin-1")


def _gzip_truncated() -> bytes:
    data = gzip.compress(_latin1(ORIGINAL))
    return data[: len(data) // 2]


def _gzip_corrupt() -> bytes:
    data = bytearray(gzip.compress(_latin1(ORIGINAL * 20)))
    data[30:60] = bytes(30)  # zeros in the middle of the deflate stream
    return bytes(data)


def _binary(seed: int, nul: bool) -> bytes:
    data = random.Random(seed).randbytes(20_000)
    return data if nul else data.replace(b"\x00", b"\x01")


def _wide_header() -> bytes:
    header = [*schema.INPUT_NAMES, *(f"EXTRA_{i}" for i in range(10_000 - N_INPUTS))]
    return as_csv([row + ["1"] * (10_000 - N_INPUTS) for row in original_rows()], header).encode()


def _wide_line() -> bytes:
    rows = original_rows()
    rows[3] = ["1"] * 10_000
    return _latin1(as_original(rows))


def _quoted_line_break_then_bad_age() -> bytes:
    rows = with_value(2, "RESIDENCIAL_CITY", "Sao\nPaulo")
    rows[3][schema.INPUT_NAMES.index("AGE")] = "old"
    return as_csv(rows).encode()  # line 3 holds two physical lines, so the 4th applicant is on line 6


def _formula_in_code_column() -> bytes:
    return as_csv(with_value(1, "RESIDENCIAL_STATE", '=HYPERLINK("http://evil.example","RS")')).encode()


BAD_FILES: tuple[BadFile, ...] = (
    BadFile("utf16-with-bom", as_csv(original_rows()).encode("utf-16"), r"wrong encoding: the file is UTF-16"),
    BadFile("utf16-without-bom", as_csv(original_rows()).encode("utf-16-le"), r"wrong encoding: .*NUL bytes"),
    BadFile(
        "semicolon-csv",
        as_csv(original_rows(), separator=";").encode(),
        r"line 1 \(header\): the columns are separated by semicolons",
    ),
    BadFile(
        "semicolon-original",
        _latin1(as_original(original_rows()).replace("\t", ";")),
        rf"line 1: expected {N_INPUTS} TAB-separated columns .*found 1 \(the line seems separated by semicolons\)",
    ),
    BadFile(
        "quoted-line-break",
        as_csv(with_value(2, "RESIDENCIAL_CITY", "Sao\nPaulo")).encode(),
        r"line 3, column RESIDENCIAL_CITY: 'Sao\\nPaulo' holds a line break or another control character",
    ),
    BadFile(
        "quoted-line-break-shifts-lines",
        _quoted_line_break_then_bad_age(),
        r"line 6, column AGE: 'old' is not a number",
    ),
    BadFile(
        "control-character",
        _latin1(as_original(with_value(4, "RESIDENCIAL_BOROUGH", "CENTRO\x07")).replace("\r\n", "\n")),
        r"line 4, column RESIDENCIAL_BOROUGH: 'CENTRO\\x07' holds a line break",
    ),
    BadFile("10000-columns-header", _wide_header(), r"line 1 \(header\): unknown columns: EXTRA_0, .* \.\.\."),
    BadFile("10000-columns-line", _wide_line(), rf"line 4: expected {N_INPUTS} columns, found 10000"),
    BadFile("gzip-truncated", _gzip_truncated(), r"the gzip file is truncated or corrupt"),
    BadFile("gzip-corrupt", _gzip_corrupt(), r"the gzip file is truncated or corrupt"),
    BadFile(
        "formula-in-number",
        as_csv(with_value(2, "AGE", "=1+1")).encode(),
        r"line 3, column AGE: '=1\+1' is not a number",
    ),
    BadFile(
        "formula-in-code",
        _formula_in_code_column(),
        r"line 2, column RESIDENCIAL_STATE: '=HYPERLINK\(.*' is not an allowed value",
    ),
    BadFile(
        "formula-unquoted-comma",
        as_csv(original_rows()).replace("\r\n1,", "\r\n=SUM(1,2),", 1).encode(),
        rf"line 2: expected {N_INPUTS} columns, found {N_INPUTS + 1}",
    ),
    BadFile(
        "at-sign-in-code",
        _latin1(as_original(with_value(3, "SEX", "@F"))),
        r"line 3, column SEX: '@F' is not an allowed value \(M, F, N\)",
    ),
    BadFile(
        "nan-income",
        _latin1(as_original(with_value(2, "PERSONAL_MONTHLY_INCOME", "NaN"))),
        r"line 2, column PERSONAL_MONTHLY_INCOME: 'NaN' is not a number",
    ),
    BadFile(
        "infinite-income",
        _latin1(as_original(with_value(2, "PERSONAL_MONTHLY_INCOME", "inf"))),
        r"line 2, column PERSONAL_MONTHLY_INCOME: 'inf' is not a finite number",
    ),
    BadFile(
        "overflowing-income",
        _latin1(as_original(with_value(5, "OTHER_INCOMES", "1e999"))),
        r"line 5, column OTHER_INCOMES: '1e999' is not a finite number",
    ),
    BadFile(
        "negative-income",
        _latin1(as_original(with_value(3, "PERSONAL_MONTHLY_INCOME", "-1200"))),
        r"line 3, column PERSONAL_MONTHLY_INCOME: '-1200' is outside 0 to 1e\+09",
    ),
    BadFile(
        "text-in-number",
        _latin1(as_original(with_value(4, "MONTHS_IN_RESIDENCE", "ten years"))),
        r"line 4, column MONTHS_IN_RESIDENCE: 'ten years' is not a number",
    ),
    BadFile(
        "fraction-in-whole-number",
        _latin1(as_original(with_value(1, "QUANT_DEPENDANTS", "1.5"))),
        r"line 1, column QUANT_DEPENDANTS: '1.5' is not a whole number",
    ),
    BadFile(
        "text-too-long",
        _latin1(as_original(with_value(1, "RESIDENCIAL_CITY", "x" * 500))),
        r"line 1, column RESIDENCIAL_CITY: 'x{37}'\.\.\. is longer than 120 characters",
    ),
    BadFile("empty", b"", r"the file is empty"),
    BadFile("blank-lines-only", b"\r\n  \r\n\r\n", r"the file is empty"),
    BadFile("bom-only", codecs.BOM_UTF8, r"the file is empty"),
    BadFile("header-only", as_csv([]).encode(), r"the file has a header but no applications"),
    BadFile(
        "wrong-column-count",
        _latin1(as_original(original_rows()[:3] + [original_rows()[3][:-1]])),
        rf"line 4: expected {N_INPUTS} columns, found {N_INPUTS - 1}",
    ),
    BadFile(
        "extra-column-on-one-line",
        _latin1(as_original(with_value(2, "AGE", "30\t30"))),
        rf"line 2: expected {N_INPUTS} columns, found {N_INPUTS + 1}",
    ),
    BadFile(
        "quote-never-closed",
        as_csv(original_rows()).replace("\r\n1,", '\r\n"1,', 1).encode(),
        r"line 2: a quoted value is never closed",
    ),
    BadFile(
        "value-beyond-csv-field-limit",
        as_csv(original_rows()).replace("\r\n1,", '\r\n"' + "9" * 200_000, 1).encode(),
        r"line 2: a value is longer than 131,072 characters",
    ),
    BadFile("binary", _binary(1, nul=True), r"wrong encoding: the file holds NUL bytes"),
    BadFile("binary-without-nul", _binary(2, nul=False), r"the file is not text \(it looks binary\)"),
    BadFile(
        "missing-header-columns",
        as_csv(original_rows(), [*schema.INPUT_NAMES[:-1], "ZIP"]).encode(),
        r"line 1 \(header\): unknown columns: ZIP; missing columns: PROFESSIONAL_ZIP_3",
    ),
)
