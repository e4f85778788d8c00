"""Compare ways of choosing the cut-off, on a model's validation predictions only.

    python scripts/cutoff_methods.py var/models/v1.validation.csv.gz [--repeats 40]

Each repeat splits the validation rows in two at random, chooses a cut-off on one half with each
method, and measures the share of the oracle's uplift it captures on the other half. No holdout
row is read: this is how the method of :func:`ml.simulation.choose_threshold` was picked. A command,
not a test; figures in ``docs/simulation.md``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ml import schema  # noqa: E402
from ml.simulation import (  # noqa: E402
    THRESHOLD_GRID,
    Economics,
    choose_threshold,
    profit_curve,
    simulate,
    uplift_captured,
)

Method = Callable[[np.ndarray, np.ndarray, np.ndarray, Economics], float]


def raw_argmax(p: np.ndarray, bad: np.ndarray, exposure: np.ndarray, economics: Economics) -> float:
    curve = profit_curve(p, bad, exposure, economics, THRESHOLD_GRID)
    return float(curve["threshold"].iloc[curve["profit"].argmax()])


def smoothed_argmax(bandwidth: float) -> Method:
    def choose(p: np.ndarray, bad: np.ndarray, exposure: np.ndarray, economics: Economics) -> float:
        profit = profit_curve(p, bad, exposure, economics, THRESHOLD_GRID)["profit"].to_numpy()
        kernel = np.exp(-0.5 * ((THRESHOLD_GRID[:, None] - THRESHOLD_GRID[None, :]) / bandwidth) ** 2)
        return float(THRESHOLD_GRID[np.argmax(kernel @ profit / kernel.sum(axis=1))])

    return choose


METHODS: dict[str, Method] = {
    "break-even probability (no data)": lambda p, bad, exposure, economics: economics.break_even,
    "raw argmax": raw_argmax,
    "smoothed argmax (bandwidth 0.02)": smoothed_argmax(0.02),
    "smoothed argmax (bandwidth 0.04)": smoothed_argmax(0.04),
    "bootstrap median argmax (chosen)": lambda p, bad, exposure, economics: (
        choose_threshold(p, bad, exposure, economics, n_boot=200).threshold
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("validation", type=Path)
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()
    validation = pd.read_csv(args.validation)
    p = validation["probability_bad"].to_numpy()
    bad = validation[schema.LABEL].to_numpy().astype(bool)
    economics = Economics()
    exposure = economics.exposures(validation["PERSONAL_MONTHLY_INCOME"], len(p))
    rng = np.random.default_rng(123)
    captured: dict[str, list[float]] = {name: [] for name in METHODS}
    hindsight: list[float] = []
    chosen: dict[str, list[float]] = {name: [] for name in METHODS}
    for _ in range(args.repeats):
        order = rng.permutation(len(p))
        choose_on, measure_on = order[: len(p) // 2], order[len(p) // 2 :]
        for name, method in METHODS.items():
            threshold = method(p[choose_on], bad[choose_on], exposure[choose_on], economics)
            result = simulate(
                p[measure_on], bad[measure_on], exposure[measure_on], threshold=threshold, economics=economics
            )
            captured[name].append(result["uplift_captured"])
            chosen[name].append(threshold)
        best = profit_curve(p[measure_on], bad[measure_on], exposure[measure_on], economics)["profit"].max()
        share = uplift_captured(best, result["profit_approve_all"], result["profit_oracle"])
        assert share is not None, "the oracle gains nothing over approving everyone on this half"
        hindsight.append(share)
    print(f"{len(p)} validation rows, {args.repeats} random halves\n")
    print("| method | cut-off (mean ± sd) | share of the oracle's uplift on the other half (mean ± sd) |")
    print("| --- | --- | --- |")
    for name in METHODS:
        print(
            f"| {name} | {np.mean(chosen[name]):.4f} ± {np.std(chosen[name]):.4f} | "
            f"{np.mean(captured[name]):.4f} ± {np.std(captured[name]):.4f} |"
        )
    print(
        f"| (hindsight: the best cut-off of the measured half itself) | | {np.mean(hindsight):.4f} ± "
        f"{np.std(hindsight):.4f} |"
    )


if __name__ == "__main__":
    main()
