"""Assessment jobs: thin wrappers that claim a batch and call the services."""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.contrib.auth.models import User
from rq import Retry

from audit.actors import SystemActor
from kernel.errors import one_line
from kernel.queues import QueueUnavailable, enqueue, get_queue, queue_errors
from reports.models import Assessment, AssessmentBatch, AssessmentRequest, Policy
from reports.selectors.assessing import stale_batches
from reports.services import (
    assess_runs,
    assessment_request_pending,
    batch_claim,
    batch_finish,
    batch_queued,
    batches_not_queued,
    batches_queued_again,
    batches_take_unqueued,
)
from reports.writeback import writeback_assessments

logger = logging.getLogger(__name__)

QUEUE = "assess"
MAX_ATTEMPTS = 3
JOB_TIMEOUT = 1800


def assess_batch_job(batch_id: int) -> dict[str, int]:
    batch = AssessmentBatch.objects.select_related("request__policy_version__policy").get(
        pk=batch_id
    )
    if not batch_claim(batch):
        return {"skipped_batch": 1}  # done already, or another worker has it
    batch.refresh_from_db()
    try:
        tally = assess_runs(
            run_ids=batch.run_ids, version=batch.request.policy_version, batch=batch
        )
    except Exception as exc:
        retry = batch.attempts < MAX_ATTEMPTS
        batch_finish(batch, error=one_line(exc), retry=retry)
        raise  # RQ records it, and retries it while attempts remain
    batch_finish(batch)
    _queue_writeback(batch)
    return dict(tally)


def _queue_writeback(batch: AssessmentBatch) -> None:
    ids = list(
        Assessment.objects.filter(
            batch=batch, is_current=True, run__source__writeback_enabled=True
        ).values_list("pk", flat=True)
    )
    if ids:
        enqueue(QUEUE, writeback_job, ids, job_timeout=JOB_TIMEOUT)


def writeback_job(assessment_ids: list[int]) -> dict[str, int]:
    return writeback_assessments(assessment_ids=assessment_ids)


class AssessmentNotQueued(QueueUnavailable):
    """Assessment was requested and recorded, but the job queue could not take
    the jobs of ``request`` (``runs`` of its runs). Those batches wait as "not
    queued", audited as a failure, and are queued again by the maintenance
    tick or ``manage.py assess`` once the queue is back. ``requests`` are all
    the requests recorded by the call, this one included."""

    def __init__(
        self,
        error: QueueUnavailable,
        *,
        request: AssessmentRequest,
        requests: list[AssessmentRequest],
        runs: int,
    ) -> None:
        super().__init__(str(error))
        self.error = str(error)
        self.request = request
        self.requests = requests
        self.runs = runs

    def summary(self) -> str:
        """What happened and what happens next, in one sentence."""
        total = self.request.total
        which = "they" if self.runs == total else f"{self.runs:,} of them"
        return (
            f"Assessment of {total:,} run{'s' if total != 1 else ''} was requested "
            f"(request #{self.request.pk}) but could not be queued: {self.error}. "
            f"Until the job queue is back {which} wait as not queued; they are then "
            "queued again automatically (by the scheduler, or by manage.py assess)."
        )


def _enqueue(
    batches: list[AssessmentBatch],
    *,
    retry: bool = False,
    actor: User | None = None,
    system_actor: SystemActor = SystemActor.SYSTEM,
) -> None:
    """One job per batch. If Redis cannot take them, the batches not on the
    queue become "not queued" with the reason, audited as a failure, and
    QueueUnavailable is raised: nothing waits silently, nothing is lost. With
    ``retry`` (batches that were not queued before), the ones queued now are
    audited as a success."""
    queued: list[AssessmentBatch] = []
    try:
        with queue_errors():
            queue = get_queue(QUEUE)
            for batch in batches:
                job = queue.enqueue(
                    assess_batch_job,
                    batch.pk,
                    job_timeout=JOB_TIMEOUT,
                    retry=Retry(max=MAX_ATTEMPTS - 1, interval=[5, 30]),
                )
                queued.append(batch)
                batch_queued(batch, job_id=job.id)
    except QueueUnavailable as exc:
        batches_not_queued(
            batches=[b for b in batches if b not in queued],
            error=str(exc),
            retry=retry,
            actor=actor,
            system_actor=system_actor,
        )
        raise
    finally:
        if retry and queued:
            batches_queued_again(batches=queued, system_actor=system_actor)


