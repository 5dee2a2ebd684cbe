"""The JSON API at /api/v1/: session auth for the browser, bearer tokens for CI.

Its contract (pages, errors, statuses) is described in docs/operations.md ("API");
the shared pieces are in kernel.api, and the one exception handler is here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Literal

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.forms.utils import ErrorList
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI, Schema
from ninja.errors import HttpError
from ninja.security import HttpBearer, django_auth

from audit.services import record
from govdash.audit_actions import AccountsAction
from govdash.models import ApiToken
from govdash.services import token_authenticate, token_revoke
from kernel.api import AnswerWith, ErrorOut
from kernel.errors import Conflict, NotFound, Unavailable, one_line
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


# Answers any call may get, whatever the endpoint: from the middleware (a control
# character in the address or a parameter), the authentication, the permission
# checks and the validation of parameters, all ``{"detail": ...}`` (ErrorOut).
ANY_CALL_MAY_ANSWER: dict[int, str] = {
    400: "A malformed request, e.g. a control character in the address or a parameter.",
    401: "No credentials, or a token that is wrong, revoked or expired.",
    403: "The caller's role does not allow this.",
    422: "Invalid parameters, named in `detail`.",
}


class GovdashAPI(NinjaAPI):
    """The schema documents the error answers every operation may give, so
    that clients (and the schema conformance tests) can rely on it."""

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> Any:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        if "ErrorOut" not in components:
            components["ErrorOut"] = ErrorOut.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
        for operations in schema["paths"].values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status, description in ANY_CALL_MAY_ANSWER.items():
                    responses.setdefault(status, {"description": description, "content": error})
        return schema


api = GovdashAPI(
    title="govdash API",
    version="1",
    description="ML governance: tracking mirror, compliance, approvals, audit.",
    urls_namespace="api",
    auth=[BearerToken(), django_auth],
    # The interactive docs page loads its scripts from a CDN; users are air-gapped.
    docs_url=None,
    docs_decorator=_authenticated_only,
)


# --------------------------------------------------------------------------- errors

# The status each error answers with (the first row the exception is an instance of).
_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (NotFound, 404),
    (Http404, 404),
    (Conflict, 409),
    (PermissionDenied, 403),
    (ValidationError, 422),
    (Unavailable, 503),
)
_NOT_FOUND = "Not Found"


def _answer(exc: Exception) -> tuple[int, dict[str, Any]]:
    """The status and ``{"detail": ...}`` body of an error."""
    if isinstance(exc, AnswerWith):
        status, body = _answer(exc.error)
        return status, {**body, **exc.fields}
    status = next(code for kind, code in _STATUS if isinstance(exc, kind))
    detail: Any
    if isinstance(exc, NotFound):
        detail = one_line(exc, with_type=False)
    elif isinstance(exc, Http404):
        detail = _NOT_FOUND  # Django's message names the model and the query
    elif isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            detail = {
                field: ErrorList(errors).get_json_data() for field, errors in exc.error_dict.items()
            }
        else:
            detail = " ".join(exc.messages)
    elif isinstance(exc, PermissionDenied):
        detail = one_line(exc, with_type=False) if str(exc) else "Forbidden"
    else:
        detail = one_line(exc, with_type=False)
    return status, {"detail": detail}


def error_answer(request: HttpRequest, exc: Any) -> HttpResponse:
    """The API's one exception handler: domain errors (kernel.errors) and Django's
    404, PermissionDenied and ValidationError, raised by any endpoint. (``exc`` is
    an exception; ninja's type for handlers also admits exception classes.)"""
    status, body = _answer(exc)
    return api.create_response(request, body, status=status)


for _error, _ in _STATUS:
    api.add_exception_handler(_error, error_answer)
api.add_exception_handler(AnswerWith, error_answer)


class IndexOut(Schema):
    version: str
    openapi: str


class MeOut(Schema):
    username: str
    full_name: str
    email: str
    roles: list[str]
    is_staff: bool
    auth: Literal["token", "session"]

    @staticmethod
    def resolve_username(user: Any) -> str:
        return str(user.get_username())

    @staticmethod
    def resolve_full_name(user: Any) -> str:
        return str(user.get_full_name())

    @staticmethod
    def resolve_email(user: Any) -> str:
        return user.email or ""

    @staticmethod
    def resolve_roles(user: Any) -> list[str]:
        return sorted(roles_of(user))

    @staticmethod
    def resolve_auth(user: Any, context: dict[str, Any]) -> str:
        return "token" if getattr(context["request"], "api_token", None) else "session"


class RevokedOut(Schema):
    prefix: str
    revoked_at: str

    @staticmethod
    def resolve_revoked_at(token: ApiToken) -> str:
        return token.revoked_at.isoformat() if token.revoked_at else ""


@api.get("/", response=IndexOut, tags=["meta"], summary="API index")
def index(request: HttpRequest) -> dict[str, str]:
    return {"version": "1", "openapi": request.build_absolute_uri("openapi.json")}


@api.get("/me", response=MeOut, tags=["meta"], summary="Who the caller is")
def me(request: HttpRequest) -> Any:
    return request.user


@api.delete(
    "/tokens/current",
    response={200: RevokedOut, 400: ErrorOut},
    tags=["tokens"],
    summary="Revoke the token making this call",
)
def revoke_current_token(request: HttpRequest) -> ApiToken:
    api_token: ApiToken | None = getattr(request, "api_token", None)
    if api_token is None:
        raise HttpError(400, "This call must be made with a bearer token.")
    with transaction.atomic():
        return token_revoke(token=api_token, actor=request.user)  # type: ignore[arg-type]


# Mounted last: the routers' endpoints use the API's authentication.
from tracking.api import router as tracking_router  # noqa: E402

api.add_router("/", tracking_router)

from reports.api import router as reports_router  # noqa: E402

api.add_router("/", reports_router)

from approvals.api import router as approvals_router  # noqa: E402

api.add_router("/", approvals_router)

from reports.documents.api import router as report_documents_router  # noqa: E402

api.add_router("/", report_documents_router)
