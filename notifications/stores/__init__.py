"""Notification stores. ``get_notification_store()`` returns the backend chosen by
``BELLAMY_NOTIFICATIONS_URL`` (ORM by default)."""

from bellamy.backends import get_backend


def get_notification_store():
    """The configured :class:`notifications.stores.base.NotificationStore` instance."""
    return get_backend("BELLAMY_NOTIFICATIONS")
