"""Reads of the ``posts`` domain — the ONE place where post visibility is decided.

Every read path (this app's API, the feed, hashtag pages, notifications) starts from
:func:`visible_posts`, so a rule changed here changes everywhere:

- deleted posts (``deleted_at`` set) are never returned;
- posts whose ``moderation_state`` is not ``visible`` are returned to moderators only
  (staff users with the ``posts.view_post`` permission);
- posts of a user the viewer blocked, or who blocked the viewer, are never returned;
- posts of inactive accounts (suspended, deactivated, awaiting deletion or erased: README
  "Account lifecycle") are never returned, to anybody;
- ``public`` posts are returned to any signed-in viewer, ``friends`` posts to the author and
  the author's friends, ``private`` posts to the author only.

Anonymous viewers see nothing. The friend and block checks are SQL subqueries built by
:mod:`graph.selectors`, so a page of posts costs a constant number of queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import Exists, F, OuterRef, Prefetch, Q, QuerySet

from graph import selectors as graph_selectors
from posts.models import Comment, Like, Post, PostHashtag, PostMention


def is_moderator(viewer) -> bool:
    """True when ``viewer`` may see hidden and removed posts: an active staff user with the
    ``posts.view_post`` permission (superusers have every permission)."""
    return bool(
        getattr(viewer, "is_authenticated", False)
        and viewer.is_active
        and viewer.is_staff
        and viewer.has_perm("posts.view_post")
    )


def annotate_score(queryset: QuerySet[Post]) -> QuerySet[Post]:
    """Annotate ``score`` (float or ``None``): the post's relevance from the scoring worker.

    Read through the reverse one-to-one ``content_score`` that ``feed.ContentScore``
    declares (a LEFT JOIN; ``None`` until the post is scored). ``posts`` names the relation
    only, it never imports ``feed`` (ARCHITECTURE.md §10).
    """
    return queryset.annotate(score=F("content_score__score"))


def with_post_details(queryset: QuerySet[Post], viewer, *, links: bool = True) -> QuerySet[Post]:
    """Return ``queryset`` ready for :class:`posts.api.serializers.PostSerializer`.

    Adds ``select_related("author")``, annotations ``liked_by_me`` (bool, an ``EXISTS``
    subquery for ``viewer``) and ``score`` (:func:`annotate_score`), and prefetches the
    hashtag and mention links in text order (``post_hashtags`` with ``hashtag``,
    ``post_mentions`` with ``user``). Serializing any number of posts then costs the main
    query plus two prefetch queries. ``links=False`` leaves the links out, for a caller that
    loads a page in one go and then calls :func:`attach_post_links` (same queries, without
    building a model object per link).
    """
    viewer_id = viewer.pk if getattr(viewer, "is_authenticated", False) else None
    queryset = annotate_score(queryset.select_related("author").annotate(
        liked_by_me=Exists(Like.objects.filter(post_id=OuterRef("pk"), user_id=viewer_id))
    ))
    if not links:
        return queryset
    return queryset.prefetch_related(
        Prefetch(
            "post_hashtags",
            queryset=PostHashtag.objects.select_related("hashtag").order_by("id"),
        ),
        Prefetch(
            "post_mentions",
            queryset=PostMention.objects.select_related("user").order_by("id"),
        ),
    )


@dataclass(frozen=True)
class MentionedUser:
    """The fields of a mentioned user that the post object shows (and whether it is active)."""

    pk: int
    username: str
    display_name: str
    bio: str
    date_joined: datetime
    is_active: bool


def attach_post_links(posts: list[Post]) -> list[Post]:
    """Set ``hashtag_names`` and ``mentioned_users`` (text order) on each of ``posts`` with one
    query each, reading only the columns the post object shows; return ``posts``."""
    ids = [post.pk for post in posts]
    names: dict[int, list[str]] = {pk: [] for pk in ids}
    mentioned: dict[int, list[MentionedUser]] = {pk: [] for pk in ids}
    if ids:
        for post_id, name in (PostHashtag.objects.filter(post_id__in=ids).order_by("id")
                              .values_list("post_id", "hashtag__name")):
            names[post_id].append(name)
        for post_id, *user in (PostMention.objects.filter(post_id__in=ids).order_by("id").values_list(
                "post_id", "user_id", "user__username", "user__display_name", "user__bio", "user__date_joined",
                "user__is_active")):
            mentioned[post_id].append(MentionedUser(*user))
    for post in posts:
        post.hashtag_names, post.mentioned_users = names[post.pk], mentioned[post.pk]
    return posts


def visible_posts(viewer, *, details: bool = True) -> QuerySet[Post]:
    """Return every post ``viewer`` may see (rules in the module docstring), unordered.

    Args:
        viewer: a user, or ``AnonymousUser`` (who sees nothing).
        details: when true (the default) the queryset is prepared for serialization by
            :func:`with_post_details`; pass ``False`` for a bare queryset to filter,
            count or use as a subquery (``.values("id")``).
    Returns:
        A ``QuerySet[Post]``; callers order it (``"-created_at", "-id"`` for newest first).
    """
    if not getattr(viewer, "is_authenticated", False):
        return Post.objects.none()
    queryset = Post.objects.filter(deleted_at__isnull=True)
    if not is_moderator(viewer):
        queryset = queryset.filter(moderation_state=Post.ModerationState.VISIBLE)
    # Inactive authors: a condition on the author's row, which the serialised queryset joins
    # anyway (``select_related("author")``); estimated as nearly always true, it leaves the
    # plans of the keyset pages unchanged (a NOT IN subquery over inactive accounts did not).
    queryset = queryset.filter(author__is_active=True)
    queryset = queryset.exclude(author_id__in=graph_selectors.blocked_ids(viewer.pk)).filter(
        Q(author_id=viewer.pk)
        | Q(visibility=Post.Visibility.PUBLIC)
        | Q(
            visibility=Post.Visibility.FRIENDS,
            author_id__in=graph_selectors.friend_ids(viewer.pk),
        )
    )
    return with_post_details(queryset, viewer) if details else queryset


def visible_to_members(pairs) -> set[tuple[int, int]]:
    """The ``(user id, post id)`` pairs of ``pairs`` where the user, as an **ordinary member**
    (active, not a moderator), may see the post — the rules of :func:`visible_posts`, for any
    number of pairs in three queries (the posts, the friendships and the blocks among the pairs'
    users and authors) instead of one query per user. Workers use it to decide who may be told
    about a post; ``tests/posts/test_selectors.py`` checks it agrees with :func:`visible_posts`.

    Args:
        pairs: ``(user id, post id)`` pairs (ints); unknown posts are never visible.
    Returns:
        The visible pairs.
    """
    pairs = {(int(user_id), int(post_id)) for user_id, post_id in pairs}
    if not pairs:
        return set()
    posts = {
        pid: (author, visibility)
        for pid, author, visibility in Post.objects.filter(
            pk__in={post_id for _u, post_id in pairs}, deleted_at__isnull=True,
            moderation_state=Post.ModerationState.VISIBLE,
        ).values_list("id", "author_id", "visibility")
    }
    relations = {(user_id, posts[post_id][0]) for user_id, post_id in pairs if post_id in posts}
    blocked = graph_selectors.blocks_among(relations)
    friends = graph_selectors.friendships_among(relations)
    visible = set()
    for user_id, post_id in pairs:
        if post_id not in posts:
            continue
        author, visibility = posts[post_id]
        if user_id == author:
            visible.add((user_id, post_id))
            continue
        key = graph_selectors.pair(user_id, author)
        if key in blocked:
            continue
        if visibility == Post.Visibility.PUBLIC or (visibility == Post.Visibility.FRIENDS and key in friends):
            visible.add((user_id, post_id))
    return visible


def post_for_viewer(viewer, post_id: int) -> Post:
    """Return post ``post_id`` prepared for serialization, if ``viewer`` may see it.

    Raises:
        Post.DoesNotExist: no such post, or ``viewer`` may not see it (the API answers 404
            either way, never revealing that the post exists).
    """
    return visible_posts(viewer).get(pk=post_id)


def post_ref_for_viewer(viewer, post_id: int) -> Post:
    """Return post ``post_id`` with only ``id``, ``author_id`` and ``visibility`` loaded, if
    ``viewer`` may see it: the one query a write on the post (comment, unlike, report,
    delete) needs before its service.

    Raises:
        Post.DoesNotExist: no such post, or ``viewer`` may not see it (404).
    """
    return visible_posts(viewer, details=False).only("id", "author_id", "visibility").get(pk=post_id)


def user_posts(viewer, user_id: int) -> QuerySet[Post]:
    """Return the posts of user ``user_id`` that ``viewer`` may see, newest first
    (``-created_at, -id``), prepared for serialization.

    Raises:
        django.contrib.auth.get_user_model().DoesNotExist: no such user, an inactive one
            (suspended, deactivated, erased), or the user and ``viewer`` block each other in
            either direction (the API answers 404, as for their profile).
    """
    user_model = get_user_model()
    if not user_model.objects.filter(pk=user_id, is_active=True).exists():
        raise user_model.DoesNotExist(f"No user {user_id}.")
    if viewer.pk != user_id and graph_selectors.is_blocked_either_way(viewer.pk, user_id):
        raise user_model.DoesNotExist(f"No user {user_id}.")
    # The view attaches the links to the page it shows (attach_post_links).
    return with_post_details(visible_posts(viewer, details=False), viewer, links=False).filter(
        author_id=user_id).order_by("-created_at", "-id")


def post_comments(viewer, post_id: int) -> QuerySet[Comment]:
    """Return the live comments of post ``post_id``, oldest first (``created_at, id``), with
    their authors; comments by users blocked either way with ``viewer`` and by inactive
    accounts are left out.

    Raises:
        Post.DoesNotExist: ``viewer`` may not see the post (404).
    """
    if not visible_posts(viewer, details=False).filter(pk=post_id).exists():
        raise Post.DoesNotExist(f"No visible post {post_id}.")
    return (
        Comment.objects.filter(post_id=post_id, deleted_at__isnull=True, author__is_active=True)
        .exclude(author_id__in=graph_selectors.blocked_ids(viewer.pk))
        .select_related("author")
        .order_by("created_at", "id")
    )


def comment_for_viewer(viewer, comment_id: int) -> Comment:
    """Return live comment ``comment_id`` with ``post`` and ``author`` loaded, if ``viewer``
    may see its post.

    Raises:
        Comment.DoesNotExist: no such live comment, or ``viewer`` may not see its post (404).
    """
    visible = visible_posts(viewer, details=False).values("pk")
    return Comment.objects.select_related("post", "author").get(
        pk=comment_id, deleted_at__isnull=True, post_id__in=visible
    )
