"""The browser journeys fail on a CSP violation: prove the check sees one."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import csp_violations


def test_a_violation_is_reported_to_the_journey(page: Page, console_messages: list[str]):
    page.goto("/accounts/login/")
    expect(page.get_by_role("heading", name="Sign in to govdash")).to_be_visible()
    assert csp_violations(console_messages) == []
    # What an injection would try: an inline script and an inline style.
    page.evaluate(
        """() => {
            const box = document.createElement('div');
            box.innerHTML = '<img src="/static/css/govdash.css" style="color: red">';
            document.body.append(box);
            const script = document.createElement('script');
            script.textContent = 'window.injected = true';
            document.body.append(script);
        }"""
    )
    page.wait_for_function("() => true")
    expect(page.locator("body")).to_be_visible()
    assert page.evaluate("() => window.injected === undefined")
    found = csp_violations(console_messages)
    assert any("script-src" in m for m in found), found
    assert any("style-src" in m for m in found), found
    console_messages.clear()  # seen and expected: the fixture must not fail this test
