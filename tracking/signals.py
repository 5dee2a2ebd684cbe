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
"""

from django.dispatch import Signal

sync_finished = Signal()
alias_changed = Signal()
