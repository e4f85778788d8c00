"""Who may do what, endpoint by endpoint: anonymous, a client, another client and staff.

Every route of the URL conf must have a row here (``test_every_route_is_in_the_access_table``), so a
new endpoint cannot ship without its access rules being stated and tested. Each role is a Django test
client logged in by session (for the pages) and sending its API token (for the API), as a browser
and a script of the same lender would.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.authtoken.models import Token

from ml import schema
from ml.data import to_original_format
from ml.sample import synthetic_applications
from scoring.models import BatchJob, ModelVersion, OutcomeUpload, ScoreRequest
from scoring.services.batch_jobs import batch_job_create
from scoring.services.outcomes import outcome_upload_create
from scoring.tests.factories import UserFactory, applicant_inputs, final_score_requests
from simulations.models import SimulationRun

ROLES = ("anonymous", "client", "other_client", "staff")
ADMIN_LOGIN = "/admin/login/"


@dataclass(frozen=True)
class Rule:
    route: str  # as in the URL conf
    method: str
    path: str  # {id}: a request of "client"
    outcome: dict[str, int | str]  # role -> status code, or "login" / "admin login" for a redirect there


def _everyone(status: int | str) -> dict[str, int | str]:
    return dict.fromkeys(ROLES, status)


API_CLIENTS: dict[str, int | str] = {"anonymous": 401}
OWN_OR_STAFF: dict[str, int | str] = {"anonymous": 401, "client": 200, "other_client": 404, "staff": 200}
RULES = (
    Rule("api/v1/score-requests/", "GET", "/api/v1/score-requests/", {**_everyone(200), **API_CLIENTS}),
    Rule("api/v1/score-requests/", "POST", "/api/v1/score-requests/", {**_everyone(202), **API_CLIENTS}),
    Rule(
        "api/v1/score-requests/<str:request_id>/",
        "GET",
        "/api/v1/score-requests/{id}/",
        {"anonymous": 401, "client": 200, "other_client": 404, "staff": 200},
    ),
    Rule(
        "api/v1/score-requests/<str:request_id>/replay/",
        "POST",
        "/api/v1/score-requests/{id}/replay/",
        {"anonymous": 401, "client": 200, "other_client": 404, "staff": 200},
    ),
    Rule("api/v1/models/", "GET", "/api/v1/models/", {**_everyone(200), **API_CLIENTS}),
    Rule("api/schema/", "GET", "/api/schema/", _everyone(200)),
    Rule("api/docs/", "GET", "/api/docs/", _everyone(200)),
    Rule("healthz", "GET", "/healthz", _everyone(503)),  # public; 503 here: no worker runs in this test
    Rule("metrics", "GET", "/metrics", _everyone(200)),  # open unless METRICS_TOKEN is set (creditrisk/tests)
    Rule("accounts/login/", "GET", "/accounts/login/", _everyone(200)),
    Rule("accounts/logout/", "POST", "/accounts/logout/", _everyone("login")),
    Rule("", "GET", "/", {"anonymous": "login", "client": 200, "other_client": 200, "staff": 200}),
    Rule("admin/", "GET", "/admin/", {**_everyone("admin login"), "staff": 200}),
    Rule("admin/", "GET", "/admin/scoring/dashboard/", {**_everyone("admin login"), "staff": 200}),
    Rule("admin/", "GET", "/admin/scoring/scorerequest/", {**_everyone("admin login"), "staff": 200}),
    Rule("admin/", "GET", "/admin/scoring/scorerequest/{id}/change/", {**_everyone("admin login"), "staff": 200}),
    Rule("admin/", "GET", "/admin/scoring/modelversion/", {**_everyone("admin login"), "staff": 200}),
    Rule("admin/", "GET", "/admin/scoring/applicant/", {**_everyone("admin login"), "staff": 200}),
    Rule("admin/", "GET", "/admin/scoring/workerheartbeat/", {**_everyone("admin login"), "staff": 200}),
    Rule("admin/", "GET", "/admin/auth/user/", {**_everyone("admin login"), "staff": 200}),
    Rule("admin/", "GET", "/admin/authtoken/tokenproxy/", {**_everyone("admin login"), "staff": 200}),
    Rule("admin/", "GET", "/admin/scoring/batchjob/", {**_everyone("admin login"), "staff": 200}),
    Rule("admin/", "GET", "/admin/scoring/batchjob/add/", {**_everyone("admin login"), "staff": 200}),
    Rule("admin/", "GET", "/admin/scoring/batchjob/{job}/change/", {**_everyone("admin login"), "staff": 200}),
    Rule("api/v1/batches/", "GET", "/api/v1/batches/", {**_everyone(200), **API_CLIENTS}),
    Rule("api/v1/batches/", "POST", "/api/v1/batches/", {**_everyone(202), **API_CLIENTS}),
    Rule("api/v1/batches/<str:job_id>/", "GET", "/api/v1/batches/{job}/", OWN_OR_STAFF),
    Rule("api/v1/batches/<str:job_id>/cancel/", "POST", "/api/v1/batches/{job}/cancel/", OWN_OR_STAFF),
    Rule("api/v1/batches/<str:job_id>/errors/", "GET", "/api/v1/batches/{job}/errors/", OWN_OR_STAFF),
    Rule(
        "api/v1/batches/<str:job_id>/results/",
        "GET",
        "/api/v1/batches/{job}/results/",
        {**OWN_OR_STAFF, "client": 409, "staff": 409},
    ),  # 409: the job has not run (no worker here)
    Rule(
        "api/v1/models/<str:version>/performance/",
        "GET",
        "/api/v1/models/v1/performance/",
        {"anonymous": 401, "client": 403, "other_client": 403, "staff": 200},
    ),
    Rule("api/v1/shadow-scores/", "GET", "/api/v1/shadow-scores/", {**_everyone(200), **API_CLIENTS}),
    Rule(
        "api/v1/challenger/comparison/",
        "GET",
        "/api/v1/challenger/comparison/",
        {"anonymous": 401, "client": 403, "other_client": 403, "staff": 409},
    ),  # 409: no challenger named here
    Rule("api/v1/outcomes/", "GET", "/api/v1/outcomes/", {**_everyone(200), **API_CLIENTS}),
    Rule("api/v1/outcomes/", "POST", "/api/v1/outcomes/", {**_everyone(201), **API_CLIENTS}),
    Rule("api/v1/outcomes/<str:upload_id>/", "GET", "/api/v1/outcomes/{upload}/", OWN_OR_STAFF),
    Rule("api/v1/outcomes/<str:upload_id>/listed/", "GET", "/api/v1/outcomes/{upload}/listed/", OWN_OR_STAFF),
    Rule("admin/", "GET", "/admin/scoring/outcomeupload/", {**_everyone("admin login"), "staff": 200}),
    Rule("admin/", "GET", "/admin/scoring/outcomeupload/add/", {**_everyone("admin login"), "staff": 200}),
    Rule("admin/", "GET", "/admin/scoring/outcomeupload/{upload}/change/", {**_everyone("admin login"), "staff": 200}),
    Rule("api/v1/simulations/", "GET", "/api/v1/simulations/", {**_everyone(200), **API_CLIENTS}),
    Rule("api/v1/simulations/", "POST", "/api/v1/simulations/", {**_everyone(202), **API_CLIENTS}),
    Rule("api/v1/simulations/<str:run_id>/", "GET", "/api/v1/simulations/{run}/", OWN_OR_STAFF),
    Rule(
        "api/v1/simulations/<str:run_id>/decisions/",
        "GET",
        "/api/v1/simulations/{run}/decisions/",
        {**OWN_OR_STAFF, "client": 409, "staff": 409},
    ),  # 409: the run has not finished
    Rule("admin/", "GET", "/admin/simulations/simulationrun/", {**_everyone("admin login"), "staff": 200}),
    Rule("batches/", "GET", "/batches/", {"anonymous": "login", "client": 200, "other_client": 200, "staff": 200}),
    Rule(
        "batches/upload/",
        "POST",
        "/batches/upload/",
        {"anonymous": "login", "client": 302, "other_client": 302, "staff": 302},
    ),  # to the new job's page
    Rule(
        "batches/<uuid:job_id>/",
        "GET",
        "/batches/{job}/",
        {"anonymous": "login", "client": 200, "other_client": 404, "staff": 200},
    ),
)


def _routes(patterns: list, prefix: str = "") -> set[str]:
    """Every route of the URL conf; the admin site counts as one (its pages are listed in RULES)."""
    routes: set[str] = set()
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver) and route != "admin/":
            routes |= _routes(entry.url_patterns, route)
        elif isinstance(entry, URLPattern | URLResolver):
            routes.add(route)
    return routes


def test_every_route_is_in_the_access_table():
    assert _routes(get_resolver().url_patterns) == {rule.route for rule in RULES}


@pytest.fixture
def people(db) -> dict[str, User | None]:
    return {
        "anonymous": None,
        "client": UserFactory.create(username="lender-a"),
        "other_client": UserFactory.create(username="lender-b"),
        "staff": User.objects.create_superuser("backoffice", password="x"),
    }


@pytest.fixture
def as_role(people) -> dict[str, Client]:
    clients = {}
    for role, user in people.items():
        client = Client()
        if user is not None:
            client.force_login(user)
            client.defaults["HTTP_AUTHORIZATION"] = f"Token {Token.objects.create(user=user).key}"
        clients[role] = client
    return clients


@pytest.fixture
def clients_request(active_version, people, settings) -> ScoreRequest:
    settings.CREDITRISK_SCORE_WAIT_SECONDS = 0  # no worker here: creation answers 202
    return final_score_requests(active_version, 1, user=people["client"])[0]


def _portfolio() -> bytes:
    frame = synthetic_applications(20, seed=4).drop(columns=[schema.LABEL])
    return to_original_format(frame).encode("latin-1")


@pytest.fixture
def clients_job(active_version, people, settings) -> BatchJob:
    settings.CREDITRISK_BATCH_QUEUE = "no-worker-listens"  # jobs stay queued: no worker in this test
    return batch_job_create(
        content=[_portfolio()],
        original_name="portfolio.txt",
        uploaded_by=people["client"],
        channel=BatchJob.Channel.API,
    )


@pytest.fixture
def clients_run(active_version, people) -> SimulationRun:
    return SimulationRun.objects.create(
        requested_by=people["client"], model_version=active_version, data_source="holdout"
    )


@pytest.fixture
def clients_upload(active_version, people, clients_request) -> OutcomeUpload:
    return outcome_upload_create(
        content=[f"decision_id,bad\n{clients_request.id},1\n".encode()],
        original_name="outcomes.csv",
        uploaded_by=people["client"],
        channel="api",
    )


def _call(client: Client, rule: Rule, request_id: str, job_id: str = "", run_id: str = "", upload_id: str = ""):
    path = rule.path.replace("{id}", request_id).replace("{job}", job_id).replace("{run}", run_id)
    path = path.replace("{upload}", upload_id)
    if rule.path in ("/api/v1/batches/", "/batches/upload/") and rule.method == "POST":
        return client.post(path, {"file": SimpleUploadedFile("portfolio.txt", _portfolio())})
    if rule.path == "/api/v1/outcomes/" and rule.method == "POST":
        return client.post(path, {"file": SimpleUploadedFile("outcomes.csv", b"ID_CLIENT,bad\n1,1\n")})
    if rule.method == "POST":
        body = applicant_inputs(seed=1)[0] if rule.path == "/api/v1/score-requests/" else {}
        return client.post(path, body, content_type="application/json")
    return client.get(path)


def _outcome(response) -> int | str:
    if response.status_code == 302:
        location = response["Location"]
        if location.startswith(ADMIN_LOGIN):
            return "admin login"
        if location.startswith("/accounts/login/"):
            return "login"
    return response.status_code


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("rule", RULES, ids=lambda rule: f"{rule.method} {rule.path}")
def test_access_rule(rule: Rule, role: str, as_role, clients_request, clients_job, clients_run, clients_upload):
    response = _call(
        as_role[role], rule, str(clients_request.id), str(clients_job.id), str(clients_run.id), str(clients_upload.id)
    )
    assert _outcome(response) == rule.outcome[role]


def test_another_clients_request_is_indistinguishable_from_none(as_role, clients_request):
    """404 with the body of an id that does not exist: not 403, which would say the id is real."""
    other, theirs, nobody = as_role["other_client"], str(clients_request.id), str(uuid.uuid4())
    for suffix, method in (("", other.get), ("replay/", other.post)):
        mine = method(f"/api/v1/score-requests/{theirs}/{suffix}", {}, content_type="application/json")
        missing = method(f"/api/v1/score-requests/{nobody}/{suffix}", {}, content_type="application/json")
        assert mine.status_code == missing.status_code == 404 and mine.json() == missing.json()


def test_another_client_finds_none_of_the_clients_data_in_lists(as_role, clients_request):
    other = as_role["other_client"]
    for query in (
        {},
        {"decision": clients_request.decision},
        {"model_version": "v1"},
        {"status": "done"},
        {"page_size": 500},
    ):
        body = other.get("/api/v1/score-requests/", query).json()
        assert body["count"] == 0 and body["results"] == []
    assert as_role["client"].get("/api/v1/score-requests/").json()["count"] == 1
    assert as_role["staff"].get("/api/v1/score-requests/").json()["count"] == 1


def test_admin_login_refuses_a_non_staff_account(people):
    client = Client()
    response = client.post(ADMIN_LOGIN, {"username": "lender-a", "password": "password", "next": "/admin/"})
    assert response.status_code == 200 and "staff account" in response.content.decode()
    assert _outcome(client.get("/admin/scoring/scorerequest/")) == "admin login"


def test_admin_actions_refuse_non_staff(as_role, clients_request, active_version):
    other = ModelVersion.objects.create(
        version="v2",
        algorithm="x",
        random_state=0,
        data_source="x",
        data_sha256="0",
        artifact_path="x",
        artifact_sha256="0",
        threshold=0.5,
    )
    for role in ("anonymous", "client"):
        export = as_role[role].post(
            "/admin/scoring/scorerequest/", {"action": "export_csv", "_selected_action": [str(clients_request.id)]}
        )
        assert _outcome(export) == "admin login" and not export.get("Content-Disposition")
        activate = as_role[role].post(
            "/admin/scoring/modelversion/", {"action": "activate", "_selected_action": [other.pk], "confirm": "yes"}
        )
        assert _outcome(activate) == "admin login"
    assert ModelVersion.objects.get(is_active=True) == active_version


def test_staff_without_permissions_sees_no_admin_records(db, clients_request):
    clerk = Client()
    clerk.force_login(UserFactory.create(username="clerk", is_staff=True))
    assert clerk.get("/admin/").status_code == 200
    assert clerk.get("/admin/scoring/scorerequest/").status_code == 403
    assert clerk.get(f"/admin/scoring/scorerequest/{clients_request.id}/change/").status_code == 403


def test_staff_who_may_only_look_cannot_activate_upload_or_start_anything(db, active_version):
    """Staff status and view permissions let a user read the back-office; changing the champion or the
    challenger, cancelling a job or uploading needs the model's change or add permission."""
    from django.contrib.auth.models import Permission

    viewer = UserFactory.create(username="viewer", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename__startswith="view_"))
    other = ModelVersion.objects.create(
        version="v2",
        algorithm="x",
        random_state=0,
        data_source="x",
        data_sha256="0",
        artifact_path="x",
        artifact_sha256="0",
        threshold=0.5,
    )
    client = Client()
    client.force_login(viewer)
    listing = client.get("/admin/scoring/modelversion/")
    assert listing.status_code == 200
    assert (
        'value="activate"' not in listing.content.decode() and 'value="make_challenger"' not in listing.content.decode()
    )
    for action in ("activate", "make_challenger"):
        client.post(
            "/admin/scoring/modelversion/", {"action": action, "_selected_action": [other.pk], "confirm": "yes"}
        )
    other.refresh_from_db()
    assert ModelVersion.objects.get(is_active=True) == active_version and not other.is_challenger
    for page in (
        "/admin/scoring/batchjob/add/",
        "/admin/scoring/outcomeupload/add/",
        "/admin/simulations/simulationrun/add/",
    ):
        assert client.get(page).status_code == 403
        assert client.post(page, {"note": "x"}).status_code == 403
    assert not BatchJob.objects.exists() and not OutcomeUpload.objects.exists() and not SimulationRun.objects.exists()


