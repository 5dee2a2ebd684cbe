"""Periodic jobs, run by ``manage.py scheduler`` (one such process per deployment)."""

from rq import cron

from approvals.services import promotion_expire_due
from reports.jobs import maintenance_tick
from tracking.jobs import schedule_tick

# Each source has its own sync interval; this tick only checks which are due.
cron.register(schedule_tick, queue_name="default", interval=60)
# Assessment batches whose worker died go back on the queue.
cron.register(maintenance_tick, queue_name="default", interval=60)
# Open promotion requests past GOVDASH_PROMOTION_EXPIRY_DAYS expire.
cron.register(promotion_expire_due, queue_name="default", interval=300)
