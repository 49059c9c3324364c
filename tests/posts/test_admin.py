"""The moderators' admin pages for posts render, filter and search."""

import pytest
from django.test import Client

from tests.posts.factories import CommentFactory, LikeFactory, ReportFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    [
        "/admin/posts/post/",
        "/admin/posts/post/?q=findme&moderation_state__exact=visible&visibility__exact=public",
        "/admin/posts/comment/?q=findme",
        "/admin/posts/report/?status__exact=open&reason__exact=spam",
        "/admin/posts/like/",
        "/admin/posts/hashtag/?q=x",
    ],
)
def test_admin_changelists_render(user_factory, path):
    # given a superuser and one row of each kind
    admin = user_factory(username="root", is_staff=True, is_superuser=True)
    report = ReportFactory(post__content="findme please")
    CommentFactory(post=report.post, content="findme too")
    LikeFactory(post=report.post)
    client = Client()
    client.force_login(admin)
    # when opening the changelist / then 200
    response = client.get(path)
    assert response.status_code == 200


def test_likes_are_read_only_in_admin(user_factory):
    admin = user_factory(username="root", is_staff=True, is_superuser=True)
    like = LikeFactory()
    client = Client()
    client.force_login(admin)
    assert client.get("/admin/posts/like/add/").status_code == 403
    assert client.post(f"/admin/posts/like/{like.pk}/delete/", {"post": "yes"}).status_code == 403
