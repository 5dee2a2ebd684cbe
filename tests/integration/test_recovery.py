"""Self-healing background work (issue 12), with real faults: a private
redis-server killed and restarted empty, a worker that cannot reach the
database, a SIGKILLed worker, the scheduler across a Redis outage.

Each test ends with every sync and batch in a terminal state, every run
assessed exactly once per active policy, and the audit chain intact, with no
manual step: only what the scheduler's ticks and the workers do."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import Count, Q
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import verify
from kernel.queues import get_queue
from kernel.reconcile import maintenance_tick
from reports import services
from reports.jobs import assess_pending
from reports.models import Assessment, AssessmentBatch
from tests import factories
from tests.integration.faults import (
    HangingServer,
    free_port,
    kill_tree,
    run_worker,
    scheduler,
    wait_for,
    worker,
)
from tracking.jobs import schedule_tick, sync_enqueue
from tracking.models import Run, Source, SyncRun
from tracking.services import source_create

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

LONG_AGO = timezone.now() - dt.timedelta(days=1)


def _runs(count: int) -> None:
    exp = factories.experiment()
    template = factories.run(exp)
    Run.objects.bulk_create(
        Run(
            source=exp.source,
            experiment=exp,
            run_id=f"bulk{i:028x}",
            status="FINISHED",
            start_time=template.start_time,
            user_id="ana",
            artifact_uri=template.artifact_uri,
            params=template.params,
            tags={"classification": "official"},
            metrics=template.metrics,
            content_hash=f"{i:064x}",
            facts_hash=f"{i:064x}",
        )
        for i in range(count - 1)
    )


def _assert_converged(runs: int) -> None:
    assert set(AssessmentBatch.objects.values_list("status", flat=True)) <= {"done"}
    per_run = Assessment.objects.values("run").annotate(
        current=Count("pk", filter=Q(is_current=True))
    )
    assert per_run.count() == runs
    assert {row["current"] for row in per_run} == {1}
    assert not SyncRun.objects.active().exists()
    assert verify().intact


def _backdate_queued_batches() -> None:
    """As if the grace period for handing jobs to the queue had passed."""
    AssessmentBatch.objects.filter(status="queued").update(heartbeat_at=LONG_AGO)


# --------------------------------------------------------------------------- finding 1


def test_batches_whose_jobs_redis_lost_are_queued_again_by_the_maintenance_tick(
    env, private_redis, default_policy, monkeypatch
):
    monkeypatch.setattr(services, "BATCH_SIZE", 250)
    _runs(1000)
    assess_pending(reason="test")
    assert AssessmentBatch.objects.filter(status="queued").count() == 4
    assert get_queue("assess").count == 4

    private_redis.restart_empty()  # the jobs are gone; the rows say "queued"
    _backdate_queued_batches()
    summary = maintenance_tick()

    assert summary == {"assessment batch requeued": 4}
    assert get_queue("assess").count == 4
    run_worker(env)
    _assert_converged(1000)
    recovered = AuditEvent.objects.filter(action="reports.assess_recover")
    assert recovered.count() == 1
    assert recovered.get().data["reason"] == "the job queue lost its job"


def test_a_second_tick_does_not_queue_the_batches_twice(env, private_redis, default_policy):
    _runs(10)
    assess_pending(reason="test")
    private_redis.restart_empty()
    _backdate_queued_batches()
    maintenance_tick()
    assert maintenance_tick() == {}  # its new job is on the queue: nothing to do
    assert get_queue("assess").count == 1
    run_worker(env)
    _assert_converged(10)


def test_queued_sync_whose_job_was_lost_is_queued_again(env, private_redis, population):
    source = source_create(name="local", url=population.url)
    sync_run = sync_enqueue(source=source)
    private_redis.restart_empty()
    SyncRun.objects.filter(pk=sync_run.pk).update(created_at=LONG_AGO)

    assert maintenance_tick() == {"sync requeued": 1}
    run_worker(env)

    sync_run.refresh_from_db()
    assert sync_run.status == SyncRun.Status.SUCCEEDED, sync_run.error
    assert Run.objects.filter(source=source).count() == len(population.active) + 1
    assert AuditEvent.objects.filter(action="tracking.sync_requeued").count() == 1
    # And a later sync of that source is not refused as "already queued".
    assert sync_enqueue(source=source).status == SyncRun.Status.QUEUED


# --------------------------------------------------------------------------- finding 2


def test_a_job_that_failed_while_the_database_was_away_is_retried_without_an_rq_scheduler(
    env, private_redis, default_policy
):
    _runs(20)
    assess_pending(reason="test")
    # A worker that cannot reach the database: the job fails before it can
    # claim its batch (PostgreSQL down, as far as this worker can tell).
    away = {**env, "DATABASE_URL": f"postgres://postgres@127.0.0.1:{free_port()}/nothing"}
    if env["DATABASE_URL"].startswith("sqlite"):
        away["DATABASE_URL"] = "sqlite:////nonexistent-dir/db.sqlite3"
    broken = worker(away)
    broken.wait(timeout=300)
    assert AssessmentBatch.objects.get().status == "queued"
    assert get_queue("assess").count == 0  # nothing left for a worker to take

    assert maintenance_tick() == {"assessment batch requeued": 1}
    run_worker(env)  # the README's worker: no --with-scheduler
    _assert_converged(20)


# --------------------------------------------------------------------------- finding 3


def test_scheduler_rides_out_a_redis_outage(env, private_redis, tmp_path):
    env = {**env, "GOVDASH_SCHEDULER_TICK_SECONDS": "2"}
    log = tmp_path / "scheduler.err"
    with log.open("w") as stderr:
        process = scheduler(env, stderr=stderr)
    try:
        wait_for(lambda: get_queue("default").count >= 2, what="the first ticks")
        private_redis.kill()
        wait_for(lambda: "Redis unreachable" in log.read_text(), what="the outage logged")
        assert process.poll() is None, log.read_text()[-2000:]
        private_redis.start()  # back, and empty
        wait_for(lambda: get_queue("default").count >= 2, what="ticks after the outage")
        assert process.poll() is None
    finally:
        process.terminate()
        process.wait(timeout=30)
    text = log.read_text()
    assert "Traceback" not in text
    outage_lines = [line for line in text.splitlines() if "Redis unreachable" in line]
    assert outage_lines
    assert all(len(line) < 400 for line in outage_lines)


# --------------------------------------------------------------------------- finding 4


def test_scheduler_reaps_the_sync_of_a_scheduled_source_whose_worker_was_killed(
    env, private_redis, population
):
    hanging = HangingServer()
    try:
        source = source_create(name="sched", url=hanging.url, sync_interval_minutes=60)
        assert schedule_tick() != []  # the scheduler queues its first sync
        sync_run = SyncRun.objects.get(source=source)
        killed = worker(env, burst=False)
        wait_for(
            lambda: SyncRun.objects.get(pk=sync_run.pk).status == "running",
            what="the sync to start",
        )
        kill_tree(killed.pid)
        killed.wait(timeout=30)
        assert SyncRun.objects.get(pk=sync_run.pk).status == "running"
        # Its heartbeat is older than GOVDASH_SYNC_STALE_SECONDS.
        SyncRun.objects.filter(pk=sync_run.pk).update(heartbeat_at=LONG_AGO)
        # The source is back (here: its real server).
        Source.objects.filter(pk=source.pk).update(url=population.url)

        schedule_tick()  # the scheduler's own tick, not a manual request

        sync_run.refresh_from_db()
        assert sync_run.status == "failed"
        assert "stopped reporting" in sync_run.error
        assert AuditEvent.objects.filter(action="tracking.sync_lost").count() == 1
        resumed = SyncRun.objects.active().get(source=source)
        assert resumed.status == "queued"
        run_worker(env)
        resumed.refresh_from_db()
        assert resumed.status == "succeeded", resumed.error
        assert verify().intact
    finally:
        hanging.close()
