"""A compliance officer's first visit, in a real browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from audit.models import AuditEvent
from tests.browser.conftest import assert_accessible, snapshot

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery"


def _sign_in(page: Page, username: str, password: str = PASSWORD) -> None:
    if "/accounts/login/" not in page.url:
        page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_login_overview_audit_and_logout(page: Page, make_user):
    make_user("olivia", "compliance-officer", "auditor")

    page.goto("/audit/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/audit/"))
    expect(page.get_by_role("heading", name="Sign in to govdash")).to_be_visible()
    assert_accessible(page, "login")
    snapshot(page, "login")

    _sign_in(page, "olivia")
    expect(page).to_have_url(re.compile(r"/audit/$"))
    expect(page.get_by_role("heading", name="Audit trail")).to_be_visible()
    expect(page.get_by_role("cell", name="auth.login", exact=True)).to_be_visible()
    assert_accessible(page, "audit")
    snapshot(page, "audit")

    page.get_by_role("navigation", name="Primary navigation").get_by_role(
        "link", name="Overview"
    ).click()
    expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()
    expect(page.get_by_text("compliance-officer")).to_be_visible()
    assert_accessible(page, "overview")

    page.goto("/audit/?action=auth.&outcome=success")
    expect(page.get_by_role("cell", name="auth.login", exact=True)).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))

    actions = list(
        AuditEvent.objects.filter(actor_username="olivia")
        .order_by("sequence")
        .values_list("action", flat=True)
    )
    assert actions[0] == "auth.login"
    assert actions[-1] == "auth.logout"


def test_wrong_password_shows_an_error_and_the_lockout_page(page: Page, make_user, settings):
    make_user("rahul", "reviewer")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _sign_in(page, "rahul", "not my password")
        expect(page.get_by_role("alert")).to_contain_text("did not match")
    assert_accessible(page, "login-error")
    _sign_in(page, "rahul", "not my password")
    expect(page.get_by_role("heading", name="Account locked")).to_be_visible()
    assert_accessible(page, "locked")


def test_admin_issues_a_token_in_the_browser(page: Page, make_user):
    make_user("ada", "admin")
    make_user("ci-bot", "ml-engineer")
    _sign_in(page, "ada")
    page.get_by_role("link", name="API tokens").click()
    assert_accessible(page, "tokens")
    page.get_by_label("User").select_option(label="ci-bot")
    page.get_by_label("Name").fill("nightly gate")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#new-token").inner_text()
    assert secret.startswith("gd_")
    expect(page.get_by_role("cell", name="nightly gate", exact=True)).to_be_visible()
    assert_accessible(page, "tokens-created")
    snapshot(page, "tokens-created")
