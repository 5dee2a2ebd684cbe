"""The compliance app's audit action names."""

from enum import StrEnum


class ReportsAction(StrEnum):
    POLICY_DRAFT = "policy.draft"
    POLICY_PUBLISH = "policy.publish"
    POLICY_EXPORT = "policy.export"
    ASSESS = "reports.assess"
    ASSESS_REQUEST = "reports.assess_request"
    # Putting a request's batches on the job queue: failure when the queue
    # could not take them, success when a later retry did.
    ASSESS_ENQUEUE = "reports.assess_enqueue"
    # Recovery of stuck batches (a lost job or worker): requeued, or failed
    # after the last attempt.
    ASSESS_RECOVER = "reports.assess_recover"
    EXPORT_CSV = "reports.export_csv"
    WRITEBACK = "reports.writeback"
    # PDF reports (reports.documents): asked for, generated (success with the
    # file's SHA-256, or failure with the reason), downloaded (failure when the
    # stored file no longer matches its recorded SHA-256).
    REPORT_REQUEST = "reports.report_request"
    REPORT_GENERATE = "reports.report_generate"
    REPORT_DOWNLOAD = "reports.report_download"
