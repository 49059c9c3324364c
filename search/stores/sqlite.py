"""The SQLite search store (the embedded default): FTS5.

Schema (installed by the ``search`` migrations through :meth:`SqliteSearchStore.install_schema`)
    - ``search_post_fts``: an FTS5 table, ``rowid`` = post id, columns ``body`` (the post's
      content) and ``created`` (``UNINDEXED``: seconds since the Unix epoch), tokenizer
      ``porter unicode61 remove_diacritics 2``: words are runs of letters and digits, folded
      (case, accents on Latin letters) and stemmed by Porter's English stemmer — the same
      words and stems as PostgreSQL's ``search_english`` configuration;
    - row triggers on ``posts_post`` keeping it current in the writing transaction (SQLite has
      no statement-level triggers). Their bodies touch only ``search_post_fts``: a trigger on
      another table that named ``posts_post`` would make Django's SQLite table rebuild (drop,
      then rename a copy) fail.

Hashtags are counted at query time from the posts tables (``posts_hashtag`` by name range,
its links and their posts), which is cheap at the embedded default's scale and needs no
trigger on those tables.

People are searched without an index of their own: the store reads the visible users'
usernames and display names and computes ``pg_trgm``'s similarity in Python
(:mod:`search.text`, with the keys and trigram sets of names cached), so the results equal
PostgreSQL's. That is linear in the number of users — 50–90 ms for 4,000 users on the shared
2-core machine under load — right for the embedded default (development, small instances);
production uses PostgreSQL's trigram indexes.

SQLite drops a table's triggers when Django rebuilds the table (a later migration altering a
column of ``posts_post`` on SQLite); the ``search`` app re-installs them after every
``migrate`` (:func:`search.stores.reinstall_after_migrate`), and a rebuild copies rows
without changing them, so the index stays right.

FTS5's BM25 depends on collection statistics (number of documents, average length), so scores
of the embedded default can shift slightly while posts are added between two pages.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from django.db import connections, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from search.query import PostQuery
from search.stores.base import (
    RECENCY_PER_SECOND,
    SIMILARITY_THRESHOLD,
    HashtagHit,
    Hit,
    ReindexResult,
    SearchStore,
    SearchStoreError,
    id_range,
)
from search.text import person_key, similarity

#: FTS5 tokenizer of post documents.
TOKENIZER = "porter unicode61 remove_diacritics 2"

#: Seconds since the Unix epoch of a Django datetime column (stored as UTC text).
_EPOCH = "((julianday({col}) - 2440587.5) * 86400.0)"
_PUBLIC_USE = "{p}.visibility = 'public' AND {p}.moderation_state = 'visible' AND {p}.deleted_at IS NULL"

_TABLES = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS search_post_fts USING fts5(body, created UNINDEXED, tokenize = '{TOKENIZER}')",
)

_INSERT_DOCUMENT = (
    "INSERT INTO search_post_fts (rowid, body, created) SELECT {p}.id, {p}.content, "
    + _EPOCH.format(col="{p}.created_at")
)

#: name → trigger body (after ``CREATE TRIGGER IF NOT EXISTS <name>``)
_TRIGGERS = {
    "search_post_inserted": (
        "AFTER INSERT ON posts_post WHEN NEW.deleted_at IS NULL BEGIN "
        f"INSERT INTO search_post_fts (rowid, body, created) VALUES (NEW.id, NEW.content, {_EPOCH.format(col='NEW.created_at')}); "
        "END"
    ),
    "search_post_changed": (
        "AFTER UPDATE OF content, created_at, deleted_at ON posts_post WHEN NEW.content IS NOT OLD.content "
        "OR NEW.created_at IS NOT OLD.created_at OR NEW.deleted_at IS NOT OLD.deleted_at BEGIN "
        "DELETE FROM search_post_fts WHERE rowid = OLD.id; "
        f"INSERT INTO search_post_fts (rowid, body, created) SELECT NEW.id, NEW.content, {_EPOCH.format(col='NEW.created_at')} "
        "WHERE NEW.deleted_at IS NULL; "
        "END"
    ),
    "search_post_deleted": (
        "AFTER DELETE ON posts_post BEGIN "
        "DELETE FROM search_post_fts WHERE rowid = OLD.id; "
        "END"
    ),
}

def _fts_query(query: PostQuery) -> str:
    """The FTS5 MATCH expression of ``query``'s words (AND) and phrases. Words are runs of
    letters and digits (:func:`search.text.words`), so quoting never needs escaping; FTS5
    tokenizes each quoted string with the table's tokenizer (folding, stemming)."""
    terms = [f'"{word}"' for word in query.words]
    terms += ['"' + " ".join(phrase) + '"' for phrase in query.phrases]
    return " AND ".join(terms)


