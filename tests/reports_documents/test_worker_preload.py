"""Report workers load the renderer once, in the worker's main process, so that
RQ's work horse (one fork per job) inherits it (govdash/worker.py)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from django.conf import settings

pytestmark = [pytest.mark.redis]


def renderer_state() -> dict[str, Any]:
    """The job: what the work horse found loaded when the job began."""
    state = {"weasyprint": "weasyprint" in sys.modules}
    render = sys.modules.get("reports.documents.render")
    state["warm"] = bool(render and render._warm)  # type: ignore[attr-defined]
    return state


@pytest.mark.parametrize(
    ("queue_name", "warmed"), [("reports", True), ("sync", False)], ids=["reports", "sync"]
)
def test_a_report_worker_preloads_the_renderer_for_its_work_horses(
    subprocess_env, redis_queue, queue_name, warmed
):
    queue = redis_queue(queue_name)
    job = queue.enqueue(renderer_state)
    completed = subprocess.run(
        [sys.executable, "manage.py", "rqworker", queue_name, "--burst"],
        cwd=settings.BASE_DIR,
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    job.refresh()
    assert job.is_finished, completed.stderr[-2000:]
    # A worker for the other queues does not carry the renderer (nor its memory).
    assert job.return_value() == {"weasyprint": warmed, "warm": warmed}
