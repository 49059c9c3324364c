"""Every route with an object id takes 64-bit ids: a larger number is a 404, never a 500."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.converters import IntConverter

from bellamy.api.converters import MAX_ID, IdConverter

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "patch", "put", "delete")


def id_routes(patterns=None, prefix: str = "") -> list[str]:
    """Every route whose path holds an ``<id:…>`` (or an ``<int:…>``), with ``{}`` where the id
    goes."""
    found = []
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = str(entry.pattern)
        if isinstance(entry, URLResolver):
            found += id_routes(entry.url_patterns, prefix + route)
        elif isinstance(entry, URLPattern) and any(
            isinstance(c, (IdConverter, IntConverter)) for c in entry.pattern.converters.values()
        ):
            path = prefix + route
            for name in entry.pattern.converters:
                path = path.replace(f"<id:{name}>", "{}").replace(f"<int:{name}>", "{}")
            found.append("/" + path)
    return found


ROUTES = id_routes()


def test_every_route_with_an_id_uses_the_id_converter():
    # The converter is what keeps out-of-range ids away from the database; a route that still
    # uses <int:…> would let them through.
    assert len(ROUTES) == 13
    for pattern in _all_patterns():
        assert "<int:" not in pattern, pattern


def _all_patterns(patterns=None, prefix: str = "") -> list[str]:
    result = []
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if route.startswith("api/"):
                result += _all_patterns(entry.url_patterns, route)
        else:
            result.append(route)
    return result


@pytest.mark.parametrize("route", ROUTES)
def test_an_id_above_64_bits_is_404_on_every_route(client_for, user_factory, route):
    # given
    client = client_for(user_factory(username="alice"))
    for raw_id in (str(MAX_ID + 1), "99999999999999999999", "1" * 40):
        for method in METHODS:
            # when
            response = getattr(client, method)(route.format(raw_id), {}, format="json")
            # then
            assert response.status_code == 404, (method, raw_id, response.content)
            assert response["Content-Type"] == "application/json"
            assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("route", ROUTES)
def test_the_largest_id_reaches_the_view_and_is_not_found(client_for, user_factory, route):
    # given: 2^63 - 1 is a valid id that no object has
    client = client_for(user_factory(username="alice"))
    for method in METHODS:
        # when
        response = getattr(client, method)(route.format(MAX_ID), {}, format="json")
        # then: the view answers (unknown object, method not allowed, or not yours), never a 500
        assert response.status_code in (403, 404, 405), (method, response.content)
        assert set(response.json()) == {"detail", "code"}


def test_converter_bounds():
    converter = IdConverter()
    assert converter.to_python("0") == 0
    assert converter.to_python(str(MAX_ID)) == MAX_ID
    with pytest.raises(ValueError):
        converter.to_python(str(MAX_ID + 1))
    assert converter.to_url(42) == "42"
