"""What compliance does when the mirror has news (``tracking.signals``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.dispatch import receiver

from kernel.queues import QueueUnavailable, enqueue
from reports import rollups
from reports.jobs import QUEUE, assess_pending_job
from tracking.models import Run, SyncRun
from tracking.signals import runs_changing, sync_finished

logger = logging.getLogger(__name__)


@receiver(sync_finished, dispatch_uid="reports_assess_after_sync")
def _assess_after_sync(
    sender: Any, sync_run: SyncRun, source_id: int, succeeded: bool, **kwargs: Any
) -> None:
    """New and changed runs of a synced source are assessed next, by a worker:
    the sync that sent this (a job or ``manage.py sync``) never waits for it."""
    if not succeeded:
        return
    try:
        enqueue(QUEUE, assess_pending_job, source_id)
    except QueueUnavailable as exc:
        # The sync itself succeeded and is committed; `manage.py assess` (or the
        # next sync) picks these runs up once the queue is back.
        logger.warning("assessment after sync #%s not queued: %s", sync_run.pk, exc)


@receiver(runs_changing, dispatch_uid="reports_rollups_runs_changing")
def _rollups_follow_runs(sender: Any, runs: QuerySet[Run], **kwargs: Any) -> Callable[[], None]:
    """Runs are about to be written (inside the sync's transaction): the
    dashboard rollups take the difference once they are (``reports.rollups``)."""
    return rollups.runs_changing(runs)
