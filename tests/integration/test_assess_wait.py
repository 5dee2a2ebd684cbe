"""``manage.py assess --wait`` notices when the work it waits for can no longer
finish (issue 12, "Commands that fail in one line"): a batch failed for good,
or no worker listens on the assess queue. One line, exit 1, no traceback,
long before its timeout."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kernel.queues import workers_listening
from reports import services
from reports.jobs import assess_pending
from reports.models import AssessmentBatch
from reports.services import batch_claim, batch_finish
from tests.integration.faults import ROOT, kill_tree, wait_for, worker
from tests.integration.test_recovery import _runs

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

# Far longer than the command needs to notice (no worker: 30 s of patience).
TIMEOUT = "240"


def _assess_wait(env: dict[str, str]) -> str:
    """Run ``assess --wait``; its one error line (it must exit 1 with one)."""
    process = subprocess.run(
        [sys.executable, "manage.py", "assess", "--wait", "--timeout", TIMEOUT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert process.returncode == 1, process.stderr[-3000:]
    assert "Traceback" not in process.stderr, process.stderr[-3000:]
    errors = [line for line in process.stderr.splitlines() if line.startswith("CommandError")]
    assert len(errors) == 1, process.stderr[-3000:]
    assert "gave up waiting" not in errors[0]
    return errors[0]


def test_assess_wait_says_when_a_batch_it_waits_for_failed_for_good(
    env, default_policy, monkeypatch
):
    monkeypatch.setattr(services, "BATCH_SIZE", 5)
    _runs(10)
    (request,) = assess_pending(reason="a sync's assessment")
    first, second = request.batches.order_by("pk")
    # Its last attempt failed: failed for good, before the command starts, so
    # nothing the command does (its own reconciliation) can race this.
    assert batch_claim(first, job_id="last-attempt")
    batch_finish(first, error="rule engine crashed: boom", retry=False)
    assert AssessmentBatch.objects.get(pk=first.pk).status == "failed"

    line = _assess_wait(env)  # no worker needed: it cannot finish anyway

    assert "1 batch(es) failed for good" in line
    assert "rule engine crashed: boom" in line
    assert AssessmentBatch.objects.get(pk=second.pk).status == "queued"  # still waiting


def test_assess_wait_says_when_no_worker_listens_on_the_assess_queue(env, default_policy):
    _runs(10)
    assert workers_listening("assess") == 0

    line = _assess_wait(env)

    assert "no worker listens on the assess queue" in line
    assert "0/10 runs assessed" in line


def test_workers_listening_counts_the_workers_registered_on_a_queue(env):
    assert workers_listening("assess") == 0
    process = worker(env, burst=False)
    try:
        wait_for(lambda: workers_listening("assess") == 1, what="the worker to register")
        assert workers_listening("sync") == 1  # the recipe's worker takes every queue
    finally:
        kill_tree(process.pid)
        process.wait(timeout=30)
