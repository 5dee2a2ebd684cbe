"""The approval workflow's audit action names."""

from enum import StrEnum


class ApprovalsAction(StrEnum):
    REQUEST = "promotion.request"
    # A request refused at the door (a gate failed, the workflow cannot be satisfied).
    REQUEST_REFUSED = "promotion.request_refused"
    APPROVE = "promotion.approve"
    REJECT = "promotion.reject"
    WITHDRAW = "promotion.withdraw"
    EXPIRE = "promotion.expire"
    INVALIDATE = "promotion.invalidate"
    COMMENT = "promotion.comment"
    # The workflow completed: all stages passed and the final gates held.
    APPROVED = "promotion.approved"
    # Delivery to MLflow or a hook: success, failure, or an admin's retry.
    DELIVER = "promotion.deliver"
    RETRY = "promotion.retry"
    ENVIRONMENT_CHANGE = "promotion.environment_change"
