"""The lending simulation's arithmetic: pure functions on arrays and frames (no Django).

A lender shows the model every applicant of a labelled test set, approves those whose
probability of default is below the cut-off (the scorecard's rule, :func:`ml.scorecard.decisions`)
and books what each approved loan turned out to earn: the margin on a good client, the loss
given default on a bad one. The same bookkeeping prices the two references, approving everyone
and the oracle that approves exactly the clients who repay, and every other cut-off (the sweep).

The cut-off itself is chosen on validation predictions only (:func:`choose_threshold`), never on
the rows it is then measured on.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import roc_auc_score, roc_curve

from ml import schema
from ml.scorecard import APPROVE, DECLINE

INCOME_COLUMN = "PERSONAL_MONTHLY_INCOME"
FOUR_FIFTHS = 0.8  # the adverse impact ratio below which a group is flagged (the "four-fifths rule")


@dataclass(frozen=True)
class Economics:
    """What one approved loan earns or loses. The defaults are explained in ``docs/simulation.md``.

    ``exposure`` is lent to every approved applicant, unless ``income_multiple`` is set: then each
    gets that multiple of the declared monthly income, capped at ``exposure_cap`` (the fixed
    exposure where the income is missing or zero). ``cost_of_funds`` is a share of the exposure of
    every approved loan; ``cost_per_application`` is paid on every applicant, approved or not.
    """

    exposure: float = 1000.0
    margin: float = 0.25
    loss_given_default: float = 0.75
    income_multiple: float | None = None
    exposure_cap: float | None = None
    cost_per_application: float = 0.0
    cost_of_funds: float = 0.0

    def __post_init__(self) -> None:
        positive = {
            "exposure": self.exposure,
            "margin": self.margin,
            "income_multiple": self.income_multiple,
            "exposure_cap": self.exposure_cap,
        }
        not_negative = {
            "loss_given_default": self.loss_given_default,
            "cost_of_funds": self.cost_of_funds,
            "cost_per_application": self.cost_per_application,
        }
        for name, value in positive.items():
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, not {value!r}")
        for name, value in not_negative.items():
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a number of at least 0, not {value!r}")

    @property
    def break_even(self) -> float:
        """The probability of default at which an approval earns nothing on average.

        0 when funding costs eat the whole margin: then no loan is worth making, and the oracle
        itself approves nobody.
        """
        return max(0.0, (self.margin - self.cost_of_funds) / (self.margin + self.loss_given_default))

    @property
    def is_default(self) -> bool:
        return self == Economics()

    def as_dict(self) -> dict[str, float | None]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Economics:
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known and value is not None})

    def exposures(self, income: npt.ArrayLike | None, n_applicants: int) -> np.ndarray:
        """The amount lent to each applicant if approved."""
        fixed = np.full(n_applicants, float(self.exposure))
        if self.income_multiple is None or income is None:
            return fixed
        by_income = self.income_multiple * np.asarray(income, dtype=float)
        if self.exposure_cap is not None:
            by_income = np.minimum(by_income, self.exposure_cap)
        # A lender does not approve a loan of nothing: without a usable income, the standard amount.
        return np.where(np.isfinite(by_income) & (by_income > 0), by_income, fixed)


# -- booking outcomes ----------------------------------------------------------------------------


def loan_value(bad: npt.ArrayLike, exposure: npt.ArrayLike, economics: Economics) -> np.ndarray:
    """What approving each applicant earns (negative: loses), before the cost of the application."""
    exposure = np.asarray(exposure, dtype=float)
    good_value = exposure * (economics.margin - economics.cost_of_funds)
    bad_value = -exposure * (economics.loss_given_default + economics.cost_of_funds)
    return np.where(np.asarray(bad, dtype=bool), bad_value, good_value)


def book_outcomes(
    approved: npt.ArrayLike, bad: npt.ArrayLike, exposure: npt.ArrayLike, economics: Economics
) -> np.ndarray:
    """Profit booked on each applicant: the loan's value where approved, less the cost of applying."""
    value = loan_value(bad, exposure, economics)
    return np.where(np.asarray(approved, dtype=bool), value, 0.0) - economics.cost_per_application


def approve(probability_bad: npt.ArrayLike, threshold: float) -> np.ndarray:
    """The scorecard's rule as booleans: approved below the cut-off, declined at or above it."""
    return np.asarray(probability_bad, dtype=float) < threshold


