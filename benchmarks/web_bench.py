"""Page latency at 100,000 and 1,000,000 runs (issue 11), on PostgreSQL behind
gunicorn, as production serves it.

The mirror is generated directly in the database (issue 11 allows it for the
million): a template of real runs is seeded and assessed by the real engine,
then copied in SQL with new run ids and start times, so every copied run has
the assessment and rule results the engine gave its template. The rollups are
rebuilt by their command when it exists, then ``ANALYZE``.

Measured, for the dashboard, the runs table (first and last page), the
compliance runs table (first and last page) and a run page:

* one client: p50/p95 of sequential requests through a logged-in session;
* 50 concurrent clients (Locust, headless) against 3 gunicorn workers at the
  first size: errors and p95 over all pages.

Each latency is also printed as a ratio to ``/healthz`` measured in the same
run (the cost of a request that reads almost nothing), so a slow machine is
visible beside the figures, with the load average.

``GOVDASH_BENCH_WEB_SIZES`` (default ``100000,1000000``) picks the sizes;
``GOVDASH_BENCH_WEB_DATABASE_URL`` the throwaway database (default
``govdash_bench_web`` on the local server), recreated unless
``GOVDASH_BENCH_WEB_KEEP=true`` (then a mirror left by an earlier run is grown,
migrated and its rollups rebuilt, which saves the minutes of generating a million).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import (
    BenchmarkError,
    Target,
    bench_env,
    load_average,
    log,
    recreate_database,
    run_child,
)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/govdash_bench_web"
TEMPLATE_RUNS = 2000
SAMPLES = int(os.environ.get("GOVDASH_BENCH_WEB_SAMPLES", "100"))
CONCURRENT_USERS = 50
CONCURRENT_SECONDS = int(os.environ.get("GOVDASH_BENCH_WEB_LOAD_SECONDS", "40"))
# Each simulated officer waits 1-3 s between clicks (a busy person reading little):
# 50 of them offer about 25 requests a second.
THINK_SECONDS = (1.0, 3.0)
GUNICORN_WORKERS = 3

# issue 11's targets (milliseconds), by page and size
DASHBOARD_P95_MS_1M = 300.0
TABLE_P95_MS_1M = 100.0
CONCURRENT_P95_MS_100K = 2000.0


def _sizes() -> list[int]:
    raw = os.environ.get("GOVDASH_BENCH_WEB_SIZES", "100000,1000000")
    return [int(part) for part in raw.split(",") if part.strip()]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(url: str) -> dict[str, str]:
    return bench_env(**_settings(url))


def _settings(url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": url,
        "REDIS_URL": "redis://127.0.0.1:6379/13",
        "GOVDASH_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "GOVDASH_STATIC_MANIFEST": "false",
        "DJANGO_SETTINGS_MODULE": "govdash.settings",
    }


# --------------------------------------------------------------------------- data


def _copy_columns(model: Any, overrides: dict[str, str]) -> tuple[str, str]:
    """The insert column list and the SELECT list copying ``t.<column>``, with
    ``overrides`` (column -> SQL expression) for the columns that change."""
    columns = [field.column for field in model._meta.concrete_fields if not field.primary_key]
    select = [overrides.get(column, f"t.{column}") for column in columns]
    return ", ".join(columns), ", ".join(select)


def grow(total: int) -> dict[str, Any]:
    """Child: make the mirror hold ``total`` runs with their assessments."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, models, transaction

    from benchmarks.assess_bench import seed_runs
    from reports.models import Assessment, Policy, RuleResult
    from reports.services import assess_runs
    from tracking.models import Run

    call_command("migrate", verbosity=0)
    if not Run.objects.exists():
        log(f"seeding and assessing {TEMPLATE_RUNS} template runs…")
        seed_runs(TEMPLATE_RUNS)
        version = Policy.objects.get(slug="default").current_version()
        assert version is not None
        assess_runs(run_ids=list(Run.objects.values_list("pk", flat=True)), version=version)
    have = Run.objects.count()
    copies = (total - have + TEMPLATE_RUNS - 1) // TEMPLATE_RUNS
    if copies > 0:
        log(f"copying the template runs {copies} times in SQL ({have} -> {total})…")
        started = time.perf_counter()
        generation = Run.objects.filter(run_id__contains="-").count() // TEMPLATE_RUNS
        run_cols, run_select = _copy_columns(
            Run,
            {
                "run_id": "t.run_id || '-' || g",
                "run_name": "t.run_name || ' #' || g",
                "start_time": "t.start_time - make_interval(mins => g)",
                "end_time": "t.end_time - make_interval(mins => g)",
                "content_hash": "md5(t.content_hash || g) || md5(g::text || t.content_hash)",
            },
        )
        a_cols, a_select = _copy_columns(Assessment, {"run_id": "n.id", "batch_id": "NULL"})
        r_cols, r_select = _copy_columns(RuleResult, {"assessment_id": "na.id"})
        # One generation at a time, every join an index lookup from the template side
        # (the new run is found by its unique (source, run_id)).
        new_run = "n.source_id = o.source_id AND n.run_id = o.run_id || '-' || %s"
        templates = Run.objects.exclude(run_id__contains="-").aggregate(
            lo=models.Min("pk"), hi=models.Max("pk")
        )
        template = f"o.id BETWEEN {int(templates['lo'])} AND {int(templates['hi'])}"
        for g in range(generation + 1, generation + copies + 1):
            if (g - generation) & (g - generation - 1) == 0:
                # Each time the tables have doubled: the planner's statistics of the
                # old size pick nested loops: 330 s, not 24 s, to copy 100,000 runs.
                with connection.cursor() as cursor:
                    cursor.execute("ANALYZE tracking_run, reports_assessment, reports_ruleresult")
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO tracking_run ({run_cols}) SELECT {run_select} "  # noqa: S608
                    "FROM tracking_run t CROSS JOIN (SELECT %s AS g) gen "
                    f"WHERE {template.replace('o.id', 't.id')} ORDER BY t.id",
                    [g],
                )
                cursor.execute(
                    f"INSERT INTO reports_assessment ({a_cols}) SELECT {a_select} "  # noqa: S608
                    f"FROM tracking_run o JOIN tracking_run n ON {new_run} "
                    "JOIN reports_assessment t ON t.run_id = o.id AND t.is_current "
                    f"WHERE {template}",
                    [g],
                )
                cursor.execute(
                    f"INSERT INTO reports_ruleresult ({r_cols}) SELECT {r_select} "  # noqa: S608
                    f"FROM tracking_run o JOIN tracking_run n ON {new_run} "
                    "JOIN reports_assessment oa ON oa.run_id = o.id AND oa.is_current "
                    "JOIN reports_assessment na ON na.run_id = n.id "
                    " AND na.policy_id = oa.policy_id AND na.is_current "
                    "JOIN reports_ruleresult t ON t.assessment_id = oa.id "
                    f"WHERE {template}",
                    [g],
                )
        log(f"copied in {time.perf_counter() - started:.0f}s")
    started = time.perf_counter()
    from django.core.management import get_commands

    if "rollups" in get_commands():
        call_command("rollups", "rebuild", verbosity=0)
        log(f"rollups rebuilt in {time.perf_counter() - started:.0f}s")
    with connection.cursor() as cursor:
        # VACUUM too: otherwise autovacuum visits the copied million rows while the
        # pages are timed (a p95 of 131 ms against a p50 of 50 ms, seen once).
        cursor.execute("VACUUM ANALYZE")
    runs = Run.objects.count()
    return {
        "runs": runs,
        "assessments": Assessment.objects.filter(is_current=True).count(),
        "run_pk": Run.objects.order_by("pk").values_list("pk", flat=True)[runs // 2],
    }


def session_cookie() -> str:
    """Child: a compliance officer's session key (what a browser would hold)."""
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.test import Client

    from kernel.roles import Role, grant_role

    user, _ = User.objects.get_or_create(username="bench-officer")
    grant_role(user, Role.COMPLIANCE_OFFICER)
    client = Client()
    client.force_login(user)
    return str(client.cookies[settings.SESSION_COOKIE_NAME].value)


# --------------------------------------------------------------------------- serving


class Server:
    def __init__(self, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "govdash.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(GUNICORN_WORKERS),
                "--timeout",
                "120",
            ],
            cwd=REPO,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import requests

        deadline = time.monotonic() + 120
        while True:
            try:
                requests.get(f"{self.base}/healthz", timeout=30)
                return
            except requests.RequestException:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise BenchmarkError("gunicorn did not start") from None
                time.sleep(0.3)

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGKILL)


