"""Domain errors every layer may raise, and how an exception reads in one line.

Services raise these; the API's one exception handler (``govdash.api``) maps
them to HTTP statuses, pages turn them into messages or error pages, and
management commands print them as one line. ``PermissionDenied`` and
``ValidationError`` are Django's own and keep their meaning (403 and 422).
"""

from __future__ import annotations

from django.http import Http404


class DomainError(Exception):
    """Something a caller asked for cannot be done; the message says why, in one line."""


class NotFound(DomainError, Http404):
    """The named object does not exist (HTTP 404: a page answers with its 404
    page, the API with ``{"detail": ...}``)."""


class Conflict(DomainError):
    """The object is not in a state that allows this (HTTP 409)."""


class Unavailable(DomainError):
    """A component govdash depends on (Redis, a tracking server) cannot be reached (HTTP 503)."""


def one_line(exc: BaseException, *, with_type: bool = True) -> str:
    """The first line of an exception's message, fit for a status line or a log."""
    lines = str(exc).strip().splitlines()
    if not lines:
        return type(exc).__name__
    return f"{type(exc).__name__}: {lines[0]}" if with_type else lines[0]
