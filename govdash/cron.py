"""Periodic jobs, for ``manage.py rqcron govdash.cron`` (one such process per deployment)."""

from rq import cron

from tracking.jobs import schedule_tick

# Each source has its own interval; this tick only checks which are due.
cron.register(schedule_tick, queue_name="default", interval=60)
