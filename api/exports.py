"""CSV downloads that a spreadsheet opens without running anything."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.http import StreamingHttpResponse
from rest_framework.negotiation import BaseContentNegotiation

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """Text that a spreadsheet would read as a formula gets a leading apostrophe (OWASP CSV injection)."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_rows(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """Lines of a CSV file, for a streaming response; every cell made spreadsheet-safe."""
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([spreadsheet_safe(cell) for cell in row])


def csv_response(
    name: str, header: Sequence[str], rows: Iterable[Sequence[Any]], *, content_type: str = "text/csv; charset=utf-8"
) -> StreamingHttpResponse:
    """A CSV download named ``name``, streamed a line at a time."""
    response = StreamingHttpResponse(csv_rows(header, rows), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


class CSVOrJSONError(BaseContentNegotiation):
    """CSV downloads: the body is always CSV or, for an error, JSON, whatever the client's Accept says."""

    def select_parser(self, request: Any, parsers: Any) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Any, renderers: Any, format_suffix: str | None = None) -> Any:
        return renderers[0], renderers[0].media_type
