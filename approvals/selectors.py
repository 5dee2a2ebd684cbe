"""Reads of the promotion workflow for pages and the API (writes: approvals.services)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Prefetch, QuerySet

from approvals.models import Environment, PromotionRequest, Vote
from kernel.roles import roles_of
from tracking.models import ModelVersion

INBOX_LIMIT = 200


def requests_base() -> QuerySet[PromotionRequest]:
    """Requests with what every list shows, in one query."""
    return PromotionRequest.objects.select_related(
        "environment", "version__model__source", "requested_by"
    )


def request_detail(pk: int) -> PromotionRequest:
    """One request with its votes, comments and deliveries (raises DoesNotExist)."""
    return (
        requests_base()
        .select_related("replaces_version", "policy_version__policy")
        .prefetch_related(
            Prefetch("votes", queryset=Vote.objects.select_related("user")),
            "comments__user",
            "deliveries",
        )
        .get(pk=pk)
    )


@dataclass
class StageView:
    index: int
    name: str
    required: int
    roles: list[str]
    state: str  # passed, open, waiting, rejected, closed
    votes: list[Vote] = field(default_factory=list)

    @property
    def approvals(self) -> int:
        return sum(1 for vote in self.votes if vote.decision == Vote.Decision.APPROVE)


def stage_views(request: PromotionRequest, votes: Iterable[Vote] | None = None) -> list[StageView]:
    """The request's frozen stages with their votes and where each stands."""
    all_votes = list(request.votes.all() if votes is None else votes)
    is_open = request.status == PromotionRequest.Status.OPEN
    views: list[StageView] = []
    for index, stage in enumerate(request.workflow):
        stage_votes = [vote for vote in all_votes if vote.stage_index == index]
        if any(vote.decision == Vote.Decision.REJECT for vote in stage_votes):
            state = "rejected"
        elif index < request.stage_index:
            state = "passed"
        elif index == request.stage_index and is_open:
            state = "open"
        elif is_open:
            state = "waiting"
        else:
            state = "closed"
        views.append(
            StageView(
                index=index,
                name=str(stage.get("name", "")),
                required=int(stage.get("required", 1)),
                roles=[str(role) for role in stage.get("roles", [])],
                state=state,
                votes=stage_votes,
            )
        )
    return views


def open_stage_roles(request: PromotionRequest) -> list[str]:
    if request.status != PromotionRequest.Status.OPEN:
        return []
    if request.stage_index >= len(request.workflow):
        return []
    return [str(role) for role in request.workflow[request.stage_index].get("roles", [])]


def requests_of(user: Any) -> QuerySet[PromotionRequest]:
    """What ``user`` asked for, newest first."""
    return requests_base().filter(requested_by=user)


def version_promotions(version: ModelVersion) -> list[tuple[Environment, list[PromotionRequest]]]:
    """Every environment with this version's requests to it (newest first)."""
    requests = list(requests_base().filter(version=version))
    by_environment: dict[int, list[PromotionRequest]] = {}
    for item in requests:
        by_environment.setdefault(item.environment_id, []).append(item)
    return [
        (environment, by_environment.get(environment.pk, []))
        for environment in Environment.objects.all()
    ]


def awaiting_review(user: Any) -> list[PromotionRequest]:
    """Open requests whose open stage ``user`` may vote in now (oldest first).

    A first cut in the database (the open stage names one of the user's roles,
    not their own request, no vote of theirs yet), then the full eligibility
    rule of ``eligible_voters`` (trainer, team) on the few that remain.
    """
    roles = roles_of(user)
    if not roles:
        return []
    candidates = (
        requests_base()
        .filter(status=PromotionRequest.Status.OPEN)
        .exclude(requested_by=user)
        .exclude(votes__user=user)
        .select_related("version__run")
        .order_by("created_at", "id")[:INBOX_LIMIT]
    )
    found = []
    for candidate in candidates:
        if not roles.intersection(open_stage_roles(candidate)):
            continue
        if eligible_voters(candidate).filter(pk=user.pk).exists():
            found.append(candidate)
    return found
