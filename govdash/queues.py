"""The background-job queues: where they are and how full."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from django.conf import settings
from redis.exceptions import RedisError
from rq import Queue


@dataclass(frozen=True)
class QueueHealth:
    ok: bool
    inline: bool
    depths: dict[str, int]
    error: str = ""


def queue_health(*, timeout: float = 2.0) -> QueueHealth:
    """Ping Redis and count the jobs waiting in each queue.

    Uses its own short-timeout connection: a health check must answer quickly
    even when Redis hangs.
    """
    if settings.JOBS_INLINE:
        return QueueHealth(ok=True, inline=True, depths={})
    depths: dict[str, int] = {}
    try:
        connection = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        connection.ping()
        for name in settings.JOB_QUEUES:
            depths[name] = Queue(name, connection=connection).count
    except (RedisError, OSError) as exc:
        return QueueHealth(ok=False, inline=False, depths=depths, error=one_line(exc))
    return QueueHealth(ok=True, inline=False, depths=depths)


def one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
