"""From a Source row to a client that can talk to it."""

from __future__ import annotations

from tracking import mlflow as remote
from tracking import secrets
from tracking.models import Source


def client_for(source: Source, **options: object) -> remote.TrackingClient:
    """A client for the source, with its credential resolved now (never stored on the row)."""
    credential = secrets.resolve(
        source_name=source.name,
        url=source.url,
        secret_env=source.secret_env,
        secret_encrypted=source.secret_encrypted,
    )
    token: str | None = None
    basic: tuple[str, str] | None = None
    if source.auth == Source.Auth.BEARER:
        if not credential:
            raise secrets.SecretUnavailable(f"source {source.name} needs a bearer token")
        token = credential
    elif source.auth == Source.Auth.BASIC:
        user, sep, password = (credential or "").partition(":")
        if not sep or not user:
            raise secrets.SecretUnavailable(
                f"source {source.name} needs basic-auth credentials as user:password"
            )
        basic = (user, password)
    return remote.TrackingClient(
        source.url,
        source.kind,  # type: ignore[arg-type]
        token=token,
        basic_auth=basic,
        **options,  # type: ignore[arg-type]
    )
