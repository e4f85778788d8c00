import csv
import io

import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from ml import schema
from ml.candidates import DEFAULT_CANDIDATE
from scoring.models import ModelVersion

pytestmark = pytest.mark.django_db


def _run(*args):
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=out)
    return out.getvalue()


def test_train_command_reads_s3_and_reports_the_comparison(s3_bucket, sample_file):
    client, bucket = s3_bucket
    client.put_object(Bucket=bucket, Key="data/modelling.txt", Body=sample_file.read_bytes())
    output = _run(
        "train", "--data", f"s3://{bucket}/data/modelling.txt", "--candidates", "logistic_regression", "--folds", "3"
    )
    version = ModelVersion.objects.get()
    assert version.is_active and version.data_source == f"s3://{bucket}/data/modelling.txt"
    assert "logistic_regression" in output and "<- chosen" in output and "v1:" in output


@pytest.mark.slow
def test_train_quick_trains_the_default_candidate_alone_and_registers_it_with_checksums(sample_file):
    output = _run("train", "--quick", "--data", str(sample_file), "--folds", "3")
    version = ModelVersion.objects.get()
    assert version.algorithm == DEFAULT_CANDIDATE == "soft_voting"
    assert [row["candidate"] for row in version.comparison] == ["soft_voting"]  # no other candidate, no variant
    assert version.is_active and version.scorer_path and version.cv_metrics["roc_auc"] > 0.5
    assert all(len(digest) == 64 for digest in (version.data_sha256, version.artifact_sha256, version.scorer_sha256))
    assert "compiled scorer equals the pipeline" in output and "v1: soft_voting" in output


def test_train_command_rejects_a_malformed_file_without_traceback(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("1\tC\t10\n", encoding="latin-1")
    with pytest.raises(CommandError, match=r"line 1: expected 53 TAB-separated columns"):
        _run("train", "--data", str(bad))
    assert not ModelVersion.objects.exists()


def test_train_if_none_active_does_nothing_when_a_model_is_active(active_version):
    assert "not training" in _run("train", "--if-none-active")
    assert ModelVersion.objects.count() == 1


def test_train_if_none_active_replaces_a_version_from_before_the_compiled_scorer(active_version, sample_file):
    ModelVersion.objects.filter(pk=active_version.pk).update(scorer_path="", scorer_sha256="")
    output = _run(
        "train", "--if-none-active", "--data", str(sample_file), "--candidates", "logistic_regression", "--folds", "3"
    )
    assert "trained before the compiled scorer" in output
    new = ModelVersion.objects.get(is_active=True)
    assert new.version == "v2" and new.scorer_path == "v2.scorer.joblib"


def test_score_csv_writes_the_contract_header_and_a_row_per_application(active_version, sample_file, tmp_path):
    output = tmp_path / "scores.csv"
    said = _run("score_csv", str(sample_file), str(output))
    assert "600 of 600 rows (100 %)" in said  # no terminal here, so no bar: one closing line
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


def _applications(tmp_path, **changes):
    """A small generated file of applications (no label), in the original format."""
    from ml.data import to_original_format
    from ml.sample import synthetic_applications

    frame = synthetic_applications(300, seed=31, with_label=False, first_id=200_000)
    for name, value in changes.items():
        frame[name] = value
    path = tmp_path / "later.txt"
    path.write_text(to_original_format(frame), encoding="latin-1", newline="")
    return path


def test_drift_command_prints_the_table_of_a_file(drift_version, tmp_path):
    out = _run("drift", "--data", str(_applications(tmp_path, FLAG_EMAIL="0")))
    assert out.startswith("Against the development rows of v1")
    assert "300 rows" in out
    lines = {line.split()[0]: line.split() for line in out.splitlines()[3:] if line.strip()}
    assert set(schema.FEATURE_NAMES) | {"score"} <= set(lines)
    assert lines["FLAG_EMAIL"][2] == "act"  # everyone "0": about a fifth were in the development rows


def test_drift_command_draws_its_charts(drift_version, tmp_path):
    _run("drift", "--data", str(_applications(tmp_path)), "--figures", str(tmp_path / "figures"))
    charts = sorted(path.name for path in (tmp_path / "figures").iterdir())
    assert charts == ["drift-later-bins.png", "drift-later-psi.png"]
    assert all((tmp_path / "figures" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for name in charts)


def test_drift_command_json_is_the_whole_report(drift_version, tmp_path):
    import json

    report = json.loads(_run("drift", "--data", str(_applications(tmp_path)), "--json"))
    assert report["model_version"] == "v1" and report["rows"] == 300
    assert report["score"]["name"] == "score" and 0 <= report["score"]["psi"]
    assert len(report["inputs"]) == len(schema.FEATURE_NAMES)
    assert {"name", "psi", "band", "labels", "expected", "actual"} <= set(report["inputs"][0])


def test_drift_command_reports_a_window_and_can_store_it(drift_version):
    from scoring.models import DriftReport
    from scoring.tests.factories import final_score_requests

    final_score_requests(drift_version, 3)
    out = _run("drift", "--since", "2000-01-01", "--store")
    assert "3 rows" in out and "3 single and 0 bulk decisions by v1" in out
    stored = DriftReport.objects.get()
    assert stored.source == "window" and stored.rows == 3 and stored.since is not None and stored.since.year == 2000
    with pytest.raises(CommandError, match="not a date"):
        _run("drift", "--since", "last week")


def test_drift_command_says_a_version_has_no_reference_and_train_adds_it(active_version, tmp_path):
    with pytest.raises(CommandError, match="trained before drift references were kept.*--add-drift-reference v1"):
        _run("drift", "--data", str(_applications(tmp_path)))
    with pytest.raises(CommandError, match="is not the file v1 was trained on"):  # active_version: synthetic
        _run("train", "--add-drift-reference", "v1", "--data", str(_applications(tmp_path)))


def test_challenger_command_names_compares_and_stops_the_challenger(active_version, challenger_version):
    import json

    from scoring.tests.factories import final_score_requests

    with pytest.raises(CommandError, match="v1 is the active model"):
        _run("challenger", "--set", "v1")
    with pytest.raises(CommandError, match="no model version v404"):
        _run("challenger", "--set", "v404")
    assert "v2 is the challenger" in _run("challenger", "--set", "v2")
    final_score_requests(active_version, 4)
    text = _run("challenger")
    assert "challenger v2 against champion v1: 4 decisions compared (4 single, 0 bulk)" in text
    assert "agreement rate" in text and "swap_in" in text and "20 or more lower" in text
    report = json.loads(_run("challenger", "--json", "--since", "2000-01-01"))
    assert report["single"] == 4 and report["comparison"]["decisions"] == 4 and report["realised"] is None
    assert "v2 is no longer the challenger" in _run("challenger", "--clear")
    assert not ModelVersion.objects.filter(is_challenger=True).exists()
