"""Only kernel/roles.py reads group names: everything else asks has_perm.

Walks the source of every app package with ``ast`` and reports any access to a
user's ``groups``, any use of the ``Group`` model, any ``groups__`` lookup and
any ``get_model("auth", "Group")``. Migrations may create the role groups.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("kernel", "audit", "tracking", "reports", "approvals", "govdash")
ROLES_MODULE = "kernel/roles.py"
# Modules that watch groups without deciding anything by them, and why.
OBSERVERS = {
    # Records every change of a group, a membership (a role grant) or a group's
    # permissions in the audit trail (issue 10, finding 5); it grants nothing.
    "govdash/account_audit.py",
}


def _is_group_name(node: ast.AST) -> bool:
    return (isinstance(node, ast.Name) and node.id == "Group") or (
        isinstance(node, ast.Attribute) and node.attr == "Group"
    )


def _string(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def group_reads(source: str) -> list[tuple[int, str]]:
    """(line, what) for every way ``source`` reaches group membership or names."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in {"groups", "group_set"}:
            found.append((node.lineno, f".{node.attr}"))
        elif _is_group_name(node):
            found.append((node.lineno, "the Group model"))
        elif isinstance(node, ast.ImportFrom) and any(a.name == "Group" for a in node.names):
            found.append((node.lineno, "import of Group"))
        elif isinstance(node, ast.keyword) and node.arg and node.arg.startswith("groups__"):
            found.append((node.lineno, f"lookup {node.arg}"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if text.startswith("groups__") or text.lower() in {"auth.group", "auth_group"}:
                found.append((node.lineno, f"string {text!r}"))
        elif isinstance(node, ast.Call) and any(_string(a) == "Group" for a in node.args):
            found.append((node.lineno, "get_model(..., 'Group')"))
    return sorted(set(found))


def _app_modules() -> list[Path]:
    modules = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.relative_to(ROOT).parts:
                continue
            modules.append(path)
    return modules


def test_the_walk_covers_every_app_package():
    modules = {p.relative_to(ROOT).as_posix() for p in _app_modules()}
    for expected in (ROLES_MODULE, "tracking/views.py", "govdash/api.py"):
        assert expected in modules
    assert len(modules) > 50


def test_no_module_outside_kernel_roles_reads_groups():
    offenders = []
    for path in _app_modules():
        name = path.relative_to(ROOT).as_posix()
        if name == ROLES_MODULE or name in OBSERVERS:
            continue
        source = path.read_text(encoding="utf-8")
        reads = group_reads(source)
        offenders += [f"{name}:{line}: {what}" for line, what in reads]
    assert not offenders, "group names read outside kernel/roles.py:\n" + "\n".join(offenders)


@pytest.mark.parametrize("name", sorted(OBSERVERS))
def test_observers_exist_and_still_watch_groups(name):
    # An allowance for a module that no longer exists, or no longer needs it, goes.
    assert group_reads((ROOT / name).read_text(encoding="utf-8"))


def test_kernel_roles_is_where_group_names_are_read():
    # If this finds nothing, the walk above has stopped seeing group reads.
    assert group_reads((ROOT / ROLES_MODULE).read_text(encoding="utf-8"))


def test_templates_do_not_read_groups():
    offenders = [
        path.relative_to(ROOT).as_posix()
        for path in sorted((ROOT / "templates").rglob("*.html"))
        if ".groups" in path.read_text(encoding="utf-8")
    ]
    assert not offenders


@pytest.mark.parametrize(
    "snippet",
    [
        "if request.user.groups.filter(name='admin').exists(): pass",
        "names = [g.name for g in user.groups.all()]",
        "from django.contrib.auth.models import Group",
        "from django.contrib.auth import models\nmodels.Group.objects.get(name='auditor')",
        "User.objects.filter(groups__name='admin')",
        "User.objects.values_list('groups__name', flat=True)",
        "apps.get_model('auth', 'Group')",
        "apps.get_model('auth.Group')",
    ],
)
def test_the_detector_finds_each_way_of_reading_groups(snippet):
    assert group_reads(snippet)


@pytest.mark.parametrize(
    "snippet",
    [
        "user.has_perm('tracking.sync_source')",
        "from kernel.roles import roles_of\nroles_of(user)",
        "groups = 3",  # a local name, not an attribute
    ],
)
def test_the_detector_ignores_permission_checks(snippet):
    assert group_reads(snippet) == []
