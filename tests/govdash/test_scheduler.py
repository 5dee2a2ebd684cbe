from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.redis


def test_scheduler_process_queues_its_periodic_jobs(subprocess_env, redis_queue):
    queue = redis_queue("default")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "scheduler"],
        cwd=ROOT,
        env=subprocess_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        names: set[str] = set()
        while time.monotonic() < deadline and len(names) < 3:
            names = {job.func_name for job in queue.jobs}
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert names == {
        "tracking.jobs.schedule_tick",
        "kernel.reconcile.maintenance_tick",
        "approvals.services.promotion_expire_due",
    }, err[-1500:]
    assert "schedule_tick every 60s" in out


def test_scheduler_fails_in_one_line_without_redis(subprocess_env):
    env = {**subprocess_env, "REDIS_URL": "redis://127.0.0.1:1/0"}
    result = subprocess.run(
        [sys.executable, "manage.py", "scheduler"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Redis cannot be reached" in result.stderr
    assert "Traceback" not in result.stderr
