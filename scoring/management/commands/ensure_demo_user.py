from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "On a database with no users, create a staff user 'demo' and print its password and API token."

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        if User.objects.exists():
            self.stdout.write("users exist; none created (`python manage.py createsuperuser` adds one)")
            return
        password = secrets.token_urlsafe(12)
        user = User.objects.create_superuser("demo", email="", password=password)
        token = Token.objects.create(user=user)
        self.stdout.write(
            self.style.SUCCESS(
                f"Created the staff user 'demo' with password {password}\n"
                f"API token: {token.key}  (curl -H 'Authorization: Token {token.key}' ...)"
            )
        )
