"""`make bench-load`: single scores at a steady rate, alone and then while a 200,000-row bulk job runs.

The same stack, database, Redis and model as `make bench-api` and `make bench-batch` (gunicorn and
Celery workers started as the Compose file does, against a dedicated PostgreSQL database), with
the two queues served by their own workers: single scores by a `scoring` worker, bulk chunks by a
`batch` worker at a lower CPU priority (`nice`, the process and its session), so that the bulk job
takes the CPU the lenders waiting on one answer leave free. `--topology shared` runs one worker on both queues instead, as
the minimal Compose file does.

Three phases, one open-loop client throughout (a request every 1/rate seconds whatever the answers,
latency counted from the time it was due, so a slow server cannot slow the client down and hide its
own delay):

1. `alone`: single scores only, for --baseline-seconds; its p99 is the reference;
2. `batch`: the file is uploaded and scored while the single scores go on;
3. `after`: single scores only again, for --after-seconds.

Printed: every 10-second window (requests, errors, latency percentiles), the error rate, and whether
single scoring stayed within its target while the batch ran: p99 at most twice the p99 measured
alone in the same run, no errors, and nothing lost (every request the server accepted stored and
done once the queue has drained).

    python scripts/bench_load.py [--rate 40] [--rows 200000] [--baseline-seconds 60] [--after-seconds 60]
"""

from __future__ import annotations

import argparse
import http.client
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_api  # noqa: E402  (stack, database, model and HTTP client)
import bench_batch  # noqa: E402  (the resampled file, the upload and its progress)

REPO = bench_api.REPO
WINDOW_SECONDS = 10
TARGET_FACTOR = 2.0  # p99 with the bulk job running at most this many times the p99 without it


@dataclass(frozen=True)
class Sample:
    due: float  # seconds since the load started, when the request was due
    latency_ms: float
    status: int  # HTTP status, 0 when the connection failed
    phase: str


class SteadyLoad(threading.Thread):
    """Sends a score request every 1/rate seconds from a pool of keep-alive connections."""

    def __init__(self, port: int, token: str, applicants: list[dict[str, Any]], rate: float):
        super().__init__(daemon=True)
        self.port, self.token, self.applicants, self.rate = port, token, applicants, rate
        self.phase, self.stopped = "alone", threading.Event()
        self.samples: list[Sample] = []
        self.lock, self.local, self.start_time = threading.Lock(), threading.local(), 0.0

    def run(self) -> None:
        self.start_time = time.monotonic()
        # Enough threads that a slow answer never delays the next request: the load stays open.
        with ThreadPoolExecutor(max_workers=max(16, int(self.rate * 8))) as pool:
            sent = 0
            while not self.stopped.is_set():
                due = self.start_time + sent / self.rate
                time.sleep(max(0.0, due - time.monotonic()))
                pool.submit(self._one, due, self.phase, self.applicants[sent % len(self.applicants)])
                sent += 1

    def _one(self, due: float, phase: str, applicant: dict[str, Any]) -> None:
        conn = getattr(self.local, "conn", None) or http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        self.local.conn = conn
        try:
            status, _ = bench_api.post(conn, self.token, applicant)
        except (OSError, http.client.HTTPException):
            status, self.local.conn = 0, None
        sample = Sample(due - self.start_time, (time.monotonic() - due) * 1000, status, phase)
        with self.lock:
            self.samples.append(sample)


def start_workers(env: dict[str, str], args: argparse.Namespace) -> list[Any]:
    if args.topology == "shared":
        return bench_api.start_stack(
            env, args.web_workers, args.scoring_concurrency + args.batch_concurrency, args.port
        )
    stack = bench_api.start_stack(env, args.web_workers, args.scoring_concurrency, args.port, queues="scoring")
    return [*stack, bench_api.start_worker(env, "batch", args.batch_concurrency, nice=args.batch_nice)]


def run_phases(load: SteadyLoad, args: argparse.Namespace, token: str, path: Path) -> dict[str, Any]:
    load.start()
    time.sleep(args.baseline_seconds)
    load.phase = "batch"
    # Past --timeout the load phase ends anyway, and the report says how far the job got.
    batch = bench_batch.upload_and_wait(args.port, token, path, args.timeout, partial=True)
    load.phase = "after"
    time.sleep(args.after_seconds)
    load.stopped.set()
    load.join()
    return batch


def outcomes(database_url: str, since: datetime, accepted: int, wait_seconds: float = 120) -> dict[str, int]:
    """The stored requests of the run once none is queued or running (waiting at most ``wait_seconds``):
    nothing is lost when every request the server accepted is stored and done."""
    import psycopg2

    deadline = time.monotonic() + wait_seconds
    conn = psycopg2.connect(database_url)
    conn.autocommit = True
    try:
        while True:
            with conn.cursor() as cursor:
                cursor.execute(
                    "SELECT status, count(*) FROM scoring_scorerequest WHERE created_at >= %s GROUP BY status", [since]
                )
                counts = dict(cursor.fetchall())
            waiting = counts.get("queued", 0) + counts.get("running", 0)
            if not waiting or time.monotonic() > deadline:
                break
            time.sleep(1)
    finally:
        conn.close()
    return {
        "accepted": accepted,
        "stored": sum(counts.values()),
        "done": counts.get("done", 0),
        "failed": counts.get("failed", 0),
        "waiting": waiting,
    }


