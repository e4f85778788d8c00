"""Lists answered a page at a time: one pagination for every list, and the schema of its pages."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class Pagination(PageNumberPagination):
    """DRF's page numbers. Each list's filter serializer bounds ``page`` and ``page_size`` first (a 400 for
    one out of range), so ``max_page_size`` is only the ceiling no list goes above."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def page_serializer(results: type[serializers.BaseSerializer], *, name: str) -> type[serializers.Serializer]:
    """The schema of a page of ``results`` as ``Pagination`` answers it; ``name`` is its OpenAPI component's
    (``ScoreRequestPage``). Call it once per list, at import time: each call makes a class."""
    fields: dict[str, Any] = {
        "count": serializers.IntegerField(),
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": results(many=True),
    }
    return serializers.SerializerMetaclass(f"{name}Serializer", (serializers.Serializer,), fields)


def paginated_response(
    *,
    queryset: QuerySet[Any],
    serializer_class: type[serializers.BaseSerializer],
    request: Request,
    view: APIView,
    context: dict[str, Any] | None = None,
) -> Response:
    """The page of ``queryset`` the request asks for, serialised; a page that does not exist is a 404."""
    paginator = Pagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True, context=context or {}).data)
