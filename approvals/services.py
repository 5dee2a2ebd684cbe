"""Every write of the approval workflow (docs/approvals.md).

A request's ``status`` and ``promotion`` change only through ``_transition``:
it locks the row, checks the move against ``STATUS_MOVES``/``PROMOTION_MOVES``,
writes, and records the audit event in the same transaction. The workflow's
rules (the requester and the trainer never approve, one vote per person,
sequential stages, stage roles and teams, a comment on every rejection) are
checked here for everyone, superusers included: ``has_perm`` answers yes for
a superuser, so it cannot be the only check.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from approvals import gates as gate_checks
from approvals import selectors, snapshot
from approvals.audit_actions import ApprovalsAction
from approvals.errors import (
    CommentRequired,
    GateFailed,
    NotEligible,
    WorkflowUnsatisfiable,
)
from approvals.models import Comment, Environment, PromotionRequest, Stage, Vote
from approvals.permissions import (
    REQUEST_PROMOTION,
    RETRY_PROMOTION,
    REVIEW_PROMOTION,
    WITHDRAW_PROMOTION,
)
from audit.actors import SystemActor
from audit.models import AuditEvent
from audit.services import record
from kernel.env import env_int
from kernel.errors import Conflict
from kernel.queues import enqueue
from tracking.models import ModelVersion

__all__ = [
    "CommentRequired",
    "GateFailed",
    "NotEligible",
    "WorkflowUnsatisfiable",
    "promotion_comment",
    "promotion_delivered",
    "promotion_expire_due",
    "promotion_invalidate_changed",
    "promotion_request",
    "promotion_retry",
    "promotion_vote",
    "promotion_withdraw",
]

log = logging.getLogger(__name__)

Status = PromotionRequest.Status
Promotion = PromotionRequest.Promotion

DELIVER_JOB = "approvals.jobs.deliver_promotion_job"
NOTIFY_JOB = "approvals.jobs.notify_job"

# The only moves a request's status and promotion may make; ``None`` = unchanged.
STATUS_MOVES: frozenset[tuple[str, str]] = frozenset(
    (Status.OPEN, to)
    for to in (
        Status.APPROVED,
        Status.REJECTED,
        Status.WITHDRAWN,
        Status.EXPIRED,
        Status.INVALIDATED,
    )
)
PROMOTION_MOVES: frozenset[tuple[str, str]] = frozenset(
    {
        (Promotion.NONE, Promotion.PENDING),  # approved: deliver
        (Promotion.PENDING, Promotion.DONE),
        (Promotion.PENDING, Promotion.FAILED),
        (Promotion.FAILED, Promotion.PENDING),  # an admin retries
    }
)


def expiry_days() -> int:
    return env_int("GOVDASH_PROMOTION_EXPIRY_DAYS", 30, minimum=1)


# --------------------------------------------------------------------------- the one transition


def _transition(
    request: PromotionRequest,
    *,
    action: ApprovalsAction,
    status: str | None = None,
    promotion: str | None = None,
    actor: Any = None,
    system_actor: SystemActor | None = None,
    reason: str = "",
    data: dict[str, Any] | None = None,
    fields: dict[str, Any] | None = None,
    outcome: AuditEvent.Outcome = AuditEvent.Outcome.SUCCESS,
    now: dt.datetime | None = None,
) -> PromotionRequest:
    """Lock the request, check the move, write it and its audit event (one transaction).

    ``fields`` are further columns written with the move (the stage index,
    the final gates, the delivery detail). Raises Conflict when the move is
    not allowed from the request's current state.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("_transition must run inside a transaction")
    locked = PromotionRequest.objects.select_for_update().get(pk=request.pk)
    when = now or timezone.now()
    changes: dict[str, Any] = dict(fields or {})
    if status is not None:
        if (locked.status, status) not in STATUS_MOVES:
            raise Conflict(f"request #{locked.pk} is {locked.status}: it cannot become {status}")
        changes["status"] = status
        changes["closed_at"] = when
        if reason:
            changes["closed_reason"] = reason
    if promotion is not None:
        if (locked.promotion, promotion) not in PROMOTION_MOVES:
            raise Conflict(
                f"request #{locked.pk}'s promotion is {locked.promotion}: "
                f"it cannot become {promotion}"
            )
        effective_status = changes.get("status", locked.status)
        if effective_status != Status.APPROVED:
            raise Conflict(f"request #{locked.pk} is {effective_status}: nothing to promote")
        changes["promotion"] = promotion
    if status is None and promotion is None and locked.status != Status.OPEN:
        raise Conflict(f"request #{locked.pk} is {locked.status}, not open")
    for name, value in changes.items():
        setattr(locked, name, value)
    if changes:
        locked.save(update_fields=list(changes))
    record(
        action=action,
        actor=actor,
        system_actor=system_actor if actor is None else None,
        target=locked,
        outcome=outcome,
        data={
            "request": locked.pk,
            "environment": locked.environment.name,
            "model": locked.version.model.name,
            "version": locked.version.version,
            "status": locked.status,
            "promotion": locked.promotion,
            **({"reason": reason} if reason else {}),
            **(data or {}),
        },
    )
    return locked


