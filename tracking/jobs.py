"""Background jobs for sync: thin wrappers around the services."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from rq import get_current_job

from kernel.queues import QueueUnavailable, enqueue
from tracking.models import Source, SyncRun
from tracking.services import sync_execute, sync_fail_to_enqueue, sync_request

QUEUE = "sync"
# A sync of a very large server can take hours; progress is saved per page.
JOB_TIMEOUT = 6 * 3600


def sync_job(sync_run_id: int) -> str:
    # Higher layers hear of the end through ``tracking.signals.sync_finished``.
    current = get_current_job()
    return sync_execute(
        sync_run=SyncRun.objects.get(pk=sync_run_id), job_id=current.id if current else ""
    ).status


def enqueue_sync_job(sync_run: SyncRun, *, job_id: str | None = None) -> str:
    """Put the job of a queued sync on the queue (under ``job_id`` if given);
    raises ``QueueUnavailable``."""
    job = enqueue(QUEUE, sync_job, sync_run.pk, job_timeout=JOB_TIMEOUT, job_id=job_id)
    return job.id or ""


def sync_enqueue(*, source: Source, full: bool = False, actor: User | None = None) -> SyncRun:
    """Queue a sync of ``source``.

    Raises ``SyncAlreadyRunning`` if a sync of the source is queued or running,
    and ``QueueUnavailable`` if Redis cannot take the job; the SyncRun then
    ends failed with that reason, so nothing waits forever.
    """
    with transaction.atomic():
        sync_run = sync_request(source=source, full=full, actor=actor)
    try:
        job_id = enqueue_sync_job(sync_run)
    except QueueUnavailable as exc:
        sync_fail_to_enqueue(sync_run=sync_run, reason=str(exc))
        raise
    SyncRun.objects.filter(pk=sync_run.pk, job_id="").update(job_id=job_id)
    sync_run.job_id = job_id
    return sync_run


def schedule_tick() -> list[int]:
    """Run every minute by ``manage.py scheduler``. Stuck syncs are recovered
    first (``tracking.recovery``), so a lost sync of a scheduled source never
    keeps its schedule from running."""
    from tracking.recovery import SyncReconciler
    from tracking.schedule import enqueue_due_syncs

    SyncReconciler().reconcile()
    return enqueue_due_syncs()
