"""The workflow's rules, through the services (they bind everyone, superusers included)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest

from approvals.audit_actions import ApprovalsAction
from approvals.errors import CommentRequired, GateFailed, NotEligible, WorkflowUnsatisfiable
from approvals.models import PromotionRequest
from approvals.selectors import eligible_voters, facts_digest
from approvals.services import (
    promotion_comment,
    promotion_expire_due,
    promotion_invalidate_changed,
    promotion_vote,
    promotion_withdraw,
)
from audit.models import AuditEvent
from audit.services import verify
from kernel.errors import Conflict
from tracking.models import ModelVersion

pytestmark = pytest.mark.django_db


def approve(user, request, comment=""):  # type: ignore[no-untyped-def]
    return promotion_vote(actor=user, request_id=request.pk, decision="approve", comment=comment)


def reject(user, request, comment="not convinced"):  # type: ignore[no-untyped-def]
    return promotion_vote(actor=user, request_id=request.pk, decision="reject", comment=comment)


def actions_for(request: PromotionRequest) -> list[str]:
    return list(
        AuditEvent.objects.filter(
            target_type="approvals.promotionrequest", target_id=str(request.pk)
        )
        .order_by("sequence")
        .values_list("action", flat=True)
    )


def test_a_request_freezes_the_workflow_the_gates_and_the_snapshot(world, ask):
    request = ask("production")
    assert request.status == "open"
    assert request.promotion == "none"
    assert [s["name"] for s in request.workflow] == [
        "Compliance review",
        "Security review",
        "Release sign-off",
    ]
    assert [s["required"] for s in request.workflow] == [1, 1, 2]
    assert all(g["passed"] for g in request.gates)
    assert {g["name"] for g in request.gates} == {
        "required_tags",
        "security_scan",
        "classification_allowed",
        "run_compliant",
    }
    assert hashlib.sha256(request.snapshot.encode()).hexdigest() == request.snapshot_sha256
    document = json.loads(request.snapshot)
    assert json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False) == (
        request.snapshot
    )
    assert document["version"]["tags"]["department"] == "risk"
    assert document["run"]["params"] == {"lr": "0.1"}
    assert document["assessment"]["verdict"] == "compliant"
    assert {r["rule"] for r in document["assessment"]["rules"]} >= {"data-classification"}
    assert document["workflow"] == request.workflow
    assert request.facts_digest == facts_digest(world.version)
    assert request.policy_version == world.policy_version
    assert actions_for(request) == [ApprovalsAction.REQUEST]


def test_the_production_workflow_counts_n_of_m_stage_by_stage(world, ask):
    request = ask("production")
    r1, r2, r3 = world.reviewers
    request = approve(world.officer, request)
    assert request.stage_index == 1
    assert request.status == "open"
    request = approve(r1, request)
    assert request.stage_index == 2
    request = approve(r2, request)
    assert request.stage_index == 2
    assert request.status == "open"
    request = approve(r3, request)
    assert request.status == "approved"
    assert request.promotion == "pending"
    assert request.stage_index == 3
    assert all(g["passed"] for g in request.final_gates)
    assert list(request.votes.values_list("role", flat=True)) == [
        "compliance-officer",
        "reviewer",
        "reviewer",
        "reviewer",
    ]
    assert actions_for(request) == [
        ApprovalsAction.REQUEST,
        ApprovalsAction.APPROVE,
        ApprovalsAction.APPROVE,
        ApprovalsAction.APPROVE,
        ApprovalsAction.APPROVE,
        ApprovalsAction.APPROVED,
    ]
    assert verify().intact


def test_stages_are_sequential_and_need_their_roles(world, ask):
    request = ask("production")
    with pytest.raises(NotEligible, match=r"Compliance review.*compliance-officer"):
        approve(world.reviewers[0], request)
    request = approve(world.officer, request)
    assert list(eligible_voters(request).values_list("username", flat=True)) == [
        "reviewer1",
        "reviewer2",
        "reviewer3",
    ]


@pytest.mark.parametrize("superuser", [False, True])
def test_the_requester_never_approves_even_as_superuser(world, ask, make_user, superuser):
    requester = make_user("both", "ml-engineer", "reviewer")
    if superuser:
        requester.is_superuser = True
        requester.save()
    request = ask("staging", actor=requester)
    with pytest.raises(NotEligible, match="requester never approves"):
        approve(requester, request)
    assert request.votes.count() == 0
    assert "both" not in eligible_voters(request).values_list("username", flat=True)


def test_the_trainer_never_approves(world, ask):
    request = ask("staging")
    with pytest.raises(NotEligible, match="trained this version"):
        approve(world.trainer, request)
    assert "ana" not in eligible_voters(request).values_list("username", flat=True)


def test_a_superuser_trainer_is_refused_too(world, ask):
    world.trainer.is_superuser = True
    world.trainer.save()
    request = ask("staging")
    with pytest.raises(NotEligible, match="trained"):
        approve(world.trainer, request)


def test_one_vote_per_person_across_stages(world, ask, make_user):
    both = make_user("both", "compliance-officer", "reviewer")
    request = ask("production")
    request = approve(both, request)
    assert request.stage_index == 1
    with pytest.raises(NotEligible, match="already voted"):
        approve(both, request)
    assert request.votes.count() == 1


def test_a_rejection_needs_a_comment_and_ends_the_request(world, ask):
    request = ask("production")
    with pytest.raises(CommentRequired):
        reject(world.officer, request, comment="  ")
    assert PromotionRequest.objects.get(pk=request.pk).status == "open"
    request = reject(world.officer, request, comment="no DPIA attached")
    assert request.status == "rejected"
    assert request.promotion == "none"
    assert "no DPIA attached" in request.closed_reason
    with pytest.raises(Conflict):
        approve(world.reviewers[0], request)
    assert actions_for(request)[-1] == ApprovalsAction.REJECT


def test_only_the_requester_withdraws(world, ask, make_user):
    request = ask("staging")
    other = make_user("other", "ml-engineer")
    root = make_user("root", "admin")
    root.is_superuser = True
    root.save()
    for intruder in (other, root):
        with pytest.raises(NotEligible, match="only the requester"):
            promotion_withdraw(actor=intruder, request_id=request.pk)
    request = promotion_withdraw(actor=world.engineer, request_id=request.pk)
    assert request.status == "withdrawn"
    with pytest.raises(Conflict):
        promotion_withdraw(actor=world.engineer, request_id=request.pk)
    assert actions_for(request)[-1] == ApprovalsAction.WITHDRAW


def test_one_open_request_per_version_and_environment(world, ask):
    ask("staging")
    with pytest.raises(Conflict, match="already exists"):
        ask("staging")
    ask("production")  # another environment is another request


def test_open_requests_expire_after_the_configured_days(world, ask, monkeypatch):
    monkeypatch.setenv("GOVDASH_PROMOTION_EXPIRY_DAYS", "5")
    request = ask("staging")
    assert request.expires_at == request.created_at + dt.timedelta(days=5)
    assert promotion_expire_due(now=request.created_at + dt.timedelta(days=4)) == 0
    assert promotion_expire_due(now=request.created_at + dt.timedelta(days=5, seconds=1)) == 1
    request.refresh_from_db()
    assert request.status == "expired"
    with pytest.raises(Conflict):
        approve(world.reviewers[0], request)
    event = AuditEvent.objects.filter(action=ApprovalsAction.EXPIRE).get()
    assert event.actor_username == "system"
    assert promotion_expire_due(now=request.created_at + dt.timedelta(days=60)) == 0


def test_the_default_expiry_is_thirty_days(world, ask, monkeypatch):
    monkeypatch.delenv("GOVDASH_PROMOTION_EXPIRY_DAYS", raising=False)
    request = ask("staging")
    assert request.expires_at - request.created_at == dt.timedelta(days=30)


def test_an_unsatisfiable_stage_is_refused_with_the_reason(world, ask):
    # Release sign-off needs two reviewers; the trainer (a reviewer) may not vote.
    world.reviewers[1].delete()
    world.reviewers[2].delete()
    with pytest.raises(WorkflowUnsatisfiable) as refused:
        ask("production")
    assert refused.value.reasons == [
        "stage 'Release sign-off' needs 2 approval(s) from reviewer but only 1 eligible "
        "person(s) can give them (excluded: the trainer (ana))"
    ]
    assert not PromotionRequest.objects.exists()
    event = AuditEvent.objects.get(action=ApprovalsAction.REQUEST_REFUSED)
    assert event.outcome == "denied"
    assert event.data["reasons"] == refused.value.reasons


def test_stages_together_need_distinct_people(world, ask):
    # Each stage alone can be filled, but four approvals need four people.
    world.reviewers[2].delete()
    with pytest.raises(WorkflowUnsatisfiable, match="need 4 different approvers"):
        ask("production")


def test_the_requester_s_exclusion_can_make_a_workflow_unsatisfiable(world, ask, make_user):
    # Staging needs one reviewer: if the requester is the only one, nobody can approve.
    for user in [*world.reviewers, world.trainer]:
        user.delete()
    lonely = make_user("lonely", "ml-engineer", "reviewer")
    with pytest.raises(WorkflowUnsatisfiable, match="requester"):
        ask("staging", actor=lonely)


def test_a_stage_completed_by_a_changed_version_invalidates_the_request(world, ask):
    request = ask("staging")
    ModelVersion.objects.filter(pk=world.version.pk).update(
        tags={**world.version.tags, "security_scan": "failed"}
    )
    request = approve(world.reviewers[0], request)
    assert request.status == "invalidated"
    assert request.promotion == "none"
    failed = {g["name"] for g in request.final_gates if not g["passed"]}
    assert failed == {"security_scan", "unchanged_since_snapshot"}
    assert actions_for(request)[-1] == ApprovalsAction.INVALIDATE


def test_govdash_s_own_tags_do_not_change_the_facts(world, ask):
    before = facts_digest(world.version)
    ModelVersion.objects.filter(pk=world.version.pk).update(
        tags={
            **world.version.tags,
            "compliance_validated": "true",
            "govdash.promotion_request": "7",
            "govdash.approved_by": "a,b",
        },
        aliases=["staging"],
    )
    assert facts_digest(ModelVersion.objects.get(pk=world.version.pk)) == before


def test_a_changed_tag_invalidates_open_requests_of_the_source(world, ask):
    staging = ask("staging")
    production = ask("production")
    assert promotion_invalidate_changed(source_id=world.source.pk) == 0
    ModelVersion.objects.filter(pk=world.version.pk).update(
        tags={**world.version.tags, "department": "fraud"}
    )
    assert promotion_invalidate_changed(source_id=world.source.pk) == 2
    for request in (staging, production):
        request.refresh_from_db()
        assert request.status == "invalidated"
        assert "'department' changed from 'risk' to 'fraud'" in request.closed_reason
    event = AuditEvent.objects.filter(action=ApprovalsAction.INVALIDATE).first()
    assert event is not None
    assert event.data["changes"] == ["version tag 'department' changed from 'risk' to 'fraud'"]


def test_comments_are_recorded(world, ask):
    request = ask("staging")
    comment = promotion_comment(actor=world.reviewers[0], request_id=request.pk, body="why now?")
    assert comment.body == "why now?"
    assert actions_for(request)[-1] == ApprovalsAction.COMMENT


def test_a_justification_is_required(world, ask):
    with pytest.raises(CommentRequired):
        ask("staging", justification=" ")


def test_a_reviewer_cannot_request(world, ask):
    with pytest.raises(NotEligible):
        ask("staging", actor=world.reviewers[0])


def test_gate_failures_are_gatefailed(world, ask):
    ModelVersion.objects.filter(pk=world.version.pk).update(tags={"classification": "official"})
    with pytest.raises(GateFailed) as refused:
        ask("staging")
    assert len(refused.value.reasons) == 2  # required tags, security scan
