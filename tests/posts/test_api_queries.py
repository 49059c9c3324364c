"""Query counts of the read endpoints stay constant as lists grow (no N+1), and the exact
statements of the write endpoints and the cached feed read."""

import re

import pytest

from posts import services
from posts.models import Comment, Hashtag, Post

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


# --- Writes: the statements of each write endpoint, exactly -------------------------------


def _outer_from(sql: str) -> str:
    """The first table of the outermost FROM of a SELECT (not of a subquery)."""
    depth = 0
    for i, char in enumerate(sql):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and sql.startswith(' FROM "', i):
            return sql[i + 7:].split('"', 1)[0]
    raise AssertionError(f"no FROM in {sql}")


def shapes(queries) -> list[str]:
    """Each captured statement as ``VERB table`` (transaction control as BEGIN/COMMIT)."""
    result = []
    for query in queries:
        sql = " ".join(query["sql"].split())
        verb = sql.split(" ", 1)[0].upper()
        if verb in ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK"):
            # The test runs inside a transaction, so the service's transaction is a savepoint
            # here (BEGIN/COMMIT in production); its after-commit relay does not run.
            result.append({"SAVEPOINT": "BEGIN", "RELEASE": "COMMIT"}.get(verb, verb))
        elif verb == "WITH":
            # a data-modifying statement: name the table its main INSERT writes
            result.append("WITH " + sql.rsplit("INSERT INTO ", 1)[1].split(" ", 1)[0] if "INSERT INTO" in sql
                          else "WITH")
        elif verb == "SELECT":
            result.append("SELECT " + _outer_from(sql))
        else:
            table = re.match(r'(?:INSERT INTO|UPDATE|DELETE FROM) "?(\w+)', sql, re.IGNORECASE).group(1)
            result.append(f"{verb} {table}")
    return result


def test_post_create_costs_five_statements_and_answers_from_what_it_wrote(user_factory, client_for,
                                                                          django_assert_num_queries):
    author = user_factory(username="writer")
    client = client_for(author)
    with django_assert_num_queries(5) as queries:
        response = client.post(f"/api/Post/users/{author.id}", {"content": "  just words  "}, format="json")
    assert shapes(queries.captured_queries) == [
        "SELECT accounts_user", "BEGIN", "INSERT posts_post", "INSERT events_outboxevent", "COMMIT"]
    assert response.status_code == 201
    body = response.json()
    post = Post.objects.get()
    assert body == {
        "id": post.id, "author": {"id": author.id, "username": "writer", "display_name": author.display_name,
                                  "bio": author.bio, "date_joined": body["author"]["date_joined"]},
        "content": "just words", "visibility": "public", "hashtags": [], "mentions": [],
        "created_at": body["created_at"], "edited_at": None, "like_count": 0, "comment_count": 0,
        "liked_by_me": False, "score": None,
    }
    # the 201 is what a read of the post returns
    assert client.get(f"/api/posts/{post.id}").json() == body


def test_post_with_hashtags_and_mentions_writes_each_in_one_statement(user_factory, client_for,
                                                                      django_assert_num_queries):
    author = user_factory(username="writer")
    amy, zed = user_factory(username="Amy"), user_factory(username="zed")
    user_factory(username="gone", is_active=False)
    Hashtag.objects.create(name="old")
    client = client_for(author)
    with django_assert_num_queries(7) as queries:
        response = client.post(f"/api/Post/users/{author.id}",
                               {"content": "#new @zed #Old @nobody @amy @gone #new"}, format="json")
    assert shapes(queries.captured_queries) == [
        "SELECT accounts_user", "BEGIN", "INSERT posts_post", "WITH posts_posthashtag", "WITH posts_postmention",
        "INSERT events_outboxevent", "COMMIT"]
    body = response.json()
    assert (body["hashtags"], [m["username"] for m in body["mentions"]]) == (["new", "old"], ["zed", "Amy"])
    post = Post.objects.get()
    assert list(post.post_hashtags.order_by("id").values_list("hashtag__name", "created_at")) == [
        ("new", post.created_at), ("old", post.created_at)]
    assert list(post.post_mentions.order_by("id").values_list("user_id", flat=True)) == [zed.id, amy.id]
    assert Hashtag.objects.count() == 2
    assert client.get(f"/api/posts/{post.id}").json() == body