def _on_commit_enqueue(func: str, *args: Any) -> None:
    def send() -> None:
        try:
            enqueue("default", func, *args)
        except Exception:  # the queue is down: the reconcile loop re-enqueues pending promotions
            log.warning("could not queue %s%r", func, args, exc_info=True)

    transaction.on_commit(send)


def _notify(request: PromotionRequest, event: str) -> None:
    _on_commit_enqueue(NOTIFY_JOB, request.pk, event)


def _username(user: Any) -> str:
    return str(user.get_username())


# --------------------------------------------------------------------------- requesting


def _refuse(
    *,
    actor: Any,
    version: ModelVersion,
    environment: Environment,
    rollback: bool,
    reasons: list[str],
    error: Exception,
) -> None:
    """Record the refusal (its own transaction: the refusal itself commits) and raise."""
    with transaction.atomic():
        record(
            action=ApprovalsAction.REQUEST_REFUSED,
            actor=actor,
            target=version,
            outcome=AuditEvent.Outcome.DENIED,
            data={
                "environment": environment.name,
                "model": version.model.name,
                "version": version.version,
                "rollback": rollback,
                "reasons": reasons,
            },
        )
    raise error


def promotion_request(
    *,
    actor: User,
    source: str,
    model: str,
    version: str,
    environment: str,
    justification: str,
    rollback: bool = False,
) -> PromotionRequest:
    """Ask to promote a version to an environment (or, with ``rollback``, to
    re-point the environment to the version promoted before the current one).

    Freezes the workflow and the evidence snapshot. Raises GateFailed (every
    failing gate), WorkflowUnsatisfiable, Conflict (an open request for this
    version and environment exists; nothing to roll back to), NotFound.
    """
    if not actor.has_perm(REQUEST_PROMOTION):
        raise NotEligible("your roles do not include requesting promotions")
    justification = (justification or "").strip()
    if not justification:
        raise CommentRequired("a promotion request needs a justification")
    env = selectors.environment_named(environment)
    replaces: ModelVersion | None = None
    if rollback:
        registered = selectors.model_named(source=source, model=model)
        current, previous = selectors.previous_promoted_version(env, registered)
        if current is None or previous is None:
            raise Conflict(
                f"{model!r} has no earlier promoted version in {env.name} to roll back to"
            )
        if version and version not in (current.version, previous.version):
            raise Conflict(
                f"a rollback of {model!r} in {env.name} re-points it to v{previous.version} "
                f"(the version before v{current.version}), not v{version}"
            )
        target = selectors.version_named(source=source, model=model, version=previous.version)
        replaces = current
    else:
        target = selectors.version_named(source=source, model=model, version=version)
    workflow_kind = Stage.Workflow.ROLLBACK if rollback else Stage.Workflow.PROMOTION
    workflow = selectors.stage_definitions(env, workflow_kind)
    results = gate_checks.check(target, env)
    failing = gate_checks.failures(results)
    if failing:
        _refuse(
            actor=actor,
            version=target,
            environment=env,
            rollback=rollback,
            reasons=failing,
            error=GateFailed(failing),
        )
    problems = selectors.workflow_problems(
        workflow,
        version=target,
        excluded=selectors.request_exclusions(requester=actor, version=target),
    )
    if problems:
        _refuse(
            actor=actor,
            version=target,
            environment=env,
            rollback=rollback,
            reasons=problems,
            error=WorkflowUnsatisfiable(problems),
        )
    now = timezone.now()
    text, digest = snapshot.build(
        version=target,
        environment=env,
        requester=_username(actor),
        justification=justification,
        rollback=rollback,
        gates=results,
        workflow=workflow,
        at=now,
    )
    compliance = selectors.run_compliance_now(target.run)
    try:
        with transaction.atomic():
            created = PromotionRequest.objects.create(
                environment=env,
                version=target,
                rollback=rollback,
                replaces_version=replaces,
                requested_by=actor,
                justification=justification,
                created_at=now,
                expires_at=now + dt.timedelta(days=expiry_days()),
                workflow=workflow,
                gates=results,
                snapshot=text,
                snapshot_sha256=digest,
                facts_digest=selectors.facts_digest(target),
                policy_version=compliance.policy_version,
            )
            record(
                action=ApprovalsAction.REQUEST,
                actor=actor,
                target=created,
                data={
                    "request": created.pk,
                    "environment": env.name,
                    "model": target.model.name,
                    "version": target.version,
                    "rollback": rollback,
                    "replaces_version": replaces.version if replaces else None,
                    "snapshot_sha256": digest,
                    "stages": [stage["name"] for stage in workflow],
                },
            )
            _notify(created, "stage_open")
    except IntegrityError:
        raise Conflict(
            f"an open request to promote {model!r} v{target.version} to {env.name} already exists"
        ) from None
    return created


