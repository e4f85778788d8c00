"""Running simulations: the holdout by default, a labelled file, the cut-off never chosen on test rows."""

from __future__ import annotations

import pytest

from ml.scorecard import APPROVE, DECLINE
from ml.simulation import Economics, threshold_choice_for
from scoring.models import ModelVersion
from scoring.services.score_requests import applicant_score
from scoring.tests.factories import applicant_inputs
from simulations.models import SimulationDecision, SimulationRun
from simulations.services import SimulationError, simulation_run_create, simulation_run_execute, validation_predictions
from simulations.tests.conftest import flip_labels

pytestmark = pytest.mark.django_db


def _run(**options) -> SimulationRun:
    options.setdefault("economics", Economics())
    run = simulation_run_create(requested_by=None, dispatch=False, bootstrap_samples=200, **options)
    return simulation_run_execute(run_id=run.pk)


def test_default_run_decides_every_holdout_applicant_at_the_policy_cut_off(model_version):
    run = _run()
    assert run.status == "done", run.error
    assert run.source == "holdout" and run.threshold == model_version.threshold and run.threshold_source == "model"
    decisions = SimulationDecision.objects.filter(run=run)
    assert decisions.count() == len(model_version.holdout_ids) == run.summary["applicants"] == 300
    assert set(decisions.values_list("external_id", flat=True)) == set(model_version.holdout_ids)
    assert run.threshold is not None
    for decision in decisions:
        assert decision.decision == (DECLINE if decision.probability_bad >= run.threshold else APPROVE)
    assert sum(d.profit for d in decisions) == pytest.approx(run.summary["profit"])
    assert run.summary["profit_oracle"] > run.summary["profit_approve_all"]
    assert run.intervals["profit"]["low"] <= run.summary["profit"] <= run.intervals["profit"]["high"]
    assert set(run.fairness["groups"]) == {"SEX", "AGE band"} and run.fairness["proxies"]
    assert run.charts["roc"]["roc_auc"] > 0.5 and not run.warnings


def test_the_cut_off_is_never_chosen_on_the_test_rows(model_version, labelled_test_file):
    """Reversing every outcome of the test file changes the result, never the cut-off."""
    economics = Economics(margin=0.35, loss_given_default=0.6)  # not the defaults: chosen afresh on validation
    run = _run(data_uri=str(labelled_test_file), economics=economics)
    flipped = _run(data_uri=str(flip_labels(labelled_test_file)), economics=economics)
    assert run.status == flipped.status == "done"
    assert run.threshold_source == flipped.threshold_source == "validation"
    assert run.threshold == flipped.threshold
    assert run.summary["profit"] != flipped.summary["profit"]
    validation = validation_predictions(model_version)
    assert validation is not None
    expected = threshold_choice_for(validation=validation, economics=economics)
    assert (
        expected is not None and run.threshold == expected.threshold and run.threshold_choice["validation_rows"] == 900
    )


def test_default_economics_use_the_model_threshold_on_any_file(model_version, labelled_test_file):
    run = _run(data_uri=str(labelled_test_file))
    flipped = _run(data_uri=str(flip_labels(labelled_test_file)))
    assert run.threshold == flipped.threshold == model_version.threshold
    assert run.summary["applicants"] == 400 and run.data_sha256 and not run.warnings


def test_a_given_cut_off_is_evaluated_as_given(model_version):
    run = _run(threshold=0.4)
    assert run.threshold == 0.4 and run.threshold_source == "given"
    assert run.summary["approved"] == SimulationDecision.objects.filter(run=run, probability_bad__lt=0.4).count()


def test_a_cut_off_below_the_reference_applicants_risk_is_not_applied(model_version):
    """Every decline needs a reason, and reasons are measured from the reference applicant."""
    below = model_version.reference_probability - 0.01
    run = _run(threshold=below, apply_threshold=True)
    model_version.refresh_from_db()
    assert run.status == "done" and not run.threshold_applied and model_version.threshold != below
    assert any("reference applicant" in warning for warning in run.warnings)


