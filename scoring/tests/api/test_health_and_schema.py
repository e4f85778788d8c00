import pytest

from scoring.models import ModelVersion


@pytest.mark.django_db(transaction=True)
def test_healthz_is_200_with_database_broker_worker_and_model(client, active_version, celery_worker_process):
    import time

    for _ in range(50):  # the worker's heartbeat row may have been flushed by the previous test
        response = client.get("/healthz")
        if response.status_code == 200:
            break
        time.sleep(0.2)
    assert response.status_code == 200, response.json()
    assert response.json()["checks"] == {"database": "ok", "worker": "ok", "model": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_healthz_is_503_naming_what_is_missing(client):
    ModelVersion.objects.all().delete()
    response = client.get("/healthz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["model"].startswith("no active model") and checks["worker"].startswith("no live worker")


@pytest.mark.django_db
def test_schema_and_docs_are_public(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/v1/score-requests/", "/api/v1/score-requests/{request_id}/",
            "/api/v1/score-requests/{request_id}/replay/", "/api/v1/models/"} <= set(paths)  # fmt: skip
    assert "PAYMENT_DAY" in str(schema.json()["components"]["schemas"])
    assert client.get("/api/docs/").status_code == 200
