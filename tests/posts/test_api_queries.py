"""Query counts of the read endpoints stay constant as lists grow (no N+1)."""

import pytest

from posts import services

pytestmark = pytest.mark.django_db


def make_posts(author, reader, mentioned, count):
    """``count`` posts by ``author``, each with two hashtags, a mention, a like and a comment."""
    posts = []
    for i in range(count):
        post = services.post_create(
            author=author, content=f"#tag{i} #common @{mentioned.username} number {i}",
            visibility="friends" if i % 2 else "public",
        )
        services.post_like(post=post, user=reader)
        services.comment_create(post=post, author=mentioned, content=f"comment {i}")
        posts.append(post)
    return posts


# 1 token user, 1 user exists, 1 block check, 1 page, 2 prefetches (hashtags, mentions)
USER_POSTS_QUERIES = 6


@pytest.mark.parametrize("count", [2, 20])
def test_user_posts_list_query_count_is_constant(user_factory, befriend, client_for, django_assert_num_queries, count):
    # given an author with `count` posts (half friends-only), read by a friend
    author, reader, mentioned = user_factory(), user_factory(), user_factory(username="mentioned")
    befriend(author, reader)
    make_posts(author, reader, mentioned, count)
    client = client_for(reader)
    # when the friend lists them / then the query count does not depend on count
    with django_assert_num_queries(USER_POSTS_QUERIES):
        response = client.get(f"/api/Post/users/{author.id}", {"limit": 100})
    assert response.status_code == 200
    body = response.json()["results"]
    assert len(body) == count
    assert all(p["liked_by_me"] and len(p["hashtags"]) == 2 and len(p["mentions"]) == 1 for p in body)


# 1 token user, 1 visible-post check, 1 page
COMMENTS_QUERIES = 3


@pytest.mark.parametrize("count", [2, 20])
def test_comments_list_query_count_is_constant(user_factory, client_for, django_assert_num_queries, count):
    # given a post with `count` comments by different users
    author, reader = user_factory(), user_factory()
    post = services.post_create(author=author, content="hello")
    for i in range(count):
        services.comment_create(post=post, author=user_factory(), content=f"c{i}")
    client = client_for(reader)
    # when listing them / then the query count does not depend on count
    with django_assert_num_queries(COMMENTS_QUERIES):
        response = client.get(f"/api/posts/{post.id}/comments", {"limit": 100})
    assert len(response.json()["results"]) == count


def test_single_post_query_count(user_factory, client_for, django_assert_num_queries):
    # given a post with tags and mentions
    author, reader = user_factory(), user_factory(username="reader")
    post = services.post_create(author=author, content="#a #b @reader")
    client = client_for(reader)
    # when reading it / then 1 token user, 1 post, 2 prefetches
    with django_assert_num_queries(4):
        response = client.get(f"/api/posts/{post.id}")
    assert response.json()["hashtags"] == ["a", "b"]
