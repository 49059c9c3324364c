"""Bellamy Book: the backend of a social network (Django monolith + Celery workers)."""

from bellamy.celery import app as celery_app

__all__ = ["celery_app"]
