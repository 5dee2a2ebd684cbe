"""GOVDASH_EMAIL_URL and GOVDASH_BASE_URL: what each form means, and refusals that name the
variable without repeating a password."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from kernel.email_url import base_url, email_settings

SMTP = "django.core.mail.backends.smtp.EmailBackend"


@pytest.mark.parametrize(
    ("url", "backend"),
    [
        ("", "django.core.mail.backends.console.EmailBackend"),
        ("console:", "django.core.mail.backends.console.EmailBackend"),
        ("console://", "django.core.mail.backends.console.EmailBackend"),
        ("locmem:", "django.core.mail.backends.locmem.EmailBackend"),
        ("dummy:", "django.core.mail.backends.dummy.EmailBackend"),
    ],
)
def test_non_smtp_backends(url: str, backend: str) -> None:
    assert email_settings(url)["EMAIL_BACKEND"] == backend


@pytest.mark.parametrize(
    ("url", "host", "port", "tls", "ssl"),
    [
        ("smtp://mail.internal", "mail.internal", 25, False, False),
        ("smtp://mail.internal:2525", "mail.internal", 2525, False, False),
        ("smtp+tls://mail.internal", "mail.internal", 587, True, False),
        ("SMTP+TLS://mail.internal:588", "mail.internal", 588, True, False),
        ("smtp+ssl://mail.internal", "mail.internal", 465, False, True),
        ("smtps://mail.internal:4650", "mail.internal", 4650, False, True),
    ],
)
def test_smtp_schemes(url: str, host: str, port: int, tls: bool, ssl: bool) -> None:
    got = email_settings(url)

    assert got["EMAIL_BACKEND"] == SMTP
    assert (got["EMAIL_HOST"], got["EMAIL_PORT"]) == (host, port)
    assert (got["EMAIL_USE_TLS"], got["EMAIL_USE_SSL"]) == (tls, ssl)
    assert got["EMAIL_TIMEOUT"] == 10


def test_credentials_are_percent_decoded_and_timeout_read() -> None:
    got = email_settings("smtp+tls://ops%40gov.example:p%3Ass%2Fw@mail.internal:587?timeout=3")

    assert got["EMAIL_HOST_USER"] == "ops@gov.example"
    assert got["EMAIL_HOST_PASSWORD"] == "p:ss/w"
    assert got["EMAIL_TIMEOUT"] == 3


@pytest.mark.parametrize(
    "url",
    [
        "mail.internal",
        "imap://user:hunter2@mail.internal",
        "smtp://user:hunter2@",
        "smtp://user:hunter2@mail.internal:notaport",
        "smtp://user:hunter2@mail.internal/path",
        "smtp://user:hunter2@mail.internal?tls=yes",
        "smtp://user:hunter2@mail.internal?timeout=0",
        "smtp://user:hunter2@mail.internal?timeout=soon",
    ],
)
def test_bad_email_urls_name_the_variable_and_hide_the_password(url: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="GOVDASH_EMAIL_URL") as caught:
        email_settings(url)
    assert "hunter2" not in str(caught.value)


def test_base_url_loses_its_trailing_slash() -> None:
    assert base_url("https://govdash.example/") == "https://govdash.example"
    assert base_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000"
    assert base_url("https://example.org/govdash/") == "https://example.org/govdash"


@pytest.mark.parametrize(
    "url",
    [
        "govdash.example",
        "ftp://govdash.example",
        "https://",
        "https://u:p@govdash.example",
        "https://govdash.example/?x=1",
        "https://govdash.example:99999",
    ],
)
def test_bad_base_urls_are_refused(url: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="GOVDASH_BASE_URL"):
        base_url(url)


def test_settings_read_the_variables() -> None:
    from django.conf import settings

    assert settings.BASE_URL == "http://127.0.0.1:8000"
    assert settings.PROMOTION_DELIVERY_ATTEMPTS == 3


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("GOVDASH_EMAIL_URL", "imap://ops:hunter2@mail.internal"),
        ("GOVDASH_BASE_URL", "govdash.example"),
    ],
)
def test_a_bad_value_stops_start_up_with_one_line(variable: str, value: str) -> None:
    import os
    import secrets
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVDASH_")}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.update(GOVDASH_SECRET_KEY=secrets.token_urlsafe(64), **{variable: value})
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 1
    assert variable in result.stderr
    assert "Traceback" not in result.stderr
    assert "hunter2" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
