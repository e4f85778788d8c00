"""The back-office: staff only, read-only audit records, safe CSV export, activation with confirmation."""

import re
from html import unescape

import pytest
from django.contrib.auth.models import User

from ml.scorecard import APPROVE
from scoring.models import ModelVersion, ScoreRequest
from scoring.tests.factories import applicant_inputs, final_score_requests

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(User.objects.create_superuser("ops", password="x"))
    return client


def test_non_staff_users_are_refused(client, active_version):
    client.force_login(User.objects.create_user("lender", password="x"))
    response = client.get("/admin/scoring/scorerequest/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_score_requests_are_listed_filterable_and_read_only(staff_client, active_version):
    request = final_score_requests(active_version, 1)[0]
    listing = staff_client.get("/admin/scoring/scorerequest/", {"decision__exact": request.decision})
    assert listing.status_code == 200 and str(request.id) in listing.content.decode()
    detail = staff_client.get(f"/admin/scoring/scorerequest/{request.id}/change/")
    assert detail.status_code == 200 and 'type="submit"' not in detail.content.decode().split("<form")[-1]
    assert staff_client.post(f"/admin/scoring/scorerequest/{request.id}/delete/").status_code == 403


def test_csv_export_neutralises_formula_injection(staff_client, active_version):
    inputs = applicant_inputs(seed=3)[0]
    inputs["RESIDENCIAL_CITY"] = '=HYPERLINK("http://evil")'
    from scoring.services.score_requests import score_request_create, score_request_process

    created = score_request_create(inputs=inputs, requested_by=None, channel="api")
    done = score_request_process(score_request_id=str(created.pk))
    response = staff_client.post(
        "/admin/scoring/scorerequest/", {"action": "export_csv", "_selected_action": [str(done.pk)]}
    )
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines()[0].startswith("id,ID_CLIENT,status,decision,score")
    for line in body.splitlines()[1:]:
        assert not any(cell.startswith(("=", "+", "@")) for cell in line.split(","))


def test_spreadsheet_safe_prefixes_only_formula_text():
    from api.exports import spreadsheet_safe

    assert spreadsheet_safe("=1+1") == "'=1+1" and spreadsheet_safe("-2") == "'-2"
    assert spreadsheet_safe("@SUM(A1)") == "'@SUM(A1)" and spreadsheet_safe("Recife") == "Recife"
    assert spreadsheet_safe(-2.5) == -2.5


def test_activation_asks_for_confirmation_then_switches(staff_client, active_version):
    other = ModelVersion.objects.create(**{**_copy(active_version), "version": "v2", "is_active": False})
    ask = staff_client.post("/admin/scoring/modelversion/", {"action": "activate", "_selected_action": [other.pk]})
    assert ask.status_code == 200 and "Activate model v2?" in ask.content.decode()
    assert ModelVersion.objects.get(is_active=True) == active_version
    staff_client.post(
        "/admin/scoring/modelversion/", {"action": "activate", "_selected_action": [other.pk], "confirm": "yes"}
    )
    assert ModelVersion.objects.get(is_active=True) == other


def test_scoring_follows_the_newly_activated_version(active_version):
    from scoring.services.model_versions import model_version_activate

    other = ModelVersion.objects.create(
        **{**_copy(active_version), "version": "v2", "is_active": False, "threshold": 0.99}
    )
    before = final_score_requests(active_version, 1)[0]
    model_version_activate(model_version=other)
    after = final_score_requests(other, 1)[0]
    assert before.model_version == active_version and after.model_version == other
    assert after.threshold == 0.99 and after.decision == APPROVE


def test_dashboard_shows_the_figures(staff_client, active_version):
    final_score_requests(active_version, 3)
    response = staff_client.get("/admin/scoring/dashboard/")
    html = response.content.decode()
    assert response.status_code == 200 and "Scoring dashboard" in html and ">3</strong>decisions" in html
    assert ScoreRequest.objects.count() == 3


def test_model_card_is_shown_in_the_admin(staff_client, trained_version):
    html = staff_client.get(f"/admin/scoring/modelversion/{trained_version.pk}/change/").content.decode()
    assert "Model card: v1" in html and "Limitations" in html


def _copy(version: ModelVersion) -> dict:
    fields = [f.name for f in ModelVersion._meta.fields if f.name not in ("id", "created_at")]
    return {name: getattr(version, name) for name in fields}


def test_staff_upload_a_batch_file_and_follow_its_progress(staff_client, active_version, trained, settings):
    settings.CREDITRISK_BATCH_QUEUE = "no-worker-listens"  # scored below, in this process
    from django.core.files.uploadedfile import SimpleUploadedFile

    from scoring.models import BatchJob
    from scoring.services.batch_chunks import batch_job_run_inline

    upload = SimpleUploadedFile("portfolio.txt", trained["text"].encode("latin-1"))
    response = staff_client.post("/admin/scoring/batchjob/add/", {"file": upload})
    job = BatchJob.objects.get()
    assert response.status_code == 302 and str(job.pk) in response["Location"]
    assert job.channel == "admin" and job.uploaded_by is not None and job.uploaded_by.username == "ops"
    batch_job_run_inline(job=job)
    listing = staff_client.get("/admin/scoring/batchjob/").content.decode()
    assert "600 scored, 0 invalid of 600" in listing and "100.0" in listing
    detail = staff_client.get(f"/admin/scoring/batchjob/{job.pk}/change/").content.decode()
    assert f"/api/v1/batches/{job.pk}/results/" in detail
    assert staff_client.get(f"/api/v1/batches/{job.pk}/results/").status_code == 200


def test_a_wrong_batch_file_is_refused_in_the_admin_form(staff_client, active_version):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("excel.csv", b"ID_CLIENT;PAYMENT_DAY\r\n1;5\r\n")
    response = staff_client.post("/admin/scoring/batchjob/add/", {"file": upload})
    assert response.status_code == 400 and "semicolons" in response.content.decode()


def _visible_text(html: str) -> str:
    """The page's text as a reader sees it: no markup, no style or script blocks."""
    html = re.sub(r"<(style|script)\b.*?</\1>", " ", html, flags=re.DOTALL)
    return unescape(re.sub(r"<[^>]+>", " ", html))


def test_model_version_page_shows_tables_charts_and_the_rendered_card(staff_client, trained_version):
    html = staff_client.get(f"/admin/scoring/modelversion/{trained_version.pk}/change/").content.decode()
    assert html.count("<table class='kv'>") >= 4 and "<table class='records'>" in html
    assert "<svg class='importance'" in html and "ROC AUC" in html and "Candidates compared" in html
    assert "<h1>Model card: v1</h1>" in html and "<h2>Limitations" in html
    figures = re.findall(rf"/admin/scoring/modelversion/{trained_version.pk}/figure/(\w+)\.png", html)
    assert {"roc", "calibration", "importance"} <= set(figures)
    for role in ("roc", "calibration", "importance"):
        figure = staff_client.get(f"/admin/scoring/modelversion/{trained_version.pk}/figure/{role}.png")
        assert figure.status_code == 200 and b"".join(figure.streaming_content)[:4] == b"\x89PNG"
    text = _visible_text(html)
    for raw in ('{"', "{'", '["', "['", "![", "| --- |", "Pipeline("):
        assert raw not in text, f"{raw!r} is on the page"


def test_model_version_figures_are_served_by_role_only(staff_client, trained_version, client):
    base = f"/admin/scoring/modelversion/{trained_version.pk}/figure"
    assert staff_client.get(f"{base}/v1.png").status_code == 404
    assert staff_client.get(f"{base}/..%2Fv1.joblib.png").status_code in (301, 404)  # never the file
    assert staff_client.get("/admin/scoring/modelversion/999/figure/roc.png").status_code == 404
    client.logout()
    assert client.get(f"{base}/roc.png").status_code == 302


def test_hyperparameters_kept_as_python_reprs_are_shown_in_words():
    from backoffice.display import key_value_table, plain

    assert plain("('AGE', 'PAYMENT_DAY')") == "AGE, PAYMENT_DAY"
    assert plain("StratifiedKFold(n_splits=5, random_state=42, shuffle=True)") == "StratifiedKFold (see the artifact)"
    assert plain(0.123456) == "0.1235" and plain(True) == "yes" and plain(None) == "-"
    table = key_value_table({"C": 1.0, "inner": {"depth": 3}})
    assert "<th scope='row'>inner</th><td><table class='kv'>" in table and "{" not in table


def test_model_card_html_keeps_only_the_versions_figures_and_drops_markup():
    from scoring.admin_html import model_card_html

    card = "# Card\n\n![ROC](v1-roc.png) ![elsewhere](http://evil/x.png)\n\n<script>alert(1)</script>\n\n| a |\n| --- |\n| 1 |"
    html = model_card_html(card, lambda src: "/figure/roc.png" if src == "v1-roc.png" else None)
    assert '<img alt="ROC" src="/figure/roc.png">' in html and "evil" not in html
    assert "<script" not in html and "<table>" in html
    legacy = model_card_html("- Hyper-parameters: `{'C': 1.0, 'nonnegative': \"('AGE', 'OTHER_INCOMES')\"}`", str)
    assert "C: 1.0000; nonnegative: AGE, OTHER_INCOMES" in legacy and "{" not in legacy


def test_probabilities_in_admin_lists_have_three_decimals(staff_client, active_version):
    request = final_score_requests(active_version, 1)[0]
    listing = staff_client.get("/admin/scoring/scorerequest/").content.decode()
    assert f">{request.probability_bad:.3f}<" in listing and str(request.probability_bad) not in listing
    versions = staff_client.get("/admin/scoring/modelversion/").content.decode()
    assert ">0.250<" in versions


def test_activating_the_active_version_says_so_and_changes_nothing(staff_client, active_version):
    before = ModelVersion.objects.get(pk=active_version.pk).activated_at
    ask = staff_client.post(
        "/admin/scoring/modelversion/", {"action": "activate", "_selected_action": [active_version.pk]}
    )
    html = ask.content.decode()
    assert ask.status_code == 200 and "v1 is already the active model" in html
    assert "It replaces" not in html and 'name="confirm"' not in html
    done = staff_client.post(
        "/admin/scoring/modelversion/",
        {"action": "activate", "_selected_action": [active_version.pk], "confirm": "yes"},
        follow=True,
    )
    assert "Model v1 is already the active one; nothing changed." in done.content.decode()
    assert ModelVersion.objects.get(pk=active_version.pk).activated_at == before


def _done_requests(version: ModelVersion, scores: list[int]) -> None:
    from scoring.models import Applicant

    ScoreRequest.objects.bulk_create(
        ScoreRequest(
            applicant=Applicant.objects.create(),
            channel="api",
            status="done",
            score=score,
            probability_bad=0.2,
            decision=APPROVE,
            model_version=version,
            input_snapshot={},
        )
        for score in scores
    )


def test_histogram_bins_follow_the_scores_given_in_one_query(active_version, django_assert_num_queries):
    from scoring.monitoring import score_histogram

    _done_requests(active_version, [458, 470, 471, 500, 512, 530, 551, 551])
    with django_assert_num_queries(1):
        histogram = score_histogram(scores=ScoreRequest.objects.filter(status="done"))
    assert histogram[0]["low"] == 458 and histogram[-1]["low"] <= 551 <= histogram[-1]["high"]
    widths = {b["high"] - b["low"] + 1 for b in histogram}
    assert widths == {8} and len(histogram) == 12  # 94 points in 12 whole-point bins
    assert sum(b["count"] for b in histogram) == 8 and sum(1 for b in histogram if b["count"]) == 6
    assert [b["count"] for b in histogram if b["low"] <= 551 <= b["high"]] == [2]


def test_histogram_of_one_score_and_of_none(active_version):
    from scoring.monitoring import score_histogram

    assert score_histogram(scores=ScoreRequest.objects.all()) == []
    _done_requests(active_version, [500, 500])
    assert score_histogram(scores=ScoreRequest.objects.all()) == [{"low": 500, "high": 500, "count": 2}]


def test_dashboard_histogram_has_many_bars_for_a_narrow_range(staff_client, active_version):
    _done_requests(active_version, list(range(458, 552, 3)))
    html = staff_client.get("/admin/scoring/dashboard/").content.decode()
    assert html.count('data-testid="histogram-bar"') == 12 and "from 458 to" in html


def test_the_drift_report_page_highlights_inputs_to_act_on(staff_client, drift_version, tmp_path):
    from ml.data import to_original_format
    from ml.sample import synthetic_applications
    from scoring.models import DriftReport
    from scoring.services.drift import drift_report_for_file, drift_report_store

    frame = synthetic_applications(300, seed=8, with_label=False)
    frame["AGE"] = 79.0
    path = tmp_path / "later.txt"
    path.write_text(to_original_format(frame), encoding="latin-1", newline="")
    report = drift_report_for_file(data_uri=str(path))
    stored = drift_report_store(report=report, model_version=drift_version, source=DriftReport.Source.FILE)
    listing = staff_client.get("/admin/scoring/driftreport/").content.decode()
    assert "AGE" in listing  # the inputs above 0.25, in the list
    page = staff_client.get(f"/admin/scoring/driftreport/{stored.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert '<tr class="act"><td>AGE' in html  # highlighted row of the table
    assert '<section class="act"><h3>AGE' in html  # its bins' chart
    assert html.count('class="psi-bar') == len(report.inputs) + 1  # a bar for every input and the score
    assert staff_client.post(f"/admin/scoring/driftreport/{stored.pk}/delete/").status_code == 403


def test_the_drift_reports_list_warns_when_the_active_model_has_no_reference(staff_client, active_version):
    html = staff_client.get("/admin/scoring/driftreport/").content.decode()
    assert "trained before drift references were kept" in html and "--add-drift-reference v1" in html


def test_a_running_job_shows_the_rows_of_its_chunks_under_way(staff_client, active_version, trained):
    from scoring.models import BatchChunk, BatchJob
    from scoring.services.batch_chunks import batch_chunk_process
    from scoring.services.batch_jobs import batch_job_create, batch_job_index

    job = batch_job_create(
        content=[trained["text"].encode("latin-1")],
        original_name="portfolio.txt",
        uploaded_by=None,
        channel=BatchJob.Channel.ADMIN,
        dispatch=False,
    )
    job = batch_job_index(job_id=job.pk, dispatch=False)
    first, second = job.chunks.order_by("index")[:2]
    batch_chunk_process(chunk_id=first.pk)
    BatchChunk.objects.filter(pk=second.pk).update(rows_scored=60)  # a worker half-way through it
    detail = staff_client.get(f"/admin/scoring/batchjob/{job.pk}/change/").content.decode()
    assert f"{first.line_count + 60} of 600 rows" in detail and "60 of them in chunks under way" in detail
    assert "rows/s" in detail and "s left" in detail
