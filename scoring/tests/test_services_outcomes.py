"""Observed outcomes through the services: matching, what is listed instead of applied, immutability,
the audit chain, and realised performance on a constructed set."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from ml.data import to_original_format
from ml.file_formats import DataFormatError
from ml.sample import synthetic_applications
from ml.scorecard import APPROVE, DECLINE
from scoring.management.commands.challenger import comparison_lines
from scoring.models import Applicant, BatchJob, Outcome, OutcomeListedRow, OutcomeUpload, ScoreRequest, ShadowScore
from scoring.services.audit_verification import audit_verify
from scoring.services.batch_chunks import batch_job_run_inline
from scoring.services.batch_jobs import batch_job_create
from scoring.services.challenger import challenger_set
from scoring.services.challenger_comparison import challenger_comparison
from scoring.services.outcomes import model_version_performance, outcome_upload_create
from scoring.services.score_requests import score_request_create
from scoring.tests.factories import UserFactory, applicant_inputs, final_score_requests
from scoring.tests.test_audit import _untriggered

pytestmark = pytest.mark.django_db


def _upload(text: str, user=None, **options) -> OutcomeUpload:
    return outcome_upload_create(
        content=[text.encode()],
        original_name="outcomes.csv",
        uploaded_by=user,
        channel=OutcomeUpload.Channel.API,
        **options,
    )


def _listed(upload: OutcomeUpload) -> list[tuple[int, str, str]]:
    return list(upload.listed_rows.order_by("line", "id").values_list("line", "kind", "problem"))


def _decision(
    version,
    id_client: int,
    probability: float,
    *,
    user=None,
    ago: timedelta = timedelta(days=30),
    decision: str | None = None,
) -> ScoreRequest:
    """A done single decision with chosen figures (not scored, not chained: for matching and performance)."""
    applicant = Applicant.objects.create(external_id=id_client)
    when = timezone.now() - ago
    return ScoreRequest.objects.create(
        applicant=applicant,
        requested_by=user,
        channel=ScoreRequest.Channel.API,
        status=ScoreRequest.Status.DONE,
        probability_bad=probability,
        score=round(700 - 200 * probability),
        decision=decision or (APPROVE if probability < version.threshold else DECLINE),
        model_version=version,
        threshold=version.threshold,
        input_snapshot={"ID_CLIENT": id_client},
        created_at=when,
        finished_at=when,
    )


def test_good_rows_are_recorded_against_their_decisions_and_chained(active_version):
    first, second = final_score_requests(active_version, 2)
    upload = _upload(
        f"decision_id,ID_CLIENT,bad,date\n{first.pk},,1,{timezone.localdate()}\n,{second.external_id},0,\n"
    )
    assert (upload.rows, upload.applied, sum(upload.counts.values())) == (2, 2, 0)
    outcomes = {o.score_request_id: (o.bad, o.line, o.model_version_id, o.external_id) for o in upload.outcomes.all()}
    assert outcomes == {
        first.pk: (True, 2, active_version.pk, first.external_id),
        second.pk: (False, 3, active_version.pk, second.external_id),
    }
    assert upload.sequence == 3 and upload.previous_hash == second.record_hash
    assert audit_verify() == (3, [])


def test_unknown_ids_are_listed_and_nothing_is_recorded_for_them(active_version):
    queued = score_request_create(inputs=applicant_inputs(seed=4)[0], requested_by=None, channel="api")
    upload = _upload(
        "decision_id,ID_CLIENT,bad\n"
        "7f0c5a4e-1111-4a2b-9c3d-000000000001,,1\n"
        f"{queued.pk},,1\n"
        "7f0c5a4e-2222-4a2b-9c3d-000000000002:4,,0\n"
        ",424242,0\n"
    )
    assert upload.applied == 0 and upload.counts["unknown"] == 4 and not Outcome.objects.exists()
    assert [(line, kind) for line, kind, _ in _listed(upload)] == [
        (2, "unknown"),
        (3, "unknown"),
        (4, "unknown"),
        (5, "unknown"),
    ]
    problems = [problem for _, _, problem in _listed(upload)]
    assert problems[0] == "no score request or bulk job has this id"
    assert problems[1] == "this score request has no decision (it is queued)"
    assert problems[2] == "no bulk job has this id" and problems[3] == "no decision has ID_CLIENT 424242"


def test_duplicates_and_conflicts_in_the_file_and_against_the_record_are_listed_not_applied(active_version):
    a, b, c = (_decision(active_version, n, 0.1) for n in (1, 2, 3))
    first = _upload(f"decision_id,bad\n{a.pk},1\n")
    second = _upload(f"decision_id,ID_CLIENT,bad\n{a.pk},,1\n,1,0\n{b.pk},,1\n,2,0\n{c.pk},,0\n,3,0\n")
    assert first.applied == 1 and second.applied == 1
    assert [(line, kind) for line, kind, _ in _listed(second)] == [
        (2, "duplicate"),
        (3, "conflict"),  # a: already recorded bad=1
        (4, "conflict"),
        (5, "conflict"),  # b: both outcomes in the file, neither recorded
        (7, "duplicate"),  # c: the same outcome twice, the first recorded
    ]
    assert second.counts == {"invalid": 0, "unknown": 0, "duplicate": 2, "conflict": 3, "ambiguous": 0}
    assert "line 2 of outcomes.csv" in _listed(second)[1][2] and "never changed" in _listed(second)[1][2]
    recorded = dict(Outcome.objects.values_list("score_request_id", "bad"))
    assert recorded == {a.pk: True, c.pk: False}  # a's outcome stands; b has none
    assert second.applied + sum(n for kind, n in second.counts.items() if kind != "ambiguous") == second.rows


def test_id_client_takes_the_latest_decision_and_says_when_there_were_several(active_version):
    older = _decision(active_version, 77, 0.1, ago=timedelta(days=60))
    newer = _decision(active_version, 77, 0.2, ago=timedelta(days=20))
    upload = _upload("ID_CLIENT,bad\n77,1\n")
    assert upload.applied == 1 and upload.counts["ambiguous"] == 1
    assert Outcome.objects.get().score_request_id == newer.pk != older.pk
    ((line, kind, problem),) = _listed(upload)
    assert (line, kind) == (2, "ambiguous") and f"decision {newer.pk}" in problem and "send decision_id" in problem
    again = _upload("ID_CLIENT,bad\n77,1\n")  # sent twice: a duplicate, not also "recorded for the latest"
    assert again.applied == 0 and again.counts["duplicate"] == 1 and again.counts["ambiguous"] == 0
    assert [kind for _, kind, _ in _listed(again)] == ["duplicate"]


def test_a_client_matches_only_its_own_decisions_and_staff_match_anyones(active_version):
    lender_a, lender_b = UserFactory.create(username="lender-a"), UserFactory.create(username="lender-b")
    staff = UserFactory.create(username="ops", is_staff=True)
    decision = _decision(active_version, 55, 0.1, user=lender_a)
    _decision(active_version, 55, 0.1, user=lender_b, ago=timedelta(days=90))  # lender B's own client 55
    refused = _upload(f"decision_id,bad\n{decision.pk},1\n", user=lender_b)
    assert refused.applied == 0 and _listed(refused)[0][2] == "no score request or bulk job of lender-b has this id"
    by_b = _upload("ID_CLIENT,bad\n55,0\n", user=lender_b)
    assert by_b.applied == 1 and by_b.counts["ambiguous"] == 0 and by_b.decisions_of == lender_b
    outcome = Outcome.objects.get(upload=by_b)
    assert outcome.score_request is not None and outcome.score_request.requested_by == lender_b
    for_a = _upload("ID_CLIENT,bad\n55,1\n", user=staff, decisions_of=lender_a)
    assert for_a.applied == 1 and Outcome.objects.get(upload=for_a).score_request_id == decision.pk
    assert for_a.uploaded_by == staff and for_a.decisions_of == lender_a


def test_bulk_decisions_are_named_by_job_and_line_or_by_id_client(active_version):
    text = to_original_format(synthetic_applications(5, seed=3, first_id=1001, with_label=False))
    job = batch_job_run_inline(
        job=batch_job_create(
            content=[text.encode("latin-1")],
            original_name="five.txt",
            uploaded_by=None,
            channel=BatchJob.Channel.COMMAND,
        )
    )
    upload = _upload(f"decision_id,ID_CLIENT,bad\n{job.pk}:1,,1\n,1004,0\n{job.pk}:9,,1\n{job.pk}:2,1001,0\n")
    results = {r.line: r for r in job.results.all()}  # no header: lines 1-5 hold clients 1001-1005
    assert {(o.batch_result_id, o.bad) for o in upload.outcomes.all()} == {
        (results[1].pk, True),
        (results[4].pk, False),
    }
    assert [(line, kind) for line, kind, _ in _listed(upload)] == [(4, "unknown"), (5, "invalid")]
    assert "has no decision on line 9" in _listed(upload)[0][2]
    assert _listed(upload)[1][2] == "ID_CLIENT 1001 is not the decision's (1002); nothing is recorded"
    report = model_version_performance(model_version=active_version)
    assert report["decisions"] == 5 and report["outcomes"] == 2


def test_a_dated_outcome_goes_to_the_decision_made_by_then_and_never_before_one(active_version):
    older = _decision(active_version, 9, 0.1, ago=timedelta(days=90))
    newer = _decision(active_version, 9, 0.1, ago=timedelta(days=10))
    between, before = ((timezone.now() - timedelta(days=days)).date() for days in (40, 120))
    upload = _upload(f"ID_CLIENT,bad,date\n9,1,{between}\n")
    assert upload.applied == 1 and upload.listed_rows.count() == 0  # one decision made by then: no ambiguity
    assert Outcome.objects.get().score_request_id == older.pk
    refused = _upload(f"ID_CLIENT,bad,date\n9,1,{before}\n")
    assert refused.applied == 0 and _listed(refused)[0][1] == "invalid"
    assert f"is before every decision for this ID_CLIENT (the first: decision {older.pk}" in _listed(refused)[0][2]
    by_id = _upload(f"decision_id,bad,date\n{newer.pk},1,{between}\n")
    assert by_id.applied == 0 and f"is before the decision (decision {newer.pk}" in _listed(by_id)[0][2]


def test_a_file_that_cannot_be_read_as_outcomes_stores_nothing(active_version):
    with pytest.raises(DataFormatError, match="lacks the column bad"):
        _upload("ID_CLIENT,outcome\n1,1\n")
    with pytest.raises(DataFormatError, match="binary"):
        outcome_upload_create(
            content=[b"\x89PNG\r\n\x1a\n\x00\x00"], original_name="x.png", uploaded_by=None, channel="api"
        )
    assert not OutcomeUpload.objects.exists()


def test_a_gzip_file_is_read_and_its_sha256_is_that_of_the_bytes_sent(active_version):
    import gzip
    import hashlib

    decision = _decision(active_version, 5, 0.1)
    data = gzip.compress(f"decision_id,bad\n{decision.pk},0\n".encode())
    upload = outcome_upload_create(
        content=[data], original_name="q3.csv.gz", uploaded_by=None, channel="command", note="Q3 collections export"
    )
    assert upload.applied == 1 and upload.file_sha256 == hashlib.sha256(data).hexdigest()
    assert (upload.size_bytes, upload.note) == (len(data), "Q3 collections export")


def test_outcome_records_cannot_be_changed_or_deleted(active_version):
    decision = _decision(active_version, 5, 0.1)
    upload = _upload(f"decision_id,bad\n{decision.pk},0\n,\n1,1\n")  # one outcome, one listed row
    assert upload.applied == 1 and upload.listed_rows.count() == 1
    for statement in (
        lambda: Outcome.objects.update(bad=True),
        lambda: Outcome.objects.all().delete(),
        lambda: OutcomeListedRow.objects.update(problem="fine"),
        lambda: OutcomeUpload.objects.update(applied=0),
        _delete_uploads,
    ):
        with pytest.raises(DatabaseError, match="audit record"), transaction.atomic():
            statement()


def _delete_uploads() -> None:
    """In SQL: Django's own delete stops earlier, at the outcomes that protect their upload."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM scoring_outcomeupload")


