"""The PostgreSQL search store: full-text search (``tsvector``, GIN) and ``pg_trgm``.

Schema (installed by the ``search`` migrations through :meth:`PostgresSearchStore.install_schema`)
    - extensions ``unaccent`` and ``pg_trgm`` (both *trusted* since PostgreSQL 13: the
      database owner may create them without superuser rights);
    - text search configuration ``search_english``: the default parser, words (ASCII or not,
      with or without digits) folded by ``unaccent`` then stemmed by the Snowball ``porter``
      dictionary (Porter's original English stemmer — the one SQLite's FTS5 ``porter``
      tokenizer implements), no stop words (like FTS5); numbers kept as they are;
    - ``search_words(text)``: every run of non-alphanumeric characters replaced by one space,
      so the parser sees only words and numbers (no URL, e-mail or hyphenated compounds: the
      words SQLite's ``unicode61`` tokenizer would see); ``search_document(text)`` its
      ``tsvector``; ``search_fold(text)``: lower-cased, unaccented words (people keys);
    - tables ``search_post_document (post_id, created_at, document tsvector)`` with a GIN
      index; ``search_person (user_id, username_key, name_key)`` with trigram GIN indexes;
      ``search_hashtag (hashtag_id, name COLLATE "C")`` and ``search_hashtag_use (hashtag_id,
      post_id, created_at)`` (the public, visible, live uses of each hashtag);
    - triggers on ``posts_post``, ``posts_posthashtag``, ``posts_hashtag`` and
      ``accounts_user`` that keep those tables current in the writing transaction:
      statement-level with transition tables for ``INSERT`` and ``DELETE`` (a bulk import of
      10,000 posts is one ``INSERT … SELECT``), row-level for ``UPDATE OF`` the columns that
      matter with a ``WHEN`` clause (a like's counter update fires nothing), and ``TRUNCATE``.

The regular expressions need a UTF-8 ``LC_CTYPE`` that classifies non-ASCII letters
(``C.UTF-8``, ``en_US.UTF-8``…); :meth:`install_schema` refuses a database where ``é`` is not a
letter (``LC_CTYPE=C``) instead of silently splitting words on accents.

No table here is a Django model: Django's deletion collector and ``flush`` never see them,
and the triggers (including ``TRUNCATE``) keep them right. No foreign keys either, so
truncating ``posts_post`` does not need ``CASCADE``.
"""

from __future__ import annotations

import time

from django.db import connections, transaction

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

#: Extensions the schema needs.
EXTENSIONS = ("unaccent", "pg_trgm")

#: A post counts as a public use of its hashtags (the global hashtag statistics).
_PUBLIC_USE = "{p}.visibility = 'public' AND {p}.moderation_state = 'visible' AND {p}.deleted_at IS NULL"

_FUNCTIONS = """
CREATE OR REPLACE FUNCTION search_words(value text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT regexp_replace(value, '[^[:alnum:]]+', ' ', 'g') $$;

CREATE OR REPLACE FUNCTION search_document(content text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT to_tsvector('search_english'::regconfig, search_words(coalesce(content, ''))) $$;

CREATE OR REPLACE FUNCTION search_fold(value text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT btrim(search_words(lower({ext}.unaccent('{ext}.unaccent'::regdictionary, coalesce(value, ''))))) $$;
"""

_TABLES = """
CREATE TABLE IF NOT EXISTS search_post_document (
    post_id bigint PRIMARY KEY,
    created_at timestamptz NOT NULL,
    document tsvector NOT NULL
);
CREATE INDEX IF NOT EXISTS search_post_document_gin ON search_post_document USING gin (document);
CREATE INDEX IF NOT EXISTS search_post_document_created ON search_post_document (created_at DESC, post_id DESC);

CREATE TABLE IF NOT EXISTS search_person (
    user_id bigint PRIMARY KEY,
    username_key text NOT NULL,
    name_key text NOT NULL
);
CREATE INDEX IF NOT EXISTS search_person_username_trgm ON search_person USING gin (username_key gin_trgm_ops);
CREATE INDEX IF NOT EXISTS search_person_name_trgm ON search_person USING gin (name_key gin_trgm_ops);

CREATE TABLE IF NOT EXISTS search_hashtag (
    hashtag_id bigint PRIMARY KEY,
    name text COLLATE "C" NOT NULL
);
CREATE INDEX IF NOT EXISTS search_hashtag_name ON search_hashtag (name);

CREATE TABLE IF NOT EXISTS search_hashtag_use (
    hashtag_id bigint NOT NULL,
    post_id bigint NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (hashtag_id, post_id)
);
CREATE INDEX IF NOT EXISTS search_hashtag_use_recent ON search_hashtag_use (hashtag_id, created_at DESC);
CREATE INDEX IF NOT EXISTS search_hashtag_use_post ON search_hashtag_use (post_id);
"""

