from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from ml import schema
from ml.data import load_applications, parse_applications, to_original_format
from ml.file_formats import DataFormatError


def _lines(text: str) -> list[str]:
    return text.split("\r\n")


def _set_field(text: str, line: int, column: str, value: str) -> str:
    lines = _lines(text)
    fields = lines[line - 1].split("\t")
    fields[list(schema.INPUT_NAMES).index(column)] = value
    lines[line - 1] = "\t".join(fields)
    return "\r\n".join(lines)


def _as_csv(frame: pd.DataFrame) -> str:
    text = to_original_format(frame)
    header = "\t".join([*schema.INPUT_NAMES, schema.LABEL_ALIASES[0]])
    return header.replace("\t", ",") + "\r\n" + text.replace("\t", ",")


def test_original_format_round_trips(sample_frame, sample_text, write_file):
    apps = load_applications(write_file("a.txt", sample_text), require_label=True)
    assert len(apps.frame) == len(sample_frame)
    assert apps.has_label and apps.problem_count == 0
    assert to_original_format(apps.frame) == sample_text


def test_csv_with_header_reads_like_the_original(sample_frame, sample_text, write_file):
    from_csv = load_applications(write_file("a.csv", _as_csv(sample_frame)), require_label=True)
    from_txt = parse_applications(sample_text, require_label=True)
    pd.testing.assert_frame_equal(from_csv.frame, from_txt.frame)
    assert from_csv.file_format == "csv"


def test_header_with_education_level_twice_names_the_second_the_mates(sample_frame):
    text = _as_csv(sample_frame).replace("MATE_EDUCATION_LEVEL", "EDUCATION_LEVEL", 1)
    apps = parse_applications(text)
    assert apps.frame["MATE_EDUCATION_LEVEL"].equals(
        parse_applications(_as_csv(sample_frame)).frame["MATE_EDUCATION_LEVEL"]
    )


def test_gzip_file_is_read(sample_text, write_file):
    path = write_file("a.txt.gz", gzip.compress(sample_text.encode("latin-1")))
    assert len(load_applications(path).frame) == 600


def test_missing_markers_become_missing_values(sample_text):
    text = _set_field(sample_text, 3, "MONTHS_IN_RESIDENCE", "NULL")
    text = _set_field(text, 3, "RESIDENCIAL_BOROUGH", " ")
    text = _set_field(text, 3, "RESIDENCIAL_ZIP_3", "#DIV/0!")
    row = parse_applications(text).frame.iloc[2]
    assert np.isnan(row["MONTHS_IN_RESIDENCE"])
    assert row["RESIDENCIAL_BOROUGH"] is None and row["RESIDENCIAL_ZIP_3"] is None


def test_latin1_accents_are_kept(sample_text, write_file):
    text = _set_field(sample_text, 1, "RESIDENCIAL_CITY", "São José dos Pinhais")
    apps = load_applications(write_file("a.txt", text, encoding="latin-1"))
    assert apps.frame.iloc[0]["RESIDENCIAL_CITY"] == "São José dos Pinhais"


def test_utf8_file_is_read_as_utf8(sample_text, write_file):
    text = _set_field(sample_text, 1, "RESIDENCIAL_CITY", "São Paulo")
    apps = load_applications(write_file("a.txt", text, encoding="utf-8"))
    assert apps.frame.iloc[0]["RESIDENCIAL_CITY"] == "São Paulo"


def test_wrong_column_count_names_the_line(sample_text):
    lines = _lines(sample_text)
    lines[4] += "\textra"
    with pytest.raises(DataFormatError, match=r"line 5: expected 54 columns, found 55"):
        parse_applications("\r\n".join(lines))


def test_short_row_names_the_line(sample_text):
    lines = _lines(sample_text)
    lines[9] = "\t".join(lines[9].split("\t")[:40])
    with pytest.raises(DataFormatError, match=r"line 10: expected 54 columns, found 40"):
        parse_applications("\r\n".join(lines))


def test_text_in_a_numeric_column_names_row_column_and_value(sample_text):
    with pytest.raises(DataFormatError) as raised:
        parse_applications(_set_field(sample_text, 7, "AGE", "forty"))
    assert "line 7, column AGE: 'forty' is not a number" in str(raised.value)
    assert raised.value.problems[0].line == 7