def _last_page(html: str, first_url: str) -> str:
    """The URL of a table's last page, read from the page's own pager."""
    import html as html_lib

    found = re.search(r'href="([^"]+)"[^>]*aria-label="Last page"', html)
    if found is None:
        pages = [
            (int(number), href)
            for href, number in re.findall(r'href="([^"]+)"[^>]*aria-label="Page (\d+)"', html)
        ]
        if not pages:
            raise BenchmarkError(f"no pager on {first_url}")
        href = max(pages)[1]
    else:
        href = found.group(1)
    href = html_lib.unescape(href)
    return href if href.startswith("/") else first_url.split("?")[0] + href


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def _time_page(session: Any, base: str, path: str) -> tuple[float, float]:
    for _ in range(3):
        session.get(base + path, timeout=120)
    samples = []
    for _ in range(SAMPLES):
        started = time.perf_counter()
        response = session.get(base + path, timeout=120, allow_redirects=False)
        samples.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise BenchmarkError(f"{path} answered {response.status_code}")
    return _percentiles(samples)


def _pages(session: Any, base: str, run_pk: int) -> dict[str, str]:
    pages = {"dashboard": "/compliance/", "run page": f"/tracking/runs/{run_pk}/"}
    tables = (("runs table", "/tracking/runs/"), ("compliance runs", "/compliance/runs/"))
    for name, first in tables:
        response = session.get(base + first, timeout=120)
        if response.status_code != 200:
            raise BenchmarkError(f"{first} answered {response.status_code}")
        pages[f"{name}, first page"] = first
        pages[f"{name}, last page"] = _last_page(response.text, first)
    return pages


