"""The data dictionary's words for each input column: a label, its description, and code meanings.

Read from ``ml/data_dictionary.json``, generated from ``PAKDD2010_VariablesList.XLS`` by
``scripts/build_data_dictionary.py`` (the spreadsheet is data, not part of the project or its image).
A code the dictionary does not explain has no meaning here; :func:`code_label` shows it as a code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CATALOGUE = Path(__file__).with_name("data_dictionary.json")


@dataclass(frozen=True)
class FieldWords:
    name: str
    label: str  # short, in words
    dictionary: str  # the dictionary's own description, verbatim ("" where it has none)
    values: str  # the dictionary's list of values, verbatim
    codes: dict[str, str | None]  # each code of a coded column and its meaning (None: not explained)

    @property
    def explained(self) -> bool:
        return any(meaning for meaning in self.codes.values())


@cache
def field_words() -> dict[str, FieldWords]:
    catalogue = json.loads(CATALOGUE.read_text(encoding="utf-8"))
    return {name: FieldWords(name=name, **entry) for name, entry in catalogue["fields"].items()}


def code_label(name: str, code: str) -> str:
    """What a lender reads for a code: its meaning and the code where the dictionary gives one
    ("São Paulo (SP)"), else the code alone ("code 9")."""
    meaning = field_words()[name].codes.get(code)
    if meaning is None:
        return f"code {code}"
    return f"{meaning} ({code})"
