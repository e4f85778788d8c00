"""The image's HEALTHCHECK: ``python -m creditrisk.healthcheck`` exits 0 when ``/healthz`` answers 200.

Sent to the gunicorn in this container with a Host that ``ALLOWED_HOSTS`` accepts; ``/healthz`` is
exempt from the HTTPS redirect, so no TLS is needed inside the container.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

# The gunicorn of this container; another address only for tests that run it outside Docker.
URL = os.environ.get("CREDITRISK_HEALTHCHECK_URL", "http://127.0.0.1:8000/healthz")


def allowed_host() -> str:
    """The first entry of ALLOWED_HOSTS usable as a Host header ('.example.com' -> 'example.com')."""
    for entry in os.environ.get("ALLOWED_HOSTS", "localhost").split(","):
        host = entry.strip().lstrip(".")
        if host and host != "*":
            return host
    return "localhost"


def main() -> int:
    request = urllib.request.Request(URL, headers={"Host": allowed_host()})
    try:
        with urllib.request.urlopen(request, timeout=8) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
