"""The mirror's pages in a real browser: accessible, escaped, and live while a sync runs."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import assert_accessible, snapshot
from tests.tracking_pages.conftest import build_mirror
from tracking.models import SyncRun
from tracking.services import sync_request

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery"


def _sign_in(page: Page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()


def _no_horizontal_overflow(page: Page, *regions: str) -> None:
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"
    for name in regions:
        box = page.get_by_role("region", name=name, exact=True)
        overflow = box.evaluate("(el) => el.scrollWidth - el.clientWidth")
        assert overflow <= 0, f"the {name} table scrolls sideways by {overflow}px"


def test_mirror_pages_are_accessible_and_the_sync_progress_is_live(page: Page, make_user):
    mirror = build_mirror()
    make_user("olivia", "compliance-officer")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    _sign_in(page, "olivia")

    # The overview warns of the out-of-band promotion.
    alerts = page.get_by_role("region", name=re.compile("Out-of-band promotions"))
    expect(alerts).to_contain_text("credit-model")
    assert_accessible(page, "overview-alerts")

    # Sources, with a sync in progress that finishes while the page is open.
    sync_run = sync_request(source=mirror.source)
    SyncRun.objects.filter(pk=sync_run.pk).update(
        status="running", phase="runs: credit-scoring", progress_done=30, progress_total=120
    )
    page.get_by_role("navigation", name="Primary navigation").get_by_role(
        "link", name="Sources"
    ).click()
    expect(page.get_by_role("heading", name="Sources", exact=True)).to_be_visible()
    progress = page.locator(f"#sync-progress-{sync_run.pk}")
    expect(progress).to_contain_text("30 of about 120 items")
    expect(page.get_by_text("GitLab: no model-version search")).to_be_visible()
    assert_accessible(page, "sources")
    snapshot(page, "sources")
    SyncRun.objects.filter(pk=sync_run.pk).update(progress_done=90)
    expect(progress).to_contain_text("90 of about 120 items", timeout=6_000)
    SyncRun.objects.filter(pk=sync_run.pk).update(
        status="succeeded", phase="done", progress_done=120, counts={"runs": 120}
    )
    expect(progress).to_contain_text("Succeeded", timeout=6_000)
    expect(progress).not_to_have_attribute("hx-trigger", re.compile("every"))

    # The runs table, filtered through its form.
    page.goto("/tracking/runs/")
    expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
    assert_accessible(page, "runs")
    page.get_by_label("Tag (key or key=value)").fill("team=ops")
    page.get_by_role("button", name="Filter").click()
    table = page.get_by_role("region", name="Runs")
    expect(table.get_by_role("row")).to_have_count(3)  # header and two runs
    snapshot(page, "runs-filtered")

    # A run with markup and 5,000-character values: escaped, wrapped, disclosed.
    page.goto(f"/tracking/runs/{mirror.hostile_run.pk}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("<script>alert('x')</script>")
    _no_horizontal_overflow(page, "Parameters", "Tags")
    snapshot(page, "run-detail")
    assert_accessible(page, "run-detail")
    page.get_by_text("Show all 5000 characters").click()
    expect(page.locator("details[open] .govdash-long")).to_contain_text("x" * 200)
    _no_horizontal_overflow(page, "Parameters", "Tags")
    assert_accessible(page, "run-detail-disclosed")

    # The model, its alias history, and acknowledging the alert.
    page.goto(f"/tracking/models/{mirror.model.pk}/")
    expect(page.get_by_role("heading", name="Model credit-model")).to_be_visible()
    expect(page.get_by_text("Not approved in govdash").first).to_be_visible()
    assert_accessible(page, "model-detail")
    snapshot(page, "model-detail")
    page.get_by_role("button", name=re.compile("Acknowledge the alert on credit-model")).click()
    expect(page.get_by_text("Alert acknowledged")).to_be_visible()
    assert_accessible(page, "model-detail-acknowledged")

    assert dialogs == []  # no synced script ever ran


def test_adding_a_source_is_accessible_and_keeps_the_secret_out_of_the_page(page: Page, make_user):
    make_user("ada", "admin")
    _sign_in(page, "ada")
    page.goto("/tracking/sources/")
    page.get_by_role("link", name="Add a source").click()
    assert_accessible(page, "source-add")
    page.get_by_label("Name").fill("gl")
    page.get_by_label("Kind").select_option("gitlab")
    page.get_by_label("URL").fill("https://gitlab.example.gov/wrong")
    page.get_by_label("Authentication").select_option("bearer")
    page.get_by_label("Credential: or enter it to store it encrypted").fill("glpat-keep-out")
    page.get_by_role("button", name="Add source").click()
    expect(page.get_by_text("a GitLab tracking URL looks like")).to_be_visible()
    assert "glpat-keep-out" not in page.content()
    assert_accessible(page, "source-add-error")

    page.get_by_label("Kind").select_option("mlflow")
    page.get_by_label("URL").fill("https://mlflow.example.gov")
    page.get_by_label("Authentication").select_option("none")
    page.get_by_role("button", name="Add source").click()
    expect(page.get_by_role("heading", name="Source gl")).to_be_visible()
    assert_accessible(page, "source-detail")
