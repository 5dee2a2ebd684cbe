"""Recovery of syncs, run by the maintenance tick (``kernel.reconcile``).

- A queued sync whose RQ job is gone (Redis lost it), ended without starting
  it, or was never handed to RQ, is queued again under a new job id.
- A running sync that stopped reporting (``GOVDASH_SYNC_STALE_SECONDS``), or
  whose job ended without recording an end, is failed as lost; a new sync that
  resumes from its checkpoint is queued at once, unless the last
  ``MAX_LOST_IN_A_ROW`` syncs of that chain were all lost (then it stays
  failed, with the reason, for a person to look at).
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.utils import timezone

from kernel.errors import Unavailable, one_line
from kernel.queues import JobInfo, JobState, QueueUnavailable, job_infos, new_job_id
from kernel.reconcile import Recovery
from tracking.jobs import enqueue_sync_job, sync_enqueue
from tracking.models import SyncRun
from tracking.selectors import overdue_syncs, stale_after
from tracking.services import (
    SyncAlreadyRunning,
    lost_in_a_row,
    stale_reason,
    sync_reap,
    sync_requeued,
)

logger = logging.getLogger(__name__)

KIND = "sync"
MAX_LOST_IN_A_ROW = 3


def _queued_reason(sync_run: SyncRun, info: JobInfo | None, now: dt.datetime) -> str:
    """Why a queued sync must be queued again, or "" to leave it."""
    grace = dt.timedelta(seconds=settings.JOB_GRACE_SECONDS)
    if info is None:
        return ""
    if info.state == JobState.ENDED:
        return "its job ended without starting the sync"
    if now - sync_run.created_at < grace:
        return ""  # being handed to the queue right now
    if not sync_run.job_id:
        return "it was never handed to the job queue"
    if info.state == JobState.MISSING:
        return "the job queue lost its job"
    if info.state == JobState.STARTED and info.since and now - info.since > grace:
        return "its worker took the job but never started the sync"
    return ""


class SyncReconciler:
    def reconcile(self) -> list[Recovery]:
        now = timezone.now()
        active = list(SyncRun.objects.active().select_related("source", "resumed_from"))
        if not active:
            return []
        try:
            infos = job_infos(sync_run.job_id for sync_run in active)
        except QueueUnavailable as exc:
            # Running syncs are still judged by their heartbeat; queued ones wait.
            logger.error("sync recovery without the job queue: %s", exc)
            infos = None
        done: list[Recovery] = []
        for sync_run in active:
            info = infos.get(sync_run.job_id) if infos is not None else None
            if sync_run.status == SyncRun.Status.RUNNING:
                done.extend(self._running(sync_run, info, now))
            elif infos is not None:
                reason = _queued_reason(sync_run, info, now)
                if reason and self._requeue(sync_run, reason):
                    done.append(Recovery(KIND, sync_run.pk, "requeued", reason))
        return done

    def _running(self, sync_run: SyncRun, info: JobInfo | None, now: dt.datetime) -> list[Recovery]:
        last = sync_run.heartbeat_at or sync_run.started_at or sync_run.created_at
        if now - last > stale_after():
            reason = stale_reason()
        elif sync_run.job_id and info is not None and info.state == JobState.ENDED:
            reason = "its job ended without recording an end (the worker was killed)"
        else:
            return []
        if not sync_reap(sync_run, reason=reason):
            return []
        done = [Recovery(KIND, sync_run.pk, "failed", reason)]
        if lost_in_a_row(sync_run) >= MAX_LOST_IN_A_ROW:
            logger.error(
                "sync of %s lost %s times in a row; not resumed automatically",
                sync_run.source.name,
                MAX_LOST_IN_A_ROW,
            )
            return done
        try:
            resumed = sync_enqueue(source=sync_run.source)
        except SyncAlreadyRunning:
            return done  # someone asked for one meanwhile
        except Unavailable as exc:
            logger.error("lost sync of %s not resumed: %s", sync_run.source.name, one_line(exc))
            return done
        done.append(Recovery(KIND, resumed.pk, "requeued", f"resumes lost sync #{sync_run.pk}"))
        return done

    def _requeue(self, sync_run: SyncRun, reason: str) -> bool:
        job_id = new_job_id()
        if not sync_requeued(
            sync_run, old_job_id=sync_run.job_id, new_job_id=job_id, reason=reason
        ):
            return False
        try:
            enqueue_sync_job(sync_run, job_id=job_id)
        except QueueUnavailable as exc:
            # The row names a job RQ does not have: the next tick tries again.
            logger.error("sync #%s not queued again: %s", sync_run.pk, exc)
        return True

    def overdue(self) -> int:
        return overdue_syncs().count()