@pytest.mark.parametrize(
    "tamper, problem",
    [
        ("UPDATE scoring_outcome SET bad = NOT bad", "outcomes of this upload were edited, deleted or added"),
        ("DELETE FROM scoring_outcomelistedrow", "outcomes of this upload were edited, deleted or added"),
        ("UPDATE scoring_outcomeupload SET applied = 5", "content was edited after the decision"),
    ],
)
def test_verify_audit_catches_a_tampered_outcome_upload(active_version, tamper, problem):
    requests = final_score_requests(active_version, 2)
    upload = _upload(f"decision_id,bad\n{requests[0].pk},1\n{requests[1].pk},0\nx,1\n")  # two outcomes, one listed
    assert upload.sequence == 3 and audit_verify() == (3, [])
    _untriggered(tamper, [])
    checked, problems = audit_verify()
    assert checked == 3 and problems and {p.sequence for p in problems} == {3}
    assert problem in {p.problem for p in problems}


def test_realised_performance_of_a_version_on_a_constructed_set(active_version):
    # Eight decisions with outcomes (ml/tests/test_performance.py works their figures out by hand), two without.
    probabilities = [0.05, 0.10, 0.15, 0.20, 0.30, 0.40, 0.50, 0.60]
    bad = [0, 0, 1, 0, 0, 1, 1, 1]
    decisions = [
        _decision(active_version, 100 + i, p, decision=APPROVE if p < 0.35 else DECLINE)
        for i, p in enumerate(probabilities)
    ]
    _decision(active_version, 200, 0.1, decision=APPROVE)
    _decision(active_version, 201, 0.9, decision=DECLINE)
    _upload("decision_id,bad\n" + "".join(f"{d.pk},{b}\n" for d, b in zip(decisions, bad, strict=True)))
    report = model_version_performance(model_version=active_version)
    assert (report["model_version"], report["uploads"], report["decisions"], report["approved_decisions"]) == (
        "v1",
        1,
        10,
        6,
    )
    assert report["approval_rate"] == pytest.approx(0.6) and report["outcome_coverage"] == pytest.approx(5 / 6)
    assert report["roc_auc"] == pytest.approx(0.875) and report["ks"] == pytest.approx(0.75)
    assert report["approved"]["bad_rate"] == pytest.approx(0.2) and report["declined"]["outcomes"] == 3
    assert report["profit"]["realised"] == pytest.approx(250) and report["profit"]["expected"] == pytest.approx(450)
    (band,) = report["calibration"]  # eight outcomes make one band
    assert (band["outcomes"], band["bads"], band["score_low"], band["score_high"]) == (8, 4, 580, 690)
    assert "approved population only" in report["limit"] and report["notes"] == []


