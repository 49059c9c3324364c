"""The production notification store: MongoDB through pymongo (standard MongoDB 7 features)."""

from pymongo import MongoClient

from notifications.stores.base import NotificationStore


class MongoNotificationStore(NotificationStore):
    """Notifications kept in one MongoDB collection.

    Args:
        url: a ``mongodb://`` URI, replica-set options included, passed to pymongo untouched.
        database: database name.
    """

    def __init__(self, *, url: str, database: str):
        self.client = MongoClient(url, serverSelectionTimeoutMS=3000, tz_aware=True)
        self.db = self.client[database]

    def ping(self) -> None:
        self.db.command("ping")

    def close(self) -> None:
        self.client.close()
