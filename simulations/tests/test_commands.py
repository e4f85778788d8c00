import io
import json

import pytest
from django.core.management import CommandError, call_command

from simulations.models import SimulationRun
from simulations.reports import JSON_KEYS

pytestmark = pytest.mark.django_db


def _run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("simulate", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_json_summary_on_a_labelled_file_is_one_object_with_the_contract_keys(model_version, labelled_test_file):
    out, _ = _run("--data", str(labelled_test_file), "--json", "--bootstrap", "200")
    summary = json.loads(out)
    assert set(JSON_KEYS) <= set(summary)
    assert summary["threshold"] == model_version.threshold and summary["applicants"] == 400
    assert summary["approval_rate"] == summary["approved"] / 400
    assert summary["profit_per_applicant"] == pytest.approx(summary["profit"] / 400)
    assert summary["profit_approve_all"] <= summary["profit_oracle"]
    assert summary["uplift_captured"] == pytest.approx(
        (summary["profit"] - summary["profit_approve_all"]) / (summary["profit_oracle"] - summary["profit_approve_all"])
    )
    assert SimulationRun.objects.get(pk=summary["simulation_run"]).status == "done"


def test_report_on_the_holdout_with_charts(model_version, tmp_path):
    out, err = _run("--bootstrap", "200", "--figures", str(tmp_path / "figures"))
    assert "approve all" in out and "oracle" in out and "By SEX" in out and "By AGE band" in out
    assert "Cramér's V" in out and "only applicants whom an earlier system approved" in out
    pngs = sorted(p.name for p in (tmp_path / "figures").iterdir())
    assert pngs == ["simulation-fairness.png", "simulation-profit.png", "simulation-roc.png", "simulation-scores.png"]
    assert "wrote" in err


def test_other_economics_and_apply_threshold(model_version):
    out, _ = _run("--json", "--margin", "0.5", "--apply-threshold", "--bootstrap", "200")
    summary = json.loads(out)
    model_version.refresh_from_db()
    assert summary["threshold_source"] == "validation" and model_version.threshold == summary["threshold"]
    assert summary["economics"]["margin"] == 0.5


def test_mistakes_are_explained_without_traceback(model_version, tmp_path):
    with pytest.raises(CommandError, match="margin must be a positive number"):
        _run("--margin", "-1")
    with pytest.raises(CommandError, match="no model version 'v9'"):
        _run("--model-version", "v9")
    with pytest.raises(CommandError, match="no such file"):
        _run("--data", str(tmp_path / "missing.txt"))
    with pytest.raises(CommandError, match="--threshold must be"):
        _run("--threshold", "1.5")


def test_without_an_active_model_says_what_to_do(db):
    with pytest.raises(CommandError, match="run `python manage.py train` first"):
        _run("--json")
