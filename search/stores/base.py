"""The search store contract: full-text search of posts, people and hashtags.

Two backends implement it, chosen by the database engine (``BELLAMY_SEARCH``, set from
``DATABASE_URL`` by :func:`bellamy.config.search_backend`): :class:`~search.stores.postgres.
PostgresSearchStore` (PostgreSQL full-text search, ``pg_trgm``) and :class:`~search.stores.
sqlite.SqliteSearchStore` (SQLite FTS5, the embedded default). One contract test suite
(``tests/search/test_store_contract.py``) runs against both on real databases.

Where the index lives and how it stays current
    Each store keeps its index in its own tables in the same database as the posts, written
    **only by database triggers** that its schema (:meth:`SearchStore.install_schema`, run by
    the ``search`` migrations) installs on the tables of ``posts`` and ``bellamy.accounts``
    (PostgreSQL: post documents, people, hashtag uses; SQLite: post documents only — people
    and hashtags are read from their tables at query time there).
    A post's document is therefore written in the same transaction as the post — visible to
    the next query after commit, gone with a rollback — whatever wrote the post (the services,
    the admin, the bulk importers, raw SQL), and ``posts`` never imports ``search``. Only
    *what a post says* is indexed (content, creation time); *who may see it* is decided at
    query time by :func:`posts.selectors.visible_posts`, so a change of visibility, a block
    or a moderation decision needs no index update. :meth:`SearchStore.reindex` rebuilds the
    index from the source tables (``manage.py search_reindex``); on a consistent index it
    changes nothing.

Posts
    A document is the post's content, tokenised into words (:mod:`search.text`), folded
    (case, accents) and stemmed (Porter's English stemmer, in both backends). A query's words
    must all occur, phrases in order; hashtag and mention filters use the posts app's links
    (``PostHashtag``, ``PostMention``). Ranking, best first::

        score = ln(relevance) + ln(2) * created_at / RECENCY_HALF_LIFE

    i.e. relevance × 2^(age / half-life) — a post :data:`RECENCY_HALF_LIFE_DAYS` older needs
    twice the relevance to rank equal — as a sum of logarithms, so the order does not depend
    on the current time and a cursor stays valid. ``created_at`` is in seconds since the Unix
    epoch. Relevance is in (0, 1] by construction: PostgreSQL's ``ts_rank`` × 10 capped at 1
    (one occurrence of a word 0.61, many → 1); SQLite's BM25 score ``b`` as ``b / (1 + b)``;
    1 for a query of only hashtags and mentions (newest first). Ties: higher post id first.
    The two relevance measures differ, so the backends agree on what matches and on clear-cut
    orders (more occurrences, newer), not on every score.

People
    ``key`` (:func:`search.text.person_key` of the query) is compared with each person's
    folded username and display name: a person matches when either starts with ``key``, a
    word of the display name starts with it, or either has ``pg_trgm`` similarity ≥
    :data:`SIMILARITY_THRESHOLD` (typo tolerance). Score = the larger similarity, plus 1 for a
    prefix match; order score desc, user id asc.

Hashtags
    Hashtags whose name starts with the prefix and that are used by at least one public,
    visible, live post (the hashtag statistics are global like trends: a private post never
    makes its hashtag discoverable), newest use first, then name. ``post_count`` counts
    those posts.

Pages
    Every search returns at most ``limit`` hits after the ``after`` key (the last hit of the
    previous page: ``(score, id)`` for posts and people, ``(last_used_at, name)`` for
    hashtags), in order.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import QuerySet

from search.query import PostQuery

#: Half-life of the recency factor of post ranking, in days.
RECENCY_HALF_LIFE_DAYS = 7.0
#: Seconds-to-score factor of the recency term: ``ln 2 / half-life in seconds``.
RECENCY_PER_SECOND = math.log(2) / (RECENCY_HALF_LIFE_DAYS * 86400)
#: ``pg_trgm``'s default similarity threshold: people below it match only by prefix.
SIMILARITY_THRESHOLD = 0.3


class SearchStoreError(RuntimeError):
    """The store's schema is missing or the database cannot host it (raised with the fix)."""


@dataclass(frozen=True)
class Hit:
    """One ranked post or person: its id and score (see the module docstring)."""

    id: int
    score: float


@dataclass(frozen=True)
class HashtagHit:
    """One hashtag: ``post_count`` public visible live posts use it, the newest created at
    ``last_used_at`` (aware UTC)."""

    hashtag_id: int
    name: str
    post_count: int
    last_used_at: datetime


