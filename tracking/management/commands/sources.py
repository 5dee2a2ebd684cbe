from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tracking.models import Source
from tracking.selectors import last_sync_by_source
from tracking.services import source_create


class Command(BaseCommand):
    help = "Register and list tracking sources (MLflow or GitLab)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True)
        add = sub.add_parser("add", help="register a tracking source")
        add.add_argument("name")
        add.add_argument("--url", required=True)
        add.add_argument("--kind", choices=[k.value for k in Source.Kind], default="mlflow")
        add.add_argument(
            "--token-env",
            default="",
            help="environment variable holding the bearer token (never the token itself): "
            "GOVDASH_SOURCE_TOKEN_<NAME> or one listed in GOVDASH_SOURCE_TOKEN_VARS",
        )
        add.add_argument(
            "--basic-auth-env",
            default="",
            help="environment variable holding user:password for MLflow basic auth "
            "(named like --token-env's)",
        )
        add.add_argument("--interval", type=int, default=None, help="sync every N minutes")
        add.add_argument(
            "--watch", action="append", default=None, help="alias to watch (default production)"
        )
        add.add_argument(
            "--writeback",
            action="store_true",
            help="tag runs with govdash.compliance/govdash.risk after assessment (MLflow only)",
        )
        sub.add_parser("list", help="one line per source")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["subcommand"] == "add":
            self._add(options)
        else:
            self._list()

    def _add(self, options: dict[str, Any]) -> None:
        if options["token_env"] and options["basic_auth_env"]:
            raise CommandError("give --token-env or --basic-auth-env, not both")
        auth, env, env_option = Source.Auth.NONE, "", ""
        if options["token_env"]:
            auth, env, env_option = Source.Auth.BEARER, options["token_env"], "--token-env"
        elif options["basic_auth_env"]:
            auth, env = Source.Auth.BASIC, options["basic_auth_env"]
            env_option = "--basic-auth-env"
        # The service names form fields; say which option was meant.
        option_of = {"url": "--url", "secret_env": env_option}
        try:
            source = source_create(
                name=options["name"],
                url=options["url"],
                kind=options["kind"],
                auth=auth,
                secret_env=env,
                sync_interval_minutes=options["interval"],
                watched_aliases=options["watch"],
                writeback_enabled=options["writeback"],
            )
        except ValidationError as exc:
            messages = (
                [
                    f"{option_of.get(field) or field}: {'; '.join(errors)}"
                    for field, errors in exc.message_dict.items()
                ]
                if hasattr(exc, "error_dict")
                else exc.messages
            )
            raise CommandError("; ".join(messages)) from None
        self.stdout.write(f"added source {source.name}: {source.kind} {source.url}")

    def _list(self) -> None:
        last = last_sync_by_source()
        for source in Source.objects.order_by("name"):
            sync = last.get(source.pk)
            if sync is None:
                status = "never synced"
            else:
                when = (sync.finished_at or sync.created_at).strftime("%Y-%m-%d %H:%M:%SZ")
                status = f"{sync.status} {when}"
                if sync.error:
                    status += f": {sync.error}"
            self.stdout.write(f"{source.name}\t{source.kind}\t{source.url}\t{status}")
