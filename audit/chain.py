"""The hash chain: how an event is serialised and hashed.

Kept apart from the model and the service so that ``record`` and ``verify``
can never disagree about what is hashed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal
from typing import Any
from uuid import UUID

GENESIS_HASH = "0" * 64

# The fields that the hash covers, in this order of meaning (the JSON is sorted).
HASHED_FIELDS = (
    "sequence",
    "timestamp",
    "actor_id",
    "actor_username",
    "actor_role",
    "action",
    "target_type",
    "target_id",
    "outcome",
    "data",
    "remote_addr",
    "request_id",
)


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    raise TypeError(f"audit data cannot hold {type(value).__name__}")


def canonical_json(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default
    )


def normalise_data(data: Any) -> Any:
    """The payload exactly as the database will give it back."""
    return json.loads(canonical_json(data))


def format_timestamp(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    payload = {name: fields[name] for name in HASHED_FIELDS}
    payload["timestamp"] = format_timestamp(payload["timestamp"])
    return hashlib.sha256((prev_hash + canonical_json(payload)).encode("utf-8")).hexdigest()
