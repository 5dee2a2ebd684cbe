from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from approvals.models import PromotionRequest
from govdash.demo.approvals import seed_requests, wait_for_promotions


class Command(BaseCommand):
    help = (
        "Make the demo's promotion requests (one waiting at each production stage, a "
        "completed staging promotion, a rejected request) with the demo users; "
        "needs `demo_users`, a synced and assessed source named demo, and a worker."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--timeout",
            type=float,
            default=60.0,
            help="seconds to wait for approved promotions to be delivered (default 60)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        seed_requests(lambda line: self.stdout.write(line))
        for request in wait_for_promotions(timeout=options["timeout"]):
            self.stdout.write(
                f"request #{request.pk}: {request.version.model.name} v{request.version.version} "
                f"to {request.environment.name}: promotion {request.promotion}"
                + (f" ({request.promotion_detail})" if request.promotion_detail else "")
            )
        counts = {
            status: PromotionRequest.objects.filter(status=status).count()
            for status in PromotionRequest.Status.values
        }
        summary = " ".join(f"{status}={count}" for status, count in counts.items() if count)
        self.stdout.write(f"promotion requests: {summary or 'none'}")
