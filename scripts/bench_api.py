"""`make bench-api`: the scoring API under load, on PostgreSQL and Redis, beside its in-process floor.

Starts gunicorn and a Celery worker exactly as the Compose file does, against a dedicated database
(`creditrisk_bench`) and Redis database, trains a model there once if none is active, then sends
N requests at concurrency C over HTTP with keep-alive connections and prints throughput, latency
percentiles and errors beside the in-process time to score one applicant with the same model.

    python scripts/bench_api.py [--requests 2000] [--concurrency 8] [--web-workers 2] [--web-threads 8]
                                [--worker-concurrency 2] [--challenger [--challenger-version VERSION]]

``--challenger`` measures the cost of a challenger scored in shadow: the same load twice on the same
stack, first with no challenger, then with one (VERSION, or the newest inactive version that can
score, or one trained once with ``train --quick --no-activate`` and kept for later runs), and prints
both, the ratio of their p99 (the target: within 20%) and how many decisions were shadowed. Without
it, any challenger an earlier run left in the bench database is cleared first.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATABASE = "creditrisk_bench"
BASE_ENV = {
    "DJANGO_SETTINGS_MODULE": "creditrisk.settings.production",
    "DEBUG": "false",
    "SECRET_KEY": "bench-only-secret",
    "CREDITRISK_AUDIT_KEY": "bench-only-audit-key-0123456789abcdef",
    "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DATABASE}",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/13",
    "CACHE_URL": "redis://127.0.0.1:6379/12",
    "CREDITRISK_MODEL_DIR": str(REPO / "var" / "bench-models"),
    "API_THROTTLE_USER": "1000000/minute",
    "LOG_LEVEL": "WARNING",
    "SECURE_SSL_REDIRECT": "false",  # plain HTTP on 127.0.0.1: no TLS proxy in front here
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def prepare(env: dict[str, str]) -> str:
    """Create the database (the one env's DATABASE_URL names), migrate, train once, and return an API token."""
    import psycopg2

    database = env["DATABASE_URL"].rsplit("/", 1)[-1] or DATABASE
    conn = psycopg2.connect("postgres://postgres@127.0.0.1:5432/postgres")
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database])
        if not cursor.fetchone():
            cursor.execute(f'CREATE DATABASE "{database}"')
    conn.close()
    import redis

    redis.Redis.from_url(env["CELERY_BROKER_URL"]).flushdb()  # no messages left by an earlier run
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=REPO, env=env, check=True)
    subprocess.run([*manage, "train", "--if-none-active"], cwd=REPO, env=env, check=True)
    vacuum(database)
    script = (
        "from django.contrib.auth.models import User; from rest_framework.authtoken.models import Token; "
        "u, _ = User.objects.get_or_create(username='bench'); print(Token.objects.get_or_create(user=u)[0].key)"
    )
    out = subprocess.run(
        [*manage, "shell", "-c", script], cwd=REPO, env=env, check=True, capture_output=True, text=True
    )
    return out.stdout.strip().splitlines()[-1]


def vacuum(database: str) -> None:
    """VACUUM (ANALYZE) the bench database before measuring, as autovacuum keeps a real one.

    The database keeps what earlier runs wrote (each decision updates its row twice). Where
    PostgreSQL runs with autovacuum off (this development machine's does), the dead rows and stale
    statistics of earlier runs pile up from run to run (111,060 dead score-request rows after a day
    of runs): vacuumed first, runs compare with each other whatever ran before them."""
    import psycopg2

    started = time.monotonic()
    conn = psycopg2.connect(f"postgres://postgres@127.0.0.1:5432/{database}")
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        row = cursor.fetchone()
        assert row is not None  # SHOW answers one row
        autovacuum = row[0]
        cursor.execute("VACUUM (ANALYZE)")
    conn.close()
    print(f"vacuumed and analysed {database} in {time.monotonic() - started:.1f} s (autovacuum is {autovacuum})")


