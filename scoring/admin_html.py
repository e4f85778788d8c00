"""HTML the back-office shows for a model version: tables, an inline SVG chart and the rendered card.

Stored JSON (metrics, the candidate comparison, hyper-parameters, library versions) is turned into
tables here, so no page of the admin shows raw JSON or a Python repr.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from xml.etree.ElementTree import Element

import markdown
import nh3
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

from backoffice.display import plain

# Column titles of the metrics, in the lender's words where there are any.
METRIC_LABELS = {
    "candidate": "candidate",
    "roc_auc": "ROC AUC",
    "roc_auc_std": "± across folds",
    "gini": "Gini",
    "ks": "KS",
    "brier": "Brier score",
    "log_loss": "log loss",
    "fit_seconds": "fit (s)",
    "chosen": "chosen",
    "excluded": "attributes left out",
    "monotone": "monotone constraints",
}


def records_table(records: Iterable[Mapping[str, Any]], labels: Mapping[str, str] = METRIC_LABELS) -> SafeString:
    """One row a record, the columns those of ``labels`` present in any record, in that order."""
    records = list(records)
    columns = [key for key in labels if any(key in record for record in records)]
    columns += [key for record in records for key in record if key not in columns and key not in labels]
    columns = list(dict.fromkeys(columns))
    if not records:
        return mark_safe("<p>none</p>")  # noqa: S308 - constant markup
    head = format_html_join("", "<th scope='col'>{}</th>", ((labels.get(key, key),) for key in columns))
    body = format_html_join(
        "",
        "<tr{}>{}</tr>",
        (
            (
                " class='chosen'" if record.get("chosen") else "",
                format_html_join("", "<td>{}</td>", ((plain(record.get(key)),) for key in columns)),
            )
            for record in records
        ),
    )
    return format_html("<table class='records'><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)


def importance_svg(importance: Mapping[str, float], *, top: int = 15) -> SafeString:
    """A horizontal bar chart of the inputs' permutation importance, as inline SVG (no JavaScript)."""
    items = sorted(importance.items(), key=lambda item: item[1], reverse=True)[:top]
    if not items:
        return mark_safe("<p>No importance was measured for this version.</p>")  # noqa: S308 - constant markup
    label_width, bar_width, row = 230, 320, 20
    peak = max((value for _, value in items), default=0.0) or 1.0
    bars = format_html_join(
        "",
        "<g transform='translate(0,{})'><text x='{}' y='14' text-anchor='end'>{}</text>"
        "<rect x='{}' y='3' width='{}' height='14' fill='#417690'><title>{}: {}</title></rect>"
        "<text x='{}' y='14'>{}</text></g>",
        (
            (
                i * row,
                label_width - 6,
                name,
                label_width,
                round(bar_width * max(value, 0) / peak, 1),
                name,
                f"{value:.4f}",
                label_width + round(bar_width * max(value, 0) / peak, 1) + 4,
                f"{value:.4f}",
            )
            for i, (name, value) in enumerate(items)
        ),
    )
    height = row * len(items) + 24
    return format_html(
        "<svg class='importance' role='img' aria-label='Most important inputs' width='{}' height='{}' "
        "font-size='12' font-family='sans-serif'>{}<text x='{}' y='{}' fill='#555'>drop in ROC AUC when the "
        "input is shuffled</text></svg>",
        label_width + bar_width + 70,
        height,
        bars,
        label_width,
        height - 6,
    )


# Cards written before they spelled out their hyper-parameters quote a Python dict in a code span.
_CODE_LITERAL = re.compile(r"`([{\[][^`]*[}\]])`")


def _literal_in_words(match: re.Match[str]) -> str:
    try:
        value = ast.literal_eval(match.group(1))
    except (ValueError, SyntaxError):
        return match.group(0)
    return plain(value) if isinstance(value, (dict, list)) else match.group(0)


class _ImageSources(Treeprocessor):
    """Images of the card point at the version's own figures, served by the admin; any other is dropped."""

    def __init__(self, md: markdown.Markdown, figure_url: Callable[[str], str | None]) -> None:
        super().__init__(md)
        self.figure_url = figure_url

    def run(self, root: Element) -> None:
        for parent in root.iter():
            for child in list(parent):
                if child.tag != "img":
                    continue
                url = self.figure_url(child.get("src", ""))
                if url is None:
                    parent.remove(child)
                else:
                    child.set("src", url)


