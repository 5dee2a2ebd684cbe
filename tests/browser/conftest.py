"""Real-browser fixtures: Debian's chromium driven by Playwright."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

# Chromium must not reach for the network (there is none here but loopback).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--metrics-recording-only",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        # Never a skip: the Makefile installs it, and CI must run these.
        pytest.fail(f"{CHROMIUM} is missing; run `make browser` (Debian package 'chromium')")
    # Playwright's sync API keeps an event loop running in this thread for the
    # whole session; Django's ORM calls from the tests stay synchronous and safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


# Every document reports the Content-Security-Policy violations Chromium sees to
# the console, where the page fixture collects them (they survive navigations).
CSP_MARK = "govdash-csp-violation"
_REPORT_CSP_VIOLATIONS = (
    "document.addEventListener('securitypolicyviolation', (e) => console.error("
    f"'{CSP_MARK} ' + JSON.stringify({{directive: e.violatedDirective, blocked: e.blockedURI, "
    "source: e.sourceFile, line: e.lineNumber, sample: e.sample, page: location.pathname})));"
)


def csp_violations(messages: list[str]) -> list[str]:
    """The console messages that report a CSP violation: ours from the event
    listener and Chromium's own "Refused to ..." lines."""
    return [m for m in messages if CSP_MARK in m or "Content Security Policy" in m]


@pytest.fixture
def console_messages() -> list[str]:
    return []


@pytest.fixture
def page(browser: Browser, live_server: Any, console_messages: list[str]) -> Iterator[Page]:
    """A page whose test fails if any document it loaded broke the
    Content-Security-Policy (tests that expect one clear the list)."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.add_init_script(_REPORT_CSP_VIOLATIONS)
    page = context.new_page()
    page.on("console", lambda message: console_messages.append(message.text))
    page.set_default_timeout(15_000)
    yield page
    context.close()
    violations = csp_violations(console_messages)
    assert violations == [], "Content-Security-Policy violations:\n" + "\n".join(violations)


def snapshot(page: Page, name: str) -> None:
    """Keep a picture of the page for people reviewing a change (not asserted)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def assert_accessible(page: Page, name: str) -> None:
    """Run axe-core (WCAG 2.1 A/AA rules) on the current page; no violations allowed."""
    # Evaluated through the DevTools protocol, not as a <script> tag, which the
    # page's CSP rightly refuses.
    page.evaluate(AXE.read_text())
    result = page.evaluate(
        """async () => await axe.run(document, {runOnly: {type: 'tag', values: [
            'wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})"""
    )
    violations = [
        f"{v['id']} ({v['impact']}): {v['help']} -> "
        + "; ".join(node["target"][0] if node["target"] else "?" for node in v["nodes"][:3])
        for v in result["violations"]
    ]
    if violations:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"axe-{name}.png"), full_page=True)
    assert violations == [], f"axe violations on {name}:\n" + "\n".join(violations)
