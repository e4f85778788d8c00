import pytest
from django.core.exceptions import ImproperlyConfigured

from creditrisk import env


def test_booleans_accept_only_true_or_false(monkeypatch):
    monkeypatch.setenv("FLAG", "TRUE")
    assert env.boolean("FLAG", False) is True
    monkeypatch.setenv("FLAG", "yes")
    with pytest.raises(ImproperlyConfigured, match="FLAG must be true or false, not 'yes'"):
        env.boolean("FLAG", False)


@pytest.mark.parametrize("value", ["1", "0", "on", "no", " true"])
def test_booleans_refuse_numbers_and_other_words_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("FLAG", value)
    with pytest.raises(ImproperlyConfigured, match=f"FLAG must be true or false, not '{value}'"):
        env.boolean("FLAG", True)


def test_booleans_ignore_case_and_default_when_unset(monkeypatch):
    monkeypatch.setenv("FLAG", "False")
    assert env.boolean("FLAG", True) is False
    monkeypatch.setenv("FLAG", "tRuE")
    assert env.boolean("FLAG", False) is True
    monkeypatch.delenv("FLAG")
    assert env.boolean("FLAG", True) is True


def test_numbers_refuse_junk_and_default_when_unset(monkeypatch):
    monkeypatch.delenv("COUNT", raising=False)
    assert env.integer("COUNT", 3) == 3
    monkeypatch.setenv("COUNT", "12")
    assert env.integer("COUNT", 3) == 12
    monkeypatch.setenv("COUNT", "12.5")
    with pytest.raises(ImproperlyConfigured, match="COUNT must be a whole number"):
        env.integer("COUNT", 3)
    monkeypatch.setenv("RATE", "0.25")
    assert env.decimal("RATE", 0.5) == 0.25


def test_secret_file_wins_over_the_variable(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-file\n")
    monkeypatch.setenv("TOKEN", "from-env")
    monkeypatch.setenv("TOKEN_FILE", str(secret))
    assert env.string("TOKEN") == "from-file"


def test_a_required_variable_says_its_name(monkeypatch):
    monkeypatch.delenv("NEEDED", raising=False)
    with pytest.raises(ImproperlyConfigured, match="NEEDED is required"):
        env.string("NEEDED")


def test_choice_refuses_anything_else(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from creditrisk import env

    monkeypatch.setenv("CREDITRISK_TEST_CHOICE", "some")
    with pytest.raises(ImproperlyConfigured, match="must be one of declined, all, not 'some'"):
        env.choice("CREDITRISK_TEST_CHOICE", ["declined", "all"], "declined")
    monkeypatch.setenv("CREDITRISK_TEST_CHOICE", "all")
    assert env.choice("CREDITRISK_TEST_CHOICE", ["declined", "all"], "declined") == "all"


def test_a_list_from_a_file_takes_one_item_a_line_or_commas(monkeypatch, tmp_path):
    keys = tmp_path / "old_keys"
    keys.write_text("first-key\nsecond-key, third-key\n\n")
    monkeypatch.setenv("OLD_KEYS_FILE", str(keys))
    assert env.string_list("OLD_KEYS", []) == ["first-key", "second-key", "third-key"]
