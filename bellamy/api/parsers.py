"""The API's JSON parser: DRF's, with a bound on nesting.

Python's ``json`` recurses once per nested array or object, so a 2 KB body of 1,000 ``[``
raised ``RecursionError`` and answered 500 — before authentication is even looked at on the
login and refresh endpoints. No request body of this API is nested more than a few levels, so
anything deeper than :data:`MAX_JSON_DEPTH` is refused as a parse error (400, the API's error
shape) instead of being handed to serializers that might recurse on it again.
"""

from __future__ import annotations

from rest_framework import parsers
from rest_framework.exceptions import ParseError

#: Deepest accepted nesting of arrays and objects in a request body (the top level is 1).
MAX_JSON_DEPTH = 32


def json_depth_exceeds(data, limit: int) -> bool:
    """True when ``data`` (parsed JSON) nests arrays/objects more than ``limit`` levels deep.

    Iterative (an explicit stack), so it cannot itself run out of recursion; it visits each
    container once and stops at the first one past the limit.
    """
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser that refuses bodies nested deeper than :data:`MAX_JSON_DEPTH`.

    Raises:
        ParseError: malformed JSON (DRF's message) or too deeply nested (400 ``parse_error``).
    """

    max_depth = MAX_JSON_DEPTH

    def parse(self, stream, media_type=None, parser_context=None):
        too_deep = ParseError(f"JSON parse error - nested deeper than {self.max_depth} levels.")
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise too_deep from None
        if json_depth_exceeds(data, self.max_depth):
            raise too_deep
        return data
