"""The PAKDD 2010 application schema: 53 input columns and the label.

Taken from ``PAKDD2010_VariablesList.XLS`` (``Var_Title`` in order). Column 44 repeats the name
``EDUCATION_LEVEL`` in the original list; it is the mate's, so it is called
``MATE_EDUCATION_LEVEL`` here. Allowed values and ranges are the documented ones widened to what
the published files really hold (for example ``SEX`` has a few ``N``; ``EDUCATION_LEVEL`` is ``0``,
not informed, in the whole modelling file), so that any file of this format loads.

Required (``nullable=False``): the inputs every published file fills on every row and the model
leans on (age, income, payment day, phones, employer, dependants, channel, product). A model that
never saw them missing has nothing honest to say about an applicant without them, so the API, the
demo form and the file reader all refuse a row that leaves one out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    INTEGER = "integer"  # whole numbers: counts, codes, months
    DECIMAL = "decimal"  # money
    CATEGORY = "category"  # a closed set of codes
    TEXT = "text"  # free text with thousands of values (cities, boroughs, zip prefixes)


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    description: str
    allowed: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = True
    # Spreadsheet artefacts the published files carry in place of a value; read as missing.
    missing_tokens: tuple[str, ...] = field(default=())

    @property
    def is_numeric(self) -> bool:
        return self.kind in (Kind.INTEGER, Kind.DECIMAL)


MISSING_TOKENS = ("NULL", "")  # after stripping: a single blank " " becomes ""
TEXT_MAX_LENGTH = 120  # free text (cities, boroughs, zip prefixes): the longest name is far shorter
# Free text never holds C0 or C1 control codes: a line break or a NUL in a city name is a broken file.
CONTROL_CHARACTERS = r"[\x00-\x1f\x7f-\x9f]"

BRAZILIAN_STATES = (
    "AC",
    "AL",
    "AM",
    "AP",
    "BA",
    "CE",
    "DF",
    "ES",
    "GO",
    "MA",
    "MG",
    "MS",
    "MT",
    "PA",
    "PB",
    "PE",
    "PI",
    "PR",
    "RJ",
    "RN",
    "RO",
    "RR",
    "RS",
    "SC",
    "SE",
    "SP",
    "TO",
)
YES_NO = ("Y", "N")
ZERO_ONE = ("0", "1")
ZIP_ARTEFACTS = ("#DIV/0!", "NUL")

I, D, C, T = Kind.INTEGER, Kind.DECIMAL, Kind.CATEGORY, Kind.TEXT  # noqa: E741 - short names keep the table readable

ID_COLUMN = "ID_CLIENT"
LABEL = "TARGET_LABEL_BAD"
LABEL_ALIASES = ("TARGET_LABEL_BAD=1", LABEL)

INPUT_COLUMNS: tuple[Column, ...] = (
    Column(ID_COLUMN, I, "Applicant's key", minimum=0, maximum=10**12, nullable=False),
    Column("CLERK_TYPE", C, "Clerk type (not informed)", allowed=("C",)),
    Column(
        "PAYMENT_DAY",
        C,
        "Day of the month chosen for bill payment",
        allowed=("1", "5", "10", "15", "20", "25"),
        nullable=False,
    ),
    Column(
        "APPLICATION_SUBMISSION_TYPE",
        C,
        "Application submitted via the internet or in person",
        allowed=("Web", "Carga", "0"),
        nullable=False,
    ),
    Column("QUANT_ADDITIONAL_CARDS", I, "Additional cards asked for", minimum=0, maximum=10),
    Column("POSTAL_ADDRESS_TYPE", C, "Postal address is home or other", allowed=("1", "2")),
    Column("SEX", C, "Sex", allowed=("M", "F", "N")),
    Column("MARITAL_STATUS", I, "Marital status code", minimum=0, maximum=9),
    Column("QUANT_DEPENDANTS", I, "Number of dependants", minimum=0, maximum=99, nullable=False),
    Column("EDUCATION_LEVEL", I, "Applicant's education level (0 = not informed)", minimum=0, maximum=5),
    Column("STATE_OF_BIRTH", C, "State of birth", allowed=BRAZILIAN_STATES + ("XX",)),
    Column("CITY_OF_BIRTH", T, "City of birth"),
    Column("NACIONALITY", C, "Country of birth code (1 is likely Brazil)", allowed=("0", "1", "2")),
    Column("RESIDENCIAL_STATE", C, "State of residence", allowed=BRAZILIAN_STATES + ("XX",)),
    Column("RESIDENCIAL_CITY", T, "City of residence"),
    Column("RESIDENCIAL_BOROUGH", T, "Borough of residence"),
    Column("FLAG_RESIDENCIAL_PHONE", C, "Has a home phone", allowed=YES_NO, nullable=False),
    Column("RESIDENCIAL_PHONE_AREA_CODE", I, "Home phone area pseudo-code", minimum=0, maximum=999),
    Column("RESIDENCE_TYPE", I, "Residence type code", minimum=0, maximum=9),
    Column("MONTHS_IN_RESIDENCE", I, "Months in the current residence", minimum=0, maximum=1200),
    Column("FLAG_MOBILE_PHONE", C, "Has a mobile phone", allowed=YES_NO),
    Column("FLAG_EMAIL", C, "Has an e-mail address", allowed=ZERO_ONE),
    Column("PERSONAL_MONTHLY_INCOME", D, "Personal monthly income (R$)", minimum=0, maximum=1e9, nullable=False),
    Column("OTHER_INCOMES", D, "Other monthly incomes (R$)", minimum=0, maximum=1e9),
    Column("FLAG_VISA", C, "Holds a VISA card", allowed=ZERO_ONE),
    Column("FLAG_MASTERCARD", C, "Holds a MASTERCARD card", allowed=ZERO_ONE),
    Column("FLAG_DINERS", C, "Holds a DINERS card", allowed=ZERO_ONE),
    Column("FLAG_AMERICAN_EXPRESS", C, "Holds an AMERICAN EXPRESS card", allowed=ZERO_ONE),
    Column("FLAG_OTHER_CARDS", C, "Holds other cards", allowed=ZERO_ONE),
    Column("QUANT_BANKING_ACCOUNTS", I, "Bank accounts", minimum=0, maximum=99),
    Column("QUANT_SPECIAL_BANKING_ACCOUNTS", I, "Special bank accounts", minimum=0, maximum=99),
    Column("PERSONAL_ASSETS_VALUE", D, "Value of personal possessions (R$)", minimum=0, maximum=1e10),
    Column("QUANT_CARS", I, "Cars owned", minimum=0, maximum=99),
    Column("COMPANY", C, "Named the company where they formally work", allowed=YES_NO, nullable=False),
    Column("PROFESSIONAL_STATE", C, "State where they work", allowed=BRAZILIAN_STATES + ("XX",)),
    Column("PROFESSIONAL_CITY", T, "City where they work"),
    Column("PROFESSIONAL_BOROUGH", T, "Borough where they work"),
    Column("FLAG_PROFESSIONAL_PHONE", C, "Gave a work phone number", allowed=YES_NO, nullable=False),
    Column("PROFESSIONAL_PHONE_AREA_CODE", I, "Work phone area pseudo-code", minimum=0, maximum=999),
    Column("MONTHS_IN_THE_JOB", I, "Months in the current job", minimum=0, maximum=1200),
    Column("PROFESSION_CODE", I, "Profession code", minimum=0, maximum=999),
    Column("OCCUPATION_TYPE", I, "Occupation type code", minimum=0, maximum=9),
    Column("MATE_PROFESSION_CODE", I, "Mate's profession code", minimum=0, maximum=999),
    Column("MATE_EDUCATION_LEVEL", I, "Mate's education level", minimum=0, maximum=5),
    Column("FLAG_HOME_ADDRESS_DOCUMENT", C, "Home address confirmed by a document", allowed=ZERO_ONE),
    Column("FLAG_RG", C, "Citizen card number confirmed", allowed=ZERO_ONE),
    Column("FLAG_CPF", C, "Taxpayer status confirmed", allowed=ZERO_ONE),
    Column("FLAG_INCOME_PROOF", C, "Income confirmed by a document", allowed=ZERO_ONE),
    Column("PRODUCT", C, "Credit product applied for", allowed=("1", "2", "7"), nullable=False),
    Column("FLAG_ACSP_RECORD", C, "Has a previous credit delinquency record", allowed=YES_NO),
    Column("AGE", I, "Age at application", minimum=0, maximum=120, nullable=False),
    Column("RESIDENCIAL_ZIP_3", T, "First three digits of the home zip code", missing_tokens=ZIP_ARTEFACTS),
    Column("PROFESSIONAL_ZIP_3", T, "First three digits of the work zip code", missing_tokens=ZIP_ARTEFACTS),
)

LABEL_COLUMN = Column(LABEL, C, "Target: 1 = bad, 0 = good", allowed=ZERO_ONE, nullable=False)

COLUMNS_BY_NAME: dict[str, Column] = {c.name: c for c in (*INPUT_COLUMNS, LABEL_COLUMN)}
INPUT_NAMES: tuple[str, ...] = tuple(c.name for c in INPUT_COLUMNS)
FEATURE_NAMES: tuple[str, ...] = INPUT_NAMES[1:]  # everything but the key
TEXT_COLUMNS: tuple[str, ...] = tuple(c.name for c in INPUT_COLUMNS if c.kind is Kind.TEXT)
CATEGORY_COLUMNS: tuple[str, ...] = tuple(c.name for c in INPUT_COLUMNS if c.kind is Kind.CATEGORY)
NUMERIC_COLUMNS: tuple[str, ...] = tuple(c.name for c in INPUT_COLUMNS[1:] if c.is_numeric)

# Attributes a lender may not use to decide; excluded from the features unless a setting says otherwise.
DEFAULT_EXCLUDED = ("SEX", "MARITAL_STATUS")
