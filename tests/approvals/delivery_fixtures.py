"""Fixtures of the delivery and notification tests, imported by those modules (not a
conftest.py: CORE's tests/approvals/conftest.py is the directory's)."""

from __future__ import annotations

import importlib.util
import sys

import pytest


@pytest.fixture(autouse=True)
def _core_services_standin(monkeypatch: pytest.MonkeyPatch) -> None:
    """Until CORE's approvals.services exists on this branch, the job reports to a stand-in
    (tests/approvals/core_standin.py). The real module wins as soon as it is there."""
    import approvals

    if importlib.util.find_spec("approvals.services") is not None:
        return
    from tests.approvals import core_standin

    monkeypatch.setitem(sys.modules, "approvals.services", core_standin)
    monkeypatch.setattr(approvals, "services", core_standin, raising=False)


@pytest.fixture(autouse=True)
def _quick_delivery(settings) -> None:  # type: ignore[no-untyped-def]
    # Retries without waiting. Timeouts stay generous (a loaded machine answers slowly);
    # the test of a timeout shortens it itself.
    settings.PROMOTION_DELIVERY_BACKOFF_SECONDS = 0
    settings.PROMOTION_DELIVERY_TIMEOUT_SECONDS = 30