def policy_outcome(
    approved: npt.ArrayLike, bad: npt.ArrayLike, exposure: npt.ArrayLike, economics: Economics
) -> dict[str, Any]:
    """Counts and money of one set of decisions."""
    approved, bad = np.asarray(approved, dtype=bool), np.asarray(bad, dtype=bool)
    applicants, n_approved = len(bad), int(approved.sum())
    profit = float(book_outcomes(approved, bad, exposure, economics).sum())
    return {
        "applicants": applicants,
        "approved": n_approved,
        "declined": applicants - n_approved,
        "approval_rate": n_approved / applicants if applicants else None,
        "bad_rate": float(bad.mean()) if applicants else None,
        "bad_rate_approved": float(bad[approved].mean()) if n_approved else None,
        "bads_approved": int((bad & approved).sum()),
        "defaults_avoided": int((bad & ~approved).sum()),
        "goods_declined": int((~bad & ~approved).sum()),
        "exposure_approved": float(np.asarray(exposure, dtype=float)[approved].sum()),
        "profit": profit,
        "profit_per_applicant": profit / applicants if applicants else None,
    }


def approve_all_profit(bad: npt.ArrayLike, exposure: npt.ArrayLike, economics: Economics) -> float:
    return float(book_outcomes(np.ones(len(np.asarray(bad)), dtype=bool), bad, exposure, economics).sum())


def oracle_profit(bad: npt.ArrayLike, exposure: npt.ArrayLike, economics: Economics) -> float:
    """The ceiling: approve exactly the loans that earn money, that is the good clients."""
    worth_it = loan_value(bad, exposure, economics) > 0
    return float(book_outcomes(worth_it, bad, exposure, economics).sum())


def uplift_captured(profit: float, approve_all: float, oracle: float) -> float | None:
    """Share of the oracle's gain over approving everyone that the policy achieves."""
    ceiling = oracle - approve_all
    return (profit - approve_all) / ceiling if ceiling > 0 else None


def simulate(
    probability_bad: npt.ArrayLike,
    bad: npt.ArrayLike,
    exposure: npt.ArrayLike,
    *,
    threshold: float,
    economics: Economics,
) -> dict[str, Any]:
    """The summary of one run: the policy at ``threshold`` beside approve-everyone and the oracle."""
    outcome = policy_outcome(approve(probability_bad, threshold), bad, exposure, economics)
    everyone, oracle = approve_all_profit(bad, exposure, economics), oracle_profit(bad, exposure, economics)
    applicants = outcome["applicants"] or 1
    return {
        **outcome,
        "threshold": float(threshold),
        "profit_approve_all": everyone,
        "profit_oracle": oracle,
        "profit_per_applicant_approve_all": everyone / applicants,
        "profit_per_applicant_oracle": oracle / applicants,
        "approved_oracle": int((loan_value(bad, exposure, economics) > 0).sum()),
        "uplift_over_approve_all": outcome["profit"] - everyone,
        "uplift_captured": uplift_captured(outcome["profit"], everyone, oracle),
    }


# -- every cut-off at once -----------------------------------------------------------------------


def profit_curve(
    probability_bad: npt.ArrayLike,
    bad: npt.ArrayLike,
    exposure: npt.ArrayLike,
    economics: Economics,
    thresholds: npt.ArrayLike | None = None,
) -> pd.DataFrame:
    """The outcome of every cut-off: by default each distinct probability, and 1 (approve everyone).

    One sort and cumulative sums, so the whole sweep costs about as much as one cut-off.
    """
    probability = np.asarray(probability_bad, dtype=float)
    order = np.argsort(probability, kind="stable")
    sorted_probability = probability[order]
    value = loan_value(np.asarray(bad)[order], np.asarray(exposure, dtype=float)[order], economics)
    bads = np.asarray(bad, dtype=float)[order]
    if thresholds is None:
        thresholds = np.unique(np.append(sorted_probability, 1.0))
    thresholds = np.asarray(thresholds, dtype=float)
    approved = np.searchsorted(sorted_probability, thresholds, side="left")  # how many lie below each cut-off
    profit = np.concatenate([[0.0], np.cumsum(value)])[approved] - economics.cost_per_application * len(probability)
    bads_approved = np.concatenate([[0.0], np.cumsum(bads)])[approved]
    with np.errstate(invalid="ignore", divide="ignore"):
        bad_rate_approved = np.where(approved > 0, bads_approved / approved, np.nan)
    return pd.DataFrame(
        {
            "threshold": thresholds,
            "approved": approved,
            "approval_rate": approved / max(len(probability), 1),
            "bad_rate_approved": bad_rate_approved,
            "profit": profit,
            "profit_per_applicant": profit / max(len(probability), 1),
        }
    )


