"""The peer's URL map. Names are what peer.counters counts by."""

from django.urls import path
from rest_framework_simplejwt.views import TokenBlacklistView, TokenObtainPairView, TokenRefreshView

from peer import jwt_views, knox_views, test_views

urlpatterns = [
    # simplejwt: a JWT access/refresh pair.
    path("api/token/", TokenObtainPairView.as_view(), name="jwt_login"),
    path("api/token/refresh/", TokenRefreshView.as_view(), name="jwt_refresh"),
    path("api/token/refresh-bearer/", jwt_views.RefreshBearerView.as_view(), name="jwt_refresh_bearer"),
    path("api/token/refresh-query/", jwt_views.RefreshQueryView.as_view(), name="jwt_refresh_query"),
    path("api/token/blacklist/", TokenBlacklistView.as_view(), name="jwt_blacklist"),
    path("api/me/", jwt_views.MeView.as_view(), name="jwt_me"),
    path("api/forbidden/", jwt_views.ForbiddenView.as_view(), name="jwt_forbidden"),
    # knox: opaque per-device tokens.
    path("api/v1/auth/login/", knox_views.LoginView.as_view(), name="knox_login"),
    path("api/v1/auth/session/", knox_views.SessionProbeView.as_view(), name="knox_probe"),
    path("api/v1/auth/sessions/", knox_views.SessionListView.as_view(), name="knox_sessions"),
    path(
        "api/v1/auth/sessions/<int:session_id>/",
        knox_views.SessionRevokeView.as_view(),
        name="knox_session_revoke",
    ),
    path("api/v1/auth/logout/", knox_views.LogoutView.as_view(), name="knox_logout"),
    path("api/v1/auth/logoutall/", knox_views.LogoutAllView.as_view(), name="knox_logoutall"),
    path("api/v1/auth/password/", knox_views.PasswordView.as_view(), name="knox_password"),
    path("api/v1/me/", knox_views.MeView.as_view(), name="knox_me"),
    path("api/v1/forbidden/", knox_views.ForbiddenView.as_view(), name="knox_forbidden"),
    # Tests only (see peer.test_views).
    path("__test/users/", test_views.UsersView.as_view(), name="test_users"),
    path("__test/counts", test_views.CountsView.as_view(), name="test_counts"),
    path("__test/reset", test_views.ResetView.as_view(), name="test_reset"),
]
