"""Who acts when no person does: the system actors of the audit trail.

An event is attributed either to a signed-in user (``actor=``), to one of
these named actors (``system_actor=``), or, for failed logins and lockouts
only, to a *claimed* username that nobody verified (``claimed_username=``,
recorded with the role ``unverified``). No other names reach ``actor_username``.
"""

from __future__ import annotations

from enum import StrEnum


class SystemActor(StrEnum):
    # A sync of a tracking source, run by a worker or by `manage.py sync`.
    SYNC = "sync"
    # Assessment jobs and the write-back of their verdicts.
    ASSESSOR = "assessor"
    # The scheduler and maintenance: queued work, lost workers, enqueue failures.
    SYSTEM = "system"
    # An operator at the server's shell (management commands act with no login).
    COMMAND = "command"
    # `make demo`'s set-up of demo users.
    DEMO = "demo"


# The role recorded beside a username that was typed but never verified.
UNVERIFIED = "unverified"
# Typed usernames are attacker-controlled: keep at most this much of one.
CLAIMED_USERNAME_MAX = 64
