"""`make bench-scorer`: the compiled scorer in-process, on one core, beside the scikit-learn pipeline it replaces.

Uses the active model version of the benchmark database (`creditrisk_bench`, trained there by
`make bench-api` or by this script if none is active) and the shared leaderboard file:

* one applicant scored and explained (probability, points, decision and up to four reasons) by the
  compiled scorer, and the same as a worker does it for a single score (with the read of the active
  model version from PostgreSQL): the medians over 1,000 applicants;
* rows a second the scorer predicts on a whole typed frame (20,000 rows, best of 5);
* the same two with the scikit-learn pipeline, for comparison.

    python scripts/bench_scorer.py [--applicants 1000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_api  # noqa: E402  (the same database and model as the API benchmark)

if TYPE_CHECKING:  # pandas is imported after the environment is set (main)
    import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--applicants", type=int, default=1000)
    args = parser.parse_args()
    env = {**os.environ, **bench_api.BASE_ENV}
    bench_api.prepare(env)
    os.environ.update(env)
    import django

    django.setup()
    from threadpoolctl import threadpool_limits

    from ml import schema
    from ml.predict import score_and_explain_one
    from ml.registry import load_artifact
    from scoring.model_registry import model_version_load, points_scale
    from scoring.selectors import model_version_get_active
    from scoring.services.score_requests import applicant_score

    threadpool_limits(limits=1)  # as in every worker process (scoring/signals.py)
    version = model_version_get_active()
    assert version is not None, "no active model version (bench_api.prepare trains one)"
    scorer = model_version_load(model_version=version)
    pipeline = load_artifact(Path(os.environ["CREDITRISK_MODEL_DIR"]) / version.artifact_path, version.artifact_sha256)
    frame = _leaderboard()
    applicants = bench_api.sample_applicants(args.applicants)
    print(
        f"model {version.version} ({version.algorithm}), load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
    )

    applicant_score(inputs=applicants[0])
    fields = [{name: a.get(name) for name in schema.FEATURE_NAMES} for a in applicants]
    options: dict[str, Any] = {
        "reference": version.reference_applicant,
        "scale": points_scale(),
        "threshold": version.threshold,
    }
    explained = [_timed(partial(score_and_explain_one, scorer, a, **options)) for a in fields]
    print(
        f"one applicant scored and explained: median {statistics.median(explained) * 1000:.3f} ms, "
        f"p99 {bench_api.percentile(explained, 99) * 1000:.3f} ms (target <= 1 ms)"
    )
    worker = [_timed(partial(applicant_score, inputs=a)) for a in applicants]
    print(
        f"the same with the active version read from PostgreSQL (applicant_score): median "
        f"{statistics.median(worker) * 1000:.3f} ms"
    )
    best = min(_timed(lambda: scorer.probability_bad(frame)) for _ in range(5))
    print(f"compiled scorer, {len(frame):,} rows: {len(frame) / best:,.0f} rows/s on one core (target >= 100,000)")
    single = [_timed(partial(scorer.probability_bad, a)) for a in applicants[:200]]
    print(f"compiled scorer, one applicant (no reasons): median {statistics.median(single) * 1e6:.0f} µs")

    features = frame[list(pipeline.feature_names_in_)] if hasattr(pipeline, "feature_names_in_") else frame
    # The row is taken inside the timing, as a request would; the lambda is called at once.
    one = [_timed(lambda: pipeline.predict_proba(features.iloc[[i]])) for i in range(50)]  # noqa: B023
    whole = _timed(lambda: pipeline.predict_proba(features))
    print(
        f"scikit-learn pipeline: one applicant {statistics.median(one) * 1000:.1f} ms (no reasons), "
        f"{len(frame) / whole:,.0f} rows/s on a whole frame"
    )


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _leaderboard() -> pd.DataFrame:
    from ml.data import load_applications

    data_dir = os.environ.get("CREDITRISK_DATA_DIR", str(bench_api.REPO.parent / "shared" / "data" / "pakdd2010"))
    return load_applications(Path(data_dir) / "PAKDD2010_Leaderboard_Data.txt").frame


if __name__ == "__main__":
    main()
