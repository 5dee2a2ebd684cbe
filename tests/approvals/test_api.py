"""The promotions API of CONTRACT.md ("Promotion requests"): shapes and statuses."""

from __future__ import annotations

import pytest

from approvals.audit_actions import ApprovalsAction
from approvals.models import PromotionRequest
from audit.models import AuditEvent
from govdash.services import token_create
from tracking.models import ModelVersion

pytestmark = pytest.mark.django_db

REQUEST_KEYS = {
    "id",
    "status",
    "promotion",
    "source",
    "model",
    "version",
    "environment",
    "rollback",
    "requested_by",
    "justification",
    "stages",
    "gates",
    "snapshot_sha256",
    "closed_reason",
}


def _body(world, **overrides):  # type: ignore[no-untyped-def]
    return {
        "source": world.source.name,
        "model": world.model.name,
        "version": "1",
        "environment": "production",
        "justification": "quarterly refresh",
        **overrides,
    }


def _post(client, url, body=None):  # type: ignore[no-untyped-def]
    return client.post(url, body or {}, content_type="application/json")


def test_the_production_workflow_end_to_end_through_the_api(world, client):
    client.force_login(world.engineer)
    created = _post(client, "/api/v1/promotions", _body(world))
    assert created.status_code == 201, created.content
    request = created.json()
    assert set(request) == REQUEST_KEYS
    assert request["status"] == "open"
    assert request["promotion"] == "none"
    assert (request["source"], request["model"], request["version"]) == (
        world.source.name,
        "scorer",
        "1",
    )
    assert request["requested_by"] == "eng"
    assert [s["state"] for s in request["stages"]] == ["open", "waiting", "waiting"]
    assert set(request["stages"][0]) == {"name", "required", "state", "votes"}
    assert all(set(g) == {"name", "passed", "detail"} for g in request["gates"])
    url = f"/api/v1/promotions/{request['id']}"

    for user in (world.officer, world.reviewers[0], world.reviewers[1], world.reviewers[2]):
        client.force_login(user)
        answer = _post(client, f"{url}/approve", {"comment": f"ok from {user.username}"})
        assert answer.status_code == 200, answer.content
    final = answer.json()
    assert final["status"] == "approved"
    assert final["promotion"] == "pending"
    assert [s["state"] for s in final["stages"]] == ["approved", "approved", "approved"]
    vote = final["stages"][2]["votes"][0]
    assert set(vote) == {"user", "role", "decision", "at", "comment"}
    assert (vote["user"], vote["role"], vote["decision"]) == ("reviewer2", "reviewer", "approve")
    assert client.get(url).json() == final


def test_statuses_of_refusals(world, client):
    client.force_login(world.reviewers[0])
    assert _post(client, "/api/v1/promotions", _body(world)).status_code == 403

    client.force_login(world.engineer)
    ModelVersion.objects.filter(pk=world.version.pk).update(
        tags={**world.version.tags, "security_scan": "failed"}
    )
    refused = _post(client, "/api/v1/promotions", _body(world))
    assert refused.status_code == 422
    assert refused.json()["reasons"] == ["security_scan: security_scan is 'failed', not 'passed'"]
    assert "security_scan" in refused.json()["detail"]
    ModelVersion.objects.filter(pk=world.version.pk).update(tags=world.version.tags)

    request_id = _post(client, "/api/v1/promotions", _body(world)).json()["id"]
    duplicate = _post(client, "/api/v1/promotions", _body(world))
    assert duplicate.status_code == 409
    assert "already exists" in duplicate.json()["detail"]
    assert _post(client, "/api/v1/promotions", _body(world, model="nope")).status_code == 404

    url = f"/api/v1/promotions/{request_id}"
    # The requester holds no review right; a requester who does is refused by the rules.
    assert _post(client, f"{url}/approve").status_code == 403
    client.force_login(world.trainer)
    refused = _post(client, f"{url}/approve")
    assert refused.status_code == 403
    assert "trained this version" in refused.json()["detail"]
    client.force_login(world.reviewers[0])
    wrong_stage = _post(client, f"{url}/approve")
    assert wrong_stage.status_code == 403
    assert "compliance-officer" in wrong_stage.json()["detail"]
    client.force_login(world.officer)
    assert _post(client, f"{url}/reject", {"comment": ""}).status_code == 422
    assert _post(client, f"{url}/reject", {"comment": "no DPIA"}).json()["status"] == "rejected"
    assert _post(client, f"{url}/approve").status_code == 409
    assert client.get("/api/v1/promotions/999999").status_code == 404


def test_withdraw_is_for_the_requester(world, client, make_user):
    client.force_login(world.engineer)
    request_id = _post(client, "/api/v1/promotions", _body(world)).json()["id"]
    client.force_login(make_user("other", "ml-engineer"))
    assert _post(client, f"/api/v1/promotions/{request_id}/withdraw").status_code == 403
    client.force_login(world.engineer)
    answer = _post(client, f"/api/v1/promotions/{request_id}/withdraw")
    assert answer.status_code == 200
    assert answer.json()["status"] == "withdrawn"


def test_the_list_filters_by_status_environment_and_mine(world, client, make_user):
    client.force_login(world.engineer)
    _post(client, "/api/v1/promotions", _body(world))
    _post(client, "/api/v1/promotions", _body(world, environment="staging"))
    other = make_user("other", "ml-engineer")
    world.new_version("2")
    client.force_login(other)
    _post(client, "/api/v1/promotions", _body(world, version="2"))
    page = client.get("/api/v1/promotions").json()
    assert page["count"] == 3
    assert client.get("/api/v1/promotions", {"environment": "staging"}).json()["count"] == 1
    assert client.get("/api/v1/promotions", {"mine": "true"}).json()["count"] == 1
    assert client.get("/api/v1/promotions", {"status": "approved"}).json()["count"] == 0
    assert PromotionRequest.objects.count() == 3


def test_a_ci_token_can_request_and_is_audited(world, client):
    _token, raw = token_create(user=world.engineer, name="ci", created_by=world.admin)
    answer = client.post(
        "/api/v1/promotions",
        _body(world, environment="staging"),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert answer.status_code == 201
    event = AuditEvent.objects.get(action=ApprovalsAction.REQUEST)
    assert event.actor_username == "eng"
    assert AuditEvent.objects.filter(action="api_token.write").exists()
    assert (
        client.post("/api/v1/promotions", _body(world), content_type="application/json").status_code
        == 401
    )
