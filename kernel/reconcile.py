"""One reconciliation loop for every kind of background work.

Each app that puts work on the queues (syncs, assessment batches, and later
report renders and promotions) owns a ``Reconciler`` and registers it from its
``AppConfig.ready()``; the kernel never imports an app. ``maintenance_tick``,
which ``manage.py scheduler`` queues every minute, runs them all. A reconciler:

- puts back on the queue work recorded as ``queued`` whose RQ job no longer
  exists, has ended without starting it, or was never handed to RQ (past a
  grace period); re-enqueueing is idempotent: the row names its new job id by
  compare-and-swap before the job is queued, and jobs claim their row by
  compare-and-swap, so a duplicate job does nothing;
- requeues, or after a bounded number of attempts fails with a reason, work
  recorded as ``running`` whose heartbeat is older than its threshold (or
  whose job ended without recording an end);
- retries work whose job failed and asked for another attempt: RQ's own
  ``Retry`` is not used, so no retry waits for an RQ scheduler that may not run;
- counts the work that is overdue now, for ``/healthz``.

One reconciler failing (the database or Redis away) is logged in one line and
does not stop the others; the next tick tries again.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from django.db import DatabaseError, close_old_connections
from django.utils import timezone
from redis.exceptions import RedisError

from kernel.errors import one_line

logger = logging.getLogger(__name__)

# Redis key holding the time of the last maintenance tick (ISO 8601).
LAST_TICK_KEY = "govdash:maintenance:last_tick"


@dataclass(frozen=True)
class Recovery:
    """One thing a reconciler did: ``action`` is "requeued" or "failed"."""

    kind: str
    id: int | str
    action: str
    reason: str


@dataclass(frozen=True)
class WorkAttention:
    """Background work a page shows a person (``templates/includes/_work_attention.html``):
    ``state`` is "overdue" (queued or running past its threshold now) or what
    recovery did ("requeued", "failed"); ``at`` is since when, or when it was
    recovered; ``reason`` says why. Built by the apps' selectors."""

    what: str
    state: str
    at: dt.datetime | None
    reason: str
    url: str = ""

    @property
    def state_label(self) -> str:
        return ATTENTION_LABELS.get(self.state, self.state)


ATTENTION_LABELS = {
    "overdue": "Overdue",
    "requeued": "Recovered: queued again",
    "failed": "Recovered: failed",
}
# How long a page keeps showing what recovery did.
RECOVERED_SHOWN_FOR = dt.timedelta(hours=24)
# At most this many items of each kind on a page (the query count stays the same).
ATTENTION_ROWS = 10


class Reconciler(Protocol):
    def reconcile(self) -> list[Recovery]:
        """Recover what is stuck; return what was done."""
        ...

    def overdue(self) -> int:
        """How many items are queued or running past their threshold now."""
        ...


@dataclass
class ReconcileResult:
    recoveries: list[Recovery] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.recoveries:
            key = f"{item.kind} {item.action}"
            counts[key] = counts.get(key, 0) + 1
        return counts


_RECONCILERS: dict[str, Reconciler] = {}


def register_reconciler(name: str, reconciler: Reconciler) -> None:
    """Called from an ``AppConfig.ready()``; registering a name again replaces it."""
    _RECONCILERS[name] = reconciler


def unregister_reconciler(name: str) -> None:
    _RECONCILERS.pop(name, None)


def reconcilers() -> dict[str, Reconciler]:
    return dict(_RECONCILERS)


_OUTAGES = (DatabaseError, RedisError, OSError)
T = TypeVar("T")


def _guarded(name: str, what: str, call: Callable[[], T], default: T) -> tuple[T, str]:
    try:
        return call(), ""
    except _OUTAGES as exc:
        message = one_line(exc)
        logger.error("%s of %s skipped: %s", what, name, message)
        close_old_connections()
        return default, message
    except Exception as exc:  # a bug in one reconciler must not stop the others
        message = one_line(exc)
        logger.error("%s of %s failed: %s", what, name, message)
        return default, message


def reconcile() -> ReconcileResult:
    """Run every registered reconciler once."""
    result = ReconcileResult()
    for name, reconciler in reconcilers().items():
        empty: list[Recovery] = []
        done, error = _guarded(name, "reconciliation", reconciler.reconcile, empty)
        result.recoveries.extend(done)
        if error:
            result.errors[name] = error
    for item in result.recoveries:
        logger.warning("recovered %s #%s (%s): %s", item.kind, item.id, item.action, item.reason)
    return result


def overdue() -> dict[str, int]:
    """Work queued or running past its threshold, by reconciler (-1: could not tell)."""
    counts: dict[str, int] = {}
    for name, reconciler in reconcilers().items():
        counts[name], _ = _guarded(name, "overdue count", reconciler.overdue, -1)
    return counts


def maintenance_tick() -> dict[str, int]:
    """Queued every minute by ``manage.py scheduler`` (``govdash/cron.py``)."""
    result = reconcile()
    _note_tick()
    return result.summary()


def _note_tick() -> None:
    from kernel.queues import redis_connection

    try:
        redis_connection().set(LAST_TICK_KEY, timezone.now().isoformat())
    except (RedisError, OSError) as exc:
        logger.error("maintenance tick not noted: %s", one_line(exc))


def last_tick() -> dt.datetime | None:
    """When the last maintenance tick ran (None: never, as far as Redis knows).
    Raises RedisError/OSError when Redis cannot be reached."""
    from kernel.queues import redis_connection

    value = redis_connection(timeout=2.0).get(LAST_TICK_KEY)
    if not value:
        return None
    return dt.datetime.fromisoformat(value.decode() if isinstance(value, bytes) else str(value))
