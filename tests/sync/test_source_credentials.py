"""Which environment variables a source may read its credential from, and URLs with credentials.

A source sends its credential to its URL, and an admin chooses both: naming any variable
would let them send the server's own secrets (GOVDASH_SECRET_KEY, DATABASE_URL) to a
listener of theirs. Only GOVDASH_SOURCE_TOKEN_*, the operator's GOVDASH_SOURCE_TOKEN_VARS,
and MLFLOW_TRACKING_TOKEN for the source ``default`` at MLFLOW_TRACKING_URI are read.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import AuditEvent
from tests.tracking.gitlab_fake import FaultProxy
from tracking.models import Source, SyncRun
from tracking.services import source_create, sync_execute, sync_request

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
SERVER_SECRET = "server-own-secret-that-must-never-leave-0123456789"


@pytest.fixture
def proxy(mlflow_server) -> Iterator[FaultProxy]:
    # Stands for the admin's listener: it logs every request's headers.
    with FaultProxy(mlflow_server.url) as fault_proxy:
        yield fault_proxy


def _headers_seen(proxy: FaultProxy) -> str:
    return " ".join(str(request.headers) for request in proxy.requests)


# --------------------------------------------------------------------------- the service


@pytest.mark.parametrize(
    "variable",
    [
        "GOVDASH_SECRET_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "HOME",
        "GOVDASH_SOURCE_TOKEN_",  # the prefix alone names nothing meant for a source
        "govdash_source_token_x",  # variables are case-sensitive
        "MLFLOW_TRACKING_TOKEN",  # not the source `default`
    ],
)
def test_service_refuses_a_variable_not_meant_for_sources(variable):
    with pytest.raises(ValidationError) as caught:
        source_create(
            name="exfil", url="https://listener.example.net", auth="bearer", secret_env=variable
        )
    assert "secret_env" in caught.value.message_dict
    message = caught.value.message_dict["secret_env"][0]
    assert "GOVDASH_SOURCE_TOKEN_<NAME>" in message
    assert not Source.objects.exists()
    assert not AuditEvent.objects.filter(action="tracking.source_create").exists()


def test_service_refuses_basic_auth_from_a_server_secret_too():
    with pytest.raises(ValidationError, match="may not read DATABASE_URL"):
        source_create(
            name="exfil",
            url="https://listener.example.net",
            auth="basic",
            secret_env="DATABASE_URL",
        )


def test_service_accepts_source_token_variables_and_the_operators_list(settings):
    settings.SOURCE_TOKEN_VARS = ["CORP_MLFLOW_TOKEN"]
    prefixed = source_create(
        name="prefixed", url="https://a.example.gov", secret_env="GOVDASH_SOURCE_TOKEN_PROD"
    )
    listed = source_create(
        name="listed", url="https://b.example.gov", secret_env="CORP_MLFLOW_TOKEN"
    )
    assert (prefixed.secret_env, listed.secret_env) == (
        "GOVDASH_SOURCE_TOKEN_PROD",
        "CORP_MLFLOW_TOKEN",
    )


def test_mlflow_tracking_token_is_for_the_default_source_at_mlflow_tracking_uri_only(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://mlflow.example.gov")
    with pytest.raises(ValidationError, match="only for the source default"):
        source_create(
            name="other", url="https://mlflow.example.gov", secret_env="MLFLOW_TRACKING_TOKEN"
        )
    # An admin naming their own source `default` does not get the token sent elsewhere.
    with pytest.raises(ValidationError, match="only for the source default"):
        source_create(
            name="default", url="https://listener.example.net", secret_env="MLFLOW_TRACKING_TOKEN"
        )
    default = source_create(
        name="default", url="https://mlflow.example.gov/", secret_env="MLFLOW_TRACKING_TOKEN"
    )
    assert default.secret_env == "MLFLOW_TRACKING_TOKEN"


@pytest.mark.parametrize(
    "url", ["https://robot:hunter2@mlflow.example.gov", "http://token-only@mlflow.internal:5000"]
)
def test_service_refuses_a_url_carrying_credentials_and_names_where_they_belong(url):
    with pytest.raises(ValidationError) as caught:
        source_create(name="inurl", url=url)
    message = caught.value.message_dict["url"][0]
    assert "must not contain a user name or password" in message
    assert "GOVDASH_SOURCE_TOKEN_<NAME>" in message
    assert "hunter2" not in message
    assert not Source.objects.exists()


def test_plain_http_stays_allowed():
    assert source_create(name="internal", url="http://mlflow.internal:5000").pk


# --------------------------------------------------------------------------- at sync time


@pytest.mark.parametrize("variable", ["GOVDASH_SECRET_KEY", "DATABASE_URL"])
def test_a_row_from_before_the_check_fails_its_sync_and_the_secret_never_leaves(
    proxy, monkeypatch, variable
):
    monkeypatch.setenv(variable, SERVER_SECRET)
    # Written as an older version of govdash did, without the check.
    source = Source.objects.create(
        name="old", url=proxy.url, auth=Source.Auth.BEARER, secret_env=variable
    )
    sync_run = sync_execute(sync_run=sync_request(source=source))
    assert sync_run.status == SyncRun.Status.FAILED
    assert f"source old: a source may not read {variable}" in sync_run.error
    assert "GOVDASH_SOURCE_TOKEN_<NAME>" in sync_run.error
    assert SERVER_SECRET not in sync_run.error
    assert SERVER_SECRET not in _headers_seen(proxy)
    assert not any("authorization" in request.headers for request in proxy.requests)
    assert SERVER_SECRET not in str(list(AuditEvent.objects.values_list("data", flat=True)))

    with pytest.raises(CommandError, match="sync failed: old"):
        call_command("sync", "old")
    assert SERVER_SECRET not in _headers_seen(proxy)


def test_the_default_source_from_mlflow_tracking_uri_still_sends_its_token(
    proxy, monkeypatch, capsys
):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", proxy.url)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "the-mlflow-token")
    call_command("sync")
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("synced default:")
    assert Source.objects.get(name="default").secret_env == "MLFLOW_TRACKING_TOKEN"
    assert proxy.requests
    assert all(
        request.headers.get("authorization") == "Bearer the-mlflow-token"
        for request in proxy.requests
    )


# --------------------------------------------------------------------------- the command


def _sources_add(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "sources", "add", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_command_refuses_a_server_secret_in_one_line_and_exits_1(subprocess_env):
    result = _sources_add(
        subprocess_env,
        "exfil",
        "--url",
        "https://listener.example.net",
        "--token-env",
        "GOVDASH_SECRET_KEY",
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith(
        "CommandError: --token-env: a source may not read GOVDASH_SECRET_KEY"
    )
    assert not Source.objects.filter(name="exfil").exists()


def test_command_accepts_a_variable_the_operator_lists(subprocess_env):
    env = {**subprocess_env, "GOVDASH_SOURCE_TOKEN_VARS": "LEGACY_TOKEN, CORP_MLFLOW_TOKEN"}
    result = _sources_add(
        env, "corp", "--url", "https://mlflow.example.gov", "--token-env", "CORP_MLFLOW_TOKEN"
    )
    assert result.returncode == 0, result.stderr
    assert Source.objects.get(name="corp").secret_env == "CORP_MLFLOW_TOKEN"
