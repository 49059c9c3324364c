"""Importers of the real datasets in ``../shared/datasets/`` (issue 11, "Real data, end to end").

The three datasets use independent id spaces; they are joined onto the ego-Facebook users
(``fb<node>``, created by ``manage.py graph_import_edges``) by the deterministic mappings below.
Nothing here copies the data into the repository: files are read in place from
:func:`datasets_dir` (``$BELLAMY_DATASETS_DIR``, default ``<repo>/../shared/datasets``).

Mappings (also in README.md, "Operations"):

* **ego-Facebook** ``facebook_combined.txt`` — node ``n`` → user ``fb<n>``, edge → friendship
  (``graph_import_edges``, reused as is).
* **Tweets** ``posts/pfizer_vaccine_tweets.csv.gz`` → posts (:func:`import_tweets`):

  - author: ``node = int(sha256(author_id).hexdigest(), 16) % 4039`` → user ``fb<node>``
    (6,095 dataset authors land on 3,139 of the 4,039 users; several authors may share a user);
  - ``created_at`` kept; ``content`` = ``text`` trimmed and truncated to 5,000 characters;
    visibility ``public``;
  - hashtags: the ``hashtags`` column (not the text, which is often truncated), each
    normalised with :func:`posts.parsing.normalize_hashtag`; a tag that is not a valid
    Bellamy hashtag (``#COVID-19``: ``extract_hashtags("#" + tag) != [normalised tag]``) is
    skipped; duplicates after normalisation count once; linked through ``PostHashtag``;
  - likes: ``favorites`` spread over the author's friends (PostgreSQL friendships): the first
    ``min(favorites, friend count)`` friends ordered by ``sha256(f"{post_id}:{friend username}")``
    (the dataset ``post_id``, e.g. ``p_5575b00e8322``, and e.g. ``fb42``), each liking at the
    post's ``created_at``; ``Post.like_count`` is then recounted from the ``Like`` rows;
  - idempotency: ``posts/models.py`` has no external-id field (and is not ours to change), so a
    dataset row is identified by ``(author user, created_at, content)`` — unique in the file
    (checked: 9,214 distinct keys). A second run creates nothing.
* **CollegeMsg** ``interactions/CollegeMsg.txt.gz`` → interaction weights
  (:func:`import_interactions`): user ``u`` (1..1,899) → node ``(u * 2654435761) % 4039``
  (Knuth's multiplicative hash; 2654435761 mod 4039 = 922 is coprime with 4039, so the map is
  injective on 1..1,899) → user ``fb<node>``. Each message adds ``MESSAGE_WEIGHT`` (= a
  comment's weight) to the directed pair sender → recipient; per pair the messages are summed
  with the store's half-life decay **evaluated as of the newest message of the file**, and the
  result is written with ``bulk_set_weights`` **stamped at import time**. That is a time shift:
  messages of April–October 2004 read at today's date would decay to exactly 0 (half-life 14
  days), so the network's *shape* is kept and its age dropped. The PostgreSQL-derived weight of
  the same pair (likes, comments, mentions, as ``graph_backfill`` computes it) is added, so the
  import composes with the projection and a second run writes the same values.

Bulk load, then backfills — not live events: replaying 9k historic posts and 76k likes as
``post.created`` / ``post.liked`` would send ~400k "friend posted" / "liked your post"
notifications about 2021 and recompute, one event at a time, exactly what the backfills
compute in bulk (scores, trend buckets, weights). ``demo_run`` therefore bulk-loads, runs the
backfills, and sends only its newest ``--live-posts`` tweets through the services
(:func:`import_tweets_live`) so the event pipeline is exercised end to end.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from graph.models import Friendship
from graph.stores import get_graph_store
from graph.stores.base import half_life_seconds
from graph.weights import COMMENT_WEIGHT, interaction_sources
from posts.models import POST_MAX_LENGTH, Hashtag, Like, Post, PostHashtag
from posts.parsing import extract_hashtags, normalize_hashtag

#: Environment variable overriding the datasets directory.
DATASETS_ENV = "BELLAMY_DATASETS_DIR"
#: Files inside the datasets directory.
EDGES_FILE = "ego_facebook/facebook_combined.txt"
TWEETS_FILE = "posts/pfizer_vaccine_tweets.csv.gz"
MESSAGES_FILE = "interactions/CollegeMsg.txt.gz"
#: Nodes of ego-Facebook (ids 0..4038): the modulus of both mappings.
EGO_NODES = 4039
#: Username prefix of the ego-Facebook users (as ``graph_import_edges`` creates them).
USERNAME_PREFIX = "fb"
#: Knuth's multiplicative hashing constant (CollegeMsg user → ego-Facebook node).
KNUTH = 2654435761
#: Weight one CollegeMsg message adds to sender → recipient (a private message ~ a comment).
MESSAGE_WEIGHT = COMMENT_WEIGHT


class DatasetError(ValueError):
    """A dataset file is missing or malformed, or its users are not imported yet."""


def datasets_dir() -> Path:
    """The datasets directory: ``$BELLAMY_DATASETS_DIR`` or ``<repo>/../shared/datasets``."""
    override = os.environ.get(DATASETS_ENV)
    return Path(override) if override else settings.BASE_DIR.parent / "shared" / "datasets"


def dataset_path(relative: str) -> Path:
    """``datasets_dir() / relative``.

    Raises:
        DatasetError: the file does not exist.
    """
    path = datasets_dir() / relative
    if not path.is_file():
        raise DatasetError(f"dataset file {path} not found (set {DATASETS_ENV} to the datasets directory)")
    return path


def chunks(items: list, size: int) -> Iterator[list]:
    """Consecutive slices of ``items`` of length ``size``."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


