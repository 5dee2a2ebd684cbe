"""The tracking app's audit action names."""

from enum import StrEnum


class TrackingAction(StrEnum):
    SOURCE_CREATE = "tracking.source_create"
    SYNC_REQUEST = "tracking.sync_request"
    SYNC = "tracking.sync"
    SYNC_LOST = "tracking.sync_lost"
    # A queued sync whose job the queue lost, put back on it by recovery.
    SYNC_REQUEUED = "tracking.sync_requeued"
    ALIAS_CHANGED = "tracking.alias_changed"
    # Written when the layer that owns approvals judges a move out of band.
    ALIAS_UNAPPROVED = "tracking.alias_unapproved"
    ALERT_ACKNOWLEDGE = "tracking.alert_acknowledge"
