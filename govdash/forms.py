from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model

from kernel.forms import UswdsForm


class TokenCreateForm(UswdsForm):
    user = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_active=True).order_by("username"),
        help_text="The user or service account the token acts as.",
    )
    name = forms.CharField(max_length=100, help_text="What uses it, e.g. “release pipeline”.")
    expires_at = forms.DateTimeField(
        required=False,
        label="Expires at (UTC)",
        help_text="Optional, e.g. 2027-06-30 00:00. Empty: valid until revoked.",
    )
