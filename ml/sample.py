"""Synthetic applications in the PAKDD format, for tests and demos without the real files.

Every column is drawn from the values the schema allows, and the label depends on a few inputs
(age, income, payment day, the delinquency flag, the home state) so that a model has something to
learn. Deterministic for a given seed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml import schema
from ml.schema import Kind

_CITIES = ("SAO PAULO", "Rio de Janeiro", "FORTALEZA", "Salvador", "Recife", "PORTO ALEGRE", "São José", "Natal")
_BOROUGHS = ("CENTRO", "Centro", "Boa Vista", "JARDIM AMÉRICA", "ZONA RURAL", "Santa Cruz", "COHAB")


def synthetic_applications(n_rows: int, *, seed: int = 0, with_label: bool = True, first_id: int = 1) -> pd.DataFrame:
    """A typed frame like :func:`ml.data.load_applications` returns."""
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {}
    for column in schema.INPUT_COLUMNS:
        data[column.name] = _draw(column, n_rows, rng)
    data[schema.ID_COLUMN] = np.arange(first_id, first_id + n_rows, dtype=float)
    data["AGE"] = rng.integers(18, 80, n_rows).astype(float)
    data["PERSONAL_MONTHLY_INCOME"] = np.round(rng.lognormal(6.5, 0.6, n_rows), 0)
    frame = pd.DataFrame(data)
    if with_label:
        logit = (
            -0.9
            - 0.03 * (frame["AGE"] - 40)
            - 0.4 * (np.log(frame["PERSONAL_MONTHLY_INCOME"]) - 6.5)
            + 0.5 * (frame["FLAG_ACSP_RECORD"] == "Y")
            + 0.3 * frame["PAYMENT_DAY"].isin(["20", "25"])
            + 0.4 * (frame["RESIDENCIAL_STATE"] == "RS")
        )
        frame[schema.LABEL] = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


def _draw(column: schema.Column, n_rows: int, rng: np.random.Generator) -> np.ndarray:
    missing = rng.random(n_rows) < (0.1 if column.nullable else 0.0)
    if column.kind is Kind.CATEGORY:
        values = rng.choice(np.array(column.allowed, dtype=object), n_rows)
    elif column.kind is Kind.TEXT:
        pool = _CITIES if "CITY" in column.name else _BOROUGHS if "BOROUGH" in column.name else None
        values = (
            rng.choice(np.array(pool, dtype=object), n_rows)
            if pool
            else rng.integers(100, 999, n_rows).astype(str).astype(object)
        )
    else:
        high = min(column.maximum or 100, 60)
        values = rng.integers(int(column.minimum or 0), int(high) + 1, n_rows).astype(float)
        return np.where(missing, np.nan, values)
    values[missing] = None  # an object array made afresh above
    return values
