"""Champion and challenger: naming the challenger, its shadow scores of single and bulk decisions (after the
champion's are committed), a challenger that fails, and the comparison."""

from __future__ import annotations

import joblib
import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from ml.registry import sha256_file
from ml.scorecard import APPROVE, DECLINE
from scoring.models import BatchResult, ModelVersion, ScoreRequest, ShadowScore
from scoring.services import score_requests
from scoring.services.audit_verification import audit_verify
from scoring.services.batch_chunks import batch_job_run_inline
from scoring.services.batch_jobs import batch_job_create
from scoring.services.challenger import ChallengerError, challenger_clear, challenger_set
from scoring.services.challenger_comparison import NoComparisonError, challenger_comparison
from scoring.services.model_versions import model_version_activate
from scoring.services.score_requests import score_request_create, score_request_process
from scoring.tests.conftest import version_like
from scoring.tests.factories import applicant_inputs, final_score_requests

pytestmark = pytest.mark.django_db


# -- naming the challenger ---------------------------------------------------------------------------


def test_a_version_becomes_the_challenger_in_place_of_another(active_version, challenger_version):
    third = version_like(active_version, version="v3")
    assert challenger_set(model_version=challenger_version).is_challenger
    named = challenger_set(model_version=third)
    assert list(ModelVersion.objects.filter(is_challenger=True)) == [third] and named.challenger_since is not None
    assert ModelVersion.objects.get(pk=challenger_version.pk).challenger_since is None
    assert challenger_clear() == third and not ModelVersion.objects.filter(is_challenger=True).exists()
    assert challenger_clear() is None


def test_the_champion_cannot_be_its_own_challenger(active_version):
    with pytest.raises(ChallengerError, match="v1 is the active model, the champion"):
        challenger_set(model_version=active_version)


def test_a_version_whose_scorer_does_not_load_is_refused(active_version):
    altered = version_like(active_version, version="v8", scorer_sha256="0" * 64)
    with pytest.raises(ChallengerError, match="v8 cannot score, so it cannot be the challenger: .*sha256"):
        challenger_set(model_version=altered)
    assert not ModelVersion.objects.filter(is_challenger=True).exists()


def test_the_database_keeps_one_challenger_and_never_the_active_one(active_version, challenger_version):
    with pytest.raises(IntegrityError, match="challenger_is_not_active"), transaction.atomic():
        ModelVersion.objects.filter(pk=active_version.pk).update(is_challenger=True)
    ModelVersion.objects.filter(pk=challenger_version.pk).update(is_challenger=True)
    third = version_like(active_version, version="v3")
    with pytest.raises(IntegrityError, match="one_challenger_model"), transaction.atomic():
        ModelVersion.objects.filter(pk=third.pk).update(is_challenger=True)


def test_activating_the_challenger_promotes_it_and_leaves_no_challenger(active_version, challenger_version):
    challenger_set(model_version=challenger_version)
    promoted = model_version_activate(model_version=challenger_version)
    assert promoted.is_active and not promoted.is_challenger and promoted.challenger_since is None
    assert not ModelVersion.objects.get(pk=active_version.pk).is_active
    assert not ModelVersion.objects.filter(is_challenger=True).exists()


# -- single decisions --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_challenger_scores_a_single_decision_once_it_is_committed(active_version, challenger_version, monkeypatch):
    """The worker's statements with a challenger: the champion's eight, its COMMIT (the waiting caller is
    signalled then), and only after it the challenger's id and threshold and the shadow row."""
    monkeypatch.setattr(score_requests.queues, "send", lambda *args, **options: None)
    challenger_set(model_version=challenger_version)
    first, created = (
        score_request_create(inputs=inputs, requested_by=None, channel="api")
        for inputs in applicant_inputs(seed=21, n=2)
    )
    score_request_process(score_request_id=str(first.pk))  # the process has read both versions
    with CaptureQueriesContext(connection) as queries:
        done = score_request_process(score_request_id=str(created.pk))
    kinds = [query["sql"].split()[0] for query in queries.captured_queries]
    assert kinds == ["WITH", "SELECT", "BEGIN", "SET", "SELECT", "UPDATE", "UPDATE", "COMMIT", "SELECT", "INSERT"], (
        kinds
    )
    assert "is_challenger" in queries.captured_queries[8]["sql"]
    assert "scoring_shadowscore" in queries.captured_queries[9]["sql"]
    shadow = ShadowScore.objects.get(score_request=done)
    assert (shadow.challenger, shadow.champion, shadow.error) == (challenger_version, active_version, "")
    assert (shadow.champion_probability, shadow.champion_score, shadow.champion_decision) == (
        done.probability_bad,
        done.score,
        done.decision,
    )
    assert shadow.probability_bad == pytest.approx(done.probability_bad, abs=1e-12)  # the same scorer
    assert shadow.probability_bad is not None
    assert shadow.decision == (DECLINE if shadow.probability_bad >= 0.2 else APPROVE) and shadow.threshold == 0.2
    assert shadow.external_id == done.external_id
    assert audit_verify() == (2, [])  # the chain holds the champion's records only, unchanged


