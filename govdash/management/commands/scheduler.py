from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from redis.exceptions import RedisError
from rq.cron import CronScheduler

from kernel.errors import one_line
from kernel.queues import redis_connection

CONFIG = "govdash.cron"


class Command(BaseCommand):
    help = (
        "Run govdash's periodic jobs (scheduled syncs, requeueing lost assessment "
        "batches). Run exactly one per deployment, beside the workers."
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
        scheduler.start()
