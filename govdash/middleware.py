from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.middleware import LoginRequiredMiddleware as _DjangoLoginRequired
from django.http import HttpRequest, HttpResponse, HttpResponseBase

from audit.context import Origin, origin
from govdash.errors import bad_request
from kernel.http import BadParameter, control_character_in

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def client_address(request: HttpRequest) -> str | None:
    """The client's address; behind a trusted proxy, the one the proxy saw."""
    if settings.BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            # The right-most entry is the one our own proxy appended.
            return forwarded.split(",")[-1].strip() or None
    return request.META.get("REMOTE_ADDR") or None


class RequestIdMiddleware:
    """Tag every request with an id (kept from X-Request-ID when well formed),
    echo it in the response, and expose it with the client address to audit."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        via = "api" if request.path.startswith("/api/") else "web"
        with origin(Origin(remote_addr=client_address(request), request_id=request_id, via=via)):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class RejectControlCharactersMiddleware:
    """Answer 400 for a control character (NUL, newline, DEL...) in the path or a
    query parameter, before any view or the database sees it: PostgreSQL refuses
    NUL in text, and no address or filter of govdash holds a control character.
    The API answers ``{"detail": ...}``, pages the 400 page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        where = control_character_in(request)
        if where is None:
            return self.get_response(request)
        return bad_request(
            request, BadParameter(f"A control character (such as NUL) is not allowed in {where}.")
        )


class LoginRequiredMiddleware(_DjangoLoginRequired):
    """Deny by default: every page needs a login unless marked
    ``@login_not_required``. The JSON API authenticates itself (session or
    bearer token) and answers 401 instead of redirecting."""

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponseBase | None:
        if request.path.startswith("/api/"):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)
