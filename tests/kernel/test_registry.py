"""kernel.registry: higher layers add panels and actions to lower layers' pages."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import AnonymousUser
from django.template import Context, Template
from django.test import RequestFactory
from django.urls import reverse

from kernel import registry
from kernel.registry import (
    Action,
    Panel,
    actions_for,
    panel_data,
    panels_for,
    register_action,
    register_panel,
)
from kernel.roles import Role
from tests import factories

ROOT = Path(__file__).resolve().parents[2]
SLOT = "kerneltest.page"
PANEL_TEMPLATE = "kerneltest/panel.html"


@pytest.fixture(autouse=True)
def _own_registry(monkeypatch):  # type: ignore[no-untyped-def]
    """Each test registers into a copy: what apps registered is back afterwards."""
    monkeypatch.setattr(registry, "_panels", {k: dict(v) for k, v in registry._panels.items()})
    monkeypatch.setattr(registry, "_actions", {k: dict(v) for k, v in registry._actions.items()})


@pytest.fixture
def test_templates(settings):  # type: ignore[no-untyped-def]
    engine = dict(django_settings.TEMPLATES[0])
    engine["DIRS"] = [*engine["DIRS"], Path(__file__).parent / "templates"]
    settings.TEMPLATES = [engine]


def _panel(key: str, order: int = 100, permission: str | None = None, **kw: Any) -> Panel:
    return Panel(
        slot=SLOT,
        key=key,
        template=PANEL_TEMPLATE,
        context=lambda request, obj: {"key": key, "text": f"{key} of {obj}"},
        order=order,
        permission=permission,
        **kw,
    )


def _action(key: str, order: int = 100, permission: str | None = None, **kw: Any) -> Action:
    return Action(
        slot=SLOT,
        key=key,
        label=f"Do {key}",
        url=lambda obj: f"/things/{obj}/{key}",
        order=order,
        permission=permission,
        **kw,
    )


def _render(source: str, user: Any, obj: Any) -> str:
    request = RequestFactory().get("/")
    request.user = user
    return Template("{% load kernel_tags %}" + source).render(
        Context({"request": request, "obj": obj})
    )


def _rendered_panels(html: str) -> list[str]:
    return re.findall(r'data-panel="([^"]+)"', html)


class RecordingUser:
    """Answers has_perm from a set, and remembers what it was asked."""

    is_authenticated = True
    is_active = True

    def __init__(self, *perms: str) -> None:
        self.perms = set(perms)
        self.asked: list[tuple[str, Any]] = []

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        self.asked.append((perm, obj))
        return perm in self.perms


# ------------------------------------------------------------------ panels


def test_panels_render_in_order_then_by_key(test_templates):
    for panel in (_panel("zeta", 10), _panel("late", 300), _panel("beta"), _panel("alpha")):
        register_panel(panel)
    html = _render(f'{{% panels "{SLOT}" obj %}}', RecordingUser(), "thing-1")
    assert _rendered_panels(html) == ["zeta", "alpha", "beta", "late"]
    assert "alpha of thing-1" in html  # the panel's context function saw the object


def test_a_panel_is_shown_only_with_its_permission_on_the_object(test_templates):
    register_panel(_panel("open"))
    register_panel(_panel("guarded", permission="kerneltest.see_guarded"))
    allowed, denied = RecordingUser("kerneltest.see_guarded"), RecordingUser()

    assert _rendered_panels(_render(f'{{% panels "{SLOT}" obj %}}', allowed, "t")) == [
        "guarded",
        "open",
    ]
    assert _rendered_panels(_render(f'{{% panels "{SLOT}" obj %}}', denied, "t")) == ["open"]
    # The permission is asked about the page's object, not in general.
    # (The panel's own template renders with the context processors, which ask too.)
    assert [a for a in allowed.asked if a[0].startswith("kerneltest.")] == [
        ("kerneltest.see_guarded", "t")
    ]


def test_a_guarded_panel_is_hidden_without_a_user():
    register_panel(_panel("open"))
    register_panel(_panel("guarded", permission="audit.view_auditevent"))
    assert [p.key for p in panels_for(SLOT, None, "t")] == ["open"]
    assert [p.key for p in panels_for(SLOT, AnonymousUser(), "t")] == ["open"]


@pytest.mark.django_db
def test_panel_permissions_are_answered_by_the_role_grants(make_user):
    register_panel(_panel("audit-only", permission="audit.view_auditevent"))
    auditor = make_user("audrey", Role.AUDITOR.value)
    reviewer = make_user("rita", Role.REVIEWER.value)
    assert [p.key for p in panels_for(SLOT, auditor, "t")] == ["audit-only"]
    assert panels_for(SLOT, reviewer, "t") == []


def test_registering_a_key_again_replaces_the_panel(test_templates):
    register_panel(_panel("one", order=1))
    register_panel(_panel("two", order=2))
    register_panel(_panel("one", order=3))
    assert [p.key for p in panels_for(SLOT, None, "t")] == ["two", "one"]


def test_an_empty_slot_renders_nothing():
    assert _render('{% panels "kerneltest.nothing-here" obj %}', RecordingUser(), "t") == ""


def test_panel_data_collects_every_panel_that_offers_it_whoever_asks():
    register_panel(_panel("facts", data=lambda obj: {"of": obj}))
    register_panel(_panel("guarded", permission="nobody.has_this", data=lambda obj: [obj]))
    register_panel(_panel("no-data"))
    assert panel_data(SLOT, "t") == {"facts": {"of": "t"}, "guarded": ["t"]}


# ------------------------------------------------------------------ actions


def test_actions_come_in_order_with_their_urls_and_methods():
    register_action(_action("second", order=20))
    register_action(_action("first", order=10, method="post"))
    html = _render(
        f'{{% actions "{SLOT}" obj as items %}}'
        "{% for a in items %}[{{ a.key }} {{ a.method }} {{ a.url }} {{ a.label }}]{% endfor %}",
        RecordingUser(),
        "t7",
    )
    assert html == "[first post /things/t7/first Do first][second get /things/t7/second Do second]"


def test_an_action_is_offered_only_with_its_permission_on_the_object():
    register_action(_action("open"))
    register_action(_action("guarded", permission="kerneltest.do_guarded"))
    allowed, denied = RecordingUser("kerneltest.do_guarded"), RecordingUser()
    assert [a.key for a in actions_for(SLOT, allowed, "t")] == ["guarded", "open"]
    assert [a.key for a in actions_for(SLOT, denied, "t")] == ["open"]
    assert allowed.asked == [("kerneltest.do_guarded", "t")]
    assert [a.key for a in actions_for(SLOT, None, "t")] == ["open"]


def test_an_action_method_must_be_get_or_post():
    with pytest.raises(ValueError, match="method must be get or post"):
        register_action(_action("bad", method="delete"))
    assert actions_for(SLOT, None, "t") == []


# ------------------------------------------------------------------ the run page


@pytest.mark.django_db
def test_run_page_shows_the_compliance_panel_reports_registered(client, make_user):
    client.force_login(make_user("rita", Role.REVIEWER.value))
    run = factories.run()
    url = reverse("tracking:run", args=[run.pk])

    html = client.get(url).content.decode()
    assert '<h2 id="compliance-heading">Compliance</h2>' in html

    # The page shows it because reports registered it in the slot, and only so.
    assert registry._panels["tracking.run"]["compliance"].template == (
        "reports/includes/run_compliance.html"
    )
    del registry._panels["tracking.run"]["compliance"]
    html = client.get(url).content.decode()
    assert "compliance-heading" not in html
    assert f"Run {run}" in html  # the rest of the page still renders


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call):
            # import_module("reports.x") / import_string("reports.x.y")
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in {"import_module", "import_string", "__import__"} and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.append((node.lineno, arg.value))
    return found


HIGHER = ("reports", "approvals", "govdash")


def test_tracking_imports_nothing_from_higher_layers():
    modules = sorted((ROOT / "tracking").rglob("*.py"))
    assert len(modules) > 10
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for path in modules
        for line, name in _imports(path)
        if name.split(".")[0] in HIGHER
    ]
    assert not offenders, "\n".join(offenders)


def test_the_import_walk_sees_imports_of_reports():
    # reports/panels.py imports tracking: the same walk must notice such a line.
    names = [name for _, name in _imports(ROOT / "reports" / "panels.py")]
    assert "tracking.models" in names


def test_tracking_templates_do_not_include_reports_templates():
    offenders = [
        path.relative_to(ROOT).as_posix()
        for path in sorted((ROOT / "templates" / "tracking").rglob("*.html"))
        if re.search(r"""\{%\s*include\s+["']reports/""", path.read_text(encoding="utf-8"))
    ]
    assert not offenders
