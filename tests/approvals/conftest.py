"""A model version that passes every gate, and the people of the workflow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import User

from reports.services import assess_runs
from tests import factories
from tracking.models import ModelVersion, RegisteredModel, Run, Source

GOOD_TAGS = {
    "classification": "official",
    "compliance": "gdpr",
    "department": "risk",
    "security_scan": "passed",
}


@dataclass
class World:
    source: Source
    model: RegisteredModel
    run: Run
    version: ModelVersion
    policy_version: Any
    engineer: User
    officer: User
    reviewers: list[User]
    admin: User
    trainer: User

    def new_version(self, number: str, **tags: str) -> ModelVersion:
        return make_version(self.model, self.run, number, **tags)


def make_version(model: RegisteredModel, run: Run, number: str, **tags: str) -> ModelVersion:
    return ModelVersion.objects.create(
        model=model,
        version=number,
        run=run,
        mlflow_run_id=run.run_id,
        source_uri=f"models:/{model.name}/{number}",
        tags={**GOOD_TAGS, **tags},
        content_hash=f"v{number}",
    )


def assess(run: Run, policy_version: Any) -> None:
    tally = assess_runs(run_ids=[run.pk], version=policy_version)
    assert set(tally) <= {"compliant", "non_compliant", "error", "skipped"}


@pytest.fixture
def world(db: None, default_policy: Any, make_user: Any) -> World:
    source = factories.source("mlflow-approvals")
    experiment = factories.experiment(source, tags={"department": "risk"})
    run = factories.run(experiment, user_id="ana")
    assess(run, default_policy)
    assert run.assessments.get().verdict == "compliant"
    model = RegisteredModel.objects.create(source=source, name="scorer", content_hash="m")
    version = make_version(model, run, "1")
    return World(
        source=source,
        model=model,
        run=run,
        version=version,
        policy_version=default_policy,
        engineer=make_user("eng", "ml-engineer"),
        officer=make_user("officer", "compliance-officer"),
        reviewers=[make_user(f"reviewer{n}", "reviewer") for n in (1, 2, 3)],
        admin=make_user("boss", "admin"),
        trainer=make_user("ana", "reviewer"),
    )


@pytest.fixture
def ask(world: World):  # type: ignore[no-untyped-def]
    """Request a promotion of the world's version (or another) as the engineer."""
    from approvals.services import promotion_request

    def make(environment: str = "staging", *, version: str = "1", actor: Any = None, **kw: Any):  # type: ignore[no-untyped-def]
        return promotion_request(
            actor=actor or world.engineer,
            source=world.source.name,
            model=world.model.name,
            version=version,
            environment=environment,
            justification=kw.pop("justification", "better recall on the March data"),
            **kw,
        )

    return make