# -- choosing the cut-off on validation predictions ----------------------------------------------

THRESHOLD_GRID = np.round(np.arange(0.01, 0.9001, 0.0025), 4)


@dataclass(frozen=True)
class ThresholdChoice:
    """A cut-off chosen on validation predictions, and how."""

    threshold: float
    method: str
    economics: dict[str, float | None]
    validation_rows: int
    validation_profit_per_applicant: float
    validation_uplift_captured: float | None
    break_even: float
    spread: tuple[float, float]  # the middle half of the bootstrap's best cut-offs

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "spread": list(self.spread)}


def _grid_profit(bins: np.ndarray, value: np.ndarray, weights: np.ndarray, n_grid: int) -> np.ndarray:
    """Profit (before application costs) at every grid cut-off: the approved are the rows of lower bins."""
    per_bin = np.bincount(bins, weights=value * weights, minlength=n_grid + 1)
    return np.cumsum(per_bin)[:n_grid]


def choose_threshold(
    probability_bad: npt.ArrayLike,
    bad: npt.ArrayLike,
    exposure: npt.ArrayLike,
    economics: Economics,
    *,
    n_boot: int = 400,
    random_state: int = 0,
    grid: npt.ArrayLike = THRESHOLD_GRID,
) -> ThresholdChoice:
    """The profit-maximising cut-off on validation predictions: the median of bootstrap argmaxes.

    The raw profit curve is noisy near its top, and its argmax jumps with a few applicants
    (one bad client approved costs three good ones' margin). The cut-off that maximises profit on
    each of ``n_boot`` resamples of the validation rows, and then the median of those, is the
    choice that stays put when the sample changes: a bagged argmax (see ``docs/simulation.md`` for
    how it compared with the raw argmax and with the break-even probability).
    """
    probability = np.asarray(probability_bad, dtype=float)
    grid = np.asarray(grid, dtype=float)
    value = loan_value(bad, exposure, economics)
    bins = np.searchsorted(grid, probability, side="right")  # a row is approved at grid[j] if bins <= j
    rng = np.random.default_rng(random_state)
    best = np.empty(n_boot)
    for b in range(n_boot):
        weights = np.bincount(rng.integers(0, len(probability), len(probability)), minlength=len(probability))
        best[b] = grid[np.argmax(_grid_profit(bins, value, weights.astype(float), len(grid)))]
    threshold = float(np.median(best))
    outcome = simulate(probability, bad, exposure, threshold=threshold, economics=economics)
    return ThresholdChoice(
        threshold=threshold,
        method=f"median of the profit-maximising cut-off over {n_boot} bootstrap resamples",
        economics=economics.as_dict(),
        validation_rows=len(probability),
        validation_profit_per_applicant=float(outcome["profit_per_applicant"]),
        validation_uplift_captured=outcome["uplift_captured"],
        break_even=economics.break_even,
        spread=(float(np.quantile(best, 0.25)), float(np.quantile(best, 0.75))),
    )


def threshold_choice_for(*, validation: pd.DataFrame, economics: Economics, **options: Any) -> ThresholdChoice | None:
    """:func:`choose_threshold` on a model's validation predictions (``TrainingResult.validation``).

    None when they cannot tell good from bad clients (one class only).
    """
    if validation.empty or validation[schema.LABEL].nunique() < 2:
        return None
    exposure = economics.exposures(validation[INCOME_COLUMN], len(validation))
    return choose_threshold(
        validation["probability_bad"].to_numpy(), validation[schema.LABEL].to_numpy(), exposure, economics, **options
    )


# -- uncertainty ---------------------------------------------------------------------------------


