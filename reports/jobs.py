"""Assessment jobs: thin wrappers that claim a batch and call the services."""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone
from rq import get_current_job

from audit.actors import SystemActor
from kernel.errors import one_line
from kernel.queues import (
    JobInfo,
    JobState,
    QueueUnavailable,
    enqueue,
    get_queue,
    job_infos,
    new_job_id,
    queue_errors,
)
from kernel.reconcile import Recovery
from reports.models import Assessment, AssessmentBatch, AssessmentRequest, Policy
from reports.selectors.assessing import overdue_batches
from reports.services import (
    GAVE_UP,
    RECOVERED,
    assess_recover,
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
    current = get_current_job()
    if not batch_claim(batch, job_id=current.id if current else ""):
        return {"skipped_batch": 1}  # done already, or another worker has it
    batch.refresh_from_db()
    try:
        tally = assess_runs(
            run_ids=batch.run_ids, version=batch.request.policy_version, batch=batch
        )
    except Exception as exc:
        # Back to "queued" while attempts remain: the maintenance tick puts
        # it on the queue again (RQ's own Retry would need an RQ scheduler).
        retry = batch.attempts < MAX_ATTEMPTS
        batch_finish(batch, error=one_line(exc), retry=retry)
        raise  # RQ records the failure
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
                job = queue.enqueue(assess_batch_job, batch.pk, job_timeout=JOB_TIMEOUT)
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


def _lost_reason(batch: AssessmentBatch, info: JobInfo | None, cutoff: dt.datetime) -> str:
    """Why a running batch has lost its worker, or "" if it has not."""
    if batch.heartbeat_at is None or batch.heartbeat_at < cutoff:
        return "the worker stopped reporting"
    if batch.job_id and info is not None and info.state == JobState.ENDED:
        return "its job ended without recording an end (the worker was killed)"
    return ""


def _waiting_reason(
    batch: AssessmentBatch, info: JobInfo | None, now: dt.datetime, grace: dt.timedelta
) -> str:
    """Why a queued batch must be put on the queue again, or "" to leave it."""
    if info is None:
        return ""
    if info.state == JobState.ENDED:
        # A failed attempt asking for another, or a job that failed before
        # it could claim the batch (the database was away).
        return batch.error or "its job ended without assessing the batch"
    since = batch.heartbeat_at or batch.request.created_at
    if now - since < grace:
        return ""  # being handed to the queue right now
    if not batch.job_id:
        return "it was never handed to the job queue"
    if info.state == JobState.MISSING:
        return "the job queue lost its job"
    if info.state == JobState.STARTED and info.since and now - info.since > grace:
        return "its worker took the job but never started the batch"
    return ""


def _recover(
    found: list[tuple[AssessmentBatch, str, str | None]], *, action: str
) -> list[Recovery]:
    """Move the batches found (each with its reason and the error to keep),
    audited in the same transaction (``assess_recover``); then queue the jobs
    of those requeued. A batch another caller moved first is left to it."""
    by_reason: dict[tuple[str, str | None], list[AssessmentBatch]] = {}
    for batch, reason, error in found:
        by_reason.setdefault((reason, error), []).append(batch)
    done: list[Recovery] = []
    for (reason, error), batches in by_reason.items():
        moved = assess_recover(
            batches=batches, action=action, reason=reason, error=error, new_job_ids=new_job_id
        )
        if action == RECOVERED:
            _queue_again(moved)
        done.extend(Recovery("assessment batch", batch.pk, action, reason) for batch in moved)
    return done


def _queue_again(batches: list[AssessmentBatch]) -> None:
    """Queue the jobs of batches recovery took back, under the job ids their
    rows name; those the queue cannot take wait as "not queued"."""
    try:
        with queue_errors():
            queue = get_queue(QUEUE)
            for batch in batches:
                queue.enqueue(
                    assess_batch_job, batch.pk, job_timeout=JOB_TIMEOUT, job_id=batch.job_id
                )
    except QueueUnavailable as exc:
        batches_not_queued(batches=batches, error=str(exc), retry=True)


def recover_running_batches(*, older_than: dt.timedelta | None = None) -> list[Recovery]:
    """Running batches whose worker is gone (no heartbeat for ``older_than``,
    or a job that ended without recording an end) go back on the queue, a
    bounded number of times; then they fail with the reason. Nothing stays
    'running' for ever."""
    if older_than is None:
        older_than = dt.timedelta(seconds=settings.ASSESS_STALE_SECONDS)
    cutoff = timezone.now() - older_than
    running = list(AssessmentBatch.objects.filter(status=AssessmentBatch.Status.RUNNING))
    if not running:
        return []
    try:
        infos = job_infos(b.job_id for b in running)
    except QueueUnavailable:
        infos = None  # judged by heartbeat alone
    requeued: list[tuple[AssessmentBatch, str, str | None]] = []
    failed: list[tuple[AssessmentBatch, str, str | None]] = []
    for batch in running:
        info = infos.get(batch.job_id) if infos is not None else None
        reason = _lost_reason(batch, info, cutoff)
        if not reason:
            continue
        if batch.attempts >= MAX_ATTEMPTS:
            error = f"{reason}; gave up after {batch.attempts} attempts"
            failed.append((batch, error, error))
        else:
            requeued.append((batch, reason, f"{reason}; retrying"))
    return _recover(requeued, action=RECOVERED) + _recover(failed, action=GAVE_UP)


def recover_queued_batches() -> list[Recovery]:
    """Queued batches whose RQ job is lost (Redis restarted empty), ended
    without assessing them (a failed attempt, or the database was away), or
    was never queued, are put on the queue again."""
    now = timezone.now()
    grace = dt.timedelta(seconds=settings.JOB_GRACE_SECONDS)
    waiting = list(
        AssessmentBatch.objects.filter(status=AssessmentBatch.Status.QUEUED).select_related(
            "request"
        )
    )
    if not waiting:
        return []
    infos = job_infos(b.job_id for b in waiting)  # QueueUnavailable: nothing to do now
    if infos is None:
        return []
    found: list[tuple[AssessmentBatch, str, str | None]] = []
    for batch in waiting:
        reason = _waiting_reason(batch, infos.get(batch.job_id), now, grace)
        if reason:
            found.append((batch, reason, None))
    return _recover(found, action=RECOVERED)


def requeue_lost_batches(
    *,
    older_than: dt.timedelta | None = None,
    system_actor: SystemActor = SystemActor.SYSTEM,
) -> int:
    """How many running batches that lost their worker were put back on the
    queue (``recover_running_batches``)."""
    return sum(
        1 for item in recover_running_batches(older_than=older_than) if item.action == "requeued"
    )


class BatchReconciler:
    """Assessment batches, for ``kernel.reconcile``."""

    def reconcile(self) -> list[Recovery]:
        done = recover_running_batches()
        try:
            done.extend(recover_queued_batches())
            queued = queue_unqueued_batches()
        except QueueUnavailable as exc:
            logger.error("assessment batches not queued again: %s", exc)
            return done
        if queued:
            done.append(
                Recovery("assessment batch", "-", "requeued", f"{queued} not queued before")
            )
        return done

    def overdue(self) -> int:
        return overdue_batches().count()
