from __future__ import annotations

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from audit.permissions import VIEW_EVENTS
from govdash.permissions import MANAGE_TOKENS

# Sections in the order the navigation shows them. A section appears once the
# issue that builds it has landed its URL, and only to those allowed to see it.
_SECTIONS: tuple[tuple[str, str, str | None], ...] = (
    ("Overview", "home", None),
    ("Compliance", "reports:dashboard", None),
    ("Experiments & runs", "tracking:experiments", None),
    ("Models", "tracking:models", None),
    ("Sources", "tracking:sources", None),
    ("Approvals", "approvals:list", None),
    ("Reports", "reports:list", None),
    ("Audit", "audit:log", VIEW_EVENTS),
    ("API tokens", "tokens", MANAGE_TOKENS),
)


# Pages that belong to a section although their URL is not under the section's own.
_ALSO_CURRENT: dict[str, tuple[str, ...]] = {
    "tracking:experiments": ("tracking:runs",),
}


def _prefixes(name: str, url: str) -> list[str]:
    prefixes = [url]
    for other in _ALSO_CURRENT.get(name, ()):
        try:
            prefixes.append(reverse(other))
        except NoReverseMatch:
            continue
    return prefixes


def navigation(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    items = []
    for label, name, permission in _SECTIONS:
        if permission and not user.has_perm(permission):
            continue
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        current = request.path == url or any(
            prefix != "/" and request.path.startswith(prefix) for prefix in _prefixes(name, url)
        )
        items.append({"label": label, "url": url, "current": current})
    return {"nav_items": items}
