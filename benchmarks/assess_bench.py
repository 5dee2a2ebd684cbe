"""Assessment throughput: 10,000 synced runs through the queue with 2 workers,
against the same assessment done in one process without the queue.

Targets (issue: compliance assessments):
* queue time <= 1.25 x (in-process time / 2)
* enqueueing all the work takes under one second

Runs on PostgreSQL (``GOVDASH_BENCH_DATABASE_URL``, default a fresh database
``govdash_bench`` on the local server): two workers writing at once is what
production does, and SQLite would serialise them on its single write lock.
Redis database 14 holds the bench's queue. Everything runs in a child process
so that its database settings never leak into other benchmarks.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import BenchmarkError, Target

REPO = Path(__file__).resolve().parent.parent
RUNS = 10_000
WORKERS = int(os.environ.get("GOVDASH_BENCH_WORKERS", "2"))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/govdash_bench"
BENCH_REDIS = "redis://127.0.0.1:6379/14"


def log(message: str) -> None:
    print(f"  {message}", flush=True)


# --------------------------------------------------------------------------- parent


def _recreate_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[-1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        raise BenchmarkError(f"PostgreSQL is needed for this benchmark ({admin}): {exc}") from None


def run() -> list[Target]:
    url = os.environ.get("GOVDASH_BENCH_DATABASE_URL", DEFAULT_DB)
    _recreate_database(url)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GOVDASH_")},
        "DATABASE_URL": url,
        "REDIS_URL": BENCH_REDIS,
        "GOVDASH_DEBUG": "false",
        "GOVDASH_SECRET_KEY": "benchmark-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "GOVDASH_HTTPS": "false",
        "GOVDASH_LOG_LEVEL": "WARNING",
        "GOVDASH_ASSESS_BATCH_SIZE": os.environ.get("GOVDASH_ASSESS_BATCH_SIZE", "500"),
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        completed = subprocess.run(
            [sys.executable, "-m", "benchmarks.assess_bench", "--child", str(out)],
            cwd=REPO,
            env=env,
            check=False,
        )
        if completed.returncode != 0 or not out.exists():
            raise BenchmarkError(f"the assessment benchmark child failed ({completed.returncode})")
        result = json.loads(out.read_text())

    inproc, queued, enqueue = result["in_process"], result["queue"], result["enqueue"]
    ratio = queued / (inproc / WORKERS)
    log(f"{RUNS} runs, policy with {result['rules']} rules, {result['batches']} jobs")
    log(f"in one process, no queue: {inproc:.2f}s")
    log(f"through the queue, {WORKERS} workers: {queued:.2f}s (enqueue {enqueue:.3f}s)")
    log(f"queue / (in-process / {WORKERS}) = {ratio:.2f}")
    return [
        Target(f"assess queue / (in-process / {WORKERS})", ratio, 1.25),
        Target("assess enqueue seconds", enqueue, 1.0),
    ]


# --------------------------------------------------------------------------- child


def _seed() -> list[int]:
    from tracking.models import Experiment, Run, Source

    source = Source.objects.create(name="bench", url="http://127.0.0.1:9")
    experiments = [
        Experiment.objects.create(
            source=source,
            experiment_id=str(index),
            name=f"bench {index}",
            artifact_location=f"s3://bench/{index}" if index % 4 else f"http://store/{index}",
            tags={"department": "risk"} if index % 3 else {},
            content_hash=f"{index:064x}",
        )
        for index in range(10)
    ]
    now = dt.datetime.now(dt.UTC)
    classes = ["public", "official", "secret", "Secret ", "top-secret", ""]
    rows = []
    for index in range(RUNS):
        experiment = experiments[index % len(experiments)]
        rows.append(
            Run(
                source=source,
                experiment=experiment,
                run_id=f"{index:032x}",
                run_name=f"run {index}",
                status="FINISHED" if index % 9 else "FAILED",
                start_time=now - dt.timedelta(days=index % 1500),
                end_time=now - dt.timedelta(days=index % 1500) + dt.timedelta(hours=1),
                user_id="" if index % 11 == 0 else f"user{index % 7}",
                artifact_uri=f"{experiment.artifact_location}/{index}/artifacts",
                params={f"p{k}": str(index * k) for k in range(5)},
                tags={
                    "classification": classes[index % len(classes)],
                    **{f"t{k}": f"value {k}" for k in range(6)},
                    **({"retention_exempt": "yes"} if index % 5 == 0 else {}),
                },
                metrics={
                    "loss": {"value": 1 / (index + 1), "step": 9, "timestamp": 1},
                    "accuracy": {"value": (index % 100) / 100, "step": 9, "timestamp": 1},
                },
                classification=classes[index % len(classes)],
                content_hash=f"{index:064x}",
                facts_hash=f"{index:064x}",
            )
        )
    Run.objects.bulk_create(rows, batch_size=2000)
    return list(Run.objects.order_by("pk").values_list("pk", flat=True))


def _clear_assessments() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE reports_ruleresult, reports_assessment, reports_assessmentbatch, "
            "reports_assessmentrequest CASCADE"
        )


def _start_workers(env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    from rq import Worker

    from kernel.queues import get_queue

    queue = get_queue("assess")
    queue.empty()
    workers = [
        subprocess.Popen(
            [sys.executable, "manage.py", "rqworker", "assess"],
            cwd=REPO,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(WORKERS)
    ]
    deadline = time.monotonic() + 90
    while len(Worker.all(queue=queue)) < WORKERS:  # type: ignore[arg-type]
        if time.monotonic() > deadline:
            raise BenchmarkError("the workers did not start within 90 s")
        time.sleep(0.2)
    return workers


def _stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        try:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(worker.pid, signal.SIGKILL)


def child(out: Path) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govdash.settings")
    django.setup()
    from django.core.management import call_command

    from reports.jobs import assess_pending
    from reports.models import Assessment, AssessmentBatch, Policy
    from reports.services import assess_runs

    call_command("migrate", verbosity=0)
    log(f"seeding {RUNS} mirrored runs (5 params, 8 tags, 2 metrics each)…")
    run_ids = _seed()
    version = Policy.objects.get(slug="default").current_version()
    assert version is not None

    log("assessing in one process, without the queue…")
    started = time.perf_counter()
    assess_runs(run_ids=run_ids, version=version)
    in_process = time.perf_counter() - started
    assert Assessment.objects.filter(is_current=True).count() == RUNS
    _clear_assessments()

    log(f"starting {WORKERS} workers…")
    workers = _start_workers(dict(os.environ))
    try:
        log("assessing through the queue…")
        started = time.perf_counter()
        assess_pending(reason="benchmark")
        enqueue = time.perf_counter() - started
        while AssessmentBatch.objects.exclude(status__in=["done", "failed"]).exists():
            time.sleep(0.05)
        queued = time.perf_counter() - started
    finally:
        _stop(workers)
    failed = AssessmentBatch.objects.filter(status="failed").count()
    if failed:
        raise BenchmarkError(f"{failed} batches failed")
    current = Assessment.objects.filter(is_current=True).count()
    if current != RUNS:
        raise BenchmarkError(f"expected {RUNS} current assessments, found {current}")
    out.write_text(
        json.dumps(
            {
                "in_process": in_process,
                "queue": queued,
                "enqueue": enqueue,
                "batches": AssessmentBatch.objects.count(),
                "rules": len(version.rules),
            }
        )
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(Path(sys.argv[2]))
    else:
        for target in run():
            print(f"{target.name}: {target.measured:.3f} (limit {target.limit}) {target.verdict}")
