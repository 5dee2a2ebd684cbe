"""Demo promotion requests: one in every state, made through the workflow's own
services by the demo users (so the audit trail tells the same story).

- production: one request waiting at each of the three stages;
- staging: a completed promotion whose alias govdash moved in the demo MLflow,
  and a rejected request;
- an out-of-band move: the demo's ``production`` alias moved on the MLflow
  server behind govdash's back, which the next sync reports as an alert.

Idempotent: a state already shown (by an earlier run of the demo) is not made again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth.models import User

from approvals.models import PromotionRequest
from approvals.services import promotion_request, promotion_vote
from kernel.errors import DomainError
from tracking.models import ModelVersion

SOURCE = "demo"
JUSTIFICATION = "Better recall on last quarter's hold-out set; model card updated."


@dataclass(frozen=True)
class _Plan:
    model: str
    version: str
    environment: str
    # (username, decision, comment) in order.
    votes: tuple[tuple[str, str, str], ...]
    label: str


PLANS: tuple[_Plan, ...] = (
    _Plan("fraud-card-xgb", "4", "production", (), "waiting for compliance review"),
    _Plan(
        "benefits-triage-classifier",
        "3",
        "production",
        (("officer", "approve", "Classification and evidence in order."),),
        "waiting for security review",
    ),
    _Plan(
        "call-wait-forecaster",
        "1",
        "production",
        (
            ("officer", "approve", "Public data only."),
            ("reviewer1", "approve", "Dependency scan clean."),
        ),
        "waiting for release sign-off",
    ),
    _Plan(
        "call-wait-forecaster",
        "2",
        "staging",
        (("reviewer1", "approve", "Fine for staging."),),
        "approved and promoted",
    ),
    _Plan(
        "fraud-card-xgb",
        "2",
        "staging",
        (("reviewer2", "reject", "Superseded by v4; promote that instead."),),
        "rejected",
    ),
)


def _user(username: str) -> User:
    return User.objects.get(username=username)


def _exists(plan: _Plan) -> bool:
    return PromotionRequest.objects.filter(
        version__model__source__name=SOURCE,
        version__model__name=plan.model,
        version__version=plan.version,
        environment__name=plan.environment,
    ).exists()


def seed_requests(say: Callable[[str], None]) -> list[PromotionRequest]:
    """Make each planned request (unless one exists) and cast its votes."""
    made = []
    for plan in PLANS:
        if _exists(plan):
            continue
        if not ModelVersion.objects.filter(
            model__source__name=SOURCE, model__name=plan.model, version=plan.version
        ).exists():
            say(f"skipped {plan.model} v{plan.version}: not in the mirror")
            continue
        try:
            request = promotion_request(
                actor=_user("engineer"),
                source=SOURCE,
                model=plan.model,
                version=plan.version,
                environment=plan.environment,
                justification=JUSTIFICATION,
            )
            for username, decision, comment in plan.votes:
                request = promotion_vote(
                    actor=_user(username),
                    request_id=request.pk,
                    decision=decision,
                    comment=comment,
                )
        except DomainError as exc:
            say(f"{plan.model} v{plan.version} to {plan.environment}: refused: {exc}")
            continue
        say(
            f"request #{request.pk}: {plan.model} v{plan.version} "
            f"to {plan.environment}, {plan.label}"
        )
        made.append(request)
    return made


def wait_for_promotions(*, timeout: float = 60.0) -> list[PromotionRequest]:
    """Wait until no approved request's promotion is pending (a worker delivers them)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = PromotionRequest.objects.filter(promotion=PromotionRequest.Promotion.PENDING)
        if not pending.exists():
            break
        time.sleep(0.5)
    return list(
        PromotionRequest.objects.filter(status=PromotionRequest.Status.APPROVED).select_related(
            "version__model", "environment"
        )
    )
