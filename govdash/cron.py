"""Periodic jobs, run by ``manage.py scheduler`` (one such process per deployment)."""

from django.conf import settings
from rq import cron

from approvals.services import promotion_expire_due
from kernel.reconcile import maintenance_tick
from tracking.jobs import schedule_tick

# Each source has its own sync interval; this tick only checks which are due
# (after recovering stuck syncs, so a lost sync never blocks its schedule).
cron.register(schedule_tick, queue_name="default", interval=settings.SCHEDULER_TICK_SECONDS)
# The one reconciliation loop: every app's stuck work (lost jobs, lost
# workers, failed attempts to retry) goes back on the queue or fails with a reason.
cron.register(maintenance_tick, queue_name="default", interval=settings.SCHEDULER_TICK_SECONDS)
# Open promotion requests past GOVDASH_PROMOTION_EXPIRY_DAYS expire.
cron.register(promotion_expire_due, queue_name="default", interval=300)
