"""`make bench-batch`: a million-row file through the bulk API, beside its in-process floor.

Builds a file of N rows (default 1,000,000) by resampling the shared modelling rows (seeded, fresh
ID_CLIENT values), starts gunicorn and the Celery worker as the Compose file does (2 worker
processes on this 2-core machine) against a dedicated PostgreSQL database and Redis database,
uploads the file over HTTP and times from the start of the upload to the last row persisted.
Beside it, the floor measured in the same run: an in-process pandas read and one predict_proba of
the same file with the same model, no reasons, nothing stored. Peak memory (RSS) of every process
is sampled throughout.

    python scripts/bench_batch.py [--rows 1000000] [--worker-concurrency 2] [--chunk-rows 20000]
"""

from __future__ import annotations

import argparse
import gzip
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_api  # noqa: E402  (the same database, stack and model as the API benchmark)

REPO = bench_api.REPO


def build_file(rows: int, path: Path, seed: int = 7) -> None:
    """``rows`` applications resampled from the modelling file, in the original format."""
    import numpy as np

    from ml import schema
    from ml.data import load_applications, to_original_format

    data_dir = os.environ.get("CREDITRISK_DATA_DIR", str(REPO.parent / "shared" / "data" / "pakdd2010"))
    frame = load_applications(Path(data_dir) / "PAKDD2010_Modeling_Data.txt").frame.drop(columns=[schema.LABEL])
    picked = frame.iloc[np.random.default_rng(seed).integers(0, len(frame), rows)].reset_index(drop=True)
    picked[schema.ID_COLUMN] = np.arange(1_000_001, 1_000_001 + rows)
    with path.open("w", encoding="latin-1", newline="") as out:
        for start in range(0, rows, 100_000):  # written in slices to bound this process's memory
            out.write(to_original_format(picked.iloc[start : start + 100_000]))


def floor(env: dict[str, str], path: Path) -> dict[str, float]:
    """In-process: read the whole file with pandas and score it in one call of the active model's scorer."""
    os.environ.update(env)
    import django

    django.setup()
    from ml.data import load_applications
    from ml.predict import probability_bad
    from scoring.model_registry import model_version_load
    from scoring.selectors import model_version_get_active

    version = model_version_get_active()
    assert version is not None, "no active model version (bench_api.prepare trains one)"
    model = model_version_load(model_version=version)
    started = time.perf_counter()
    frame = load_applications(path).frame
    probability_bad(model, frame)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows_per_second": len(frame) / seconds}


class PeakMemory(threading.Thread):
    """Samples the RSS of every process of the stack (and this one) until stopped."""

    def __init__(self, roots: list[int]):
        super().__init__(daemon=True)
        self.roots, self.stopped = roots, threading.Event()
        self.peak_mb: dict[str, float] = {}

    def run(self) -> None:
        import psutil

        while not self.stopped.wait(0.25):
            for root in [*self.roots, os.getpid()]:
                try:
                    parent = psutil.Process(root)
                    for process in [parent, *parent.children(recursive=True)]:
                        name = f"{process.pid} {' '.join(process.cmdline()[1:4])[:60]}"
                        self.peak_mb[name] = max(self.peak_mb.get(name, 0), process.memory_info().rss / 1024**2)
                except psutil.Error:
                    continue