_PUBLIC_USE_P = _PUBLIC_USE.format(p="p")

_TRIGGER_FUNCTIONS = f"""
-- posts_post -----------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION search_posts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_post_document (post_id, created_at, document)
    SELECT id, created_at, search_document(content) FROM inserted_posts WHERE deleted_at IS NULL
    ON CONFLICT (post_id) DO UPDATE SET created_at = EXCLUDED.created_at, document = EXCLUDED.document;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION search_post_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.content IS DISTINCT FROM OLD.content OR NEW.created_at IS DISTINCT FROM OLD.created_at
       OR NEW.deleted_at IS DISTINCT FROM OLD.deleted_at THEN
        IF NEW.deleted_at IS NULL THEN
            INSERT INTO search_post_document (post_id, created_at, document)
            VALUES (NEW.id, NEW.created_at, search_document(NEW.content))
            ON CONFLICT (post_id) DO UPDATE SET created_at = EXCLUDED.created_at, document = EXCLUDED.document;
        ELSE
            DELETE FROM search_post_document WHERE post_id = NEW.id;
        END IF;
    END IF;
    IF NEW.visibility IS DISTINCT FROM OLD.visibility OR NEW.moderation_state IS DISTINCT FROM OLD.moderation_state
       OR NEW.deleted_at IS DISTINCT FROM OLD.deleted_at OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
        DELETE FROM search_hashtag_use WHERE post_id = NEW.id;
        IF {_PUBLIC_USE.format(p="NEW")} THEN
            INSERT INTO search_hashtag_use (hashtag_id, post_id, created_at)
            SELECT hashtag_id, NEW.id, NEW.created_at FROM posts_posthashtag WHERE post_id = NEW.id
            ON CONFLICT DO NOTHING;
        END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION search_posts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM search_post_document d USING deleted_posts o WHERE d.post_id = o.id;
    DELETE FROM search_hashtag_use u USING deleted_posts o WHERE u.post_id = o.id;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION search_posts_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE search_post_document, search_hashtag_use;
    RETURN NULL;
END $$;

-- posts_posthashtag --------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION search_hashtag_links_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_hashtag_use (hashtag_id, post_id, created_at)
    SELECT l.hashtag_id, l.post_id, p.created_at
    FROM inserted_links l JOIN posts_post p ON p.id = l.post_id
    WHERE {_PUBLIC_USE_P}
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION search_hashtag_links_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM search_hashtag_use u USING deleted_links l
    WHERE u.hashtag_id = l.hashtag_id AND u.post_id = l.post_id;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION search_hashtag_links_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM search_hashtag_use u USING old_links l
    WHERE u.hashtag_id = l.hashtag_id AND u.post_id = l.post_id;
    INSERT INTO search_hashtag_use (hashtag_id, post_id, created_at)
    SELECT l.hashtag_id, l.post_id, p.created_at
    FROM new_links l JOIN posts_post p ON p.id = l.post_id
    WHERE {_PUBLIC_USE_P}
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION search_hashtag_links_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE search_hashtag_use;
    RETURN NULL;
END $$;

-- posts_hashtag ------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION search_hashtags_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_hashtag (hashtag_id, name) SELECT id, name FROM inserted_hashtags
    ON CONFLICT (hashtag_id) DO UPDATE SET name = EXCLUDED.name;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION search_hashtag_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE search_hashtag SET name = NEW.name WHERE hashtag_id = NEW.id;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION search_hashtags_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM search_hashtag h USING deleted_hashtags o WHERE h.hashtag_id = o.id;
    DELETE FROM search_hashtag_use u USING deleted_hashtags o WHERE u.hashtag_id = o.id;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION search_hashtags_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE search_hashtag, search_hashtag_use;
    RETURN NULL;
END $$;

-- accounts_user ------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION search_users_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_person (user_id, username_key, name_key)
    SELECT id, search_fold(username), search_fold(display_name) FROM inserted_users
    ON CONFLICT (user_id) DO UPDATE SET username_key = EXCLUDED.username_key, name_key = EXCLUDED.name_key;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION search_user_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_person (user_id, username_key, name_key)
    VALUES (NEW.id, search_fold(NEW.username), search_fold(NEW.display_name))
    ON CONFLICT (user_id) DO UPDATE SET username_key = EXCLUDED.username_key, name_key = EXCLUDED.name_key;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION search_users_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM search_person s USING deleted_users o WHERE s.user_id = o.id;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION search_users_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE search_person;
    RETURN NULL;
END $$;
"""

