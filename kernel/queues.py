"""The background-job queues: where they are and how full."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from django.utils.module_loading import import_string
from redis.exceptions import RedisError
from rq import Queue

from kernel.errors import Unavailable, one_line


class QueueUnavailable(Unavailable):
    """Redis cannot take a job; the message says why in one line."""


@dataclass(frozen=True)
class QueueHealth:
    ok: bool
    inline: bool
    depths: dict[str, int]
    error: str = ""


def redis_connection(*, timeout: float = 5.0) -> redis.Redis:
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=timeout, socket_connect_timeout=timeout
    )


@dataclass
class InlineJob:
    id: str
    result: Any


class InlineQueue:
    """Stands in for a queue when there is no Redis (GOVDASH_JOBS_INLINE):
    the job runs at once, in the caller, and its exceptions propagate."""

    def __init__(self, name: str) -> None:
        self.name = name

    def enqueue(self, func: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> InlineJob:
        for option in ("job_timeout", "result_ttl", "failure_ttl", "retry", "job_id", "at_front"):
            kwargs.pop(option, None)
        target = import_string(func) if isinstance(func, str) else func
        return InlineJob(id="", result=target(*args, **kwargs))


def get_queue(name: str) -> Queue | InlineQueue:
    """The RQ queue ``name`` on ``REDIS_URL``, read at call time (so tests and
    operators can point it elsewhere)."""
    if name not in settings.JOB_QUEUES:
        raise ValueError(f"unknown queue {name!r}")
    if settings.JOBS_INLINE:
        return InlineQueue(name)
    return Queue(name, connection=redis_connection(timeout=30.0), default_timeout=3600)


@contextmanager
def queue_errors() -> Iterator[None]:
    """Turn Redis failures inside the block into ``QueueUnavailable`` (one line)."""
    try:
        yield
    except (RedisError, OSError) as exc:
        raise QueueUnavailable(f"the job queue cannot be reached: {one_line(exc)}") from None


def enqueue(queue: str, func: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> Any:
    """Put one job on ``queue``; raises ``QueueUnavailable`` when Redis cannot take it."""
    with queue_errors():
        return get_queue(queue).enqueue(func, *args, **kwargs)  # type: ignore[type-var]


def queue_health(*, timeout: float = 2.0) -> QueueHealth:
    """Ping Redis and count the jobs waiting in each queue.

    Uses its own short-timeout connection: a health check must answer quickly
    even when Redis hangs.
    """
    if settings.JOBS_INLINE:
        return QueueHealth(ok=True, inline=True, depths={})
    depths: dict[str, int] = {}
    try:
        connection = redis_connection(timeout=timeout)
        connection.ping()
        for name in settings.JOB_QUEUES:
            depths[name] = Queue(name, connection=connection).count
    except (RedisError, OSError) as exc:
        return QueueHealth(ok=False, inline=False, depths=depths, error=one_line(exc))
    return QueueHealth(ok=True, inline=False, depths=depths)