# --------------------------------------------------------------------------- voting


def _complete(
    request: PromotionRequest, *, actor: Any, vote_data: dict[str, Any]
) -> PromotionRequest:
    """The last stage is complete: the final gates decide approved (and
    pending promotion) or invalidated."""
    final = gate_checks.check_final(request.version, request.environment, request.facts_digest)
    failing = gate_checks.failures(final)
    fields: dict[str, Any] = {"final_gates": final, "stage_index": len(request.workflow)}
    if failing:
        changed = selectors.facts_changes(
            selectors.snapshot_facts(request), selectors.version_facts(request.version)
        )
        done = _transition(
            request,
            action=ApprovalsAction.INVALIDATE,
            status=Status.INVALIDATED,
            actor=actor,
            reason="a gate failed when the last stage completed: " + "; ".join(failing),
            data={**vote_data, "gates": failing, "changes": changed},
            fields=fields,
            outcome=AuditEvent.Outcome.FAILURE,
        )
        _notify(done, "decision")
        return done
    approvers = list(
        Vote.objects.filter(request=request, decision=Vote.Decision.APPROVE)
        .order_by("at", "id")
        .values_list("user__username", flat=True)
    )
    done = _transition(
        request,
        action=ApprovalsAction.APPROVED,
        status=Status.APPROVED,
        promotion=Promotion.PENDING,
        actor=actor,
        reason="every stage approved and the final gates held",
        data={**vote_data, "approvers": approvers},
        fields=fields,
    )
    _on_commit_enqueue(DELIVER_JOB, done.pk)
    _notify(done, "decision")
    return done


