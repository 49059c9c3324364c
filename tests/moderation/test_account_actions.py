"""Account lifecycle actions in the admin: moderators deactivate and reactivate accounts; only
staff holding ``accounts.erase_user`` delete one. Every action is audited and publishes the
lifecycle events; a refused one changes nothing."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied

from bellamy.accounts.models import AccountErasure
from moderation import services
from tests.moderation.helpers import audit, events
from tests.moderation.test_admin import act, messages_of

pytestmark = pytest.mark.django_db

User = get_user_model()
USERS = "/admin/accounts/user/"


@pytest.fixture
def eraser(user_factory):
    """A staff member (not a moderator, not a superuser) granted ``accounts.erase_user``."""
    user = user_factory(username="dpo", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="accounts", codename="erase_user"),
        Permission.objects.get(content_type__app_label="accounts", codename="view_user"),
    )
    return User.objects.get(pk=user.pk)  # fresh permission cache


def test_moderator_deactivates_and_reactivates_an_account(moderator, admin_client, user_factory):
    target = user_factory(username="hacked")
    client = admin_client(moderator)

    response = act(client, USERS, "deactivate_users", [target.pk], reason="owner says it was hacked")
    assert messages_of(response) == ["Deactivated 1; 0 already deactivated."]
    target.refresh_from_db()
    assert (target.is_active, target.deactivated_at is not None, target.suspended_at) == (False, True, None)

    response = act(client, USERS, "reactivate_users", [target.pk], reason="owner recovered it")
    # the session still holds the first action's message
    assert messages_of(response)[-1] == "Reactivated 1; 0 already active."
    target.refresh_from_db()
    assert (target.is_active, target.deactivated_at) == (True, None)
    assert audit() == [
        (moderator.pk, "user_deactivate", None, None, target.pk, "owner says it was hacked"),
        (moderator.pk, "user_reactivate", None, None, target.pk, "owner recovered it"),
    ]
    assert events() == [
        ("user.deactivated", str(target.pk), moderator.pk, {"user_id": target.pk, "cause": "moderator"}),
        ("user.reactivated", str(target.pk), moderator.pk, {"user_id": target.pk, "cause": "moderator"}),
    ]


def test_moderator_cannot_delete_an_account(moderator, admin_client, user_factory):
    target = user_factory(username="victim")
    response = act(admin_client(moderator), USERS, "delete_accounts", [target.pk], reason="spam")
    # the action is not offered to moderators: Django refuses the unknown choice
    assert (response.status_code, messages_of(response)) == (302, ["No action selected."])
    target.refresh_from_db()
    assert (target.is_active, target.erased_at, target.username) == (True, None, "victim")
    assert (audit(), events(), AccountErasure.objects.count()) == ([], [], 0)
    with pytest.raises(PermissionDenied, match="Only staff with accounts.erase_user may delete accounts."):
        services.user_delete(user=target, moderator=moderator, reason="spam")
    assert (audit(), events()) == ([], [])


def test_staff_with_erase_permission_deletes_an_account(eraser, admin_client, user_factory):
    target = user_factory(username="leaver", email="leaver@example.com", display_name="Leaver")
    client = admin_client(eraser)
    form = client.get(USERS).context["action_form"]
    assert [name for name, _ in form.fields["action"].choices if name] == ["delete_accounts"]

    response = act(client, USERS, "delete_accounts", [target.pk], reason="erasure request by e-mail")
    assert messages_of(response) == ["Deleted 1; 0 already deleted."]
    target.refresh_from_db()
    assert (target.username, target.email, target.display_name, target.is_active, target.has_usable_password()) == (
        f"deleted-{target.pk}", "", "", False, False,
    )
    assert target.erased_at is not None
    erasure = AccountErasure.objects.get(user_id=target.pk)
    assert audit() == [(eraser.pk, "user_delete", None, None, target.pk, "erasure request by e-mail")]
    assert events() == [
        ("user.deactivated", str(target.pk), eraser.pk, {"user_id": target.pk, "cause": "deletion"}),
        ("user.deleted", str(target.pk), eraser.pk, {"user_id": target.pk}),
    ]
    # deleting it again is a no-op: no second audit row, no event
    response = act(client, USERS, "delete_accounts", [target.pk], reason="again")
    assert messages_of(response)[-1] == "Deleted 0; 1 already deleted."
    assert len(audit()) == 1 and len(events()) == 2
    assert AccountErasure.objects.get(user_id=target.pk).event_id == erasure.event_id


def test_eraser_cannot_delete_staff_or_themselves(eraser, admin_client, user_factory):
    colleague = user_factory(username="colleague", is_staff=True)
    response = act(admin_client(eraser), USERS, "delete_accounts", [colleague.pk, eraser.pk], reason="x")
    assert sorted(messages_of(response)) == [
        "Deleted 0; 0 already deleted.",
        "colleague: Only superusers may delete staff accounts.",
        "dpo: You cannot delete yourself.",
    ]
    assert User.objects.filter(erased_at__isnull=False).count() == 0
    assert (audit(), events()) == ([], [])


def test_plain_staff_is_offered_no_account_action(plain_staff, admin_client, user_factory):
    plain_staff.user_permissions.add(Permission.objects.get(content_type__app_label="accounts", codename="view_user"))
    target = user_factory(username="someone")
    client = admin_client(User.objects.get(pk=plain_staff.pk))
    page = client.get(USERS)
    assert (page.status_code, page.context["action_form"]) == (200, None)  # no action at all
    act(client, USERS, "deactivate_users", [target.pk], reason="x")
    target.refresh_from_db()
    assert target.is_active is True
    assert (audit(), events()) == ([], [])
