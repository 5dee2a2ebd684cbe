"""Issue 12, acceptance 3: the README's production recipe is the one the fault
tests run. The tests start workers and the scheduler with
``faults.WORKER_COMMAND`` and ``faults.SCHEDULER_COMMAND``; here the README,
the unit files in docs/operations.md and ``make demo`` are held to them."""

from __future__ import annotations

import re

from django.conf import settings

from tests.integration.faults import BURST, ROOT, SCHEDULER_COMMAND, WORKER_COMMAND


def _recipe() -> list[str]:
    """The shell block of the README's "Running it in production"."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Running it in production") :]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "no recipe in the README's production section"
    return block.group(1).splitlines()


def _started(lines: list[str], program: str) -> list[tuple[tuple[str, ...], str]]:
    """Each line starting ``manage.py <program>``: its command and its comment."""
    found = []
    for line in lines:
        command, _, comment = line.partition("#")
        words = tuple(command.split())
        if words[:2] == ("manage.py", program):
            found.append((words, comment.strip()))
    return found


def test_the_readme_starts_workers_and_the_scheduler_as_the_fault_tests_do():
    lines = _recipe()
    ((worker, worker_note),) = _started(lines, "rqworker")
    ((scheduler, scheduler_note),) = _started(lines, "scheduler")
    assert worker == WORKER_COMMAND
    assert scheduler == SCHEDULER_COMMAND
    # Supervision: both restarted by the supervisor; exactly one scheduler.
    assert "Restart=always" in worker_note
    assert "Restart=always" in scheduler_note
    assert "exactly one" in scheduler_note


def test_the_unit_files_run_the_same_commands_with_restart_always():
    operations = (ROOT / "docs" / "operations.md").read_text()
    units = operations[operations.index("### Supervision") :]
    units = units[: units.index("```", units.index("```ini") + 6)]
    services = [part for part in units.split("[Service]")[1:]]
    starts = []
    for unit in services:
        exec_start = re.search(r"^ExecStart=\S+/python (.*)$", unit, re.M)
        assert exec_start, unit
        starts.append(tuple(exec_start.group(1).split()))
        assert re.search(r"^Restart=always$", unit, re.M), unit
    assert starts == [WORKER_COMMAND, SCHEDULER_COMMAND]


def test_workers_take_every_queue_and_need_no_rq_scheduler():
    assert WORKER_COMMAND[2:] == tuple(settings.JOB_QUEUES)
    # Retries go through the maintenance tick, not RQ's scheduler (finding 2).
    assert "--with-scheduler" not in WORKER_COMMAND
    assert BURST not in WORKER_COMMAND  # the tests' own addition, never the recipe's
    readme = (ROOT / "README.md").read_text()
    assert "Workers need no\n`--with-scheduler`" in readme


def test_make_demo_starts_the_same_worker():
    demo = (ROOT / "scripts" / "demo.py").read_text()
    queues = re.search(r"^WORKER_QUEUES = \((.*)\)$", demo, re.M)
    assert queues
    assert tuple(re.findall(r'"(\w+)"', queues.group(1))) == WORKER_COMMAND[2:]
    assert 'self.spawn("worker", "rqworker", *WORKER_QUEUES' in demo
    assert 'self.spawn("scheduler", "scheduler"' in demo