@transaction.atomic
def promotion_vote(
    *, actor: User, request_id: int, decision: str, comment: str
) -> PromotionRequest:
    """Approve or reject the open stage of a request.

    NotEligible (the reason in words) for the requester, the trainer, a second
    vote, a role or team the open stage does not accept; Conflict when the
    request is not open; CommentRequired for a rejection without a comment.
    """
    if decision not in Vote.Decision.values:
        raise CommentRequired(f"decision must be approve or reject, not {decision!r}")
    comment = (comment or "").strip()
    if decision == Vote.Decision.REJECT and not comment:
        raise CommentRequired("a rejection needs a comment saying why")
    selectors.request_by_id(request_id)  # NotFound first
    request = (
        PromotionRequest.objects.select_for_update()
        .select_related("environment", "version__model__source", "version__run")
        .get(pk=request_id)
    )
    if request.status != Status.OPEN:
        raise Conflict(f"request #{request.pk} is {request.status}, not open")
    if not actor.has_perm(REVIEW_PROMOTION):
        raise NotEligible("your roles do not include reviewing promotions")
    verdict = selectors.eligibility(request, actor)
    if not verdict.eligible:
        raise NotEligible(verdict.reason)
    stage = request.workflow[request.stage_index]
    try:
        with transaction.atomic():
            vote = Vote.objects.create(
                request=request,
                stage_index=request.stage_index,
                stage_name=stage["name"],
                user=actor,
                role=verdict.role,
                decision=decision,
                comment=comment,
            )
    except IntegrityError:
        raise NotEligible(
            "you already voted on this request: a person votes once per request"
        ) from None
    vote_data = {
        "stage": stage["name"],
        "stage_index": request.stage_index,
        "role": verdict.role,
        "decision": decision,
        "comment": comment,
        "vote": vote.pk,
    }
    if decision == Vote.Decision.REJECT:
        done = _transition(
            request,
            action=ApprovalsAction.REJECT,
            status=Status.REJECTED,
            actor=actor,
            reason=f"rejected by {_username(actor)} at stage {stage['name']!r}: {comment}",
            data=vote_data,
        )
        _notify(done, "decision")
        return done
    approvals = Vote.objects.filter(
        request=request, stage_index=request.stage_index, decision=Vote.Decision.APPROVE
    ).count()
    required = int(stage.get("required") or 1)
    vote_data["approvals"] = f"{approvals}/{required}"
    if approvals < required:
        return _transition(request, action=ApprovalsAction.APPROVE, actor=actor, data=vote_data)
    if request.stage_index + 1 < len(request.workflow):
        advanced = _transition(
            request,
            action=ApprovalsAction.APPROVE,
            actor=actor,
            data={**vote_data, "stage_complete": True},
            fields={"stage_index": request.stage_index + 1},
        )
        _notify(advanced, "stage_open")
        return advanced
    record(
        action=ApprovalsAction.APPROVE,
        actor=actor,
        target=request,
        data={**vote_data, "request": request.pk, "stage_complete": True},
    )
    return _complete(request, actor=actor, vote_data={"last_vote": vote.pk})


@transaction.atomic
def promotion_withdraw(*, actor: User, request_id: int) -> PromotionRequest:
    """The requester (and only the requester, superusers included) withdraws an open request."""
    request = selectors.request_by_id(request_id)
    if request.requested_by_id != actor.pk:
        raise NotEligible("only the requester may withdraw a request")
    if not actor.has_perm(WITHDRAW_PROMOTION, request):
        raise NotEligible("your roles do not include withdrawing promotion requests")
    done = _transition(
        request,
        action=ApprovalsAction.WITHDRAW,
        status=Status.WITHDRAWN,
        actor=actor,
        reason=f"withdrawn by {_username(actor)}",
    )
    return done


@transaction.atomic
def promotion_comment(*, actor: User, request_id: int, body: str) -> Comment:
    """Anyone signed in may discuss a request; the comment is audited."""
    body = (body or "").strip()
    if not body:
        raise CommentRequired("a comment cannot be empty")
    request = selectors.request_by_id(request_id)
    comment = Comment.objects.create(request=request, user=actor, body=body)
    record(
        action=ApprovalsAction.COMMENT,
        actor=actor,
        target=request,
        data={"request": request.pk, "comment": comment.pk, "body": body},
    )
    return comment


# --------------------------------------------------------------------------- housekeeping


