from __future__ import annotations

import sys
import time
from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.actors import SystemActor
from kernel.commands import outages_in_one_line
from kernel.queues import workers_listening
from reports.jobs import (
    QUEUE,
    AssessmentNotQueued,
    BatchReconciler,
    QueueUnavailable,
    assess_pending,
    queue_unqueued_batches,
    requeue_lost_batches,
)
from reports.models import Assessment, AssessmentBatch, AssessmentRequest, Policy
from reports.selectors.assessing import open_requests, request_progress, verdicts_in_scope
from tracking.models import Experiment, Source

# With --wait: how often to recover stuck batches, and to look for a worker
# on the assess queue, meanwhile (seconds).
RECOVER_EVERY = 5.0
# With --wait: give up once no worker has listened on the assess queue for
# this long (seconds); long enough for a supervisor to restart one.
NO_WORKER_PATIENCE = 30.0


class Command(BaseCommand):
    help = (
        "Queue assessment of the runs that need it (never a run an open batch holds already); "
        "--wait shows progress until every pending assessment is done."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source", help="only runs of this source")
        parser.add_argument("--experiment", help="only runs of this experiment (by name)")
        parser.add_argument("--policy", help="only this policy (slug); default: every active one")
        parser.add_argument("--wait", action="store_true", help="wait and show progress")
        parser.add_argument(
            "--timeout", type=float, default=3600, help="with --wait: give up after N seconds"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        with outages_in_one_line():
            self._handle(options)

    def _handle(self, options: dict[str, Any]) -> None:
        policy = None
        if options["policy"]:
            policy = Policy.objects.filter(slug=options["policy"]).first()
            if policy is None:
                raise CommandError(f"no policy {options['policy']!r}")
            if policy.current_version() is None:
                raise CommandError(f"policy {policy.slug} has no published version")
        if options["source"] and not Source.objects.filter(name=options["source"]).exists():
            raise CommandError(f"no source named {options['source']} (see `sources list`)")
        if (
            options["experiment"]
            and not Experiment.objects.filter(name=options["experiment"]).exists()
        ):
            raise CommandError(f"no experiment named {options['experiment']!r}")
        try:
            # What an earlier call left: batches of a lost worker, and batches
            # the job queue could not take. Queued before new requests are made.
            requeue_lost_batches(system_actor=SystemActor.COMMAND)
            queue_unqueued_batches(system_actor=SystemActor.COMMAND)
            requests = assess_pending(
                policy=policy,
                source_name=options["source"],
                experiment_name=options["experiment"],
                reason="manage.py assess",
                system_actor=SystemActor.COMMAND,
            )
            # Requests still open (a sync's, an earlier command's), read after
            # queueing so one created meanwhile is not missed: their runs were
            # not queued again, and --wait waits for them too.
            already_open = open_requests(policy=policy)
        except AssessmentNotQueued as exc:
            raise CommandError(exc.summary()) from None
        except QueueUnavailable as exc:
            raise CommandError(
                f"{exc}; batches not queued wait as they are, and are queued again "
                "once the job queue is back"
            ) from None
        if not options["wait"]:
            total = sum(r.total for r in requests)
            self.stdout.write(f"queued {total} runs for assessment in {len(requests)} request(s)")
            return
        waited = already_open + [r for r in requests if r not in already_open]
        if not waited:
            # Nothing was pending (a sync's own assessment may have finished
            # already): say where the runs in scope stand, then the usual line.
            now = verdicts_in_scope(
                policy=policy,
                source_name=options["source"],
                experiment_name=options["experiment"],
            )
            self.stdout.write(
                f"nothing pending: {sum(now.values())} runs already assessed "
                f"(compliant={now.get('compliant', 0)} "
                f"non_compliant={now.get('non_compliant', 0)} errors={now.get('error', 0)})"
            )
        self._wait(waited, timeout=options["timeout"])
        held, tally = self._tally(waited)
        self.stdout.write(
            f"assessed {held} runs: compliant={tally['compliant']} "
            f"non_compliant={tally['non_compliant']} errors={tally['error']}"
        )

    def _wait(self, requests: list[AssessmentRequest], *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        tty = sys.stderr.isatty()
        last_line = 0.0
        last_recovery = time.monotonic()
        no_worker_since: float | None = None
        last_worker_check = -RECOVER_EVERY
        while True:
            progress = request_progress(requests)
            done = sum(p.done for p in progress)
            total = sum(p.total for p in progress)
            open_batches = sum(p.open_batches for p in progress)
            failed_batches = sum(p.failed_batches for p in progress)
            now = time.monotonic()
            if tty or now - last_line > 5 or not open_batches:
                bar = "#" * int(30 * done / total) if total else ""
                text = f"assessing [{bar:<30}] {done}/{total}"
                sys.stderr.write(("\r" + text) if tty else text + "\n")
                sys.stderr.flush()
                last_line = now
            if tty and (failed_batches or not open_batches):
                sys.stderr.write("\n")
            if failed_batches:
                # Failed for good (attempts used up): the wait can never end well.
                raise CommandError(self._failed(requests, failed_batches, done, total))
            if not open_batches:
                return
            if now > deadline:
                raise CommandError(
                    f"gave up waiting after {timeout:.0f}s with {done}/{total} runs assessed; "
                    "is a worker running (`manage.py rqworker assess`)?"
                )
            # What the maintenance tick does, sooner: a batch whose worker
            # died, or whose job the queue lost, goes back on the queue.
            if now - last_recovery >= RECOVER_EVERY:
                BatchReconciler().reconcile()
                last_recovery = now
            if now - last_worker_check >= RECOVER_EVERY:
                last_worker_check = now
                no_worker_since = self._no_worker_since(no_worker_since, now)
                if no_worker_since is not None and now - no_worker_since >= NO_WORKER_PATIENCE:
                    raise CommandError(
                        f"no worker listens on the {QUEUE} queue (none for "
                        f"{NO_WORKER_PATIENCE:.0f}s), so the assessment cannot finish: "
                        f"{done}/{total} runs assessed; start one "
                        f"(`manage.py rqworker default sync assess reports`) and run this again"
                    )
            time.sleep(1.0)

    @staticmethod
    def _no_worker_since(since: float | None, now: float) -> float | None:
        """Since when no worker has listened on the assess queue (None: one
        listens, or Redis cannot tell now: the reconciler logs that)."""
        try:
            listening = workers_listening(QUEUE)
        except QueueUnavailable:
            return None
        if listening:
            return None
        return now if since is None else since

    @staticmethod
    def _failed(requests: list[AssessmentRequest], count: int, done: int, total: int) -> str:
        reason = (
            AssessmentBatch.objects.filter(
                request__in=requests, status=AssessmentBatch.Status.FAILED
            )
            .values_list("error", flat=True)
            .first()
        )
        return (
            f"{count} batch(es) failed for good, so the assessment cannot finish: "
            f"{' '.join((reason or 'no reason recorded').split())}; {done}/{total} runs "
            "assessed; `manage.py assess` queues their runs again"
        )

    def _tally(self, requests: list[AssessmentRequest]) -> tuple[int, Counter[str]]:
        """How many runs the requests held, and their current verdicts: each
        (run, policy version) once, whatever the number of requests that held it."""
        run_ids: dict[int, set[int]] = {}
        for version_id, ids in AssessmentBatch.objects.filter(request__in=requests).values_list(
            "request__policy_version_id", "run_ids"
        ):
            run_ids.setdefault(version_id, set()).update(ids)
        tally: Counter[str] = Counter()
        for version_id, ids in run_ids.items():
            tally.update(
                Assessment.objects.filter(
                    policy_version_id=version_id, run_id__in=ids, is_current=True
                ).values_list("verdict", flat=True)
            )
        return sum(len(ids) for ids in run_ids.values()), tally
