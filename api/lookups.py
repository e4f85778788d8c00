"""How a request names an object: by its UUID in the path, or a model version by its name."""

from __future__ import annotations

import uuid
from typing import TypeVar

from django.db.models import Model, QuerySet
from django.shortcuts import get_object_or_404
from rest_framework.exceptions import NotFound

T = TypeVar("T", bound=Model)

# Model version names are short slugs ("v3"); anything else cannot name one.
VERSION_PATTERN = r"^[A-Za-z0-9._-]+$"


def visible_or_404(visible: QuerySet[T], key: str, what: str) -> T:
    """The object of ``visible`` (what this user may see) with id ``key``; anything else, a malformed
    id included, is a JSON 404 that does not tell another client's id from one that does not exist."""
    try:
        pk = uuid.UUID(str(key))
    except ValueError:
        raise NotFound(f"No {what} has this id.") from None
    return get_object_or_404(visible, pk=pk)
