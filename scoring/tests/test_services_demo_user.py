import stat

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from scoring.services.demo_user import demo_user_ensure
from scoring.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_the_first_start_creates_demo_and_shows_the_same_password_on_every_start(tmp_path):
    kept = tmp_path / "var" / "demo-user.json"
    first = demo_user_ensure(credentials_file=kept)
    user = get_user_model().objects.get(username="demo")
    assert (
        first is not None
        and first.created
        and user.is_staff
        and user.is_superuser
        and user.check_password(first.password)
    )
    assert first.token == Token.objects.get(user=user).key
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600  # the owner's only
    again = demo_user_ensure(credentials_file=kept)
    assert again is not None and (again.created, again.password, again.token) == (False, first.password, first.token)
    assert get_user_model().objects.count() == 1


def test_a_changed_password_is_not_shown(tmp_path):
    kept = tmp_path / "demo-user.json"
    demo_user_ensure(credentials_file=kept)
    user = get_user_model().objects.get(username="demo")
    user.set_password("a-password-of-their-own")
    user.save()
    shown = demo_user_ensure(credentials_file=kept)
    assert shown is not None and shown.password is None
    kept.unlink()
    shown = demo_user_ensure(credentials_file=kept)
    assert shown is not None and shown.password is None


def test_no_demo_user_is_created_where_users_exist(tmp_path):
    UserFactory.create(username="lender")
    assert demo_user_ensure(credentials_file=tmp_path / "demo-user.json") is None
    assert not get_user_model().objects.filter(username="demo").exists()


def test_ensure_demo_user_prints_the_password_and_token_once(settings, tmp_path, capsys):
    settings.VAR_DIR = tmp_path
    call_command("ensure_demo_user")
    created = capsys.readouterr().out
    token = Token.objects.get(user__username="demo").key
    assert "Created the staff user 'demo' with password" in created and token in created
    call_command("ensure_demo_user")
    assert "users exist; none created" in capsys.readouterr().out
