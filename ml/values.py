"""Plain values as every module of ``ml`` sees them: what counts as missing, equality, JSON values."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def is_missing(value: Any) -> bool:
    """None, NaN, pd.NA or pd.NaT (``value != value`` is the cheap NaN test)."""
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value)


def same(a: object, b: object) -> bool:
    """Equal values, missing equal to missing, numbers compared as numbers (1 == 1.0)."""
    if is_missing(a) or is_missing(b):
        return is_missing(a) and is_missing(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return a == b


def json_number(value: float) -> int | float:
    return int(value) if value.is_integer() else value


def json_value(value: object) -> object:
    """Plain Python for JSON: numpy scalars unwrapped, whole floats as int, NaN as None."""
    if type(value) is str:  # the common case first
        return value
    if is_missing(value):
        return None
    if isinstance(value, (np.integer, np.floating)):
        value = value.item()
    if isinstance(value, float):
        return json_number(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    return value if isinstance(value, (int, str)) else str(value)
