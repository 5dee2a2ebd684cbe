"""The one way to write the audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection, models, transaction
from django.utils import timezone

from audit.actors import CLAIMED_USERNAME_MAX, UNVERIFIED, SystemActor
from audit.chain import GENESIS_HASH, HASHED_FIELDS, event_hash, normalise_data
from audit.context import current_origin
from audit.models import AuditEvent
from kernel.roles import role_label

# Any constant will do: it names the lock that serialises writers of the chain head.
_CHAIN_LOCK_KEY = 0x6176_6474  # "audt"


def _lock_chain_head() -> None:
    """Serialise appends so two writers can never link to the same head.

    PostgreSQL: a transaction-scoped advisory lock, released at commit or
    rollback. SQLite: atomic blocks already start with BEGIN IMMEDIATE (see
    settings), which holds the database's single write lock.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])


def _target(target: models.Model | tuple[str, Any] | None) -> tuple[str, str]:
    if target is None:
        return "", ""
    if isinstance(target, models.Model):
        return target._meta.label_lower, str(target.pk)
    kind, ident = target
    return kind, str(ident)


def _who(
    user: AbstractBaseUser | None, system_actor: SystemActor | None, claimed: str | None
) -> tuple[str, str]:
    """(actor_username, actor_role) as the event records them."""
    if user is not None:
        return user.get_username(), role_label(user)
    if claimed is not None:
        return claimed[:CLAIMED_USERNAME_MAX], UNVERIFIED
    if system_actor is not None:
        return SystemActor(system_actor).value, ""
    return "", ""


@transaction.atomic
def record(
    *,
    action: StrEnum,
    actor: AbstractBaseUser | AnonymousUser | None = None,
    system_actor: SystemActor | None = None,
    claimed_username: str | None = None,
    target: models.Model | tuple[str, Any] | None = None,
    outcome: AuditEvent.Outcome = AuditEvent.Outcome.SUCCESS,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain, inside the caller's transaction.

    If the caller's transaction rolls back, so does the event: an action and
    its audit record commit together or not at all. The actor is a signed-in
    user, else a named system actor, else (failed logins only) a claimed,
    unverified username; ``action`` comes from an app's action enum.
    """
    if outcome not in AuditEvent.Outcome.values:
        raise ValueError(f"unknown audit outcome {outcome!r}")
    user = actor if actor is not None and actor.is_authenticated else None
    actor_username, actor_role = _who(user, system_actor, claimed_username)
    origin = current_origin()
    target_type, target_id = _target(target)

    _lock_chain_head()
    head = AuditEvent.objects.newest_first().values("sequence", "hash").first()
    fields: dict[str, Any] = {
        "sequence": (head["sequence"] + 1) if head else 1,
        "timestamp": timezone.now(),
        "actor_id": user.pk if user else None,
        "actor_username": actor_username,
        "actor_role": actor_role,
        "action": str(action),
        "target_type": target_type,
        "target_id": target_id,
        "outcome": str(outcome),
        "data": normalise_data(data or {}),
        "remote_addr": origin.remote_addr,
        "request_id": origin.request_id,
    }
    prev_hash = head["hash"] if head else GENESIS_HASH
    return AuditEvent.objects.create(
        **fields, prev_hash=prev_hash, hash=event_hash(prev_hash, fields)
    )


@dataclass(frozen=True)
class VerifyResult:
    intact: bool
    checked: int
    first_bad_sequence: int | None = None
    reason: str = ""
    head_sequence: int = 0
    head_hash: str = GENESIS_HASH


def verify(*, chunk_size: int = 5000) -> VerifyResult:
    """Walk the whole chain in order and report the first broken link.

    A row edited, removed or moved shows as a hash that does not match its
    content, a gap in the sequence, or a ``prev_hash`` that is not its
    predecessor's hash.
    """
    expected_sequence = 1
    prev_hash = GENESIS_HASH
    checked = 0
    rows = (
        AuditEvent.objects.chain_order()
        .values("prev_hash", "hash", *HASHED_FIELDS)
        .iterator(chunk_size=chunk_size)
    )
    for row in rows:
        sequence = row["sequence"]
        if sequence != expected_sequence:
            return VerifyResult(
                False,
                checked,
                expected_sequence,
                f"sequence {expected_sequence} is missing (next present is {sequence})",
            )
        if row["prev_hash"] != prev_hash:
            return VerifyResult(
                False, checked, sequence, f"sequence {sequence} does not link to its predecessor"
            )
        if event_hash(prev_hash, row) != row["hash"]:
            return VerifyResult(
                False, checked, sequence, f"sequence {sequence} does not match its hash"
            )
        prev_hash = row["hash"]
        expected_sequence += 1
        checked += 1
    return VerifyResult(True, checked, head_sequence=checked, head_hash=prev_hash)
