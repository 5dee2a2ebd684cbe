"""Rights over accounts-level objects (granted to roles in kernel.roles.GRANTS)."""

from kernel.permissions import Right

MANAGE_TOKENS = "govdash.manage_apitoken"

TABLE = (Right(MANAGE_TOKENS, "Issue and revoke API tokens"),)
