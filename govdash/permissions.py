"""Rights over accounts-level objects (granted to roles in kernel.roles.GRANTS)."""

from kernel.permissions import Right

VIEW_TOKENS = "govdash.view_apitoken"
MANAGE_TOKENS = "govdash.manage_apitoken"

TABLE = (
    Right(VIEW_TOKENS, "See the API tokens issued"),
    Right(MANAGE_TOKENS, "Issue and revoke API tokens"),
)
