"""The digests the audit chain links cover: a bulk chunk's results and row errors, an outcome
upload's outcomes and listed rows. Written when the rows are stored (``batches``, ``outcomes``) and
recomputed from the stored rows by ``audit_verification``: one text each, so both sides agree."""

from __future__ import annotations

import hashlib
import json
import operator
from collections.abc import Iterable
from typing import Any

import pandas as pd

# -- bulk chunks -------------------------------------------------------------------------------------


def result_fields(results: pd.DataFrame | Iterable[Any]) -> tuple[list[str], ...]:
    """The stored text of each result column: line, external id ("" if none), the probability's repr
    (it reads back as the same float), score, decision and the reasons as canonical JSON; from a
    chunk's results frame, or from rows read back (an audit)."""
    columns: list[Iterable[Any]]  # one per digested field: a frame's column, or the rows' values
    if isinstance(results, pd.DataFrame):
        columns = [results[name].to_numpy(dtype=object) for name in _DIGESTED]
    else:
        columns = list(zip(*map(operator.attrgetter(*_DIGESTED), results), strict=True))
        columns = columns or [[] for _ in _DIGESTED]
    lines, ids, probabilities, scores, decisions, reasons = columns
    return (
        [str(int(v)) for v in lines],
        ["" if external_id_or_none(v) is None else str(int(v)) for v in ids],
        [repr(float(v)) for v in probabilities],
        [str(int(v)) for v in scores],
        [str(v) for v in decisions],
        [_json(v) if v else "[]" for v in reasons],
    )


_DIGESTED = ("line", "external_id", "probability_bad", "score", "decision", "reasons")


def digest_fields(fields: tuple[list[str], ...]) -> str:
    lines, ids, probabilities, scores, decisions, reasons = fields
    text = "".join(
        f"{line}|{external_id or 'None'}|{probability}|{score}|{decision}|{reason}\n"
        for line, external_id, probability, score, decision, reason in zip(
            lines, ids, probabilities, scores, decisions, reasons, strict=True
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()


def external_id_or_none(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def results_digest(rows: Iterable[Any]) -> str:
    """sha256 of a chunk's results in line order; rows have line, external_id, probability_bad, score,
    decision and reasons (as stored and as read back, the same text): one line each,
    ``line|external_id|repr(probability)|score|decision|reasons JSON``."""
    return digest_fields(result_fields(rows))


def errors_digest(rows: Iterable[tuple[int, str, str]]) -> str:
    digest = hashlib.sha256()
    for line, column, problem in rows:
        digest.update(f"{line}|{column}|{problem}\n".encode())
    return digest.hexdigest()


# -- outcome uploads ---------------------------------------------------------------------------------

# The fields of an outcome its upload's digest covers, in this order.
OUTCOME_DIGESTED = (
    "line",
    "score_request_id",
    "batch_result_id",
    "model_version_id",
    "external_id",
    "bad",
    "observed_on",
)


def outcomes_digest(rows: Iterable[tuple[Any, ...]]) -> str:
    """sha256 of an upload's outcomes in line order, each as ``OUTCOME_DIGESTED`` joined by ``|``."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(("|".join(_text(value) for value in row) + "\n").encode())
    return digest.hexdigest()


def listed_digest(rows: Iterable[tuple[int, str, str, str]]) -> str:
    digest = hashlib.sha256()
    for line, reference, kind, problem in rows:
        digest.update(f"{line}|{reference}|{kind}|{problem}\n".encode())
    return digest.hexdigest()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)  # a uuid, a number, a date (ISO)
