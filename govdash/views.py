from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.decorators import login_not_required, permission_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.db.utils import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from redis.exceptions import RedisError

from approvals.models import PromotionRequest
from approvals.permissions import REQUEST_PROMOTION, REVIEW_PROMOTION
from approvals.selectors import awaiting_review, requests_of
from audit.permissions import VIEW_EVENTS
from govdash.forms import TokenCreateForm
from govdash.models import ApiToken
from govdash.permissions import MANAGE_TOKENS
from govdash.services import token_create, token_revoke
from kernel import reconcile
from kernel.queues import QueueHealth, queue_health
from kernel.roles import roles_of
from reports.selectors.dashboard import latest_non_compliant
from tracking.models import AliasChange

ALERTS_SHOWN = 20
START_PAGE_ROWS = 10


@login_not_required
def admin_login(request: HttpRequest, extra_context: object = None) -> HttpResponse:
    """The admin site's login is the one login page. A signed-in user the admin
    sends here is not staff: the login page would send them straight back (a
    redirect loop), so they are refused instead."""
    if request.user.is_authenticated:
        if not admin.site.has_permission(request):
            raise PermissionDenied
        return redirect("admin:index")
    return redirect_to_login(request.GET.get("next") or reverse("admin:index"))


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The start page: what waits for this user, by role, then what needs attention."""
    user = request.user
    alerts = AliasChange.objects.open_alerts().select_related("model__source")
    can_review = user.has_perm(REVIEW_PROMOTION)
    can_request = user.has_perm(REQUEST_PROMOTION)
    awaiting = awaiting_review(user) if can_review else []
    my_open = (
        list(requests_of(user).filter(status=PromotionRequest.Status.OPEN)[:START_PAGE_ROWS])
        if can_request
        else []
    )
    return render(
        request,
        "govdash/home.html",
        {
            "your_roles": sorted(roles_of(user)),
            "can_review": can_review,
            "can_request": can_request,
            "awaiting": awaiting[:START_PAGE_ROWS],
            "awaiting_count": len(awaiting),
            "my_open": my_open,
            # Shown to everyone signed in: a model promoted behind govdash's back.
            "open_alerts": alerts[:ALERTS_SHOWN],
            "open_alert_count": alerts.count(),
            "latest_non_compliant": latest_non_compliant(limit=START_PAGE_ROWS),
            "can_view_audit": user.has_perm(VIEW_EVENTS),
        },
    )


def _background_work(*, database_ok: bool, queues: QueueHealth) -> dict[str, object]:
    """Overdue work by kind (queued or running past its threshold), and whether
    the scheduler's maintenance tick ran recently. Reported, not a 503: a
    monitor alerts on ``overdue`` and ``scheduler.ok``."""
    answer: dict[str, object] = {}
    if database_ok:
        answer["overdue"] = reconcile.overdue()
    if queues.ok and not queues.inline:
        try:
            last = reconcile.last_tick()
        except (RedisError, OSError, ValueError):
            last = None
        limit = dt.timedelta(seconds=settings.MAINTENANCE_OVERDUE_SECONDS)
        answer["scheduler"] = {
            "last_tick": last.isoformat() if last else None,
            "ok": last is not None and timezone.now() - last <= limit,
        }
    return answer


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    database: dict[str, object] = {"ok": True}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        database = {"ok": False, "error": type(exc).__name__}
    queues = queue_health()
    body = {
        "status": "ok" if database["ok"] and queues.ok else "unavailable",
        "database": database,
        "redis": {"ok": queues.ok, "inline": queues.inline, "error": queues.error},
        "queues": queues.depths,
        **_background_work(database_ok=bool(database["ok"]), queues=queues),
    }
    return JsonResponse(body, status=200 if body["status"] == "ok" else 503)


@permission_required(MANAGE_TOKENS, raise_exception=True)
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    form = TokenCreateForm(request.POST or None)
    created_secret = None
    if request.method == "POST" and form.is_valid():
        try:
            token, created_secret = token_create(
                user=form.cleaned_data["user"],
                name=form.cleaned_data["name"],
                created_by=request.user,  # type: ignore[arg-type]
                expires_at=form.cleaned_data.get("expires_at"),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Token “{token.name}” created for {token.user}.")
            form = TokenCreateForm()
    tokens_list = ApiToken.objects.select_related("user", "created_by").order_by("-created_at")
    response = render(
        request,
        "govdash/tokens.html",
        {"form": form, "tokens": tokens_list[:200], "created_secret": created_secret},
    )
    # The secret is on this page once: no cache may keep it.
    response["Cache-Control"] = "no-store"
    return response


@permission_required(MANAGE_TOKENS, raise_exception=True)
@require_POST
def token_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk)
    token_revoke(token=token, actor=request.user)  # type: ignore[arg-type]
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("tokens")