def test_the_challenger_comparison_measures_both_models_on_the_shadowed_decisions_with_outcomes(
    active_version, challenger_version
):
    challenger_set(model_version=challenger_version)  # the same scorer, declining from 0.2 instead of 0.25
    singles = final_score_requests(active_version, 6)
    text = to_original_format(synthetic_applications(6, seed=8, first_id=5001, with_label=False))
    job = batch_job_run_inline(
        job=batch_job_create(
            content=[text.encode("latin-1")],
            original_name="six.txt",
            uploaded_by=None,
            channel=BatchJob.Channel.COMMAND,
        )
    )
    assert challenger_comparison().realised is None  # no outcomes yet
    rows = [f"{r.pk},{i % 2}" for i, r in enumerate(singles)] + [f"{job.pk}:{line},{line % 2}" for line in (1, 2, 3)]
    _upload("decision_id,bad\n" + "\n".join(rows) + "\n")
    realised = challenger_comparison().realised
    assert realised is not None
    assert realised["outcomes"] == 9 and realised["limit"].startswith("Both models are measured on the same decisions")
    champion, challenger = realised["champion"], realised["challenger"]
    assert champion["outcomes"] == challenger["outcomes"] == 9 and champion["bads"] == challenger["bads"] == 5
    # One scorer: the same ranking, so the same ROC AUC; the lower cut-off approves fewer of the same applicants.
    assert champion["roc_auc"] == pytest.approx(challenger["roc_auc"])
    assert challenger["approved"]["outcomes"] <= champion["approved"]["outcomes"]
    assert realised["swap_in_with_outcome"] == 0
    shifted = sum(
        s.champion_decision == APPROVE and s.decision == DECLINE
        for s in ShadowScore.objects.all()
        if s.error == "" and (s.score_request_id in {r.pk for r in singles} or s.line in (1, 2, 3))
    )
    assert realised["swap_out_with_outcome"] == shifted
    text = "\n".join(comparison_lines(challenger_comparison()))  # what `manage.py challenger` prints
    assert "9 shadowed decisions with an outcome" in text and "limit: Both models are measured" in text
    assert "champion   ROC AUC" in text and "challenger ROC AUC" in text


def test_an_upload_that_waits_too_long_for_another_is_refused_and_stores_nothing(active_version, settings):
    """Files are recorded one at a time; one kept waiting past CREDITRISK_OUTCOMES_LOCK_SECONDS is refused."""
    import time

    from scoring.services.outcomes import OUTCOMES_LOCK, OutcomesBusyError
    from scoring.tests.conftest import database_session

    if connection.vendor != "postgresql":
        pytest.skip("the lock is PostgreSQL's")  # CI runs on PostgreSQL
    decision = final_score_requests(active_version, 1)[0]
    settings.CREDITRISK_OUTCOMES_LOCK_SECONDS = 0.5
    other = database_session()  # another upload, being recorded
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [OUTCOMES_LOCK])
        started = time.monotonic()
        with pytest.raises(OutcomesBusyError, match="another outcome file is still being recorded"):
            _upload(f"decision_id,bad\n{decision.pk},1\n")
        assert time.monotonic() - started < 3
    finally:
        other.rollback()
        other.close()
    assert not OutcomeUpload.objects.exists() and not Outcome.objects.exists()
    assert _upload(f"decision_id,bad\n{decision.pk},1\n").applied == 1  # the other one done: recorded
