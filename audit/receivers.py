"""Authentication events enter the audit trail here.

Django and django-axes report logins only through signals, so receivers are
where these events are written (the other receivers that write are the layers'
own: see docs/architecture.md, "Events").
"""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from audit.actors import CLAIMED_USERNAME_MAX
from audit.audit_actions import AuditAction
from audit.models import AuditEvent
from audit.services import record
from kernel.backends import REFUSED_BY_LOCKOUT


def _refused_by_lockout(request: HttpRequest | None) -> bool:
    return bool(getattr(request, REFUSED_BY_LOCKOUT, False))


@receiver(user_logged_in, dispatch_uid="audit_login")
def _logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    record(action=AuditAction.LOGIN, actor=user, target=user)


@receiver(user_logged_out, dispatch_uid="audit_logout")
def _logged_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is not None:
        record(action=AuditAction.LOGOUT, actor=user, target=user)


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def _login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    if _refused_by_lockout(request):
        # Refused before any password check: the lockout receiver records it.
        return
    # Django already masks the password in ``credentials``; keep only the
    # name, cut short and marked unverified: anyone can type anything there.
    username = str(credentials.get("username", ""))[:CLAIMED_USERNAME_MAX]
    record(
        action=AuditAction.LOGIN_FAILED,
        claimed_username=username,
        target=("auth.user", username),
        outcome=AuditEvent.Outcome.FAILURE,
    )


@receiver(user_locked_out, dispatch_uid="audit_lockout")
def _locked_out(
    sender: Any,
    request: HttpRequest | None,
    username: str | None,
    ip_address: str | None,
    **kwargs: Any,
) -> None:
    claimed = (username or "")[:CLAIMED_USERNAME_MAX]
    record(
        action=AuditAction.LOCKOUT,
        claimed_username=claimed,
        target=("auth.user", claimed),
        outcome=AuditEvent.Outcome.DENIED,
        data={
            "reason": "attempt during a lockout"
            if _refused_by_lockout(request)
            else "too many failed logins"
        },
    )
