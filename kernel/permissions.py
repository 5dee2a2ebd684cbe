"""One permission model: named rights, answered by ``user.has_perm(name, obj)``.

Each app defines its rights in one table (``<app>/permissions.py``): a name, a
description, and optionally an object-level rule (a ``rules`` predicate such as
"the requester of this object"). ``register`` turns a table into ``rules``
permissions whose answer is "a role of the user holds the right
(``kernel.roles.GRANTS``) and the object rule, if any, holds". Django answers
yes for every active superuser before asking any backend, so a rule that must
bind superusers too (separation of duties) belongs in the service that acts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import rules

from kernel.roles import granted


@dataclass(frozen=True)
class Right:
    name: str  # "app_label.codename"
    description: str
    # Object-level condition, e.g. ``is_requester``; None: the role grant alone decides.
    object_rule: rules.Predicate | None = None

    @property
    def app_label(self) -> str:
        return self.name.partition(".")[0]


_REGISTERED: dict[str, Right] = {}


def _role_grant(name: str) -> rules.Predicate:
    def holds(user: Any) -> bool:
        return granted(user, name)

    return rules.Predicate(holds, name=f"role grants {name}")


def register(table: Iterable[Right]) -> None:
    """Make every right of an app's table answerable by ``has_perm``. Idempotent."""
    for right in table:
        predicate = _role_grant(right.name)
        if right.object_rule is not None:
            predicate = predicate & right.object_rule
        rules.set_perm(right.name, predicate)  # type: ignore[no-untyped-call]
        _REGISTERED[right.name] = right


def registered() -> dict[str, Right]:
    """Every right defined by the installed apps, by name."""
    return dict(_REGISTERED)
