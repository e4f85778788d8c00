"""Request throttling, the same for every API."""

from __future__ import annotations

from rest_framework import throttling
from rest_framework.settings import api_settings


class UserRateThrottle(throttling.UserRateThrottle):
    """DRF's per-user throttle, with the rate read from the settings on each request.

    DRF's own class copies the rates when it is imported, so changed settings (``override_settings``
    in tests, for one) would never reach it.
    """

    def get_rate(self) -> str | None:
        if self.scope is None:
            return None
        # Rates are strings ("120/min"); drf-stubs types DEFAULT_THROTTLE_RATES' values as numbers.
        rates: dict[str, str | None] = api_settings.DEFAULT_THROTTLE_RATES  # type: ignore[assignment]
        return rates.get(self.scope)