def test_without_a_challenger_nothing_is_shadowed(active_version, challenger_version):
    done = final_score_requests(active_version, 2)
    assert all(r.status == "done" for r in done) and not ShadowScore.objects.exists()


def test_a_challenger_that_cannot_load_is_recorded_and_the_decision_stands(active_version, broken_challenger):
    done = final_score_requests(active_version, 2)
    assert [(r.status, r.model_version_id) for r in done] == [("done", active_version.pk)] * 2
    shadows = ShadowScore.objects.filter(challenger=broken_challenger)
    assert shadows.count() == 2
    for shadow in shadows:
        assert shadow.probability_bad is None and shadow.decision == "" and shadow.score is None
        assert shadow.error.startswith("ArtifactIntegrityError: ") and "refusing to load it" in shadow.error
        assert shadow.champion_decision in (APPROVE, DECLINE)


def test_a_challenger_that_cannot_load_is_not_read_again_for_every_decision(
    active_version, broken_challenger, monkeypatch
):
    """Each attempt reads and hashes the whole file: after a failure, the next decisions within
    LOAD_RETRY_SECONDS record the same failure without trying; after that it is tried again."""
    from scoring.services import challenger as service

    attempts = []

    def counted(**options):
        attempts.append(options["model_version"].pk)
        return service_load(**options)

    service_load = service.model_version_load
    monkeypatch.setattr(service, "model_version_load", counted)
    final_score_requests(active_version, 3)
    assert attempts == [broken_challenger.pk]
    errors = list(ShadowScore.objects.filter(challenger=broken_challenger).values_list("error", flat=True))
    assert len(errors) == 3 and all("refusing to load it" in error for error in errors)
    monkeypatch.setattr(service, "LOAD_RETRY_SECONDS", 0)
    final_score_requests(active_version, 1)
    assert len(attempts) == 2  # the back-off over, it is tried again


def test_scores_that_could_not_be_stored_are_recorded_as_a_failure(active_version, challenger_version, monkeypatch):
    """Not one probability a row, or a probability that is not finite: a failure, with the reason."""
    import numpy as np

    from ml.challenger import ShadowScores
    from scoring.services import challenger as service

    challenger_set(model_version=challenger_version)
    monkeypatch.setattr(
        service, "shadow_scores", lambda *a, **k: ShadowScores(np.array([np.nan]), np.array([0]), np.array([APPROVE]))
    )
    done = final_score_requests(active_version, 1)[0]
    shadow = ShadowScore.objects.get(score_request=done)
    assert done.status == "done" and shadow.probability_bad is None and shadow.decision == ""
    assert shadow.error.startswith("ValueError: ") and "1 of them not finite" in shadow.error


def test_a_challenger_whose_scorer_raises_is_recorded_whatever_it_raised(active_version, trained):
    """A registered file that loads (its sha256 matches) but is no scorer: it raises AttributeError."""
    path = trained["folder"] / "not-a-scorer.joblib"
    joblib.dump({"not": "a scorer"}, path)
    odd = version_like(active_version, version="v7", scorer_path=path.name, scorer_sha256=sha256_file(path))
    challenger_set(model_version=odd)  # it loads, so it may be named
    done = final_score_requests(active_version, 1)[0]
    assert done.status == "done"
    assert ShadowScore.objects.get(score_request=done).error.startswith("AttributeError: ")


def test_a_shadow_score_is_written_once(active_version, challenger_version):
    if connection.vendor != "postgresql":
        pytest.skip("the trigger is PostgreSQL's")  # CI runs on PostgreSQL
    challenger_set(model_version=challenger_version)
    final_score_requests(active_version, 1)
    shadow = ShadowScore.objects.get()
    with pytest.raises(IntegrityError, match="written once"), transaction.atomic():
        ShadowScore.objects.filter(pk=shadow.pk).update(decision=APPROVE)
    with pytest.raises(IntegrityError, match="written once"), transaction.atomic():
        ShadowScore.objects.filter(pk=shadow.pk).delete()