def _as_datetime(value: str) -> datetime:
    moment = parse_datetime(value)
    return moment.replace(tzinfo=UTC) if timezone.is_naive(moment) else moment


class SqliteSearchStore(SearchStore):
    """SQLite FTS5 search (contract: :mod:`search.stores.base`)."""

    vendor = "sqlite"

    # --- schema ---------------------------------------------------------------------------------

    def install_schema(self, connection) -> None:
        with connection.cursor() as cursor:
            try:
                cursor.execute(_TABLES[0])
            except Exception as exc:
                raise SearchStoreError(
                    f"search needs SQLite's FTS5 module, which this Python's SQLite ({exc}) lacks; use a "
                    "Python built with a standard SQLite (3.24 or later, FTS5 enabled)"
                ) from exc
            self.install_triggers(connection)

    def install_triggers(self, connection) -> None:
        """Create the maintenance triggers that are missing (idempotent, cheap)."""
        with connection.cursor() as cursor:
            for name, body in _TRIGGERS.items():
                cursor.execute(f"CREATE TRIGGER IF NOT EXISTS {name} {body}")

    def uninstall_schema(self, connection) -> None:
        with connection.cursor() as cursor:
            for name in _TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            cursor.execute("DROP TABLE IF EXISTS search_post_fts")

    # --- posts ----------------------------------------------------------------------------------

    def search_posts(self, query, *, visible, hashtag_ids, mention_ids, limit, after=None):
        using = visible.db
        self.check_connection(using)
        where, params = [], []
        if query.has_text:
            # bm25() is negative, better matches more so: b = -bm25 > 0, relevance b / (1 + b).
            source = (
                "SELECT f.rowid AS post_id, ln((-bm25(search_post_fts)) / (1.0 - bm25(search_post_fts)))"
                " + f.created * %s AS score FROM search_post_fts f WHERE search_post_fts MATCH %s"
            )
            params += [RECENCY_PER_SECOND, _fts_query(query)]
        else:
            source = "SELECT f.rowid AS post_id, f.created * %s AS score FROM search_post_fts f"
            params.append(RECENCY_PER_SECOND)
            # Drive the scan from the first filter's index instead of every document.
            if hashtag_ids:
                source += " WHERE f.rowid IN (SELECT post_id FROM posts_posthashtag WHERE hashtag_id = %s)"
                params.append(hashtag_ids[0])
            elif mention_ids:
                source += " WHERE f.rowid IN (SELECT post_id FROM posts_postmention WHERE user_id = %s)"
                params.append(mention_ids[0])
        for tag_id in hashtag_ids:
            where.append("EXISTS (SELECT 1 FROM posts_posthashtag t WHERE t.post_id = ranked.post_id AND t.hashtag_id = %s)")
            params.append(tag_id)
        for user_id in mention_ids:
            where.append("EXISTS (SELECT 1 FROM posts_postmention m WHERE m.post_id = ranked.post_id AND m.user_id = %s)")
            params.append(user_id)
        visible_sql, visible_params = visible.values("pk").query.get_compiler(using=using).as_sql()
        where.append(f"ranked.post_id IN ({visible_sql})")
        params += visible_params
        if after is not None:
            where.append("(ranked.score < %s OR (ranked.score = %s AND ranked.post_id < %s))")
            params += [after[0], after[0], after[1]]
        sql = (
            f"SELECT ranked.post_id, ranked.score FROM ({source}) ranked WHERE {' AND '.join(where)} "
            "ORDER BY ranked.score DESC, ranked.post_id DESC LIMIT %s"
        )
        with connections[using].cursor() as cursor:
            cursor.execute(sql, [*params, limit])
            return [Hit(int(post_id), float(score)) for post_id, score in cursor.fetchall()]

    # --- people ---------------------------------------------------------------------------------

    def search_people(self, key, *, visible, limit, after=None):
        self.check_connection(visible.db)
        padded = f" {key}"
        hits = []
        for user_id, username, display_name in visible.values_list("id", "username", "display_name").iterator(2000):
            username_key, name_key = person_key(username), person_key(display_name)
            score = max(similarity(username_key, key), similarity(name_key, key))
            if username_key.startswith(key) or name_key.startswith(key) or padded in f" {name_key}":
                score += 1.0
            if score < SIMILARITY_THRESHOLD:
                continue
            if after is not None and not (score < after[0] or (score == after[0] and user_id > after[1])):
                continue
            hits.append(Hit(user_id, score))
        hits.sort(key=lambda hit: (-hit.score, hit.id))
        return hits[:limit]

    # --- hashtags -------------------------------------------------------------------------------

    def search_hashtags(self, prefix, *, using, limit, after=None):
        self.check_connection(using)
        params: list = [prefix, prefix + "\U0010ffff"]
        having = ""
        if after is not None:
            # Django stores UTC datetimes as text that sorts in time order.
            stamp = after[0].astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
            having = " HAVING max(p.created_at) < %s OR (max(p.created_at) = %s AND h.name > %s)"
            params += [stamp, stamp, after[1]]
        sql = (
            "SELECT h.id, h.name, max(p.created_at) AS used, count(*) FROM posts_hashtag h "
            "JOIN posts_posthashtag l ON l.hashtag_id = h.id JOIN posts_post p ON p.id = l.post_id "
            f"WHERE h.name >= %s AND h.name < %s AND {_PUBLIC_USE.format(p='p')} "
            f"GROUP BY h.id, h.name{having} ORDER BY used DESC, h.name ASC LIMIT %s"
        )
        with connections[using].cursor() as cursor:
            cursor.execute(sql, [*params, limit])
            return [HashtagHit(int(i), name, int(count), _as_datetime(used)) for i, name, used, count in cursor.fetchall()]

    # --- maintenance ----------------------------------------------------------------------------

    def source_counts(self, *, using):
        with connections[using].cursor() as cursor:
            cursor.execute("SELECT count(*) FROM posts_post")
            posts = cursor.fetchone()[0]
        return {"posts": posts, "people": 0, "hashtags": 0}

    def reindex(self, *, using, batch_size=1000, dry_run=False, on_progress=None):
        """See :meth:`SearchStore.reindex`. Only post documents are stored here (people and
        hashtags are read from their tables at query time: nothing to rebuild), so
        ``people`` and ``hashtags`` read 0 rows. Re-creates missing triggers first."""
        self.check_connection(using)
        started = time.perf_counter()
        result = ReindexResult()
        connection = connections[using]
        if not dry_run:
            self.install_triggers(connection)
        result.add("posts")
        low = 0
        while True:
            # One write transaction per batch: SQLite has one writer, so no trigger can
            # interleave with the batch.
            with transaction.atomic(using=using), connection.cursor() as cursor:
                cursor.execute(
                    "SELECT max(id), count(*) FROM (SELECT id FROM posts_post WHERE id > %s ORDER BY id LIMIT %s)",
                    [low, batch_size],
                )
                high, examined = cursor.fetchone()
                written, removed = self._reindex_posts(cursor, low, high, dry_run)
                if dry_run:
                    transaction.set_rollback(True, using=using)
            result.add("posts", examined=examined, written=written, removed=removed)
            if on_progress:
                on_progress("posts", examined)
            if high is None:
                break
            low = high
        result.add("people")
        result.add("hashtags")
        result.seconds = time.perf_counter() - started
        return result

    def _reindex_posts(self, cursor, low, high, dry_run):
        src, src_params = id_range("p.id", low, high)
        idx, idx_params = id_range("f.rowid", low, high)
        # A document is stale when missing or when its text or time differ from the post's.
        stale = (
            f"SELECT p.id FROM posts_post p LEFT JOIN search_post_fts f ON f.rowid = p.id WHERE {src} "
            "AND p.deleted_at IS NULL AND (f.rowid IS NULL OR f.body IS NOT p.content OR f.created IS NOT "
            f"{_EPOCH.format(col='p.created_at')})"
        )
        orphans = (
            f"SELECT f.rowid FROM search_post_fts f WHERE {idx} AND NOT EXISTS "
            "(SELECT 1 FROM posts_post p WHERE p.id = f.rowid AND p.deleted_at IS NULL)"
        )
        cursor.execute(stale, src_params)
        stale_ids = [row[0] for row in cursor.fetchall()]
        cursor.execute(orphans, idx_params)
        orphan_ids = [row[0] for row in cursor.fetchall()]
        if not dry_run:
            for post_id in [*stale_ids, *orphan_ids]:
                cursor.execute("DELETE FROM search_post_fts WHERE rowid = %s", [post_id])
            for post_id in stale_ids:
                cursor.execute(_INSERT_DOCUMENT.format(p="p") + " FROM posts_post p WHERE p.id = %s", [post_id])
        return len(stale_ids), len(orphan_ids)
