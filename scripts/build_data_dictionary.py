"""Regenerate ``ml/data_dictionary.json``, the form's labels and code meanings, from the data dictionary.

    python scripts/build_data_dictionary.py [path/to/PAKDD2010_VariablesList.XLS]

The spreadsheet ships with the data (``$CREDITRISK_DATA_DIR``), not with the project or its image,
so its words are kept here as a small committed catalogue the pages read at no cost. For each
input column of :mod:`ml.schema`: a short label in words, the dictionary's own description and
value list verbatim, and a meaning for each code where the dictionary gives one. A code the
dictionary does not explain has ``null``: the pages show it as "code 9", never an invented name.

Meanings come from the dictionary only: ``M=Male, F=Female``; a ``Y,N`` or ``0,1`` flag that
"indicates" something (``Y``/``1`` yes); ``Web, Carga`` in the order of "via the internet or in
person/posted"; "Brazil is likely to be equal 1". The one outside fact is the names of the
Brazilian states the dictionary says the state columns hold (their official abbreviations).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import xlrd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ml import schema  # noqa: E402

OUTPUT = Path(__file__).resolve().parent.parent / "ml" / "data_dictionary.json"

# Short labels in the lender's words, each a condensed form of the dictionary's description.
LABELS = {
    "ID_CLIENT": "Applicant number",
    "CLERK_TYPE": "Clerk type",
    "PAYMENT_DAY": "Bill payment day",
    "APPLICATION_SUBMISSION_TYPE": "How the application was submitted",
    "QUANT_ADDITIONAL_CARDS": "Additional cards asked for",
    "POSTAL_ADDRESS_TYPE": "Postal address: home or other",
    "SEX": "Sex",
    "MARITAL_STATUS": "Marital status",
    "QUANT_DEPENDANTS": "Number of dependants",
    "EDUCATION_LEVEL": "Education level",
    "STATE_OF_BIRTH": "State of birth",
    "CITY_OF_BIRTH": "City of birth",
    "NACIONALITY": "Country of birth",
    "RESIDENCIAL_STATE": "State of residence",
    "RESIDENCIAL_CITY": "City of residence",
    "RESIDENCIAL_BOROUGH": "Borough of residence",
    "FLAG_RESIDENCIAL_PHONE": "Has a home phone",
    "RESIDENCIAL_PHONE_AREA_CODE": "Home phone area (pseudo-code)",
    "RESIDENCE_TYPE": "Type of residence",
    "MONTHS_IN_RESIDENCE": "Months at the current address",
    "FLAG_MOBILE_PHONE": "Has a mobile phone",
    "FLAG_EMAIL": "Has an e-mail address",
    "PERSONAL_MONTHLY_INCOME": "Personal monthly income (R$)",
    "OTHER_INCOMES": "Other monthly income (R$)",
    "FLAG_VISA": "Holds a VISA card",
    "FLAG_MASTERCARD": "Holds a MASTERCARD card",
    "FLAG_DINERS": "Holds a DINERS card",
    "FLAG_AMERICAN_EXPRESS": "Holds an AMERICAN EXPRESS card",
    "FLAG_OTHER_CARDS": "Holds other cards",
    "QUANT_BANKING_ACCOUNTS": "Bank accounts",
    "QUANT_SPECIAL_BANKING_ACCOUNTS": "Special bank accounts",
    "PERSONAL_ASSETS_VALUE": "Value of personal possessions (R$)",
    "QUANT_CARS": "Cars owned",
    "COMPANY": "Named the company where they formally work",
    "PROFESSIONAL_STATE": "State where they work",
    "PROFESSIONAL_CITY": "City where they work",
    "PROFESSIONAL_BOROUGH": "Borough where they work",
    "FLAG_PROFESSIONAL_PHONE": "Gave a work phone number",
    "PROFESSIONAL_PHONE_AREA_CODE": "Work phone area (pseudo-code)",
    "MONTHS_IN_THE_JOB": "Months in the current job",
    "PROFESSION_CODE": "Profession",
    "OCCUPATION_TYPE": "Occupation type",
    "MATE_PROFESSION_CODE": "Spouse's or partner's profession",
    "MATE_EDUCATION_LEVEL": "Spouse's or partner's education level",
    "FLAG_HOME_ADDRESS_DOCUMENT": "Home address confirmed by a document",
    "FLAG_RG": "Citizen card number confirmed by a document",
    "FLAG_CPF": "Taxpayer status confirmed by a document",
    "FLAG_INCOME_PROOF": "Income confirmed by a document",
    "PRODUCT": "Credit product applied for",
    "FLAG_ACSP_RECORD": "Has a previous credit delinquency record",
    "AGE": "Age",
    "RESIDENCIAL_ZIP_3": "Home zip code (first three digits)",
    "PROFESSIONAL_ZIP_3": "Work zip code (first three digits)",
}

STATES = {
    "AC": "Acre",
    "AL": "Alagoas",
    "AM": "Amazonas",
    "AP": "Amapá",
    "BA": "Bahia",
    "CE": "Ceará",
    "DF": "Distrito Federal",
    "ES": "Espírito Santo",
    "GO": "Goiás",
    "MA": "Maranhão",
    "MG": "Minas Gerais",
    "MS": "Mato Grosso do Sul",
    "MT": "Mato Grosso",
    "PA": "Pará",
    "PB": "Paraíba",
    "PE": "Pernambuco",
    "PI": "Piauí",
    "PR": "Paraná",
    "RJ": "Rio de Janeiro",
    "RN": "Rio Grande do Norte",
    "RO": "Rondônia",
    "RR": "Roraima",
    "RS": "Rio Grande do Sul",
    "SC": "Santa Catarina",
    "SE": "Sergipe",
    "SP": "São Paulo",
    "TO": "Tocantins",
}


def read_dictionary(path: Path) -> list[dict[str, str]]:
    """The spreadsheet's rows in order: Var_Title, Var_Description, Field_Content (as text)."""
    sheet = xlrd.open_workbook(str(path)).sheet_by_index(0)
    header = [str(v) for v in sheet.row_values(0)]
    rows = []
    for r in range(1, sheet.nrows):
        row = dict(zip(header, sheet.row_values(r), strict=True))
        rows.append({k: _text(row[k]) for k in ("Var_Title", "Var_Description", "Field_Content")})
    return rows


