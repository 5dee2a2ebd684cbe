"""Carrying out an approved promotion: MLflow alias and tags, or the environment's hook.

:func:`deliver` makes one try and says how it went (an :class:`Outcome`); it never raises for
a failure it can describe. :func:`deliver_with_retries` makes up to
``PROMOTION_DELIVERY_ATTEMPTS`` tries, waiting ``PROMOTION_DELIVERY_BACKOFF_SECONDS`` times 1,
2, 4… between them, and records each as a ``DeliveryAttempt``. :func:`claim` and
:func:`release` hold a request for one worker at a time. ``approvals.jobs`` wires them
together and reports the result to ``approvals.services.promotion_delivered``.

Where a promotion goes:

* **vanilla MLflow source** (unless the environment sets ``hook_always``): version tags
  ``compliance_validated=true`` and ``govdash.*`` (see :func:`version_tags`), then the
  environment's alias on the version, last, so an alias that moved always carries its tags.
  These writes belong to the workflow, whatever the source's run-tag write-back option says.
* **GitLab source** (no alias or version-tag writes), or ``hook_always``: the environment's
  hook, a GitLab pipeline trigger or a signed webhook (docs/webhooks.md). Without a hook the
  promotion fails at once, saying a hook is required.

Calls never follow redirects, time out after ``PROMOTION_DELIVERY_TIMEOUT_SECONDS``, and what
they record keeps only the start of an answer, with the hook's secret scrubbed out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from django.db.models import Max, Q
from django.urls import NoReverseMatch
from django.utils import timezone

from approvals.models import DeliveryAttempt, Environment, PromotionRequest, Vote
from tracking import secrets
from tracking.mlflow import MlflowError, SourceUnavailable
from tracking.models import Source
from tracking.sources import client_for

logger = logging.getLogger(__name__)

Kind = DeliveryAttempt.Kind

# The version tags a promotion writes on vanilla MLflow (docs/approvals.md). The seed's
# deploy script accepts a version carrying compliance_validated=true.
TAG_VALIDATED = "compliance_validated"
TAG_REQUEST = "govdash.promotion_request"
TAG_APPROVED_BY = "govdash.approved_by"
TAG_APPROVED_AT = "govdash.approved_at"
TAG_ENVIRONMENT = "govdash.environment"

# The signed webhook (docs/webhooks.md).
WEBHOOK_EVENT = "promotion.approved"
SIGNATURE_HEADER = "X-Govdash-Signature"
TIMESTAMP_HEADER = "X-Govdash-Timestamp"
EVENT_HEADER = "X-Govdash-Event"
DELIVERY_HEADER = "X-Govdash-Delivery"

# What is kept of a hook's answer in the recorded detail.
ANSWER_SHOWN = 200
DETAIL_MAX = 1000
_ANSWER_READ = 4096
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Outcome:
    """How one try went. ``retryable``: another try might go differently."""

    succeeded: bool
    detail: str
    kind: str
    status_code: int | None = None
    retryable: bool = False


# ----------------------------------------------------------------- what is sent


def iso_utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def approving_votes(request: PromotionRequest) -> list[Vote]:
    return list(
        request.votes.filter(decision=Vote.Decision.APPROVE)
        .select_related("user")
        .order_by("at", "id")
    )


def approved_at(request: PromotionRequest, votes: list[Vote] | None = None) -> dt.datetime:
    """When the request was approved: when it closed, else its last approving vote."""
    if request.closed_at is not None:
        return request.closed_at
    votes = approving_votes(request) if votes is None else votes
    return votes[-1].at if votes else request.created_at


def request_url(request: PromotionRequest) -> str:
    """The request's page as an absolute URL under ``GOVDASH_BASE_URL``."""
    try:
        path = request.get_absolute_url()
    except NoReverseMatch:  # the request pages are not installed (yet): where they will be
        path = f"/approvals/requests/{request.pk}/"
    return f"{settings.BASE_URL}{path}"


