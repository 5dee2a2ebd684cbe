"""Sync, then assessment, through real processes: a real mlflow server, real
Redis and real ``rqworker`` subprocesses against the test database.

The chain under test: a sync ends -> ``tracking.signals.sync_finished`` (on
commit) -> ``reports.receivers`` enqueues ``assess_pending_job`` on "assess" ->
a worker runs it, which queues and runs the assessment batches.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from reports.models import Assessment
from tests.integration.faults import run_worker
from tracking.jobs import sync_enqueue
from tracking.models import Run, Source, SyncRun
from tracking.services import source_create

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def _current_assessments(version) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """run id -> verdict of the current assessment under ``version``."""
    return dict(
        Assessment.objects.filter(is_current=True, policy_version=version).values_list(
            "run__run_id", "verdict"
        )
    )


def _assert_assessed_as_expected(population, version) -> None:  # type: ignore[no-untyped-def]
    assessed = _current_assessments(version)
    assert set(assessed) == population.active  # the deleted run is out of scope
    assert {assessed[r] for r in population.compliant} == {"compliant"}
    assert {assessed[r] for r in population.non_compliant} == {"non_compliant"}
    # One current assessment per run, nothing else.
    assert Assessment.objects.filter(is_current=True).count() == len(population.active)


@pytest.fixture
def source(population) -> Source:  # type: ignore[no-untyped-def]
    return source_create(name="local", url=population.url)


@pytest.fixture
def queues(redis_queue):  # type: ignore[no-untyped-def]
    # Every queue: the recipe's worker (faults.WORKER_COMMAND) takes them all.
    return {name: redis_queue(name) for name in settings.JOB_QUEUES}


def test_queued_sync_run_by_a_worker_ends_with_assessments_of_the_synced_runs(
    subprocess_env, queues, default_policy, source, population
):
    sync_run = sync_enqueue(source=source)
    assert queues["sync"].count == 1
    assert not Run.objects.exists()

    # One worker on both queues: the sync job, then what its end enqueues.
    run_worker(subprocess_env)

    sync_run.refresh_from_db()
    assert sync_run.status == SyncRun.Status.SUCCEEDED, sync_run.error
    assert set(Run.objects.filter(source=source).values_list("run_id", flat=True)) == (
        population.active | {population.deleted}
    )
    _assert_assessed_as_expected(population, default_policy)
    assert queues["sync"].count == 0
    assert queues["assess"].count == 0


def test_sync_command_enqueues_assessment_and_does_not_assess_inline(
    subprocess_env, queues, default_policy, source, population
):
    call_command("sync", "local")

    assert SyncRun.objects.get(source=source).status == SyncRun.Status.SUCCEEDED
    assert Run.objects.filter(source=source).count() == len(population.active) + 1
    # The command returned without assessing anything itself...
    assert not Assessment.objects.exists()
    # ...but left exactly one job for the assessment workers.
    assert queues["assess"].count == 1
    job = queues["assess"].jobs[0]
    assert job.func_name == "reports.jobs.assess_pending_job"
    assert job.args == (source.pk,)
    assert queues["sync"].count == 0

    run_worker(subprocess_env)

    _assert_assessed_as_expected(population, default_policy)
    assert queues["assess"].count == 0


def test_failed_sync_enqueues_no_assessment(queues, default_policy):
    source_create(name="down", url="http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(CommandError, match="sync failed"):
        call_command("sync", "down")
    assert SyncRun.objects.get().status == SyncRun.Status.FAILED
    assert queues["assess"].count == 0
