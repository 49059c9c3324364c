"""Moderation through the Django admin: a moderator can do each action (state, audit row and
event exact), cannot do superuser things; staff without the group cannot moderate."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from posts.models import Post, Report
from tests.moderation.helpers import audit, events
from tests.posts.factories import PostFactory, ReportFactory

pytestmark = pytest.mark.django_db

User = get_user_model()


def act(client, url, action, ids, reason="breaks the rules"):
    """POST an admin action to the changelist ``url``, as the admin page does."""
    return client.post(url, {"action": action, "_selected_action": [str(i) for i in ids], "index": 0, "reason": reason})


def messages_of(response) -> list[str]:
    return [m.message for m in get_messages(response.wsgi_request)]


@pytest.mark.parametrize(
    ("action", "start", "state", "event_action", "audit_action", "message"),
    [
        ("hide_posts", "visible", "hidden", "hide", "post_hide", "Hid 2; 0 already hidden."),
        ("remove_posts", "hidden", "removed", "remove", "post_remove", "Removed 2; 0 already removed."),
        ("restore_posts", "removed", "visible", "restore", "post_restore", "Restored 2; 0 already visible."),
    ],
)
def test_moderator_moderates_posts_through_the_admin(
    moderator, admin_client, action, start, state, event_action, audit_action, message
):
    # given two posts in the start state and one not selected
    posts = PostFactory.create_batch(2, moderation_state=start)
    other = PostFactory(moderation_state=start)
    # when the moderator runs the action on the two
    response = act(admin_client(moderator), "/admin/posts/post/", action, [p.pk for p in posts])
    # then it redirects back with the outcome, the two changed, the third did not
    assert response.status_code == 302
    assert messages_of(response) == [message]
    assert dict(Post.objects.values_list("id", "moderation_state")) == {
        posts[0].pk: state, posts[1].pk: state, other.pk: start,
    }
    assert audit() == [(moderator.pk, audit_action, p.pk, None, p.author_id, "breaks the rules") for p in posts]
    assert events() == [
        ("post.moderated", str(p.author_id), moderator.pk,
         {"post_id": p.pk, "author_id": p.author_id, "action": event_action, "moderator_id": moderator.pk})
        for p in posts
    ]


def test_hiding_an_already_hidden_post_through_the_admin_is_a_no_op(moderator, admin_client):
    post = PostFactory(moderation_state="hidden")
    response = act(admin_client(moderator), "/admin/posts/post/", "hide_posts", [post.pk])
    assert messages_of(response) == ["Hid 0; 1 already hidden."]
    assert (audit(), events()) == ([], [])


@pytest.mark.parametrize(
    ("action", "status", "audit_action", "message"),
    [
        ("resolve_reports", "resolved", "report_resolve", "Resolved 1; 0 already resolved."),
        ("dismiss_reports", "dismissed", "report_dismiss", "Dismissed 1; 0 already dismissed."),
    ],
)
def test_moderator_resolves_and_dismisses_reports(moderator, admin_client, action, status, audit_action, message):
    report, untouched = ReportFactory(), ReportFactory()
    response = act(admin_client(moderator), "/admin/posts/report/", action, [report.pk], reason="looked at it")
    assert messages_of(response) == [message]
    assert dict(Report.objects.values_list("id", "status")) == {report.pk: status, untouched.pk: "open"}
    assert Report.objects.get(pk=report.pk).resolved_by_id == moderator.pk
    assert audit() == [(moderator.pk, audit_action, report.post_id, report.pk, report.reporter_id, "looked at it")]
    assert events() == []


@pytest.mark.parametrize(
    ("action", "start", "active", "audit_action", "message", "event"),
    [
        ("suspend_users", True, False, "user_suspend", "Suspended 1; 0 already suspended.", "user.deactivated"),
        ("unsuspend_users", False, True, "user_unsuspend", "Unsuspended 1; 0 already active.", "user.reactivated"),
    ],
)
def test_moderator_suspends_and_unsuspends_users(
    moderator, admin_client, user_factory, action, start, active, audit_action, message, event
):
    target = user_factory(username="troll", is_active=start, suspended_at=None if start else timezone.now())
    response = act(admin_client(moderator), "/admin/accounts/user/", action, [target.pk], reason="abuse")
    assert messages_of(response) == [message]
    target.refresh_from_db()
    assert (target.is_active, target.suspended_at is None) == (active, active)
    assert audit() == [(moderator.pk, audit_action, None, None, target.pk, "abuse")]
    # the account's visibility changed: trends and feed caches follow the event
    assert events() == [(event, str(target.pk), moderator.pk, {"user_id": target.pk, "cause": "suspension"})]


@pytest.mark.parametrize(
    ("url", "action", "make"),
    [
        ("/admin/posts/post/", "hide_posts", lambda uf: PostFactory().pk),
        ("/admin/posts/report/", "resolve_reports", lambda uf: ReportFactory().pk),
        ("/admin/accounts/user/", "suspend_users", lambda uf: uf(username="troll").pk),
    ],
)
@pytest.mark.parametrize("reason", ["", "   "])
def test_empty_reason_is_an_error_and_changes_nothing(moderator, admin_client, user_factory, url, action, make, reason):
    pk = make(user_factory)
    response = act(admin_client(moderator), url, action, [pk], reason=reason)
    assert response.status_code == 302
    assert messages_of(response) == ["A reason is required. Nothing was changed."]
    assert (audit(), events()) == ([], [])
    assert list(Post.objects.values_list("moderation_state", flat=True).distinct()) in ([], ["visible"])
    assert list(Report.objects.values_list("status", flat=True).distinct()) in ([], ["open"])
    assert User.objects.filter(is_active=False).count() == 0


def test_moderator_cannot_suspend_staff_or_themselves(moderator, admin_client, user_factory):
    other_staff = user_factory(username="colleague", is_staff=True)
    response = act(admin_client(moderator), "/admin/accounts/user/", "suspend_users", [other_staff.pk, moderator.pk])
    assert messages_of(response) == [
        "mod: You cannot suspend or unsuspend yourself.",
        "colleague: Only superusers may suspend or unsuspend staff accounts.",
        "Suspended 0; 0 already suspended.",
    ]
    assert User.objects.filter(is_active=False).count() == 0
    assert audit() == []


@pytest.mark.parametrize(
    "path",
    [
        "/admin/posts/post/",
        "/admin/posts/post/?moderation_state__exact=hidden&q=findme",
        "/admin/posts/report/?status__exact=open&reason__exact=spam",
        "/admin/posts/comment/",
        "/admin/moderation/moderationaction/?action__exact=post_hide&q=spam",
        "/admin/accounts/user/?q=mod",
    ],
)
def test_moderator_sees_the_moderation_pages(moderator, admin_client, path):
    ReportFactory(post__content="findme")
    assert admin_client(moderator).get(path).status_code == 200


def test_moderator_is_offered_exactly_the_moderation_actions(moderator, admin_client):
    client = admin_client(moderator)
    PostFactory()
    for url, expected in [
        ("/admin/posts/post/", ["hide_posts", "remove_posts", "restore_posts"]),
        ("/admin/posts/report/", ["resolve_reports", "dismiss_reports"]),
        ("/admin/accounts/user/", ["suspend_users", "unsuspend_users", "deactivate_users", "reactivate_users"]),
    ]:
        form = client.get(url).context["action_form"]
        assert [name for name, _ in form.fields["action"].choices if name] == expected
        assert "reason" in form.fields


def test_moderator_cannot_do_superuser_things(moderator, admin_client, user_factory):
    client = admin_client(moderator)
    victim = user_factory(username="victim")
    post = PostFactory()
    report = ReportFactory(post=post)
    # groups and permissions are off limits
    assert client.get("/admin/auth/group/").status_code == 403
    assert client.get("/admin/auth/group/add/").status_code == 403
    # users: no delete, no add, no edit (e.g. is_staff), no bulk delete
    assert client.post(f"/admin/accounts/user/{victim.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get("/admin/accounts/user/add/").status_code == 403
    response = client.post(
        f"/admin/accounts/user/{victim.pk}/change/",
        {"username": "victim", "is_staff": "on", "is_active": "on", "date_joined_0": "2024-01-01", "date_joined_1": "00:00"},
    )
    assert response.status_code == 403
    bulk_delete = act(client, "/admin/accounts/user/", "delete_selected", [victim.pk])
    assert messages_of(bulk_delete) == ["No action selected."]  # not offered to moderators
    # posts and reports: no add, no delete, no direct edit; the audit log is read-only
    assert client.get("/admin/posts/post/add/").status_code == 403
    assert client.post(f"/admin/posts/post/{post.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.post(f"/admin/posts/post/{post.pk}/change/", {"moderation_state": "removed"}).status_code == 403
    assert client.post(f"/admin/posts/report/{report.pk}/change/", {"status": "dismissed"}).status_code == 403
    assert client.get("/admin/moderation/moderationaction/add/").status_code == 403
    # other apps' data is off limits
    assert client.get("/admin/graph/friendship/").status_code == 403
    # and nothing changed
    assert User.objects.filter(pk=victim.pk).exists()
    victim.refresh_from_db()
    assert (victim.is_staff, victim.is_active) == (False, True)
    assert (Post.objects.get().moderation_state, Report.objects.get().status) == ("visible", "open")
    assert (audit(), events()) == ([], [])


def test_audit_log_is_read_only_even_for_superusers(moderator, admin_client, user_factory):
    from moderation.services import post_hide

    root = user_factory(username="root", is_staff=True, is_superuser=True)
    post = PostFactory()
    row = post_hide(post=post, moderator=moderator, reason="spam")
    client = admin_client(root)
    assert client.get(f"/admin/moderation/moderationaction/{row.pk}/change/").status_code == 200
    assert client.post(f"/admin/moderation/moderationaction/{row.pk}/change/", {"reason": "edited"}).status_code == 403
    assert client.post(f"/admin/moderation/moderationaction/{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get("/admin/moderation/moderationaction/add/").status_code == 403
    assert audit() == [(moderator.pk, "post_hide", post.pk, None, post.author_id, "spam")]


@pytest.mark.parametrize(
    ("url", "action", "make"),
    [
        ("/admin/posts/post/", "hide_posts", lambda: PostFactory().pk),
        ("/admin/posts/report/", "resolve_reports", lambda: ReportFactory().pk),
    ],
)
def test_staff_without_the_group_cannot_moderate(plain_staff, admin_client, url, action, make):
    pk = make()
    client = admin_client(plain_staff)
    assert client.get(url).status_code == 403
    assert act(client, url, action, [pk]).status_code == 403
    assert (audit(), events()) == ([], [])


def test_staff_with_only_view_user_gets_no_suspend_action(plain_staff, admin_client, user_factory):
    from django.contrib.auth.models import Permission

    plain_staff.user_permissions.add(Permission.objects.get(codename="view_user"))
    target = user_factory(username="troll")
    client = admin_client(plain_staff)
    # no action at all is offered (no action form on the page)
    assert client.get("/admin/accounts/user/").context["action_form"] is None
    response = act(client, "/admin/accounts/user/", "suspend_users", [target.pk])
    assert (response.status_code, messages_of(response)) == (200, [])  # the list again, nothing done
    target.refresh_from_db()
    assert target.is_active is True
    assert audit() == []


def test_report_changelist_query_count_is_constant(moderator, admin_client):
    client = admin_client(moderator)

    def queries_for(n: int) -> int:
        Report.objects.all().delete()
        ReportFactory.create_batch(n)
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/admin/posts/report/").status_code == 200
        return len(captured)

    assert queries_for(2) == queries_for(20)
