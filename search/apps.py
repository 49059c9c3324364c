from django.apps import AppConfig
from django.db.models.signals import post_migrate


class SearchConfig(AppConfig):
    """Full-text search of posts, people and hashtags (a middle-floor domain: it reads
    ``posts``, ``graph`` and ``bellamy.accounts``; no other app imports it)."""

    name = "search"

    def ready(self):
        from search.stores import reinstall_after_migrate

        post_migrate.connect(reinstall_after_migrate, sender=self, dispatch_uid="search.reinstall_schema")