def _text(value: Any) -> str:
    # Excel turned the lists "0,1" and "1,2" into the decimals 0.1 and 1.2.
    if isinstance(value, float):
        return {0.1: "0,1", 1.2: "1,2"}.get(value, f"{value:g}")
    return str(value).strip()


def code_meanings(column: schema.Column, description: str, content: str) -> dict[str, str | None]:
    """Each allowed code of a coded column and what the dictionary says it means (None: not explained)."""
    codes: tuple[str, ...] = column.allowed
    if not codes and column.kind is schema.Kind.INTEGER and column.maximum is not None and column.maximum <= 9:
        codes = tuple(str(n) for n in range(int(column.minimum or 0), int(column.maximum) + 1))
    if not codes:
        return {}
    named: dict[str, str] = {}
    if "=" in content:  # "M=Male, F=Female"
        named = dict(part.strip().split("=", 1) for part in content.split(",") if "=" in part)
    elif codes == schema.YES_NO or (codes == schema.ZERO_ONE and description.lower().startswith(("flag", "indicates"))):
        named = {codes[0]: "Yes", codes[1]: "No"} if codes == schema.YES_NO else {"1": "Yes", "0": "No"}
    elif column.name == "APPLICATION_SUBMISSION_TYPE":
        named = {"Web": "Via the internet", "Carga": "In person or posted"}
    elif column.name == "PAYMENT_DAY":  # "Day of the month for bill payment"
        named = {code: f"Day {code} of the month" for code in codes}
    elif column.name == "NACIONALITY":
        named = {"1": "Likely Brazil (the dictionary's guess)"}
    elif column.name.endswith("_STATE") or column.name == "STATE_OF_BIRTH":
        named = STATES
    return {code: named.get(code) for code in codes}


def build(path: Path) -> dict[str, Any]:
    rows = read_dictionary(path)
    titles = [row["Var_Title"] for row in rows]
    # Column 44 repeats EDUCATION_LEVEL: the schema calls it MATE_EDUCATION_LEVEL (see ml/schema.py).
    titles[titles.index("EDUCATION_LEVEL", titles.index("EDUCATION_LEVEL") + 1)] = "MATE_EDUCATION_LEVEL"
    by_name = dict(zip(titles, rows, strict=True))
    fields = {}
    for column in schema.INPUT_COLUMNS:
        row = by_name[column.name]
        fields[column.name] = {
            "label": LABELS[column.name],
            "dictionary": row["Var_Description"],
            "values": row["Field_Content"],
            "codes": code_meanings(column, row["Var_Description"], row["Field_Content"]),
        }
    return {"source": path.name, "fields": fields}


def main() -> None:
    default = Path(os.environ.get("CREDITRISK_DATA_DIR", "../shared/data/pakdd2010")) / "PAKDD2010_VariablesList.XLS"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("xls", nargs="?", type=Path, default=default)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    catalogue = build(args.xls)
    args.output.write_text(json.dumps(catalogue, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{args.output}: {len(catalogue['fields'])} fields")


if __name__ == "__main__":
    main()
