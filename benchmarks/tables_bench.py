"""The runs tables at depth (issue 11, "tables that stay fast at any depth"): p50
and p95 of the runs table's first page, a page by Next cursor and the last page,
the compliance runs table's first and last page, and the run page, through
Django's test Client (the whole view: middleware, session, queries, template).

Targets: last page / first page (p50) <= 1.2 for both tables (keyset paging:
the last page is the index read backwards, not an OFFSET near N), and the runs
table's p95 / issue 11's 100 ms.

Runs in a child process on a fresh PostgreSQL database
(``GOVDASH_BENCH_TABLES_DATABASE_URL``, default ``govdash_bench_tables`` on the
local server). ``GOVDASH_BENCH_TABLES_RUNS`` (default 100,000) mirror rows are
written with COPY; a tenth of them have a current assessment, so the compliance
table joins real rows. ``GOVDASH_BENCH_TABLES_REPEAT`` (default 40) requests per
measure, after 3 unmeasured ones.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import BenchmarkError, Target, load_average, log, recreate_database, run_child

REPO = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("GOVDASH_BENCH_TABLES_RUNS", "100000"))
REPEAT = int(os.environ.get("GOVDASH_BENCH_TABLES_REPEAT", "40"))
WARM = 3
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/govdash_bench_tables"
ISSUE_11_TABLE_P95_MS = 100.0


# --------------------------------------------------------------------------- parent


def run() -> list[Target]:
    url = os.environ.get("GOVDASH_BENCH_TABLES_DATABASE_URL", DEFAULT_DB)
    recreate_database(url)
    result = run_child(
        "tables_bench",
        "tables",
        keep="GOVDASH_BENCH_TABLES_",
        DATABASE_URL=url,
        GOVDASH_JOBS_INLINE="true",
        GOVDASH_ALLOWED_HOSTS="testserver,localhost",
        GOVDASH_STATIC_MANIFEST="false",
    )

    figures: dict[str, dict[str, float]] = result["figures"]
    log(f"{result['runs']:,} runs on PostgreSQL, {REPEAT} requests each ({load_average()})")
    for name, figure in figures.items():
        log(f"{name:<34} p50 {figure['p50']:7.1f} ms   p95 {figure['p95']:7.1f} ms")
    runs_ratio = figures["runs table, last page"]["p50"] / figures["runs table, first page"]["p50"]
    compliance_ratio = (
        figures["compliance table, last page"]["p50"]
        / figures["compliance table, first page"]["p50"]
    )
    deep_ratio = figures["runs table, Next page"]["p50"] / figures["runs table, first page"]["p50"]
    worst_p95 = max(
        figures[name]["p95"]
        for name in ("runs table, first page", "runs table, last page", "runs table, Next page")
    )
    log(f"runs table: last / first page (p50) = {runs_ratio:.2f}, Next / first {deep_ratio:.2f}")
    log(f"compliance table: last / first page (p50) = {compliance_ratio:.2f}")
    log(f"plan of the last page's query: {result['plan_last']}")
    size = f"{result['runs']:,} runs"
    return [
        Target(f"runs table last / first page p50, {size}", runs_ratio, 1.2),
        Target(f"compliance table last / first page p50, {size}", compliance_ratio, 1.2),
        Target(
            f"runs table p95 / issue 11's {ISSUE_11_TABLE_P95_MS:.0f} ms, {size}",
            worst_p95 / ISSUE_11_TABLE_P95_MS,
            1.0,
        ),
    ]


# --------------------------------------------------------------------------- child


def _seed(runs: int) -> None:
    """``runs`` mirror rows by COPY, a tenth of them with a current assessment."""
    from django.db import connection

    from reports.models import Policy
    from tracking.models import Experiment, Source

    source = Source.objects.create(name="bench", url="http://127.0.0.1:9")
    experiments = [
        Experiment.objects.create(
            source=source,
            experiment_id=str(n),
            name=f"experiment {n}",
            tags={"department": "risk"},
            content_hash=f"{n:064x}",
        )
        for n in range(20)
    ]
    version = Policy.objects.get(slug="default").current_version()
    assert version is not None
    now = dt.datetime.now(dt.UTC)
    statuses = ("FINISHED", "FAILED", "RUNNING")
    classes = ("public", "official", "secret")
    columns = (
        "source_id, experiment_id, run_id, run_name, status, start_time, end_time, user_id, "
        "artifact_uri, lifecycle_stage, params, tags, metrics, classification, content_hash, "
        "facts_hash, first_seen_at, synced_at, changed_at"
    )
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY tracking_run ({columns}) FROM STDIN") as copy:
            for index in range(runs):
                started = now - dt.timedelta(minutes=index)
                copy.write_row(
                    (
                        source.pk,
                        experiments[index % len(experiments)].pk,
                        f"{index:032x}",
                        f"run {index}",
                        statuses[index % 3],
                        started,
                        started + dt.timedelta(minutes=5),
                        f"user{index % 7}",
                        f"s3://bench/{index}/artifacts",
                        "deleted" if index % 97 == 0 else "active",
                        json.dumps({f"p{k}": str(index * k) for k in range(5)}),
                        json.dumps({"classification": classes[index % 3], "team": "risk"}),
                        json.dumps({"loss": {"value": 1 / (index + 1), "step": 9, "timestamp": 1}}),
                        classes[index % 3],
                        f"{index:064x}",
                        f"{index:064x}",
                        now,
                        now,
                        now,
                    )
                )
        # A current assessment for every tenth run: the compliance table's LEFT JOIN finds some.
        cursor.execute(
            """
            INSERT INTO reports_assessment
                (run_id, policy_id, policy_version_id, verdict, risk, score, failed_rules,
                 is_current, assessed_at, run_content_hash, error)
            SELECT r.id, %s, %s, CASE WHEN r.id %% 3 = 0 THEN 'non_compliant' ELSE 'compliant' END,
                   CASE WHEN r.id %% 3 = 0 THEN 'high' ELSE 'none' END, r.id %% 100,
                   (r.id %% 3 = 0)::int, TRUE, now(), r.facts_hash, ''
            FROM tracking_run r WHERE r.id %% 10 = 0
            """,
            [version.policy_id, version.pk],
        )
        cursor.execute("ANALYZE")


def _measure(client: Any, cases: dict[str, tuple[str, dict[str, str]]]) -> dict[str, Any]:
    """p50 and p95 (ms) of each case, requested in turn (round robin), so that
    the machine's load as it changes weighs on every case alike."""
    for url, params in cases.values():
        for _ in range(WARM):
            response = client.get(url, params)
            if response.status_code != 200:
                raise BenchmarkError(f"{url} {params}: {response.status_code}")
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(REPEAT):
        for name, (url, params) in cases.items():
            started = time.perf_counter()
            response = client.get(url, params)
            times[name].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
    figures = {}
    for name, measured in times.items():
        measured.sort()
        figures[name] = {
            "p50": statistics.median(measured),
            "p95": measured[min(len(measured) - 1, round(0.95 * (len(measured) - 1)))],
        }
    return figures