def upload_and_wait(port: int, token: str, path: Path, timeout: float, *, partial: bool = False) -> dict[str, Any]:
    """Upload ``path`` and wait for its job; past ``timeout`` exit, or with ``partial`` return the job as it stands."""
    import requests

    headers = {"Authorization": f"Token {token}"}
    started = time.perf_counter()
    with path.open("rb") as handle:  # streamed from disk by requests
        response = requests.post(
            f"http://127.0.0.1:{port}/api/v1/batches/",
            headers=headers,
            files={"file": (path.name, handle)},
            timeout=600,
        )
    uploaded = time.perf_counter() - started
    if response.status_code != 202:
        raise SystemExit(f"upload refused: {response.status_code} {response.text[:300]}")
    job_id, last_print = response.json()["id"], 0.0
    while time.perf_counter() - started < timeout:
        job = requests.get(f"http://127.0.0.1:{port}/api/v1/batches/{job_id}/", headers=headers, timeout=30).json()
        if job["status"] in ("done", "failed", "cancelled"):
            return {"job": job, "upload_seconds": uploaded, "seconds": time.perf_counter() - started}
        if time.perf_counter() - last_print > 5:
            progress = job["progress"]
            print(
                f"  {progress['rows_handled']:>9,} of {job['rows_total'] or 0:,} rows, "
                f"{progress['rows_per_second'] or 0:,.0f} rows/s, ETA {progress['eta_seconds']} s"
            )
            last_print = time.perf_counter()
        time.sleep(0.2)
    if partial:
        return {"job": job, "upload_seconds": uploaded, "seconds": time.perf_counter() - started}
    raise SystemExit(f"the job did not finish within {timeout} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--chunk-rows", type=int, default=20_000)
    parser.add_argument("--gzip", action="store_true", help="upload the file gzip-compressed")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()

    work = REPO / "var" / "bench-batch"
    work.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        **bench_api.BASE_ENV,
        "CREDITRISK_BATCH_DIR": str(work / "uploads"),
        "CREDITRISK_BATCH_CHUNK_ROWS": str(args.chunk_rows),
        "CREDITRISK_MAX_UPLOAD_BYTES": str(4 * 1024**3),
    }
    token = bench_api.prepare(env)
    path = work / f"applications-{args.rows}.txt"
    if not path.exists():
        print(f"building {path} ({args.rows:,} rows resampled from the modelling file)")
        build_file(args.rows, path)
    if args.gzip:
        packed = path.with_suffix(".txt.gz")
        if not packed.exists():
            with path.open("rb") as src, gzip.open(packed, "wb", compresslevel=6) as dst:
                dst.write(src.read())
        path = packed
    print(f"load average before the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"floor: in-process read + compiled scorer of {path.name}")
    base = floor(env, path)
    processes = bench_api.start_stack(env, 2, args.worker_concurrency, args.port)
    memory = PeakMemory([p.pid for p in processes])
    memory.start()
    try:
        bench_api.wait_ready(args.port, token, bench_api.sample_applicants(1)[0])
        print(f"uploading {path.name} ({path.stat().st_size / 1024**2:,.0f} MiB)")
        result = upload_and_wait(args.port, token, path, args.timeout)
    finally:
        memory.stopped.set()
        for process in processes:  # the main processes stop their own children (a warm shutdown)
            os.kill(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
    report(args, result, base, memory.peak_mb)


def report(args: argparse.Namespace, result: dict[str, Any], base: dict[str, float], peak_mb: dict[str, float]) -> None:
    job, seconds = result["job"], result["seconds"]
    rate = job["rows_done"] / seconds
    worst = max(peak_mb.items(), key=lambda item: item[1])
    print(
        f"\n{job['rows_total']:,} rows ({job['rows_done']:,} scored, {job['rows_failed']:,} invalid), status "
        f"{job['status']}, {args.worker_concurrency} worker processes, chunks of {args.chunk_rows:,}"
    )
    print(
        f"end to end  {seconds:.1f} s from upload start to the last row persisted (upload {result['upload_seconds']:.1f} s)"
    )
    print(f"throughput  {rate:,.0f} rows/s scored, with reasons, stored and chained")
    print(
        f"floor       {base['rows_per_second']:,.0f} rows/s in-process read + predict_proba ({base['seconds']:.1f} s), "
        f"ratio {rate / base['rows_per_second']:.2f}"
    )
    print(f"peak memory {worst[1]:,.0f} MB ({worst[0]})")
    for name, mb in sorted(peak_mb.items(), key=lambda item: -item[1])[:6]:
        print(f"            {mb:8,.0f} MB  {name}")
    targets = {
        "end to end <= 60 s": seconds <= 60,
        "rows/s >= floor / 4": rate >= base["rows_per_second"] / 4,
        "every process < 2 GB": worst[1] < 2048,
        "every row handled": job["status"] == "done",
    }
    for name, met in targets.items():
        print(f"target      {name}: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
