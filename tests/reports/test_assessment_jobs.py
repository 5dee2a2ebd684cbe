"""Assessment through the real queue: real Redis, real worker processes."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count, Q

from reports import services
from reports.jobs import QueueUnavailable, assess_pending, requeue_lost_batches
from reports.models import Assessment, AssessmentBatch, AssessmentRequest
from tests import factories
from tracking.models import Run

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def _worker(env: dict[str, str], *, burst: bool = True) -> subprocess.Popen[bytes]:
    args = [sys.executable, "manage.py", "rqworker", "assess"] + (["--burst"] if burst else [])
    # Its own process group: killing it kills the work-horse child too, as a
    # machine or container dying would.
    return subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _kill_tree(pid: int) -> None:
    """SIGKILL a worker and every process under it, as a dying machine would
    (RQ's work horse runs in a session of its own, out of the worker's group)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    for child in children:
        _kill_tree(child)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _many_runs(count: int) -> None:
    exp = factories.experiment()
    template = factories.run(exp)
    Run.objects.bulk_create(
        Run(
            source=exp.source,
            experiment=exp,
            run_id=f"bulk{i:028x}",
            status="FINISHED",
            start_time=template.start_time,
            user_id="ana" if i % 3 else "",
            artifact_uri=template.artifact_uri,
            params=template.params,
            tags={"classification": "official" if i % 2 else "top-secret"},
            metrics=template.metrics,
            content_hash=f"{i:064x}",
            facts_hash=f"{i:064x}",
        )
        for i in range(count - 1)
    )


def test_real_worker_assesses_queued_runs(subprocess_env, redis_queue, default_policy):
    redis_queue("assess")
    _many_runs(600)
    requests = assess_pending(reason="test")
    assert sum(r.total for r in requests) == 600
    assert AssessmentBatch.objects.count() == 2  # 500 runs per job (settings default)
    worker = _worker(subprocess_env)
    assert worker.wait(timeout=180) == 0, worker.stderr.read().decode()[-2000:]
    assert Assessment.objects.filter(is_current=True).count() == 600
    assert set(AssessmentBatch.objects.values_list("status", flat=True)) == {"done"}
    counts = dict(
        Assessment.objects.values_list("verdict")
        .annotate(n=Count("pk"))
        .values_list("verdict", "n")
    )
    # Odd runs are compliant unless they lack a user (every third).
    expected_compliant = sum(1 for i in range(599) if i % 2 and i % 3) + 1
    assert counts["compliant"] == expected_compliant


def test_worker_killed_mid_batch_leaves_every_run_with_one_current_assessment(
    subprocess_env, redis_queue, default_policy, monkeypatch
):
    redis_queue("assess")
    monkeypatch.setattr(services, "BATCH_SIZE", 3000)  # one long batch
    _many_runs(3000)
    assess_pending(reason="test")
    batch = AssessmentBatch.objects.get()

    worker = _worker(subprocess_env, burst=False)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        batch.refresh_from_db()
        if batch.done >= services.COMMIT_EVERY:
            break
        time.sleep(0.01)
    _kill_tree(worker.pid)
    worker.wait(timeout=30)

    batch.refresh_from_db()
    assert batch.status == "running"  # what a dead worker leaves behind
    partial = Assessment.objects.count()
    assert 0 < partial < 3000, "the kill must land mid-batch"

    # What the per-minute maintenance tick (or `assess --wait`) does once the
    # batch stops reporting.
    assert requeue_lost_batches(older_than=dt.timedelta(0)) == 1
    restarted = _worker(subprocess_env)
    assert restarted.wait(timeout=180) == 0, restarted.stderr.read().decode()[-2000:]

    batch.refresh_from_db()
    assert (batch.status, batch.attempts) == ("done", 2), batch.error
    per_run = Assessment.objects.values("run").annotate(
        total=Count("pk"), current=Count("pk", filter=Q(is_current=True))
    )
    assert per_run.count() == 3000
    assert {(row["total"], row["current"]) for row in per_run} == {(1, 1)}