def test_like_costs_nine_statements_new_and_eight_repeated(user_factory, client_for, django_assert_num_queries):
    author, reader = user_factory(), user_factory()
    post = services.post_create(author=author, content="likeable")
    client = client_for(reader)
    with django_assert_num_queries(9) as queries:
        response = client.post(f"/api/posts/{post.id}/like")
    assert shapes(queries.captured_queries) == [
        "SELECT accounts_user", "SELECT posts_post", "SELECT posts_posthashtag", "SELECT posts_postmention",
        "BEGIN", "INSERT posts_like", "UPDATE posts_post", "INSERT events_outboxevent", "COMMIT"]
    assert (response.status_code, response.json()["like_count"], response.json()["liked_by_me"]) == (201, 1, True)
    with django_assert_num_queries(8) as queries:
        again = client.post(f"/api/posts/{post.id}/like")
    assert shapes(queries.captured_queries) == [
        "SELECT accounts_user", "SELECT posts_post", "SELECT posts_posthashtag", "SELECT posts_postmention",
        "BEGIN", "INSERT posts_like", "SELECT posts_like", "COMMIT"]
    assert (again.status_code, again.json()["like_count"], again.json()["liked_by_me"]) == (200, 1, True)
    assert client.get(f"/api/posts/{post.id}").json() == again.json()


def test_comment_costs_seven_statements(user_factory, client_for, django_assert_num_queries):
    author, reader = user_factory(), user_factory(username="reader")
    post = services.post_create(author=author, content="discuss")
    client = client_for(reader)
    with django_assert_num_queries(7) as queries:
        response = client.post(f"/api/posts/{post.id}/comments", {"content": " nice "}, format="json")
    assert shapes(queries.captured_queries) == [
        "SELECT accounts_user", "SELECT posts_post", "BEGIN", "INSERT posts_comment", "UPDATE posts_post",
        "INSERT events_outboxevent", "COMMIT"]
    comment = Comment.objects.get()
    assert response.json() == {"id": comment.id, "post_id": post.id, "author": response.json()["author"],
                               "content": "nice", "created_at": response.json()["created_at"]}
    assert response.json()["author"]["username"] == "reader"


def test_friend_request_costs_seven_statements(user_factory, client_for, django_assert_num_queries):
    sender, recipient = user_factory(), user_factory()
    client = client_for(sender)
    with django_assert_num_queries(7) as queries:
        response = client.post("/api/friends/requests", {"to_user_id": recipient.id}, format="json")
    # token user; both users locked; block, friendship and pending request checked in one query
    assert shapes(queries.captured_queries) == [
        "SELECT accounts_user", "BEGIN", "SELECT accounts_user", "SELECT accounts_user",
        "INSERT graph_friendrequest", "INSERT events_outboxevent", "COMMIT"]
    assert (response.status_code, response.json()["to_user"]["id"]) == (201, recipient.id)
    # the same request again is a 409 from the same one check, and writes nothing
    again = client.post("/api/friends/requests", {"to_user_id": recipient.id}, format="json")
    assert (again.status_code, again.json()["code"]) == (409, "request_pending")


def test_cached_feed_read_costs_two_statements(user_factory, client_for, befriend, django_assert_num_queries):
    reader, friend = user_factory(), user_factory()
    befriend(reader, friend)
    for n in range(3):
        services.post_create(author=friend, content=f"#t{n} post {n} @{reader.username}")
    client = client_for(reader)
    first = client.get("/api/feed/").json()
    # The page's rendered posts come from the cache; one query re-checks their visibility and
    # reads what may have changed (feed.selectors.live_post_fields).
    with django_assert_num_queries(2) as queries:
        response = client.get("/api/feed/")
    assert shapes(queries.captured_queries) == ["SELECT accounts_user", "SELECT posts_post"]
    assert response.json() == first
    assert len(first["results"]) == 3
