"""A finished run as the command prints it, as JSON, and as chart files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ml.scorecard import PointsScale
from ml.simulation import LIMITS, Economics
from ml.simulation_plots import CHART_NAMES, render
from simulations.models import SimulationRun

# What `simulate --json` prints at the least; the acceptance check reads these.
JSON_KEYS = (
    "approved",
    "approval_rate",
    "bad_rate_approved",
    "profit",
    "profit_per_applicant",
    "profit_approve_all",
    "profit_oracle",
    "threshold",
)


def summary_json(run: SimulationRun) -> dict[str, Any]:
    """The run's summary with its context: one flat JSON object."""
    return {
        **run.summary,
        "threshold": run.threshold,
        "threshold_source": run.threshold_source,
        "model_version": run.model_version.version,
        "simulation_run": str(run.id),
        "data_source": run.data_source,
        "economics": run.economics,
        "profit_interval": run.intervals.get("profit"),
        "uplift_captured_interval": run.intervals.get("uplift_captured"),
        "warnings": run.warnings,
    }


def describe_economics(values: dict[str, Any]) -> str:
    """The run's economics in words: what is lent, earned and lost."""
    e = Economics.from_dict(values)
    exposure = f"{e.exposure:,.0f} lent to each approved applicant"
    if e.income_multiple is not None:
        cap = f", at most {e.exposure_cap:,.0f}" if e.exposure_cap is not None else ""
        exposure = f"{e.income_multiple:g} times the monthly income lent{cap} ({e.exposure:,.0f} without an income)"
    return (
        f"{exposure}; a good client earns {e.margin:.0%} of it, a bad one loses {e.loss_given_default:.0%}; "
        f"cost of funds {e.cost_of_funds:.1%}, {e.cost_per_application:,.2f} per application; "
        f"break-even probability of default {e.break_even:.3f}"
    )


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def summary_lines(run: SimulationRun) -> list[str]:
    """A plain-text report: the policy beside the two references, then intervals and fairness."""
    s, ci = run.summary, run.intervals
    lines = [
        f"Simulation {run.id}: {run.model_version.version} on {s['applicants']} applicants ({run.data_source})",
        f"Cut-off {run.threshold:.4f} ({run.get_threshold_source_display()})",
        f"Economics: {describe_economics(run.economics)}",
        "",
        f"{'':<28}{'policy':>14}{'approve all':>14}{'oracle':>14}",
        f"{'approved':<28}{s['approved']:>14,}{s['applicants']:>14,}{s['approved_oracle']:>14,}",
        f"{'profit':<28}{_money(s['profit']):>14}{_money(s['profit_approve_all']):>14}{_money(s['profit_oracle']):>14}",
        f"{'profit per applicant':<28}{s['profit_per_applicant']:>14.2f}{s['profit_per_applicant_approve_all']:>14.2f}"
        f"{s['profit_per_applicant_oracle']:>14.2f}",
        "",
        f"approval rate {_share(s['approval_rate'])}, bad rate among approved {_share(s['bad_rate_approved'])} "
        f"(all applicants {_share(s['bad_rate'])}); defaults avoided {s['defaults_avoided']:,}, "
        f"good clients turned away {s['goods_declined']:,}",
        f"uplift over approving everyone {_money(s['uplift_over_approve_all'])}: "
        f"{_share(s['uplift_captured'])} of the oracle's",
        f"profit {100 * (ci['level']['high'] - ci['level']['low']):.0f}% interval {_money(ci['profit']['low'])} to "
        f"{_money(ci['profit']['high'])}; share of the oracle's uplift {_share(ci['uplift_captured']['low'])} to "
        f"{_share(ci['uplift_captured']['high'])}",
        f"in hindsight the best cut-off on these rows was {s['hindsight_threshold']:.4f} "
        f"({_share(s['hindsight_uplift_captured'])} of the uplift): a yardstick, not a policy",
        "",
    ]
    return lines + _fairness_lines(run) + ["", "Limits:"] + [f"- {limit}" for limit in LIMITS]


def _fairness_lines(run: SimulationRun) -> list[str]:
    lines = []
    for name, rows in run.fairness.get("groups", {}).items():
        lines.append(f"By {name}: group, applicants, approval rate, bad rate among approved, adverse impact ratio")
        for row in rows:
            flag = "  < four fifths" if row["below_four_fifths"] else "  (small group)" if row["small_group"] else ""
            lines.append(
                f"  {row['group']:<14}{row['applicants']:>8,}{_share(row['approval_rate']):>9}"
                f"{_share(row['bad_rate_approved']):>9}{row['adverse_impact_ratio']:>8.2f}{flag}"
            )
    proxies = run.fairness.get("proxies", [])
    if proxies:
        lines.append("How strongly inputs stand in for attributes (bias-corrected Cramér's V):")
        for row in proxies:
            lines.append(f"  {row['input']:<28}{row['attribute']:<16}{row['cramers_v']:>7.3f}  {row['strength']}")
    return lines


def chart_png(run: SimulationRun, name: str, scale: PointsScale) -> bytes:
    stored = {"summary": run.summary, "charts": run.charts, "fairness": run.fairness}
    return render(name, stored, points_at=lambda threshold: float(scale.points(threshold)))


def chart_files(run: SimulationRun, folder: Path, scale: PointsScale, prefix: str = "simulation") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in CHART_NAMES:
        path = folder / f"{prefix}-{name}.png"
        path.write_bytes(chart_png(run, name, scale))
        paths.append(path)
    return paths