def test_redis_down_fails_clearly_and_marks_nothing_assessed(settings, default_policy):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    factories.run()
    with pytest.raises(QueueUnavailable, match="job queue cannot be reached"):
        assess_pending(reason="test")
    assert not Assessment.objects.exists()
    # Recorded and waiting to be queued again, not failed and forgotten.
    assert set(AssessmentBatch.objects.values_list("status", flat=True)) == {"unqueued"}
    with pytest.raises(CommandError, match="job queue cannot be reached"):
        call_command("assess")


def test_assess_command_waits_and_prints_the_summary(
    subprocess_env, redis_queue, default_policy, capsys
):
    redis_queue("assess")
    factories.run()
    factories.run(tags={"classification": "nope"})
    worker = _worker(subprocess_env, burst=False)
    try:
        call_command("assess", "--wait", "--timeout", "120")
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    assert capsys.readouterr().out.strip().splitlines()[-1] == (
        "assessed 2 runs: compliant=1 non_compliant=1 errors=0"
    )


def test_assess_wait_with_nothing_pending_says_where_the_runs_stand(
    subprocess_env, redis_queue, default_policy, capsys
):
    # What `make demo` meets: a sync's own assessment finished before the command ran.
    redis_queue("assess")
    factories.run()
    factories.run(tags={"classification": "nope"})
    worker = _worker(subprocess_env, burst=False)
    try:
        call_command("assess", "--wait", "--timeout", "120")
        capsys.readouterr()
        call_command("assess", "--wait", "--timeout", "120")
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    assert capsys.readouterr().out.strip().splitlines()[-2:] == [
        "nothing pending: 2 runs already assessed (compliant=1 non_compliant=1 errors=0)",
        "assessed 0 runs: compliant=0 non_compliant=0 errors=0",
    ]


def _batched_runs(request: AssessmentRequest) -> set[int]:
    return {pk for batch in request.batches.all() for pk in batch.run_ids}


def test_a_run_in_an_open_batch_is_not_queued_again(redis_queue, default_policy):
    queue = redis_queue("assess")
    first_runs = {factories.run().pk, factories.run().pk}
    (first,) = assess_pending(reason="new or changed runs after a sync")
    assert _batched_runs(first) == first_runs

    assert assess_pending(reason="manage.py assess") == []  # all queued already
    fresh = factories.run()
    (second,) = assess_pending(reason="manage.py assess")
    assert _batched_runs(second) == {fresh.pk}
    assert queue.count == 2

    # A failed batch holds nothing any more: its runs are queued again.
    first.batches.update(status=AssessmentBatch.Status.FAILED)
    (third,) = assess_pending(reason="manage.py assess")
    assert _batched_runs(third) == first_runs


def test_assess_wait_also_waits_for_requests_already_open_and_counts_them(
    subprocess_env, redis_queue, default_policy
):
    redis_queue("assess")
    factories.run()
    factories.run(tags={"classification": "nope"})
    # Queued by an earlier request (a sync's receiver, say); no worker has run it.
    (earlier,) = assess_pending(reason="new or changed runs after a sync")
    fresh = factories.run()

    command = subprocess.Popen(
        [sys.executable, "manage.py", "assess", "--wait", "--timeout", "120"],
        cwd=ROOT,
        env=subprocess_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    worker = None
    try:
        deadline = time.monotonic() + 60
        while AssessmentRequest.objects.count() < 2:
            assert command.poll() is None, command.communicate()[1].decode()[-2000:]
            assert time.monotonic() < deadline, "the command queued nothing"
            time.sleep(0.1)
        ours = AssessmentRequest.objects.exclude(pk=earlier.pk).get()
        assert _batched_runs(ours) == {fresh.pk}  # not the two already queued
        # Only now does a worker start: the earlier request was open all along.
        worker = _worker(subprocess_env)
        out, err = command.communicate(timeout=180)
    finally:
        if command.poll() is None:
            command.kill()
        if worker is not None:
            worker.wait(timeout=60)
    assert command.returncode == 0, err.decode()[-2000:]
    assert out.decode().strip().splitlines()[-1] == (
        "assessed 3 runs: compliant=2 non_compliant=1 errors=0"
    )
    assert set(AssessmentBatch.objects.values_list("status", flat=True)) == {"done"}
    # Each run assessed once: nothing was queued twice.
    assert Assessment.objects.count() == Assessment.objects.values("run").distinct().count() == 3
