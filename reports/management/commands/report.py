"""``manage.py report experiment|model-version|audit ... --out FILE.pdf``.

Renders in the foreground (no worker needed) with progress, records the report
like any other (audited, stored, hashed), then writes the checked PDF to
``--out``. One-line errors; exit 0 when written, 1 otherwise.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.actors import SystemActor
from kernel.errors import DomainError, one_line
from reports.documents.generate import generate_report
from reports.documents.services import report_download, report_request
from reports.models import Report


def _write_atomically(path: Path, content: bytes) -> None:
    """Never leave a half-written file at ``path``."""
    directory = path.parent if str(path.parent) else Path(".")
    fd, temporary = tempfile.mkstemp(prefix=".report-", suffix=".pdf", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class Command(BaseCommand):
    help = "Render a PDF report: an experiment compliance report, a dossier or an audit extract."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="kind", required=True)
        experiment = sub.add_parser("experiment", help="experiment compliance report")
        experiment.add_argument("--source", required=True)
        experiment.add_argument("--experiment", required=True, help="the experiment's name")
        experiment.add_argument("--policy", help="policy slug (default: the default policy)")
        version = sub.add_parser("model-version", help="model version dossier")
        version.add_argument("--source", required=True)
        version.add_argument("--model", required=True)
        version.add_argument("--version", required=True)
        audit = sub.add_parser("audit", help="audit trail extract")
        audit.add_argument("--since", help="first day (YYYY-MM-DD, UTC)")
        audit.add_argument("--until", help="last day (YYYY-MM-DD, UTC)")
        for each in (experiment, version, audit):
            each.add_argument("--out", required=True, help="where to write the PDF")

    def handle(self, *args: Any, **options: Any) -> None:
        kind = options["kind"]
        out = Path(options["out"])
        if out.is_dir():
            raise CommandError(f"--out {out} is a directory; name a file")
        if not out.parent.exists() and str(out.parent):
            raise CommandError(f"--out: no directory {out.parent}")
        names = {
            "experiment": ("source", "experiment", "policy"),
            "model-version": ("source", "model", "version"),
            "audit": ("since", "until"),
        }[kind]
        parameters = {name: options[name] for name in names if options.get(name)}
        try:
            report = report_request(
                kind=kind, parameters=parameters, system_actor=SystemActor.COMMAND
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                problems = [
                    f"--{field}: {' '.join(error.messages)}"
                    for field, errors in exc.error_dict.items()
                    for error in errors
                ]
            else:
                problems = list(exc.messages)
            raise CommandError("; ".join(problems)) from None
        except DomainError as exc:
            raise CommandError(one_line(exc, with_type=False)) from None
        self.stderr.write(f"report #{report.pk}: {report.title}")

        def progress(phase: str, percent: int) -> None:
            self.stderr.write(f"  {percent:3d}% {phase}")

        report = generate_report(report, on_progress=progress)
        if report.status != Report.Status.DONE:
            raise CommandError(f"report #{report.pk} failed: {report.error}")
        try:
            content = report_download(report=report, actor=None)
            _write_atomically(out, content)
        except (DomainError, OSError) as exc:
            raise CommandError(f"report #{report.pk}: {one_line(exc, with_type=False)}") from None
        signed = "signed" if report.signed else "not signed"
        self.stdout.write(
            f"wrote {out}: report #{report.pk}, {report.pages} pages, {report.size} bytes, "
            f"{signed}, sha256 {report.sha256}"
        )
