from django.urls import path

from tracking import views

app_name = "tracking"

urlpatterns = [
    path("sources/", views.sources, name="sources"),
    # "-" can never be a source name (names start with a letter or digit).
    path("sources/-/new/", views.source_add, name="source-add"),
    path("sources/<str:name>/", views.source_detail, name="source"),
    path("sources/<str:name>/sync", views.source_sync, name="source-sync"),
    path("syncs/<int:pk>/progress", views.sync_progress, name="sync-progress"),
    path("experiments/", views.experiments, name="experiments"),
    path("experiments/<int:pk>/", views.experiment_detail, name="experiment"),
    path("runs/", views.runs, name="runs"),
    path("runs/<int:pk>/", views.run_detail, name="run"),
    path("models/", views.models, name="models"),
    path("models/<int:pk>/", views.model_detail, name="model"),
    path("models/<int:pk>/versions/<str:version>/", views.version_detail, name="version"),
    path("alerts/<int:pk>/acknowledge", views.alert_acknowledge_view, name="alert-acknowledge"),
]
