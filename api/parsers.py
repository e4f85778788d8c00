"""Request parsers: DRF's, with hostile bodies answered as client errors."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

# JSON's "\ud800" escapes decode to lone surrogates: code points that are no characters, which no
# UTF-8 response, database text or log line can carry (a pair such as "\ud83d\ude00" decodes to one
# character, so what is left in a string is always lone).
_SURROGATE = re.compile("[\ud800-\udfff]")


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser; these are a 400 with a plain reason, not a 500:

    - JSON nested deeper than Python's parser can follow (``[[[[...``);
    - a string or key holding a lone UTF-16 surrogate (``"\\ud800"``), refused before any
      validation, so no error message, log line or stored row ever echoes one.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the document is nested too deeply") from None
        where = surrogate_path(data)
        if where is not None:
            raise ParseError(
                f"JSON parse error - the string at {where or 'the top level'} holds a lone UTF-16 surrogate "
                "(an escape such as \\ud800 without its pair), which is not a character: send valid Unicode text"
            )
        return data


def surrogate_path(data: Any) -> str | None:
    """Where in parsed JSON the first string (value or key) with a lone surrogate is, as ``a.b[2]``; else None."""
    pending: list[tuple[str, Any]] = [("", data)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return path
        elif isinstance(value, dict):
            for key, item in value.items():
                if _SURROGATE.search(key):
                    return path or "a key"
                pending.append((f"{path}.{key}" if path else key, item))
        elif isinstance(value, list):
            pending.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
    return None
