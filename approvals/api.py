"""Promotion requests and the CI gate, mounted at /api/v1/ by govdash.api
(../shared/design/CONTRACT.md, "Promotion requests"; docs/approvals.md).

The rights decide who may call an endpoint; the workflow's rules (requester,
trainer, one vote per person, stage roles and teams) are the services'.
"""

# No ``from __future__ import annotations``: ninja resolves a paginated
# endpoint's parameters in ninja.pagination's globals.

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from approvals import selectors, services
from approvals.errors import GateFailed, WorkflowUnsatisfiable
from approvals.models import PromotionRequest
from approvals.permissions import (
    REQUEST_PROMOTION,
    RETRY_PROMOTION,
    REVIEW_PROMOTION,
    WITHDRAW_PROMOTION,
)
from kernel.api import AnswerWith, ErrorOut, LimitOffsetPage

router = Router(tags=["approvals"])


# --------------------------------------------------------------------------- schemas


class VoteOut(Schema):
    user: str
    role: str
    decision: str
    at: str
    comment: str

    @staticmethod
    def resolve_user(vote: Any) -> str:
        return str(vote.user.get_username())

    @staticmethod
    def resolve_at(vote: Any) -> str:
        return str(vote.at.isoformat())


class StageOut(Schema):
    name: str
    required: int
    state: str = Field(description="waiting, open, approved, rejected or skipped")
    votes: list[VoteOut]


class GateOut(Schema):
    name: str
    passed: bool
    detail: str


class PromotionOut(Schema):
    id: int
    status: str
    promotion: str
    source: str
    model: str
    version: str
    environment: str
    rollback: bool
    requested_by: str
    justification: str
    stages: list[StageOut]
    gates: list[GateOut]
    snapshot_sha256: str
    closed_reason: str

    @staticmethod
    def resolve_source(request: PromotionRequest) -> str:
        return request.version.model.source.name

    @staticmethod
    def resolve_model(request: PromotionRequest) -> str:
        return request.version.model.name

    @staticmethod
    def resolve_version(request: PromotionRequest) -> str:
        return request.version.version

    @staticmethod
    def resolve_environment(request: PromotionRequest) -> str:
        return request.environment.name

    @staticmethod
    def resolve_requested_by(request: PromotionRequest) -> str:
        return str(request.requested_by.get_username())

    @staticmethod
    def resolve_stages(request: PromotionRequest) -> list[Any]:
        return selectors.stage_views(request)

    @staticmethod
    def resolve_gates(request: PromotionRequest) -> list[Any]:
        return list(request.final_gates or request.gates or [])


class PromotionIn(Schema):
    source: str
    model: str
    version: str = ""
    environment: str
    justification: str
    rollback: bool = False


class VoteIn(Schema):
    comment: str = ""


class CommentIn(Schema):
    body: str


class CommentOut(Schema):
    id: int
    user: str
    body: str
    at: str

    @staticmethod
    def resolve_user(comment: Any) -> str:
        return str(comment.user.get_username())

    @staticmethod
    def resolve_at(comment: Any) -> str:
        return str(comment.at.isoformat())


class ListQuery(Schema):
    status: str | None = Field(None, description="open, approved, rejected, ...")
    environment: str | None = None
    mine: bool = Field(False, description="Only the caller's own requests.")


class RefusedOut(ErrorOut):
    """A 422: a gate failed or the workflow cannot be completed (``reasons``, each
    in words), or the body was malformed (``detail`` lists the fields, no reasons)."""

    reasons: list[str] = Field(default_factory=list)


class GateAnswerOut(Schema):
    approved: bool
    version: str
    environment: str
    request: int | None = None
    promoted_at: str | None = None
    reasons: list[str] | None = None
    detail: str | None = Field(None, description="Not approved: why, in one line.")


class GateQuery(Schema):
    source: str
    model: str
    environment: str
    version: str | None = None


# --------------------------------------------------------------------------- endpoints


def _require(request: HttpRequest, right: str, obj: Any = None, message: str = "") -> None:
    if not request.user.has_perm(right, obj):
        raise PermissionDenied(message or "Your roles do not allow this.")


