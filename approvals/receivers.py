"""Approvals' judgement of what the mirror observed.

``alias_changed``: the mirror records that a watched alias moved; whether
govdash approved that move is decided here. A move to a version that the
environment owning the alias has an approved promotion for (the newest approved
request of that model there) is govdash's own and raises nothing; any other
move of a watched alias, after the model was first seen, is out of band and
raises an alert. An alias no environment owns has no approved versions.

``sync_finished``: open requests whose version or run changed since their
snapshot are invalidated (they must be requested again).
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import receiver

from approvals.selectors import approved_move
from approvals.services import promotion_invalidate_changed
from tracking.alerts import alert_raise
from tracking.models import AliasChange, SyncRun
from tracking.signals import alias_changed, sync_finished

logger = logging.getLogger(__name__)


def move_is_out_of_band(*, change: AliasChange, first_seen: bool, watched: bool) -> bool:
    """Does this observed alias move need an alert?

    A move seen on the first sync of a model predates govdash (history, no
    alert); an alias removed, or one nobody watches, is not a promotion; a move
    to the version govdash approved for the environment owning the alias is
    govdash's own promotion.
    """
    if not (watched and not first_seen and bool(change.to_version)):
        return False
    return not approved_move(model=change.model, alias=change.alias, to_version=change.to_version)


@receiver(alias_changed, dispatch_uid="approvals_judge_alias_change")
def _judge(
    sender: Any, change: AliasChange, first_seen: bool, watched: bool, **kwargs: Any
) -> None:
    if move_is_out_of_band(change=change, first_seen=first_seen, watched=watched):
        alert_raise(change=change, reason="no approved promotion of this version to this alias")


@receiver(sync_finished, dispatch_uid="approvals_invalidate_after_sync")
def _invalidate_after_sync(
    sender: Any, sync_run: SyncRun, source_id: int, succeeded: bool, **kwargs: Any
) -> None:
    if not succeeded:
        return
    count = promotion_invalidate_changed(source_id=source_id)
    if count:
        logger.info("sync #%s invalidated %d open promotion request(s)", sync_run.pk, count)
