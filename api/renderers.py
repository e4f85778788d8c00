"""Response renderers: DRF's JSON, never a 500 for text that UTF-8 cannot carry."""

from __future__ import annotations

import copy
from typing import Any

from rest_framework import renderers


class JSONRenderer(renderers.JSONRenderer):
    """DRF's JSON renderer (UTF-8, characters as they are); a value UTF-8 cannot encode (a lone
    surrogate that reached a response by a path the parser does not guard) is written as a ``\\uXXXX``
    escape instead of failing the response. The JSON parser refuses such strings at the door
    (``api/parsers.py``): this is the safety net behind it."""

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            escaping = copy.copy(self)
            escaping.ensure_ascii = True  # type: ignore[misc]  # DRF reads it from the instance; drf-stubs says ClassVar
            return super(JSONRenderer, escaping).render(data, accepted_media_type, renderer_context)