@router.post(
    "/promotions",
    response={201: PromotionOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: RefusedOut},
    summary="Ask to promote (or roll back) a model version to an environment",
)
def create_promotion(request: HttpRequest, body: PromotionIn) -> Status[Any]:
    _require(request, REQUEST_PROMOTION, message="Only ML engineers and admins request promotions.")
    try:
        created = services.promotion_request(
            actor=request.user,  # type: ignore[arg-type]
            source=body.source,
            model=body.model,
            version=body.version,
            environment=body.environment,
            justification=body.justification,
            rollback=body.rollback,
        )
    except (GateFailed, WorkflowUnsatisfiable) as exc:
        raise AnswerWith(exc, reasons=exc.reasons) from None
    return Status(201, selectors.request_by_id(created.pk))


@router.get("/promotions", response=list[PromotionOut], summary="Promotion requests")
@paginate(LimitOffsetPage)
def list_promotions(request: HttpRequest, query: Query[ListQuery]) -> QuerySet[PromotionRequest]:
    return selectors.requests_list(
        status=query.status or "",
        environment=query.environment or "",
        mine=request.user if query.mine else None,
    )


@router.get(
    "/promotions/{request_id}",
    response={200: PromotionOut, 404: ErrorOut},
    summary="One promotion request",
)
def get_promotion(request: HttpRequest, request_id: int) -> PromotionRequest:
    return selectors.request_by_id(request_id)


def _vote(request: HttpRequest, request_id: int, decision: str, comment: str) -> PromotionRequest:
    _require(request, REVIEW_PROMOTION, message="Only reviewers, officers and admins vote.")
    services.promotion_vote(
        actor=request.user,  # type: ignore[arg-type]
        request_id=request_id,
        decision=decision,
        comment=comment,
    )
    return selectors.request_by_id(request_id)


@router.post(
    "/promotions/{request_id}/approve",
    response={200: PromotionOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    summary="Approve the open stage",
)
def approve(request: HttpRequest, request_id: int, body: VoteIn) -> PromotionRequest:
    return _vote(request, request_id, "approve", body.comment)


@router.post(
    "/promotions/{request_id}/reject",
    response={200: PromotionOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    summary="Reject the request (a comment is required)",
)
def reject(request: HttpRequest, request_id: int, body: VoteIn) -> PromotionRequest:
    return _vote(request, request_id, "reject", body.comment)


@router.post(
    "/promotions/{request_id}/withdraw",
    response={200: PromotionOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
    summary="Withdraw one's own open request",
)
def withdraw(request: HttpRequest, request_id: int) -> PromotionRequest:
    found = selectors.request_by_id(request_id)
    _require(request, WITHDRAW_PROMOTION, found, "Only the requester may withdraw a request.")
    services.promotion_withdraw(actor=request.user, request_id=request_id)  # type: ignore[arg-type]
    return selectors.request_by_id(request_id)


@router.post(
    "/promotions/{request_id}/retry",
    response={200: PromotionOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
    summary="Retry the delivery of an approved promotion that failed",
)
def retry(request: HttpRequest, request_id: int) -> PromotionRequest:
    _require(request, RETRY_PROMOTION, message="Only admins retry promotions.")
    services.promotion_retry(actor=request.user, request_id=request_id)  # type: ignore[arg-type]
    return selectors.request_by_id(request_id)


@router.post(
    "/promotions/{request_id}/comments",
    response={201: CommentOut, 404: ErrorOut, 422: ErrorOut},
    summary="Comment on a request (anyone signed in)",
)
def comment(request: HttpRequest, request_id: int, body: CommentIn) -> Status[Any]:
    made = services.promotion_comment(
        actor=request.user,  # type: ignore[arg-type]
        request_id=request_id,
        body=body.body,
    )
    return Status(201, made)


@router.get(
    "/gate",
    response={200: GateAnswerOut, 403: GateAnswerOut, 404: ErrorOut},
    summary="CI gate: is this version approved for this environment right now?",
)
def gate(request: HttpRequest, query: Query[GateQuery]) -> Status[Any]:
    answer = selectors.gate(
        source=query.source,
        model=query.model,
        environment=query.environment,
        version=query.version,
    )
    return Status(200 if answer.approved else 403, answer.as_dict())
