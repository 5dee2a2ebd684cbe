"""What the mirror tells higher layers (docs/architecture.md, "Events").

Receivers live in the app that acts on the news; tracking never imports them.

``sync_finished(sync_run, source_id, succeeded)``
    sent after the transaction that ends a sync commits, by the job and by
    ``manage.py sync`` alike. ``reports`` enqueues assessment of what changed.

``alias_changed(change, first_seen, watched)``
    sent inside the transaction that records an observed alias move, so that
    the judgement of the move (``approvals``: was it approved?) commits with
    the fact or not at all; sending it after commit could lose an alert to a
    crash between the two.

``runs_changing(runs)``
    sent by ``runs_change`` inside the transaction that writes runs, before
    the write: ``runs`` is a queryset naming the runs that may be created,
    changed, hidden (deleted upstream, gone) or shown again. A receiver may
    return a callable; ``runs_change`` calls it after the write, in the same
    transaction. ``reports`` keeps its dashboard rollups current this way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db.models import QuerySet
from django.dispatch import Signal

sync_finished = Signal()
alias_changed = Signal()
runs_changing = Signal()


@contextmanager
def runs_change(runs: QuerySet[Any]) -> Iterator[None]:
    """Wrap a write of the runs ``runs`` selects (evaluated again afterwards, so
    it may name runs the write creates): receivers of ``runs_changing`` see them
    before and after."""
    responses = runs_changing.send(sender=runs.model, runs=runs)
    yield
    for _receiver, after in responses:
        if callable(after):
            after()
