"""Assessment throughput and how it scales with workers (issue 11): 16,000
synced runs assessed through the queue by 1 worker, then by 2 workers, and the
same assessment done in one process without the queue.

Targets:
* speed-up of 2 workers over 1 worker >= 1.6
* throughput with 2 workers >= 1.5 x 960 runs/s (the figure issue 11 measured
  on this machine, quiet, before the work per run was cut; the one target here
  whose baseline is not measured in the same run: the load average is printed
  beside it)
* queue time with 2 workers <= 1.25 x (in-process time / 2)
* enqueueing all the work takes under one second

Runs on PostgreSQL (``GOVDASH_BENCH_DATABASE_URL``, default a fresh database
``govdash_bench`` on the local server): two workers writing at once is what
production does, and SQLite would serialise them on its single write lock.
Redis database 14 (or ``GOVDASH_BENCH_REDIS_URL``) holds the bench's queue.
Everything runs in a child process so that its database settings never leak
into other benchmarks.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import BenchmarkError, Target, load_average, log, recreate_database, run_child

REPO = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("GOVDASH_BENCH_ASSESS_RUNS", "16000"))
WORKERS = (1, 2)
ISSUE_11_RUNS_PER_SECOND = 960.0  # 2 workers, 16,000 runs, quiet machine (issue 11)
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/govdash_bench"
BENCH_REDIS = os.environ.get("GOVDASH_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


# --------------------------------------------------------------------------- parent


def run() -> list[Target]:
    url = os.environ.get("GOVDASH_BENCH_DATABASE_URL", DEFAULT_DB)
    recreate_database(url)
    result = run_child(
        "assess_bench",
        "assessment",
        DATABASE_URL=url,
        REDIS_URL=BENCH_REDIS,
        GOVDASH_ASSESS_BATCH_SIZE=os.environ.get("GOVDASH_ASSESS_BATCH_SIZE", "500"),
    )

    inproc, enqueue = result["in_process"], result["enqueue"]
    one, two = result["queue"]["1"], result["queue"]["2"]
    speedup = one / two
    per_second = RUNS / two
    log(f"{RUNS} runs, policy with {result['rules']} rules, {result['batches']} jobs")
    log(f"in one process, no queue: {inproc:.2f}s ({RUNS / inproc:.0f} runs/s)")
    log(f"through the queue, 1 worker: {one:.2f}s ({RUNS / one:.0f} runs/s)")
    log(f"through the queue, 2 workers: {two:.2f}s ({per_second:.0f} runs/s)")
    log(f"enqueueing the work: {enqueue:.3f}s")
    log(f"speed-up of 2 workers over 1: {speedup:.2f}")
    log(f"queue (2 workers) / (in-process / 2) = {two / (inproc / 2):.2f}")
    log(
        f"throughput / issue 11's {ISSUE_11_RUNS_PER_SECOND:.0f} runs/s = "
        f"{per_second / ISSUE_11_RUNS_PER_SECOND:.2f} ({load_average()})"
    )
    return [
        Target("assess speed-up, 2 workers / 1 worker", speedup, 1.6, at_least=True),
        Target(
            f"assess runs/s with 2 workers / {ISSUE_11_RUNS_PER_SECOND:.0f}",
            per_second / ISSUE_11_RUNS_PER_SECOND,
            1.5,
            at_least=True,
        ),
        Target("assess queue (2 workers) / (in-process / 2)", two / (inproc / 2), 1.25),
        Target("assess enqueue seconds", enqueue, 1.0),
    ]


# --------------------------------------------------------------------------- child


def seed_runs(count: int) -> list[int]:
    """``count`` mirrored runs (5 params, 8 tags, 2 metrics each) in 10 experiments of
    one source, with every mix of the facts the default policy checks; their primary
    keys in order."""
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
    for index in range(count):
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


def _start_workers(env: dict[str, str], count: int) -> list[subprocess.Popen[bytes]]:
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
        for _ in range(count)
    ]
    deadline = time.monotonic() + 90
    while len(Worker.all(queue=queue)) < count:  # type: ignore[arg-type]
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
    run_ids = seed_runs(RUNS)
    version = Policy.objects.get(slug="default").current_version()
    assert version is not None

    log("assessing in one process, without the queue…")
    started = time.perf_counter()
    assess_runs(run_ids=run_ids, version=version)
    in_process = time.perf_counter() - started
    assert Assessment.objects.filter(is_current=True).count() == RUNS

    queue_seconds: dict[str, float] = {}
    enqueue = 0.0
    for count in WORKERS:
        _clear_assessments()
        log(f"starting {count} worker(s)…")
        workers = _start_workers(dict(os.environ), count)
        try:
            log(f"assessing through the queue with {count} worker(s)…")
            started = time.perf_counter()
            assess_pending(reason="benchmark")
            enqueue = time.perf_counter() - started
            while AssessmentBatch.objects.exclude(status__in=["done", "failed"]).exists():
                time.sleep(0.05)
            queue_seconds[str(count)] = time.perf_counter() - started
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
                "queue": queue_seconds,
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
            print(f"{target.name}: {target.measured:.3f} ({target.bound}) {target.verdict}")
