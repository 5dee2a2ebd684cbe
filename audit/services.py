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
from audit.models import AuditEvent, AuditHead
from kernel.roles import role_label

HEAD_ID = 1


class AuditHeadMissing(RuntimeError):
    """Events exist but the head record is gone: the trail was tampered with."""


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
    # The head record, not the newest row, says where the chain goes on: a cut
    # short table then still shows its missing events to `audit verify`.
    head = AuditHead.objects.filter(pk=HEAD_ID).values("sequence", "hash").first()
    # Only a database emptied as a whole (the test suite's flush) lacks the head
    # that the migration created; never restart a chain that has events.
    if head is None and AuditEvent.objects.exists():
        raise AuditHeadMissing(
            "the audit head record is missing while events exist; run `manage.py audit verify`"
        )
    sequence = (head["sequence"] + 1) if head else 1
    prev_hash = head["hash"] if head else GENESIS_HASH
    fields: dict[str, Any] = {
        "sequence": sequence,
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
    event = AuditEvent.objects.create(
        **fields, prev_hash=prev_hash, hash=event_hash(prev_hash, fields)
    )
    if head is None:
        AuditHead.objects.create(id=HEAD_ID, sequence=sequence, hash=event.hash)
    else:
        AuditHead.objects.filter(pk=HEAD_ID).update(sequence=sequence, hash=event.hash)
    return event


def _missing(first: int, last: int) -> str:
    return f"event {first} is missing" if first == last else f"events {first}-{last} are missing"


@dataclass(frozen=True)
class VerifyResult:
    intact: bool
    checked: int
    first_bad_sequence: int | None = None
    reason: str = ""
    head_sequence: int = 0
    head_hash: str = GENESIS_HASH


def _read_head() -> dict[str, Any] | None:
    head = AuditHead.objects.filter(pk=HEAD_ID).values("sequence", "hash").first()
    return dict(head) if head is not None else None


def verify(*, chunk_size: int = 5000) -> VerifyResult:
    """Walk the whole chain in order, then hold its end against the head record.

    A row edited, removed or moved shows as a hash that does not match its
    content, a gap in the sequence, or a ``prev_hash`` that is not its
    predecessor's hash. An emptied or cut-short table shows as events the head
    record (kept in its own table) names but the table lacks.

    The head is read before the walk: every event it names was committed before
    the walk's query began, so writers appending meanwhile are never mistaken
    for missing events.
    """
    head = _read_head()
    head_sequence = head["sequence"] if head else 0
    hash_at_head = GENESIS_HASH
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
                f"{_missing(expected_sequence, sequence - 1)} (next present is {sequence})",
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
        if sequence == head_sequence:
            hash_at_head = prev_hash
        expected_sequence += 1
        checked += 1
    return _against_head(head, hash_at_head, checked, prev_hash)


def _against_head(
    head: dict[str, Any] | None, hash_at_head: str, last: int, last_hash: str
) -> VerifyResult:
    """The verdict on an unbroken walk that ended at event ``last``.

    ``head`` was read before the walk; ``hash_at_head`` is the walked event's
    hash at the head's sequence.
    """
    head_sequence = head["sequence"] if head else 0
    if head_sequence > last:
        return VerifyResult(
            False,
            last,
            last + 1,
            f"{_missing(last + 1, head_sequence)}; the head says {head_sequence}",
        )
    if last > head_sequence:
        # Appended after the head was read, or the head was set back: read it again.
        now = _read_head()
        if now is None:
            return VerifyResult(
                False, last, None, f"the head record is missing ({last} events in the table)"
            )
        if now["sequence"] < last:
            return VerifyResult(
                False,
                last,
                now["sequence"] + 1,
                f"the head says {now['sequence']} but the table goes on to {last}: "
                "the head was moved back",
            )
    if head is not None and head["hash"] != hash_at_head:
        return VerifyResult(
            False,
            last,
            head_sequence or None,
            f"event {head_sequence} does not match the head's hash",
        )
    return VerifyResult(True, last, head_sequence=last, head_hash=last_hash)