def bootstrap_intervals(
    approved: npt.ArrayLike,
    bad: npt.ArrayLike,
    exposure: npt.ArrayLike,
    economics: Economics,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    random_state: int = 0,
) -> dict[str, dict[str, float | None]]:
    """Percentile intervals of profit and of the references, resampling applicants.

    The decisions are held fixed: this is the uncertainty of measuring them on a test set of this
    size, not the uncertainty of the model or of the cut-off.
    """
    value = loan_value(bad, exposure, economics)
    cost = economics.cost_per_application
    columns = np.stack(
        [
            np.where(np.asarray(approved, dtype=bool), value, 0.0) - cost,  # the policy
            value - cost,  # approve everyone
            np.where(value > 0, value, 0.0) - cost,
        ],
        axis=1,
    )  # the oracle
    n = len(value)
    rng = np.random.default_rng(random_state)
    totals = np.empty((n_boot, 3))
    chunk = max(1, 2_000_000 // max(n, 1))  # bounded memory whatever the test set's size
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        totals[start : start + size] = columns[rng.integers(0, n, (size, n))].sum(axis=1)
    policy, everyone, oracle = totals.T
    with np.errstate(invalid="ignore", divide="ignore"):
        captured = np.where(oracle > everyone, (policy - everyone) / (oracle - everyone), np.nan)
    low, high = (1 - level) / 2, 1 - (1 - level) / 2

    def interval(values: np.ndarray) -> dict[str, float | None]:
        if np.isnan(values).all():  # e.g. the share of an uplift that no resample has (no bad client at all)
            return {"low": None, "high": None}
        return {"low": float(np.nanquantile(values, low)), "high": float(np.nanquantile(values, high))}

    return {
        "level": {"low": low, "high": high},
        "profit": interval(policy),
        "profit_per_applicant": interval(policy / n),
        "profit_approve_all": interval(everyone),
        "profit_oracle": interval(oracle),
        "uplift_over_approve_all": interval(policy - everyone),
        "uplift_captured": interval(captured),
    }


# -- curves for the report -----------------------------------------------------------------------


def roc_points(probability_bad: npt.ArrayLike, bad: npt.ArrayLike, n_points: int = 101) -> dict[str, Any]:
    """The ROC curve on a fixed grid of false positive rates (goods declined), and its area."""
    bad = np.asarray(bad, dtype=int)
    if len(np.unique(bad)) < 2:
        return {"roc_auc": None, "false_positive_rate": [], "true_positive_rate": []}
    fpr, tpr, _ = roc_curve(bad, probability_bad)
    grid = np.linspace(0, 1, n_points)
    return {
        "roc_auc": float(roc_auc_score(bad, probability_bad)),
        "false_positive_rate": grid.round(4).tolist(),
        "true_positive_rate": np.interp(grid, fpr, tpr).round(4).tolist(),
    }


def score_distributions(score: npt.ArrayLike, bad: npt.ArrayLike, *, bins: int = 30) -> dict[str, list[float]]:
    """Share of goods and of bads in each band of credit points, over the range the scores span."""
    score, bad = np.asarray(score, dtype=float), np.asarray(bad, dtype=bool)
    low, high = (float(np.floor(score.min())), float(np.ceil(score.max()))) if len(score) else (0.0, 1.0)
    edges = np.linspace(low, max(high, low + 1), bins + 1)

    def shares(values: np.ndarray) -> list[float]:
        counts, _ = np.histogram(values, bins=edges)
        return (counts / max(len(values), 1)).round(5).tolist()

    return {"edges": edges.round(2).tolist(), "goods": shares(score[~bad]), "bads": shares(score[bad])}


def curve_for_report(curve: pd.DataFrame) -> dict[str, list[float | None]]:
    """A profit curve as JSON-friendly lists (missing rates as None)."""
    clean = curve.astype(object).where(curve.notna(), None)
    return {name: clean[name].tolist() for name in curve.columns}


# -- fairness ------------------------------------------------------------------------------------

AGE_BAND_EDGES = (-np.inf, 25, 35, 45, 55, 65, np.inf)
AGE_BAND_LABELS = ("under 25", "25-34", "35-44", "45-54", "55-64", "65 and over")


def age_bands(age: pd.Series) -> pd.Series:
    """Age bands as an ordered category, youngest first, ``missing`` last."""
    bands = pd.cut(age.astype(float), bins=list(AGE_BAND_EDGES), right=False, labels=list(AGE_BAND_LABELS))
    return bands.cat.add_categories("missing").fillna("missing")


def fairness_table(
    group: pd.Series,
    approved: npt.ArrayLike,
    bad: npt.ArrayLike,
    *,
    min_reference_share: float = 0.05,
    min_flag_applicants: int = 50,
) -> pd.DataFrame:
    """Approval and bad rates by group, with the adverse impact ratio.

    The ratio is a group's approval rate over the reference group's: the highest approval rate
    among groups holding at least ``min_reference_share`` of the applicants (a handful of
    applicants should not set the bar for everyone). Below 0.8 is the usual flag; a group of
    fewer than ``min_flag_applicants`` is marked small rather than flagged, its rate being noise.
    Groups keep the order of a categorical ``group`` (else sorted), with ``missing`` last.
    """
    labels = group.astype(object).where(group.notna(), "missing").astype(str)
    frame = pd.DataFrame(
        {"group": labels.to_numpy(), "approved": np.asarray(approved, dtype=bool), "bad": np.asarray(bad, dtype=bool)}
    )
    frame["bad_approved"] = frame["bad"] & frame["approved"]
    table = frame.groupby("group").agg(
        applicants=("approved", "size"),
        approved=("approved", "sum"),
        bads=("bad", "sum"),
        bads_approved=("bad_approved", "sum"),
    )
    table = table.reindex(_group_order(group, table.index))
    table["share_of_applicants"] = table["applicants"] / table["applicants"].sum()
    table["approval_rate"] = table["approved"] / table["applicants"]
    table["bad_rate"] = table["bads"] / table["applicants"]
    table["bad_rate_approved"] = (table["bads_approved"] / table["approved"]).where(table["approved"] > 0)
    eligible = table[table["share_of_applicants"] >= min_reference_share]
    reference = (eligible if len(eligible) else table)["approval_rate"].max()
    table["adverse_impact_ratio"] = table["approval_rate"] / reference if reference > 0 else np.nan
    table["small_group"] = table["applicants"] < min_flag_applicants
    table["below_four_fifths"] = (table["adverse_impact_ratio"] < FOUR_FIFTHS) & ~table["small_group"]
    return table.drop(columns=["bads_approved"]).rename_axis("group").reset_index()


def _group_order(group: pd.Series, present: pd.Index) -> list[str]:
    if isinstance(group.dtype, pd.CategoricalDtype):
        order = [str(c) for c in group.cat.categories if str(c) in present]
    else:
        order = sorted(name for name in present if name != "missing")
    return order + [name for name in present if name not in order]


def cramers_v(x: pd.Series, y: pd.Series) -> float:
    """Bias-corrected Cramér's V (Bergsma 2013): 0 for no association, 1 when one determines the other.

    The correction matters here: a zip prefix has hundreds of values, and the plain V of so many
    sparse cells is far from 0 even when there is no association at all.
    """
    table = pd.crosstab(_as_category(x), _as_category(y)).to_numpy(dtype=float)
    n = table.sum()
    rows, cols = table.shape
    if n < 2 or rows < 2 or cols < 2:
        return 0.0
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / n
    phi2 = float(((table - expected) ** 2 / expected).sum() / n)
    phi2 = max(0.0, phi2 - (rows - 1) * (cols - 1) / (n - 1))
    rows_corrected = rows - (rows - 1) ** 2 / (n - 1)
    cols_corrected = cols - (cols - 1) ** 2 / (n - 1)
    denominator = min(rows_corrected - 1, cols_corrected - 1)
    return float(math.sqrt(phi2 / denominator)) if denominator > 0 else 0.0


def _as_category(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values.notna(), "missing").astype(str)


def association_strength(v: float) -> str:
    """Words for Cramér's V, on the usual rule of thumb."""
    return "negligible" if v < 0.05 else "weak" if v < 0.15 else "moderate" if v < 0.3 else "strong"


def proxy_strength(proxies: dict[str, pd.Series], attributes: dict[str, pd.Series]) -> pd.DataFrame:
    """How strongly each model input stands in for each attribute the model should not decide on."""
    rows = []
    for proxy, proxy_values in proxies.items():
        for attribute, attribute_values in attributes.items():
            v = cramers_v(proxy_values, attribute_values)
            rows.append(
                {
                    "input": proxy,
                    "attribute": attribute,
                    "distinct_values": int(proxy_values.nunique()),
                    "cramers_v": round(v, 4),
                    "strength": association_strength(v),
                }
            )
    return pd.DataFrame(rows)


# -- the whole report ----------------------------------------------------------------------------

PROXY_INPUTS = ("RESIDENCIAL_ZIP_3", "PROFESSIONAL_ZIP_3", "RESIDENCIAL_STATE", "PROFESSIONAL_STATE")
REPORT_THRESHOLDS = np.round(np.arange(0.0, 1.0001, 0.005), 4)
LIMITS = (
    "The data holds only applicants whom an earlier system approved: the applicants it declined are "
    "missing, with their outcomes, so profit on the whole market of applicants is not measured. A "
    "lender using this model on everyone who applies would see riskier applicants than these.",
    "Each approved loan is booked once: the margin on a good client, the loss given default on a bad "
    "one. No time value of money, no recoveries schedule, no pricing by risk, no credit limits "
    "that change with behaviour.",
    "The confidence intervals resample the test applicants with the decisions fixed: they measure how "
    "precisely this test set pins the results down, not the uncertainty of the model or of the cut-off.",
)


@dataclass
class SimulationReport:
    summary: dict[str, Any]
    intervals: dict[str, Any]
    fairness: dict[str, Any]
    charts: dict[str, Any]
    decisions: pd.DataFrame  # one row an applicant: ID_CLIENT, probability_bad, score, decision, bad, exposure, profit


def simulation_report(
    scored: pd.DataFrame, *, threshold: float, economics: Economics, n_boot: int = 1000, random_state: int = 0
) -> SimulationReport:
    """Everything a run reports, from the test applicants with ``probability_bad``, ``score`` and the label.

    ``scored`` also carries the inputs the fairness report groups by (``SEX``, ``AGE``...) where present.
    """
    probability = scored["probability_bad"].to_numpy(dtype=float)
    bad = scored[schema.LABEL].to_numpy().astype(bool)
    income = scored[INCOME_COLUMN] if INCOME_COLUMN in scored else None
    exposure = economics.exposures(income, len(scored))
    approved = approve(probability, threshold)
    summary = simulate(probability, bad, exposure, threshold=threshold, economics=economics)
    summary.update(_hindsight(profit_curve(probability, bad, exposure, economics), summary))
    summary["roc_auc"] = roc_points(probability, bad)["roc_auc"]
    charts = {
        "profit_curve": curve_for_report(profit_curve(probability, bad, exposure, economics, REPORT_THRESHOLDS)),
        "roc": roc_points(probability, bad),
        "score_distributions": score_distributions(scored["score"], bad),
        "policy": {
            "threshold": threshold,
            "break_even": economics.break_even,
            "false_positive_rate": _rate(~approved & ~bad, ~bad),
            "true_positive_rate": _rate(~approved & bad, bad),
        },
    }
    decisions = pd.DataFrame(
        {
            schema.ID_COLUMN: scored[schema.ID_COLUMN].to_numpy(),
            "probability_bad": probability,
            "score": scored["score"].to_numpy(),
            "decision": np.where(approved, APPROVE, DECLINE),
            "bad": bad,
            "exposure": exposure,
            "profit": book_outcomes(approved, bad, exposure, economics),
        }
    )
    return SimulationReport(
        summary=summary,
        intervals=bootstrap_intervals(approved, bad, exposure, economics, n_boot=n_boot, random_state=random_state),
        fairness=fairness_report(scored, approved, bad),
        charts=charts,
        decisions=decisions,
    )


def _rate(hits: np.ndarray, among: np.ndarray) -> float | None:
    return float(hits.sum() / among.sum()) if among.sum() else None


def _hindsight(curve: pd.DataFrame, summary: dict[str, Any]) -> dict[str, Any]:
    """The best cut-off on these very rows: a yardstick for the chosen one, never a policy."""
    best = curve.iloc[curve["profit"].argmax()]
    return {
        "hindsight_threshold": float(best["threshold"]),
        "hindsight_profit": float(best["profit"]),
        "hindsight_uplift_captured": uplift_captured(
            float(best["profit"]), summary["profit_approve_all"], summary["profit_oracle"]
        ),
    }


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON values: NaN as None, NumPy numbers as Python numbers."""
    return json.loads(frame.to_json(orient="records", double_precision=6))


def fairness_report(scored: pd.DataFrame, approved: npt.ArrayLike, bad: npt.ArrayLike) -> dict[str, Any]:
    """Approval and bad rates by SEX and AGE band, and how strongly location inputs stand in for them."""
    groups: dict[str, pd.Series] = {}
    if "SEX" in scored:
        groups["SEX"] = scored["SEX"]
    if "AGE" in scored:
        groups["AGE band"] = age_bands(scored["AGE"])
    attributes = {**groups}
    if "MARITAL_STATUS" in scored:
        attributes["MARITAL_STATUS"] = scored["MARITAL_STATUS"]
    proxies = {name: scored[name] for name in PROXY_INPUTS if name in scored}
    if "probability_bad" in scored and scored["probability_bad"].nunique() >= 10:
        proxies["probability_bad (deciles)"] = pd.qcut(scored["probability_bad"], 10, labels=False, duplicates="drop")
    return {
        "groups": {name: records(fairness_table(values, approved, bad)) for name, values in groups.items()},
        "proxies": records(proxy_strength(proxies, attributes)) if proxies and attributes else [],
        "four_fifths": FOUR_FIFTHS,
    }
