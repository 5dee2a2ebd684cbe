"""Source credentials: from a named environment variable, or encrypted at rest.

Stored secrets are encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under a
key derived from ``GOVDASH_SECRET_KEY``; rotating that key means re-entering
stored source credentials (environment-variable credentials are unaffected).
"""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class SecretUnavailable(Exception):
    pass


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


def resolve(*, secret_env: str, secret_encrypted: str) -> str | None:
    """The plain credential for a source, or None when it has none."""
    if secret_env:
        value = os.environ.get(secret_env)
        if value is None:
            raise SecretUnavailable(f"environment variable {secret_env} is not set")
        return value
    if secret_encrypted:
        return decrypt(secret_encrypted)
    return None
