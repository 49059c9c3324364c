"""Writes of the ``posts`` domain: posts, likes, comments, reports.

Every service runs in one ``transaction.atomic()`` and publishes its events through the outbox
(:func:`bellamy.events.services.publish`) after the write, in the same transaction, so a
rolled-back write publishes nothing. Post events are keyed by the post author's id, so one
author's events stay ordered.

Callers (views, admin actions, tasks) check *visibility* first with :mod:`posts.selectors`
(an invisible post is a 404); the services check *authorship* and raise
:class:`rest_framework.exceptions.APIException` subclasses carrying the API status and
machine ``code``, so views let them propagate.

Counters (``Post.like_count``, ``Post.comment_count``) change only here, with ``F()``
expressions, in the transaction that adds or removes the like or comment.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.contrib.auth import get_user_model
from django.db import IntegrityError, connections, models, router, transaction
from django.db.models import Count, Exists, F, OuterRef, Subquery
from django.db.models.functions import Coalesce, Lower
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import APIException, PermissionDenied

from bellamy.events.services import publish
from posts.models import Comment, Hashtag, Like, Post, PostHashtag, PostMention, Report
from posts.parsing import extract_hashtags, extract_mentions


class AlreadyReported(APIException):
    """409: the reporter already has an open report of this post."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "You have already reported this post; moderators will review it."
    default_code = "already_reported"


class CannotReportOwnPost(APIException):
    """400: a user tried to report their own post."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "You cannot report your own post."
    default_code = "own_post"


class AccountInactive(APIException):
    """403: the writer's account went inactive (deactivated, suspended, erased) while the write
    was in flight; nothing was written."""

    status_code = status.HTTP_403_FORBIDDEN
    default_detail = "This account is no longer active."
    default_code = "account_inactive"


def _active_writer(user_id: int) -> Exists:
    """``EXISTS (the active account user_id)``, folded into the counter update of a like or a
    comment (no extra statement), after its row referencing the user was inserted: the
    insert's foreign-key lock waits for an erasure or deactivation holding the user row
    (``SELECT … FOR UPDATE``), so this reads the account's committed state, and a like or
    comment racing the account's end rolls back instead of leaving another user's post with a
    count the erasure's handlers already recounted (README "Account lifecycle"). A post racing
    it needs no such check: nobody sees a post of an inactive author, and the completion of the
    erasure deletes it with the account's row."""
    return Exists(get_user_model().objects.filter(pk=user_id, is_active=True))


