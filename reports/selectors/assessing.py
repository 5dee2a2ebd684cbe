"""What the assessment jobs have to do, and how far they are: the runs a
policy version still has to assess, the runs already waiting in an open batch,
and the progress of assessment requests (the dashboard's activity panel, the
``assess`` command). The jobs in ``reports.jobs`` act on these reads."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from audit.selectors import recent_events
from kernel.reconcile import ATTENTION_ROWS, RECOVERED_SHOWN_FOR, WorkAttention
from reports.audit_actions import ReportsAction
from reports.models import Assessment, AssessmentBatch, AssessmentRequest, Policy, PolicyVersion
from tracking.models import Run, RunQuerySet

ACTIVITY_REQUESTS = 5
# A batch in one of these is still to be assessed: its runs are not queued again
# ("not queued" ones are queued again as they are, once the job queue is back).
OPEN_STATUSES = (
    AssessmentBatch.Status.QUEUED,
    AssessmentBatch.Status.UNQUEUED,
    AssessmentBatch.Status.RUNNING,
)


# --------------------------------------------------------------------------- what is to assess


def runs_in_scope(policy: Policy) -> RunQuerySet:
    """The visible runs a policy applies to (every source, or the ones it names)."""
    runs = Run.objects.visible()
    if policy.source_names:
        runs = runs.filter(source__name__in=policy.source_names)
    return runs


def runs_needing_assessment(version: PolicyVersion) -> RunQuerySet:
    """Runs in scope whose current content has no assessment under ``version``
    (queued ones included: see ``runs_to_queue``)."""
    done = Assessment.objects.filter(
        run=OuterRef("pk"),
        policy_version=version,
        run_content_hash=OuterRef("facts_hash"),
    )
    return runs_in_scope(version.policy).exclude(Exists(done))


def awaiting_run_ids(version: PolicyVersion) -> QuerySet[Run, Any]:
    """``runs_needing_assessment`` as a subquery of primary keys (``pk__in=``)."""
    return runs_needing_assessment(version).order_by().values("pk")


def queued_run_ids(version: PolicyVersion) -> set[int]:
    """Runs sitting in an open (queued or running) batch under ``version``:
    a worker will assess them, whatever their content is by then."""
    rows = AssessmentBatch.objects.filter(
        request__policy_version=version, status__in=OPEN_STATUSES
    ).values_list("run_ids", flat=True)
    return {int(pk) for run_ids in rows for pk in run_ids}


def runs_to_queue(
    version: PolicyVersion,
    *,
    source_name: str | None = None,
    experiment_name: str | None = None,
) -> list[int]:
    """The primary keys, ascending, of the runs a new request under ``version``
    should hold: those needing assessment that no open batch holds already.
    Two queries; the set difference is done here, not in an ``IN`` list that
    could outgrow the database's limit on parameters."""
    runs = runs_needing_assessment(version)
    if source_name:
        runs = runs.filter(source__name=source_name)
    if experiment_name:
        runs = runs.filter(experiment__name=experiment_name)
    queued = queued_run_ids(version)
    return [pk for pk in runs.order_by("pk").values_list("pk", flat=True) if pk not in queued]


def open_requests(*, policy: Policy | None = None) -> list[AssessmentRequest]:
    """Requests with a batch still queued or running (of one policy, if given), oldest first."""
    requests = AssessmentRequest.objects.filter(
        Exists(AssessmentBatch.objects.filter(request=OuterRef("pk"), status__in=OPEN_STATUSES))
    )
    if policy is not None:
        requests = requests.filter(policy_version__policy=policy)
    return list(requests.order_by("created_at", "id"))


def verdicts_in_scope(
    *,
    policy: Policy | None = None,
    source_name: str | None = None,
    experiment_name: str | None = None,
) -> dict[str, int]:
    """How the visible runs stand now, by verdict, under the current version of
    each active policy (or of ``policy``), counting one run once per policy."""
    policies = [policy] if policy is not None else list(Policy.objects.filter(is_active=True))
    versions = [v.pk for v in (p.current_version() for p in policies) if v is not None]
    runs = Run.objects.visible()
    if source_name:
        runs = runs.filter(source__name=source_name)
    if experiment_name:
        runs = runs.filter(experiment__name=experiment_name)
    rows = (
        Assessment.objects.filter(is_current=True, policy_version__in=versions, run__in=runs)
        .values("verdict")
        .annotate(count=Count("pk"))
        .order_by()
    )
    return {row["verdict"]: row["count"] for row in rows}


def stale_batches(*, older_than: dt.timedelta) -> QuerySet[AssessmentBatch]:
    """Running batches whose worker stopped reporting: lost with their worker."""
    cutoff = timezone.now() - older_than
    return AssessmentBatch.objects.filter(
        status=AssessmentBatch.Status.RUNNING, heartbeat_at__lt=cutoff
    )


# --------------------------------------------------------------------------- progress


