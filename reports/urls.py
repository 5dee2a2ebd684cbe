from django.urls import path

from reports import views
from reports.documents import views as documents

app_name = "reports"

urlpatterns = [
    path("reports/", documents.report_list, name="list"),
    path("reports/new", documents.report_new, name="report-request"),
    path("reports/<int:pk>/", documents.report_detail, name="report"),
    path("reports/<int:pk>/status", documents.report_status, name="report-status"),
    path("reports/<int:pk>/download", documents.report_download_view, name="report-download"),
    path("reports/<int:pk>/findings.csv", documents.report_csv_view, name="report-csv"),
    path("", views.dashboard, name="dashboard"),
    path("assess", views.assess_now, name="assess"),
    path("assess/progress", views.assess_progress, name="assess-progress"),
    path("runs/", views.runs, name="runs"),
    path("runs.csv", views.runs_csv, name="runs-csv"),
    path("policies/", views.policies, name="policies"),
    # "-" can never be a policy slug (slugs start with a letter or digit).
    path("policies/-/import/", views.policy_import, name="policy-import"),
    path("policies/<slug:slug>/", views.policy_detail, name="policy"),
    path("policies/<slug:slug>/edit/", views.policy_edit, name="policy-edit"),
    path(
        "policies/<slug:slug>/versions/<int:number>/publish",
        views.policy_publish_view,
        name="policy-publish",
    ),
    path(
        "policies/<slug:slug>/versions/<int:number>.yaml",
        views.policy_export,
        name="policy-export",
    ),
]