def manage_output(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


_CANDIDATE = (
    "from scoring.models import ModelVersion as M; "
    "v = M.objects.filter(is_active=False).exclude(scorer_path='').order_by('-created_at').first(); "
    "print('candidate:' + (v.version if v else ''))"
)


def _candidate(env: dict[str, str]) -> str:
    """The newest inactive version that can score ("" if none); the shell may print other lines first."""
    lines = manage_output(env, "shell", "-c", _CANDIDATE).splitlines()
    return next((line.removeprefix("candidate:") for line in lines if line.startswith("candidate:")), "")


def challenger_candidate(env: dict[str, str], requested: str | None) -> str:
    """The version to make the challenger: ``requested``, else the newest inactive one that can score, else
    one trained now (the default candidate, as `make run` trains it) and kept for the next runs."""
    if requested:
        return requested
    found = _candidate(env)
    if found:
        return found
    print("no inactive version to be the challenger: training one (train --quick --no-activate), once")
    subprocess.run([sys.executable, "manage.py", "train", "--quick", "--no-activate"], cwd=REPO, env=env, check=True)
    return _candidate(env)


def set_challenger(env: dict[str, str], version: str | None) -> None:
    """Make ``version`` the challenger (None: no challenger), as the admin's action does."""
    manage_output(env, "challenger", *(["--set", version] if version else ["--clear"]))


def shadow_summary(env: dict[str, str], since: str) -> dict[str, Any]:
    """What the challenger scored in shadow since ``since`` (ISO 8601): its comparison as JSON."""
    return json.loads(manage_output(env, "challenger", "--json", "--since", since))


def floor_ms(env: dict[str, str], applicants: list[dict[str, Any]]) -> float:
    """Median in-process time to score and explain one applicant with the active model."""
    os.environ.update(env)
    import django

    django.setup()
    from threadpoolctl import threadpool_limits

    from scoring.services.score_requests import applicant_score

    threadpool_limits(limits=1)  # as in every worker process (scoring/signals.py)

    applicant_score(inputs=applicants[0])  # load the model once, as a worker does
    timings = []
    for inputs in applicants[:300]:
        started = time.perf_counter()
        applicant_score(inputs=inputs)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def sample_applicants(n: int) -> list[dict[str, Any]]:
    from ml import schema
    from ml.data import load_applications, records_from_frame

    data_dir = os.environ.get("CREDITRISK_DATA_DIR", str(REPO.parent / "shared" / "data" / "pakdd2010"))
    frame = load_applications(Path(data_dir) / "PAKDD2010_Leaderboard_Data.txt").frame.head(n)
    records = records_from_frame(frame)
    for record in records:
        record.pop(schema.LABEL, None)
    return records


def start_stack(
    env: dict[str, str],
    web_workers: int,
    worker_concurrency: int,
    port: int,
    queues: str = "scoring,batch",
    web_threads: int = 8,
) -> list[subprocess.Popen]:
    """gunicorn with the Compose file's command and settings (creditrisk/gunicorn.py: gthread,
    WEB_CONCURRENCY processes of WEB_THREADS threads), bound here, and a Celery worker."""
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    web_env = {
        **env,
        "WEB_CONCURRENCY": str(web_workers),
        "WEB_THREADS": str(web_threads),
        "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{port} --log-level warning",
    }
    command = [gunicorn, "--config", "python:creditrisk.gunicorn", "creditrisk.wsgi:application"]
    web = subprocess.Popen(command, cwd=REPO, env=web_env, start_new_session=True)
    return [web, start_worker(env, queues, worker_concurrency)]


def start_worker(env: dict[str, str], queues: str, concurrency: int, nice: int = 0) -> subprocess.Popen:
    """A Celery worker on ``queues``; ``nice`` > 0 runs it at a lower CPU priority.

    The worker starts a session of its own, and where Linux groups processes by session for CPU
    time (autogroup, on by default on desktop and many server kernels) a process's own nice value
    only weighs it against its own session: the session's is what weighs it against gunicorn and
    PostgreSQL. Both are set (``/proc/<pid>/autogroup``, which needs no privilege to lower)."""
    process = subprocess.Popen(
        [
            *(["nice", "-n", str(nice)] if nice else []),
            sys.executable,
            "-m",
            "celery",
            "-A",
            "creditrisk",
            "worker",
            "-Q",
            queues,
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "WARNING",
            "--hostname",
            f"{queues.replace(',', '-')}@%h",
        ],
        cwd=REPO,
        env=env,
        start_new_session=True,
    )
    autogroup = Path(f"/proc/{process.pid}/autogroup")
    if nice and autogroup.exists():
        autogroup.write_text(str(nice))
    return process


def stop_stack(processes: list[subprocess.Popen]) -> None:
    """SIGTERM each process group, then SIGKILL what is still there after 30 s."""
    for process in processes:
        os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def wait_ready(port: int, token: str, applicant: dict[str, Any], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status, _ = post(http.client.HTTPConnection("127.0.0.1", port, timeout=10), token, applicant)
            if status == 201:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("the stack did not answer a score request within 90 s")


def post(conn: http.client.HTTPConnection, token: str, applicant: dict[str, Any]) -> tuple[int, bytes]:
    conn.request(
        "POST",
        "/api/v1/score-requests/",
        body=json.dumps(applicant),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    response = conn.getresponse()
    return response.status, response.read()


def load(port: int, token: str, applicants: list[dict[str, Any]], total: int, concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    timeline: list[tuple[float, float]] = []  # (start offset in s, latency in ms): where the slow ones fall
    errors: list[str] = []
    begun = time.perf_counter()
    counter = iter(range(total))
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            started = time.perf_counter()
            try:
                status, body = post(conn, token, applicants[i % len(applicants)])
            except (OSError, http.client.HTTPException) as exc:
                status, body = 0, str(exc).encode()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                timeline.append((started - begun, elapsed))
                if status != 201:
                    errors.append(f"{status}: {body[:120]!r}")

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "throughput": total / seconds,
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "p99": percentile(latencies, 99),
        "errors": errors,
        "timeline": timeline,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn processes (WEB_CONCURRENCY)")
    parser.add_argument("--web-threads", type=int, default=8, help="threads in each (WEB_THREADS)")
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--challenger",
        action="store_true",
        help="Run the load without, then with, a challenger scored in shadow, and compare their p99",
    )
    parser.add_argument(
        "--challenger-version",
        metavar="VERSION",
        help="The version to make the challenger (default: the newest inactive one, else one trained once)",
    )
    args = parser.parse_args()

    env = {**os.environ, **BASE_ENV}
    started_load = os.getloadavg()[0]
    token = prepare(env)
    challenger = challenger_candidate(env, args.challenger_version) if args.challenger else None
    set_challenger(env, None)  # the first measured run has none, whatever an earlier run left
    applicants = sample_applicants(1000)
    floor = floor_ms(env, applicants)
    processes = start_stack(env, args.web_workers, args.worker_concurrency, args.port, web_threads=args.web_threads)
    shadowed: dict[str, Any] = {}
    try:
        wait_ready(args.port, token, applicants[0])
        load(args.port, token, applicants, min(200, args.requests), args.concurrency)  # warm-up, not counted
        result = load(args.port, token, applicants, args.requests, args.concurrency)
        if challenger:
            set_challenger(env, challenger)
            load(args.port, token, applicants, min(200, args.requests), args.concurrency)  # workers load its scorer
            since = datetime.now(UTC).isoformat()
            shadowed["result"] = load(args.port, token, applicants, args.requests, args.concurrency)
            shadowed["summary"] = shadow_summary(env, since)
            set_challenger(env, None)
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
    targets = {
        "must: >= 80 requests/s": result["throughput"] >= 80,
        "must: p99 <= 150 ms": result["p99"] <= 150,
        "must: no errors": not result["errors"],
        "aim: >= 100 requests/s": result["throughput"] >= 100,
        "aim: p99 <= 100 ms": result["p99"] <= 100,
    }
    print(
        f"\nrequests {args.requests} at concurrency {args.concurrency} ({args.web_workers} gunicorn workers x "
        f"{args.web_threads} threads, "
        f"Celery concurrency {args.worker_concurrency}) in {result['seconds']:.1f} s"
    )
    print(f"throughput  {result['throughput']:.1f} requests/s")
    print(f"latency     p50 {result['p50']:.1f} ms   p95 {result['p95']:.1f} ms   p99 {result['p99']:.1f} ms")
    print(
        f"floor       {floor:.1f} ms in-process score + reasons (median of 300)  -> p50 / floor = "
        f"{result['p50'] / floor:.2f}"
    )
    print(f"errors      {len(result['errors'])}" + (f" (first: {result['errors'][0]})" if result["errors"] else ""))
    slow = sorted(result["timeline"], key=lambda item: -item[1])[: max(1, len(result["timeline"]) // 100)]
    print("slowest 1%  " + ", ".join(f"{ms:.0f} ms at {at:.1f} s" for at, ms in sorted(slow)[:12]))
    print(f"load        {started_load:.2f} (1-minute load average before the run, {os.cpu_count()} cores)")
    for name, met in targets.items():
        print(f"target      {name}: {'met' if met else 'NOT met'}")
    if shadowed:
        report_challenger(challenger, result, shadowed["result"], shadowed["summary"], args.requests)


def report_challenger(
    version: str | None, without: dict[str, Any], with_: dict[str, Any], summary: dict[str, Any], requests: int
) -> None:
    ratio = with_["p99"] / without["p99"]
    print(f"\nwith challenger {version} scored in shadow (the same load, after the run above):")
    print(f"throughput  {with_['throughput']:.1f} requests/s (without: {without['throughput']:.1f})")
    print(
        f"latency     p50 {with_['p50']:.1f} ms   p95 {with_['p95']:.1f} ms   p99 {with_['p99']:.1f} ms "
        f"(without: p99 {without['p99']:.1f} ms; ratio {ratio:.2f})"
    )
    print(f"errors      {len(with_['errors'])}" + (f" (first: {with_['errors'][0]})" if with_["errors"] else ""))
    print(
        f"shadowed    {summary['single']} of {requests} decisions scored by the challenger, {summary['failed']} "
        f"failed; agreement {summary['comparison']['agreement_rate']}"
    )
    print(f"target      must: p99 with a challenger within 20% of without: {'met' if ratio <= 1.2 else 'NOT met'}")


if __name__ == "__main__":
    main()
