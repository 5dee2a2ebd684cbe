"""Foreground commands losing their database connection (issue 12, finding 5):
a real PostgreSQL backend killed with ``pg_terminate_backend`` from another
connection. One line, exit 1, no traceback, and no sync left "running"."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.db import connection

from reports.models import AssessmentRequest
from tests.integration.faults import ROOT, HangingServer, wait_for
from tests.integration.test_recovery import _runs
from tracking.jobs import sync_enqueue
from tracking.models import SyncRun
from tracking.services import source_create

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def env(db_vendor, env):  # type: ignore[no-untyped-def]
    if db_vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgres://...)")
    return env


def _kill_other_backends() -> int:
    """What a database restart does to every other client of this database."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return int(cursor.fetchone()[0])


def _command(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _assert_one_line_error(process: subprocess.Popen[str]) -> str:
    _out, err = process.communicate(timeout=300)
    assert process.returncode == 1, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    errors = [line for line in err.splitlines() if line.startswith("CommandError")]
    assert len(errors) == 1, err[-3000:]
    assert "the database connection was lost" in errors[0]
    return errors[0]


def test_sync_losing_its_database_fails_in_one_line_and_leaves_no_running_sync(env):
    hanging = HangingServer()
    try:
        source = source_create(name="slow", url=hanging.url)
        process = _command(env, "sync", "slow")
        wait_for(
            lambda: SyncRun.objects.filter(source=source, status="running").exists(),
            what="the sync to start",
        )
        wait_for(hanging.accepted.is_set, what="the sync to ask its server")
        assert _kill_other_backends() >= 1
        hanging.release()  # the server answers (badly); the sync writes its end
        line = _assert_one_line_error(process)
    finally:
        hanging.close()
    assert "sync of slow failed" in line
    sync_run = SyncRun.objects.get(source=source)
    assert sync_run.status == "failed"
    assert "database connection was lost" in sync_run.error
    # Nothing blocks the next sync of that source.
    assert sync_enqueue(source=source).status == "queued"


def test_assess_wait_losing_its_database_fails_in_one_line(env, default_policy):
    _runs(10)
    process = _command(env, "assess", "--wait")  # no worker: it waits
    wait_for(AssessmentRequest.objects.exists, what="the request")
    wait_for(
        lambda: process.poll() is not None or _kill_other_backends() >= 1,
        what="the command's connection",
    )
    _assert_one_line_error(process)