# -- bulk decisions ----------------------------------------------------------------------------------


def _run_job(trained, lines: int = 150):
    text = "".join(trained["text"].splitlines(keepends=True)[:lines]).encode("latin-1")
    job = batch_job_create(
        content=[text], original_name="portfolio.txt", uploaded_by=None, channel="command", dispatch=False
    )
    return batch_job_run_inline(job=job)


def test_every_line_of_a_bulk_job_is_shadowed_beside_its_decision(active_version, challenger_version, trained):
    challenger_set(model_version=challenger_version)
    job = _run_job(trained)
    assert job.status == "done" and job.rows_done == 150
    results: dict[int | None, BatchResult] = {r.line: r for r in BatchResult.objects.filter(job=job)}
    shadows = {s.line: s for s in ShadowScore.objects.filter(job=job)}
    assert shadows.keys() == results.keys()
    for line, shadow in shadows.items():
        result = results[line]
        assert (shadow.chunk_id, shadow.external_id, shadow.champion_score, shadow.champion_decision) == (
            result.chunk_id,
            result.external_id,
            result.score,
            result.decision,
        )
        assert shadow.champion_probability == result.probability_bad
        assert shadow.probability_bad == pytest.approx(result.probability_bad, abs=1e-12)
        assert shadow.probability_bad is not None
        assert shadow.decision == (DECLINE if shadow.probability_bad >= 0.2 else APPROVE)
    swapped = [(s, s.probability_bad) for s in shadows.values() if s.decision != s.champion_decision]
    assert swapped and all(p is not None and 0.2 <= p < 0.25 for _, p in swapped)  # declined by the challenger only


def test_a_failing_challenger_leaves_a_bulk_job_whole_and_records_each_chunk(
    active_version, broken_challenger, trained
):
    job = _run_job(trained)
    assert job.status == "done" and BatchResult.objects.filter(job=job).count() == job.rows_done == 150
    failures = list(ShadowScore.objects.filter(job=job).order_by("chunk__index"))
    assert [f.decisions for f in failures] == [c.rows_done for c in job.chunks.order_by("index")]
    assert all(f.line is None and f.probability_bad is None and "ArtifactIntegrityError" in f.error for f in failures)
    assert audit_verify()[1] == []


# -- the comparison ----------------------------------------------------------------------------------


def test_the_comparison_counts_what_the_challenger_scored_and_what_it_failed(active_version, challenger_version):
    challenger_set(model_version=challenger_version)
    done = final_score_requests(active_version, 12)
    broken = version_like(active_version, version="v9", scorer_sha256="0" * 64)
    ModelVersion.objects.filter(pk=challenger_version.pk).update(is_challenger=False)
    ModelVersion.objects.filter(pk=broken.pk).update(is_challenger=True)
    final_score_requests(active_version, 3)  # shadowed by the broken challenger: not in v2's comparison
    report = challenger_comparison(challenger=challenger_version)
    agree = sum(ShadowScore.objects.get(score_request=r).decision == r.decision for r in done)
    assert (report.challenger, report.champion, report.single, report.bulk, report.failed) == ("v2", "v1", 12, 0, 0)
    assert report.comparison.decisions == 12 and report.comparison.agreement_rate == pytest.approx(agree / 12)
    assert report.comparison.shift.mean == 0  # the same scorer: the same points
    assert report.realised is None and any("no outcomes are recorded yet" in note for note in report.notes)
    failing = challenger_comparison()  # the challenger now
    assert (failing.challenger, failing.failed, failing.comparison.decisions) == ("v9", 3, 0)
    assert failing.failures[0]["error"].startswith("ArtifactIntegrityError")


def test_there_is_nothing_to_compare_before_any_challenger(active_version):
    with pytest.raises(NoComparisonError, match="make one the challenger first"):
        challenger_comparison()


def test_a_failed_decision_is_not_shadowed(active_version, challenger_version, settings):
    challenger_set(model_version=challenger_version)
    settings.CREDITRISK_MAX_ATTEMPTS = 0  # the request is given up at once: no decision to shadow
    created = score_request_create(inputs=applicant_inputs(seed=3)[0], requested_by=None, channel="api")
    failed = score_request_process(score_request_id=str(created.pk))
    assert failed.status == ScoreRequest.Status.FAILED and not ShadowScore.objects.exists()
