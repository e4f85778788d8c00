"""Plain HTTP for tests that talk to a server they started, and reading Prometheus text."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

from prometheus_client.parser import text_string_to_metric_families


def request(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 30
) -> tuple[int, http.client.HTTPMessage, bytes]:
    parts = urlsplit(url)
    assert parts.hostname is not None, url
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body, headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, http.client.HTTPMessage, str]:
    status, response_headers, body = request("GET", url, headers=headers)
    return status, response_headers, body.decode()


def post_json(url: str, payload: Any, headers: dict[str, str]) -> tuple[int, http.client.HTTPMessage, Any]:
    status, response_headers, body = request(
        "POST", url, json.dumps(payload).encode(), {"Content-Type": "application/json", **headers}
    )
    return status, response_headers, json.loads(body) if body else None


def metric_value(text: str, sample_name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text (0 when absent, as Prometheus reads a missing counter)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == sample_name and sample.labels == labels:
                return sample.value
    return 0.0
