"""Team-restricted stages, and what an approval puts on the job queue."""

from __future__ import annotations

import pytest

from approvals.errors import NotEligible, WorkflowUnsatisfiable
from approvals.models import Environment, PromotionRequest, Team
from approvals.selectors import eligible_voters
from approvals.services import promotion_delivered, promotion_retry, promotion_vote

pytestmark = pytest.mark.django_db


def approve(user, request):  # type: ignore[no-untyped-def]
    return promotion_vote(actor=user, request_id=request.pk, decision="approve", comment="")


@pytest.fixture
def restricted(world):  # type: ignore[no-untyped-def]
    Environment.objects.filter(name="staging").update(team_restricted=True)
    return world


def test_a_department_no_team_owns_is_approvable_by_admins_only(restricted, ask):
    request = ask("staging")
    with pytest.raises(NotEligible, match="department 'risk' matches no team"):
        approve(restricted.reviewers[0], request)
    assert list(eligible_voters(request).values_list("username", flat=True)) == ["boss"]
    request = approve(restricted.admin, request)
    assert request.status == "approved"
    assert request.votes.get().role == "admin"


def test_only_members_of_the_owning_team_approve(restricted, ask):
    team = Team.objects.create(name="Risk modelling", departments=["Risk"])
    team.members.add(restricted.reviewers[1])
    request = ask("staging")
    with pytest.raises(NotEligible, match="limited to team Risk modelling"):
        approve(restricted.reviewers[0], request)
    assert approve(restricted.reviewers[1], request).status == "approved"


def test_a_team_without_eligible_members_makes_the_request_unsatisfiable(restricted, ask):
    team = Team.objects.create(name="Risk modelling", departments=["risk"])
    team.members.add(restricted.engineer)
    with pytest.raises(WorkflowUnsatisfiable, match="limited to team Risk modelling"):
        ask("staging")


def test_teams_are_ignored_when_the_environment_does_not_restrict(world, ask):
    Team.objects.create(name="Risk modelling", departments=["risk"])
    request = ask("staging")
    assert approve(world.reviewers[0], request).status == "approved"


@pytest.mark.redis
def test_an_approval_queues_one_delivery_and_the_notifications(
    world, ask, redis_queue, django_capture_on_commit_callbacks
):
    queue = redis_queue("default")
    with django_capture_on_commit_callbacks(execute=True):
        request = ask("staging")
    with django_capture_on_commit_callbacks(execute=True):
        approve(world.reviewers[0], request)
    jobs = [(job.func_name, job.args) for job in queue.jobs]
    assert jobs == [
        ("approvals.jobs.notify_job", (request.pk, "stage_open")),
        ("approvals.jobs.deliver_promotion_job", (request.pk,)),
        ("approvals.jobs.notify_job", (request.pk, "decision")),
    ]


@pytest.mark.redis
def test_a_queue_that_cannot_be_reached_never_undoes_a_vote(
    world, ask, settings, django_capture_on_commit_callbacks
):
    request = ask("staging")
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    with django_capture_on_commit_callbacks(execute=True):
        approve(world.reviewers[0], request)
    request = PromotionRequest.objects.get(pk=request.pk)
    assert (request.status, request.promotion) == ("approved", "pending")


@pytest.mark.redis
def test_a_failed_delivery_keeps_the_approval_and_an_admin_retries(
    world, ask, redis_queue, django_capture_on_commit_callbacks
):
    queue = redis_queue("default")
    request = approve(world.reviewers[0], ask("staging"))
    request = promotion_delivered(request_id=request.pk, succeeded=False, detail="503 from MLflow")
    assert (request.status, request.promotion) == ("approved", "failed")
    assert request.promotion_detail == "503 from MLflow"
    with pytest.raises(NotEligible):
        promotion_retry(actor=world.reviewers[0], request_id=request.pk)
    with django_capture_on_commit_callbacks(execute=True):
        request = promotion_retry(actor=world.admin, request_id=request.pk)
    assert request.promotion == "pending"
    assert [job.func_name for job in queue.jobs] == ["approvals.jobs.deliver_promotion_job"]
    request = promotion_delivered(request_id=request.pk, succeeded=True, detail="alias set")
    assert request.promotion == "done"
    assert request.promoted_at is not None
