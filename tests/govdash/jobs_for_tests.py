"""A job that only the tests enqueue, to prove the worker wiring end to end."""

from __future__ import annotations

import os

from django.db import transaction

from audit.services import record


def record_from_worker(marker: str) -> int:
    with transaction.atomic():
        event = record(action="test.worker", data={"marker": marker, "pid": os.getpid()})
    return event.sequence
