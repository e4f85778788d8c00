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
    assert {
        "/api/v1/score-requests/",
        "/api/v1/score-requests/{request_id}/",
        "/api/v1/score-requests/{request_id}/replay/",
        "/api/v1/models/",
    } <= set(paths)
    assert "PAYMENT_DAY" in str(schema.json()["components"]["schemas"])
    assert client.get("/api/docs/").status_code == 200


OUTPUTS = ("ScoreRequestOutput", "BatchJobOutput", "SimulationRunOutput", "SimulationRunListItem", "ModelVersionOutput")


@pytest.fixture
def served_schema(client, db) -> dict:
    return client.get("/api/schema/", HTTP_ACCEPT="application/json").json()


def test_the_schema_states_how_to_send_the_token(served_schema):
    token = served_schema["components"]["securitySchemes"]["tokenAuth"]
    assert (token["type"], token["in"], token["name"]) == ("apiKey", "header", "Authorization")
    assert "Authorization: Token <key>" in token["description"] and 'prefix="Token"' in token["description"]


def test_uploads_declare_the_content_the_server_accepts(served_schema):
    for path in ("/api/v1/batches/", "/api/v1/simulations/"):
        multipart = served_schema["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"]
        accepted = {media.strip() for media in multipart["encoding"]["file"]["contentType"].split(",")}
        assert accepted == {"text/tab-separated-values", "text/csv", "application/gzip"}
    simulation = served_schema["components"]["schemas"]["SimulationUploadRequest"]
    assert simulation["required"] == ["file"]  # a multipart body without a file names no data


def test_every_output_field_is_required_and_nullable_only_where_null(served_schema):
    schemas = served_schema["components"]["schemas"]
    for name in OUTPUTS:
        assert set(schemas[name]["required"]) == set(schemas[name]["properties"]), name
    request = schemas["ScoreRequestOutput"]["properties"]
    assert {"status", "probability_bad", "score", "created_at"} <= set(schemas["ScoreRequestOutput"]["required"])
    assert request["probability_bad"]["nullable"] and request["score"]["nullable"]
    assert not request["created_at"].get("nullable") and not request["id"].get("nullable")
    job = schemas["BatchJobOutput"]["properties"]
    assert job["started_at"]["nullable"] and job["rows_total"]["nullable"] and not job["rows_done"].get("nullable")


def _alternatives(node, found):
    if isinstance(node, dict):
        if "oneOf" in node:
            found.append(node["oneOf"])
        for value in node.values():
            _alternatives(value, found)
    elif isinstance(node, list):
        for value in node:
            _alternatives(value, found)
    return found


def test_no_value_matches_two_alternatives_of_a_one_of(served_schema):
    """``oneOf`` refuses a value matching two alternatives: the blank free-text fields use ``anyOf``."""
    from jsonschema import Draft4Validator

    components = served_schema["components"]["schemas"]

    def resolve(schema):
        return components[schema["$ref"].rsplit("/", 1)[1]] if "$ref" in schema else schema

    samples = ["", " ", "1", "10", "São Paulo", "model", "validation", 1, 10, 0.5, True]
    for alternatives in _alternatives(served_schema, []):
        for value in samples:
            matches = [alt for alt in alternatives if Draft4Validator(resolve(alt)).is_valid(value)]
            assert len(matches) <= 1, (value, alternatives)
    city = components["ApplicantInputRequest"]["properties"]["CITY_OF_BIRTH"]
    assert all(Draft4Validator(alt).is_valid("") for alt in city["anyOf"])  # both match "": anyOf, not oneOf