class _FigureLinks(Extension):
    def __init__(self, figure_url: Callable[[str], str | None]) -> None:
        super().__init__()
        self.figure_url = figure_url

    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802 - Python-Markdown's name
        md.treeprocessors.register(_ImageSources(md, self.figure_url), "figure_links", 0)


def model_card_html(text: str, figure_url: Callable[[str], str | None]) -> SafeString:
    """The card's markdown as HTML, its image links pointing at ``figure_url(src)``; sanitised, as the
    card quotes the data source's path and anything else the trainer was given."""
    html = markdown.markdown(
        _CODE_LITERAL.sub(_literal_in_words, text), extensions=["tables", "sane_lists", _FigureLinks(figure_url)]
    )
    return mark_safe(nh3.clean(html))  # noqa: S308 - sanitised just above


def calibration_svg(bands: list[Mapping[str, Any]]) -> SafeString:
    """Observed bad rate (a dot and its 95% interval) against mean predicted probability, band by band,
    with the diagonal a calibrated model follows; inline SVG, no JavaScript."""
    if not bands:
        return mark_safe("<p>No outcomes yet: nothing to draw.</p>")  # noqa: S308 - constant markup
    size, margin = 300, 48
    highest = max(max(b["interval_high"] or 0 for b in bands), max(b["mean_probability"] for b in bands), 0.01)
    step = 0.01 if highest <= 0.08 else 0.05 if highest <= 0.4 else 0.1  # a gridline every step, up to 9 of them
    top = min(1.0, math.ceil(highest * 1.05 / step) * step)

    def x(value: float) -> float:
        return round(margin + size * value / top, 1)

    def y(value: float) -> float:
        return round(margin + size - size * value / top, 1)

    ticks = format_html_join(
        "",
        "<line x1='{}' y1='{}' x2='{}' y2='{}' stroke='#eee'/><text x='{}' y='{}' text-anchor='middle'>{}</text>"
        "<text x='{}' y='{}' text-anchor='end'>{}</text>",
        (
            (
                x(t),
                y(0),
                x(t),
                y(top),
                x(t),
                y(0) + 16,
                f"{t:.0%}" if top >= 0.1 else f"{t:.1%}",
                margin - 6,
                y(t) + 4,
                f"{t:.0%}" if top >= 0.1 else f"{t:.1%}",
            )
            for t in (step * i for i in range(round(top / step) + 1))
        ),
    )
    points = format_html_join(
        "",
        "<g><line x1='{}' y1='{}' x2='{}' y2='{}' stroke='#417690' stroke-width='2'/>"
        "<circle cx='{}' cy='{}' r='5' fill='{}'><title>band {}: predicted {}, observed {} ({} of {})</title></circle>"
        "<text x='{}' y='{}' font-size='10'>{}</text></g>",
        (
            (
                x(b["mean_probability"]),
                y(b["interval_low"] or 0),
                x(b["mean_probability"]),
                y(b["interval_high"] or 0),
                x(b["mean_probability"]),
                y(b["bad_rate"]),
                "#417690" if b["verdict"] == "consistent" else "#c0392b",
                b["band"],
                f"{b['mean_probability']:.2%}",
                f"{b['bad_rate']:.2%}",
                b["bads"],
                b["outcomes"],
                x(b["mean_probability"]) + 7,
                y(b["bad_rate"]) - 4,
                b["band"],
            )
            for b in bands
        ),
    )
    width = size + 2 * margin
    return format_html(
        "<svg class='calibration' role='img' aria-label='Observed bad rate against predicted probability, by band' "
        "width='{}' height='{}' font-size='11' font-family='sans-serif'>{}"
        "<line x1='{}' y1='{}' x2='{}' y2='{}' stroke='#999' stroke-dasharray='4 3'/>{}"
        "<text x='{}' y='{}' text-anchor='middle' fill='#555'>predicted probability of default (band mean)</text>"
        "<text transform='translate(12,{}) rotate(-90)' text-anchor='middle' fill='#555'>observed bad rate</text>"
        "</svg>",
        width,
        width,
        ticks,
        x(0),
        y(0),
        x(top),
        y(top),
        points,
        margin + size / 2,
        width - 8,
        margin + size / 2,
    )
