"""Who and where an action comes from, for the audit trail.

The request middleware fills this per request; jobs and commands run with the
defaults (no address, their own request id), so services never need a request.
"""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Origin:
    remote_addr: str | None = None
    request_id: str = ""
    via: str = ""  # "web", "api", "command", "job"


_origin: contextvars.ContextVar[Origin | None] = contextvars.ContextVar(
    "audit_origin", default=None
)


def current_origin() -> Origin:
    return _origin.get() or Origin(request_id=uuid.uuid4().hex, via="process")


@contextmanager
def origin(value: Origin) -> Iterator[Origin]:
    token = _origin.set(value)
    try:
        yield value
    finally:
        _origin.reset(token)
