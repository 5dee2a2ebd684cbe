"""The errors the MLflow REST client raises, and how their messages stay one line and secret-free.

Every failure is an :class:`MlflowError` subclass whose ``str()`` is one line naming the source,
the endpoint and what went wrong. Credentials never appear in it: messages are passed through
:func:`scrub` with the secrets of the client that raised them.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

MAX_MESSAGE = 300


class MlflowError(Exception):
    """Base of every failure raised by the client; ``str()`` is one line, free of secrets."""

    def __init__(self, message: str, *, endpoint: str | None = None, status: int | None = None):
        super().__init__(message)
        self.endpoint = endpoint
        self.status = status


class SourceUnavailable(MlflowError):
    """The source could not be reached, timed out or kept failing (5xx) after all retries."""


class RateLimited(SourceUnavailable):
    """The source kept answering 429, or asked us to wait longer than we are willing to."""


class AuthenticationFailed(MlflowError):
    """401/403: missing, wrong or under-scoped credentials."""


class NotSupported(MlflowError):
    """The source cannot do what was asked (see :class:`~tracking.mlflow.Capabilities`)."""


class EndpointNotSupported(NotSupported):
    """The server has no such endpoint (404 without an MLflow error code, or 405)."""


class ResourceNotFound(MlflowError):
    """The endpoint exists but the run/model/version asked for does not."""


class RequestRejected(MlflowError):
    """Another 4xx: the server refused the request as invalid (never retried)."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        status: int | None = None,
        error_code: str | None = None,
    ):
        super().__init__(message, endpoint=endpoint, status=status)
        self.error_code = error_code


class MalformedResponse(MlflowError):
    """The answer was not the JSON shape the endpoint promises."""


def squeeze(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` with its whitespace runs (newlines too) collapsed, cut to ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def secrets_of(token: str | None, basic_auth: tuple[str, str] | None) -> tuple[str, ...]:
    """Every string that would give the credentials away if it appeared in a message."""
    secrets = [token, *(basic_auth or ())]
    if basic_auth:
        # What an echoing proxy would show: the Authorization header, which decodes to both.
        secrets.append(base64.b64encode(":".join(basic_auth).encode()).decode())
    return tuple(s for s in secrets if s)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``***``."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text