def test_unknown_category_is_rejected(sample_text):
    with pytest.raises(DataFormatError, match=r"line 2, column SEX: 'X' is not an allowed value \(M, F, N\)"):
        parse_applications(_set_field(sample_text, 2, "SEX", "X"))


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("PERSONAL_MONTHLY_INCOME", "-5", "is outside 0"),
        ("PERSONAL_MONTHLY_INCOME", "inf", "is not a finite number"),
        ("OTHER_INCOMES", "NaN", "is not a number"),
        ("QUANT_DEPENDANTS", "1.5", "is not a whole number"),
        ("AGE", "NULL", "a value is required"),
        ("PAYMENT_DAY", "7", "is not an allowed value"),
    ],
)
def test_invalid_values_are_explained(sample_text, column, value, reason):
    with pytest.raises(DataFormatError, match=rf"line 4, column {column}: .*{reason}"):
        parse_applications(_set_field(sample_text, 4, column, value))


def test_lenient_mode_keeps_good_rows_and_lists_bad_ones(sample_text):
    text = _set_field(_set_field(sample_text, 2, "AGE", "abc"), 9, "SEX", "Q")
    apps = parse_applications(text, strict=False)
    assert len(apps.frame) == 598 and apps.problem_count == 2
    assert [(p.line, p.column) for p in apps.problems] == [(2, "AGE"), (9, "SEX")]
    assert list(apps.bad_lines) == [2, 9]


def test_empty_file_is_rejected(write_file):
    with pytest.raises(DataFormatError, match="the file is empty"):
        load_applications(write_file("empty.txt", ""))


def test_header_only_is_rejected(sample_frame):
    header = _as_csv(sample_frame).split("\r\n")[0]
    with pytest.raises(DataFormatError, match="no applications"):
        parse_applications(header + "\r\n")


def test_utf16_file_is_refused_as_wrong_encoding(sample_text, write_file):
    path = write_file("a.txt", sample_text.encode("utf-16"))
    with pytest.raises(DataFormatError, match="wrong encoding"):
        load_applications(path)


def test_truncated_gzip_is_refused(sample_text, write_file):
    data = gzip.compress(sample_text.encode())
    with pytest.raises(DataFormatError, match="truncated or corrupt"):
        load_applications(write_file("a.gz", data[: len(data) // 2]))


def test_csv_header_with_unknown_and_missing_columns_is_refused(sample_frame):
    text = _as_csv(sample_frame).replace("PAYMENT_DAY", "PAYDAY", 1)
    with pytest.raises(
        DataFormatError, match=r"line 1 \(header\): unknown columns: PAYDAY; missing columns: PAYMENT_DAY"
    ):
        parse_applications(text)


def test_semicolon_separated_file_is_refused_clearly(sample_frame):
    text = _as_csv(sample_frame).replace(",", ";")
    with pytest.raises(DataFormatError, match="line 1"):
        parse_applications(text)


def test_label_required_for_training(sample_frame):
    text = to_original_format(sample_frame.drop(columns=[schema.LABEL]))
    with pytest.raises(DataFormatError, match="no label column"):
        parse_applications(text, require_label=True)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(DataFormatError, match="no such file"):
        load_applications(tmp_path / "nope.txt")


def test_all_shared_files_load_without_problems(shared_data_dir):
    modelling = load_applications(shared_data_dir / "PAKDD2010_Modeling_Data.txt", require_label=True)
    assert len(modelling.frame) == 40000 and modelling.problem_count == 0
    assert 0.25 < modelling.frame[schema.LABEL].mean() < 0.28
    for name in ("PAKDD2010_Leaderboard_Data.txt", "PAKDD2010_Prediction_Data.txt"):
        apps = load_applications(shared_data_dir / name)
        assert len(apps.frame) == 20000 and not apps.has_label


def test_records_round_trip_through_json_values(sample_frame):
    from ml.data import frame_from_records, records_from_frame

    records = records_from_frame(sample_frame.drop(columns=[schema.LABEL]))
    assert isinstance(records[0]["AGE"], int) and records[0]["ID_CLIENT"] == 1
    again = frame_from_records(records)
    assert to_original_format(again) == to_original_format(sample_frame.drop(columns=[schema.LABEL]))
