from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model


def style_uswds(form: forms.BaseForm) -> None:
    """Give each widget the U.S. Web Design System class for its kind."""
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, forms.Select):
            css = "usa-select"
        elif isinstance(widget, forms.CheckboxInput):
            css = "usa-checkbox__input"
        elif isinstance(widget, forms.Textarea):
            css = "usa-textarea"
        else:
            css = "usa-input"
        widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()


class UswdsForm(forms.Form):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        style_uswds(self)


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