@dataclass
class ReindexResult:
    """What :meth:`SearchStore.reindex` did (or, in a dry run, would do).

    Attributes:
        examined: source rows read, per part (``"posts"``, ``"people"``, ``"hashtags"``).
        written: index rows inserted or corrected, per part.
        removed: index rows deleted (deleted posts, users, unused links), per part.
        seconds: wall time.
    """

    examined: dict[str, int] = field(default_factory=dict)
    written: dict[str, int] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, part: str, *, examined: int = 0, written: int = 0, removed: int = 0) -> None:
        for counter, value in ((self.examined, examined), (self.written, written), (self.removed, removed)):
            counter[part] = counter.get(part, 0) + value

    @property
    def changed(self) -> int:
        """Index rows written or removed, all parts."""
        return sum(self.written.values()) + sum(self.removed.values())


def id_range(column: str, low: int, high: int | None) -> tuple[str, list]:
    """SQL condition and parameters for the ids of one reindex batch, ``(low, high]``, or
    ``> low`` for the last batch (``high`` None: whatever was written since the batch began)."""
    if high is None:
        return f"{column} > %s", [low]
    return f"{column} > %s AND {column} <= %s", [low, high]


#: ``on_progress(part, rows)`` callback of :meth:`SearchStore.reindex`.
ProgressCallback = Callable[[str, int], None]


class SearchStore(ABC):
    """The contract (module docstring). Methods that read take the querysets or the database
    alias to read from, so a search runs on the database (primary or replica) that the posts'
    visibility is read from."""

    #: Django database vendor this store runs on (``connection.vendor``).
    vendor: str = ""

    def check_connection(self, using: str) -> None:
        """Raise :class:`SearchStoreError` when database ``using`` is not of :attr:`vendor`."""
        from django.db import connections

        actual = connections[using].vendor
        if actual != self.vendor:
            raise SearchStoreError(
                f"{type(self).__name__} needs a {self.vendor} database, but {using!r} is {actual}; "
                "BELLAMY_SEARCH must match the database engine"
            )

    @abstractmethod
    def install_schema(self, connection) -> None:
        """Create (idempotently) the index tables, functions and triggers on ``connection``.

        Called by the ``search`` migrations. Raises :class:`SearchStoreError` with the fix
        when the database cannot host the schema (a missing extension or SQLite module).
        """

    @abstractmethod
    def uninstall_schema(self, connection) -> None:
        """Drop everything :meth:`install_schema` created (the migration's reverse)."""

    @abstractmethod
    def search_posts(self, query: PostQuery, *, visible: QuerySet, hashtag_ids: list[int],
                     mention_ids: list[int], limit: int, after: tuple[float, int] | None = None) -> list[Hit]:
        """Return the best posts matching ``query`` among ``visible``.

        Args:
            query: the parsed query; its ``words`` and ``phrases`` are matched here.
            visible: the posts the viewer may see (:func:`posts.selectors.visible_posts`
                with ``details=False``), embedded as a subquery; the search runs on its
                database (``visible.db``).
            hashtag_ids: ``Hashtag`` ids the post must all carry (the resolved
                ``query.hashtags``).
            mention_ids: user ids the post must all mention (the resolved ``query.mentions``).
            limit: most hits returned (≥ 1).
            after: ``(score, post id)`` of the previous page's last hit, or ``None``.
        Returns:
            Up to ``limit`` :class:`Hit` (post id, score), best first.
        """

    @abstractmethod
    def search_people(self, key: str, *, visible: QuerySet, limit: int,
                      after: tuple[float, int] | None = None) -> list[Hit]:
        """Return the people best matching ``key`` among ``visible`` (a ``User`` queryset:
        active users not blocked either way), best first (module docstring).

        Args:
            key: :func:`search.query.parse_people_query` of the query (non-empty).
            after: ``(score, user id)`` of the previous page's last hit, or ``None``.
        """

    @abstractmethod
    def search_hashtags(self, prefix: str, *, using: str, limit: int,
                        after: tuple[datetime, str] | None = None) -> list[HashtagHit]:
        """Return the hashtags starting with ``prefix`` in use by public posts, newest use
        first, then name.

        Args:
            prefix: a normalised hashtag prefix (:func:`search.query.parse_hashtag_prefix`).
            using: the database alias to read.
            after: ``(last_used_at, name)`` of the previous page's last hit, or ``None``.
        """

    @abstractmethod
    def reindex(self, *, using: str, batch_size: int = 1000, dry_run: bool = False,
                on_progress: ProgressCallback | None = None) -> ReindexResult:
        """Bring the whole index in line with the source tables, in batches of
        ``batch_size`` source rows, each batch in its own transaction.

        Idempotent: on a consistent index nothing is written and ``changed`` is 0. With
        ``dry_run`` the same differences are counted and nothing is written.
        ``on_progress(part, rows)`` is called after each batch.
        """

    @abstractmethod
    def source_counts(self, *, using: str) -> dict[str, int]:
        """Return the number of source rows :meth:`reindex` examines, per part (for a
        progress bar's total)."""
