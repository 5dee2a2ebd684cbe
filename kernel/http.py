"""What pages share about requests and responses: the answer to a malformed
parameter, the bound on rows per page, and responses no cache may keep.

* ``BadParameter`` is raised for a query parameter a page cannot accept; the
  composition root's 400 handler (``govdash.errors.bad_request``) shows its
  message, which names the parameter and says what is accepted.
* ``MAX_ROWS_PER_PAGE`` bounds every page of rows: the tables of the pages
  (``kernel.tables``) and the API's pages (``kernel.api.LimitOffsetPage``).
* ``private_no_store`` marks a view's answers ``Cache-Control: private, no-store``
  (the audit trail, runs and their exports): neither a shared cache nor the
  browser keeps a copy.
* ``control_character_in`` finds a control character (NUL above all, which
  PostgreSQL refuses in text) in a request's path or query parameters; the
  composition root's middleware answers such a request with 400.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.exceptions import BadRequest
from django.http import HttpRequest
from django.utils.cache import patch_cache_control

MAX_ROWS_PER_PAGE = 500

V = TypeVar("V", bound=Callable[..., Any])


class BadParameter(BadRequest):
    """A query parameter the page cannot accept (HTTP 400). The message is shown
    to the user: it names the parameter and says what it accepts."""


def private_no_store(view: V) -> V:
    """Answer with ``Cache-Control: private, no-store`` (streamed answers too)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        response = view(request, *args, **kwargs)
        patch_cache_control(response, private=True, no_store=True)
        return response

    return wrapper  # type: ignore[return-value]


def _has_control_character(text: str) -> bool:
    # Cc: C0 controls (NUL, tab, newline...), DEL and the C1 controls.
    return any(unicodedata.category(char) == "Cc" for char in text)


def control_character_in(request: HttpRequest) -> str | None:
    """Where the request's path or query parameters hold a control character:
    ``"the address"`` or ``"parameter <name>"``; ``None`` if nowhere."""
    if _has_control_character(request.path):
        return "the address"
    for key, values in request.GET.lists():
        if _has_control_character(key):
            return "a parameter name"
        if any(_has_control_character(value) for value in values):
            return f"parameter {parameter_name(key)}"
    return None


def parameter_name(key: str) -> str:
    """A parameter's name as a message may quote it: cut short if it is long."""
    return repr(key if len(key) <= 40 else key[:40] + "…")
