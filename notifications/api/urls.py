"""Notification routes, mounted under ``/api/`` (API.md "Feed, trends, notifications")."""

from django.urls import path

from notifications.api import views

urlpatterns = [
    path("notifications/", views.NotificationListView.as_view(), name="notifications"),
    path("notifications/read", views.NotificationReadView.as_view(), name="notifications-read"),
    path("notifications/unread-count", views.UnreadCountView.as_view(), name="notifications-unread-count"),
]
