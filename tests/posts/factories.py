"""factory_boy factories of the posts domain (rows only: no events, no hashtag parsing).

Use the services (``posts.services``) when a test needs events, links or counters.
"""

import factory

from posts.models import Comment, Like, Post, Report
from tests.factories import UserFactory


class PostFactory(factory.django.DjangoModelFactory):
    """A visible public post."""

    class Meta:
        model = Post

    author = factory.SubFactory(UserFactory)
    content = factory.Sequence(lambda n: f"Post number {n}")
    visibility = Post.Visibility.PUBLIC


class CommentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Comment

    post = factory.SubFactory(PostFactory)
    author = factory.SubFactory(UserFactory)
    content = factory.Sequence(lambda n: f"Comment number {n}")


class LikeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Like

    post = factory.SubFactory(PostFactory)
    user = factory.SubFactory(UserFactory)


class ReportFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Report

    post = factory.SubFactory(PostFactory)
    reporter = factory.SubFactory(UserFactory)
    reason = Report.Reason.SPAM
