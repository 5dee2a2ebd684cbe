"""U.S. Web Design System styling for Django forms, shared by every app."""

from __future__ import annotations

from django import forms


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
