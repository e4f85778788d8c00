"""Every bad file of the corpus is refused with the line, column and problem; files users really send are read."""

from __future__ import annotations

import codecs
import gzip
import re

import pandas as pd
import pytest

from ml.data import load_applications, parse_applications
from ml.file_formats import DataFormatError, decode
from ml.tests.bad_files import APPLICANTS, BAD_FILES, BadFile, as_csv, as_original, original_rows, with_value

GOOD = parse_applications(as_original(original_rows())).frame


# Each bad file as it is and gzip-compressed (but a broken gzip only as it is: compressed again, it is binary).
CASES = [
    (bad, compressed)
    for bad in BAD_FILES
    for compressed in (False, True)
    if not (compressed and bad.name.startswith("gzip"))
]


@pytest.mark.parametrize(("bad", "compressed"), CASES, ids=[f"{b.name}-{'gz' if c else 'plain'}" for b, c in CASES])
def test_bad_file_is_refused_with_a_clear_message(bad: BadFile, compressed: bool, tmp_path):
    path = tmp_path / bad.name
    path.write_bytes(gzip.compress(bad.content) if compressed else bad.content)
    with pytest.raises(DataFormatError) as raised:
        load_applications(path)
    message = str(raised.value)
    assert re.search(bad.message, message), message
    assert len(message) < 2000  # a message a person reads, not a dump of the file


def test_the_corpus_is_bad_only_where_it_says(tmp_path):
    """The good rows the corpus starts from load, in both formats: each refusal is the damage's doing."""
    assert len(GOOD) == len(APPLICANTS) == 5
    pd.testing.assert_frame_equal(parse_applications(as_csv(original_rows())).frame, GOOD)


def test_utf8_with_a_bom_is_read_like_without(tmp_path):
    """Excel's "CSV UTF-8" starts with a byte order mark: the user expects it to load as it is."""
    for text in (as_csv(original_rows()), as_original(original_rows())):
        with_bom = tmp_path / "excel.csv"
        with_bom.write_bytes(codecs.BOM_UTF8 + text.encode("utf-8"))
        pd.testing.assert_frame_equal(load_applications(with_bom).frame, GOOD)


@pytest.mark.parametrize("line_end", ["\n", "\r"], ids=["unix", "old-mac"])
def test_any_line_end_is_read(line_end):
    for text in (as_csv(original_rows()), as_original(original_rows())):
        pd.testing.assert_frame_equal(parse_applications(text.replace("\r\n", line_end)).frame, GOOD)


def test_windows_1252_punctuation_is_read_as_such():
    text = as_original(with_value(2, "RESIDENCIAL_BOROUGH", "Jardim – Sul … “Novo”"))
    frame = parse_applications(decode(text.encode("cp1252"))).frame
    assert frame.loc[1, "RESIDENCIAL_BOROUGH"] == "Jardim – Sul … “Novo”"


def test_formula_like_text_is_data_kept_verbatim():
    """The shared data has a city of birth "@RAPIRACA": such text loads; outputs neutralise it (see exports)."""
    rows = with_value(1, "CITY_OF_BIRTH", "@RAPIRACA")
    rows[1][list(GOOD.columns).index("RESIDENCIAL_CITY")] = '=HYPERLINK("http://evil.example","x")'
    frame = parse_applications(as_csv(rows)).frame
    assert frame.loc[0, "CITY_OF_BIRTH"] == "@RAPIRACA"
    assert frame.loc[1, "RESIDENCIAL_CITY"] == '=HYPERLINK("http://evil.example","x")'


def test_blank_lines_do_not_shift_the_line_numbers():
    rows = with_value(4, "AGE", "forty")
    text = as_original(rows[:2]) + "\r\n\r\n" + as_original(rows[2:])
    with pytest.raises(DataFormatError, match=r"line 6, column AGE: 'forty' is not a number"):
        parse_applications(text)


def test_lenient_reading_names_the_physical_lines_of_bad_rows():
    rows = with_value(2, "RESIDENCIAL_CITY", "Sao\nPaulo")
    rows[3][list(GOOD.columns).index("SEX")] = "X"
    applications = parse_applications(as_csv(rows), strict=False)
    assert [(p.line, p.column) for p in applications.problems] == [(3, "RESIDENCIAL_CITY"), (6, "SEX")]
    assert list(applications.bad_lines) == [3, 6] and len(applications.frame) == 3


def test_a_gzip_bomb_stops_at_the_size_limit():
    bomb = gzip.compress(b"0" * 50_000_000)  # 50 MB from about 50 kB
    with pytest.raises(DataFormatError, match=r"larger than 5,000,000 bytes once decompressed"):
        decode(bomb, max_size=5_000_000)
    with pytest.raises(DataFormatError, match=r"larger than 1,000 bytes"):
        decode(b"1" * 1001, max_size=1000)


def test_gzip_members_concatenated_are_one_file():
    text = as_original(original_rows()).encode("latin-1")
    joined = gzip.compress(text[:300]) + gzip.compress(text[300:])
    pd.testing.assert_frame_equal(parse_applications(decode(joined)).frame, GOOD)


def test_gzip_with_trailing_garbage_is_refused():
    with pytest.raises(DataFormatError, match="truncated or corrupt"):
        decode(gzip.compress(as_original(original_rows()).encode("latin-1")) + b"garbage")
