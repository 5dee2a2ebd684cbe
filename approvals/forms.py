"""Forms of the promotion workflow's pages. They check shape only: the workflow's
rules (gates, separation of duties, eligibility) are the services' to enforce."""

from __future__ import annotations

from django import forms

from approvals.models import Environment
from kernel.forms import UswdsForm

MAX_TEXT = 4000


class PromotionRequestForm(UswdsForm):
    environment = forms.ModelChoiceField(
        queryset=Environment.objects.all(), to_field_name="name", empty_label=None
    )
    rollback = forms.BooleanField(
        required=False,
        label="Roll back instead",
        help_text=(
            "Re-point the environment to the version it was promoted to before its current "
            "one, through the environment's expedited rollback workflow."
        ),
    )
    justification = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=MAX_TEXT,
        help_text="Why this version should go to this environment; reviewers read it first.",
    )


class VoteForm(UswdsForm):
    decision = forms.ChoiceField(
        choices=[("approve", "Approve"), ("reject", "Reject")], widget=forms.RadioSelect
    )
    comment = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=MAX_TEXT,
        required=False,
        help_text="Required to reject.",
    )
    confirm = forms.BooleanField(
        label="I have read the evidence snapshot and the gate results above.",
        error_messages={"required": "Confirm that you have read the evidence before voting."},
    )

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        if cleaned.get("decision") == "reject" and not str(cleaned.get("comment") or "").strip():
            self.add_error("comment", "Say why you reject: a rejection needs a comment.")
        return cleaned


class CommentForm(UswdsForm):
    body = forms.CharField(
        label="Comment", widget=forms.Textarea(attrs={"rows": 3}), max_length=MAX_TEXT
    )