def version_tags(request: PromotionRequest) -> dict[str, str]:
    """The tags a promotion writes on the version, in the order they are written."""
    votes = approving_votes(request)
    return {
        TAG_VALIDATED: "true",
        TAG_REQUEST: str(request.pk),
        TAG_APPROVED_BY: ",".join(vote.user.get_username() for vote in votes),
        TAG_APPROVED_AT: iso_utc(approved_at(request, votes)),
        TAG_ENVIRONMENT: request.environment.name,
    }


def webhook_payload(request: PromotionRequest) -> dict[str, Any]:
    """The JSON object a signed webhook receives (docs/webhooks.md)."""
    version = request.version
    model = version.model
    source = model.source
    votes = approving_votes(request)
    return {
        "event": WEBHOOK_EVENT,
        "id": request.pk,
        "url": request_url(request),
        "status": request.status,
        "rollback": request.rollback,
        "environment": request.environment.name,
        "alias": request.environment.alias,
        "source": source.name,
        "source_kind": source.kind,
        "model": model.name,
        "version": version.version,
        "semver": version.semver,
        "run_id": version.mlflow_run_id,
        "requested_by": request.requested_by.get_username(),
        "approvers": [
            {
                "user": v.user.get_username(),
                "stage": v.stage_name,
                "role": v.role,
                "at": iso_utc(v.at),
            }
            for v in votes
        ],
        "approved_at": iso_utc(approved_at(request, votes)),
        "snapshot_sha256": request.snapshot_sha256,
    }


def webhook_body(payload: Mapping[str, Any]) -> bytes:
    """Canonical JSON: sorted keys, no spaces, UTF-8. The signature covers these bytes."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Govdash-Signature`` value: ``sha256=`` HMAC-SHA256 of ``<timestamp>.<body>``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def gitlab_trigger_form(request: PromotionRequest, token: str) -> dict[str, str]:
    """The form fields of GitLab's ``POST /projects/:id/trigger/pipeline``."""
    version = request.version
    return {
        "token": token,
        "ref": request.environment.hook_ref,
        "variables[MODEL_NAME]": version.model.name,
        # GitLab's own versions are database ids; people (and pipelines) use the semver.
        "variables[MODEL_VERSION]": version.semver or version.version,
        "variables[DEPLOY_ENVIRONMENT]": request.environment.name,
    }


# ----------------------------------------------------------------- one try


def plan(request: PromotionRequest) -> tuple[str, str]:
    """(the kind of delivery this request gets, why it cannot be delivered or "")."""
    environment = request.environment
    source = request.version.model.source
    gitlab = source.kind == Source.Kind.GITLAB
    if not gitlab and not environment.hook_always:
        return Kind.MLFLOW, ""
    if environment.hook_kind == Environment.HookKind.GITLAB_TRIGGER:
        return Kind.GITLAB_TRIGGER, ""
    if environment.hook_kind == Environment.HookKind.WEBHOOK:
        return Kind.WEBHOOK, ""
    if gitlab:
        reason = (
            f"environment {environment.name} needs a hook (a GitLab pipeline trigger or a "
            f"signed webhook) to promote from the GitLab source {source.name}: GitLab cannot "
            "set aliases or tag versions"
        )
    else:
        reason = (
            f"environment {environment.name} is set to always deliver to its hook, "
            "but no hook is configured"
        )
    return Kind.NONE, reason


