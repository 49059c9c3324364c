"""The SQLite search store (the embedded default): FTS5.

Schema (installed by the ``search`` migrations through :meth:`SqliteSearchStore.install_schema`)
    - ``search_post_fts``: an FTS5 table, ``rowid`` = post id, columns ``body`` (the post's
      content) and ``created`` (``UNINDEXED``: seconds since the Unix epoch), tokenizer
      ``porter unicode61 remove_diacritics 2``: words are runs of letters and digits, folded
      (case, accents on Latin letters) and stemmed by Porter's English stemmer — the same
      words and stems as PostgreSQL's ``search_english`` configuration;
    - ``search_hashtag (hashtag_id, name)`` and ``search_hashtag_use (hashtag_id, post_id,
      created_at)``: the public, visible, live uses of each hashtag (``created_at`` is the
      post's, in Django's text format, which sorts in time order);
    - row triggers on ``posts_post``, ``posts_posthashtag`` and ``posts_hashtag`` keeping them
      current in the writing transaction (SQLite has no statement-level triggers).

People are searched without an index of their own: the store reads the visible users'
usernames and display names and computes ``pg_trgm``'s similarity in Python
(:mod:`search.text`), so the results equal PostgreSQL's. That is linear in the number of
users (about 10 ms per thousand users) — right for the embedded default (development, small
instances); production uses PostgreSQL's trigram indexes.

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
)
from search.text import person_key, similarity

#: FTS5 tokenizer of post documents.
TOKENIZER = "porter unicode61 remove_diacritics 2"

#: Seconds since the Unix epoch of a Django datetime column (stored as UTC text).
_EPOCH = "((julianday({col}) - 2440587.5) * 86400.0)"
_PUBLIC_USE = "{p}.visibility = 'public' AND {p}.moderation_state = 'visible' AND {p}.deleted_at IS NULL"

_TABLES = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS search_post_fts USING fts5(body, created UNINDEXED, tokenize = '{TOKENIZER}')",
    "CREATE TABLE IF NOT EXISTS search_hashtag (hashtag_id integer PRIMARY KEY, name text NOT NULL)",
    "CREATE INDEX IF NOT EXISTS search_hashtag_name ON search_hashtag (name)",
    "CREATE TABLE IF NOT EXISTS search_hashtag_use (hashtag_id integer NOT NULL, post_id integer NOT NULL,"
    " created_at text NOT NULL, PRIMARY KEY (hashtag_id, post_id)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS search_hashtag_use_recent ON search_hashtag_use (hashtag_id, created_at DESC)",
    "CREATE INDEX IF NOT EXISTS search_hashtag_use_post ON search_hashtag_use (post_id)",
)

_INSERT_DOCUMENT = (
    "INSERT INTO search_post_fts (rowid, body, created) SELECT {p}.id, {p}.content, "
    + _EPOCH.format(col="{p}.created_at")
)
_INSERT_USES = (
    "INSERT OR IGNORE INTO search_hashtag_use (hashtag_id, post_id, created_at) "
    "SELECT l.hashtag_id, l.post_id, p.created_at FROM posts_posthashtag l JOIN posts_post p ON p.id = l.post_id "
    "WHERE " + _PUBLIC_USE.format(p="p")
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
    "search_post_uses_changed": (
        "AFTER UPDATE OF visibility, moderation_state, deleted_at, created_at ON posts_post "
        "WHEN NEW.visibility IS NOT OLD.visibility OR NEW.moderation_state IS NOT OLD.moderation_state "
        "OR NEW.deleted_at IS NOT OLD.deleted_at OR NEW.created_at IS NOT OLD.created_at BEGIN "
        "DELETE FROM search_hashtag_use WHERE post_id = OLD.id; "
        f"{_INSERT_USES} AND l.post_id = NEW.id; "
        "END"
    ),
    "search_post_deleted": (
        "AFTER DELETE ON posts_post BEGIN "
        "DELETE FROM search_post_fts WHERE rowid = OLD.id; "
        "DELETE FROM search_hashtag_use WHERE post_id = OLD.id; "
        "END"
    ),
    "search_hashtag_link_inserted": (
        "AFTER INSERT ON posts_posthashtag BEGIN "
        f"{_INSERT_USES} AND l.id = NEW.id; "
        "END"
    ),
    "search_hashtag_link_deleted": (
        "AFTER DELETE ON posts_posthashtag BEGIN "
        "DELETE FROM search_hashtag_use WHERE hashtag_id = OLD.hashtag_id AND post_id = OLD.post_id; "
        "END"
    ),
    "search_hashtag_link_updated": (
        "AFTER UPDATE ON posts_posthashtag BEGIN "
        "DELETE FROM search_hashtag_use WHERE hashtag_id = OLD.hashtag_id AND post_id = OLD.post_id; "
        f"{_INSERT_USES} AND l.id = NEW.id; "
        "END"
    ),
    "search_hashtag_inserted": (
        "AFTER INSERT ON posts_hashtag BEGIN "
        "INSERT OR REPLACE INTO search_hashtag (hashtag_id, name) VALUES (NEW.id, NEW.name); "
        "END"
    ),
    "search_hashtag_renamed": (
        "AFTER UPDATE OF name ON posts_hashtag BEGIN "
        "UPDATE search_hashtag SET name = NEW.name WHERE hashtag_id = NEW.id; "
        "END"
    ),
    "search_hashtag_deleted": (
        "AFTER DELETE ON posts_hashtag BEGIN "
        "DELETE FROM search_hashtag WHERE hashtag_id = OLD.id; "
        "DELETE FROM search_hashtag_use WHERE hashtag_id = OLD.id; "
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
            for statement in _TABLES[1:]:
                cursor.execute(statement)
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
            for table in ("search_post_fts", "search_hashtag", "search_hashtag_use"):
                cursor.execute(f"DROP TABLE IF EXISTS {table}")

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
        keyset = ""
        if after is not None:
            stamp = after[0].astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
            keyset = " AND (used < %s OR (used = %s AND name > %s))"
            params += [stamp, stamp, after[1]]
        sql = (
            "SELECT page.hashtag_id, page.name, page.used,"
            " (SELECT count(*) FROM search_hashtag_use u WHERE u.hashtag_id = page.hashtag_id) "
            "FROM (SELECT * FROM (SELECT h.hashtag_id, h.name,"
            "  (SELECT max(u.created_at) FROM search_hashtag_use u WHERE u.hashtag_id = h.hashtag_id) AS used"
            "  FROM search_hashtag h WHERE h.name >= %s AND h.name < %s)"
            f" WHERE used IS NOT NULL{keyset} ORDER BY used DESC, name ASC LIMIT %s) page "
            "ORDER BY page.used DESC, page.name ASC"
        )
        with connections[using].cursor() as cursor:
            cursor.execute(sql, [*params, limit])
            return [HashtagHit(int(i), name, int(count), _as_datetime(used)) for i, name, used, count in cursor.fetchall()]

    # --- maintenance ----------------------------------------------------------------------------

    def source_counts(self, *, using):
        with connections[using].cursor() as cursor:
            cursor.execute("SELECT (SELECT count(*) FROM posts_post), (SELECT count(*) FROM posts_hashtag)")
            posts, hashtags = cursor.fetchone()
        return {"posts": posts, "people": 0, "hashtags": hashtags}

    def reindex(self, *, using, batch_size=1000, dry_run=False, on_progress=None):
        self.check_connection(using)
        started = time.perf_counter()
        result = ReindexResult()
        connection = connections[using]
        self.install_triggers(connection)
        for part, table, step in (("posts", "posts_post", self._reindex_posts),
                                  ("hashtags", "posts_hashtag", self._reindex_hashtags)):
            result.add(part)
            low = 0
            while True:
                # One write transaction per batch: SQLite has one writer, so no trigger can
                # interleave with the batch.
                with transaction.atomic(using=using), connection.cursor() as cursor:
                    cursor.execute(
                        f"SELECT max(id), count(*) FROM (SELECT id FROM {table} WHERE id > %s ORDER BY id LIMIT %s)",
                        [low, batch_size],
                    )
                    high, examined = cursor.fetchone()
                    written, removed = step(cursor, low, high, dry_run)
                    if dry_run:
                        transaction.set_rollback(True, using=using)
                result.add(part, examined=examined, written=written, removed=removed)
                if on_progress:
                    on_progress(part, examined)
                if high is None:
                    break
                low = high
        result.add("people")
        result.seconds = time.perf_counter() - started
        return result

    @staticmethod
    def _range(column: str, low: int, high: int | None) -> tuple[str, list]:
        if high is None:
            return f"{column} > %s", [low]
        return f"{column} > %s AND {column} <= %s", [low, high]

    def _reindex_posts(self, cursor, low, high, dry_run):
        src, src_params = self._range("p.id", low, high)
        idx, idx_params = self._range("f.rowid", low, high)
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
        use_src, use_params = self._range("l.post_id", low, high)
        use_idx, use_idx_params = self._range("u.post_id", low, high)
        missing = (
            "SELECT count(*) FROM posts_posthashtag l JOIN posts_post p ON p.id = l.post_id "
            "LEFT JOIN search_hashtag_use u ON u.hashtag_id = l.hashtag_id AND u.post_id = l.post_id "
            f"WHERE {use_src} AND {_PUBLIC_USE.format(p='p')} AND (u.post_id IS NULL OR u.created_at IS NOT p.created_at)"
        )
        stale_use = (
            f"{use_idx} AND NOT EXISTS (SELECT 1 FROM posts_posthashtag l JOIN posts_post p ON p.id = l.post_id "
            f"WHERE l.hashtag_id = u.hashtag_id AND l.post_id = u.post_id AND {_PUBLIC_USE.format(p='p')} "
            "AND p.created_at IS u.created_at)"
        )
        cursor.execute(missing, use_params)
        uses_written = cursor.fetchone()[0]
        cursor.execute(f"SELECT count(*) FROM search_hashtag_use u WHERE {stale_use}", use_idx_params)
        uses_removed = cursor.fetchone()[0]
        if not dry_run:
            cursor.execute(f"DELETE FROM search_hashtag_use AS u WHERE {stale_use}", use_idx_params)
            cursor.execute(f"{_INSERT_USES} AND {use_src}", use_params)
        # A use whose time is wrong is removed and written again (counted in both).
        return len(stale_ids) + uses_written, len(orphan_ids) + uses_removed

    def _reindex_hashtags(self, cursor, low, high, dry_run):
        src, src_params = self._range("t.id", low, high)
        idx, idx_params = self._range("h.hashtag_id", low, high)
        stale = (
            "SELECT count(*) FROM posts_hashtag t LEFT JOIN search_hashtag h ON h.hashtag_id = t.id "
            f"WHERE {src} AND (h.hashtag_id IS NULL OR h.name IS NOT t.name)"
        )
        orphan = f"{idx} AND NOT EXISTS (SELECT 1 FROM posts_hashtag t WHERE t.id = h.hashtag_id)"
        cursor.execute(stale, src_params)
        written = cursor.fetchone()[0]
        cursor.execute(f"SELECT count(*) FROM search_hashtag h WHERE {orphan}", idx_params)
        removed = cursor.fetchone()[0]
        if not dry_run and (written or removed):
            cursor.execute(f"DELETE FROM search_hashtag AS h WHERE {orphan}", idx_params)
            cursor.execute(
                "INSERT OR REPLACE INTO search_hashtag (hashtag_id, name) SELECT t.id, t.name FROM posts_hashtag t "
                f"WHERE {src} AND NOT EXISTS (SELECT 1 FROM search_hashtag h WHERE h.hashtag_id = t.id AND h.name IS t.name)",
                src_params,
            )
        return written, removed