def test_applying_the_cut_off_changes_what_scoring_decides(model_version):
    run = _run(economics=Economics(margin=0.5), apply_threshold=True)
    model_version.refresh_from_db()
    assert run.threshold_applied and model_version.threshold == run.threshold != pytest.approx(0.25, abs=0.02)
    assert model_version.threshold_choice["simulation_run"] == str(run.id)
    scored = applicant_score(inputs=applicant_inputs(seed=5)[0])
    assert scored.threshold == run.threshold
    assert scored.decision == (DECLINE if scored.probability_bad >= run.threshold else APPROVE)


def test_test_rows_the_model_was_fitted_on_are_flagged(model_version, simulation_model):
    run = _run(data_uri=str(simulation_model["data"]))
    assert run.status == "done"
    assert any("900 of the test rows" in warning for warning in run.warnings)


def test_a_changed_training_file_refuses_to_rebuild_the_holdout(model_version):
    ModelVersion.objects.filter(pk=model_version.pk).update(data_sha256="0" * 64)
    run = _run()
    assert run.status == "failed" and "changed since v1 was trained" in run.error


def test_the_holdout_of_a_version_refitted_on_it_is_refused(model_version, labelled_test_file):
    """train --refit-all fitted the artifact on the holdout too: it is no longer a test set."""
    ModelVersion.objects.filter(pk=model_version.pk).update(refit={"rows": 1200})
    model_version.refresh_from_db()
    with pytest.raises(SimulationError, match="refitted on every labelled row, its holdout included"):
        _run(model_version=model_version)
    assert not SimulationRun.objects.exists()
    run = _run(model_version=model_version, data_uri=str(labelled_test_file))  # rows it never saw: fine
    assert run.status == "done", run.error
    # A run queued before the refit was known still refuses the holdout when it executes.
    ModelVersion.objects.filter(pk=model_version.pk).update(refit={})
    queued = simulation_run_create(requested_by=None, dispatch=False, economics=Economics(), bootstrap_samples=200)
    ModelVersion.objects.filter(pk=model_version.pk).update(refit={"rows": 1200})
    failed = simulation_run_execute(run_id=queued.pk)
    assert failed.status == "failed" and "no longer unseen" in failed.error


def test_a_second_delivery_changes_nothing(model_version):
    run = _run()
    again = simulation_run_execute(run_id=run.pk)
    assert again.finished_at == run.finished_at
    assert SimulationDecision.objects.filter(run=run).count() == 300


def test_invalid_rows_are_left_out_and_counted(model_version, labelled_test_file):
    lines = labelled_test_file.read_bytes().decode("latin-1").split("\r\n")
    fields = lines[4].split("\t")
    fields[-1] = "maybe"
    lines[4] = "\t".join(fields)
    labelled_test_file.write_text("\r\n".join(lines), encoding="latin-1", newline="")
    run = _run(data_uri=str(labelled_test_file))
    assert run.status == "done" and run.summary["applicants"] == 399 and run.summary["rows_skipped"] == 1
    assert "line 5" in run.warnings[0]


def test_the_task_goes_to_the_batch_queue():
    from creditrisk.celery import app

    route = app.amqp.router.route({}, "simulations.tasks.simulation_run_task")
    assert route["queue"].name == "batch"


def test_a_file_without_any_bad_client_still_reports(model_version, labelled_test_file):
    lines = labelled_test_file.read_bytes().decode("latin-1").split("\r\n")
    good = "\r\n".join(line.rsplit("\t", 1)[0] + "\t0" for line in lines if line) + "\r\n"
    labelled_test_file.write_text(good, encoding="latin-1", newline="")
    run = _run(data_uri=str(labelled_test_file))
    assert run.status == "done", run.error
    assert run.summary["uplift_captured"] is None and run.summary["bad_rate_approved"] == 0
    assert run.intervals["uplift_captured"] == {"low": None, "high": None}


def test_an_unexpected_error_fails_the_run_instead_of_leaving_it_running(model_version, monkeypatch):
    from simulations import services
    from simulations.tasks import simulation_run_task

    def broken(*args, **kwargs):
        raise ValueError("the model could not score")

    monkeypatch.setattr(services, "simulation_report", broken)
    run = simulation_run_create(requested_by=None, economics=Economics(), dispatch=False)
    with pytest.raises(ValueError):
        simulation_run_task.apply(args=(str(run.pk),), throw=True)
    run.refresh_from_db()
    assert run.status == "failed" and "the model could not score" in run.error
