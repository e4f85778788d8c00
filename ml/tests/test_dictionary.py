"""The data dictionary's words for the form: complete, honest about unexplained codes, and regenerable."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from ml import schema
from ml.dictionary import CATALOGUE, code_label, field_words

REPO = Path(__file__).resolve().parents[2]
XLS = Path(os.environ.get("CREDITRISK_DATA_DIR", REPO.parent / "shared" / "data" / "pakdd2010")) / (
    "PAKDD2010_VariablesList.XLS"
)


def test_the_catalogue_covers_every_schema_field_in_words():
    words = field_words()
    assert set(words) == set(schema.INPUT_NAMES)
    for name, entry in words.items():
        assert entry.label and entry.label != name and "_" not in entry.label, name


def test_every_allowed_code_of_a_coded_field_has_an_entry():
    words = field_words()
    for column in schema.INPUT_COLUMNS:
        if column.allowed:
            assert tuple(words[column.name].codes) == column.allowed, column.name


def test_codes_the_dictionary_explains_are_named_and_the_others_are_shown_as_codes():
    assert code_label("SEX", "F") == "Female (F)"
    assert code_label("APPLICATION_SUBMISSION_TYPE", "Web") == "Via the internet (Web)"
    assert code_label("RESIDENCIAL_STATE", "SP") == "São Paulo (SP)"
    assert code_label("FLAG_RESIDENCIAL_PHONE", "Y") == "Yes (Y)"
    # "Encoding not informed" in the dictionary: no invented meaning.
    assert code_label("PRODUCT", "7") == "code 7"
    assert code_label("OCCUPATION_TYPE", "2") == "code 2"
    assert code_label("RESIDENCIAL_STATE", "XX") == "code XX"
    assert code_label("FLAG_OTHER_CARDS", "1") == "code 1"  # "three values not explained"


def test_the_committed_catalogue_is_what_the_script_builds_from_the_spreadsheet():
    if not XLS.is_file():
        pytest.fail(f"{XLS} is missing: set CREDITRISK_DATA_DIR to the PAKDD 2010 data folder")
    spec = importlib.util.spec_from_file_location(
        "build_data_dictionary", REPO / "scripts" / "build_data_dictionary.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.build(XLS) == json.loads(CATALOGUE.read_text(encoding="utf-8"))
