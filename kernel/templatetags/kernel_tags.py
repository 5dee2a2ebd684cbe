"""Template tags every app's templates share: the panel/action slots."""

from __future__ import annotations

from typing import Any

from django import template
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from kernel.registry import actions_for, panels_for

register = template.Library()


@register.simple_tag(takes_context=True)
def panels(context: template.Context, slot: str, obj: Any) -> SafeString:
    """Render the panels higher layers registered for ``slot``."""
    request = context.get("request")
    user = getattr(request, "user", None)
    parts = [
        render_to_string(panel.template, dict(panel.context(request, obj)), request=request)  # type: ignore[arg-type]
        for panel in panels_for(slot, user, obj)
    ]
    return SafeString("".join(parts))


@register.simple_tag(takes_context=True)
def actions(context: template.Context, slot: str, obj: Any) -> list[dict[str, Any]]:
    """The actions for ``slot`` as ``{label, url, method}``, for the page to lay out."""
    request = context.get("request")
    user = getattr(request, "user", None)
    return [
        {"key": a.key, "label": a.label, "url": a.url(obj), "method": a.method}
        for a in actions_for(slot, user, obj)
    ]
