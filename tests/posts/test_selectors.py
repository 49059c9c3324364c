"""posts.selectors: the visibility rules, one by one."""

import pytest
from django.contrib.auth.models import AnonymousUser, Permission
from django.utils import timezone

from posts import selectors
from posts.models import Post
from tests.posts.factories import CommentFactory, LikeFactory, PostFactory

pytestmark = pytest.mark.django_db


def visible_ids(viewer):
    return sorted(selectors.visible_posts(viewer).values_list("id", flat=True))


@pytest.fixture
def world(user_factory, befriend, block):
    """author with one post per visibility; friend, stranger, blocked (by author), blocker (of author)."""
    author = user_factory(username="author")
    users = {
        "author": author,
        "friend": user_factory(username="friend"),
        "stranger": user_factory(username="stranger"),
        "blocked": user_factory(username="blocked"),
        "blocker": user_factory(username="blocker"),
    }
    befriend(author, users["friend"])
    block(author, users["blocked"])
    block(users["blocker"], author)
    posts = {v: PostFactory(author=author, visibility=v) for v in ("public", "friends", "private")}
    return users, posts


@pytest.mark.parametrize(
    ("viewer", "expected"),
    [
        ("author", ["public", "friends", "private"]),
        ("friend", ["public", "friends"]),
        ("stranger", ["public"]),
        ("blocked", []),
        ("blocker", []),
    ],
)
def test_visibility_by_relationship(world, viewer, expected):
    # given the world / when listing visible posts as the viewer
    users, posts = world
    # then exactly the expected posts are visible
    assert visible_ids(users[viewer]) == sorted(posts[v].id for v in expected)


def test_anonymous_sees_nothing(world):
    assert visible_ids(AnonymousUser()) == []


def test_deleted_posts_are_invisible_to_everyone_including_author(world):
    users, posts = world
    Post.objects.filter(pk=posts["public"].pk).update(deleted_at=timezone.now())
    assert visible_ids(users["author"]) == sorted([posts["friends"].id, posts["private"].id])
    assert visible_ids(users["stranger"]) == []


@pytest.mark.parametrize("state", ["hidden", "removed"])
def test_moderated_posts_are_visible_to_moderators_only(world, user_factory, state):
    # given the public post moderated
    users, posts = world
    Post.objects.filter(pk=posts["public"].pk).update(moderation_state=state)
    moderator = user_factory(username="mod", is_staff=True)
    moderator.user_permissions.add(Permission.objects.get(codename="view_post", content_type__app_label="posts"))
    staff_without_perm = user_factory(username="staffer", is_staff=True)
    # then the author and a stranger no longer see it, staff without the permission neither,
    # the moderator does
    assert posts["public"].id not in visible_ids(users["author"])
    assert visible_ids(users["stranger"]) == []
    assert visible_ids(staff_without_perm) == []
    assert visible_ids(moderator) == [posts["public"].id]


def test_superuser_is_a_moderator(user_factory):
    post = PostFactory(moderation_state="hidden")
    admin = user_factory(username="root", is_staff=True, is_superuser=True)
    assert visible_ids(admin) == [post.id]


def test_liked_by_me_and_score_annotations(user_factory):
    # given two posts, one liked by the viewer, one by someone else
    viewer = user_factory()
    liked, other = PostFactory(), PostFactory()
    LikeFactory(post=liked, user=viewer)
    LikeFactory(post=other)
    # when read through the selector
    rows = {p.id: (p.liked_by_me, p.score) for p in selectors.visible_posts(viewer)}
    # then only the viewer's like counts and score is None until scoring exists
    assert rows == {liked.id: (True, None), other.id: (False, None)}


def test_post_for_viewer_raises_does_not_exist(world):
    users, posts = world
    assert selectors.post_for_viewer(users["friend"], posts["friends"].id).id == posts["friends"].id
    with pytest.raises(Post.DoesNotExist):
        selectors.post_for_viewer(users["stranger"], posts["friends"].id)
    with pytest.raises(Post.DoesNotExist):
        selectors.post_for_viewer(users["stranger"], 10**9)


