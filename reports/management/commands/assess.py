from __future__ import annotations

import sys
import time
from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from reports.jobs import QueueUnavailable, assess_pending, requeue_lost_batches
from reports.models import Assessment, AssessmentBatch, AssessmentRequest, Policy
from reports.selectors.assessing import request_progress
from tracking.models import Experiment, Source


class Command(BaseCommand):
    help = "Queue assessment of the runs that need it; --wait shows progress until done."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source", help="only runs of this source")
        parser.add_argument("--experiment", help="only runs of this experiment (by name)")
        parser.add_argument("--policy", help="only this policy (slug); default: every active one")
        parser.add_argument("--wait", action="store_true", help="wait and show progress")
        parser.add_argument(
            "--timeout", type=float, default=3600, help="with --wait: give up after N seconds"
        )

    def handle(self, *args: Any, **options: Any) -> None:
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
            requeue_lost_batches()
            requests = assess_pending(
                policy=policy,
                source_name=options["source"],
                experiment_name=options["experiment"],
                reason="manage.py assess",
            )
        except QueueUnavailable as exc:
            raise CommandError(str(exc)) from None
        total = sum(r.total for r in requests)
        if not options["wait"]:
            self.stdout.write(f"queued {total} runs for assessment in {len(requests)} request(s)")
            return
        self._wait(requests, timeout=options["timeout"])
        tally = self._tally(requests)
        self.stdout.write(
            f"assessed {total} runs: compliant={tally['compliant']} "
            f"non_compliant={tally['non_compliant']} errors={tally['error']}"
        )
        failed = AssessmentBatch.objects.filter(
            request__in=requests, status=AssessmentBatch.Status.FAILED
        )
        if failed.exists():
            reason = failed.values_list("error", flat=True).first()
            raise CommandError(f"{failed.count()} batch(es) failed: {reason}")

    def _wait(self, requests: list[AssessmentRequest], *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        tty = sys.stderr.isatty()
        last_line = 0.0
        while True:
            progress = request_progress(requests)
            done = sum(p.done for p in progress)
            total = sum(p.total for p in progress)
            open_batches = sum(p.open_batches for p in progress)
            now = time.monotonic()
            if tty or now - last_line > 5 or not open_batches:
                bar = "#" * int(30 * done / total) if total else ""
                text = f"assessing [{bar:<30}] {done}/{total}"
                sys.stderr.write(("\r" + text) if tty else text + "\n")
                sys.stderr.flush()
                last_line = now
            if not open_batches:
                if tty:
                    sys.stderr.write("\n")
                return
            if now > deadline:
                raise CommandError(
                    f"gave up waiting after {timeout:.0f}s with {done}/{total} runs assessed; "
                    "is a worker running (`manage.py rqworker assess`)?"
                )
            # A worker that died mid-batch: its batch goes back on the queue.
            requeue_lost_batches()
            time.sleep(1.0)

    def _tally(self, requests: list[AssessmentRequest]) -> Counter[str]:
        versions = [r.policy_version_id for r in requests]
        run_ids = {
            run_id
            for batch in AssessmentBatch.objects.filter(request__in=requests)
            for run_id in batch.run_ids
        }
        verdicts = Assessment.objects.filter(
            policy_version__in=versions, run_id__in=run_ids, is_current=True
        ).values_list("verdict", flat=True)
        return Counter(verdicts)
