"""The API's JSON parser bounds nesting (bellamy/api/parsers.py)."""

from __future__ import annotations

import io
import json

import pytest
from rest_framework.exceptions import ParseError

from bellamy.api.parsers import MAX_JSON_DEPTH, JSONParser, json_depth_exceeds


def nested(depth: int, *, kind: str = "list") -> str:
    if kind == "list":
        return "[" * depth + "]" * depth
    return '{"a": ' * (depth - 1) + "{}" + "}" * (depth - 1)


def parse(raw: str):
    return JSONParser().parse(io.BytesIO(raw.encode()), "application/json", {})


@pytest.mark.parametrize("kind", ["list", "object"])
def test_nesting_up_to_the_bound_is_parsed(kind):
    raw = nested(MAX_JSON_DEPTH, kind=kind)
    assert parse(raw) == json.loads(raw)


@pytest.mark.parametrize("kind", ["list", "object"])
@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1000, 200_000])
def test_deeper_nesting_is_a_parse_error(kind, depth):
    with pytest.raises(ParseError) as error:
        parse(nested(depth, kind=kind))
    assert str(error.value.detail) == "JSON parse error - nested deeper than 32 levels."


def test_malformed_json_keeps_drfs_message():
    with pytest.raises(ParseError, match="JSON parse error - Expecting"):
        parse("{")


def test_wide_but_shallow_bodies_are_fine():
    body = {"content": "x" * 10_000, "items": [{"a": [1, 2, 3]} for _ in range(10_000)]}
    assert parse(json.dumps(body)) == body


def test_depth_counts_scalars_as_no_level():
    assert json_depth_exceeds([1, [2, [3]]], 3) is False
    assert json_depth_exceeds([1, [2, [3, []]]], 3) is True
    assert json_depth_exceeds("text", 0) is False
