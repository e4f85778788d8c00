"""The staff user ``demo`` of a first start, and what ``make run`` prints to sign in with it.

Its password is shown on every start, not only the first: it is kept beside the local database
(``var/demo-user.json``, readable by its owner only) and shown while it is still the user's password.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from rest_framework.authtoken.models import Token

DEMO_USERNAME = "demo"


@dataclass(frozen=True)
class DemoCredentials:
    username: str
    password: str | None  # None: changed since it was created, or created elsewhere
    token: str
    created: bool


def demo_user_ensure(*, credentials_file: Path) -> DemoCredentials | None:
    """On a database with no users, create ``demo`` (staff, superuser) with a random password and an
    API token; then, or when ``demo`` exists, its credentials. None when other users exist but no ``demo``."""
    User = get_user_model()
    with transaction.atomic():
        user = User.objects.filter(username=DEMO_USERNAME).first()
        created = user is None and not User.objects.exists()
        if created:
            password = secrets.token_urlsafe(12)
            user = User.objects.create_superuser(DEMO_USERNAME, email="", password=password)
            _keep_password(credentials_file, password)
        if user is None:
            return None
        token, _ = Token.objects.get_or_create(user=user)
    return DemoCredentials(DEMO_USERNAME, _kept_password(credentials_file, user), token.key, created)


def _keep_password(path: Path, password: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump({"username": DEMO_USERNAME, "password": password}, handle)


def _kept_password(path: Path, user: AbstractBaseUser) -> str | None:
    try:
        password = json.loads(path.read_text())["password"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return password if user.check_password(password) else None
