"""Panels and actions: how a higher layer adds to a lower layer's page.

A lower layer's template names a *slot* (``"tracking.run"``: the run page) and
renders whatever is registered there with ``{% panels "tracking.run" run %}``
or ``{% actions "tracking.version" version %}`` (``kernel_tags``). A higher
layer registers its panel or action in its ``AppConfig.ready``. So the run
page shows the compliance panel from ``reports`` without ``tracking`` ever
importing ``reports``: the arrows still point down (docs/architecture.md).

A panel may carry ``data``: a function giving the same facts as plain values,
for documents built from the page (a PDF section); ``panel_data`` collects them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

ContextFn = Callable[[HttpRequest, Any], Mapping[str, Any]]
DataFn = Callable[[Any], Any]
UrlFn = Callable[[Any], str]


@dataclass(frozen=True)
class Panel:
    slot: str
    key: str  # unique within the slot, e.g. "compliance"
    template: str
    context: ContextFn
    order: int = 100
    permission: str | None = None  # asked with has_perm(permission, obj)
    data: DataFn | None = None


@dataclass(frozen=True)
class Action:
    slot: str
    key: str
    label: str
    url: UrlFn
    method: str = "get"  # "post" renders a form with the CSRF token
    order: int = 100
    permission: str | None = None


_panels: dict[str, dict[str, Panel]] = {}
_actions: dict[str, dict[str, Action]] = {}


def register_panel(panel: Panel) -> None:
    """Add (or replace, by key) a panel in its slot."""
    _panels.setdefault(panel.slot, {})[panel.key] = panel


def register_action(action: Action) -> None:
    """Add (or replace, by key) an action in its slot."""
    if action.method not in {"get", "post"}:
        raise ValueError(f"action {action.key}: method must be get or post")
    _actions.setdefault(action.slot, {})[action.key] = action


def _allowed(user: Any, permission: str | None, obj: Any) -> bool:
    return permission is None or bool(user is not None and user.has_perm(permission, obj))


def panels_for(slot: str, user: Any, obj: Any) -> list[Panel]:
    """The panels of ``slot`` that ``user`` may see for ``obj``, in order."""
    found = sorted(_panels.get(slot, {}).values(), key=lambda p: (p.order, p.key))
    return [panel for panel in found if _allowed(user, panel.permission, obj)]


def actions_for(slot: str, user: Any, obj: Any) -> list[Action]:
    """The actions of ``slot`` that ``user`` may take on ``obj``, in order."""
    found = sorted(_actions.get(slot, {}).values(), key=lambda a: (a.order, a.key))
    return [action for action in found if _allowed(user, action.permission, obj)]


def panel_data(slot: str, obj: Any) -> dict[str, Any]:
    """The plain data of every panel in ``slot`` that offers it, by key.

    Not filtered by user: documents record what they were built from.
    """
    return {
        key: panel.data(obj)
        for key, panel in sorted(_panels.get(slot, {}).items())
        if panel.data is not None
    }
