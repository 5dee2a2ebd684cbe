"""Configuration comes from the environment; a bad value is named, not a traceback."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("GOVDASH_")}
    base.pop("DATABASE_URL", None)
    base.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION = {
    "GOVDASH_DEBUG": "false",
    "GOVDASH_SECRET_KEY": secrets.token_urlsafe(64),
    "GOVDASH_ALLOWED_HOSTS": "govdash.example.org",
}


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"GOVDASH_DEBUG": "maybe"}, "GOVDASH_DEBUG"),
        ({"GOVDASH_DEBUG": "false"}, "GOVDASH_SECRET_KEY"),
        ({**PRODUCTION, "GOVDASH_SECRET_KEY": "short"}, "GOVDASH_SECRET_KEY"),
        ({**PRODUCTION, "DATABASE_URL": "mysql://db/govdash"}, "DATABASE_URL"),
        ({**PRODUCTION, "DATABASE_URL": "nonsense://x"}, "DATABASE_URL"),
        ({**PRODUCTION, "GOVDASH_SESSION_IDLE_SECONDS": "soon"}, "GOVDASH_SESSION_IDLE_SECONDS"),
        ({**PRODUCTION, "GOVDASH_LOGIN_FAILURE_LIMIT": "0"}, "GOVDASH_LOGIN_FAILURE_LIMIT"),
        ({**PRODUCTION, "GOVDASH_REPORT_TSA_URL": "ftp://tsa.example"}, "GOVDASH_REPORT_TSA_URL"),
        ({**PRODUCTION, "GOVDASH_REPORT_TSA_URL": "tsa.example/tsr"}, "GOVDASH_REPORT_TSA_URL"),
        (
            {**PRODUCTION, "GOVDASH_REPORT_TSA_TIMEOUT_SECONDS": "0"},
            "GOVDASH_REPORT_TSA_TIMEOUT_SECONDS",
        ),
    ],
)
def test_bad_configuration_is_one_line_naming_the_variable(env: dict[str, str], named: str):
    result = _manage("check", **env)
    assert result.returncode == 1
    assert named in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_deploy_check_is_clean_under_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_deploy_check_flags_plain_http_in_production():
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION, GOVDASH_HTTPS="false"
    )
    assert result.returncode != 0
    assert "security.W008" in result.stderr or "security.W008" in result.stdout
