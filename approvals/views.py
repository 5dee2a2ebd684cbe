"""Pages of the promotion workflow. Thin: reads come from approvals.selectors,
every write goes through approvals.services, which enforces the workflow's
rules for everyone (a button hidden here is a courtesy, not the check)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from approvals import selectors
from approvals.errors import GateFailed, WorkflowUnsatisfiable
from approvals.filters import PromotionRequestFilter
from approvals.forms import CommentForm, PromotionRequestForm, VoteForm
from approvals.models import PromotionRequest
from approvals.permissions import REQUEST_PROMOTION, RETRY_PROMOTION, WITHDRAW_PROMOTION
from approvals.services import (
    promotion_comment,
    promotion_request,
    promotion_retry,
    promotion_vote,
    promotion_withdraw,
)
from approvals.tables import PromotionRequestTable
from kernel.errors import DomainError
from kernel.http import private_no_store
from kernel.tables import configure_table
from tracking.models import ModelVersion

PER_PAGE = 50
TABS = ("review", "mine", "all")


def _actor(request: HttpRequest) -> User:
    """The signed-in user acting (LoginRequiredMiddleware guards every page here)."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied("Sign in first.")
    return user


def _get_request(pk: int) -> PromotionRequest:
    try:
        return selectors.request_detail(pk)
    except PromotionRequest.DoesNotExist:
        raise Http404("No such promotion request.") from None


@private_no_store
@require_GET
def request_list(request: HttpRequest) -> HttpResponse:
    """Awaiting my review (reviewers), my requests (engineers), and all requests."""
    can_review = request.user.has_perm("approvals.review_promotion")
    can_request = request.user.has_perm(REQUEST_PROMOTION)
    default_tab = "review" if can_review else ("mine" if can_request else "all")
    tab = request.GET.get("tab") or default_tab
    if tab not in TABS:
        tab = default_tab
    awaiting = selectors.awaiting_review(request.user) if can_review else []
    base = selectors.requests_of(request.user) if tab == "mine" else selectors.requests_base()
    request_filter = PromotionRequestFilter(request.GET, queryset=base)
    table = PromotionRequestTable(request_filter.qs)
    table.caption = "My promotion requests" if tab == "mine" else "Promotion requests"
    configure_table(request, table, per_page=PER_PAGE)
    return render(
        request,
        "approvals/list.html",
        {
            "tab": tab,
            "awaiting": awaiting,
            "can_review": can_review,
            "can_request": can_request,
            "filter": request_filter,
            "table": table,
        },
    )


def _version(pk: int, version: str) -> ModelVersion:
    return get_object_or_404(
        ModelVersion.objects.select_related("model__source", "run"), model_id=pk, version=version
    )


@require_http_methods(["GET", "POST"])
def request_new(request: HttpRequest, pk: int, version: str) -> HttpResponse:
    if not request.user.has_perm(REQUEST_PROMOTION):
        raise PermissionDenied("Only ML engineers and administrators may request a promotion.")
    model_version = _version(pk, version)
    form = PromotionRequestForm(request.POST or None, initial=request.GET.dict() or None)
    reasons: list[str] = []
    if request.method == "POST" and form.is_valid():
        try:
            created = promotion_request(
                actor=_actor(request),
                source=model_version.model.source.name,
                model=model_version.model.name,
                version=model_version.version,
                environment=form.cleaned_data["environment"].name,
                justification=form.cleaned_data["justification"],
                rollback=form.cleaned_data["rollback"],
            )
        except (GateFailed, WorkflowUnsatisfiable) as exc:
            reasons = list(exc.reasons)
            form.add_error(None, str(exc))
        except DomainError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Promotion request #{created.pk} is open for review.")
            return redirect(created)
    return render(
        request,
        "approvals/request_new.html",
        {"version": model_version, "model": model_version.model, "form": form, "reasons": reasons},
    )


def _detail_context(request: HttpRequest, item: PromotionRequest, **extra: Any) -> dict[str, Any]:
    user = request.user
    reviewer = user.has_perm("approvals.review_promotion")
    is_open = item.status == PromotionRequest.Status.OPEN
    eligibility = selectors.eligibility(item, user) if reviewer and is_open else None
    context: dict[str, Any] = {
        "item": item,
        "version": item.version,
        "stages": selectors.stage_views(item),
        "can_vote": bool(eligibility and eligibility.eligible),
        # Why a reviewer cannot vote here (their own request, already voted, ...).
        "vote_refusal": eligibility.reason if eligibility else "",
        "can_withdraw": item.status == PromotionRequest.Status.OPEN
        and user.has_perm(WITHDRAW_PROMOTION, item),
        "can_retry": item.promotion == PromotionRequest.Promotion.FAILED
        and user.has_perm(RETRY_PROMOTION),
        "vote_form": VoteForm(),
        "comment_form": CommentForm(),
        "snapshot_size": len(item.snapshot.encode()),
    }
    context.update(extra)
    return context


@private_no_store
@require_GET
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    item = _get_request(pk)
    return render(request, "approvals/request_detail.html", _detail_context(request, item))


@require_POST
def request_vote(request: HttpRequest, pk: int) -> HttpResponse:
    item = _get_request(pk)
    form = VoteForm(request.POST)
    if not form.is_valid():
        context = _detail_context(request, item, vote_form=form)
        return render(request, "approvals/request_detail.html", context, status=422)
    decision = form.cleaned_data["decision"]
    try:
        promotion_vote(
            actor=_actor(request),
            request_id=item.pk,
            decision=decision,
            comment=form.cleaned_data["comment"],
        )
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        verb = "approved" if decision == "approve" else "rejected"
        messages.success(request, f"You {verb} request #{item.pk}.")
    return redirect(item)


@require_POST
def request_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    item = _get_request(pk)
    try:
        promotion_withdraw(actor=_actor(request), request_id=item.pk)
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Request #{item.pk} withdrawn.")
    return redirect(item)


@require_POST
def request_comment(request: HttpRequest, pk: int) -> HttpResponse:
    item = _get_request(pk)
    form = CommentForm(request.POST)
    if not form.is_valid():
        context = _detail_context(request, item, comment_form=form)
        return render(request, "approvals/request_detail.html", context, status=422)
    try:
        promotion_comment(actor=_actor(request), request_id=item.pk, body=form.cleaned_data["body"])
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Comment added.")
    return redirect(item)


@require_POST
def request_retry(request: HttpRequest, pk: int) -> HttpResponse:
    if not request.user.has_perm(RETRY_PROMOTION):
        raise PermissionDenied("Only administrators may retry a promotion.")
    item = _get_request(pk)
    try:
        promotion_retry(actor=_actor(request), request_id=item.pk)
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Delivery of request #{item.pk} queued again.")
    return redirect(item)


@private_no_store
@require_GET
def request_snapshot(request: HttpRequest, pk: int) -> HttpResponse:
    """The frozen evidence, byte for byte as hashed."""
    item = get_object_or_404(PromotionRequest, pk=pk)
    response = HttpResponse(item.snapshot.encode(), content_type="application/json")
    response["Content-Disposition"] = (
        f'attachment; filename="promotion-{item.pk}-evidence-{item.snapshot_sha256[:12]}.json"'
    )
    response["X-Evidence-SHA256"] = item.snapshot_sha256
    return response
