"""Data export routes, mounted under ``/api/`` (README "Account lifecycle")."""

from django.urls import path

from exports.api import views

urlpatterns = [
    path("users/me/export", views.MyExportView.as_view(), name="users-me-export"),
    path("exports/<uuid:job_id>/download", views.ExportDownloadView.as_view(), name="export-download"),
]
