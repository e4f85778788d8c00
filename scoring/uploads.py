"""Upload size limit, enforced while the body streams in (Django's own limits skip file parts)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler
from rest_framework import status
from rest_framework.exceptions import APIException

from scoring.services.batch_files import upload_size_message

_FRAMING_BYTES = 64 * 1024


class UploadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


class SizeLimitUploadHandler(FileUploadHandler):
    """First in the chain: refuses a body whose declared or received size passes the limit.

    A declared Content-Length over the limit is refused before a byte is read; a body sent without
    one (chunked) is refused as soon as it passes the limit. What was received is discarded.
    """

    def handle_raw_input(
        self, input_data: Any, META: Any, content_length: int, boundary: Any, encoding: str | None = None
    ) -> None:
        # The body is the file plus a little multipart framing: allow for the framing.
        self._check(content_length - _FRAMING_BYTES if content_length else None)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self._check(start + len(raw_data))
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None

    @staticmethod
    def _check(size: int | None) -> None:
        if size is not None and size > settings.CREDITRISK_MAX_UPLOAD_BYTES:
            raise UploadTooLarge(upload_size_message())