def test_user_posts_newest_first_and_404_cases(world, user_factory):
    from django.contrib.auth import get_user_model

    users, posts = world
    # then the friend sees public and friends posts, newest (highest id at equal time) first
    assert [p.id for p in selectors.user_posts(users["friend"], users["author"].id)] == [
        posts["friends"].id,
        posts["public"].id,
    ]
    # and unknown users and blocks either way are DoesNotExist
    for viewer in ("blocked", "blocker"):
        with pytest.raises(get_user_model().DoesNotExist):
            selectors.user_posts(users[viewer], users["author"].id)
    with pytest.raises(get_user_model().DoesNotExist):
        selectors.user_posts(users["stranger"], 10**9)


def test_post_comments_hide_deleted_and_blocked_commenters(world, user_factory, block):
    # given a public post with comments from a stranger, a deleted one, and one by someone the viewer blocked
    users, posts = world
    post = posts["public"]
    troll = user_factory(username="troll")
    block(users["friend"], troll)
    kept = CommentFactory(post=post, author=users["stranger"])
    CommentFactory(post=post, author=users["stranger"], deleted_at=timezone.now())
    CommentFactory(post=post, author=troll)
    # when the friend lists them / then only the stranger's live comment is listed
    assert [c.id for c in selectors.post_comments(users["friend"], post.id)] == [kept.id]
    # and a post the viewer cannot see raises
    with pytest.raises(Post.DoesNotExist):
        selectors.post_comments(users["stranger"], posts["private"].id)


def test_graph_services_drive_visibility(user_factory):
    """End to end with graph.services: accepting a request shows friends posts, a block hides all."""
    from graph import services as graph_services

    # given an author with a friends-only post and a stranger
    author, other = user_factory(username="author"), user_factory(username="other")
    post = PostFactory(author=author, visibility="friends")
    assert visible_ids(other) == []
    # when they become friends through the graph services
    request = graph_services.friend_request_send(from_user=other, to_user_id=author.id)
    graph_services.friend_request_accept(user=author, request_id=request.id)
    # then the friends-only post is visible
    assert visible_ids(other) == [post.id]
    # when the author blocks them / then nothing is visible either way
    graph_services.block_create(blocker=author, blocked_id=other.id)
    assert visible_ids(other) == []
    assert selectors.user_posts(author, author.id).count() == 1


def test_visible_to_members_agrees_with_visible_posts(world, user_factory, befriend, block):
    # given the world, plus a deleted, a hidden and a removed post, a friend who also blocked a
    # second author, and a moderator (seen as an ordinary member by visible_to_members)
    users, posts = world
    author = users["author"]
    extra = [PostFactory(author=author, visibility="public", deleted_at=timezone.now()),
             PostFactory(author=author, visibility="friends", moderation_state=Post.ModerationState.HIDDEN),
             PostFactory(author=author, visibility="public", moderation_state=Post.ModerationState.REMOVED)]
    other = user_factory(username="other")
    befriend(other, users["friend"])
    block(users["friend"], other)
    other_posts = [PostFactory(author=other, visibility=v) for v in ("public", "friends")]
    all_posts = [*posts.values(), *extra, *other_posts]
    viewers = [*users.values(), other]
    # when every (viewer, post) pair is asked at once
    pairs = {(viewer.pk, post.pk) for viewer in viewers for post in all_posts}
    got = selectors.visible_to_members(pairs | {(author.pk, 10**12)})
    # then exactly the pairs visible_posts gives each viewer
    expected = {(viewer.pk, pid) for viewer in viewers for pid in visible_ids(viewer)
                if pid in {p.pk for p in all_posts}}
    assert got == expected
    assert (users["friend"].pk, posts["friends"].pk) in got
    assert (users["friend"].pk, other_posts[0].pk) not in got  # blocked the other author
    assert (users["stranger"].pk, posts["friends"].pk) not in got
    assert selectors.visible_to_members([]) == set()
