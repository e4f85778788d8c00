"""Would more labelled rows lift the model? Cross-validated ROC AUC against training-set size.

    python scripts/learning_curve.py [--data FILE] [--candidate soft_voting] [--figure PATH]

The development rows of ``train`` (the same seeded split: the holdout is never read) are cut
into the same stratified 5 folds; each fold's model is fitted on growing shares of its training
part (scikit-learn's ``learning_curve``) and scored on the fold's test part. The table gives the
mean and spread over folds, the gain per doubling of the rows, and a straight-line projection in
log2(rows) through the last three points: a rough guide, not a measurement. A command, not a
test; figures in ``docs/modelling.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ml.candidates import CANDIDATE_NAMES, make_candidate  # noqa: E402
from ml.data import load_applications  # noqa: E402
from ml.file_formats import DataFormatError  # noqa: E402
from ml.training import TrainingConfig, features_and_label, split_holdout  # noqa: E402

SHARES = (0.125, 0.25, 0.5, 0.75, 1.0)
TRAINING = TrainingConfig()  # train's own split and folds


def measure(
    data: str, candidate: str, shares: tuple[float, ...] = SHARES, config: TrainingConfig = TRAINING
) -> tuple[np.ndarray, np.ndarray]:
    """Training rows per fold, and the test ROC AUC of every fold (one row a share)."""
    from sklearn.model_selection import learning_curve

    development, _ = split_holdout(load_applications(data, require_label=True).frame, config)
    X, y = features_and_label(development)
    sizes, _, test_scores = learning_curve(
        make_candidate(candidate, excluded=config.excluded, random_state=config.random_state),
        X,
        y,
        train_sizes=list(shares),
        cv=config.folds(),
        scoring="roc_auc",
        shuffle=True,  # a random subset of each training fold, not its first rows
        random_state=0,
    )
    return sizes, test_scores


def projection(sizes: np.ndarray, auc: np.ndarray, rows: int) -> float:
    """AUC at ``rows`` on a straight line in log2(rows) through the last three measured points."""
    slope, intercept = np.polyfit(np.log2(sizes[-3:]), auc[-3:], 1)
    return float(intercept + slope * np.log2(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    data_dir = Path(os.environ.get("CREDITRISK_DATA_DIR", "../shared/data/pakdd2010"))
    parser.add_argument("--data", default=str(data_dir / "PAKDD2010_Modeling_Data.txt"))
    parser.add_argument("--candidate", default="soft_voting", choices=CANDIDATE_NAMES)
    parser.add_argument("--figure", type=Path, help="write the curve as a PNG here")
    args = parser.parse_args()

    started = time.perf_counter()
    config = TRAINING
    folds = config.n_splits
    print(f"{args.candidate}: {len(SHARES) * folds} fits ({len(SHARES)} sizes, {folds} folds); minutes on 2 cores")
    try:
        sizes, scores = measure(args.data, args.candidate, config=config)
    except DataFormatError as error:
        sys.exit(f"cannot read {args.data}: {error}")
    auc, spread = scores.mean(axis=1), scores.std(axis=1)
    print(f"{args.candidate}: cross-validated ROC AUC by training rows ({time.perf_counter() - started:.0f} s)\n")
    print("| training rows per fold | ROC AUC | ± (folds) | gain per doubling |")
    print("| --- | --- | --- | --- |")
    for i, (n, a, s) in enumerate(zip(sizes, auc, spread, strict=True)):
        gain = "" if i == 0 else f"{(a - auc[i - 1]) / np.log2(n / sizes[i - 1]):+.4f}"
        print(f"| {n:,} | {a:.4f} | {s:.4f} | {gain} |")
    # What a fold trains on when the full 50,000-row file goes through the same split.
    full = int(50_000 * (1 - config.holdout_fraction) * (folds - 1) / folds)
    print()
    for rows in (full, 2 * int(sizes[-1])):
        print(f"projected at {rows:,} training rows per fold: {projection(sizes, auc, rows):.4f}")
    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        ax.errorbar(sizes, auc, yerr=spread, marker="o", capsize=3, label=f"{args.candidate}, 5-fold CV")
        ax.set_xscale("log", base=2)
        ax.set_xticks(sizes, [f"{n:,}" for n in sizes])
        ax.minorticks_off()
        ax.set_xlabel("training rows per fold")
        ax.set_ylabel("ROC AUC on the fold's test rows")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        args.figure.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.figure, dpi=100)
        print(f"figure: {args.figure}")


if __name__ == "__main__":
    main()
