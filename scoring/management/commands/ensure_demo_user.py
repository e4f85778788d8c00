from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from scoring.services.demo_user import demo_user_ensure


class Command(BaseCommand):
    help = "On a database with no users, create a staff user 'demo' and print its password and API token."

    def handle(self, *args: Any, **options: Any) -> None:
        credentials = demo_user_ensure(credentials_file=settings.VAR_DIR / "demo-user.json")
        if credentials is None or not credentials.created:
            self.stdout.write("users exist; none created (`python manage.py createsuperuser` adds one)")
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Created the staff user 'demo' with password {credentials.password}\n"
                f"API token: {credentials.token}  (curl -H 'Authorization: Token {credentials.token}' ...)"
            )
        )