def rfc3339(moment: datetime) -> str:
    """Return ``moment`` as an RFC 3339 UTC string ending in ``Z`` (as the API renders it)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def resolve_mentions(names: Iterable[str]) -> list[int]:
    """Return the ids of the existing, active users named in ``names`` (case-insensitive),
    in the order of ``names``; unknown and suspended names are dropped. One query."""
    names = [name.lower() for name in names]
    if not names:
        return []
    found = dict(
        get_user_model()
        .objects.annotate(username_lower=Lower("username"))
        .filter(username_lower__in=names, is_active=True)
        .values_list("username_lower", "id")
    )
    return [found[name] for name in names if name in found]


#: PostgreSQL: create the missing hashtags and link all of them to the post, in text order,
#: in one statement. ``ON CONFLICT DO NOTHING`` (not ``DO UPDATE``) so that posts sharing a
#: popular hashtag never lock its row; existing tags come from the statement's snapshot.
_LINK_HASHTAGS_SQL = """
WITH names AS (
    SELECT name, ord FROM unnest(%(names)s::varchar[]) WITH ORDINALITY AS t(name, ord)
), created AS (
    INSERT INTO posts_hashtag (name) SELECT name FROM names ORDER BY ord
    ON CONFLICT (name) DO NOTHING RETURNING id, name
), tags AS (
    SELECT id, name FROM created
    UNION ALL SELECT posts_hashtag.id, posts_hashtag.name FROM posts_hashtag JOIN names USING (name)
)
INSERT INTO posts_posthashtag (post_id, hashtag_id, created_at)
SELECT %(post_id)s, tags.id, %(created_at)s FROM names JOIN tags USING (name) ORDER BY names.ord
ON CONFLICT (post_id, hashtag_id) DO NOTHING
"""

#: PostgreSQL: resolve ``@names`` to active users, link them to the post in text order, and
#: return the users (for the API's ``mentions``), in one statement.
_LINK_MENTIONS_SQL = """
WITH names AS (
    SELECT name, ord FROM unnest(%(names)s::text[]) WITH ORDINALITY AS t(name, ord)
), found AS (
    SELECT accounts_user.id, names.ord FROM names
    JOIN accounts_user ON lower(accounts_user.username) = names.name AND accounts_user.is_active
), links AS (
    INSERT INTO posts_postmention (post_id, user_id) SELECT %(post_id)s, id FROM found ORDER BY ord
)
SELECT accounts_user.* FROM found JOIN accounts_user USING (id) ORDER BY found.ord
"""


def _link_hashtags(post: Post, names: list[str]) -> None:
    """Create the missing ``Hashtag`` rows and link ``names`` to ``post`` in text order.

    One statement on PostgreSQL (two on SQLite, which has no data-modifying ``WITH``).
    """
    if not names:
        return
    connection = connections[router.db_for_write(PostHashtag, instance=post)]
    if connection.vendor == "postgresql":
        params = {"names": names, "post_id": post.pk, "created_at": post.created_at}
        with connection.cursor() as cursor:
            cursor.execute(_LINK_HASHTAGS_SQL, params)
            if cursor.rowcount == len(names):
                return
            # A concurrent transaction created one of the tags after this statement's
            # snapshot: it was neither inserted nor seen. Once more, with a new snapshot
            # (links already made are skipped).
            cursor.execute(_LINK_HASHTAGS_SQL, params)
        return
    tags = Hashtag.objects.bulk_create(
        [Hashtag(name=name) for name in names], update_conflicts=True, unique_fields=["name"], update_fields=["name"]
    )
    PostHashtag.objects.bulk_create(
        [PostHashtag(post=post, hashtag_id=tag.pk, created_at=post.created_at) for tag in tags]
    )


def _link_mentions(post: Post, names: list[str]) -> list:
    """Link the existing active users named in ``names`` (lower-cased) to ``post``, in text
    order; return them as users. One statement on PostgreSQL (two on SQLite)."""
    if not names:
        return []
    user_model = get_user_model()
    alias = router.db_for_write(PostMention, instance=post)
    if connections[alias].vendor == "postgresql":
        return list(user_model.objects.db_manager(alias).raw(_LINK_MENTIONS_SQL, {"names": names, "post_id": post.pk}))
    ids = resolve_mentions(names)
    users = user_model.objects.in_bulk(ids)
    PostMention.objects.bulk_create([PostMention(post=post, user_id=uid) for uid in ids])
    return [users[uid] for uid in ids]


def _parse_and_link(post: Post) -> tuple[list[str], list]:
    """(Re)build ``post``'s hashtag and mention links from its content.

    Returns:
        ``(hashtags, mentioned_users)``: normalised names and the active users mentioned,
        both in text order, as published in ``post.created`` / ``post.updated`` (ids).
    """
    hashtags = extract_hashtags(post.content)
    _link_hashtags(post, hashtags)
    return hashtags, _link_mentions(post, extract_mentions(post.content))


def post_create(*, author, content: str, visibility: str = Post.Visibility.PUBLIC) -> Post:
    """Create a post by ``author`` and link its hashtags and mentioned users.

    Args:
        author: the (active) user posting.
        content: 1..5,000 characters after trimming (validated by the API serializer;
            stored trimmed).
        visibility: ``"public"``, ``"friends"`` or ``"private"``.
    Returns:
        The new :class:`Post`, with ``author`` set and ``hashtag_names`` (list of str) and
        ``mentioned_users`` (list of users) attached in text order, so that
        :class:`posts.api.serializers.PostSerializer` renders it without reading it again.
        Costs 3 statements in the transaction (post, outbox, and one each for hashtags and
        mentions when the content has some).
    Events:
        ``post.created`` key=author id, data ``{post_id, author_id, visibility, hashtags:
        [normalised names], mention_ids: [ids of existing active users, text order],
        created_at: RFC 3339}``, actor=author.
    """
    with transaction.atomic():
        post = Post.objects.create(author=author, content=content.strip(), visibility=visibility)
        hashtags, mentioned = _parse_and_link(post)
        mention_ids = [user.pk for user in mentioned]
        post.hashtag_names, post.mentioned_users = hashtags, mentioned
        publish(
            "post.created",
            key=author.pk,
            actor_id=author.pk,
            data={
                "post_id": post.pk,
                "author_id": author.pk,
                "visibility": post.visibility,
                "hashtags": hashtags,
                "mention_ids": mention_ids,
                "created_at": rfc3339(post.created_at),
            },
        )
    return post


def _check_author(post: Post, user) -> None:
    if post.author_id != user.pk:
        raise PermissionDenied("Only the author can change this post.", code="not_author")


def post_update(*, post: Post, user, content: str | None = None, visibility: str | None = None) -> Post:
    """Edit ``post``: new content (hashtags and mentions re-parsed) and/or visibility; sets
    ``edited_at``.

    Args:
        post: a post ``user`` can see.
        user: who edits; must be the author.
        content: new content (trimmed), or ``None`` to keep it.
        visibility: new visibility, or ``None`` to keep it.
    Returns:
        ``post``, saved.
    Raises:
        PermissionDenied: ``user`` is not the author (403, code ``not_author``).
    Events:
        ``post.updated`` key=author id, data ``{post_id, author_id, visibility, hashtags,
        mention_ids}`` (the values after the edit), actor=user.
    """
    _check_author(post, user)
    with transaction.atomic():
        fields = ["edited_at"]
        if content is not None:
            post.content = content.strip()
            fields.append("content")
        if visibility is not None:
            post.visibility = visibility
            fields.append("visibility")
        post.edited_at = timezone.now()
        post.save(update_fields=fields)
        if content is not None:
            PostHashtag.objects.filter(post=post).delete()
            PostMention.objects.filter(post=post).delete()
            hashtags, mentioned = _parse_and_link(post)
            mention_ids = [user.pk for user in mentioned]
        else:
            hashtags = list(
                PostHashtag.objects.filter(post=post).order_by("id").values_list("hashtag__name", flat=True)
            )
            mention_ids = list(
                PostMention.objects.filter(post=post).order_by("id").values_list("user_id", flat=True)
            )
        publish(
            "post.updated",
            key=post.author_id,
            actor_id=user.pk,
            data={
                "post_id": post.pk,
                "author_id": post.author_id,
                "visibility": post.visibility,
                "hashtags": hashtags,
                "mention_ids": mention_ids,
            },
        )
    return post


def post_delete(*, post: Post, user) -> None:
    """Soft delete ``post`` (sets ``deleted_at``); it disappears from every read path.

    Raises:
        PermissionDenied: ``user`` is not the author (403, code ``not_author``).
    Events:
        ``post.deleted`` key=author id, data ``{post_id, author_id}``, actor=user; nothing
        when the post was already deleted.
    """
    _check_author(post, user)
    with transaction.atomic():
        updated = Post.objects.filter(pk=post.pk, deleted_at__isnull=True).update(deleted_at=timezone.now())
        if not updated:
            return
        publish(
            "post.deleted",
            key=post.author_id,
            actor_id=user.pk,
            data={"post_id": post.pk, "author_id": post.author_id},
        )


def post_like(*, post: Post, user) -> tuple[Like, bool]:
    """Like ``post`` as ``user`` (idempotent; authors may like their own posts).

    Returns:
        ``(like, created)``; ``created`` is False when ``user`` already liked the post (then
        ``like`` is the existing one). Either way ``post.like_count`` is set to the counter as
        this transaction saw it and ``post.liked_by_me`` to True, so the API answers from
        ``post`` without reading it again (a concurrent like of the same user may have
        committed after ``post`` was read). Costs 3 statements in the transaction when created
        (like, counter, outbox), 2 otherwise.
    Raises:
        AccountInactive: the liker's account went inactive meanwhile (403, nothing written).
    Events:
        ``post.liked`` key=post author id, data ``{post_id, author_id (the post's author),
        user_id (the liker)}``, actor=user — only when ``created``.
    """
    now = timezone.now()
    with transaction.atomic():
        with connections[router.db_for_write(Like, instance=post)].cursor() as cursor:
            # One statement instead of get_or_create's SELECT + savepoint + INSERT; the
            # unique (post, user) constraint decides, also between concurrent requests.
            cursor.execute(
                "INSERT INTO posts_like (post_id, user_id, created_at) VALUES (%s, %s, %s)"
                " ON CONFLICT (post_id, user_id) DO NOTHING RETURNING id",
                [post.pk, user.pk, now],
            )
            row = cursor.fetchone()
            if row is None:
                # Already liked — possibly by a concurrent request that committed after the
                # caller read ``post``: the counter and ``liked_by_me`` are read again with the
                # existing like (one statement), so the answer is never the stale snapshot.
                like_id, created_at, post.like_count = (
                    Like.objects.filter(post_id=post.pk, user_id=user.pk)
                    .values_list("id", "created_at", "post__like_count")
                    .get()
                )
                post.liked_by_me = True
                return Like(id=like_id, post=post, user=user, created_at=created_at), False
            # The counter moves only while the liker's account is active (see _active_writer).
            cursor.execute(
                "UPDATE posts_post SET like_count = like_count + 1 WHERE id = %s"
                " AND EXISTS (SELECT 1 FROM accounts_user WHERE id = %s AND is_active) RETURNING like_count",
                [post.pk, user.pk],
            )
            counted = cursor.fetchone()
            if counted is None:
                raise AccountInactive()
            post.like_count = counted[0]
        post.liked_by_me = True
        publish(
            "post.liked",
            key=post.author_id,
            actor_id=user.pk,
            data={"post_id": post.pk, "author_id": post.author_id, "user_id": user.pk},
        )
    return Like(id=row[0], post=post, user=user, created_at=now), True


def post_unlike(*, post: Post, user) -> bool:
    """Remove ``user``'s like of ``post`` (idempotent).

    Returns:
        True when a like was removed, False when there was none.
    Events:
        ``post.unliked`` key=post author id, data ``{post_id, author_id, user_id}``,
        actor=user — only when a like was removed.
    """
    with transaction.atomic():
        deleted, _ = Like.objects.filter(post=post, user=user).delete()
        if not deleted:
            return False
        Post.objects.filter(pk=post.pk).update(like_count=F("like_count") - 1)
        publish(
            "post.unliked",
            key=post.author_id,
            actor_id=user.pk,
            data={"post_id": post.pk, "author_id": post.author_id, "user_id": user.pk},
        )
    return True


def comment_create(*, post: Post, author, content: str) -> Comment:
    """Comment on ``post`` (which ``author`` can see).

    Args:
        content: 1..2,000 characters after trimming (validated by the API serializer; stored
            trimmed). ``@username`` mentions of existing active users are resolved for the event.
    Raises:
        AccountInactive: the commenter's account went inactive meanwhile (403, nothing written).
    Returns:
        The new :class:`Comment`.
    Events:
        ``comment.created`` key=post author id, data ``{comment_id, post_id, author_id (the
        post's author), user_id (the commenter), mention_ids}``, actor=author.
    """
    with transaction.atomic():
        comment = Comment.objects.create(post=post, author=author, content=content.strip())
        # The counter moves only while the commenter's account is active (see _active_writer).
        if not Post.objects.filter(pk=post.pk).filter(_active_writer(author.pk)).update(
            comment_count=F("comment_count") + 1
        ):
            raise AccountInactive()
        publish(
            "comment.created",
            key=post.author_id,
            actor_id=author.pk,
            data={
                "comment_id": comment.pk,
                "post_id": post.pk,
                "author_id": post.author_id,
                "user_id": author.pk,
                "mention_ids": resolve_mentions(extract_mentions(comment.content)),
            },
        )
    return comment


def comment_delete(*, comment: Comment, user) -> None:
    """Soft delete ``comment`` (sets ``deleted_at``) and decrement the post's counter.

    Raises:
        PermissionDenied: ``user`` is neither the comment's author nor the post's author
            (403, code ``not_allowed``).
    Events:
        None (no ``comment.deleted`` type is registered).
    """
    if user.pk not in (comment.author_id, comment.post.author_id):
        raise PermissionDenied(
            "Only the comment's author or the post's author can delete it.", code="not_allowed"
        )
    with transaction.atomic():
        updated = Comment.objects.filter(pk=comment.pk, deleted_at__isnull=True).update(
            deleted_at=timezone.now()
        )
        if updated:
            Post.objects.filter(pk=comment.post_id).update(comment_count=F("comment_count") - 1)


def report_create(*, post: Post, reporter, reason: str, details: str = "") -> Report:
    """Report ``post`` to the moderators.

    Args:
        reason: one of ``Report.Reason`` (spam, abuse, harassment, misinformation, other).
        details: up to 1,000 characters (trimmed).
    Returns:
        The new open :class:`Report`.
    Raises:
        CannotReportOwnPost: ``reporter`` is the post's author (400, code ``own_post``).
        AlreadyReported: ``reporter`` has an open report of ``post`` (409, code
            ``already_reported``), also when a concurrent request won the race.
    Events:
        None (moderation events come with the moderation workflow).
    """
    if post.author_id == reporter.pk:
        raise CannotReportOwnPost()
    try:
        with transaction.atomic():
            return Report.objects.create(
                post=post, reporter=reporter, reason=reason, details=(details or "").strip()
            )
    except IntegrityError:
        raise AlreadyReported() from None


# --- account erasure (README "Account lifecycle") --------------------------------------------

#: Most post ids of each list in one ``user.content_erased`` event (keeps envelopes ~40 KB).
ERASED_IDS_PER_EVENT = 2000


@dataclass(frozen=True)
class ContentErasure:
    """What :func:`user_content_erase` removed: the users' own posts, their likes and comments
    on others' posts, the posts that lost them, mentions of them, reports anonymised."""

    posts: int
    likes: int
    comments: int
    mentions: int
    reports_anonymised: int
    engaged_posts: int
    events: int


def _count_of(rows) -> Coalesce:
    """``COALESCE((SELECT COUNT(*) FROM rows), 0)`` for an ``OuterRef("pk")``-filtered queryset."""
    counted = rows.order_by().values("post_id").annotate(n=Count("id")).values("n")[:1]
    return Coalesce(Subquery(counted, output_field=models.IntegerField()), 0)


def _chunks(ids: list[int], size: int) -> list[list[int]]:
    return [ids[start:start + size] for start in range(0, len(ids), size)]


def user_content_erase(*, user_ids: list[int]) -> ContentErasure:
    """Erase what the ``posts`` domain holds of erased accounts (``user.deleted``), in one
    transaction:

    - their likes and comments on other people's posts are deleted and those posts' counters
      recounted from what remains;
    - mentions of them in other people's posts are deleted;
    - reports they filed are anonymised (``reporter`` and ``details`` cleared) — the moderation
      history of the reported posts stays;
    - their posts are deleted for good, with everything that hangs on them (hashtag and mention
      links, other people's likes, comments and reports of them, the posts' ContentScores);
      the audit log keeps its rows with the post cleared; hashtags only they used are deleted;
    - one or more ``user.content_erased`` events per user tell the scoring and notification
      workers which posts are gone and which lost engagement.

    The users' rows are locked first (``SELECT … FOR UPDATE``): a post, like or comment of theirs
    still being written holds that row through its foreign key, so it commits before this runs
    and is erased with the rest. Idempotent: a second run finds nothing.

    Args:
        user_ids: the erased accounts.
    Returns:
        :class:`ContentErasure` counts.
    Events:
        ``user.content_erased`` ``{user_id, post_ids: [their posts erased], engaged_post_ids:
        [others' posts that lost their likes or comments]}``, at most
        :data:`ERASED_IDS_PER_EVENT` ids per list and event, key = user id; none for a user
        with nothing erased.
    """
    user_ids = sorted(set(user_ids))
    with transaction.atomic():
        list(get_user_model().objects.select_for_update().filter(pk__in=user_ids).order_by("pk").values_list("pk"))
        events = 0
        totals = {"posts": 0, "likes": 0, "comments": 0, "mentions": 0, "reports": 0, "engaged": 0}
        for user_id in user_ids:
            own_ids = list(Post.objects.filter(author_id=user_id).order_by("pk").values_list("pk", flat=True))
            likes = Like.objects.filter(user_id=user_id).exclude(post__author_id=user_id)
            comments = Comment.objects.filter(author_id=user_id).exclude(post__author_id=user_id)
            engaged = sorted(set(likes.values_list("post_id", flat=True)) | set(comments.values_list("post_id", flat=True)))
            totals["likes"] += likes.delete()[0]
            totals["comments"] += comments.delete()[0]
            if engaged:
                # Recounted from what remains (not decremented): exact whatever ran before.
                Post.objects.filter(pk__in=engaged).update(
                    like_count=_count_of(Like.objects.filter(post_id=OuterRef("pk"))),
                    comment_count=_count_of(Comment.objects.filter(post_id=OuterRef("pk"), deleted_at__isnull=True)),
                )
            totals["mentions"] += PostMention.objects.filter(user_id=user_id).delete()[0]
            totals["reports"] += Report.objects.filter(reporter_id=user_id).update(reporter=None, details="")
            tag_ids = set(PostHashtag.objects.filter(post__author_id=user_id).values_list("hashtag_id", flat=True))
            for chunk in _chunks(own_ids, ERASED_IDS_PER_EVENT):
                Post.objects.filter(pk__in=chunk).delete()
            if tag_ids:
                Hashtag.objects.filter(pk__in=tag_ids, post_hashtags__isnull=True).delete()
            totals["posts"] += len(own_ids)
            totals["engaged"] += len(engaged)
            own_chunks, engaged_chunks = _chunks(own_ids, ERASED_IDS_PER_EVENT), _chunks(engaged, ERASED_IDS_PER_EVENT)
            for index in range(max(len(own_chunks), len(engaged_chunks))):
                publish(
                    "user.content_erased",
                    key=user_id,
                    data={
                        "user_id": user_id,
                        "post_ids": own_chunks[index] if index < len(own_chunks) else [],
                        "engaged_post_ids": engaged_chunks[index] if index < len(engaged_chunks) else [],
                    },
                )
                events += 1
    return ContentErasure(
        posts=totals["posts"], likes=totals["likes"], comments=totals["comments"], mentions=totals["mentions"],
        reports_anonymised=totals["reports"], engaged_posts=totals["engaged"], events=events,
    )
