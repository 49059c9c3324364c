"""Cursor pagination of every list: ``?cursor=<opaque>&limit=<1..100>`` (API.md).

Response shape: ``{"results": [...], "next_cursor": "<opaque or null>"}``. Unlike DRF's
default, an out-of-range or non-numeric ``limit`` and an undecodable ``cursor`` are 400s,
never silently clamped or answered 404.
"""

from __future__ import annotations

import re
from urllib import parse

from rest_framework import pagination
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

#: DRF cursors are standard base64; anything else is refused instead of silently ignored.
_CURSOR_CHARS = re.compile(r"[A-Za-z0-9+/]+={0,2}")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def parse_limit(raw: str | None, *, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    """Return the page size from a ``limit`` query value.

    Raises:
        ValidationError: not an integer in ``1..maximum`` (``{"limit": [...]}``, 400).
    """
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ValidationError({"limit": [f"Must be an integer between 1 and {maximum}."]}) from None
    if not 1 <= value <= maximum:
        raise ValidationError({"limit": [f"Must be an integer between 1 and {maximum}."]})
    return value


class CursorPagination(pagination.CursorPagination):
    """Opaque keyset pagination, newest first by ``(-created_at, -id)`` unless a view sets
    ``ordering``. Stable while rows are inserted: a cursor is a position, not an offset."""

    ordering = ("-created_at", "-id")
    page_size = DEFAULT_LIMIT
    max_page_size = MAX_LIMIT
    page_size_query_param = "limit"

    def get_page_size(self, request):
        return parse_limit(request.query_params.get(self.page_size_query_param))

    def decode_cursor(self, request):
        raw = request.query_params.get(self.cursor_query_param)
        if raw is not None and not _CURSOR_CHARS.fullmatch(raw):
            raise ValidationError({"cursor": ["Invalid cursor."]})
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationError({"cursor": ["Invalid cursor."]}) from None

    def get_paginated_response(self, data):
        return Response({"results": data, "next_cursor": self._next_token()})

    def _next_token(self) -> str | None:
        link = self.get_next_link()
        if not link:
            return None
        query = parse.parse_qs(parse.urlsplit(link).query)
        return query.get(self.cursor_query_param, [None])[0]

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results", "next_cursor"],
            "properties": {
                "results": schema,
                "next_cursor": {"type": "string", "nullable": True},
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"},
             "description": "Opaque cursor from the previous page's next_cursor."},
            {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}},
        ]
