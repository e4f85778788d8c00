"""The API's error body and the OpenAPI responses that many operations share."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


def error(description: str) -> OpenApiResponse:
    """A response whose body is the error body (``{"detail": ...}``)."""
    return OpenApiResponse(ErrorSerializer, description=description)


def not_found(what: str) -> dict[int, OpenApiResponse]:
    """The 404 of an object looked up by id (``api.lookups.visible_or_404``)."""
    return {404: error(f"No such {what} visible to this user")}


INVALID = OpenApiResponse(OpenApiTypes.OBJECT, description="Invalid input: a list of errors for each field")
COMMON = {401: error("Not authenticated"), 429: error("Throttled: too many requests")}
# DRF answers 415 to a body of a media type the operation does not parse (or none at all).
UNSUPPORTED = {415: error("The body is not of a media type this operation takes")}
NO_PAGE = error("No such page")
# Redis (broker or throttle counters) unreachable: nothing was stored; send the same request again later.
UNAVAILABLE = {
    503: error(
        "The service is unavailable for a moment (its queue or counters cannot be reached); nothing was "
        "stored. Send the request again after Retry-After"
    )
}
RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    int,
    OpenApiParameter.HEADER,
    response=[503],
    description="Seconds to wait before sending the request again",
)
CSV = OpenApiResponse(OpenApiTypes.STR, description="CSV file")
