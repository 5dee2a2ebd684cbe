"""What every management command shares: outages end in one line, never a traceback."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from django.core.management.base import CommandError
from django.db import InterfaceError, OperationalError, connections
from redis.exceptions import RedisError

from kernel.errors import one_line

T = TypeVar("T")

# A lost database connection (server restarted or stopped, connection killed).
DATABASE_LOST = (OperationalError, InterfaceError)


@contextmanager
def outages_in_one_line() -> Iterator[None]:
    """Inside, a lost database or Redis becomes a one-line ``CommandError``
    (exit 1, no traceback)."""
    try:
        yield
    except DATABASE_LOST as exc:
        raise CommandError(f"the database connection was lost: {one_line(exc)}") from None
    except RedisError as exc:
        raise CommandError(f"the job queue cannot be reached: {one_line(exc)}") from None


def reconnect_and_retry(call: Callable[[], T], *, attempts: int = 3, wait: float = 1.0) -> T:
    """Call ``call`` on fresh database connections, a few times with a pause
    between: for the clean-up after a lost connection. The last error propagates."""
    for attempt in range(1, attempts + 1):
        for connection in connections.all(initialized_only=True):
            connection.close_if_unusable_or_obsolete()
            if not connection.is_usable():
                connection.close()
        try:
            return call()
        except DATABASE_LOST:
            if attempt == attempts:
                raise
            time.sleep(wait * attempt)
    raise AssertionError("unreachable")
