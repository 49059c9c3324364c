"""Cursor pagination of every list: ``?cursor=<opaque>&limit=<1..100>`` (API.md).

Response shape: ``{"results": [...], "next_cursor": "<opaque or null>"}``. Unlike DRF's
default, an out-of-range or non-numeric ``limit`` and any ``cursor`` this class did not make
are 400s (``{"cursor": ["Invalid cursor."]}``), never silently clamped, answered 404 or taken
as the first page.
"""

from __future__ import annotations

import binascii
import re
from base64 import b64decode
from urllib import parse

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from bellamy.api.converters import MAX_ID

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

    def paginate_queryset(self, queryset, request, view=None):
        # decode_cursor checks the position against the ordering field of this model.
        self._model = getattr(queryset, "model", None)
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        """Decode ``?cursor=`` into a DRF ``Cursor`` — only what :meth:`encode_cursor` makes.

        DRF's own decoding accepts any base64 and treats unknown or missing keys as "first
        page", so ``base64('{"id": -1}')`` or ``AAAA…`` silently returned page one. Here the
        cursor must be a query string of DRF's keys (``o`` offset, ``r`` reverse, ``p``
        position), each once, with a position that the ordering field can hold.

        Raises:
            ValidationError: ``{"cursor": ["Invalid cursor."]}`` (400) for anything else.
        """
        raw = request.query_params.get(self.cursor_query_param)
        if raw is None:
            return None
        try:
            if not _CURSOR_CHARS.fullmatch(raw):
                raise ValueError("not base64")
            tokens = parse.parse_qs(
                b64decode(raw.encode("ascii"), validate=True).decode("ascii"),
                keep_blank_values=True,
                strict_parsing=True,
            )
            if set(tokens) - {"o", "r", "p"} or "p" not in tokens or any(len(v) != 1 for v in tokens.values()):
                raise ValueError("not a cursor of ours")
            offset = int(tokens.get("o", ["0"])[0])
            reverse = tokens.get("r", ["0"])[0]
            position = tokens["p"][0]
            if not 0 <= offset <= self.offset_cutoff or reverse not in ("0", "1"):
                raise ValueError("offset or direction out of range")
            self._check_position(position)
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, DjangoValidationError):
            raise ValidationError({"cursor": ["Invalid cursor."]}) from None
        return pagination.Cursor(offset=offset, reverse=reverse == "1", position=position)

    def _check_position(self, position: str) -> None:
        """Raise ValueError / ValidationError unless ``position`` fits the first ordering field."""
        model = getattr(self, "_model", None)
        if model is None:
            return
        try:
            field = model._meta.get_field(self.ordering[0].lstrip("-"))
        except FieldDoesNotExist:  # an annotation: nothing to check it against
            return
        value = field.to_python(position)
        if value is None:
            raise ValueError("empty position")
        if isinstance(value, int) and not -MAX_ID - 1 <= value <= MAX_ID:
            raise ValueError("position out of range")

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