def assess_pending(
    *,
    policy: Policy | None = None,
    source_name: str | None = None,
    experiment_name: str | None = None,
    reason: str,
    actor: User | None = None,
    system_actor: SystemActor = SystemActor.SYSTEM,
) -> list[AssessmentRequest]:
    """Queue assessment of every run whose current content has not been
    assessed under its policies' current versions, unless an open batch holds
    it already (a run is never queued twice).

    Raises AssessmentNotQueued when the job queue cannot take a request's
    jobs: that request is recorded, its batches wait as "not queued" (audited
    as a failure) and are queued again later; policies after it are left for
    the next call."""
    policies = [policy] if policy else list(Policy.objects.filter(is_active=True))
    requests: list[AssessmentRequest] = []
    for item in policies:
        version = item.current_version()
        if version is None:
            continue
        request = assessment_request_pending(
            version=version,
            source_name=source_name,
            experiment_name=experiment_name,
            reason=reason,
            actor=actor,
            system_actor=system_actor,
        )
        if request is None:
            continue
        requests.append(request)
        batches = list(request.batches.all())
        try:
            _enqueue(batches, actor=actor, system_actor=system_actor)
        except QueueUnavailable as exc:
            waiting = AssessmentBatch.objects.filter(
                request=request, status=AssessmentBatch.Status.UNQUEUED
            ).values_list("run_ids", flat=True)
            raise AssessmentNotQueued(
                exc, request=request, requests=requests, runs=sum(len(ids) for ids in waiting)
            ) from None
    return requests


def queue_unqueued_batches(*, system_actor: SystemActor = SystemActor.SYSTEM) -> int:
    """Put the batches the job queue could not take earlier on it now; raises
    QueueUnavailable (and they stay "not queued") if it still cannot."""
    batches = batches_take_unqueued()
    if batches:
        _enqueue(batches, retry=True, system_actor=system_actor)
    return len(batches)


def assess_pending_job(source_id: int | None = None) -> int:
    """After a sync: assess what is new or changed."""
    from tracking.models import Source

    source = Source.objects.filter(pk=source_id).first() if source_id else None
    requests = assess_pending(
        source_name=source.name if source else None, reason="new or changed runs after a sync"
    )
    return sum(r.total for r in requests)


def requeue_lost_batches(
    *,
    older_than: dt.timedelta | None = None,
    system_actor: SystemActor = SystemActor.SYSTEM,
) -> int:
    """Batches whose worker died (no heartbeat) go back on the queue, a bounded
    number of times; nothing stays 'running' for ever."""
    if older_than is None:
        older_than = dt.timedelta(seconds=settings.ASSESS_STALE_SECONDS)
    requeued = []
    for batch in stale_batches(older_than=older_than):
        if batch.attempts >= MAX_ATTEMPTS:
            AssessmentBatch.objects.filter(
                pk=batch.pk, status=AssessmentBatch.Status.RUNNING
            ).update(
                status=AssessmentBatch.Status.FAILED,
                error=f"the worker was lost {batch.attempts} times; giving up",
            )
            continue
        if AssessmentBatch.objects.filter(
            pk=batch.pk, status=AssessmentBatch.Status.RUNNING
        ).update(status=AssessmentBatch.Status.QUEUED, error="the worker was lost; retrying"):
            requeued.append(batch)
    if requeued:
        _enqueue(requeued, system_actor=system_actor)
    return len(requeued)


def maintenance_tick() -> int:
    """Run every minute by ``manage.py scheduler``: batches whose worker was
    lost, and batches the job queue could not take, go (back) on the queue."""
    return requeue_lost_batches() + queue_unqueued_batches()
