from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import QueryDict

from kernel.forms import UswdsForm
from tracking.models import SOURCE_NAME, Source

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
_ALIAS = re.compile(r"^[A-Za-z0-9_.-]{1,255}$")


class SourceForm(UswdsForm):
    name = forms.CharField(
        max_length=63,
        validators=[SOURCE_NAME],
        help_text="A short handle used in URLs and the API, e.g. “risk-mlflow”.",
    )
    kind = forms.ChoiceField(choices=Source.Kind.choices, initial=Source.Kind.MLFLOW)
    url = forms.URLField(
        max_length=500,
        assume_scheme="https",
        label="URL",
        help_text=(
            "MLflow: the tracking server, e.g. https://mlflow.example.gov. GitLab: "
            "https://gitlab.example.gov/api/v4/projects/<id>/ml/mlflow. No credentials here."
        ),
    )
    auth = forms.ChoiceField(
        choices=Source.Auth.choices, initial=Source.Auth.NONE, label="Authentication"
    )
    secret_env = forms.CharField(
        required=False,
        max_length=100,
        label="Credential: environment variable",
        help_text=(
            "The name of an environment variable holding the token (or user:password): "
            "GOVDASH_SOURCE_TOKEN_<NAME>, or one the operator lists in "
            "GOVDASH_SOURCE_TOKEN_VARS."
        ),
    )
    secret = forms.CharField(
        required=False,
        strip=False,
        # Never rendered back, not even when the form comes back with an error.
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        label="Credential: or enter it to store it encrypted",
        help_text="Stored encrypted; never shown again. Leave empty when using a variable.",
    )
    sync_interval_minutes = forms.IntegerField(
        required=False,
        min_value=1,
        label="Sync every (minutes)",
        help_text="Empty for manual syncs only.",
    )
    watched_aliases = forms.CharField(
        required=False,
        initial="production",
        label="Watched aliases",
        help_text=(
            "Comma-separated. A move of one of these to an unapproved version raises an alert."
        ),
    )

    def clean_secret_env(self) -> str:
        value: str = self.cleaned_data["secret_env"].strip()
        if value and not _ENV_NAME.match(value):
            raise ValidationError("Use a variable name: letters, digits and '_'.")
        return value

    def clean_watched_aliases(self) -> list[str]:
        aliases = [a.strip() for a in self.cleaned_data["watched_aliases"].split(",") if a.strip()]
        for alias in aliases:
            if not _ALIAS.match(alias):
                raise ValidationError(f"“{alias}” is not an alias name.")
        return aliases or ["production"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("secret") and data.get("secret_env"):
            raise ValidationError("Give an environment variable or a secret, not both.")
        return data

    def add_service_error(self, error: ValidationError) -> None:
        """Place a service's ValidationError on the fields it names, if the form has them."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        if "url" in error.error_dict and isinstance(self.data, QueryDict):
            # A refused URL may carry a password: never render it back.
            data = self.data.copy()
            data["url"] = ""
            self.data = data
        for field, errors in error.error_dict.items():
            target = field if field in self.fields else None
            for item in errors:
                self.add_error(target, item)
