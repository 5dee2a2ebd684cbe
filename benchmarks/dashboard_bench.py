"""The compliance dashboard read from the rollups, against the same page
aggregated live (issue 11): p50/p95 of the page through Django's test client,
one client, on a mirror generated directly in the database.

Targets:
* PostgreSQL, 1,000,000 runs: dashboard p95 <= 300 ms (measured only with
  ``GOVDASH_BENCH_DASHBOARD_PG_RUNS=1000000``; the default 100,000 reports the
  same figure against the same limit, labelled with its size)
* SQLite (the demo's default), 100,000 runs: dashboard p95 <= 1 s
* the live aggregation / the rollups (p50), reported for each

Each database runs in a child process of its own: SQLite in a temporary file,
PostgreSQL in a fresh database (``GOVDASH_BENCH_DATABASE_URL``'s server,
database ``govdash_bench_dashboard``). Sizes: ``GOVDASH_BENCH_DASHBOARD_RUNS``
(SQLite, default 100000) and ``GOVDASH_BENCH_DASHBOARD_PG_RUNS`` (default
100000). ``GOVDASH_BENCH_DASHBOARD_DATABASES`` (default ``sqlite,postgresql``)
picks the databases.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import BenchmarkError, Target, load_average, recreate_database, run_child

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/govdash_bench"
PG_NAME = "govdash_bench_dashboard"
LIVE_SAMPLES = 5
ROLLUP_SAMPLES = 30
EXPERIMENTS_PER_10K_RUNS = 20
CLASSIFICATIONS = ["official", "Official ", "SECRET", "secret", "", "public", "top-secret"]
DEPARTMENTS = ["Risk", " risk", "Finance", "Ops", None]
RISKS = ["low", "medium", "high", "critical"]
START = dt.datetime(2024, 12, 2, tzinfo=dt.UTC)


def log(message: str) -> None:
    print(f"  {message}", flush=True)


# --------------------------------------------------------------------------- parent


def _recreate_postgres(server_url: str) -> str:
    url = server_url.rsplit("/", 1)[0] + "/" + PG_NAME
    recreate_database(url)
    return url


def _child(database_url: str, runs: int) -> dict[str, float]:
    result: dict[str, float] = run_child(
        "dashboard_bench",
        "dashboard",
        str(runs),
        DATABASE_URL=database_url,
        GOVDASH_JOBS_INLINE="true",
        GOVDASH_STATIC_MANIFEST="false",
    )
    return result


def run() -> list[Target]:
    databases = os.environ.get("GOVDASH_BENCH_DASHBOARD_DATABASES", "sqlite,postgresql")
    targets: list[Target] = []
    for database in [name.strip() for name in databases.split(",") if name.strip()]:
        log(f"machine: {load_average()}")
        if database == "sqlite":
            runs = int(os.environ.get("GOVDASH_BENCH_DASHBOARD_RUNS", "100000"))
            with tempfile.TemporaryDirectory() as tmp:
                result = _child(f"sqlite:///{tmp}/bench.sqlite3", runs)
            limit, label = 1.0, f"SQLite dashboard p95 s, {runs:,} runs (rollups)"
        elif database == "postgresql":
            runs = int(os.environ.get("GOVDASH_BENCH_DASHBOARD_PG_RUNS", "100000"))
            server = os.environ.get("GOVDASH_BENCH_DATABASE_URL", DEFAULT_SERVER)
            result = _child(_recreate_postgres(server), runs)
            limit, label = 0.3, f"PostgreSQL dashboard p95 s, {runs:,} runs (rollups)"
        else:
            raise BenchmarkError(f"unknown database {database!r}: sqlite or postgresql")
        ratio = result["live_p50"] / result["rollup_p50"]
        log(
            f"{database}, {runs:,} runs: seeded in {result['seed']:.0f}s, rollups rebuilt in "
            f"{result['rebuild']:.1f}s ({int(result['rows']):,} rows)"
        )
        log(
            f"{database}: live p50 {result['live_p50'] * 1000:.0f} ms, "
            f"p95 {result['live_p95'] * 1000:.0f} ms ({LIVE_SAMPLES} requests)"
        )
        log(
            f"{database}: rollups p50 {result['rollup_p50'] * 1000:.0f} ms, "
            f"p95 {result['rollup_p95'] * 1000:.0f} ms ({ROLLUP_SAMPLES} requests); "
            f"live / rollups (p50) = {ratio:.1f}"
        )
        log(f"machine: {load_average()}")
        targets.append(Target(label, result["rollup_p95"], limit))
        targets.append(
            Target(f"{database} dashboard live p50 / rollups p50", ratio, 1.0, at_least=True)
        )
    return targets


# --------------------------------------------------------------------------- child


def _seed(runs: int) -> None:
    """A mirror like a large estate's: experiments (20 per 10,000 runs) across
    three sources and five departments, runs in sweeps over two years, 1 in 97
    deleted, 9 in 10 assessed (a third non-compliant, with one or two failed
    rules; 1 in 13 assessed for older content)."""
    from django.db import transaction

    from reports.models import Assessment, Policy, RuleResult
    from tracking.models import Experiment, Run, Source

    version = Policy.objects.get(slug="default").current_version()
    assert version is not None
    sources = [Source.objects.create(name=f"bench-{n}", url="http://127.0.0.1:9") for n in range(3)]
    count = max(1, runs * EXPERIMENTS_PER_10K_RUNS // 10_000)
    experiments = [
        Experiment.objects.create(
            source=sources[n % 3],
            experiment_id=str(n),
            name=f"bench experiment {n}",
            tags={} if DEPARTMENTS[n % 5] is None else {"department": DEPARTMENTS[n % 5]},
            content_hash="x",
        )
        for n in range(count)
    ]
    span = 2 * 365 * 24 * 60  # minutes over two years
    now = dt.datetime.now(dt.UTC)
    step = 20_000
    for first in range(0, runs, step):
        with transaction.atomic():
            rows = []
            for i in range(first, min(runs, first + step)):
                # Runs come in sweeps of 50: one experiment, one time, mostly one
                # classification (the project's); 1 in 20 runs is classified apart.
                sweep = i // 50
                experiment = experiments[sweep % count]
                label = CLASSIFICATIONS[(sweep + (i % 20 == 0)) % 7]
                start = START + dt.timedelta(minutes=sweep * span * 50 // runs + i % 50)
                rows.append(
                    Run(
                        source_id=experiment.source_id,
                        experiment=experiment,
                        run_id=f"bench{i:027x}",
                        run_name=f"run {i}",
                        status="FINISHED",
                        start_time=start,
                        user_id="ana",
                        lifecycle_stage="deleted" if i % 97 == 0 else "active",
                        tags={"classification": label},
                        classification=label,
                        content_hash=f"{i:064x}",
                        facts_hash=f"{i:064x}",
                    )
                )
            created = Run.objects.bulk_create(rows, batch_size=5000)
            assessments, failing = [], []
            for offset, run in enumerate(created):
                i = first + offset
                if i % 10 == 0:
                    continue
                if i % 3 == 0:
                    verdict, risk = "non_compliant", RISKS[i % 4]
                    rules = ["data-classification"] + (["encryption"] if i % 2 else [])
                elif i % 11 == 0:
                    verdict, risk, rules = "error", "none", []
                else:
                    verdict, risk, rules = "compliant", "none", []
                assessments.append(
                    Assessment(
                        run=run,
                        policy=version.policy,
                        policy_version=version,
                        run_content_hash=run.facts_hash if i % 13 else "older",
                        verdict=verdict,
                        risk=risk,
                        score=7 * len(rules),
                        failed_rules=len(rules),
                        assessed_at=now - dt.timedelta(seconds=i),
                        is_current=True,
                    )
                )
                failing.append(rules)
            done = Assessment.objects.bulk_create(assessments, batch_size=5000)
            RuleResult.objects.bulk_create(
                (
                    RuleResult(
                        assessment=assessment,
                        rule_id=rule,
                        title=rule,
                        severity="high",
                        outcome="fail",
                        message="failed",
                    )
                    for assessment, rules in zip(done, failing, strict=True)
                    for rule in rules
                ),
                batch_size=5000,
            )
        if first and first % 200_000 == 0:
            log(f"seeded {first:,} runs")


def _samples(client: object, url: str, count: int) -> list[float]:
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(url)  # type: ignore[attr-defined]
        timings.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise BenchmarkError(f"the dashboard answered {response.status_code}")
    return timings


def _p95(timings: list[float]) -> float:
    ordered = sorted(timings)
    return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]


def child(out: Path, runs: int) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govdash.settings")
    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from reports import rollups
    from reports.models import RollupState

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    call_command("migrate", verbosity=0)
    log(f"{connection.vendor}: seeding {runs:,} runs…")
    started = time.perf_counter()
    _seed(runs)
    seed = time.perf_counter() - started
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # as autovacuum would after such a load
            cursor.execute("VACUUM ANALYZE")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    client = Client()
    client.force_login(User.objects.create_user("bench-reader"))
    url = reverse("reports:dashboard")

    RollupState.objects.all().delete()  # live: what the page did before rollups
    _samples(client, url, 1)
    live = _samples(client, url, LIVE_SAMPLES)

    started = time.perf_counter()
    written = rollups.rebuild()
    rebuild = time.perf_counter() - started
    _samples(client, url, 1)
    kept = _samples(client, url, ROLLUP_SAMPLES)
    out.write_text(
        json.dumps(
            {
                "seed": seed,
                "rebuild": rebuild,
                "rows": sum(written.values()),
                "live_p50": statistics.median(live),
                "live_p95": _p95(live),
                "rollup_p50": statistics.median(kept),
                "rollup_p95": _p95(kept),
            }
        )
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(Path(sys.argv[2]), int(sys.argv[3]))
    else:
        print("run with `python -m benchmarks -k dashboard`", file=sys.stderr)
        sys.exit(2)
