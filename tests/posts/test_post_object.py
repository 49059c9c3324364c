"""The post object's direct rendering (``PostSerializer.to_representation``) is exactly DRF's
field-by-field rendering of the same declared fields, for every shape a post takes."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework import serializers

from posts import selectors, services
from posts.api.serializers import PostSerializer
from posts.models import Post

pytestmark = pytest.mark.django_db


def drf_rendering(post) -> dict:
    """What DRF renders from PostSerializer's declared fields (the generic path)."""
    return dict(serializers.ModelSerializer.to_representation(PostSerializer(), post))


def test_a_new_post_renders_as_drf_renders_it_with_its_hashtags_and_only_its_active_mentions(user_factory):
    # Given an author with a display name and a bio, a post mentioning an active and a
    # deactivated user, with two hashtags, as post_create returns it (no re-read),
    author = user_factory(username="ada", display_name="Ada L.", bio="engines")
    active, gone = user_factory(username="bob"), user_factory(username="cyd")
    gone.is_active = False
    gone.save(update_fields=["is_active"])
    post = services.post_create(author=author, content="#Engines and #math for @bob and @cyd", visibility="friends")
    # when it is rendered, then it is DRF's rendering, value for value:
    rendered = PostSerializer(post).data
    assert rendered == drf_rendering(post)
    assert rendered["author"] == {"id": author.pk, "username": "ada", "display_name": "Ada L.", "bio": "engines",
                                  "date_joined": author.date_joined.isoformat().replace("+00:00", "Z")}
    assert (rendered["visibility"], rendered["hashtags"]) == ("friends", ["engines", "math"])
    assert [(m["id"], m["username"]) for m in rendered["mentions"]] == [(active.pk, "bob")]
    assert (rendered["edited_at"], rendered["liked_by_me"], rendered["score"]) == (None, False, None)
    assert type(rendered["visibility"]) is str


def test_a_read_post_renders_as_drf_renders_it_with_likes_edits_and_its_score(user_factory, befriend):
    # Given a post read back for a friend who liked it, edited, with microsecond timestamps,
    author, reader = user_factory(), user_factory()
    befriend(author, reader)
    post = services.post_create(author=author, content="first #draft")
    services.post_update(post=post, user=author, content="second #final")
    services.post_like(post=post, user=reader)
    Post.objects.filter(pk=post.pk).update(created_at=timezone.now() - timedelta(days=3, microseconds=7))
    read = selectors.visible_posts(reader).get(pk=post.pk)
    # when it is rendered, then DRF's rendering again, with the viewer's like and the counters,
    rendered = PostSerializer(read).data
    assert rendered == drf_rendering(read)
    assert (rendered["content"], rendered["hashtags"], rendered["like_count"], rendered["liked_by_me"]) == (
        "second #final", ["final"], 1, True)
    assert rendered["edited_at"] is not None and rendered["edited_at"].endswith("Z")
    # and a page renders each post the same way (many=True uses the same rendering).
    assert PostSerializer([read, read], many=True).data == [drf_rendering(read), drf_rendering(read)]


def test_links_attached_to_a_loaded_page_render_as_the_prefetched_ones(user_factory, django_assert_num_queries):
    # Given posts with hashtags in text order and mentions of an active and an inactive user,
    # and one without any link,
    author = user_factory(username="ada")
    bob, cyd = user_factory(username="bob", display_name="Bob"), user_factory(username="cyd")
    posts = [services.post_create(author=author, content="#zeta #alpha @cyd @bob and #zeta again"),
             services.post_create(author=author, content="no links")]
    cyd.is_active = False
    cyd.save(update_fields=["is_active"])
    prefetched = list(selectors.visible_posts(author).filter(pk__in=[p.pk for p in posts]).order_by("id"))
    bare = list(selectors.with_post_details(selectors.visible_posts(author, details=False), author, links=False)
                .filter(pk__in=[p.pk for p in posts]).order_by("id"))
    # when the links are attached to the loaded page (two queries, whatever the page's size),
    with django_assert_num_queries(2):
        attached = selectors.attach_post_links(bare)
    # then every post renders exactly as with the prefetched links.
    assert PostSerializer(attached, many=True).data == PostSerializer(prefetched, many=True).data
    first = PostSerializer(attached[0]).data
    assert (first["hashtags"], [m["username"] for m in first["mentions"]]) == (["zeta", "alpha"], ["bob"])
    assert (attached[1].hashtag_names, attached[1].mentioned_users) == ([], [])
