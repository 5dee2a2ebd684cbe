from __future__ import annotations

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

# Sections in the order the navigation shows them. A section appears once the
# issue that builds it has landed its URL, and only to those allowed to see it.
_SECTIONS: tuple[tuple[str, str, str | None], ...] = (
    ("Overview", "home", None),
    ("Experiments & runs", "tracking:experiments", None),
    ("Models", "tracking:models", None),
    ("Approvals", "approvals:list", None),
    ("Reports", "reports:list", None),
    ("Audit", "audit:log", "audit.view_auditevent"),
    ("API tokens", "tokens", "govdash.manage_apitoken"),
)


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
        current = request.path == url or (url != "/" and request.path.startswith(url))
        items.append({"label": label, "url": url, "current": current})
    return {"nav_items": items}