def test_an_inactive_users_token_is_refused(as_role, people, active_version):
    people["client"].is_active = False
    people["client"].save()
    assert as_role["client"].get("/api/v1/models/").status_code == 401


def test_a_wrong_token_is_refused_even_with_a_session(as_role, active_version):
    """A bad token is an error, not a fall back to the browser session."""
    client = as_role["client"]
    client.defaults["HTTP_AUTHORIZATION"] = "Token " + "0" * 40
    assert client.get("/api/v1/models/").status_code == 401


def test_the_session_api_needs_a_csrf_token(people, active_version):
    """A page on another site cannot make a logged-in browser score applicants."""
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(people["client"])
    response = browser.post("/api/v1/score-requests/", applicant_inputs(seed=2)[0], content_type="application/json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    assert not ScoreRequest.objects.exists()


def test_login_never_redirects_off_site(people):
    response = Client().post(
        "/accounts/login/?next=https://evil.example/",
        {"username": "lender-a", "password": "password", "next": "https://evil.example/"},
    )
    assert response.status_code == 302 and "evil.example" not in response["Location"]


def test_responses_forbid_framing_and_content_sniffing(as_role, active_version):
    for path in ("/", "/api/v1/models/", "/admin/", "/accounts/login/"):
        response = as_role["staff"].get(path)
        assert response["X-Frame-Options"] == "DENY" and response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db
def test_the_public_health_check_never_shows_a_connection_secret(client, monkeypatch):
    from creditrisk.celery import app as celery_app

    # setitem, not setattr: ``conf.broker_write_url`` is a property that falls back to broker_url, and
    # setattr would restore that fallback's value as a fixed write URL, pinning every later publish.
    monkeypatch.setitem(celery_app.conf, "broker_write_url", "redis://:hunter2-broker-secret@127.0.0.1:9/0")
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["checks"]["broker"].startswith("broker unreachable")
    assert "hunter2" not in response.content.decode()
