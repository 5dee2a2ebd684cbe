"""Delivering approved promotions: to a real ``mlflow server`` (read back with the official
client), to a local signed-webhook receiver and to a GitLab trigger fake, with failures,
retries recorded as DeliveryAttempt rows, and one delivery however many workers try."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from mlflow import MlflowClient

from approvals import delivery
from approvals.jobs import deliver_promotion_job
from approvals.models import DeliveryAttempt, Environment, PromotionRequest
from govdash.demo.mlflow_server import MlflowServer, free_port
from tracking.models import Source

from . import factories as f
from .delivery_fixtures import _quick_delivery  # noqa: F401  (autouse)
from .hook_servers import GitLabTriggerFake, Script, WebhookReceiver

SECRET = "whsec-0123456789abcdef"
TRIGGER_TOKEN = "glptt-trigger-token-42"

Promotion = PromotionRequest.Promotion
Status = PromotionRequest.Status


@pytest.fixture
def people(db: None) -> dict[str, Any]:
    return {
        "ana": f.user("ana", "ml-engineer"),
        "olivia": f.user("olivia", "compliance-officer"),
        "rex": f.user("rex", "reviewer"),
        "rita": f.user("rita", "reviewer"),
        "ryan": f.user("ryan", "reviewer"),
    }


def _approvers(people: dict[str, Any]) -> list[tuple[Any, str, str]]:
    return [
        (people["olivia"], "Compliance review", "compliance-officer"),
        (people["rex"], "Security review", "reviewer"),
        (people["rita"], "Release sign-off", "reviewer"),
        (people["ryan"], "Release sign-off", "reviewer"),
    ]


def _attempts(request: PromotionRequest) -> list[DeliveryAttempt]:
    return list(request.deliveries.order_by("attempt"))


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as receiver:
        yield receiver


@pytest.fixture
def gitlab_trigger() -> Iterator[GitLabTriggerFake]:
    with GitLabTriggerFake(project="42", token=TRIGGER_TOKEN, refs=("main", "deploy")) as fake:
        yield fake


def _gitlab_request(people: dict[str, Any], env: Environment) -> PromotionRequest:
    src = f.source(
        "gitlab-ml", "https://gitlab.example/api/v4/projects/42/ml/mlflow", Source.Kind.GITLAB
    )
    mv = f.version(src, "fraud-detector", "17", semver="1.4.0")
    return f.promotion_request(
        version=mv, environment=env, requester=people["ana"], approvers=_approvers(people)
    )


# ----------------------------------------------------------------- vanilla MLflow


@pytest.fixture
def registry(mlflow_server: MlflowServer) -> tuple[MlflowClient, str]:
    """A fresh registered model with two versions on the real server."""
    client = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    name = f"promo-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    for _ in range(2):
        client.create_model_version(name, source="s3://bucket/model", await_creation_for=0)
    return client, name


def test_promotion_sets_alias_and_tags_in_mlflow(
    people: dict[str, Any], mlflow_server: MlflowServer, registry: tuple[MlflowClient, str]
) -> None:
    official, name = registry
    src = f.source("mlflow-real", mlflow_server.url)  # write-back of run verdicts is off
    assert not src.writeback_enabled
    mv = f.version(src, name, "2")
    request = f.promotion_request(
        version=mv,
        environment=f.environment("production"),
        requester=people["ana"],
        approvers=_approvers(people),
    )

    deliver_promotion_job(request.pk)

    assert official.get_model_version_by_alias(name, "production").version == "2"
    tags = official.get_model_version(name, "2").tags
    request.refresh_from_db()
    assert tags["compliance_validated"] == "true"
    assert tags["govdash.promotion_request"] == str(request.pk)
    assert tags["govdash.approved_by"] == "olivia,rex,rita,ryan"
    assert tags["govdash.approved_at"] == delivery.iso_utc(
        request.votes.order_by("-at").first().at  # type: ignore[union-attr]
    )
    assert tags["govdash.approved_at"].endswith("Z")
    assert tags["govdash.environment"] == "production"
    assert "compliance_validated" not in official.get_model_version(name, "1").tags
    assert (request.status, request.promotion) == (Status.APPROVED, Promotion.DONE)
    assert request.promoted_at is not None
    assert request.delivery_lease_until is None
    [attempt] = _attempts(request)
    assert (attempt.kind, attempt.attempt, attempt.succeeded) == ("mlflow", 1, True)
    assert "alias production of" in attempt.detail


def test_a_second_run_of_the_job_does_nothing(
    people: dict[str, Any], mlflow_server: MlflowServer, registry: tuple[MlflowClient, str]
) -> None:
    official, name = registry
    mv = f.version(f.source("mlflow-real", mlflow_server.url), name, "1")
    request = f.promotion_request(
        version=mv, environment=f.environment("staging"), requester=people["ana"]
    )
    deliver_promotion_job(request.pk)
    official.set_registered_model_alias(name, "staging", "2")  # moved since

    deliver_promotion_job(request.pk)

    assert official.get_model_version_by_alias(name, "staging").version == "2"
    assert len(_attempts(request)) == 1


def test_the_alias_is_moved_from_the_version_it_pointed_at(
    people: dict[str, Any], mlflow_server: MlflowServer, registry: tuple[MlflowClient, str]
) -> None:
    official, name = registry
    official.set_registered_model_alias(name, "production", "1")
    mv = f.version(f.source("mlflow-real", mlflow_server.url), name, "2")
    request = f.promotion_request(
        version=mv, environment=f.environment("production"), requester=people["ana"]
    )

    deliver_promotion_job(request.pk)

    assert official.get_registered_model(name).aliases == {"production": "2"}


def test_an_unreachable_mlflow_is_tried_three_times_then_failed_keeping_the_approval(
    people: dict[str, Any],
) -> None:
    src = f.source("mlflow-gone", f"http://127.0.0.1:{free_port()}")
    request = f.promotion_request(
        version=f.version(src, "scorer"),
        environment=f.environment("production"),
        requester=people["ana"],
        approvers=_approvers(people),
    )

    deliver_promotion_job(request.pk)

    request.refresh_from_db()
    attempts = _attempts(request)
    assert [(a.attempt, a.succeeded) for a in attempts] == [(1, False), (2, False), (3, False)]
    assert all("did not answer" in a.detail for a in attempts)
    assert request.status == Status.APPROVED
    assert request.promotion == Promotion.FAILED
    assert request.promotion_detail.startswith("gave up after 3 attempts: MLflow at")
    assert request.delivery_lease_until is None


def test_a_version_missing_from_mlflow_fails_at_once(
    people: dict[str, Any], mlflow_server: MlflowServer, registry: tuple[MlflowClient, str]
) -> None:
    _, name = registry
    mv = f.version(f.source("mlflow-real", mlflow_server.url), name, "99")
    request = f.promotion_request(
        version=mv, environment=f.environment("production"), requester=people["ana"]
    )

    deliver_promotion_job(request.pk)

    request.refresh_from_db()
    [attempt] = _attempts(request)
    assert not attempt.succeeded
    assert attempt.status_code == 404
    assert request.promotion == Promotion.FAILED
    assert "not found" in request.promotion_detail


def test_numbering_continues_after_a_retry(
    people: dict[str, Any], mlflow_server: MlflowServer, registry: tuple[MlflowClient, str]
) -> None:
    official, name = registry
    src = f.source("mlflow-real", mlflow_server.url)
    request = f.promotion_request(
        version=f.version(src, name, "1"),
        environment=f.environment("production"),
        requester=people["ana"],
    )
    DeliveryAttempt.objects.create(request=request, kind="mlflow", attempt=3, detail="earlier")

    deliver_promotion_job(request.pk)

    assert [a.attempt for a in _attempts(request)] == [3, 4]
    assert official.get_model_version_by_alias(name, "production").version == "1"


def test_hook_always_sends_to_the_hook_instead_of_mlflow(
    people: dict[str, Any],
    mlflow_server: MlflowServer,
    registry: tuple[MlflowClient, str],
    webhook: WebhookReceiver,
) -> None:
    official, name = registry
    env = f.environment(
        "production", hook_kind="webhook", hook_url=webhook.url, secret=SECRET, hook_always=True
    )
    mv = f.version(f.source("mlflow-real", mlflow_server.url), name, "1")
    request = f.promotion_request(version=mv, environment=env, requester=people["ana"])

    deliver_promotion_job(request.pk)

    request.refresh_from_db()
    assert request.promotion == Promotion.DONE
    assert [r.signature_ok for r in webhook.received] == [True]
    assert official.get_registered_model(name).aliases == {}


# ----------------------------------------------------------------- GitLab source


def test_a_gitlab_source_without_a_hook_fails_saying_a_hook_is_required(
    people: dict[str, Any],
) -> None:
    request = _gitlab_request(people, f.environment("production"))

    deliver_promotion_job(request.pk)

    request.refresh_from_db()
    [attempt] = _attempts(request)
    assert (attempt.kind, attempt.succeeded) == ("none", False)
    assert request.promotion == Promotion.FAILED
    assert "needs a hook" in request.promotion_detail
    assert "GitLab cannot set aliases" in request.promotion_detail


def test_gitlab_trigger_starts_a_pipeline_with_the_documented_form_fields(
    people: dict[str, Any], gitlab_trigger: GitLabTriggerFake
) -> None:
    env = f.environment(
        "production",
        hook_kind="gitlab-trigger",
        hook_url=gitlab_trigger.trigger_url,
        hook_ref="deploy",
        secret=TRIGGER_TOKEN,
    )
    request = _gitlab_request(people, env)

    deliver_promotion_job(request.pk)

    request.refresh_from_db()
    [got] = gitlab_trigger.received
    assert got.status == 201
    assert got.form["token"] == [TRIGGER_TOKEN]
    assert got.form["ref"] == ["deploy"]
    assert gitlab_trigger.variables(got) == {
        "MODEL_NAME": "fraud-detector",
        "MODEL_VERSION": "1.4.0",
        "DEPLOY_ENVIRONMENT": "production",
    }
    assert request.promotion == Promotion.DONE
    [attempt] = _attempts(request)
    assert attempt.kind == "gitlab-trigger"
    assert attempt.status_code == 201
    assert "pipeline 1001" in attempt.detail
    assert TRIGGER_TOKEN not in attempt.detail


def test_gitlab_trigger_with_a_wrong_token_fails_without_retrying_or_showing_the_token(
    people: dict[str, Any], gitlab_trigger: GitLabTriggerFake
) -> None:
    env = f.environment(
        "production",
        hook_kind="gitlab-trigger",
        hook_url=gitlab_trigger.trigger_url,
        hook_ref="main",
        secret="glptt-revoked",
    )
    request = _gitlab_request(people, env)

    deliver_promotion_job(request.pk)

    request.refresh_from_db()
    assert len(gitlab_trigger.received) == 1
    assert request.promotion == Promotion.FAILED
    assert "HTTP 404" in request.promotion_detail
    assert "glptt-revoked" not in request.promotion_detail


def test_gitlab_trigger_for_an_unknown_ref_reports_gitlabs_reason(
    people: dict[str, Any], gitlab_trigger: GitLabTriggerFake
) -> None:
    env = f.environment(
        "production",
        hook_kind="gitlab-trigger",
        hook_url=gitlab_trigger.trigger_url,
        hook_ref="no-such-branch",
        secret=TRIGGER_TOKEN,
    )
    request = _gitlab_request(people, env)

    deliver_promotion_job(request.pk)

    request.refresh_from_db()
    assert request.promotion == Promotion.FAILED
    assert "HTTP 400" in request.promotion_detail
    assert "Reference not found" in request.promotion_detail


def test_gitlab_trigger_without_a_ref_is_not_sent(
    people: dict[str, Any], gitlab_trigger: GitLabTriggerFake
) -> None:
    env = f.environment(
        "production",
        hook_kind="gitlab-trigger",
        hook_url=gitlab_trigger.trigger_url,
        hook_ref="",
        secret=TRIGGER_TOKEN,
    )
    request = _gitlab_request(people, env)

    deliver_promotion_job(request.pk)

    request.refresh_from_db()
    assert gitlab_trigger.received == []
    assert request.promotion == Promotion.FAILED
    assert "has no ref" in request.promotion_detail


def test_gitlab_fake_refuses_what_gitlab_refuses(gitlab_trigger: GitLabTriggerFake) -> None:
    import requests

    url = gitlab_trigger.trigger_url

    def post(**form: str) -> requests.Response:
        return requests.post(url, data=form, timeout=5)

    assert post(ref="main").status_code == 400  # no token
    assert post(token=TRIGGER_TOKEN).status_code == 400  # no ref
    assert post(token=TRIGGER_TOKEN, ref="main", **{"variables[BAD-KEY]": "x"}).status_code == 400
    assert post(token=TRIGGER_TOKEN, ref="main", MODEL_NAME="x").status_code == 400
    assert post(token="nope", ref="main").status_code == 404
    assert post(token=TRIGGER_TOKEN, ref="main", **{"variables[A_1]": "x"}).status_code == 201


# ----------------------------------------------------------------- signed webhook


def _webhook_request(
    people: dict[str, Any], receiver: WebhookReceiver, **env: Any
) -> PromotionRequest:
    environment = f.environment(
        "production", hook_kind="webhook", hook_url=receiver.url, **({"secret": SECRET} | env)
    )
    return _gitlab_request(people, environment)


def test_webhook_is_signed_and_carries_the_request(
    people: dict[str, Any], webhook: WebhookReceiver, settings: Any
) -> None:
    settings.BASE_URL = "https://govdash.example"
    request = _webhook_request(people, webhook)

    deliver_promotion_job(request.pk)

    request.refresh_from_db()
    [got] = webhook.received
    assert got.signature_ok
    assert got.headers["content-type"] == "application/json"
    assert got.headers["x-govdash-event"] == "promotion.approved"
    assert got.headers["x-govdash-delivery"]
    [payload] = webhook.payloads()
    assert payload["id"] == request.pk
    assert payload["url"] == delivery.request_url(request)
    assert payload["url"].startswith("https://govdash.example/")
    assert str(request.pk) in payload["url"]
    assert payload["status"] == "approved"
    assert (payload["environment"], payload["alias"]) == ("production", "production")
    assert (payload["source"], payload["source_kind"]) == ("gitlab-ml", "gitlab")
    assert (payload["model"], payload["version"], payload["semver"]) == (
        "fraud-detector",
        "17",
        "1.4.0",
    )
    assert [a["user"] for a in payload["approvers"]] == ["olivia", "rex", "rita", "ryan"]
    assert payload["approvers"][0] == {
        "user": "olivia",
        "stage": "Compliance review",
        "role": "compliance-officer",
        "at": payload["approvers"][0]["at"],
    }
    assert payload["approved_at"].endswith("Z")
    assert payload["snapshot_sha256"] == request.snapshot_sha256
    assert request.promotion == Promotion.DONE


def test_the_signature_covers_the_exact_body_and_timestamp() -> None:
    body = b'{"id":1}'
    signature = delivery.sign(SECRET, "1700000000", body)

    assert signature.startswith("sha256=")
    assert signature != delivery.sign(SECRET, "1700000001", body)
    assert signature != delivery.sign(SECRET, "1700000000", b'{"id": 1}')
    assert signature != delivery.sign("other", "1700000000", body)


def test_a_receiver_with_another_secret_refuses_and_the_promotion_fails(
    people: dict[str, Any], webhook: WebhookReceiver
) -> None:
    request = _webhook_request(people, webhook, secret="not-the-receivers-secret")

    deliver_promotion_job(request.pk)

    request.refresh_from_db()
    assert [r.signature_ok for r in webhook.received] == [False]
    assert request.promotion == Promotion.FAILED
    assert "HTTP 401" in request.promotion_detail


def test_server_errors_are_retried_and_each_try_recorded(
    people: dict[str, Any], webhook: WebhookReceiver
) -> None:
    webhook.script(Script(500, b"oops"), Script(503, b"busy"), Script(200))
    request = _webhook_request(people, webhook)

    deliver_promotion_job(request.pk)

    request.refresh_from_db()
    attempts = _attempts(request)
    assert [(a.attempt, a.status_code, a.succeeded) for a in attempts] == [
        (1, 500, False),
        (2, 503, False),
        (3, 200, True),
    ]
    assert attempts[0].detail.endswith("answered HTTP 500: oops")
    assert request.promotion == Promotion.DONE
    bodies = {r.body for r in webhook.received}
    assert len(bodies) == 1  # the same request each time: receivers can de-duplicate by id


def test_persistent_server_errors_fail_with_a_short_scrubbed_reason(
    people: dict[str, Any], webhook: WebhookReceiver
) -> None:
    noisy = (f"<html>\n{SECRET} leaked\r\n" + "x" * 5000).encode()
    webhook.script(*[Script(502, noisy)] * 3)
    request = _webhook_request(people, webhook)

    deliver_promotion_job(request.pk)

    request.refresh_from_db()
    assert len(_attempts(request)) == 3
    assert request.promotion == Promotion.FAILED
    assert request.promotion_detail.startswith("gave up after 3 attempts: ")
    assert "HTTP 502" in request.promotion_detail
    assert SECRET not in request.promotion_detail
    assert "*** leaked" in request.promotion_detail
    assert "\n" not in request.promotion_detail
    assert len(request.promotion_detail) < 400


def test_a_client_error_is_not_retried(people: dict[str, Any], webhook: WebhookReceiver) -> None:
    webhook.script(Script(422, b'{"error": "unknown environment"}'))
    request = _webhook_request(people, webhook)

    deliver_promotion_job(request.pk)

    request.refresh_from_db()
    assert len(webhook.received) == 1
    assert request.promotion == Promotion.FAILED
    assert "unknown environment" in request.promotion_detail


def test_a_timeout_is_recorded_and_retried(
    people: dict[str, Any], webhook: WebhookReceiver, settings: Any
) -> None:
    settings.PROMOTION_DELIVERY_TIMEOUT_SECONDS = 1
    webhook.script(Script(200, delay=5), Script(200))
    request = _webhook_request(people, webhook)

    deliver_promotion_job(request.pk)

    request.refresh_from_db()
    first, second = _attempts(request)
    assert not first.succeeded
    assert "did not answer within 1s" in first.detail
    assert second.succeeded
    assert request.promotion == Promotion.DONE


def test_connection_refused_is_retried_then_failed(people: dict[str, Any]) -> None:
    env = f.environment(
        "production",
        hook_kind="webhook",
        hook_url=f"http://127.0.0.1:{free_port()}/hook?key=abc",
        secret=SECRET,
    )
    request = _gitlab_request(people, env)

    deliver_promotion_job(request.pk)

    request.refresh_from_db()
    attempts = _attempts(request)
    assert len(attempts) == 3
    assert all(a.detail.endswith("/hook: connection refused") for a in attempts)
    assert "key=abc" not in request.promotion_detail  # a query may hold a token
    assert request.promotion == Promotion.FAILED


def test_redirects_are_not_followed(people: dict[str, Any], webhook: WebhookReceiver) -> None:
    webhook.script(Script(302, b"", headers={"Location": f"{webhook.url}/elsewhere"}))
    request = _webhook_request(people, webhook)

    deliver_promotion_job(request.pk)

    request.refresh_from_db()
    assert len(webhook.received) == 1
    assert request.promotion == Promotion.FAILED
    assert "redirected (HTTP 302)" in request.promotion_detail


def test_a_webhook_without_a_secret_is_not_sent_unsigned(
    people: dict[str, Any], webhook: WebhookReceiver
) -> None:
    env = f.environment("production", hook_kind="webhook", hook_url=webhook.url)
    env.hook_secret_encrypted = ""
    env.save()
    request = _gitlab_request(people, env)

    deliver_promotion_job(request.pk)

    request.refresh_from_db()
    assert webhook.received == []
    assert "no signing secret" in request.promotion_detail


# ----------------------------------------------------------------- one delivery only


def test_only_pending_promotions_of_approved_requests_are_delivered(
    people: dict[str, Any], webhook: WebhookReceiver
) -> None:
    request = _webhook_request(people, webhook)
    for status, promotion in [
        (Status.APPROVED, Promotion.DONE),
        (Status.APPROVED, Promotion.FAILED),
        (Status.APPROVED, Promotion.NONE),
        (Status.OPEN, Promotion.PENDING),
    ]:
        PromotionRequest.objects.filter(pk=request.pk).update(status=status, promotion=promotion)
        deliver_promotion_job(request.pk)
    deliver_promotion_job(999_999)

    assert webhook.received == []
    assert not DeliveryAttempt.objects.exists()


def test_a_held_lease_keeps_other_workers_out_until_it_lapses(
    people: dict[str, Any], webhook: WebhookReceiver
) -> None:
    import datetime as dt

    from django.utils import timezone

    request = _webhook_request(people, webhook)
    PromotionRequest.objects.filter(pk=request.pk).update(
        delivery_lease_until=timezone.now() + dt.timedelta(minutes=5)
    )
    deliver_promotion_job(request.pk)
    assert webhook.received == []

    PromotionRequest.objects.filter(pk=request.pk).update(
        delivery_lease_until=timezone.now() - dt.timedelta(seconds=1)
    )
    deliver_promotion_job(request.pk)
    request.refresh_from_db()
    assert len(webhook.received) == 1
    assert request.promotion == Promotion.DONE


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_deliver_once(webhook: WebhookReceiver) -> None:
    people = {
        name: f.user(name, role)
        for name, role in [
            ("ana", "ml-engineer"),
            ("olivia", "compliance-officer"),
            ("rex", "reviewer"),
            ("rita", "reviewer"),
            ("ryan", "reviewer"),
        ]
    }
    webhook.script(Script(200, delay=0.5))  # the first delivery is slow to answer
    request = _webhook_request(people, webhook)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            deliver_promotion_job(request.pk)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    request.refresh_from_db()
    assert len(webhook.received) == 1
    assert len(_attempts(request)) == 1
    assert request.promotion == Promotion.DONE


# ----------------------------------------------------------------- reconciliation


@pytest.mark.redis
def test_pending_promotions_whose_job_vanished_are_queued_again(
    people: dict[str, Any], redis_queue: Any
) -> None:
    import datetime as dt

    from django.utils import timezone

    from approvals.jobs import requeue_pending_promotions

    queue = redis_queue("default")
    env = f.environment("production")
    src = f.source("mlflow-test", "http://127.0.0.1:9")
    long_ago = timezone.now() - dt.timedelta(hours=1)

    def make(number: str, **fields: Any) -> PromotionRequest:
        return f.promotion_request(
            version=f.version(src, "scorer", number),
            environment=env,
            requester=people["ana"],
            **({"approved_at": long_ago} | fields),
        )

    lost = make("1")
    make("2", approved_at=timezone.now())  # its job may still be on its way
    make("3", delivery_lease_until=timezone.now() + dt.timedelta(minutes=5))  # being delivered
    make("4", promotion=Promotion.DONE)
    make("5", promotion=Promotion.FAILED)  # waits for an admin's retry
    lapsed = make("6", delivery_lease_until=long_ago)  # its worker died

    # The scheduler's one reconciliation loop runs it (the promotions' reconciler).
    from kernel.reconcile import maintenance_tick, overdue

    assert overdue()["promotions"] == 2
    assert maintenance_tick() == {"promotion requeued": 2}

    jobs = queue.get_jobs()
    assert [(job.func_name, job.args) for job in jobs] == [
        ("approvals.jobs.deliver_promotion_job", (lost.pk,)),
        ("approvals.jobs.deliver_promotion_job", (lapsed.pk,)),
    ]
    queue.empty()
    assert requeue_pending_promotions() == 2


def test_tries_are_spaced_by_a_doubling_wait(people: dict[str, Any], settings: Any) -> None:
    settings.PROMOTION_DELIVERY_ATTEMPTS = 4
    settings.PROMOTION_DELIVERY_BACKOFF_SECONDS = 5
    env = f.environment(
        "production",
        hook_kind="webhook",
        hook_url=f"http://127.0.0.1:{free_port()}/",
        secret=SECRET,
    )
    request = _gitlab_request(people, env)
    waits: list[float] = []

    outcome = delivery.deliver_with_retries(request, sleep=waits.append)

    assert waits == [5, 10, 20]
    assert not outcome.succeeded
    assert outcome.detail.startswith("gave up after 4 attempts: ")
    assert len(_attempts(request)) == 4
