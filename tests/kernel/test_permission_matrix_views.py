"""The role x right matrix over pages and the API.

Each right maps to the requests that need it (``REQUESTS``); every role then
makes every one of them: refused (403) when ``kernel.roles.GRANTS`` does not
give the role the right, carried out when it does. A right with no row here
fails ``test_every_registered_right_has_a_row``: a new right must say which
request it guards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse

from approvals.models import PromotionRequest
from govdash.services import token_create
from kernel.permissions import registered
from kernel.roles import GRANTS, Role
from reports.models import PolicyVersion
from reports.services import policy_save_draft
from tests.conftest import DEFAULT_POLICY_FILE
from tracking.models import AliasChange, RegisteredModel, Source
from tracking.services import source_create

pytestmark = [pytest.mark.django_db, pytest.mark.redis]


@dataclass
class World:
    source: Source
    alert: AliasChange
    draft: PolicyVersion
    token_pk: int
    open_request: PromotionRequest
    failed_request: PromotionRequest


@dataclass(frozen=True)
class Call:
    method: str  # "get" or "post"
    url: Callable[[World], str]
    data: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    json: bool = False  # the API's JSON bodies

    def make(self, client: Client, world: World) -> Any:
        send = getattr(client, self.method)
        if self.json:
            return send(self.url(world), self.data, content_type="application/json")
        return send(self.url(world), self.data)

    def __str__(self) -> str:
        return self.label


def _url(name: str, *args: Callable[[World], Any]) -> Callable[[World], str]:
    return lambda w: reverse(name, args=[arg(w) for arg in args])


def _source_name(w: World) -> str:
    return w.source.name


def _own_request(w: World) -> str:
    """The open request, made the signed-in user's own (withdrawing is for the requester)."""
    PromotionRequest.objects.filter(pk=w.open_request.pk).update(
        requested_by=User.objects.get(username="someone")
    )
    return f"/api/v1/promotions/{w.open_request.pk}/withdraw"


# right -> the requests that need it. An empty list: no request checks the right.
REQUESTS: dict[str, list[Call]] = {
    "tracking.add_source": [
        Call("get", _url("tracking:source-add"), label="GET tracking:source-add"),
        Call(
            "post",
            _url("tracking:source-add"),
            {"name": "second", "url": "http://127.0.0.1:9", "kind": "mlflow", "auth": "none"},
            label="POST tracking:source-add",
        ),
    ],
    "tracking.sync_source": [
        Call("post", _url("tracking:source-sync", _source_name), label="POST tracking:source-sync"),
        Call(
            "post",
            lambda w: f"/api/v1/sources/{w.source.name}/sync",
            label="POST /api/v1/sources/{name}/sync",
        ),
    ],
    "tracking.acknowledge_alert": [
        Call(
            "post",
            _url("tracking:alert-acknowledge", lambda w: w.alert.pk),
            label="POST tracking:alert-acknowledge",
        ),
    ],
    "reports.assess_runs": [
        Call("post", _url("reports:assess"), {"policy": "default"}, label="POST reports:assess"),
    ],
    "reports.edit_policy": [
        Call(
            "get",
            _url("reports:policy-edit", lambda w: w.draft.policy.slug),
            label="GET reports:policy-edit",
        ),
        Call("get", _url("reports:policy-import"), label="GET reports:policy-import"),
    ],
    "reports.publish_policy": [
        Call(
            "post",
            _url("reports:policy-publish", lambda w: w.draft.policy.slug, lambda w: w.draft.number),
            label="POST reports:policy-publish",
        ),
    ],
    "reports.request_report": [
        Call(
            "get",
            lambda w: reverse("reports:report-request") + "?kind=experiment",
            label="GET reports:report-request experiment",
        ),
    ],
    "reports.request_dossier": [
        Call(
            "get",
            lambda w: reverse("reports:report-request") + "?kind=model-version",
            label="GET reports:report-request model-version",
        ),
    ],
    "audit.view_auditevent": [Call("get", _url("audit:log"), label="GET audit:log")],
    "audit.export_auditevent": [Call("get", _url("audit:export"), label="GET audit:export")],
    "approvals.request_promotion": [
        Call(
            "post",
            lambda w: "/api/v1/promotions",
            {
                "source": "local",
                "model": "scorer",
                "version": "1",
                "environment": "matrix",
                "justification": "the matrix asks",
            },
            label="POST /api/v1/promotions",
            json=True,
        ),
    ],
    "approvals.review_promotion": [
        Call(
            "post",
            lambda w: f"/api/v1/promotions/{w.open_request.pk}/approve",
            {"comment": "fine"},
            label="POST /api/v1/promotions/{id}/approve",
            json=True,
        ),
    ],
    "approvals.withdraw_promotion": [
        Call("post", _own_request, label="POST /api/v1/promotions/{id}/withdraw", json=True),
    ],
    "approvals.retry_promotion": [
        Call(
            "post",
            lambda w: f"/api/v1/promotions/{w.failed_request.pk}/retry",
            label="POST /api/v1/promotions/{id}/retry",
            json=True,
        ),
    ],
    "govdash.manage_apitoken": [
        Call("get", _url("tokens"), label="GET tokens"),
        Call("post", _url("token-revoke", lambda w: w.token_pk), label="POST token-revoke"),
    ],
}

