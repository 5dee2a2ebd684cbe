"""The compliance app's rights (granted to roles in kernel.roles.GRANTS).

Reading dashboards, assessments and policies is open to every signed-in user.
"""

from kernel.permissions import Right

ASSESS_RUNS = "reports.assess_runs"
EDIT_POLICY = "reports.edit_policy"
PUBLISH_POLICY = "reports.publish_policy"

TABLE = (
    Right(ASSESS_RUNS, "Queue assessment of the runs that need it"),
    Right(EDIT_POLICY, "Edit or import a compliance policy (as a draft)"),
    Right(PUBLISH_POLICY, "Publish a policy version, which queues re-assessment"),
)
