"""Promotion requests built directly with the ORM, in any state, for the delivery and
notification tests (which do not depend on how a request got there). The snapshot and
digests are test values."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from approvals.models import Environment, PromotionRequest, Vote
from tests import factories as mirror
from tracking import secrets
from tracking.models import ModelVersion, RegisteredModel, Run, Source

_counter = itertools.count(1)

PRODUCTION_WORKFLOW = [
    {"name": "Compliance review", "required": 1, "roles": ["compliance-officer"]},
    {"name": "Security review", "required": 1, "roles": ["reviewer"]},
    {"name": "Release sign-off", "required": 2, "roles": ["reviewer"]},
]


def user(username: str, *roles: str, email: str | None = None, **fields: Any) -> Any:
    found = get_user_model().objects.filter(username=username).first()
    if found is None:
        address = f"{username}@gov.example" if email is None else email
        found = get_user_model().objects.create_user(
            username=username, password="correct horse battery", email=address, **fields
        )
    for role in roles:
        found.groups.add(Group.objects.get(name=role))
    return found


def source(name: str, url: str, kind: str = Source.Kind.MLFLOW, **fields: Any) -> Source:
    found, _ = Source.objects.update_or_create(
        name=name, defaults={"url": url, "kind": kind, **fields}
    )
    return found


def environment(name: str = "production", **fields: Any) -> Environment:
    secret = fields.pop("secret", None)
    if secret is not None:
        fields["hook_secret_encrypted"] = secrets.encrypt(secret)
    found, _ = Environment.objects.update_or_create(
        name=name,
        defaults={"alias": name, "allowed_classifications": ["public", "official"], **fields},
    )
    return found


def version(
    src: Source,
    model: str,
    number: str = "1",
    *,
    run: Run | None = None,
    tags: dict[str, str] | None = None,
    semver: str = "",
) -> ModelVersion:
    registered, _ = RegisteredModel.objects.get_or_create(
        source=src, name=model, defaults={"content_hash": "0" * 64}
    )
    return ModelVersion.objects.create(
        model=registered,
        version=number,
        run=run,
        mlflow_run_id=run.run_id if run else "",
        status="READY",
        tags=tags if tags is not None else {"department": "risk"},
        semver=semver,
        content_hash=hashlib.sha256(f"{model}/{number}".encode()).hexdigest(),
    )


def trained_run(src: Source, user_id: str = "trainer", **fields: Any) -> Run:
    return mirror.run(mirror.experiment(src), user_id=user_id, **fields)


def promotion_request(
    *,
    version: ModelVersion,
    environment: Environment,
    requester: Any,
    approvers: list[tuple[Any, str, str]] = (),  # type: ignore[assignment]
    status: str = PromotionRequest.Status.APPROVED,
    promotion: str = PromotionRequest.Promotion.PENDING,
    workflow: list[dict[str, Any]] | None = None,
    stage_index: int | None = None,
    approved_at: dt.datetime | None = None,
    **fields: Any,
) -> PromotionRequest:
    """A request; ``approvers`` are (user, stage name, role), voted a minute apart."""
    workflow = PRODUCTION_WORKFLOW if workflow is None else workflow
    now = timezone.now()
    snapshot = f'{{"test":{next(_counter)}}}'
    request = PromotionRequest.objects.create(
        environment=environment,
        version=version,
        requested_by=requester,
        justification="Better recall on the holdout set.",
        status=status,
        promotion=promotion,
        expires_at=now + dt.timedelta(days=30),
        closed_at=approved_at,
        stage_index=len(workflow) if stage_index is None else stage_index,
        workflow=workflow,
        snapshot=snapshot,
        snapshot_sha256=hashlib.sha256(snapshot.encode()).hexdigest(),
        facts_digest="f" * 64,
        **fields,
    )
    stages = [s["name"] for s in workflow]
    for offset, (voter, stage, role) in enumerate(approvers):
        Vote.objects.create(
            request=request,
            stage_index=stages.index(stage) if stage in stages else 0,
            stage_name=stage,
            user=voter,
            role=role,
            decision=Vote.Decision.APPROVE,
            at=now - dt.timedelta(minutes=len(approvers) - offset),
        )
    return request
