from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from govdash import views
from govdash.api import api

# One login page for everyone, admin included: it is the one with lockout.
admin.site.login = views.admin_login  # type: ignore[method-assign]
admin.site.site_header = "govdash administration"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/tokens/", views.tokens, name="tokens"),
    path("accounts/tokens/<int:pk>/revoke", views.token_revoke_view, name="token-revoke"),
    path("audit/", include("audit.urls")),
    path("tracking/", include("tracking.urls")),
    path("compliance/", include("reports.urls")),
    path("approvals/", include("approvals.urls")),
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
]

handler400 = "govdash.errors.bad_request"
handler403 = "govdash.errors.permission_denied"
handler404 = "govdash.errors.page_not_found"
handler500 = "govdash.errors.server_error"