LOCUSTFILE = """
import os
import random
from locust import FastHttpUser, between, task

PAGES = os.environ["BENCH_PAGES"].split("\\n")


class Officer(FastHttpUser):
    wait_time = between(float(os.environ["BENCH_THINK_MIN"]), float(os.environ["BENCH_THINK_MAX"]))

    @task
    def browse(self):
        path = random.choice(PAGES)
        self.client.get(path, headers={"Cookie": "sessionid=" + os.environ["BENCH_SESSION"]})
"""


def _concurrent(base: str, cookie: str, pages: dict[str, str]) -> tuple[int, int, float, float]:
    """Locust, headless: 50 users browsing every page in turn. Returns requests,
    failures, p50 and p95 (ms) over all of them."""
    import csv

    with tempfile.TemporaryDirectory() as tmp:
        locustfile = Path(tmp) / "locustfile.py"
        locustfile.write_text(LOCUSTFILE)
        env = {
            **os.environ,
            "BENCH_PAGES": "\n".join(pages.values()),
            "BENCH_SESSION": cookie,
            "BENCH_THINK_MIN": str(THINK_SECONDS[0]),
            "BENCH_THINK_MAX": str(THINK_SECONDS[1]),
        }
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(locustfile),
                "--headless",
                "--users",
                str(CONCURRENT_USERS),
                "--spawn-rate",
                str(CONCURRENT_USERS),
                "--run-time",
                f"{CONCURRENT_SECONDS}s",
                "--host",
                base,
                "--csv",
                str(Path(tmp) / "load"),
                "--only-summary",
                "--loglevel",
                "WARNING",
            ],
            env=env,
            check=False,
            capture_output=True,
            text=True,
        )
        stats = Path(tmp) / "load_stats.csv"
        if not stats.exists():
            raise BenchmarkError(f"locust wrote no statistics: {completed.stderr[-2000:]}")
        with stats.open() as handle:
            rows = {row["Name"]: row for row in csv.DictReader(handle)}
    total = rows["Aggregated"]
    return (
        int(total["Request Count"]),
        int(total["Failure Count"]),
        float(total["50%"]),
        float(total["95%"]),
    )