def child(out: Path) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govdash.settings")
    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from kernel.tables import _signer
    from tracking.filters import RUN_KEYSET
    from tracking.models import Run
    from tracking.tables import RunTable

    call_command("migrate", verbosity=0)
    log(f"seeding {RUNS:,} mirrored runs by COPY…")
    started = time.perf_counter()
    _seed(RUNS)
    log(f"seeded in {time.perf_counter() - started:.1f}s")

    user = get_user_model().objects.create_user(username="bench", password="x" * 20)
    user.groups.add(Group.objects.get(name="ml-engineer"))
    client = Client()
    client.force_login(user)

    runs_url = reverse("tracking:runs")
    compliance_url = reverse("reports:runs")
    first = client.get(runs_url).content.decode()
    assert 'aria-label="Next page"' in first
    last = client.get(runs_url, {"cursor": "last"}).content.decode()
    assert "on this page, the last" in last
    # Halfway down: the Next cursor of the page that ends at the middle run.
    middle = Run.objects.visible().order_by("-start_time", "-id")[RUNS // 2]
    holder = RunTable([])
    deep_cursor = _signer(holder, "-start_time").sign("n" + RUN_KEYSET.cursor(middle))
    with CaptureQueriesContext(connection) as queries:
        client.get(runs_url, {"cursor": "last"})
    page_sql = next(q["sql"] for q in queries.captured_queries if "LIMIT 51" in q["sql"])
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + page_sql)
        plan = " / ".join(
            row[0].strip().removeprefix("-> ").strip()
            for row in cursor.fetchall()
            if "Scan" in row[0] and "tracking_run" in row[0]
        )

    figures = _measure(
        client,
        {
            "runs table, first page": (runs_url, {}),
            "runs table, Next page": (runs_url, {"cursor": deep_cursor}),
            "runs table, last page": (runs_url, {"cursor": "last"}),
            "compliance table, first page": (compliance_url, {}),
            "compliance table, last page": (compliance_url, {"cursor": "last"}),
            "run page": (reverse("tracking:run", args=[middle.pk]), {}),
        },
    )
    out.write_text(json.dumps({"runs": RUNS, "figures": figures, "plan_last": plan}))


if __name__ == "__main__" and sys.argv[1:2] == ["--child"]:
    child(Path(sys.argv[2]))
