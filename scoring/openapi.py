"""The scoring API's own schema hook; what every API shares is in ``api/openapi.py``."""

from __future__ import annotations

from typing import Any


def close_applicant_input(result: dict[str, Any], **_: Any) -> dict[str, Any]:
    """The applicant input refuses unknown fields (400), so its schema says so."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.startswith("ApplicantInput"):
            component["additionalProperties"] = False
    return result
