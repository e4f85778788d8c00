"""The wording catalogue of decision reasons: one factual, neutral sentence for an input or a group of them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypedDict

from ml import schema
from ml.values import is_missing, same


@dataclass(frozen=True)
class Wording:
    """How to say one input. ``template`` may use {value}, {reference} and {direction}.

    ``direction`` is ``lower``/``higher`` as the value compares with the reference (quantities
    only). ``phrases`` give a whole sentence for a value (flags: "No home phone"), since the
    reference of a yes/no input is implied. ``label`` names the input in "... not given" and lists.
    """

    label: str
    template: str = ""
    lower: str = ""
    higher: str = ""
    phrases: Mapping[str, str] = field(default_factory=dict)
    shown: Mapping[str, str] = field(default_factory=dict)  # display of codes: {"0": "code 0"}
    money: bool = False


def _yes_no(yes: str, no: str, codes: tuple[str, str] = ("Y", "N")) -> dict[str, str]:
    return {codes[0]: yes, codes[1]: no}


_FLAG01 = ("1", "0")


class _Directions(TypedDict):
    lower: str
    higher: str


_FEWER_MORE: _Directions = {"lower": "fewer than", "higher": "more than"}

WORDING: dict[str, Wording] = {
    "CLERK_TYPE": Wording("clerk type", "Clerk type {value} (reference {reference})"),
    "PAYMENT_DAY": Wording("payment day", "Chose payment day {value} (reference day {reference})"),
    "APPLICATION_SUBMISSION_TYPE": Wording(
        "application channel", "Application channel: {value} (reference {reference})", shown={"0": "code 0"}
    ),
    "QUANT_ADDITIONAL_CARDS": Wording(
        "additional cards requested",
        "Asked for {value} additional cards, {direction} the reference ({reference})",
        **_FEWER_MORE,
    ),
    "POSTAL_ADDRESS_TYPE": Wording("postal address type", "Postal address type {value} (reference {reference})"),
    "SEX": Wording("sex", "Sex recorded as {value} (reference {reference})"),
    "MARITAL_STATUS": Wording("marital status", "Marital status code {value} (reference {reference})"),
    "QUANT_DEPENDANTS": Wording(
        "number of dependants", "{value} dependants, {direction} the reference ({reference})", **_FEWER_MORE
    ),
    "EDUCATION_LEVEL": Wording("education level", "Education level code {value} (reference {reference})"),
    "STATE_OF_BIRTH": Wording("state of birth", "Born in state {value} (reference {reference})"),
    "CITY_OF_BIRTH": Wording("city of birth", "Born in {value} (reference {reference})"),
    "NACIONALITY": Wording("country of birth", "Country of birth code {value} (reference {reference})"),
    "RESIDENCIAL_STATE": Wording("home state", "Lives in state {value} (reference {reference})"),
    "RESIDENCIAL_CITY": Wording("home city", "Lives in {value} (reference {reference})"),
    "RESIDENCIAL_BOROUGH": Wording("home borough", "Lives in borough {value} (reference {reference})"),
    "FLAG_RESIDENCIAL_PHONE": Wording("home phone", phrases=_yes_no("Has a home phone", "No home phone")),
    "RESIDENCIAL_PHONE_AREA_CODE": Wording(
        "home phone area code", "Home phone area code {value} (reference {reference})"
    ),
    "RESIDENCE_TYPE": Wording("residence type", "Residence type code {value} (reference {reference})"),
    "MONTHS_IN_RESIDENCE": Wording(
        "months in current residence",
        "{value} months in the current residence, {direction} the reference ({reference})",
        **_FEWER_MORE,
    ),
    "FLAG_MOBILE_PHONE": Wording("mobile phone", phrases=_yes_no("Has a mobile phone", "No mobile phone")),
    "FLAG_EMAIL": Wording("e-mail address", phrases=_yes_no("Has an e-mail address", "No e-mail address", _FLAG01)),
    "PERSONAL_MONTHLY_INCOME": Wording(
        "declared monthly income",
        "Declared monthly income {value} is {direction} (reference {reference})",
        "low",
        "high",
        money=True,
    ),
    "OTHER_INCOMES": Wording(
        "other monthly incomes",
        "Other monthly incomes {value} are {direction} (reference {reference})",
        "low",
        "high",
        money=True,
    ),
    "FLAG_VISA": Wording("VISA card", phrases=_yes_no("Holds a VISA card", "No VISA card", _FLAG01)),
    "FLAG_MASTERCARD": Wording(
        "MASTERCARD card", phrases=_yes_no("Holds a MASTERCARD card", "No MASTERCARD card", _FLAG01)
    ),
    "FLAG_DINERS": Wording("DINERS card", phrases=_yes_no("Holds a DINERS card", "No DINERS card", _FLAG01)),
    "FLAG_AMERICAN_EXPRESS": Wording(
        "AMERICAN EXPRESS card", phrases=_yes_no("Holds an AMERICAN EXPRESS card", "No AMERICAN EXPRESS card", _FLAG01)
    ),
    "FLAG_OTHER_CARDS": Wording("other cards", phrases=_yes_no("Holds other cards", "No other cards", _FLAG01)),
    "QUANT_BANKING_ACCOUNTS": Wording(
        "bank accounts", "{value} bank accounts, {direction} the reference ({reference})", **_FEWER_MORE
    ),
    "QUANT_SPECIAL_BANKING_ACCOUNTS": Wording(
        "special bank accounts", "{value} special bank accounts, {direction} the reference ({reference})", **_FEWER_MORE
    ),
    "PERSONAL_ASSETS_VALUE": Wording(
        "value of personal assets",
        "Declared personal assets {value} are {direction} (reference {reference})",
        "low",
        "high",
        money=True,
    ),
    "QUANT_CARS": Wording("cars owned", "{value} cars owned, {direction} the reference ({reference})", **_FEWER_MORE),
    "COMPANY": Wording(
        "employer",
        phrases=_yes_no(
            "Named the company where they formally work", "Did not name a company where they formally work"
        ),
    ),
    "PROFESSIONAL_STATE": Wording("work state", "Works in state {value} (reference {reference})"),
    "PROFESSIONAL_CITY": Wording("work city", "Works in {value} (reference {reference})"),
    "PROFESSIONAL_BOROUGH": Wording("work borough", "Works in borough {value} (reference {reference})"),
    "FLAG_PROFESSIONAL_PHONE": Wording("work phone", phrases=_yes_no("Gave a work phone", "No work phone given")),
    "PROFESSIONAL_PHONE_AREA_CODE": Wording(
        "work phone area code", "Work phone area code {value} (reference {reference})"
    ),
    "MONTHS_IN_THE_JOB": Wording(
        "months in current job",
        "{value} months in the current job, {direction} the reference ({reference})",
        **_FEWER_MORE,
    ),
    "PROFESSION_CODE": Wording("profession", "Profession code {value} (reference {reference})"),
    "OCCUPATION_TYPE": Wording("occupation type", "Occupation type code {value} (reference {reference})"),
    "MATE_PROFESSION_CODE": Wording("spouse's profession", "Spouse's profession code {value} (reference {reference})"),
    "MATE_EDUCATION_LEVEL": Wording(
        "spouse's education level", "Spouse's education level code {value} (reference {reference})"
    ),
    "FLAG_HOME_ADDRESS_DOCUMENT": Wording(
        "home address document",
        phrases=_yes_no("Home address confirmed by a document", "Home address not confirmed by a document", _FLAG01),
    ),
    "FLAG_RG": Wording(
        "citizen card number",
        phrases=_yes_no("Citizen card number confirmed", "Citizen card number not confirmed", _FLAG01),
    ),
    "FLAG_CPF": Wording(
        "taxpayer status", phrases=_yes_no("Taxpayer status confirmed", "Taxpayer status not confirmed", _FLAG01)
    ),
    "FLAG_INCOME_PROOF": Wording(
        "income document",
        phrases=_yes_no("Income confirmed by a document", "Income not confirmed by a document", _FLAG01),
    ),
    "PRODUCT": Wording("credit product", "Applied for credit product {value} (reference {reference})"),
    "FLAG_ACSP_RECORD": Wording(
        "credit delinquency record",
        phrases=_yes_no("Has a record of previous credit delinquency", "No record of previous credit delinquency"),
    ),
    "AGE": Wording(
        "age", "Age {value}: {direction} the reference applicant ({reference})", "younger than", "older than"
    ),
    "RESIDENCIAL_ZIP_3": Wording("home zip code", "Home zip code starts {value} (reference {reference})"),
    "PROFESSIONAL_ZIP_3": Wording("work zip code", "Work zip code starts {value} (reference {reference})"),
}


def wording(column: str) -> Wording:
    """The column's wording, or a generic one from the schema's description."""
    if column in WORDING:
        return WORDING[column]
    label = schema.COLUMNS_BY_NAME[column].description if column in schema.COLUMNS_BY_NAME else column
    return Wording(label[:1].lower() + label[1:])


def describe(column: str, value: object, reference: object) -> str:
    """One sentence about one input, factual and neutral, e.g. "No home phone"."""
    words = wording(column)
    if is_missing(value):
        suffix = "" if is_missing(reference) else f" (reference {_show(column, reference)})"
        return f"{_capitalise(words.label)} not given{suffix}"
    key = str(value)
    if key in words.phrases:
        return words.phrases[key]
    direction = _direction(words, value, reference)
    shown, ref = _show(column, value), _show(column, reference)
    if words.template and ("{direction}" not in words.template or direction):
        return words.template.format(value=shown, reference=ref, direction=direction)
    return f"{_capitalise(words.label)}: {shown} (reference {ref})"


def _direction(words: Wording, value: object, reference: object) -> str:
    if not (words.lower and isinstance(value, (int, float)) and isinstance(reference, (int, float))):
        return ""
    return words.lower if value < reference else words.higher if value > reference else ""


_GROUP_LABELS = {
    "home_address": "Home address",
    "home_phone": "Home phone",
    "work_address": "Work address",
    "work_phone": "Work phone",
    "birthplace": "Place of birth",
    "cards": "Credit cards",
    "occupation": "Occupation",
}
_SHORT = {
    "RESIDENCIAL_STATE": "state",
    "RESIDENCIAL_CITY": "city",
    "RESIDENCIAL_BOROUGH": "borough",
    "RESIDENCIAL_ZIP_3": "zip",
    "PROFESSIONAL_STATE": "state",
    "PROFESSIONAL_CITY": "city",
    "PROFESSIONAL_BOROUGH": "borough",
    "PROFESSIONAL_ZIP_3": "zip",
    "STATE_OF_BIRTH": "state",
    "CITY_OF_BIRTH": "city",
    "RESIDENCIAL_PHONE_AREA_CODE": "area code",
    "PROFESSIONAL_PHONE_AREA_CODE": "area code",
    "PROFESSION_CODE": "profession code",
    "OCCUPATION_TYPE": "occupation type code",
}
_CARD_NAMES = {
    "FLAG_VISA": "VISA",
    "FLAG_MASTERCARD": "MASTERCARD",
    "FLAG_DINERS": "DINERS",
    "FLAG_AMERICAN_EXPRESS": "AMERICAN EXPRESS",
    "FLAG_OTHER_CARDS": "other",
}


def describe_group(group: str, values: Mapping[str, object], reference: Mapping[str, object]) -> str:
    """One sentence about a group, naming only the members that differ from the reference."""
    changed = [c for c in values if not same(values[c], reference[c])]
    if group == "cards":
        return _describe_cards(values, reference)
    flag = next((c for c in changed if c.startswith("FLAG_") and str(values[c]) in wording(c).phrases), None)
    if flag is not None:  # "No home phone" says it all: the area code follows from it
        return wording(flag).phrases[str(values[flag])]
    label = _GROUP_LABELS.get(group, _capitalise(group.replace("_", " ")))
    if all(is_missing(values[c]) for c in values):
        return f"{label} not given"
    mine = ", ".join(f"{_SHORT.get(c, wording(c).label)} {_show(c, values[c])}" for c in changed)
    if all(is_missing(reference[c]) for c in changed):
        theirs = "not given"
    elif any(is_missing(reference[c]) for c in changed):  # name the members so the gaps read clearly
        theirs = ", ".join(f"{_SHORT.get(c, wording(c).label)} {_show(c, reference[c])}" for c in changed)
    else:
        theirs = ", ".join(_show(c, reference[c]) for c in changed)
    return f"{label}: {mine} (reference {theirs})"


def _describe_cards(values: Mapping[str, object], reference: Mapping[str, object]) -> str:
    def held(flags: Mapping[str, object]) -> str:
        names = [_CARD_NAMES.get(c, c) for c, v in flags.items() if str(v) == "1"]
        return ", ".join(names) or "none"

    if all(is_missing(v) for v in values.values()):
        return "Credit cards held: not given"
    return f"Credit cards held: {held(values)} (reference {held(reference)})"


def _show(column: str, value: object) -> str:
    if is_missing(value):
        return "not given"
    words = wording(column)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
        return f"R$ {number}" if words.money else number
    return words.shown.get(str(value), str(value))


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]
