from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from audit.models import AuditEvent
from audit.services import verify
from tests.govdash.jobs_for_tests import record_from_worker

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.redis


def test_real_worker_runs_a_queued_job_against_the_same_database(subprocess_env, redis_queue):
    queue = redis_queue("default")
    job = queue.enqueue(record_from_worker, "hello from the queue")
    assert AuditEvent.objects.filter(action="test.worker").count() == 0

    result = subprocess.run(
        [sys.executable, "manage.py", "rqworker", "default", "--burst"],
        cwd=ROOT,
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr

    job.refresh()
    assert job.get_status() == "finished"
    event = AuditEvent.objects.get(action="test.worker")
    assert event.data["marker"] == "hello from the queue"
    assert event.data["pid"] != os.getpid()
    assert job.return_value() == event.sequence
    assert verify().intact
