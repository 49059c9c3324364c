"""A small social world around one user, built through the real services (so every store is
written by its own event handlers), and the user's footprint in every store.

:func:`build_world` makes ``leaver`` and five others, with friendships, requests and blocks both
ways, posts (public, friends-only, private; hashtags and mentions), likes and comments both ways,
reports both ways, notifications (plain and grouped, as recipient and as one of several actors),
graph weights, trend buckets, ContentScores, feed caches, a suggestion list, presence, tokens
and a ready data export. :func:`footprint` counts what each store holds of a user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import redis
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from rest_framework.test import APIClient

from bellamy.realtime.presence import get_presence
from exports.models import ExportJob
from exports.services import export_request
from graph import services as graph_services
from graph.stores import get_graph_store
from notifications.stores import get_notification_store
from posts import services as post_services
from posts.models import Post

PASSWORD = "correct-horse-battery"


@dataclass
class World:
    """The people and posts of :func:`build_world` (users and posts as model instances)."""

    leaver: object
    ann: object  # friend of leaver and of bob
    bob: object  # friend of leaver and of ann
    cid: object  # a pending request from leaver
    dan: object  # blocked by leaver
    eve: object  # blocks leaver
    p_public: Post
    p_friends: Post
    p_private: Post
    a_post: Post
    b_post: Post
    export: ExportJob


def login(username: str) -> APIClient:
    """An API client logged in through ``/api/auth/token`` (an outstanding refresh token)."""
    client = APIClient()
    response = client.post("/api/auth/token", {"username": username, "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    return client


def befriend(a, b) -> None:
    request = graph_services.friend_request_send(from_user=a, to_user_id=b.pk)
    graph_services.friend_request_accept(user=b, request_id=request.pk)


def build_world(user_factory) -> World:
    """Build the world (transactional test: each service commits, the in-process bus runs the
    workers' tasks after each commit)."""
    leaver, ann, bob, cid, dan, eve = (user_factory(username=name) for name in
                                       ("leaver", "ann", "bob", "cid", "dan", "eve"))
    befriend(leaver, ann)
    befriend(leaver, bob)
    befriend(ann, bob)
    graph_services.friend_request_send(from_user=leaver, to_user_id=cid.pk)
    graph_services.block_create(blocker=leaver, blocked_id=dan.pk)
    graph_services.block_create(blocker=eve, blocked_id=leaver.pk)
    p_public = post_services.post_create(author=leaver, content="Sunset #golden with @ann")
    p_friends = post_services.post_create(author=leaver, content="Friends only #golden #leaverstag", visibility="friends")
    p_private = post_services.post_create(author=leaver, content="Dear diary", visibility="private")
    a_post = post_services.post_create(author=ann, content="My #golden hour, thanks @bob")
    b_post = post_services.post_create(author=bob, content="Hello world")
    post_services.post_like(post=a_post, user=leaver)
    post_services.post_like(post=b_post, user=leaver)
    post_services.post_like(post=p_public, user=ann)
    post_services.post_like(post=p_public, user=bob)
    post_services.post_like(post=a_post, user=bob)
    post_services.comment_create(post=a_post, author=leaver, content="Nice one @bob")
    post_services.comment_create(post=p_public, author=ann, content="Lovely @bob")
    post_services.comment_create(post=a_post, author=bob, content="Agreed")
    post_services.report_create(post=b_post, reporter=leaver, reason="spam", details="looks fake to me")
    post_services.report_create(post=p_public, reporter=cid, reason="other", details="hm")
    leaver_client = login("leaver")
    assert leaver_client.get("/api/feed/").status_code == 200
    assert leaver_client.get("/api/feed/?order=recent").status_code == 200
    assert leaver_client.get("/api/friends/suggestions").status_code == 200
    assert login("ann").get("/api/feed/").status_code == 200
    get_presence().touch(leaver.pk, "specific.leaver-tab")
    export = export_request(user=leaver)  # built by the eager task after commit
    export.refresh_from_db()
    assert export.status == "ready", export.error
    for user in (leaver, ann, bob, cid, dan, eve):
        user.refresh_from_db()
    for post in (p_public, p_friends, p_private, a_post, b_post):
        post.refresh_from_db()
    return World(leaver, ann, bob, cid, dan, eve, p_public, p_friends, p_private, a_post, b_post, export)


# --- footprints ---------------------------------------------------------------------------------


def pg_footprint(user_id: int) -> dict[str, int]:
    """Rows referencing ``user_id`` in every PostgreSQL table: every relation to the user model
    (foreign keys of every app, with or without a database constraint), the user's groups and
    permissions, the ORM stores' integer columns, and the user row itself. Zero counts are
    left out."""
    user_model = get_user_model()
    counts = {"accounts.User": user_model.objects.filter(pk=user_id).count()}
    relations = [f for f in user_model._meta.get_fields(include_hidden=True) if f.is_relation and f.auto_created
                 and not f.concrete]  # reverse relations, those without a related name too
    for relation in relations:
        if relation.many_to_many:
            continue  # counted through their through-table's foreign key
        model, field = relation.related_model, relation.field
        counts[f"{model._meta.label}.{field.name}"] = model._default_manager.filter(**{field.attname: user_id}).count()
    for through in (user_model.groups.through, user_model.user_permissions.through):
        counts[through._meta.label] = through.objects.filter(user_id=user_id).count()
    notification = apps.get_model("notifications", "Notification")
    counts["notifications.Notification.recipient_id"] = notification.objects.filter(recipient_id=user_id).count()
    counts["notifications.Notification.actors"] = sum(
        1 for actors in notification.objects.values_list("actors", flat=True) if user_id in actors
    )
    edge, interaction = apps.get_model("graph", "FriendEdge"), apps.get_model("graph", "Interaction")
    counts["graph.FriendEdge"] = edge.objects.filter(user_low_id=user_id).count() + edge.objects.filter(
        user_high_id=user_id).count()
    counts["graph.Interaction"] = interaction.objects.filter(from_user_id=user_id).count() + interaction.objects.filter(
        to_user_id=user_id).count()
    return {name: count for name, count in sorted(counts.items()) if count}


def redis_keys(user_id: int) -> list[str]:
    """Keys of this deployment's Redis (cache, presence, channel layer) that name ``user_id``
    (a ``:``- or ``_``-separated component equal to the id, or ``user.<id>``), plus ``online``
    when the presence set still holds the user."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    prefix = settings.BELLAMY_KEY_PREFIX
    pattern = re.compile(rf"(^|[:_]|user\.){user_id}($|[:_])")

    def name(key: str) -> str:  # without the prefix and the cache's version component
        rest = key[len(prefix) + 1:]
        return rest[2:] if rest.startswith("1:") else rest

    found = sorted(
        key.decode() for key in client.scan_iter(match=f"{prefix}:*", count=1000) if pattern.search(name(key.decode()))
    )
    online = client.zscore(f"{settings.BELLAMY_KEY_PREFIX}:presence:online", str(user_id))
    return found + (["presence:online member"] if online is not None else [])


def notification_footprint(user_id: int, post_ids: list[int]) -> int:
    """Notifications of the configured store that involve ``user_id``: received, acted in, or
    about one of ``post_ids``."""
    store = get_notification_store()
    return sum(
        1 for batch in store.export_batches() for record in batch
        if record.recipient_id == user_id or user_id in record.actors or record.post_id in post_ids
    )


def graph_footprint(user_id: int) -> dict[str, int]:
    """The user's friend edges and weights (both directions) in the configured graph store."""
    store = get_graph_store()
    friends = store.friend_ids(user_id)
    weights = [w for _, w in store.top_relations(user_id, limit=10_000)]
    return {"friends": len(friends), "weights_out": len(weights)}


def neo4j_footprint(user_id: int) -> tuple[int, int]:
    """``(nodes, relationships)`` of ``user_id`` in the configured Neo4j store's namespace (both
    directions)."""
    store = get_graph_store()
    rows = store._query(
        "MATCH (n:Member {ns: $ns, user_id: $u}) OPTIONAL MATCH (n)-[r]-() RETURN count(DISTINCT n), count(r)",
        {"ns": store.namespace, "u": user_id},
    )
    return tuple(rows[0])


def export_files(job: ExportJob) -> bool:
    """True when the archive of ``job`` is still in the file storage."""
    return default_storage.exists(f"exports/{job.pk}.zip")
