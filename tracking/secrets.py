"""Source credentials: from a named environment variable, or encrypted at rest.

A source may only name a variable meant for it: ``GOVDASH_SOURCE_TOKEN_<NAME>``, one the
operator lists in ``GOVDASH_SOURCE_TOKEN_VARS``, or ``MLFLOW_TRACKING_TOKEN`` for the source
``default`` at ``MLFLOW_TRACKING_URI``. Any other name (``GOVDASH_SECRET_KEY``,
``DATABASE_URL``) would send the server's own secret to whatever URL the source names, so
it is refused when a source is added (``check_source``) and again, for rows older than
that check, before a credential is read (``resolve``).

Stored secrets are encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under a
key derived from ``GOVDASH_SECRET_KEY``; rotating that key means re-entering
stored source credentials (environment-variable credentials are unaffected).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ValidationError

VARIABLE_PREFIX = "GOVDASH_SOURCE_TOKEN_"
DEFAULT_SOURCE = "default"
DEFAULT_SOURCE_VARIABLE = "MLFLOW_TRACKING_TOKEN"
DEFAULT_URI_VARIABLE = "MLFLOW_TRACKING_URI"
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")


class SecretUnavailable(Exception):
    pass


class ForbiddenVariable(SecretUnavailable):
    """The source names a variable it may not read; its value was not read."""


def _same_url(a: str, b: str) -> bool:
    return bool(a.strip()) and a.strip().rstrip("/") == b.strip().rstrip("/")


def variable_refusal(variable: str, *, source_name: str, url: str) -> str | None:
    """Why the source ``source_name`` at ``url`` may not read its credential from the
    environment variable ``variable``; None when it may."""
    if not _VARIABLE.match(variable):
        return "use an environment variable name: letters, digits and '_'"
    if variable.startswith(VARIABLE_PREFIX) and len(variable) > len(VARIABLE_PREFIX):
        return None
    if variable in settings.SOURCE_TOKEN_VARS:
        return None
    if variable == DEFAULT_SOURCE_VARIABLE:
        if source_name == DEFAULT_SOURCE and _same_url(
            os.environ.get(DEFAULT_URI_VARIABLE, ""), url
        ):
            return None
        return (
            f"{DEFAULT_SOURCE_VARIABLE} is only for the source {DEFAULT_SOURCE} at "
            f"{DEFAULT_URI_VARIABLE}; name a variable {VARIABLE_PREFIX}<NAME>"
        )
    return (
        f"a source may not read {variable}: name a variable {VARIABLE_PREFIX}<NAME>, "
        "or one the operator lists in GOVDASH_SOURCE_TOKEN_VARS"
    )


def url_refusal(url: str) -> str | None:
    """Why ``url`` may not be a source's URL as far as credentials go; None when it may."""
    try:
        userinfo = "@" in urlsplit(url.strip()).netloc
    except ValueError:
        return None  # not a URL at all: the URL validators say so
    if userinfo:
        # Not echoed: it would contain the password.
        return (
            "the URL must not contain a user name or password; put the credential in a "
            f"variable {VARIABLE_PREFIX}<NAME> (or store it encrypted)"
        )
    return None


def check_source(*, name: str, url: str, secret_env: str) -> None:
    """The one check of a new source's URL and credential variable: raises a
    ValidationError by field (``url``, ``secret_env``)."""
    errors: dict[str, str] = {}
    refusal = url_refusal(url)
    if refusal:
        errors["url"] = refusal
    if secret_env:
        refusal = variable_refusal(secret_env, source_name=name, url=url)
        if refusal:
            errors["secret_env"] = refusal
    if errors:
        raise ValidationError(errors)


def _fernet() -> Fernet:
    digest = hashlib.sha256(f"govdash.tracking.secrets:{settings.SECRET_KEY}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(plain: str) -> str:
    return _fernet().encrypt(plain.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise SecretUnavailable(
            "the stored credential cannot be decrypted (was GOVDASH_SECRET_KEY changed?); "
            "enter it again"
        ) from None


def resolve(*, source_name: str, url: str, secret_env: str, secret_encrypted: str) -> str | None:
    """The plain credential for a source, or None when it has none. A variable the source
    may not read (a row older than ``check_source``) is refused before it is read."""
    if secret_env:
        refusal = variable_refusal(secret_env, source_name=source_name, url=url)
        if refusal:
            raise ForbiddenVariable(f"source {source_name}: {refusal}")
        value = os.environ.get(secret_env)
        if value is None:
            raise SecretUnavailable(f"environment variable {secret_env} is not set")
        return value
    if secret_encrypted:
        return decrypt(secret_encrypted)
    return None
