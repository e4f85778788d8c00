import csv
import io

import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from ml import schema
from scoring.models import ModelVersion

pytestmark = pytest.mark.django_db


def _run(*args):
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=out)
    return out.getvalue()


def test_train_command_reads_s3_and_reports_the_comparison(s3_bucket, sample_file):
    client, bucket = s3_bucket
    client.put_object(Bucket=bucket, Key="data/modelling.txt", Body=sample_file.read_bytes())
    output = _run("train", "--data", f"s3://{bucket}/data/modelling.txt", "--candidates", "logistic_regression",
                  "--folds", "3")  # fmt: skip
    version = ModelVersion.objects.get()
    assert version.is_active and version.data_source == f"s3://{bucket}/data/modelling.txt"
    assert "logistic_regression" in output and "<- chosen" in output and "v1:" in output


def test_train_command_rejects_a_malformed_file_without_traceback(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("1\tC\t10\n", encoding="latin-1")
    with pytest.raises(CommandError, match=r"line 1: expected 53 TAB-separated columns"):
        _run("train", "--data", str(bad))
    assert not ModelVersion.objects.exists()


def test_train_if_none_active_does_nothing_when_a_model_is_active(active_version):
    assert "not training" in _run("train", "--if-none-active")
    assert ModelVersion.objects.count() == 1


def test_score_csv_writes_the_contract_header_and_a_row_per_application(active_version, sample_file, tmp_path):
    output = tmp_path / "scores.csv"
    _run("score_csv", str(sample_file), str(output))
    scores = pd.read_csv(output)
    assert list(scores.columns[:4]) == ["ID_CLIENT", "probability_bad", "score", "decision"]
    assert len(scores) == 600 and scores["ID_CLIENT"].tolist() == list(range(1, 601))
    assert scores["probability_bad"].between(0, 1).all() and scores["score"].between(300, 850).all()
    expected = (scores["probability_bad"] >= active_version.threshold).map({True: "decline", False: "approve"})
    assert scores["decision"].equals(expected)
    # More points, less risk: sorted by risk, points never rise.
    assert scores.sort_values("probability_bad")["score"].is_monotonic_decreasing


def test_score_csv_reads_csv_with_header(active_version, sample_frame, tmp_path):
    source = tmp_path / "in.csv"
    sample_frame.drop(columns=[schema.LABEL]).head(20).to_csv(source, index=False)
    _run("score_csv", str(source), str(tmp_path / "out.csv"))
    assert len(pd.read_csv(tmp_path / "out.csv")) == 20


def test_score_csv_rejects_a_bad_file_naming_the_line(active_version, sample_file, tmp_path):
    lines = sample_file.read_bytes().decode("latin-1").split("\r\n")
    fields = lines[2].split("\t")
    fields[schema.INPUT_NAMES.index("AGE")] = "old"
    lines[2] = "\t".join(fields)
    sample_file.write_text("\r\n".join(lines), encoding="latin-1", newline="")
    with pytest.raises(CommandError, match=r"line 3, column AGE: 'old' is not a number"):
        _run("score_csv", str(sample_file), str(tmp_path / "out.csv"))
    assert not (tmp_path / "out.csv").exists()
    _run("score_csv", str(sample_file), str(tmp_path / "out.csv"), "--skip-invalid")
    assert len(pd.read_csv(tmp_path / "out.csv")) == 599
    errors = list(csv.reader((tmp_path / "out.csv.errors.csv").open()))
    assert errors == [["line", "column", "problem"], ["3", "AGE", "'old' is not a number"]]


def test_score_csv_without_an_active_model_says_what_to_do(sample_file, tmp_path):
    with pytest.raises(CommandError, match="run `python manage.py train` first"):
        _run("score_csv", str(sample_file), str(tmp_path / "out.csv"))