# --- mappings ---------------------------------------------------------------------------------


def author_node(author_id: str) -> int:
    """The ego-Facebook node of a tweet author: ``int(sha256(author_id), 16) % 4039``."""
    return int(hashlib.sha256(author_id.encode("utf-8")).hexdigest(), 16) % EGO_NODES


def node_username(node: int) -> str:
    """``fb<node>``: the username ``graph_import_edges`` gives ego-Facebook node ``node``."""
    return f"{USERNAME_PREFIX}{node}"


def message_node(user: int) -> int:
    """The ego-Facebook node of CollegeMsg user ``user``: ``(user * 2654435761) % 4039``."""
    return (user * KNUTH) % EGO_NODES


def liker_order_key(post_id: str, username: str) -> str:
    """Sort key of a friend among a post's potential likers: ``sha256(f"{post_id}:{username}")``."""
    return hashlib.sha256(f"{post_id}:{username}".encode()).hexdigest()


def choose_likers(post_id: str, friend_usernames: Iterable[str], favorites: int) -> list[str]:
    """The usernames that like dataset post ``post_id``: the first ``min(favorites, friends)``
    friends in :func:`liker_order_key` order (deterministic, independent of database ids)."""
    ordered = sorted(friend_usernames, key=lambda name: liker_order_key(post_id, name))
    return ordered[:max(0, favorites)]


# --- tweets -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TweetRow:
    """One parsed dataset row: ids, time, content and normalised hashtags, favourite count."""

    post_id: str
    author_id: str
    created_at: datetime
    content: str
    hashtags: tuple[str, ...]
    favorites: int

    @property
    def username(self) -> str:
        """The mapped author's username (``fb<node>``)."""
        return node_username(author_node(self.author_id))


def tweet_hashtags(raw: str) -> tuple[str, ...]:
    """The valid, normalised hashtags of a ``hashtags`` cell (a JSON array), first-seen order.

    A tag is kept when it is exactly one Bellamy hashtag: ``extract_hashtags("#" + tag) ==
    [normalize_hashtag(tag)]`` (so ``COVID-19`` or ``123`` are skipped).
    """
    try:
        tags = json.loads(raw or "[]")
    except ValueError:
        return ()
    kept: list[str] = []
    for tag in tags if isinstance(tags, list) else []:
        if not isinstance(tag, str):
            continue
        name = normalize_hashtag(tag)
        if extract_hashtags("#" + tag) == [name] and name not in kept:
            kept.append(name)
    return tuple(kept)


def tweet_content(text: str) -> str:
    """Post content of a tweet: trimmed, at most :data:`posts.models.POST_MAX_LENGTH` characters."""
    return text.strip()[:POST_MAX_LENGTH].strip()