#: (trigger name, table, timing and event clause, function)
_TRIGGERS = (
    ("search_posts_inserted", "posts_post",
     "AFTER INSERT ON posts_post REFERENCING NEW TABLE AS inserted_posts FOR EACH STATEMENT"),
    ("search_post_changed", "posts_post",
     "AFTER UPDATE OF content, created_at, deleted_at, visibility, moderation_state ON posts_post FOR EACH ROW "
     "WHEN (NEW.content IS DISTINCT FROM OLD.content OR NEW.created_at IS DISTINCT FROM OLD.created_at "
     "OR NEW.deleted_at IS DISTINCT FROM OLD.deleted_at OR NEW.visibility IS DISTINCT FROM OLD.visibility "
     "OR NEW.moderation_state IS DISTINCT FROM OLD.moderation_state)"),
    ("search_posts_deleted", "posts_post",
     "AFTER DELETE ON posts_post REFERENCING OLD TABLE AS deleted_posts FOR EACH STATEMENT"),
    ("search_posts_truncated", "posts_post", "AFTER TRUNCATE ON posts_post FOR EACH STATEMENT"),
    ("search_hashtag_links_inserted", "posts_posthashtag",
     "AFTER INSERT ON posts_posthashtag REFERENCING NEW TABLE AS inserted_links FOR EACH STATEMENT"),
    ("search_hashtag_links_deleted", "posts_posthashtag",
     "AFTER DELETE ON posts_posthashtag REFERENCING OLD TABLE AS deleted_links FOR EACH STATEMENT"),
    ("search_hashtag_links_updated", "posts_posthashtag",
     "AFTER UPDATE ON posts_posthashtag REFERENCING OLD TABLE AS old_links NEW TABLE AS new_links FOR EACH STATEMENT"),
    ("search_hashtag_links_truncated", "posts_posthashtag", "AFTER TRUNCATE ON posts_posthashtag FOR EACH STATEMENT"),
    ("search_hashtags_inserted", "posts_hashtag",
     "AFTER INSERT ON posts_hashtag REFERENCING NEW TABLE AS inserted_hashtags FOR EACH STATEMENT"),
    ("search_hashtag_renamed", "posts_hashtag",
     "AFTER UPDATE OF name ON posts_hashtag FOR EACH ROW WHEN (NEW.name IS DISTINCT FROM OLD.name)"),
    ("search_hashtags_deleted", "posts_hashtag",
     "AFTER DELETE ON posts_hashtag REFERENCING OLD TABLE AS deleted_hashtags FOR EACH STATEMENT"),
    ("search_hashtags_truncated", "posts_hashtag", "AFTER TRUNCATE ON posts_hashtag FOR EACH STATEMENT"),
    ("search_users_inserted", "accounts_user",
     "AFTER INSERT ON accounts_user REFERENCING NEW TABLE AS inserted_users FOR EACH STATEMENT"),
    ("search_user_renamed", "accounts_user",
     "AFTER UPDATE OF username, display_name ON accounts_user FOR EACH ROW "
     "WHEN (NEW.username IS DISTINCT FROM OLD.username OR NEW.display_name IS DISTINCT FROM OLD.display_name)"),
    ("search_users_deleted", "accounts_user",
     "AFTER DELETE ON accounts_user REFERENCING OLD TABLE AS deleted_users FOR EACH STATEMENT"),
    ("search_users_truncated", "accounts_user", "AFTER TRUNCATE ON accounts_user FOR EACH STATEMENT"),
)

