"""Writes for accounts-level objects: API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.services import record
from govdash.audit_actions import AccountsAction
from govdash.models import ApiToken

TOKEN_PREFIX = "gd_"  # noqa: S105 - a public marker, not a secret
# last_used_at is a hint for admins, not a log: do not write it on every call.
_LAST_USED_GRANULARITY = timedelta(minutes=1)


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


@transaction.atomic
def token_create(
    *,
    user: User,
    name: str,
    created_by: User,
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Create a token for ``user``; returns it with the secret, which is never stored."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "A token needs a name that says what uses it."})
    if not user.is_active:
        raise ValidationError({"user": "Tokens cannot be issued to an inactive user."})
    # A token acts as its user. Superusers pass every has_perm, so this rule
    # lives here, for the page, the command and any other path alike.
    if user.is_superuser and not created_by.is_superuser:
        raise ValidationError({"user": "Only a superuser may issue a token for a superuser."})
    secret = secrets.token_urlsafe(32)
    prefix = secrets.token_hex(4)
    raw = f"{TOKEN_PREFIX}{prefix}_{secret}"
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=prefix,
        digest=_digest(raw),
        created_by=created_by,
        expires_at=expires_at,
    )
    record(
        action=AccountsAction.TOKEN_CREATE,
        actor=created_by,
        target=token,
        data={"for_user": user.get_username(), "name": name, "prefix": prefix},
    )
    return token, raw


@transaction.atomic
def token_revoke(*, token: ApiToken, actor: User) -> ApiToken:
    updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    token.refresh_from_db()
    if updated:
        record(
            action=AccountsAction.TOKEN_REVOKE,
            actor=actor,
            target=token,
            data={"for_user": token.user.get_username(), "prefix": token.prefix},
        )
    return token


def token_authenticate(*, raw: str) -> ApiToken | None:
    """The active token with this secret, or None. Touches ``last_used_at``."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    token = (
        ApiToken.objects.active()
        .select_related("user")
        .filter(digest=_digest(raw), user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > _LAST_USED_GRANULARITY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
