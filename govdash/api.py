"""The JSON API at /api/v1/: session auth for the browser, bearer tokens for CI."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI, Schema
from ninja.security import HttpBearer, django_auth

from audit.services import record
from govdash.audit_actions import AccountsAction
from govdash.models import ApiToken
from govdash.services import token_authenticate, token_revoke
from kernel.roles import roles_of

_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class BearerToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> AbstractBaseUser | None:
        api_token = token_authenticate(raw=token)
        if api_token is None:
            return None
        user = api_token.user
        request.user = user
        request.api_token = api_token  # type: ignore[attr-defined]
        if request.method not in _SAFE_METHODS:
            record(
                action=AccountsAction.TOKEN_WRITE,
                actor=user,
                target=api_token,
                data={"method": request.method, "path": request.path, "prefix": api_token.prefix},
            )
        return user


def _authenticated_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The schema describes the API: only those who may call it can read it."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        header = request.headers.get("Authorization", "")
        scheme, _, raw = header.partition(" ")
        if request.user.is_authenticated or (
            scheme.lower() == "bearer" and token_authenticate(raw=raw.strip()) is not None
        ):
            return view(request, *args, **kwargs)
        return JsonResponse({"detail": "Unauthorized"}, status=401)

    return wrapper


api = NinjaAPI(
    title="govdash API",
    version="1",
    description="ML governance: tracking mirror, compliance, approvals, audit.",
    urls_namespace="api",
    auth=[BearerToken(), django_auth],
    # The interactive docs page loads its scripts from a CDN; users are air-gapped.
    docs_url=None,
    docs_decorator=_authenticated_only,
)


class IndexOut(Schema):
    version: str
    openapi: str


class MeOut(Schema):
    username: str
    full_name: str
    email: str
    roles: list[str]
    is_staff: bool
    auth: str


@api.get("/", response=IndexOut, tags=["meta"], summary="API index")
def index(request: HttpRequest) -> dict[str, str]:
    return {"version": "1", "openapi": request.build_absolute_uri("openapi.json")}


@api.get("/me", response=MeOut, tags=["meta"], summary="Who the caller is")
def me(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    return {
        "username": user.get_username(),
        "full_name": user.get_full_name(),  # type: ignore[union-attr]
        "email": user.email or "",  # type: ignore[union-attr]
        "roles": sorted(roles_of(user)),
        "is_staff": user.is_staff,  # type: ignore[union-attr]
        "auth": "token" if getattr(request, "api_token", None) else "session",
    }


class RevokedOut(Schema):
    prefix: str
    revoked_at: str


@api.delete(
    "/tokens/current",
    response={200: RevokedOut, 400: dict},
    tags=["tokens"],
    summary="Revoke the token making this call",
)
def revoke_current_token(request: HttpRequest) -> Any:
    api_token: ApiToken | None = getattr(request, "api_token", None)
    if api_token is None:
        return 400, {"detail": "This call must be made with a bearer token."}
    with transaction.atomic():
        token = token_revoke(token=api_token, actor=request.user)  # type: ignore[arg-type]
    return {"prefix": token.prefix, "revoked_at": token.revoked_at.isoformat()}  # type: ignore[union-attr]


# Mounted last: the routers' endpoints use the API's authentication.
from tracking.api import router as tracking_router  # noqa: E402

api.add_router("/", tracking_router)

from reports.api import router as reports_router  # noqa: E402

api.add_router("/", reports_router)
