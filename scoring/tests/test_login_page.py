"""The sign-in page tells a developer where `make run` printed the demo user, and no one else."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("debug", [True, False])
def test_the_sign_in_page_says_where_the_demo_user_is_printed_only_under_debug(client, settings, debug):
    settings.DEBUG = debug
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="username"' in page and 'name="password"' in page
    assert ('id="demo-hint"' in page) is debug
    assert ("its password and its API token as its last lines" in " ".join(page.split())) is debug
