"""The default production workflow end to end, in a real browser.

An ML engineer requests the promotion of a version trained and registered on a
real ``mlflow server``; the compliance officer and three reviewers approve it
stage by stage; govdash sets the ``production`` alias and the approval tags on
the server (read back with the official client); the CI gate then says yes.
Jobs run inline here (``JOBS_INLINE``): the queue's behaviour is tested elsewhere.
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.core.management import call_command
from mlflow import MlflowClient
from playwright.sync_api import Page, expect

from approvals.models import PromotionRequest
from audit.services import verify
from tests.approvals.conftest import ensure_default_environments
from tests.browser.conftest import assert_accessible, snapshot
from tracking.services import source_create

pytestmark = [pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"


def _sign_in(page: Page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()


def _sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))


def _register_promotable_version(tracking_uri: str) -> tuple[str, str]:
    """A compliant run (trained by someone who is not a govdash user) and a version
    carrying the governance tags; returns (model name, version)."""
    client = MlflowClient(tracking_uri)
    suffix = uuid.uuid4().hex[:8]
    experiment_id = client.create_experiment(
        f"journey-{suffix}",
        artifact_location=f"s3://journey-bucket/{suffix}",
        tags={"department": "Fraud Prevention"},
    )
    run = client.create_run(
        experiment_id,
        run_name="candidate",
        tags={
            "mlflow.user": "trainer.tom",
            "classification": "official",
            "department": "Fraud Prevention",
        },
    )
    # A non-compliant neighbour (no classification), so the start page lists one.
    stray = client.create_run(experiment_id, run_name="stray", tags={"mlflow.user": "tom"})
    client.set_terminated(stray.info.run_id)
    client.log_param(run.info.run_id, "max_depth", "6")
    client.log_metric(run.info.run_id, "val_auc", 0.93)
    client.set_terminated(run.info.run_id)
    name = f"journey-model-{suffix}"
    client.create_registered_model(name)
    version = client.create_model_version(
        name,
        f"s3://journey-bucket/{suffix}/model",
        run_id=run.info.run_id,
        tags={
            "classification": "official",
            "compliance": "reviewed",
            "department": "Fraud Prevention",
            "security_scan": "passed",
        },
    )
    return name, str(version.version)


def _vote(page: Page, request_url: str, username: str, decision: str, comment: str) -> None:
    _sign_in(page, username)
    page.get_by_role("link", name=re.compile(r"^#\d+$")).first.click()
    expect(page).to_have_url(re.compile(re.escape(request_url) + "$"))
    # U.S. Web Design System radios and checkboxes are styled labels over hidden inputs.
    page.locator("label", has_text=re.compile(f"^{decision}$")).click()
    page.get_by_label("Comment", exact=True).fill(comment)
    page.locator("label", has_text="I have read the evidence").click()
    page.get_by_role("button", name="Submit vote").click()
    expect(page.get_by_text(f"You {decision.lower()}d request")).to_be_visible()
    _sign_out(page)


def test_engineer_requests_officer_and_three_reviewers_approve_alias_moves_gate_says_yes(
    page: Page, make_user, mlflow_server, default_policy, settings
):
    settings.JOBS_INLINE = True
    ensure_default_environments()
    for username, role in [
        ("eve", "ml-engineer"),
        ("olivia", "compliance-officer"),
        ("rita", "reviewer"),
        ("sam", "reviewer"),
        ("tariq", "reviewer"),
    ]:
        make_user(username, role)
    model_name, version = _register_promotable_version(mlflow_server.url)
    source_create(name="journey", url=mlflow_server.url)
    call_command("sync", "journey")
    call_command("assess")

    # The engineer asks, from the version's page.
    _sign_in(page, "eve")
    page.goto("/tracking/models/")
    page.get_by_role("link", name=model_name, exact=True).click()
    page.get_by_role("link", name=version, exact=True).first.click()
    page.get_by_role("link", name="Request promotion").click()
    assert_accessible(page, "promotion-request-form")
    page.get_by_label("Environment").select_option("production")
    page.get_by_label("Justification").fill("Beats v0 on recall; model card updated.")
    page.get_by_role("button", name="Request promotion").click()
    expect(page.get_by_test_id("status")).to_have_text("Open")
    request_url = re.sub(r"^https?://[^/]+", "", page.url)
    assert_accessible(page, "promotion-request-open")
    snapshot(page, "promotion-request-open")
    _sign_out(page)

    # The officer finds it in the inbox on the start page, then each reviewer in turn.
    _sign_in(page, "olivia")
    expect(page.get_by_role("heading", name=re.compile("Awaiting your review"))).to_be_visible()
    # (the stray run guarantees at least one; the shared server may add others)
    expect(
        page.get_by_role("region", name="Table of the latest non-compliant runs")
    ).to_be_visible()
    assert_accessible(page, "start-page-officer")
    page.goto("/approvals/")
    assert_accessible(page, "approvals-inbox")
    _sign_out(page)
    _vote(page, request_url, "olivia", "Approve", "Classification and evidence in order.")
    _vote(page, request_url, "rita", "Approve", "Dependency scan clean.")
    _vote(page, request_url, "sam", "Approve", "Release notes reviewed.")
    _vote(page, request_url, "tariq", "Approve", "Ship it.")

    item = PromotionRequest.objects.get()
    assert item.status == PromotionRequest.Status.APPROVED
    assert item.promotion == PromotionRequest.Promotion.DONE, item.promotion_detail

    # The alias and the approval tags, read back from the server with the official client.
    client = MlflowClient(mlflow_server.url)
    assert client.get_registered_model(model_name).aliases["production"] == version
    tags = client.get_model_version(model_name, version).tags
    assert tags["compliance_validated"] == "true"
    assert tags["govdash.promotion_request"] == str(item.pk)

    # Anyone signed in sees the outcome; the CI gate (session-authenticated here) says yes.
    _sign_in(page, "eve")
    page.goto(request_url)
    expect(page.get_by_test_id("status")).to_have_text("Approved")
    expect(page.get_by_test_id("promotion")).to_contain_text("Done")
    assert_accessible(page, "promotion-request-approved")
    snapshot(page, "promotion-request-approved")
    answer = page.request.get(
        "/api/v1/gate",
        params={
            "source": "journey",
            "model": model_name,
            "version": version,
            "environment": "production",
        },
    )
    assert answer.status == 200, answer.text()
    assert answer.json()["approved"] is True
    assert verify().intact