CASES = [
    pytest.param(role, right, call, id=f"{role.value}-{call}")
    for right, calls in sorted(REQUESTS.items())
    for call in calls
    for role in Role
]


# Two rights held by the same roles (edit and publish a policy) cannot be told
# apart by the roles alone: here a role holds one right only, each in turn.
SINGLE_RIGHT_CASES = [
    pytest.param(held, right, call, id=f"only-{held}-{call}")
    for held in sorted(REQUESTS)
    for right, calls in sorted(REQUESTS.items())
    for call in calls
]


def test_every_registered_right_has_a_row():
    missing = sorted(set(registered()) - set(REQUESTS))
    assert not missing, f"rights with no request in REQUESTS: {missing}"
    unknown = sorted(set(REQUESTS) - set(registered()))
    assert not unknown, f"REQUESTS names rights nobody defines: {unknown}"


@pytest.mark.parametrize("right", sorted(registered()))
def test_every_right_guards_at_least_one_request(right):
    assert REQUESTS.get(right), f"{right} guards no request"


def test_every_right_is_denied_to_some_role_and_granted_to_another():
    # Otherwise the matrix below would only ever check one side.
    for right in REQUESTS:
        holders = {role for role in Role if right in GRANTS[role]}
        assert holders, right
        assert holders != set(Role), right


@pytest.fixture
def world(default_policy, redis_queue) -> World:  # type: ignore[no-untyped-def]
    redis_queue("sync")  # sync requests enqueue for real; emptied afterwards
    redis_queue("assess")
    source = source_create(name="local", url="http://127.0.0.1:9", watched_aliases=["production"])
    model = RegisteredModel.objects.create(source=source, name="scorer", content_hash="x")
    alert = AliasChange.objects.create(
        model=model, alias="production", from_version="1", to_version="2", unapproved=True
    )
    draft = policy_save_draft(text=DEFAULT_POLICY_FILE.read_text(), actor=None, notes="draft")
    assert draft.published_at is None
    assert draft.number == 2
    owner = User.objects.create_user("token-owner")
    token, _ = token_create(user=owner, name="ci", created_by=owner)
    open_request, failed_request = _promotion_world(source, model, default_policy)
    return World(
        source=source,
        alert=alert,
        draft=draft,
        token_pk=token.pk,
        open_request=open_request,
        failed_request=failed_request,
    )


def _promotion_world(
    source: Source, model: RegisteredModel, policy_version: PolicyVersion
) -> tuple[PromotionRequest, PromotionRequest]:
    """Versions that pass every gate, an environment whose one stage every
    reviewing role may vote in, an open request and an approved one whose
    delivery failed."""
    from approvals.models import Environment, Stage
    from approvals.services import promotion_request
    from tests import factories
    from tests.approvals.conftest import assess, make_version

    run = factories.run(factories.experiment(source, tags={"department": "risk"}))
    assess(run, policy_version)
    for number in ("1", "2", "3"):
        make_version(model, run, number)
    environment = Environment.objects.create(
        name="matrix", alias="matrix", allowed_classifications=["public", "official"]
    )
    Stage.objects.create(
        environment=environment,
        name="Any reviewer",
        roles=[Role.ADMIN.value, Role.COMPLIANCE_OFFICER.value, Role.REVIEWER.value],
    )
    voter = User.objects.create_user("voter")
    voter.groups.add(Group.objects.get(name=Role.REVIEWER.value))
    requester = User.objects.create_user("requester")
    requester.groups.add(Group.objects.get(name=Role.ML_ENGINEER.value))
    ask = {"actor": requester, "source": source.name, "model": model.name}
    open_request = promotion_request(**ask, version="2", environment="matrix", justification="open")
    failed = promotion_request(**ask, version="3", environment="matrix", justification="failed")
    PromotionRequest.objects.filter(pk=failed.pk).update(status="approved", promotion="failed")
    return open_request, failed


ALLOWED_STATUS = {200, 201, 202, 302}


@pytest.mark.parametrize(("role", "right", "call"), CASES)
def test_role_may_make_the_request_exactly_when_grants_say_so(
    client: Client, make_user, world: World, role: Role, right: str, call: Call
):
    client.force_login(make_user("someone", role.value))
    response = call.make(client, world)
    if right in GRANTS[role]:
        assert response.status_code in ALLOWED_STATUS, (
            f"{role.value} holds {right} but {call} answered {response.status_code}"
        )
    else:
        assert response.status_code == 403, (
            f"{role.value} lacks {right} but {call} answered {response.status_code}"
        )


@pytest.mark.parametrize(("held", "right", "call"), SINGLE_RIGHT_CASES)
def test_a_role_holding_one_right_may_make_exactly_that_rights_requests(
    client: Client, make_user, world: World, monkeypatch, held: str, right: str, call: Call
):
    monkeypatch.setitem(GRANTS, Role.REVIEWER, frozenset({held}))
    client.force_login(make_user("someone", Role.REVIEWER.value))
    response = call.make(client, world)
    if held == right:
        assert response.status_code in ALLOWED_STATUS, (
            f"only {held}, yet {call} answered {response.status_code}"
        )
    else:
        assert response.status_code == 403, (
            f"only {held}, which {call} does not need, yet it answered {response.status_code}"
        )
