"""Search and the account lifecycle, on both search backends: a deactivated account and
everything it wrote disappear from every search (posts, people), and come back with a
reactivation; an erased account's posts and person leave the index with their rows."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from bellamy.accounts import lifecycle
from posts import services as post_services
from tests.search.conftest import DATABASES
from tests.search.helpers import write

pytestmark = pytest.mark.django_db(databases=DATABASES)


def found(client, q: str, type: str) -> list:
    response = client.get("/api/search", {"q": q, "type": type})
    assert response.status_code == 200, response.content
    key = "username" if type == "users" else "id"
    return [item[key] for item in response.json()["results"]]


def test_a_deactivated_account_and_its_posts_are_not_found_until_reactivated(backend, user_factory, client_for):
    viewer = user_factory(username="viewer")
    gone = user_factory(username="vanisher", display_name="Vanishing Act")
    stays = user_factory(username="vanessa")
    post = write(gone, "Marmalade sandwiches #marmalade")
    other = write(stays, "Marmalade on toast")
    client = client_for(viewer)
    assert found(client, "marmalade", "posts") == [post.pk, other.pk]  # the hashtag ranks it first
    assert found(client, "van", "users") == ["vanessa", "vanisher"]

    lifecycle.account_deactivate(user=gone)
    assert found(client, "marmalade", "posts") == [other.pk]
    assert found(client, "sandwiches", "posts") == []
    assert found(client, "van", "users") == ["vanessa"]
    assert found(client, "vanishing", "users") == []

    lifecycle.account_reactivate(user=gone)
    assert found(client, "marmalade", "posts") == [post.pk, other.pk]  # the hashtag ranks it first
    assert found(client, "van", "users") == ["vanessa", "vanisher"]


def test_an_erased_accounts_posts_and_person_leave_the_index(backend, user_factory, client_for):
    viewer = user_factory(username="viewer")
    leaver = user_factory(username="leaver", display_name="Leaving Soon")
    write(leaver, "Quince jelly recipe")
    client = client_for(viewer)
    assert len(found(client, "quince", "posts")) == 1

    post_services.user_content_erase(user_ids=[leaver.pk])
    get_user_model().objects.filter(pk=leaver.pk).delete()
    assert found(client, "quince", "posts") == []
    assert found(client, "leav", "users") == []
