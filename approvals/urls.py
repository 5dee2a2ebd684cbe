from django.urls import path

from approvals import views

app_name = "approvals"

urlpatterns = [
    path("", views.request_list, name="list"),
    path("requests/<int:pk>/", views.request_detail, name="request"),
    path("requests/<int:pk>/vote", views.request_vote, name="vote"),
    path("requests/<int:pk>/withdraw", views.request_withdraw, name="withdraw"),
    path("requests/<int:pk>/comment", views.request_comment, name="comment"),
    path("requests/<int:pk>/retry", views.request_retry, name="retry"),
    path("requests/<int:pk>/evidence.json", views.request_snapshot, name="snapshot"),
    path("models/<int:pk>/versions/<str:version>/request", views.request_new, name="new"),
]