def summary(samples: list[Sample]) -> dict[str, Any]:
    latencies = [s.latency_ms for s in samples]
    errors = sum(1 for s in samples if s.status not in (201, 202))
    late = sum(1 for s in samples if s.status == 202)
    if not samples:
        return {"n": 0, "errors": 0, "late": 0, "p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    return {
        "n": len(samples),
        "errors": errors,
        "late": late,
        "p50": bench_api.percentile(latencies, 50),
        "p95": bench_api.percentile(latencies, 95),
        "p99": bench_api.percentile(latencies, 99),
        "max": max(latencies),
    }


def report(args: argparse.Namespace, samples: list[Sample], batch: dict[str, Any], outcome: dict[str, int]) -> None:
    print(
        f"\n{args.rate:g} single scores/s, {args.topology} workers (scoring {args.scoring_concurrency}, batch "
        f"{args.batch_concurrency}{f' at nice {args.batch_nice}' if args.topology == 'split' else ''}), "
        f"{args.web_workers} gunicorn workers; latency from the time each request was due"
    )
    print(
        f"\n{'window':>9} {'phase':<12} {'sent':>5} {'errors':>6} {'202':>4} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'p99 ms':>8} {'max ms':>8}"
    )
    end = max((s.due for s in samples), default=0.0)
    for start in range(0, int(end) + 1, WINDOW_SECONDS):
        window = [s for s in samples if start <= s.due < start + WINDOW_SECONDS]
        phase_names = "+".join(dict.fromkeys(s.phase for s in window))
        row = summary(window)
        print(
            f"{start:>4}-{start + WINDOW_SECONDS:<4} {phase_names:<12} {row['n']:>5} {row['errors']:>6} {row['late']:>4} "
            f"{row['p50']:>8.0f} {row['p95']:>8.0f} {row['p99']:>8.0f} {row['max']:>8.0f}"
        )
    phases = {phase: summary([s for s in samples if s.phase == phase]) for phase in ("alone", "batch", "after")}
    print()
    for phase, row in phases.items():
        print(
            f"{phase:<6} {row['n']:>6} requests, error rate {100 * row['errors'] / max(row['n'], 1):.2f} %, "
            f"{row['late']} answered 202 (not scored within the wait), p50 {row['p50']:.0f} ms, "
            f"p95 {row['p95']:.0f} ms, p99 {row['p99']:.0f} ms, max {row['max']:.0f} ms"
        )
    total = summary(samples)
    print(f"all    {total['n']:>6} requests, error rate {100 * total['errors'] / max(total['n'], 1):.2f} %")
    job, seconds = batch["job"], batch["seconds"]
    stored = (
        "the last row stored" if job["status"] == "done" else f"the end of the run ({job['rows_done']:,} rows stored)"
    )
    print(
        f"batch  {job['rows_total'] or 0:,} rows, status {job['status']}, {seconds:.1f} s from upload to {stored} "
        f"({job['rows_done'] / seconds:,.0f} rows/s)"
    )
    print(
        f"stored {outcome['stored']} requests for {outcome['accepted']} accepted (201/202): {outcome['done']} done, "
        f"{outcome['failed']} failed, {outcome['waiting']} still queued or running"
    )
    lost = outcome["stored"] != outcome["accepted"] or outcome["failed"] or outcome["waiting"]
    limit = TARGET_FACTOR * phases["alone"]["p99"]
    met = phases["batch"]["p99"] <= limit and total["errors"] == 0 and not lost
    print(
        f"target single-score p99 while the batch ran <= {TARGET_FACTOR:g} x p99 alone = {limit:.0f} ms, no errors, "
        f"nothing lost: {'met' if met else 'NOT met'} (p99 {phases['batch']['p99']:.0f} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=40.0, help="single scores per second")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--baseline-seconds", type=float, default=60)
    parser.add_argument("--after-seconds", type=float, default=60)
    parser.add_argument("--topology", choices=("split", "shared"), default="split")
    parser.add_argument("--scoring-concurrency", type=int, default=2)
    parser.add_argument("--batch-concurrency", type=int, default=1)
    parser.add_argument("--batch-nice", type=int, default=10)
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--chunk-rows", type=int, default=20_000)
    parser.add_argument("--port", type=int, default=8767)
    parser.add_argument("--timeout", type=float, default=1200, help="longest wait for the batch, in seconds")
    args = parser.parse_args()

    work = REPO / "var" / "bench-load"
    work.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        **bench_api.BASE_ENV,
        "CREDITRISK_BATCH_DIR": str(work / "uploads"),
        "CREDITRISK_BATCH_CHUNK_ROWS": str(args.chunk_rows),
        "CREDITRISK_MAX_UPLOAD_BYTES": str(4 * 1024**3),
    }
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL"):  # BENCH_DATABASE_URL etc. point elsewhere
        env[name] = os.environ.get(f"BENCH_{name}", env[name])
    token = bench_api.prepare(env)
    path = work / f"applications-{args.rows}.txt"
    if not path.exists():
        print(f"building {path} ({args.rows:,} rows resampled from the modelling file)")
        bench_batch.build_file(args.rows, path)
    applicants = bench_api.sample_applicants(1000)
    processes = start_workers(env, args)
    try:
        bench_api.wait_ready(args.port, token, applicants[0])
        bench_api.load(args.port, token, applicants, 100, 4)  # warm-up, not counted
        load = SteadyLoad(args.port, token, applicants, args.rate)
        since = datetime.now(UTC)
        batch = run_phases(load, args, token, path)
        accepted = sum(1 for sample in load.samples if sample.status in (201, 202))
        outcome = outcomes(env["DATABASE_URL"], since, accepted)
    finally:
        bench_api.stop_stack(processes)
    report(args, sorted(load.samples, key=lambda s: s.due), batch, outcome)


if __name__ == "__main__":
    main()
