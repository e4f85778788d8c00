"""Files good and bad, fed to every reader of uploads: each must give the same verdict in the same words.

Every file is labelled (a simulation needs outcomes; the other readers take a label as well), so the
only differences between files are those of format. ``whole_file_verdict`` and ``bulk_verdict`` are
the two ways ``ml`` reads a file; the Django entry points (bulk upload API, demo page, simulation
upload) are compared with them in ``scoring/tests/api/test_upload_verdicts.py``.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import random
from dataclasses import dataclass
from pathlib import Path

from ml import schema
from ml.batch import index_lines, inspect_head, read_head
from ml.data import parse_applications, to_original_format
from ml.file_formats import DataFormatError, decode
from ml.sample import synthetic_applications

NAMES = [*schema.INPUT_NAMES, schema.LABEL]
ROWS = [line.split("\t") for line in to_original_format(synthetic_applications(6, seed=5)).split("\r\n") if line]


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    message: str = ""  # the refusal's words; "" when accepted


ACCEPTED = Verdict(True)


def original(rows: list[list[str]] = ROWS, end: str = "\r\n") -> bytes:
    return "".join("\t".join(row) + end for row in rows).encode("latin-1")


def as_csv(rows: list[list[str]] = ROWS, header: list[str] = NAMES, separator: str = ",") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=separator, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([[value.strip() for value in row] for row in rows])
    return out.getvalue().encode("utf-8")


def _with(line: int, column: str, value: str) -> list[list[str]]:
    rows = [list(row) for row in ROWS]
    rows[line - 1][NAMES.index(column)] = value
    return rows


def _short(line: int) -> list[list[str]]:
    rows = [list(row) for row in ROWS]
    rows[line - 1] = rows[line - 1][:-3]
    return rows


def _gzip_truncated() -> bytes:
    data = gzip.compress(original())
    return data[: len(data) // 2]


def _gzip_corrupt() -> bytes:
    data = bytearray(gzip.compress(original() * 20))
    data[30:60] = bytes(30)
    return bytes(data)


def _random(seed: int, nul: bool) -> bytes:
    data = random.Random(seed).randbytes(20_000)
    return data if nul else data.replace(b"\x00", b"\x01")


FILES: dict[str, bytes] = {
    # accepted, some with row problems that lenient readers list and keep going
    "original": original(),
    "original-lf": original(end="\n"),
    "original-gzip": gzip.compress(original()),
    "gzip-two-members": gzip.compress(original(ROWS[:3])) + gzip.compress(original(ROWS[3:])),
    "csv": as_csv(),
    "csv-tab": as_csv(separator="\t"),
    "csv-utf8-bom": codecs.BOM_UTF8 + as_csv(),
    "csv-label-alias": as_csv(header=[*schema.INPUT_NAMES, schema.LABEL_ALIASES[0]]),
    "blank-lines": original(ROWS[:2]) + b"\r\n  \r\n" + original(ROWS[2:]) + b"\r\n\r\n",
    "leading-blank-line-then-csv": b"\r\n" + as_csv(),
    "cp1252-text": original(_with(2, "RESIDENCIAL_BOROUGH", "Jardim \x96 Sul")),
    "bad-value": original(_with(3, "AGE", "abc")),
    "one-short-row": original(_short(4)),
    "one-short-row-csv": as_csv(_short(2)),
    "a-10000-field-line": original([*ROWS[:3], ["1"] * 10_000, *ROWS[4:]]),
    "quoted-line-break": as_csv(_with(2, "RESIDENCIAL_CITY", "Sao\nPaulo")),
    # refused
    "empty": b"",
    "blank-lines-only": b"\r\n  \r\n\r\n",
    "bom-only": codecs.BOM_UTF8,
    "header-only": as_csv([]),
    "header-then-blank-lines": as_csv([]) + b"\r\n\r\n  \r\n",
    "utf16": as_csv().decode("utf-8").encode("utf-16"),
    "utf16-without-bom": as_csv().decode("utf-8").encode("utf-16-le"),
    "random-bytes": _random(1, nul=True),
    "random-bytes-without-nul": _random(2, nul=False),
    "gzip-truncated": _gzip_truncated(),
    "gzip-corrupt": _gzip_corrupt(),
    "gzip-trailing-garbage": gzip.compress(original()) + b"garbage",
    "missing-columns": as_csv(header=[*NAMES[:-2], "ZIP", schema.LABEL]),
    "unknown-column": as_csv([row + ["1"] for row in ROWS], [*NAMES, "FAVOURITE_COLOUR"]),
    "repeated-column": as_csv([row + [row[1]] for row in ROWS], [*NAMES, NAMES[1]]),
    "semicolon-csv": as_csv(separator=";"),
    "semicolon-original": original().replace(b"\t", b";"),
    "comma-original": original().replace(b"\t", b","),
    "csv-header-tab-rows": as_csv()[: as_csv().index(b"\r\n") + 2] + original(),
    "quote-never-closed": as_csv().replace(b"\r\n1", b'\r\n"1', 1),
    "value-beyond-csv-field-limit": as_csv().replace(b"\r\n1", b'\r\n"' + b"9" * 200_000, 1),
    "three-fields": b"1\t2\t3\r\n",
}


def whole_file_verdict(content: bytes) -> Verdict:
    """As a simulation upload reads a file: whole, leniently (bad rows are listed, not fatal)."""
    try:
        parse_applications(decode(content), strict=False)
    except DataFormatError as exc:
        return Verdict(False, str(exc))
    return ACCEPTED


def bulk_verdict(content: bytes, folder: Path) -> Verdict:
    """As a bulk job reads a file: its head at upload, then one streaming pass that indexes it."""
    source = folder / "upload"
    source.write_bytes(content)
    try:
        head, compressed = read_head(source)
        layout = inspect_head(head, compressed=compressed)
        index_lines(source, layout, 1000, folder / "plain.txt" if compressed else None)
    except DataFormatError as exc:
        return Verdict(False, str(exc))
    return ACCEPTED
