"""Approvals' judgement of what the mirror observed.

The mirror records that a watched alias moved (``tracking.signals.alias_changed``);
whether govdash approved that move is this layer's call. No promotion workflow
exists yet, so govdash has approved no move: every move of a watched alias to a
version, after the model was first seen, is out of band and raises an alert.
The promotion workflow will answer here with the versions it approved.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from tracking.alerts import alert_raise
from tracking.models import AliasChange
from tracking.signals import alias_changed


def move_is_out_of_band(*, change: AliasChange, first_seen: bool, watched: bool) -> bool:
    """Does this observed alias move need an alert?

    A move seen on the first sync of a model predates govdash (history, no
    alert); an alias removed, or one nobody watches, is not a promotion.
    """
    return watched and not first_seen and bool(change.to_version)


@receiver(alias_changed, dispatch_uid="approvals_judge_alias_change")
def _judge(
    sender: Any, change: AliasChange, first_seen: bool, watched: bool, **kwargs: Any
) -> None:
    if move_is_out_of_band(change=change, first_seen=first_seen, watched=watched):
        alert_raise(change=change, reason="no approved promotion of this version to this alias")
