"""Stored values as the back-office shows them: in words, and JSON as tables (never raw JSON or a repr)."""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

# Keys of the other stored tables (how the cut-off was chosen, its economics, the rows), in words.
KEY_LABELS = {
    "threshold": "cut-off (probability of default)",
    "method": "method",
    "spread": "spread across resamples",
    "break_even": "break-even probability of default",
    "validation_rows": "validation rows",
    "validation_uplift_captured": "share of the oracle's uplift on validation",
    "validation_profit_per_applicant": "profit per applicant on validation",
    "economics": "economics",
    "exposure": "exposure lent",
    "margin": "margin earned on a good client",
    "loss_given_default": "loss given default",
    "income_multiple": "multiple of the monthly income lent",
    "exposure_cap": "exposure cap",
    "cost_per_application": "cost per application",
    "cost_of_funds": "cost of funds",
    "total": "total",
    "development": "development (cross-validation and fitting)",
    "holdout": "held out before any fitting",
}

_OBJECT_REPR = re.compile(r"^([A-Za-z_][\w.]*)\(.*\)$", re.DOTALL)


def probability_text(value: float | None) -> str:
    """A probability as lists show it: three decimals are what a decision turns on."""
    return "-" if value is None else f"{value:.3f}"


def plain(value: Any) -> str:
    """One stored value in words: numbers rounded, lists joined, an object's repr reduced to its class."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        if 0 < abs(value) < 0.001:
            return f"{value:.2g}"  # a tolerance or a learning rate, not a rounded zero
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(plain(item) for item in value) or "none"
    if isinstance(value, dict):
        return "; ".join(f"{key}: {plain(item)}" for key, item in value.items()) or "none"
    return _plain_text(str(value))


def _plain_text(text: str) -> str:
    """Versions trained before hyper-parameters were stored as JSON kept some as Python reprs."""
    if text[:1] in "([{" and text[-1:] in ")]}":
        try:
            return plain(ast.literal_eval(text))
        except (ValueError, SyntaxError):
            pass
    match = _OBJECT_REPR.match(text)
    return f"{match.group(1)} (see the artifact)" if match else text


def key_value_table(values: Mapping[str, Any], labels: Mapping[str, str] | None = None) -> SafeString:
    """A two-column table; a nested mapping becomes a nested table."""
    if not values:
        return mark_safe("<p>none</p>")  # noqa: S308 - constant markup
    labels = labels or KEY_LABELS
    # PostgreSQL's jsonb does not keep the keys' order: the labels' order is the reading order.
    keys = sorted(values, key=lambda key: list(labels).index(key) if key in labels else len(labels))
    rows = format_html_join(
        "",
        "<tr><th scope='row'>{}</th><td>{}</td></tr>",
        (
            (
                labels.get(key, key),
                key_value_table(values[key], labels) if isinstance(values[key], Mapping) else plain(values[key]),
            )
            for key in keys
        ),
    )
    return format_html("<table class='kv'>{}</table>", rows)
