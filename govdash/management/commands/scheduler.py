from __future__ import annotations

import contextlib
import logging
import signal
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from redis.exceptions import RedisError
from rq.cron import CronScheduler

from kernel.errors import one_line
from kernel.queues import redis_connection

CONFIG = "govdash.cron"
# Waits between attempts while Redis is away: doubling from the first, capped.
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 30.0

logger = logging.getLogger("govdash.scheduler")


class _Stop(Exception):
    pass


def _stop(signum: int, frame: Any) -> None:
    raise _Stop


class Command(BaseCommand):
    help = (
        "Run govdash's periodic jobs (scheduled syncs, and the maintenance tick that "
        "recovers stuck background work). Run exactly one per deployment, beside the "
        "workers. Rides out Redis outages: it logs one line and retries with backoff."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--give-up-after",
            type=float,
            default=0,
            help="exit 1 after Redis has been unreachable this many seconds (0: never)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            connection = redis_connection(timeout=30)
            connection.ping()
        except (RedisError, OSError) as exc:
            raise CommandError(f"Redis cannot be reached: {one_line(exc)}") from None
        scheduler = CronScheduler(connection=connection)
        scheduler.load_config_from_file(CONFIG)
        jobs = scheduler.get_jobs()
        if not jobs:
            raise CommandError(f"no periodic jobs could be registered from {CONFIG}")
        self.stdout.write(
            "scheduler: "
            + ", ".join(
                f"{getattr(job.func, '__name__', job.func)} every {job.interval}s" for job in jobs
            )
        )
        self.stdout.flush()
        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        try:
            self._run(scheduler, give_up_after=options["give_up_after"])
        except _Stop:
            self.stdout.write("scheduler: stopped")
        finally:
            with contextlib.suppress(RedisError, OSError):
                scheduler.register_death()

    def _run(self, scheduler: CronScheduler, *, give_up_after: float) -> None:
        """RQ's ``CronScheduler.start`` loop, except that a Redis error is one
        log line and a retry with backoff instead of the end of the process.
        A job whose enqueue failed stays due and is queued on the next try."""
        backoff = BACKOFF_FIRST
        down_since: float | None = None
        registered = False
        while True:
            try:
                if not registered:
                    scheduler.register_birth()
                    registered = True
                if scheduler.enqueue_jobs():
                    scheduler.save()
                scheduler.heartbeat()
            except (RedisError, OSError) as exc:
                now = time.monotonic()
                down_since = down_since or now
                if give_up_after and now - down_since >= give_up_after:
                    raise CommandError(
                        f"Redis unreachable for {now - down_since:.0f}s: {one_line(exc)}"
                    ) from None
                self.stderr.write(
                    f"scheduler: Redis unreachable ({one_line(exc)}); retrying in {backoff:.0f}s"
                )
                self.stderr.flush()
                time.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            if down_since is not None:
                self.stderr.write("scheduler: Redis is back")
                self.stderr.flush()
                down_since = None
                backoff = BACKOFF_FIRST
            time.sleep(max(scheduler.calculate_sleep_interval(), 0.5))