def promotion_expire_due(*, now: dt.datetime | None = None) -> int:
    """Expire open requests past their ``expires_at``; how many (the scheduler's tick)."""
    when = now or timezone.now()
    due = list(
        PromotionRequest.objects.filter(status=Status.OPEN, expires_at__lte=when).values_list(
            "pk", flat=True
        )
    )
    expired = 0
    for pk in due:
        try:
            with transaction.atomic():
                request = PromotionRequest.objects.get(pk=pk)
                done = _transition(
                    request,
                    action=ApprovalsAction.EXPIRE,
                    status=Status.EXPIRED,
                    system_actor=SystemActor.SYSTEM,
                    reason=f"no decision within {expiry_days()} days",
                    data={"expires_at": request.expires_at.isoformat()},
                    now=when,
                )
                _notify(done, "decision")
                expired += 1
        except Conflict:
            continue  # decided meanwhile
    return expired


def promotion_invalidate_changed(*, source_id: int) -> int:
    """Invalidate the open requests of a source whose version or run changed
    since the snapshot (after a sync); how many."""
    candidates = PromotionRequest.objects.filter(
        status=Status.OPEN, version__model__source_id=source_id
    ).select_related("version__run", "version__model", "environment")
    invalidated = 0
    for request in candidates:
        if selectors.facts_digest(request.version) == request.facts_digest:
            continue
        changes = selectors.facts_changes(
            selectors.snapshot_facts(request), selectors.version_facts(request.version)
        )
        try:
            with transaction.atomic():
                done = _transition(
                    request,
                    action=ApprovalsAction.INVALIDATE,
                    status=Status.INVALIDATED,
                    system_actor=SystemActor.SYNC,
                    reason="changed since the snapshot: "
                    + ("; ".join(changes) or "the version's facts differ"),
                    data={"changes": changes},
                    outcome=AuditEvent.Outcome.FAILURE,
                )
                _notify(done, "decision")
                invalidated += 1
        except Conflict:
            continue
    return invalidated


# --------------------------------------------------------------------------- delivery


@transaction.atomic
def promotion_delivered(*, request_id: int, succeeded: bool, detail: str) -> PromotionRequest:
    """The delivery job's outcome: pending -> done (promoted_at set) or failed.
    A failure never touches ``status``: the approval stays."""
    request = selectors.request_by_id(request_id)
    now = timezone.now()
    done = _transition(
        request,
        action=ApprovalsAction.DELIVER,
        promotion=Promotion.DONE if succeeded else Promotion.FAILED,
        system_actor=SystemActor.SYSTEM,
        data={"succeeded": succeeded, "detail": detail},
        fields={"promotion_detail": detail, **({"promoted_at": now} if succeeded else {})},
        outcome=AuditEvent.Outcome.SUCCESS if succeeded else AuditEvent.Outcome.FAILURE,
        now=now,
    )
    _notify(done, "decision")
    return done


@transaction.atomic
def promotion_retry(*, actor: User, request_id: int) -> PromotionRequest:
    """An admin puts a failed promotion back to pending and queues its delivery."""
    if not actor.has_perm(RETRY_PROMOTION):
        raise NotEligible("your roles do not include retrying promotions")
    request = selectors.request_by_id(request_id)
    if request.promotion != Promotion.FAILED:
        raise Conflict(f"request #{request.pk}'s promotion is {request.promotion}, not failed")
    done = _transition(
        request,
        action=ApprovalsAction.RETRY,
        promotion=Promotion.PENDING,
        actor=actor,
        data={"previous_detail": request.promotion_detail},
    )
    _on_commit_enqueue(DELIVER_JOB, done.pk)
    return done


# --------------------------------------------------------------------------- environments


def environment_problems(environment: Environment, workflow: str | None = None) -> list[str]:
    """Why an environment's saved workflows cannot be completed by the people
    who exist now (the admin's check on save)."""
    kinds = [workflow] if workflow else [Stage.Workflow.PROMOTION, Stage.Workflow.ROLLBACK]
    problems: list[str] = []
    for kind in kinds:
        stages = selectors.stage_definitions(environment, kind)
        problems += [f"{kind}: {p}" for p in selectors.workflow_problems(stages)]
    return problems


def environment_changed(*, actor: Any, environment: Environment, change: str) -> None:
    record(
        action=ApprovalsAction.ENVIRONMENT_CHANGE,
        actor=actor,
        target=environment,
        data={"environment": environment.name, "change": change},
    )
