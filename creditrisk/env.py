"""One small typed reader for settings from the environment.

A value that does not parse stops start-up with the variable's name, rather than running with a
surprise: ``DEBUG=yes`` or ``DEBUG=1`` is refused, not read as true. ``NAME_FILE`` holds a secret's path
(Docker and Kubernetes secrets) and wins over ``NAME``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from django.core.exceptions import ImproperlyConfigured

_UNSET = object()
T = TypeVar("T")


def _raw(name: str) -> str | None:
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={path} cannot be read: {exc}") from exc
    return os.environ.get(name)


def string(name: str, default: object = _UNSET) -> str:
    value = _raw(name)
    if value is None or value == "":
        if default is _UNSET:
            raise ImproperlyConfigured(f"the environment variable {name} is required")
        return str(default)
    return value


def boolean(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None or value == "":
        return default
    if value.lower() == "true":
        return True
    if value.lower() == "false":
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def integer(name: str, default: int) -> int:
    return _parsed(name, default, int, "a whole number")


def decimal(name: str, default: float) -> float:
    return _parsed(name, default, float, "a number")


def _parsed(name: str, default: T, parse: Callable[[str], T], what: str) -> T:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        return parse(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be {what}, not {value!r}") from None


def string_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return default
    # Commas or lines: a *_FILE may hold one item a line.
    return [item.strip() for item in value.replace("\n", ",").split(",") if item.strip()]


def choice(name: str, choices: list[str], default: str) -> str:
    value = string(name, default)
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value
