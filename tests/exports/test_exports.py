"""The data export (README "Account lifecycle"): ``POST /api/users/me/export`` starts a job, the
archive holds exactly the user's data as six JSON files, the user is notified, the signed link
works until it expires, one export per interval. Bad input next to each good case.

Transactional tests: the build task runs (eager Celery) after the request's commit.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone
from rest_framework.test import APIClient

from bellamy.accounts import lifecycle
from exports import services
from exports.models import ExportJob
from graph import services as graph_services
from moderation.services import moderator_add, moderators_group_sync, post_hide
from posts import services as post_services
from tests.accounts.world import login

pytestmark = pytest.mark.django_db(transaction=True)


def z(moment) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def download(url: str):
    """GET a download link as a browser would (no bearer token)."""
    return APIClient().get(url.removeprefix("http://testserver"))


def archive(response) -> dict[str, object]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as zipped:
        return {name: json.loads(zipped.read(name)) for name in zipped.namelist()}


@pytest.fixture
def media(settings, tmp_path):
    """Archives go to a temporary MEDIA_ROOT."""
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def test_export_archive_holds_exactly_the_users_data_and_the_user_is_notified(media, user_factory):
    me = user_factory(username="me", display_name="Me Myself", bio="Hello")
    fay, gus, dee = (user_factory(username=name) for name in ("fay", "gus", "dee"))
    first = graph_services.friend_request_send(from_user=me, to_user_id=fay.pk)
    graph_services.friend_request_accept(user=fay, request_id=first.pk)
    second = graph_services.friend_request_send(from_user=gus, to_user_id=me.pk)
    graph_services.friend_request_accept(user=me, request_id=second.pk)
    third = graph_services.friend_request_send(from_user=me, to_user_id=dee.pk)
    graph_services.friend_request_accept(user=dee, request_id=third.pk)
    lifecycle.account_deactivate(user=dee)  # a deactivated friend is not shown
    public = post_services.post_create(author=me, content="Sunny #beach day with @fay and @dee")
    private = post_services.post_create(author=me, content="Only me", visibility="private")
    gone = post_services.post_create(author=me, content="Oops")
    post_services.post_delete(post=gone, user=me)
    moderators_group_sync()
    moderator = user_factory(username="mod")
    moderator_add(user=moderator)
    hidden = post_services.post_create(author=me, content="Rude")
    post_hide(post=hidden, moderator=moderator, reason="rude")
    fay_post = post_services.post_create(author=fay, content="Fay's post")
    post_services.post_like(post=fay_post, user=me)
    post_services.post_like(post=public, user=me)
    kept = post_services.comment_create(post=fay_post, author=me, content="Nice")
    removed = post_services.comment_create(post=fay_post, author=me, content="Typo")
    post_services.comment_delete(comment=removed, user=me)
    post_services.post_like(post=public, user=fay)
    client = login("me")

    # when the user asks for an export
    response = client.post("/api/users/me/export")
    assert response.status_code == 202, response.content
    job = ExportJob.objects.get()
    assert response.json() == {"id": str(job.pk), "status": "pending", "created_at": z(job.created_at),
                               "completed_at": None, "expires_at": None, "size": None, "download_url": None}

    # then the task built it; the latest job carries a signed link, and the user was notified
    job.refresh_from_db()
    state = client.get("/api/users/me/export").json()
    assert {key: state[key] for key in ("id", "status", "size", "expires_at")} == {
        "id": str(job.pk), "status": "ready", "size": job.size, "expires_at": z(job.expires_at)}
    assert job.expires_at - job.completed_at == timedelta(hours=168)
    assert state["download_url"].startswith(f"http://testserver/api/exports/{job.pk}/download?token=")
    notification = client.get("/api/notifications/").json()["results"][0]
    assert (notification["type"], [a["username"] for a in notification["actors"]], notification["post_id"]) == (
        "export_ready", ["me"], None)
    files = archive(download(state["download_url"]))
    for post in (public, private, gone, hidden, fay_post):
        post.refresh_from_db()
    me.refresh_from_db()
    assert list(files) == ["profile.json", "posts.json", "comments.json", "likes.json", "friends.json",
                           "notifications.json"]
    assert files["profile.json"] == {"id": me.pk, "username": "me", "email": "me@example.org",
                                     "display_name": "Me Myself", "bio": "Hello", "date_joined": z(me.date_joined),
                                     "last_login": z(me.last_login)}

    def post_json(post, hashtags=(), mentions=()):
        return {"id": post.pk, "content": post.content, "visibility": post.visibility, "hashtags": list(hashtags),
                "mentions": list(mentions), "created_at": z(post.created_at), "edited_at": None,
                "deleted_at": z(post.deleted_at), "moderation_state": post.moderation_state,
                "like_count": post.like_count, "comment_count": post.comment_count}

    assert files["posts.json"] == [
        post_json(public, ["beach"], ["fay"]),  # @dee is deactivated: not shown
        post_json(private), post_json(gone), post_json(hidden),
    ]
    assert (files["posts.json"][0]["like_count"], files["posts.json"][2]["deleted_at"] is not None,
            files["posts.json"][3]["moderation_state"]) == (2, True, "hidden")
    removed.refresh_from_db()
    assert files["comments.json"] == [
        {"id": kept.pk, "post_id": fay_post.pk, "content": "Nice", "created_at": z(kept.created_at), "deleted_at": None},
        {"id": removed.pk, "post_id": fay_post.pk, "content": "Typo", "created_at": z(removed.created_at),
         "deleted_at": z(removed.deleted_at)},
    ]
    assert [like["post_id"] for like in files["likes.json"]] == [fay_post.pk, public.pk]
    assert [(f["username"], f["display_name"]) for f in files["friends.json"]] == [("fay", "Fay"), ("gus", "Gus")]
    assert [(n["type"], n["actors"], n["actor_count"], n["read"]) for n in files["notifications.json"]] == [
        ("post_liked", ["fay"], 1, False),           # fay liked the public post
        ("friend_posted", ["fay"], 1, False),
        ("friend_accepted", [], 0, False),           # dee accepted, then deactivated
        ("friend_request", ["gus"], 1, False),
        ("friend_accepted", ["fay"], 1, False),
    ]


def test_one_export_per_interval_answers_429_with_retry_after(media, user_factory, settings):
    settings.BELLAMY_EXPORT_INTERVAL_HOURS = 24
    user_factory(username="eager")
    client = login("eager")
    assert client.post("/api/users/me/export").status_code == 202
    # when asking again at once
    response = client.post("/api/users/me/export")
    # then 429 with the seconds until the interval has passed, and no new job
    assert (response.status_code, response.json()["code"]) == (429, "export_rate_limited")
    assert 24 * 3600 - 60 <= int(response["Retry-After"]) <= 24 * 3600
    assert ExportJob.objects.count() == 1
    # a failed export does not count; one older than the interval neither
    ExportJob.objects.update(status="failed")
    assert client.post("/api/users/me/export").status_code == 202
    ExportJob.objects.update(created_at=timezone.now() - timedelta(hours=24, seconds=1))
    assert client.post("/api/users/me/export").status_code == 202
    assert ExportJob.objects.count() == 3
    assert APIClient().post("/api/users/me/export").status_code == 401


def test_download_link_refuses_bad_tokens_and_expires(media, user_factory, monkeypatch):
    user_factory(username="owner")
    user_factory(username="other")
    owner, other = login("owner"), login("other")
    assert owner.get("/api/users/me/export").json() == {"detail": "You have not requested an export.",
                                                        "code": "export_not_found"}
    owner.post("/api/users/me/export")
    other.post("/api/users/me/export")
    mine = owner.get("/api/users/me/export").json()
    theirs = other.get("/api/users/me/export").json()
    path = f"/api/exports/{mine['id']}/download"
    token = mine["download_url"].split("token=")[1]
    other_token = theirs["download_url"].split("token=")[1]
    cases = [
        (f"{path}?token={token}", 200, None),
        (path, 400, None),                                             # no token
        (f"{path}?token={token[:-2]}xx", 404, "export_not_found"),     # tampered
        (f"{path}?token={other_token}", 404, "export_not_found"),      # another job's token
        (f"/api/exports/00000000-0000-0000-0000-000000000000/download?token={token}", 404, "export_not_found"),
        ("/api/exports/not-a-uuid/download?token=x", 404, "not_found"),
    ]
    for url, status, code in cases:
        response = APIClient().get(url)
        assert response.status_code == status, (url, response.content)
        if code:
            assert response.json()["code"] == code
    # a link signed longer ago than the expiry is gone, even for a job still ready
    from django.core import signing

    job = ExportJob.objects.get(pk=mine["id"])
    monkeypatch.setattr(signing.time, "time", lambda: (timezone.now() - timedelta(hours=169)).timestamp())
    old_token = services.download_token(job)
    monkeypatch.undo()
    response = APIClient().get(f"{path}?token={old_token}")
    assert (response.status_code, response.json()["code"]) == (410, "export_expired")
    # when the expiry sweep runs past the archive's time, it is deleted and the link is gone
    assert services.exports_expire(now=job.expires_at + timedelta(seconds=1)) == 2
    job.refresh_from_db()
    assert (job.status, job.archive, default_storage.exists(f"exports/{job.pk}.zip")) == ("expired", "", False)
    assert owner.get("/api/users/me/export").json()["download_url"] is None
    assert APIClient().get(f"{path}?token={token}").status_code == 410


def test_a_deactivated_accounts_link_stops_working(media, user_factory):
    user = user_factory(username="leaving")
    client = login("leaving")
    client.post("/api/users/me/export")
    url = client.get("/api/users/me/export").json()["download_url"]
    assert download(url).status_code == 200
    lifecycle.account_deactivate(user=user)
    assert download(url).status_code == 404