def deliver(request: PromotionRequest) -> Outcome:
    """One try at carrying out the approved ``request``; never raises for a known failure."""
    kind, refusal = plan(request)
    if refusal:
        return Outcome(False, refusal, kind)
    if kind == Kind.MLFLOW:
        return _deliver_mlflow(request)
    environment = request.environment
    if not environment.hook_url:
        return Outcome(False, f"environment {environment.name}: the hook has no URL", kind)
    if not environment.hook_secret_encrypted:
        what = "trigger token" if kind == Kind.GITLAB_TRIGGER else "signing secret"
        return Outcome(False, f"environment {environment.name}: the hook has no {what}", kind)
    try:
        secret = secrets.decrypt(environment.hook_secret_encrypted)
    except secrets.SecretUnavailable as exc:
        return Outcome(False, f"environment {environment.name}: hook secret: {exc}", kind)
    if kind == Kind.GITLAB_TRIGGER:
        if not environment.hook_ref:
            return Outcome(
                False, f"environment {environment.name}: the GitLab trigger has no ref", kind
            )
        return _post(
            kind,
            environment.hook_url,
            secret,
            data=gitlab_trigger_form(request, secret),
            headers={},
            describe=_pipeline_started,
        )
    body = webhook_body(webhook_payload(request))
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
        EVENT_HEADER: WEBHOOK_EVENT,
        DELIVERY_HEADER: str(uuid.uuid4()),
    }
    return _post(kind, environment.hook_url, secret, data=body, headers=headers)


def _deliver_mlflow(request: PromotionRequest) -> Outcome:
    version = request.version
    model = version.model
    source = model.source
    alias = request.environment.alias
    seconds = settings.PROMOTION_DELIVERY_TIMEOUT_SECONDS
    kind = Kind.MLFLOW
    try:
        # No retries inside the client: each try of the job is one recorded attempt.
        with client_for(source, max_retries=0, timeout=(seconds, seconds)) as client:
            tags = version_tags(request)
            for key, value in tags.items():
                client.set_model_version_tag(model.name, version.version, key, value)
            client.set_registered_model_alias(model.name, alias, version.version)
    except secrets.SecretUnavailable as exc:
        return Outcome(False, f"source {source.name}: {exc}", kind)
    except SourceUnavailable as exc:
        return Outcome(False, str(exc), kind, status_code=exc.status, retryable=True)
    except MlflowError as exc:
        return Outcome(False, str(exc), kind, status_code=exc.status)
    except ValueError as exc:  # a source URL the client cannot use
        return Outcome(False, f"source {source.name}: {exc}", kind)
    return Outcome(
        True,
        f"alias {alias} of {model.name} now points at version {version.version}; "
        f"version tags {', '.join(tags)} written",
        kind,
        status_code=200,
    )


