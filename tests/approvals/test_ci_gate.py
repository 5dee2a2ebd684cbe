"""The CI gate before, during and after a promotion, and after a rollback:
selector, ``manage.py gate`` and ``GET /api/v1/gate`` agree."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from approvals.errors import GateFailed
from approvals.models import Environment, PromotionRequest
from approvals.selectors import gate
from approvals.services import promotion_delivered, promotion_request, promotion_vote
from govdash.services import token_create
from kernel.errors import Conflict, NotFound
from reports.services import policy_publish, policy_save_draft
from tests.approvals.conftest import assess
from tests.conftest import DEFAULT_POLICY_FILE
from tracking.models import ModelVersion, Run

pytestmark = pytest.mark.django_db


def promote(world, ask, version="1", *, rollback=False, deliver=True):  # type: ignore[no-untyped-def]
    request = ask("staging", version=version, rollback=rollback)
    voter = next(r for r in world.reviewers if not request.votes.filter(user=r).exists())
    request = promotion_vote(actor=voter, request_id=request.pk, decision="approve", comment="")
    assert request.status == "approved"
    assert request.promotion == "pending"
    if deliver:
        request = promotion_delivered(request_id=request.pk, succeeded=True, detail="alias set")
    return request


def answer(world, version="1"):  # type: ignore[no-untyped-def]
    return gate(
        source=world.source.name, model=world.model.name, environment="staging", version=version
    )


def command(world, version="1"):  # type: ignore[no-untyped-def]
    """(exit code, output) of manage.py gate."""
    from io import StringIO

    out = StringIO()
    args = [
        "gate",
        "--source",
        world.source.name,
        "--model",
        world.model.name,
        "--environment",
        "staging",
    ]
    if version is not None:
        args += ["--version", version]
    try:
        call_command(*args, stdout=out)
    except SystemExit as exc:
        return exc.code, out.getvalue()
    except CommandError as exc:
        return exc.returncode, str(exc)
    return 0, out.getvalue()


def test_before_during_and_after_a_promotion(world, ask):
    first = answer(world)
    assert not first.approved
    assert first.reasons == ["never approved for staging"]
    assert command(world) == (
        3,
        "not approved: scorer v1 for staging: never approved for staging\n",
    )

    request = ask("staging")
    assert answer(world).reasons == [
        f"never approved for staging: request #{request.pk} is still open"
    ]

    request = promotion_vote(
        actor=world.reviewers[0], request_id=request.pk, decision="approve", comment=""
    )
    during = answer(world)
    assert not during.approved
    assert during.reasons == [
        f"approved (request #{request.pk}) but its promotion is pending: not in staging yet"
    ]

    promotion_delivered(request_id=request.pk, succeeded=False, detail="MLflow down")
    assert "its promotion failed" in answer(world).reasons[0]
    request.refresh_from_db()
    assert request.status == "approved"  # a failed delivery never loses the approval

    PromotionRequest.objects.filter(pk=request.pk).update(promotion="pending")
    promotion_delivered(request_id=request.pk, succeeded=True, detail="alias set")
    after = answer(world)
    assert after.approved
    assert after.reasons == []
    assert command(world) == (0, "approved: scorer v1 for staging\n")
    current = gate(source=world.source.name, model=world.model.name, environment="staging")
    assert current.approved
    assert current.version == "1"
    assert command(world, version=None) == (0, "approved: scorer v1 for staging\n")


def test_a_later_promotion_supersedes_and_a_rollback_re_points(world, ask):
    world.new_version("2")
    with pytest.raises(Conflict, match="no earlier promoted version"):
        ask("staging", version="", rollback=True)
    promote(world, ask, "1")
    second = promote(world, ask, "2")
    assert answer(world, "2").approved
    superseded = answer(world, "1")
    assert superseded.reasons == [
        f"the approval was superseded by a later promotion (request #{second.pk}) that put "
        "v2 in staging"
    ]

    rollback = promote(world, ask, "", rollback=True)
    assert rollback.rollback
    assert rollback.version.version == "1"
    assert rollback.replaces_version.version == "2"
    assert [s["name"] for s in rollback.workflow] == ["Rollback review"]
    assert answer(world, "1").approved
    after = answer(world, "2")
    assert after.reasons == [
        f"the approval was superseded by a later rollback (request #{rollback.pk}) that put "
        "v1 in staging"
    ]
    assert (
        gate(source=world.source.name, model=world.model.name, environment="staging").version == "1"
    )


def test_a_rollback_naming_another_version_is_refused(world, ask):
    world.new_version("2")
    world.new_version("3")
    promote(world, ask, "1")
    promote(world, ask, "2")
    with pytest.raises(Conflict, match="re-points it to v1"):
        ask("staging", version="3", rollback=True)


def test_a_changed_version_is_no_longer_approved(world, ask):
    promote(world, ask)
    version = ModelVersion.objects.get(pk=world.version.pk)
    ModelVersion.objects.filter(pk=version.pk).update(
        tags={**version.tags, "compliance_validated": "true", "govdash.environment": "staging"}
    )
    assert answer(world).approved  # govdash's own tags are not a change
    ModelVersion.objects.filter(pk=version.pk).update(
        tags={**version.tags, "security_scan": "rerun"}
    )
    changed = answer(world)
    assert changed.reasons == [
        "the version changed since its approval: version tag 'security_scan' changed from "
        "'passed' to 'rerun'"
    ]
    with pytest.raises(NotFound, match="no longer holds"):
        gate(source=world.source.name, model=world.model.name, environment="staging")


def test_a_policy_published_since_undoes_the_approval_unless_kept(world, ask):
    promote(world, ask)
    draft = policy_save_draft(
        text=DEFAULT_POLICY_FILE.read_text().replace(
            "values: [public, official, secret]", "values: [public, secret]"
        ),
        actor=None,
        notes="stricter",
    )
    newer = policy_publish(version=draft, actor=None)
    Run.objects.filter(pk=world.run.pk).update(start_time=world.run.start_time)  # unchanged
    assess(Run.objects.get(pk=world.run.pk), newer)
    answer_now = answer(world)
    assert not answer_now.approved
    assert "v2 was published since the approval" in answer_now.reasons[0]
    Environment.objects.filter(name="staging").update(keep_approvals_across_policies=True)
    assert answer(world).approved


def test_a_policy_published_since_under_which_the_run_stays_compliant_keeps_it(world, ask):
    promote(world, ask)
    draft = policy_save_draft(text=DEFAULT_POLICY_FILE.read_text(), actor=None, notes="same")
    newer = policy_publish(version=draft, actor=None)
    assess(Run.objects.get(pk=world.run.pk), newer)
    assert answer(world).approved


def test_unknown_names_are_errors(world, ask):
    assert command(world, version="99")[0] == 1
    with pytest.raises(NotFound):
        gate(source=world.source.name, model="nope", environment="staging", version="1")
    with pytest.raises(NotFound):
        gate(source=world.source.name, model=world.model.name, environment="moon", version="1")


def test_the_api_gate_answers_200_403_and_404(world, ask, client):
    _token, raw = token_create(user=world.officer, name="ci", created_by=world.admin)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    query = {"source": world.source.name, "model": world.model.name, "environment": "staging"}
    response = client.get("/api/v1/gate", {**query, "version": "1"}, **auth)
    assert response.status_code == 403
    assert response.json()["approved"] is False
    assert response.json()["reasons"] == ["never approved for staging"]
    assert response.json()["detail"] == "v1 is not approved for staging: never approved for staging"
    assert client.get("/api/v1/gate", query, **auth).status_code == 404
    promote(world, ask)
    response = client.get("/api/v1/gate", {**query, "version": "1"}, **auth)
    assert response.status_code == 200
    assert response.json()["approved"] is True
    response = client.get("/api/v1/gate", query, **auth)
    assert response.status_code == 200
    assert response.json()["version"] == "1"
    assert client.get("/api/v1/gate", query).status_code == 401


def test_rollback_gates_apply(world, ask):
    world.new_version("2")
    promote(world, ask, "1")
    promote(world, ask, "2")
    ModelVersion.objects.filter(pk=world.version.pk).update(tags={"classification": "secret"})
    with pytest.raises(GateFailed):
        promotion_request(
            actor=world.engineer,
            source=world.source.name,
            model=world.model.name,
            version="",
            environment="staging",
            justification="back",
            rollback=True,
        )