def parse_time(raw: str) -> datetime:
    """``YYYY-MM-DDTHH:MM:SSZ`` → aware UTC datetime."""
    return datetime.strptime(raw, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def read_tweets(path: Path, *, limit: int | None = None) -> list[TweetRow]:
    """Parse the tweet CSV (gzip, header row, RFC 4180 quoting), in file order (oldest first).

    Args:
        limit: only the first ``limit`` rows.
    Raises:
        DatasetError: unreadable file or a row with a bad time / favourite count.
    """
    rows: list[TweetRow] = []
    try:
        with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
            for number, row in enumerate(csv.DictReader(handle), start=2):
                if limit is not None and len(rows) >= limit:
                    break
                try:
                    rows.append(TweetRow(
                        post_id=row["post_id"], author_id=row["author_id"],
                        created_at=parse_time(row["created_at"]), content=tweet_content(row["text"]),
                        hashtags=tweet_hashtags(row["hashtags"]), favorites=int(row["favorites"] or 0),
                    ))
                except (KeyError, ValueError) as exc:
                    raise DatasetError(f"{path.name} record {number}: {exc}") from None
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc
    return [row for row in rows if row.content]


@dataclass
class TweetImportResult:
    """Counts of one tweets import: rows read, posts created / already there, hashtag links
    and likes created, distinct author users, seconds."""

    rows: int = 0
    posts_created: int = 0
    posts_existing: int = 0
    hashtag_links: int = 0
    likes_created: int = 0
    authors: int = 0
    seconds: float = 0.0

    def summary(self, *, dry_run: bool = False, live: bool = False) -> str:
        """One summary line."""
        verb = "would import" if dry_run else ("imported live" if live else "imported")
        return (f"{verb} {self.rows} tweets by {self.authors} users: {self.posts_created} posts created, "
                f"{self.posts_existing} already there, {self.hashtag_links} hashtag links, "
                f"{self.likes_created} likes in {self.seconds:.1f} s")


class _Context:
    """Users, friends and existing-post keys the tweet importers need (a few bulk queries)."""

    def __init__(self, rows: list[TweetRow]):
        User = get_user_model()
        names = sorted({row.username for row in rows})
        self.user_ids: dict[str, int] = {}
        for batch in chunks(names, 5000):
            self.user_ids.update(User.objects.filter(username__in=batch).values_list("username", "id"))
        missing = [name for name in names if name not in self.user_ids]
        if missing:
            raise DatasetError(
                f"{len(missing)} mapped author users do not exist (e.g. {missing[0]!r}); import "
                f"ego-Facebook first: manage.py graph_import_edges {EDGES_FILE}"
            )
        author_ids = sorted(set(self.user_ids.values()))
        friends: dict[int, set[int]] = defaultdict(set)
        wanted = set(author_ids)
        for batch in chunks(author_ids, 5000):
            pairs = Friendship.objects.filter(Q(user_low_id__in=batch) | Q(user_high_id__in=batch))
            for low, high in pairs.values_list("user_low_id", "user_high_id"):
                if low in wanted:
                    friends[low].add(high)
                if high in wanted:
                    friends[high].add(low)
        friend_ids = sorted({f for group in friends.values() for f in group})
        self.usernames: dict[int, str] = {}
        for batch in chunks(friend_ids, 5000):
            self.usernames.update(User.objects.filter(id__in=batch).values_list("id", "username"))
        self.friends = friends
        self.existing: set[tuple[int, datetime, str]] = set()
        for batch in chunks(author_ids, 2000):
            for author, created, content in Post.objects.filter(author_id__in=batch).values_list(
                "author_id", "created_at", "content"
            ):
                self.existing.add((author, created.astimezone(UTC), content))

    def key(self, row: TweetRow) -> tuple[int, datetime, str]:
        return (self.user_ids[row.username], row.created_at, row.content)

    def liker_ids(self, row: TweetRow) -> list[int]:
        author = self.user_ids[row.username]
        by_name = {self.usernames[f]: f for f in self.friends.get(author, ()) if f in self.usernames}
        return [by_name[name] for name in choose_likers(row.post_id, by_name, row.favorites)]


def _link_hashtags(posts_and_tags: list[tuple[Post, tuple[str, ...]]]) -> int:
    names = sorted({name for _post, tags in posts_and_tags for name in tags})
    if not names:
        return 0
    Hashtag.objects.bulk_create([Hashtag(name=name) for name in names], ignore_conflicts=True)
    ids = dict(Hashtag.objects.filter(name__in=names).values_list("name", "id"))
    links = [PostHashtag(post=post, hashtag_id=ids[name], created_at=post.created_at)
             for post, tags in posts_and_tags for name in tags]
    PostHashtag.objects.bulk_create(links, ignore_conflicts=True)
    return len(links)


def recount_likes(post_ids: list[int]) -> None:
    """Set ``Post.like_count`` of ``post_ids`` to their number of ``Like`` rows (one UPDATE)."""
    likes = (Like.objects.filter(post=OuterRef("pk")).order_by().values("post")
             .annotate(n=Count("id")).values("n"))
    Post.objects.filter(pk__in=post_ids).update(
        like_count=Coalesce(Subquery(likes, output_field=IntegerField()), Value(0))
    )


def import_tweets(rows: list[TweetRow], *, batch_size: int = 1000, dry_run: bool = False,
                  on_batch: Callable[[int], None] | None = None) -> TweetImportResult:
    """Bulk-load tweets as posts with hashtags and likes (no events; see the module docstring).

    One transaction per batch (``bulk_create`` of posts, hashtags, links, likes, then the
    like counters recounted), so an interrupted import resumes where it stopped.

    Args:
        rows: parsed rows (:func:`read_tweets`).
        batch_size: rows per transaction.
        dry_run: count what would be created; write nothing.
        on_batch: called with the number of rows of each finished batch (progress bar).
    Returns:
        :class:`TweetImportResult`.
    Raises:
        DatasetError: a mapped author user does not exist (ego-Facebook not imported).
    """
    started = time.perf_counter()
    context = _Context(rows)
    result = TweetImportResult(rows=len(rows), authors=len({row.username for row in rows}))
    for batch in chunks(rows, batch_size):
        fresh: list[TweetRow] = []
        for row in batch:
            key = context.key(row)
            if key in context.existing:
                result.posts_existing += 1
            else:
                context.existing.add(key)
                fresh.append(row)
        result.posts_created += len(fresh)
        result.hashtag_links += sum(len(row.hashtags) for row in fresh)
        likers = [context.liker_ids(row) for row in fresh]
        result.likes_created += sum(len(ids) for ids in likers)
        if not dry_run and fresh:
            with transaction.atomic():
                posts = Post.objects.bulk_create([
                    Post(author_id=context.user_ids[row.username], content=row.content,
                         visibility=Post.Visibility.PUBLIC, created_at=row.created_at)
                    for row in fresh
                ])
                _link_hashtags([(post, row.hashtags) for post, row in zip(posts, fresh, strict=True)])
                Like.objects.bulk_create(
                    [Like(post=post, user_id=uid, created_at=post.created_at)
                     for post, ids in zip(posts, likers, strict=True) for uid in ids],
                    ignore_conflicts=True, batch_size=5000,
                )
                recount_likes([post.pk for post in posts])
        if on_batch:
            on_batch(len(batch))
    result.seconds = time.perf_counter() - started
    return result


def import_tweets_live(rows: list[TweetRow], *, on_row: Callable[[int], None] | None = None) -> TweetImportResult:
    """Import tweets through the services, as users would write them: ``post_create`` then
    ``post_like`` per chosen friend, each publishing its events (``post.created``,
    ``post.liked``) into the outbox, relayed on commit to the bus.

    The post is created now and, in the same transaction, backdated to the tweet's
    ``created_at`` — the row and the ``post.created`` outbox payload's ``created_at`` — so the
    workers file it in its original hour. Its hashtags are those ``post_create`` parses from
    the text (the live path), not the dataset column. Likes happen now (live). Idempotent like
    :func:`import_tweets` (``(author, created_at, content)``).

    Returns:
        :class:`TweetImportResult` (``hashtag_links`` as linked by ``post_create``).
    """
    from bellamy.events.models import OutboxEvent
    from posts.services import post_create, post_like

    started = time.perf_counter()
    context = _Context(rows)
    User = get_user_model()
    result = TweetImportResult(rows=len(rows), authors=len({row.username for row in rows}))
    users: dict[int, object] = {}

    def user(uid: int):
        if uid not in users:
            users[uid] = User.objects.get(pk=uid)
        return users[uid]

    for row in rows:
        key = context.key(row)
        if key in context.existing:
            result.posts_existing += 1
        else:
            context.existing.add(key)
            with transaction.atomic():
                post = post_create(author=user(key[0]), content=row.content, visibility=Post.Visibility.PUBLIC)
                Post.objects.filter(pk=post.pk).update(created_at=row.created_at)
                PostHashtag.objects.filter(post=post).update(created_at=row.created_at)
                post.created_at = row.created_at
                for event in OutboxEvent.objects.filter(
                    type="post.created", sent_at__isnull=True, payload__data__post_id=post.pk
                ):
                    event.payload["data"]["created_at"] = row.created_at.isoformat().replace("+00:00", "Z")
                    event.save(update_fields=["payload"])
            result.posts_created += 1
            result.hashtag_links += PostHashtag.objects.filter(post=post).count()
            for uid in context.liker_ids(row):
                _like, created = post_like(post=post, user=user(uid))
                result.likes_created += int(created)
        if on_row:
            on_row(1)
    result.seconds = time.perf_counter() - started
    return result


# --- CollegeMsg -------------------------------------------------------------------------------


def read_messages(path: Path, *, limit: int | None = None) -> list[tuple[int, int, int]]:
    """Parse CollegeMsg (gzip text, ``src dst unix_ts`` per line), file order.

    Args:
        limit: only the first ``limit`` messages.
    Raises:
        DatasetError: unreadable file or a malformed line.
    """
    messages: list[tuple[int, int, int]] = []
    try:
        with gzip.open(path, "rb") as raw, io.TextIOWrapper(raw, encoding="ascii") as handle:
            for number, line in enumerate(handle, start=1):
                if limit is not None and len(messages) >= limit:
                    break
                parts = line.split()
                if not parts or parts[0].startswith("#"):
                    continue
                try:
                    src, dst, ts = (int(p) for p in parts[:3])
                except ValueError:
                    raise DatasetError(f"{path.name}:{number}: expected 'src dst unix_ts', got {line!r}") from None
                messages.append((src, dst, ts))
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc
    return messages


def message_weights(messages: list[tuple[int, int, int]], *,
                    half_life: float) -> tuple[dict[tuple[int, int], float], int]:
    """Aggregate messages per directed node pair (mapped with :func:`message_node`).

    Returns:
        ``({(src node, dst node): sum of MESSAGE_WEIGHT * 0.5 ** ((newest - ts) / half_life)},
        newest unix ts)``; pairs that map onto one node are dropped.
    """
    if not messages:
        return {}, 0
    newest = max(ts for _s, _d, ts in messages)
    weights: dict[tuple[int, int], float] = defaultdict(float)
    for src, dst, ts in messages:
        a, b = message_node(src), message_node(dst)
        if a != b:
            weights[(a, b)] += MESSAGE_WEIGHT * 0.5 ** ((newest - ts) / half_life)
    return dict(weights), newest


def pg_interaction_weights(*, now: datetime, pairs: set[tuple[int, int]] | None = None) -> dict[tuple[int, int], float]:
    """The weights PostgreSQL's interactions give at ``now`` — exactly ``graph_backfill``'s
    computation (:func:`graph.weights.interaction_sources`: likes, comments, mentions, decayed).

    Args:
        pairs: keep only these ``(from user id, to user id)`` pairs (``None``: all).
    """
    half_life = half_life_seconds()
    weights: dict[tuple[int, int], float] = defaultdict(float)
    for _name, queryset, fields, amount in interaction_sources():
        for from_id, to_id, at in queryset.order_by().values_list(*fields).iterator(chunk_size=5000):
            if from_id == to_id or (pairs is not None and (from_id, to_id) not in pairs):
                continue
            weights[(from_id, to_id)] += amount * 0.5 ** (max(0.0, (now - at).total_seconds()) / half_life)
    return dict(weights)


@dataclass
class InteractionImportResult:
    """Counts of one CollegeMsg import: messages read, distinct users, directed pairs written,
    pairs dropped (both ends on one node), the newest message time, the largest weight."""

    messages: int = 0
    users: int = 0
    pairs: int = 0
    self_pairs: int = 0
    newest: datetime | None = None
    max_weight: float = 0.0
    seconds: float = 0.0

    def summary(self, *, dry_run: bool = False) -> str:
        """One summary line."""
        newest = self.newest.isoformat() if self.newest else "-"
        return (f"{'would write' if dry_run else 'wrote'} {self.pairs} interaction weights from "
                f"{self.messages} messages of {self.users} users (decayed as of {newest}, stamped now; "
                f"max weight {self.max_weight:.3f}) in {self.seconds:.1f} s")


def import_interactions(messages: list[tuple[int, int, int]], *, now: datetime | None = None,
                        batch_size: int = 5000, dry_run: bool = False,
                        on_batch: Callable[[int], None] | None = None) -> InteractionImportResult:
    """Write CollegeMsg messages as interaction weights of the configured graph store.

    Weight of a pair = decayed message sum as of the newest message (:func:`message_weights`)
    + the pair's PostgreSQL-derived weight at ``now`` (:func:`pg_interaction_weights`),
    written with ``bulk_set_weights`` at ``now``. Idempotent: a second run writes the same
    values.

    Raises:
        DatasetError: a mapped user ``fb<node>`` does not exist (ego-Facebook not imported).
    """
    started = time.perf_counter()
    now = now or timezone.now()
    by_node, newest = message_weights(messages, half_life=half_life_seconds())
    result = InteractionImportResult(
        messages=len(messages), users=len({u for s, d, _t in messages for u in (s, d)}),
        self_pairs=len({(s, d) for s, d, _t in messages if message_node(s) == message_node(d)}),
        newest=datetime.fromtimestamp(newest, UTC) if messages else None,
    )
    nodes = sorted({n for pair in by_node for n in pair})
    names = [node_username(n) for n in nodes]
    ids = dict(get_user_model().objects.filter(username__in=names).values_list("username", "id"))
    missing = [name for name in names if name not in ids]
    if missing:
        raise DatasetError(f"{len(missing)} mapped users do not exist (e.g. {missing[0]!r}); "
                           f"import ego-Facebook first: manage.py graph_import_edges {EDGES_FILE}")
    weights = {(ids[node_username(a)], ids[node_username(b)]): w for (a, b), w in by_node.items()}
    base = pg_interaction_weights(now=now, pairs=set(weights))
    rows = [(f, t, w + base.get((f, t), 0.0), now) for (f, t), w in sorted(weights.items())]
    result.pairs = len(rows)
    result.max_weight = max((w for _f, _t, w, _a in rows), default=0.0)
    store = get_graph_store()
    for batch in chunks(rows, batch_size):
        if not dry_run:
            store.bulk_set_weights(batch)
        if on_batch:
            on_batch(len(batch))
    result.seconds = time.perf_counter() - started
    return result


# --- graph projection (scoped) ----------------------------------------------------------------


def graph_projection_rebuild(*, batch_size: int = 5000, on_step: Callable[[str], None] | None = None) -> dict[str, int]:
    """Rebuild the graph store's projection of **this deployment**: friend edges from
    PostgreSQL and the interaction weights of :func:`pg_interaction_weights`.

    The store is cleared first; that is scoped to this deployment on both backends (the ORM
    store's tables live in this database; the Neo4j store clears only its namespace, the demo's
    ``BELLAMY_NAMESPACE``), so a stack or a test run sharing the Neo4j
    server keeps its graph — the demo once reported 88,235 friendships against the dataset's
    88,234 because another deployment's edge leaked in.

    Returns:
        ``{"users", "friendships", "weights"}`` written.
    """
    store = get_graph_store()
    now = timezone.now()
    users = get_user_model().objects.count()
    store.clear(force=True)
    if on_step:
        on_step(f"cleared the projection ({users} users in this database)")
    pairs = list(Friendship.objects.order_by("id").values_list("user_low_id", "user_high_id"))
    for batch in chunks(pairs, batch_size):
        store.bulk_add_friendships(batch)
    weights = pg_interaction_weights(now=now)
    rows = [(f, t, w, now) for (f, t), w in sorted(weights.items())]
    for batch in chunks(rows, batch_size):
        store.bulk_set_weights(batch)
    return {"users": users, "friendships": len(pairs), "weights": len(rows)}
