"""The compliance pages in a real browser: accessible, escaped, and live while assessing."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from reports.jobs import assess_batch_job
from reports.services import assessment_request_create
from tests import factories
from tests.browser.conftest import assert_accessible, snapshot
from tests.reports_pages.conftest import SCRIPT, build

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery"


def _sign_in(page: Page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()


def test_compliance_pages_are_accessible_and_progress_is_live(
    page: Page, make_user, default_policy
):  # type: ignore[no-untyped-def]
    mirror = build(default_policy)
    make_user("olivia", "compliance-officer")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    _sign_in(page, "olivia")

    # The dashboard, with an assessment in progress that finishes while it is open.
    pending = [factories.run(mirror.experiments["finance"]) for _ in range(2)]
    request = assessment_request_create(
        version=default_policy,
        runs=pending[0].__class__.objects.filter(pk__in=[r.pk for r in pending]),
        reason="browser test",
    )
    page.goto("/compliance/")
    expect(page.get_by_role("heading", name="Compliance", exact=True)).to_be_visible()
    progress = page.locator("#assess-progress")
    expect(progress).to_contain_text("0 of 2 runs assessed (0%)")
    expect(page.get_by_role("img", name="Risk distribution of assessed runs")).to_be_visible()
    expect(page.get_by_role("img", name="Verdicts by source")).to_be_visible()
    assert_accessible(page, "compliance-dashboard")
    for batch in request.batches.all():
        assess_batch_job(batch.pk)
    expect(progress).to_contain_text("2 of 2 runs assessed (100%)", timeout=10_000)
    expect(progress).to_have_attribute("data-polling", "false")
    snapshot(page, "compliance-dashboard")

    # A figure opens the runs table filtered the same way.
    page.get_by_role("region", name="By source: numbers").get_by_role(
        "link", name="alpha", exact=True
    ).click()
    expect(page).to_have_url(re.compile(r"/compliance/runs/\?.*source=alpha"))
    expect(page.get_by_role("heading", name="Runs and verdicts")).to_be_visible()
    expect(page.get_by_label("Source")).to_have_value("alpha")
    # Synced text shows as text, never as markup.
    expect(page.get_by_role("link", name=f"run {SCRIPT}", exact=True)).to_be_visible()
    assert_accessible(page, "compliance-runs")
    snapshot(page, "compliance-runs")

    # Policies, a policy's rules in words, and the YAML editor with a named error.
    page.goto("/compliance/policies/")
    expect(page.get_by_role("heading", name="Compliance policies")).to_be_visible()
    assert_accessible(page, "compliance-policies")
    page.get_by_role("link", name="Default ML governance baseline").click()
    expect(
        page.get_by_role("heading", name="Training data classification is recorded")
    ).to_be_visible()
    assert_accessible(page, "compliance-policy")
    snapshot(page, "compliance-policy")
    page.get_by_role("link", name="Edit as YAML").click()
    editor = page.get_by_label("Policy (YAML)")
    editor.fill(editor.input_value().replace("severity: low", "severity: urgent"))
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("alert")).to_contain_text("rules[4].severity")
    expect(page.get_by_label("Policy (YAML)")).to_have_value(re.compile("severity: urgent"))
    assert_accessible(page, "compliance-policy-edit-error")
    assert dialogs == []
