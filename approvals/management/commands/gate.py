"""CI gate: is this version approved for this environment right now?

Exit 0 approved, 3 not approved (with the reasons), 1 error; one line each.
Without --version: prints the version currently approved for the environment.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from approvals.selectors import gate
from kernel.errors import DomainError, one_line

NOT_APPROVED = 3


class Command(BaseCommand):
    help = "Is a model version approved for an environment now? (exit 0 yes, 3 no, 1 error)"

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        # --version names the model version here, not Django's version.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source", required=True, help="source name")
        parser.add_argument("--model", required=True, help="registered model name")
        parser.add_argument(
            "--version",
            dest="model_version",
            default=None,
            help="model version; omitted: the version approved now",
        )
        parser.add_argument("--environment", required=True, help="environment name")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            answer = gate(
                source=options["source"],
                model=options["model"],
                environment=options["environment"],
                version=options["model_version"],
            )
        except DomainError as exc:
            raise CommandError(one_line(exc, with_type=False), returncode=1) from None
        where = f"{options['model']} v{answer.version} for {answer.environment}"
        if answer.approved:
            self.stdout.write(f"approved: {where}")
            return
        self.stdout.write(f"not approved: {where}: {'; '.join(answer.reasons)}")
        sys.exit(NOT_APPROVED)
