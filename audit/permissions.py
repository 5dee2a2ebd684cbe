"""The audit app's rights (granted to roles in kernel.roles.GRANTS)."""

from kernel.permissions import Right

VIEW_EVENTS = "audit.view_auditevent"
EXPORT_EVENTS = "audit.export_auditevent"

TABLE = (
    Right(VIEW_EVENTS, "Browse the audit trail"),
    Right(EXPORT_EVENTS, "Export the audit trail as CSV"),
)
