"""Writes of the ``search`` domain.

The index is written by database triggers as posts, users and hashtags change (see
:mod:`search.stores.base`), never by other apps' services; the one write here is the backfill
that rebuilds it from the source tables. Search publishes no events.
"""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS

from search.stores import get_search_store
from search.stores.base import ProgressCallback, ReindexResult


def search_index_rebuild(*, using: str = DEFAULT_DB_ALIAS, batch_size: int = 1000, dry_run: bool = False,
                         on_progress: ProgressCallback | None = None) -> ReindexResult:
    """Make the search index of database ``using`` match its posts, users and hashtags.

    Args:
        using: database alias.
        batch_size: source rows per batch (each batch is one transaction; on PostgreSQL it
            share-locks its rows, so concurrent edits of them wait a few milliseconds).
        dry_run: count the stale index rows, write nothing.
        on_progress: ``on_progress(part, rows)`` after each batch (``part`` is ``"posts"``,
            ``"people"`` or ``"hashtags"``).
    Returns:
        :class:`search.stores.base.ReindexResult`; ``changed`` is 0 on a consistent index, so
        a second run writes nothing.
    Events:
        None.
    """
    return get_search_store().reindex(using=using, batch_size=batch_size, dry_run=dry_run, on_progress=on_progress)
