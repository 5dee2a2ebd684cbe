"""The compliance app's audit action names."""

from enum import StrEnum


class ReportsAction(StrEnum):
    POLICY_DRAFT = "policy.draft"
    POLICY_PUBLISH = "policy.publish"
    POLICY_EXPORT = "policy.export"
    ASSESS = "reports.assess"
    ASSESS_REQUEST = "reports.assess_request"
    EXPORT_CSV = "reports.export_csv"
    WRITEBACK = "reports.writeback"
