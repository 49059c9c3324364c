"""moderation.services for posts and reports: state, audit row and ``post.moderated`` event,
exactly; no-ops; who may act."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from moderation import services
from moderation.models import ModerationAction
from posts.models import Post, Report
from tests.moderation.helpers import audit, events
from tests.posts.factories import PostFactory, ReportFactory

pytestmark = pytest.mark.django_db


def moderated(post, action, moderator):
    """The exact outbox entry of one moderation of ``post``."""
    return (
        "post.moderated",
        str(post.author_id),
        moderator.pk,
        {"post_id": post.pk, "author_id": post.author_id, "action": action, "moderator_id": moderator.pk},
    )


def test_hide_hides_resolves_open_reports_audits_and_publishes(moderator):
    # given a post with two open reports and one dismissed, and another post's open report
    post = PostFactory()
    open_reports = ReportFactory.create_batch(2, post=post)
    dismissed = ReportFactory(post=post, status=Report.Status.DISMISSED)
    elsewhere = ReportFactory()
    # when a moderator hides the post
    action = services.post_hide(post=post, moderator=moderator, reason="  spam links  ")
    # then the post is hidden, its open reports are resolved by the moderator
    post.refresh_from_db()
    assert post.moderation_state == "hidden"
    for report in open_reports:
        report.refresh_from_db()
        assert (report.status, report.resolved_by_id, report.resolved_at is not None) == ("resolved", moderator.pk, True)
    dismissed.refresh_from_db()
    elsewhere.refresh_from_db()
    assert (dismissed.status, dismissed.resolved_by_id) == ("dismissed", None)
    assert (elsewhere.status, elsewhere.resolved_by_id) == ("open", None)
    # and one audit row (reason trimmed) and one event were written
    assert audit() == [(moderator.pk, "post_hide", post.pk, None, post.author_id, "spam links")]
    assert action == ModerationAction.objects.get()
    assert events() == [moderated(post, "hide", moderator)]


def test_repeating_a_state_change_is_a_no_op(moderator):
    post = PostFactory()
    services.post_hide(post=post, moderator=moderator, reason="first")
    # when hiding again
    assert services.post_hide(post=post, moderator=moderator, reason="again") is None
    # then nothing more was written
    assert len(audit()) == 1
    assert len(events()) == 1


def test_hide_remove_restore_sequence(moderator):
    post = PostFactory()
    services.post_hide(post=post, moderator=moderator, reason="r1")
    services.post_remove(post=post, moderator=moderator, reason="r2")
    assert Post.objects.get().moderation_state == "removed"
    services.post_restore(post=post, moderator=moderator, reason="r3")
    assert Post.objects.get().moderation_state == "visible"
    # restoring a visible post does nothing
    assert services.post_restore(post=post, moderator=moderator, reason="r4") is None
    assert [row[1] for row in audit()] == ["post_hide", "post_remove", "post_restore"]
    assert events() == [moderated(post, a, moderator) for a in ("hide", "remove", "restore")]


def test_restore_leaves_reports_alone(moderator):
    post = PostFactory(moderation_state="hidden")
    report = ReportFactory(post=post)
    services.post_restore(post=post, moderator=moderator, reason="appeal accepted")
    report.refresh_from_db()
    assert report.status == "open"


@pytest.mark.parametrize(
    ("service", "status", "action"),
    [(services.report_resolve, "resolved", "report_resolve"), (services.report_dismiss, "dismissed", "report_dismiss")],
)
def test_report_resolve_and_dismiss(moderator, service, status, action):
    report = ReportFactory()
    # when closing it
    result = service(report=report, moderator=moderator, reason="checked")
    # then it is closed by the moderator, audited, and no event is published
    report.refresh_from_db()
    assert (report.status, report.resolved_by_id, report.resolved_at is not None) == (status, moderator.pk, True)
    assert report.post.moderation_state == "visible"
    assert audit() == [(moderator.pk, action, report.post_id, report.pk, report.reporter_id, "checked")]
    assert result == ModerationAction.objects.get()
    assert events() == []
    # and a second identical call is a no-op
    assert service(report=report, moderator=moderator, reason="again") is None
    assert len(audit()) == 1


def test_a_dismissed_report_can_be_resolved(moderator):
    report = ReportFactory(status=Report.Status.DISMISSED)
    assert services.report_resolve(report=report, moderator=moderator, reason="second look") is not None
    assert Report.objects.get().status == "resolved"


@pytest.mark.parametrize("who", ["plain_staff", "ordinary", "inactive_moderator"])
@pytest.mark.parametrize(
    ("service", "subject"),
    [
        (services.post_hide, "post"),
        (services.post_remove, "post"),
        (services.report_resolve, "report"),
        (services.report_dismiss, "report"),
    ],
)
def test_non_moderators_are_refused_and_nothing_changes(request, user_factory, who, service, subject):
    actor = {
        "plain_staff": lambda: request.getfixturevalue("plain_staff"),
        "ordinary": lambda: user_factory(username="ordinary"),
        "inactive_moderator": lambda: _inactive(request.getfixturevalue("moderator")),
    }[who]()
    report = ReportFactory()
    target = {"post": report.post, "report": report}[subject]
    with pytest.raises(PermissionDenied):
        service(**{subject: target}, moderator=actor, reason="because")
    assert (Post.objects.get().moderation_state, Report.objects.get().status) == ("visible", "open")
    assert (audit(), events()) == ([], [])


def _inactive(user):
    user.is_active = False
    user.save()
    return user


def test_restore_needs_a_moderator_too(plain_staff):
    post = PostFactory(moderation_state="removed")
    with pytest.raises(PermissionDenied):
        services.post_restore(post=post, moderator=plain_staff, reason="x")
    assert Post.objects.get().moderation_state == "removed"


def test_a_superuser_may_moderate(user_factory):
    root = user_factory(username="root", is_staff=True, is_superuser=True)
    post = PostFactory()
    services.post_remove(post=post, moderator=root, reason="illegal")
    assert events() == [moderated(post, "remove", root)]


@pytest.mark.parametrize("reason", ["", "   ", "x" * 1001])
def test_bad_reason_is_refused_and_nothing_changes(moderator, reason):
    post = PostFactory()
    with pytest.raises(ValidationError):
        services.post_hide(post=post, moderator=moderator, reason=reason)
    assert Post.objects.get().moderation_state == "visible"
    assert (audit(), events()) == ([], [])
