"""The background-job queues: where they are and how full."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import redis
from django.conf import settings
from django.utils.module_loading import import_string
from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.job import Job, JobStatus

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


def workers_listening(name: str) -> int:
    """How many RQ workers listen on queue ``name`` now (registered with Redis;
    a worker that died without cleaning up drops out when its registration
    expires). With jobs inline there are none to ask: 1. Raises
    ``QueueUnavailable`` when Redis cannot be reached."""
    if settings.JOBS_INLINE:
        return 1
    with queue_errors():
        connection = redis_connection(timeout=10.0)
        return len(Worker.all(connection=connection, queue=Queue(name, connection=connection)))


class JobState(StrEnum):
    """Where RQ stands on a job, as far as recovery cares."""

    MISSING = "missing"  # no such job in Redis (lost with it, or never given)
    WAITING = "waiting"  # on a queue (or deferred/scheduled): a worker will take it
    STARTED = "started"  # a worker took it
    ENDED = "ended"  # finished, failed, stopped or canceled: no worker has it any more


@dataclass(frozen=True)
class JobInfo:
    state: JobState
    # When it reached that state (enqueued, started or ended), when RQ knows.
    since: dt.datetime | None = None


_WAITING = {JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED, JobStatus.CREATED}
_ENDED = {JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED}


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)  # RQ stores UTC without a zone


def job_infos(job_ids: Iterable[str]) -> dict[str, JobInfo] | None:
    """What RQ knows of each job id (blank ids are MISSING), in one round trip.

    ``None`` when jobs run inline (there is no queue to ask). Raises
    ``QueueUnavailable`` when Redis cannot be reached."""
    if settings.JOBS_INLINE:
        return None
    ids = list(dict.fromkeys(job_ids))
    known = [job_id for job_id in ids if job_id]
    infos = {job_id: JobInfo(JobState.MISSING) for job_id in ids}
    if not known:
        return infos
    with queue_errors():
        jobs = Job.fetch_many(known, connection=redis_connection(timeout=10.0))
    for job_id, job in zip(known, jobs, strict=True):
        if job is None:
            continue
        status = job.get_status(refresh=False)
        if status in _ENDED:
            infos[job_id] = JobInfo(JobState.ENDED, _aware(job.ended_at))
        elif status == JobStatus.STARTED:
            infos[job_id] = JobInfo(JobState.STARTED, _aware(job.started_at))
        elif status in _WAITING:
            infos[job_id] = JobInfo(JobState.WAITING, _aware(job.enqueued_at))
        else:  # a status this code does not know: leave the job alone
            infos[job_id] = JobInfo(JobState.WAITING, None)
    return infos


def new_job_id() -> str:
    """An id to give a job before it is queued, so the row that waits for it
    can name it first (compare-and-swap) and two callers never both queue it."""
    return uuid.uuid4().hex
