"""Accounts routes, mounted under ``/api/`` (API.md "Accounts"); ``users/`` (search) and
``users/<id>`` (profiles) are in ``graph/api/urls.py`` (:mod:`graph.api.users`)."""

from django.urls import path

from bellamy.accounts.api import views

urlpatterns = [
    path("auth/register", views.RegisterView.as_view(), name="auth-register"),
    path("auth/token", views.TokenView.as_view(), name="auth-token"),
    path("auth/token/refresh", views.TokenRefreshView.as_view(), name="auth-token-refresh"),
    path("auth/logout", views.LogoutView.as_view(), name="auth-logout"),
    path("auth/password", views.PasswordChangeView.as_view(), name="auth-password"),
    path("users/me", views.MeView.as_view(), name="users-me"),
    path("auth/reactivate", views.ReactivateView.as_view(), name="auth-reactivate"),
    path("users/me/deactivate", views.DeactivateView.as_view(), name="users-me-deactivate"),
    path("users/me/deletion", views.DeletionView.as_view(), name="users-me-deletion"),
]