_TRIGGER_FUNCTION_NAMES = [
    "search_posts_inserted", "search_post_changed", "search_posts_deleted", "search_posts_truncated",
    "search_hashtag_links_inserted", "search_hashtag_links_deleted", "search_hashtag_links_updated",
    "search_hashtag_links_truncated", "search_hashtags_inserted", "search_hashtag_renamed",
    "search_hashtags_deleted", "search_hashtags_truncated", "search_users_inserted", "search_user_renamed",
    "search_users_deleted", "search_users_truncated",
]

#: The score of a post document ``d`` for the tsquery expression ``{tsq}`` (module docstring of
#: :mod:`search.stores.base`). With every lexeme at the default weight D (0.1), ``ts_rank`` of
#: one word is 0.061 for one occurrence and tends to 0.1 for many; times 10, clamped to 1, the
#: relevance is 0.61 … 1 (a phrase or words far apart score lower).
_TEXT_SCORE = (
    "(ln(greatest(least(ts_rank(d.document, {tsq}) * 10.0, 1.0), 1e-9)) + date_part('epoch', d.created_at) * {k})"
)
_RECENCY_SCORE = "(date_part('epoch', d.created_at) * {k})"


def _tsquery(query: PostQuery) -> tuple[str, list]:
    """The tsquery expression of ``query``'s words and phrases, and its parameters."""
    parts, params = [], []
    if query.words:
        parts.append("plainto_tsquery('search_english'::regconfig, %s)")
        params.append(" ".join(query.words))
    for phrase in query.phrases:
        parts.append("phraseto_tsquery('search_english'::regconfig, %s)")
        params.append(" ".join(phrase))
    return "(" + " && ".join(parts) + ")", params


