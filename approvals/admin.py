"""Environments (with their stages inline) and teams, in the Django admin.

A workflow nobody could complete (a stage needing more approvals than people
hold its roles, or stages needing more distinct approvers than exist) is
refused on save with the reason. The hook secret is entered, never shown:
it is stored encrypted (tracking.secrets.encrypt), like source credentials.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from approvals import selectors
from approvals.models import Environment, Stage, Team
from approvals.services import environment_changed
from kernel.roles import ALL_ROLES
from tracking.secrets import encrypt


class StageFormSet(forms.BaseInlineFormSet):  # type: ignore[type-arg]
    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        by_workflow: dict[str, list[dict[str, Any]]] = {}
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE"):
                continue
            by_workflow.setdefault(data["workflow"], []).append(data)
        problems: list[str] = []
        for workflow in (Stage.Workflow.PROMOTION, Stage.Workflow.ROLLBACK):
            rows = sorted(by_workflow.get(workflow, []), key=lambda d: d.get("position") or 0)
            if not rows:
                problems.append(f"{workflow}: the workflow has no stages")
                continue
            stages = [
                {"name": d["name"], "required": d["required"], "roles": d["roles"]} for d in rows
            ]
            problems += [f"{workflow}: {p}" for p in selectors.workflow_problems(stages)]
        if problems:
            raise ValidationError(problems)


class StageForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = Stage
        fields = ["workflow", "position", "name", "required", "roles"]

    def clean_roles(self) -> list[str]:
        roles = self.cleaned_data.get("roles") or []
        if not isinstance(roles, list) or not roles:
            raise ValidationError('List one or more roles, e.g. ["reviewer"].')
        unknown = [role for role in roles if role not in ALL_ROLES]
        if unknown:
            raise ValidationError(
                f"Unknown role(s): {', '.join(map(str, unknown))}; roles are "
                f"{', '.join(ALL_ROLES)}."
            )
        return [str(role) for role in roles]


class StageInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Stage
    form = StageForm
    formset = StageFormSet
    extra = 0


class EnvironmentForm(forms.ModelForm):  # type: ignore[type-arg]
    hook_url = forms.URLField(required=False, max_length=500, assume_scheme="https")
    hook_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="The GitLab trigger token or the webhook's HMAC key. Write-only: leave "
        "empty to keep the stored one.",
    )
    clear_hook_secret = forms.BooleanField(required=False, help_text="Remove the stored secret.")

    class Meta:
        model = Environment
        fields = [
            "name",
            "position",
            "alias",
            "allowed_classifications",
            "hook_kind",
            "hook_url",
            "hook_ref",
            "hook_always",
            "team_restricted",
            "keep_approvals_across_policies",
        ]

    def save(self, commit: bool = True) -> Environment:
        environment: Environment = super().save(commit=False)
        secret = self.cleaned_data.get("hook_secret") or ""
        if secret:
            environment.hook_secret_encrypted = encrypt(secret)
        elif self.cleaned_data.get("clear_hook_secret"):
            environment.hook_secret_encrypted = ""
        if commit:
            environment.save()
        return environment


@admin.register(Environment)
class EnvironmentAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = EnvironmentForm
    inlines = [StageInline]
    list_display = ["name", "alias", "hook_kind", "team_restricted", "has_hook_secret"]

    @admin.display(boolean=True, description="hook secret stored")
    def has_hook_secret(self, obj: Environment) -> bool:
        return bool(obj.hook_secret_encrypted)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        environment_changed(
            actor=request.user,
            environment=form.instance,
            change="changed" if change else "added",
        )


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name"]
    filter_horizontal = ["members"]
