"""The tracking app's rights (granted to roles in kernel.roles.GRANTS).

Reading the mirror is open to every signed-in user; acting on it is not.
"""

from kernel.permissions import Right

ADD_SOURCE = "tracking.add_source"
SYNC_SOURCE = "tracking.sync_source"
ACKNOWLEDGE_ALERT = "tracking.acknowledge_alert"

TABLE = (
    Right(ADD_SOURCE, "Register a tracking source"),
    Right(SYNC_SOURCE, "Start a sync of a tracking source"),
    Right(ACKNOWLEDGE_ALERT, "Acknowledge an out-of-band alias change"),
)