class PostgresSearchStore(SearchStore):
    """PostgreSQL full-text search (contract: :mod:`search.stores.base`)."""

    vendor = "postgresql"

    # --- schema ---------------------------------------------------------------------------------

    def install_schema(self, connection) -> None:
        with connection.cursor() as cursor:
            for name in EXTENSIONS:
                cursor.execute("SELECT 1 FROM pg_extension WHERE extname = %s", [name])
                if cursor.fetchone() is None:
                    try:
                        with transaction.atomic(using=connection.alias):
                            cursor.execute(f"CREATE EXTENSION IF NOT EXISTS {name}")
                    except Exception as exc:
                        raise SearchStoreError(
                            f"search needs the PostgreSQL extension {name!r} and could not create it "
                            f"({exc}); run 'CREATE EXTENSION {name};' in this database as its owner or a "
                            "superuser (on Debian it ships with postgresql-contrib / the server package)"
                        ) from exc
            cursor.execute(
                "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                "WHERE e.extname = 'unaccent'"
            )
            ext_schema = cursor.fetchone()[0]
            cursor.execute("SELECT regexp_replace('Ééñλ1', '[^[:alnum:]]', '', 'g'), current_setting('lc_ctype')")
            kept, ctype = cursor.fetchone()
            if kept != "Ééñλ1":
                raise SearchStoreError(
                    f"search needs a UTF-8 LC_CTYPE that knows non-ASCII letters, but this database's "
                    f"is {ctype!r} (regular expressions see 'é' as punctuation); create the database "
                    "with LC_CTYPE 'C.UTF-8' or 'en_US.UTF-8'"
                )
            cursor.execute("SELECT 1 FROM pg_ts_dict WHERE dictname = 'search_porter'")
            if cursor.fetchone() is None:
                cursor.execute("CREATE TEXT SEARCH DICTIONARY search_porter (TEMPLATE = snowball, LANGUAGE = porter)")
            cursor.execute("SELECT 1 FROM pg_ts_config WHERE cfgname = 'search_english'")
            if cursor.fetchone() is None:
                cursor.execute("CREATE TEXT SEARCH CONFIGURATION search_english (COPY = simple)")
                cursor.execute(
                    "ALTER TEXT SEARCH CONFIGURATION search_english ALTER MAPPING FOR asciiword, asciihword, "
                    "hword_asciipart WITH search_porter"
                )
                cursor.execute(
                    f"ALTER TEXT SEARCH CONFIGURATION search_english ALTER MAPPING FOR word, numword, hword, "
                    f"numhword, hword_part, hword_numpart WITH {ext_schema}.unaccent, search_porter"
                )
            cursor.execute(_FUNCTIONS.replace("{ext}", ext_schema))
            cursor.execute(_TABLES)
            cursor.execute(_TRIGGER_FUNCTIONS)
            for name, _table, clause in _TRIGGERS:
                cursor.execute(f"CREATE OR REPLACE TRIGGER {name} {clause} EXECUTE FUNCTION {name}()")

    def uninstall_schema(self, connection) -> None:
        with connection.cursor() as cursor:
            for name, table, _clause in _TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            for name in _TRIGGER_FUNCTION_NAMES:
                cursor.execute(f"DROP FUNCTION IF EXISTS {name}()")
            cursor.execute(
                "DROP TABLE IF EXISTS search_post_document, search_person, search_hashtag, search_hashtag_use"
            )
            cursor.execute("DROP FUNCTION IF EXISTS search_document(text)")
            cursor.execute("DROP FUNCTION IF EXISTS search_fold(text)")
            cursor.execute("DROP FUNCTION IF EXISTS search_words(text)")
            cursor.execute("DROP TEXT SEARCH CONFIGURATION IF EXISTS search_english")
            cursor.execute("DROP TEXT SEARCH DICTIONARY IF EXISTS search_porter")
            # The extensions stay: other schemas may use them, and dropping needs ownership.

    # --- posts ----------------------------------------------------------------------------------

    def search_posts(self, query, *, visible, hashtag_ids, mention_ids, limit, after=None):
        """See :meth:`SearchStore.search_posts`.

        Ranking every match of a common word (half the posts) costs a ``ts_rank`` per match,
        so the page is found in two steps that give exactly the full ranking's answer:

        1. the ``limit`` *newest* visible matches (after the cursor): an index scan of
           ``created_at`` that stops after ``limit`` rows for a common word, a GIN lookup
           for a rare one. Fewer than ``limit`` rows means these are all the matches.
        2. Otherwise their lowest score ``s`` bounds the page: relevance is at most 1, so a
           post's score is at most ``ln(2) * created_at / half-life``, and a post created
           before ``s / (ln(2) / half-life)`` cannot reach ``s``. Only matches newer than
           that are ranked (about two half-lives of matches for one word).

        A query of only hashtags and mentions ranks by time alone: step 1 is the answer.
        """
        using = visible.db
        self.check_connection(using)
        match, match_params = [], []
        if query.has_text:
            tsq, tsq_params = _tsquery(query)
            score, score_params = _TEXT_SCORE.format(tsq=tsq, k="%s"), [*tsq_params, RECENCY_PER_SECOND]
            match.append(f"d.document @@ {tsq}")
            match_params += tsq_params
        else:
            score, score_params = _RECENCY_SCORE.format(k="%s"), [RECENCY_PER_SECOND]
        for tag_id in hashtag_ids:
            match.append("EXISTS (SELECT 1 FROM posts_posthashtag t WHERE t.post_id = d.post_id AND t.hashtag_id = %s)")
            match_params.append(tag_id)
        for user_id in mention_ids:
            match.append("EXISTS (SELECT 1 FROM posts_postmention m WHERE m.post_id = d.post_id AND m.user_id = %s)")
            match_params.append(user_id)
        visible_sql, visible_params = visible.values("pk").query.get_compiler(using=using).as_sql()
        keyset, keyset_params = "", []
        if after is not None:
            keyset = " AND (ranked.score < %s OR (ranked.score = %s AND ranked.post_id < %s))"
            keyset_params = [after[0], after[0], after[1]]

        def ranked(window: str, window_params: list, order: str, presorted: bool) -> tuple[str, list]:
            # Visibility is checked per candidate (``LATERAL … LIMIT 1``: a primary-key probe of
            # posts_post) and the scan stops after ``limit`` pass, instead of a join with every
            # visible post. Step 1 leaves the order to the planner (an index scan of
            # ``created_at`` that stops early, or a GIN lookup and a sort); step 2 sorts the
            # window's candidates first, so only the best are probed.
            where = " AND ".join([*match, window] if window else match) or "TRUE"
            candidates = (f"SELECT d.post_id, d.created_at, {score} AS score "
                          f"FROM search_post_document d WHERE {where}")
            if presorted:
                candidates = f"SELECT ranked.* FROM ({candidates}) ranked WHERE TRUE{keyset} ORDER BY {order}"
                filters = ""
            else:
                filters = keyset.replace("ranked.", "c.")
            outer_order = order.replace("ranked.", "c.")
            sql = (
                f"SELECT c.post_id, c.score FROM ({candidates}) c "
                f"CROSS JOIN LATERAL (SELECT 1 FROM ({visible_sql}) v (id) WHERE v.id = c.post_id LIMIT 1) visible "
                f"WHERE TRUE{filters} ORDER BY {outer_order} LIMIT %s"
            )
            if presorted:
                params = [*score_params, *match_params, *window_params, *keyset_params, *visible_params, limit]
            else:
                params = [*score_params, *match_params, *window_params, *visible_params, *keyset_params, limit]
            return sql, params

        with connections[using].cursor() as cursor:
            cursor.execute(*ranked("", [], "ranked.created_at DESC, ranked.post_id DESC", presorted=False))
            newest = [Hit(int(post_id), float(score)) for post_id, score in cursor.fetchall()]
            if len(newest) < limit or not query.has_text:
                return sorted(newest, key=lambda hit: (-hit.score, -hit.id))
            # One second of margin against rounding of the bound to microseconds.
            oldest_useful = min(hit.score for hit in newest) / RECENCY_PER_SECOND - 1.0
            cursor.execute(*ranked("d.created_at >= to_timestamp(%s)", [oldest_useful],
                                   "ranked.score DESC, ranked.post_id DESC", presorted=True))
            return [Hit(int(post_id), float(score)) for post_id, score in cursor.fetchall()]

    # --- people ---------------------------------------------------------------------------------

    def search_people(self, key, *, visible, limit, after=None):
        using = visible.db
        self.check_connection(using)
        like = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        prefix, word_prefix = f"{like}%", f"% {like}%"
        visible_sql, visible_params = visible.values("pk").query.get_compiler(using=using).as_sql()
        is_prefix = "(s.username_key LIKE %s OR s.name_key LIKE %s OR s.name_key LIKE %s)"
        prefix_params = [prefix, prefix, word_prefix]
        # ``%%`` is pg_trgm's similarity operator (``%`` escaped for the driver): it uses the
        # trigram GIN indexes, with pg_trgm.similarity_threshold (default 0.3); the explicit
        # ``score >= threshold`` keeps the contract's threshold if the server's is lower.
        sql = (
            "SELECT ranked.user_id, ranked.score FROM ("
            " SELECT s.user_id, greatest(similarity(s.username_key, %s), similarity(s.name_key, %s))::float8"
            f"  + CASE WHEN {is_prefix} THEN 1.0 ELSE 0.0 END AS score"
            f" FROM search_person s WHERE s.username_key %% %s OR s.name_key %% %s OR {is_prefix}"
            f") ranked WHERE ranked.score >= %s AND ranked.user_id IN ({visible_sql})"
        )
        params = [key, key, *prefix_params, key, key, *prefix_params, SIMILARITY_THRESHOLD, *visible_params]
        if after is not None:
            sql += " AND (ranked.score < %s OR (ranked.score = %s AND ranked.user_id > %s))"
            params += [after[0], after[0], after[1]]
        sql += " ORDER BY ranked.score DESC, ranked.user_id ASC LIMIT %s"
        with connections[using].cursor() as cursor:
            cursor.execute(sql, [*params, limit])
            return [Hit(int(user_id), float(score)) for user_id, score in cursor.fetchall()]

    # --- hashtags -------------------------------------------------------------------------------

    def search_hashtags(self, prefix, *, using, limit, after=None):
        self.check_connection(using)
        params: list = [prefix, prefix + "\U0010ffff"]
        keyset = ""
        if after is not None:
            keyset = " AND (last.used < %s OR (last.used = %s AND h.name > %s))"
            params += [after[0], after[0], after[1]]
        sql = (
            "SELECT page.hashtag_id, page.name, page.used,"
            " (SELECT count(*) FROM search_hashtag_use u WHERE u.hashtag_id = page.hashtag_id) "
            "FROM (SELECT h.hashtag_id, h.name, last.used FROM search_hashtag h"
            " CROSS JOIN LATERAL (SELECT max(u.created_at) AS used FROM search_hashtag_use u"
            "   WHERE u.hashtag_id = h.hashtag_id) last"
            f" WHERE h.name >= %s AND h.name < %s AND last.used IS NOT NULL{keyset}"
            " ORDER BY last.used DESC, h.name ASC LIMIT %s) page "
            "ORDER BY page.used DESC, page.name ASC"
        )
        with connections[using].cursor() as cursor:
            cursor.execute(sql, [*params, limit])
            return [HashtagHit(int(i), name, int(count), used) for i, name, used, count in cursor.fetchall()]

    # --- maintenance ----------------------------------------------------------------------------

    def source_counts(self, *, using):
        with connections[using].cursor() as cursor:
            cursor.execute(
                "SELECT (SELECT count(*) FROM posts_post), (SELECT count(*) FROM accounts_user),"
                " (SELECT count(*) FROM posts_hashtag)"
            )
            posts, people, hashtags = cursor.fetchone()
        return {"posts": posts, "people": people, "hashtags": hashtags}

    def reindex(self, *, using, batch_size=1000, dry_run=False, on_progress=None):
        self.check_connection(using)
        started = time.perf_counter()
        result = ReindexResult()
        for part, step in (("posts", self._reindex_posts), ("people", self._reindex_people),
                           ("hashtags", self._reindex_hashtags)):
            result.add(part)
            for examined, written, removed in self._batches(using, part, step, batch_size, dry_run):
                result.add(part, examined=examined, written=written, removed=removed)
                if on_progress:
                    on_progress(part, examined)
        result.seconds = time.perf_counter() - started
        return result

    _SOURCE = {"posts": "posts_post", "people": "accounts_user", "hashtags": "posts_hashtag"}

    def _batches(self, using, part, step, batch_size, dry_run):
        """Run ``step`` over id ranges ``(low, high]`` of the part's source table, each in one
        transaction that share-locks the range's source rows, so a concurrent edit waits for
        the batch (or the batch waits for the edit and reads it): the trigger's write and the
        batch's can never interleave into a stale document."""
        table = self._SOURCE[part]
        connection = connections[using]
        low = 0
        while True:
            with transaction.atomic(using=using), connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT max(id), count(*) FROM (SELECT id FROM {table} WHERE id > %s ORDER BY id LIMIT %s"
                    " FOR SHARE) batch",
                    [low, batch_size],
                )
                high, examined = cursor.fetchone()
                last = high is None
                if last:
                    high = None
                written, removed = step(cursor, low, high, dry_run)
                if dry_run:
                    transaction.set_rollback(True, using=using)
            yield examined, written, removed
            if last:
                return
            low = high

    def _reindex_posts(self, cursor, low, high, dry_run):
        src, src_params = id_range("p.id", low, high)
        idx, idx_params = id_range("d.post_id", low, high)
        written = self._count_or_run(
            cursor, dry_run,
            count=(
                "SELECT count(*) FROM posts_post p LEFT JOIN search_post_document d ON d.post_id = p.id "
                f"WHERE {src} AND p.deleted_at IS NULL AND (d.post_id IS NULL OR d.created_at IS DISTINCT FROM "
                "p.created_at OR d.document IS DISTINCT FROM search_document(p.content))"
            ),
            run=(
                "INSERT INTO search_post_document AS d (post_id, created_at, document) "
                f"SELECT p.id, p.created_at, search_document(p.content) FROM posts_post p WHERE {src} "
                "AND p.deleted_at IS NULL ON CONFLICT (post_id) DO UPDATE SET created_at = EXCLUDED.created_at,"
                " document = EXCLUDED.document WHERE d.created_at IS DISTINCT FROM EXCLUDED.created_at"
                " OR d.document IS DISTINCT FROM EXCLUDED.document"
            ),
            params=src_params,
        )
        removed = self._count_or_run(
            cursor, dry_run,
            count=f"SELECT count(*) FROM search_post_document d WHERE {idx} AND NOT EXISTS ("
                  "SELECT 1 FROM posts_post p WHERE p.id = d.post_id AND p.deleted_at IS NULL)",
            run=f"DELETE FROM search_post_document d WHERE {idx} AND NOT EXISTS ("
                "SELECT 1 FROM posts_post p WHERE p.id = d.post_id AND p.deleted_at IS NULL)",
            params=idx_params,
        )
        # The public hashtag uses of the same posts: stale ones (no public link any more, or
        # another time) are removed first, then the missing ones written, so a use whose time
        # was wrong counts once in each, as in the SQLite store.
        use, use_params = id_range("u.post_id", low, high)
        stale_use = (
            f"{use} AND NOT EXISTS (SELECT 1 FROM posts_posthashtag l JOIN posts_post p ON p.id = l.post_id "
            f"WHERE l.hashtag_id = u.hashtag_id AND l.post_id = u.post_id AND {_PUBLIC_USE_P} "
            "AND p.created_at = u.created_at)"
        )
        missing_use = (
            f"FROM posts_posthashtag l JOIN posts_post p ON p.id = l.post_id WHERE {src} AND {_PUBLIC_USE_P} "
            "AND NOT EXISTS (SELECT 1 FROM search_hashtag_use u WHERE u.hashtag_id = l.hashtag_id "
            "AND u.post_id = l.post_id AND u.created_at = p.created_at)"
        )
        removed += self._count_or_run(
            cursor, dry_run,
            count=f"SELECT count(*) FROM search_hashtag_use u WHERE {stale_use}",
            run=f"DELETE FROM search_hashtag_use u WHERE {stale_use}",
            params=use_params,
        )
        written += self._count_or_run(
            cursor, dry_run,
            count=f"SELECT count(*) {missing_use}",
            run=f"INSERT INTO search_hashtag_use (hashtag_id, post_id, created_at) "
                f"SELECT l.hashtag_id, l.post_id, p.created_at {missing_use}",
            params=src_params,
        )
        return written, removed

    def _reindex_people(self, cursor, low, high, dry_run):
        src, src_params = id_range("a.id", low, high)
        idx, idx_params = id_range("s.user_id", low, high)
        written = self._count_or_run(
            cursor, dry_run,
            count=(
                "SELECT count(*) FROM accounts_user a LEFT JOIN search_person s ON s.user_id = a.id "
                f"WHERE {src} AND (s.user_id IS NULL OR s.username_key IS DISTINCT FROM search_fold(a.username) "
                "OR s.name_key IS DISTINCT FROM search_fold(a.display_name))"
            ),
            run=(
                "INSERT INTO search_person AS s (user_id, username_key, name_key) "
                f"SELECT a.id, search_fold(a.username), search_fold(a.display_name) FROM accounts_user a WHERE {src} "
                "ON CONFLICT (user_id) DO UPDATE SET username_key = EXCLUDED.username_key, name_key = EXCLUDED.name_key "
                "WHERE s.username_key IS DISTINCT FROM EXCLUDED.username_key OR s.name_key IS DISTINCT FROM EXCLUDED.name_key"
            ),
            params=src_params,
        )
        orphan = f"{idx} AND NOT EXISTS (SELECT 1 FROM accounts_user a WHERE a.id = s.user_id)"
        removed = self._count_or_run(
            cursor, dry_run,
            count=f"SELECT count(*) FROM search_person s WHERE {orphan}",
            run=f"DELETE FROM search_person s WHERE {orphan}",
            params=idx_params,
        )
        return written, removed

    def _reindex_hashtags(self, cursor, low, high, dry_run):
        src, src_params = id_range("t.id", low, high)
        idx, idx_params = id_range("h.hashtag_id", low, high)
        written = self._count_or_run(
            cursor, dry_run,
            count=(
                "SELECT count(*) FROM posts_hashtag t LEFT JOIN search_hashtag h ON h.hashtag_id = t.id "
                f"WHERE {src} AND (h.hashtag_id IS NULL OR h.name IS DISTINCT FROM t.name)"
            ),
            run=(
                "INSERT INTO search_hashtag AS h (hashtag_id, name) "
                f"SELECT t.id, t.name FROM posts_hashtag t WHERE {src} "
                "ON CONFLICT (hashtag_id) DO UPDATE SET name = EXCLUDED.name WHERE h.name IS DISTINCT FROM EXCLUDED.name"
            ),
            params=src_params,
        )
        orphan = f"{idx} AND NOT EXISTS (SELECT 1 FROM posts_hashtag t WHERE t.id = h.hashtag_id)"
        removed = self._count_or_run(
            cursor, dry_run,
            count=f"SELECT count(*) FROM search_hashtag h WHERE {orphan}",
            run=f"DELETE FROM search_hashtag h WHERE {orphan}",
            params=idx_params,
        )
        return written, removed

    @staticmethod
    def _count_or_run(cursor, dry_run: bool, *, count: str, run: str, params: list) -> int:
        if dry_run:
            cursor.execute(count, params)
            return int(cursor.fetchone()[0])
        cursor.execute(run, params)
        return cursor.rowcount
