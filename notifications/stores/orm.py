"""The embedded-default notification store: a Django model in the relational database."""

from django.db import connection

from notifications.stores.base import NotificationStore


class OrmNotificationStore(NotificationStore):
    """Notifications kept in the relational database (the embedded default)."""

    def ping(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