def run() -> list[Target]:
    import requests

    url = os.environ.get("GOVDASH_BENCH_WEB_DATABASE_URL", DEFAULT_DB)
    keep = os.environ.get("GOVDASH_BENCH_WEB_KEEP", "").lower() in {"1", "true", "yes"}
    recreate_database(url, keep=keep)
    env = _env(url)
    targets: list[Target] = []
    sizes = sorted(_sizes())
    for index, size in enumerate(sizes):
        log(f"{size:,} runs ({load_average()})")
        facts = run_child("web_bench", "mirror", str(size), **_settings(url))
        # Labelled by what the mirror holds: a kept database may hold more than asked.
        runs = int(facts["runs"])
        log(f"mirror: {runs:,} runs, {facts['assessments']:,} current assessments")
        cookie = subprocess.run(
            [sys.executable, "-m", "benchmarks.web_bench", "--session"],
            cwd=REPO,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        server = Server(env)
        try:
            session = requests.Session()
            session.cookies.set("sessionid", cookie)
            pages = _pages(session, server.base, int(facts["run_pk"]))
            base_p50, base_p95 = _time_page(session, server.base, "/healthz")
            log(f"baseline /healthz: p50 {base_p50:.0f} ms, p95 {base_p95:.0f} ms")
            measured: dict[str, tuple[float, float]] = {}
            for name, path in pages.items():
                p50, p95 = _time_page(session, server.base, path)
                measured[name] = (p50, p95)
                log(
                    f"{name}: p50 {p50:.0f} ms, p95 {p95:.0f} ms "
                    f"({p95 / base_p95:.1f}x /healthz) {path}"
                )
            if runs >= 1_000_000:
                targets.append(
                    Target(
                        f"dashboard p95 ms, {runs:,} runs",
                        measured["dashboard"][1],
                        DASHBOARD_P95_MS_1M,
                    )
                )
                for name in ("runs table, first page", "runs table, last page"):
                    targets.append(
                        Target(f"{name} p95 ms, {runs:,} runs", measured[name][1], TABLE_P95_MS_1M)
                    )
            if index == 0:
                log(
                    f"{CONCURRENT_USERS} concurrent clients (each waiting "
                    f"{THINK_SECONDS[0]:g}-{THINK_SECONDS[1]:g} s between pages) for "
                    f"{CONCURRENT_SECONDS}s against {GUNICORN_WORKERS} gunicorn workers…"
                )
                count, failures, p50, p95 = _concurrent(server.base, cookie, pages)
                log(
                    f"{count} requests, {failures} failed, p50 {p50:.0f} ms, p95 {p95:.0f} ms "
                    f"({load_average()})"
                )
                label = f"{CONCURRENT_USERS} clients, {runs:,} runs"
                targets.append(Target(f"{label}: failed requests", failures, 0))
                targets.append(Target(f"{label}: p95 ms", p95, CONCURRENT_P95_MS_100K))
        finally:
            server.stop()
    log(load_average())
    return targets


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        Path(sys.argv[2]).write_text(json.dumps(grow(int(sys.argv[3]))))
    elif len(sys.argv) == 2 and sys.argv[1] == "--session":
        print(session_cookie())
    else:
        for target in run():
            print(f"{target.name}: {target.measured:.3f} ({target.bound}) {target.verdict}")