@dataclass(frozen=True)
class RequestProgress:
    """How far the batches of one assessment request are."""

    request: AssessmentRequest
    total: int
    done: int
    failed_batches: int
    open_batches: int  # queued, not queued or running
    unqueued_batches: int = 0  # the job queue could not take them (yet)
    queue_error: str = ""  # why, when unqueued_batches

    @property
    def percent(self) -> int:
        return 100 if not self.total else min(100, int(100 * self.done / self.total))

    @property
    def is_open(self) -> bool:
        return self.open_batches > 0


def request_progress(requests: Sequence[AssessmentRequest]) -> list[RequestProgress]:
    """The progress of each request, in its order, in one query however many."""
    if not requests:
        return []
    rows = (
        AssessmentBatch.objects.filter(request__in=requests)
        .order_by()
        .values("request_id")
        .annotate(
            done=Sum("done"),
            failed=Count("pk", filter=Q(status=AssessmentBatch.Status.FAILED)),
            open=Count("pk", filter=Q(status__in=OPEN_STATUSES)),
            unqueued=Count("pk", filter=Q(status=AssessmentBatch.Status.UNQUEUED)),
            queue_error=Max("error", filter=Q(status=AssessmentBatch.Status.UNQUEUED)),
        )
    )
    by_request: dict[int, dict[str, Any]] = {row["request_id"]: row for row in rows}
    progress = []
    for request in requests:
        row = by_request.get(request.pk, {})
        progress.append(
            RequestProgress(
                request=request,
                total=request.total,
                done=min(row.get("done") or 0, request.total),
                failed_batches=row.get("failed") or 0,
                open_batches=row.get("open") or 0,
                unqueued_batches=row.get("unqueued") or 0,
                queue_error=row.get("queue_error") or "",
            )
        )
    return progress


def assessment_activity(*, limit: int = ACTIVITY_REQUESTS) -> list[RequestProgress]:
    """The latest assessment requests and their progress, in two queries."""
    requests = list(
        AssessmentRequest.objects.select_related("policy_version__policy", "requested_by").order_by(
            "-created_at", "-id"
        )[:limit]
    )
    return request_progress(requests)


# --------------------------------------------------------------------------- work needing attention


def overdue_batches(*, now: dt.datetime | None = None) -> QuerySet[AssessmentBatch]:
    """Batches past ``GOVDASH_ASSESS_STALE_SECONDS``: running without a
    heartbeat, or queued (since they were last put on the queue) and not
    started; and every batch the job queue could not take. The one definition
    the assessment pages and the count in ``/healthz`` share
    (docs/operations.md, Recovery)."""
    stale = (now or timezone.now()) - dt.timedelta(seconds=settings.ASSESS_STALE_SECONDS)
    running = Q(status=AssessmentBatch.Status.RUNNING) & (
        Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True)
    )
    queued = Q(status=AssessmentBatch.Status.QUEUED) & (
        Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True, request__created_at__lt=stale)
    )
    return AssessmentBatch.objects.filter(
        running | queued | Q(status=AssessmentBatch.Status.UNQUEUED)
    )


def _overdue_reason(batch: AssessmentBatch, seconds: int) -> str:
    if batch.status == AssessmentBatch.Status.RUNNING:
        return (
            f"running, no progress reported for over {seconds} s: its worker may be gone; "
            "the maintenance tick queues it again"
        )
    if batch.status == AssessmentBatch.Status.UNQUEUED:
        return f"not queued: {batch.error}; queued again once the job queue is back"
    return (
        f"queued for over {seconds} s and not started: is a worker listening on the assess queue?"
    )


def _policy(batch: AssessmentBatch) -> str:
    version = batch.request.policy_version
    return f"{version.policy.name} v{version.number}"


def batches_needing_attention(*, limit: int = ATTENTION_ROWS) -> list[WorkAttention]:
    """Assessment batches overdue now, then what recovery did to batches lately
    (when and why, from the audit trail), in two queries however many there are."""
    now = timezone.now()
    seconds = settings.ASSESS_STALE_SECONDS
    overdue = (
        overdue_batches(now=now)
        .select_related("request__policy_version__policy")
        .defer("run_ids")
        .order_by("request__created_at", "pk")[:limit]
    )
    items = [
        WorkAttention(
            what=f"Batch #{batch.pk} of assessment request #{batch.request_id} ({_policy(batch)})",
            state="overdue",
            at=batch.heartbeat_at or batch.request.created_at,
            reason=_overdue_reason(batch, seconds),
        )
        for batch in overdue
    ]
    recovered = recent_events(
        actions=(ReportsAction.ASSESS_RECOVER,), since=now - RECOVERED_SHOWN_FOR, limit=limit
    )
    for event in recovered:
        batches = event.data.get("batches") or []
        which = ", ".join(f"#{pk}" for pk in batches)
        items.append(
            WorkAttention(
                what=f"Batch{'es' if len(batches) != 1 else ''} {which} of assessment request "
                f"#{event.target_id}",
                state=str(event.data.get("action", "")),
                at=event.timestamp,
                reason=str(event.data.get("reason", "")),
            )
        )
    return items
