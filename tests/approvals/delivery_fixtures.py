"""Fixtures of the delivery and notification tests, imported by those modules (not a
conftest.py: CORE's tests/approvals/conftest.py is the directory's)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _quick_delivery(settings) -> None:  # type: ignore[no-untyped-def]
    # Retries without waiting. Timeouts stay generous (a loaded machine answers slowly);
    # the test of a timeout shortens it itself.
    settings.PROMOTION_DELIVERY_BACKOFF_SECONDS = 0
    settings.PROMOTION_DELIVERY_TIMEOUT_SECONDS = 30
