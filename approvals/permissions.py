"""The approval workflow's rights (granted to roles in kernel.roles.GRANTS).

Reading requests is open to every signed-in user. These rights decide which
buttons a page offers and who may call an endpoint at all; the workflow's own
rules (separation of duties, stage eligibility, one vote per person) are
enforced by ``approvals.services`` for everyone, superusers included.
"""

from typing import Any

import rules

from kernel.permissions import Right

REQUEST_PROMOTION = "approvals.request_promotion"
REVIEW_PROMOTION = "approvals.review_promotion"
WITHDRAW_PROMOTION = "approvals.withdraw_promotion"
RETRY_PROMOTION = "approvals.retry_promotion"


@rules.predicate
def is_requester(user: Any, request: Any) -> bool:
    """Asked about a request: is the user its requester? Asked without one (may
    this role withdraw at all?): yes, the role's grant decides."""
    if request is None or not hasattr(request, "requested_by_id"):
        return True
    return bool(request.requested_by_id == user.pk)


TABLE = (
    Right(REQUEST_PROMOTION, "Ask to promote (or roll back) a model version to an environment"),
    Right(REVIEW_PROMOTION, "Vote on promotion requests in the stages one's roles are named in"),
    Right(WITHDRAW_PROMOTION, "Withdraw one's own open promotion request", is_requester),
    Right(RETRY_PROMOTION, "Retry the delivery of an approved promotion that failed"),
)