def _where(url: str) -> str:
    """The hook URL as shown in details: no query or credentials (they may hold a token)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def shown(text: str, secret: str, limit: int = ANSWER_SHOWN) -> str:
    """``text`` fit for a recorded detail: one line, no control characters, the secret
    replaced by ``***``, at most ``limit`` characters."""
    text = " ".join(_CONTROL.sub(" ", text).split())
    if secret:
        text = text.replace(secret, "***")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _pipeline_started(answer: str) -> str:
    try:
        pipeline = json.loads(answer)
    except ValueError:
        return ""
    if not isinstance(pipeline, dict) or "id" not in pipeline:
        return ""
    web_url = pipeline.get("web_url")
    return f"pipeline {pipeline['id']}" + (f" ({web_url})" if isinstance(web_url, str) else "")


def _post(
    kind: str,
    url: str,
    secret: str,
    *,
    data: bytes | Mapping[str, str],
    headers: Mapping[str, str],
    describe: Callable[[str], str] | None = None,
) -> Outcome:
    where = _where(url)
    seconds = settings.PROMOTION_DELIVERY_TIMEOUT_SECONDS
    try:
        if urlsplit(url).scheme not in ("http", "https"):
            return Outcome(False, f"the hook URL {where} is not http(s)", kind)
        response = requests.post(
            url,
            data=data,
            headers={"User-Agent": "govdash", **headers},
            timeout=(seconds, seconds),
            allow_redirects=False,
            stream=True,
        )
        with response:
            raw = next(response.iter_content(_ANSWER_READ), b"")
    except requests.Timeout:
        return Outcome(False, f"{where} did not answer within {seconds:g}s", kind, retryable=True)
    except requests.ConnectionError as exc:
        reason = "connection refused" if "refused" in str(exc).lower() else "connection failed"
        return Outcome(False, f"{where}: {reason}", kind, retryable=True)
    except (requests.RequestException, ValueError) as exc:
        return Outcome(False, f"{where}: {type(exc).__name__}", kind)
    status = response.status_code
    answer = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    said = shown(answer, secret)
    if 200 <= status < 300:
        extra = describe(answer) if describe else ""
        detail = f"{where} accepted the promotion (HTTP {status})"
        return Outcome(True, detail + (f": {shown(extra, secret)}" if extra else ""), kind, status)
    if 300 <= status < 400:
        location = shown(response.headers.get("Location", "nowhere"), secret)
        return Outcome(
            False,
            f"{where} redirected (HTTP {status}) to {location}; configure the URL it redirects to",
            kind,
            status,
        )
    detail = f"{where} answered HTTP {status}" + (f": {said}" if said else "")
    retryable = status in (408, 429) or status >= 500
    return Outcome(False, detail, kind, status, retryable)


# ----------------------------------------------------------------- tries, lease


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def deliver_with_retries(
    request: PromotionRequest, *, sleep: Callable[[float], None] = _sleep
) -> Outcome:
    """Up to ``PROMOTION_DELIVERY_ATTEMPTS`` tries, each recorded; the last try's outcome,
    with its detail saying how many tries it took when more than one failed."""
    attempts = settings.PROMOTION_DELIVERY_ATTEMPTS
    backoff = float(settings.PROMOTION_DELIVERY_BACKOFF_SECONDS)
    done = DeliveryAttempt.objects.filter(request=request).aggregate(n=Max("attempt"))["n"] or 0
    outcome = Outcome(False, "not tried", Kind.NONE)
    for number in range(1, attempts + 1):
        if number > 1:
            sleep(backoff * 2 ** (number - 2))
        outcome = deliver(request)
        record_attempt(request=request, attempt=done + number, outcome=outcome)
        if outcome.succeeded:
            return outcome
        logger.warning(
            "promotion #%s: delivery attempt %d of %d failed: %s",
            request.pk,
            number,
            attempts,
            outcome.detail,
        )
        if not outcome.retryable:
            return outcome
    tries = f"{attempts} attempts" if attempts > 1 else "1 attempt"
    return Outcome(
        False, f"gave up after {tries}: {outcome.detail}", outcome.kind, outcome.status_code, True
    )


def record_attempt(*, request: PromotionRequest, attempt: int, outcome: Outcome) -> DeliveryAttempt:
    return DeliveryAttempt.objects.create(
        request=request,
        kind=outcome.kind,
        attempt=attempt,
        succeeded=outcome.succeeded,
        status_code=outcome.status_code,
        detail=outcome.detail[:DETAIL_MAX],
    )


def lease_seconds() -> float:
    """Longer than any delivery can take: per try, up to seven calls (MLflow: five tags and
    the alias, plus a spare) of connect + read timeout each; the waits; a minute to spare."""
    attempts = int(settings.PROMOTION_DELIVERY_ATTEMPTS)
    per_call = 2 * float(settings.PROMOTION_DELIVERY_TIMEOUT_SECONDS)
    waits = float(settings.PROMOTION_DELIVERY_BACKOFF_SECONDS) * (2.0 ** max(attempts - 1, 0))
    return attempts * 7 * per_call + waits + 60


def claim(request_id: int) -> dt.datetime | None:
    """Hold an approved request whose promotion is pending for this worker: the lease's end,
    or None when there is nothing to deliver or another worker holds it."""
    now = timezone.now()
    until = now + dt.timedelta(seconds=lease_seconds())
    taken = (
        PromotionRequest.objects.filter(
            pk=request_id,
            status=PromotionRequest.Status.APPROVED,
            promotion=PromotionRequest.Promotion.PENDING,
        )
        .filter(Q(delivery_lease_until__isnull=True) | Q(delivery_lease_until__lte=now))
        .update(delivery_lease_until=until)
    )
    return until if taken == 1 else None


def release(request_id: int, lease: dt.datetime) -> None:
    """Give the request back, unless the lease lapsed and another worker holds it now."""
    PromotionRequest.objects.filter(pk=request_id, delivery_lease_until=lease).update(
        delivery_lease_until=None
    )
