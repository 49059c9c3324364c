"""Cursor pagination of every list: ``?cursor=<opaque>&limit=<1..100>`` (API.md).

Response shape: ``{"results": [...], "next_cursor": "<opaque or null>"}``. An out-of-range or
non-numeric ``limit`` and a ``cursor`` that is not one of this list's are 400s, never
silently clamped, ignored or answered 404.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import AutoField, DateTimeField, F, Field, Func, IntegerField, QuerySet, Value
from django.db.models.lookups import GreaterThan, LessThan
from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

#: Cursors are URL-safe base64 without padding; anything else is refused, never ignored.
_CURSOR_CHARS = re.compile(r"[A-Za-z0-9_-]{1,512}")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
#: Integer cursor values must fit PostgreSQL's bigint.
_BIGINT = 2**63


def encode_cursor(values: list) -> str:
    """The opaque cursor of a row's ordering values (datetimes as ISO 8601)."""
    plain = [value.isoformat() if isinstance(value, datetime) else value for value in values]
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).rstrip(b"=").decode()


def decode_cursor(raw: str):
    """The JSON value inside a cursor. Raises ValueError when ``raw`` is not one."""
    if not _CURSOR_CHARS.fullmatch(raw):
        raise ValueError("not a cursor")
    return json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))


def _field_value(field, value):
    """``value`` from a cursor as a value of ``field``; raises ValueError/ValidationError."""
    if isinstance(field, DateTimeField):
        if not isinstance(value, str):
            raise ValueError("not a datetime")
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError("naive datetime")
        return moment
    if isinstance(field, (IntegerField, AutoField)) or field.get_internal_type().endswith("AutoField"):
        if type(value) is not int or not -_BIGINT <= value < _BIGINT:
            raise ValueError("not a bigint")
        return value
    if not isinstance(value, str):
        raise ValueError("not a string")
    return field.to_python(value)


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


class RowValue(Func):
    """A SQL row value ``(a, b, ...)``, for keyset comparisons ``(a, b) < (x, y)``."""

    function = ""
    template = "(%(expressions)s)"
    output_field = Field()


def _field(model_or_queryset, name: str):
    """The field named ``name``: a model field, or the output field of a queryset annotation."""
    if isinstance(model_or_queryset, QuerySet):
        annotation = model_or_queryset.query.annotations.get(name)
        if annotation is not None:
            return annotation.output_field
        model_or_queryset = model_or_queryset.model
    return model_or_queryset._meta.get_field(name)


def keyset_after(ordering: tuple[str, ...], values: list, model) -> LessThan | GreaterThan:
    """The condition "after the row whose ordering values are ``values``" for ``ordering``.

    One row-value comparison — ``(created_at, id) < (%s, %s)`` for ``("-created_at", "-id")``
    — which PostgreSQL (and SQLite) match against an index on the same columns as one range
    condition: a deep page reads only its own rows, where ``a < x OR (a = x AND b < y)`` or
    an ``OFFSET`` would read the rows before it.

    Args:
        ordering: field names, all descending (``-``) or all ascending.
        values: the cursor row's values of those fields, already converted (``to_python``).
        model: the model whose fields ``ordering`` names, or the queryset (whose annotations
            it may name), for the parameters' types.
    """
    names = [name.lstrip("-") for name in ordering]
    columns = RowValue(*(F(name) for name in names))
    params = RowValue(*(Value(value, output_field=_field(model, name))
                        for name, value in zip(names, values, strict=True)))
    return LessThan(columns, params) if ordering[0].startswith("-") else GreaterThan(columns, params)


class CursorPagination(pagination.BasePagination):
    """Opaque keyset pagination, newest first by ``(-created_at, -id)`` unless a view sets
    ``ordering`` (all fields in one direction, the last one unique, e.g. ``("username",)``;
    model fields or annotations of the queryset).

    The cursor is the ordering values of the page's last row (URL-safe base64 of a JSON
    list); the next page is the rows after it by one row-value comparison
    (:func:`keyset_after`), so with an index matching ``ordering`` (after the list's
    equality filters, e.g. ``(author, -created_at, -id)``) every page costs the same,
    however deep. Stable while rows are inserted: a cursor is a position, not an offset.
    """

    ordering: tuple[str, ...] = ("-created_at", "-id")
    page_size = DEFAULT_LIMIT
    max_page_size = MAX_LIMIT
    page_size_query_param = "limit"
    cursor_query_param = "cursor"

    def get_page_size(self, request):
        return parse_limit(request.query_params.get(self.page_size_query_param))

    def paginate_queryset(self, queryset, request, view=None):
        """Return the page of ``queryset`` (a list) after the request's cursor; remember the
        next cursor. Raises ValidationError (400) for a bad ``limit`` or ``cursor``."""
        limit = self.get_page_size(request)
        ordering = tuple(self.ordering)
        if len({name.startswith("-") for name in ordering}) != 1:
            raise ValueError(f"{type(self).__name__}.ordering mixes directions: {ordering}")
        queryset = queryset.order_by(*ordering)
        values = self.decode_cursor(request, queryset)
        if values is not None:
            queryset = queryset.filter(keyset_after(ordering, values, queryset))
        rows = list(queryset[: limit + 1])
        page = rows[:limit]
        self._next = None
        if len(rows) > limit:
            self._next = encode_cursor([getattr(page[-1], name.lstrip("-")) for name in ordering])
        return page

    def decode_cursor(self, request, queryset) -> list | None:
        """The ordering values in the request's ``cursor``, converted to the fields' types;
        ``None`` without a cursor.

        Raises:
            ValidationError: ``{"cursor": ["Invalid cursor."]}`` (400) for anything that is
                not a cursor of this list (garbage, wrong length or types, out of range).
        """
        raw = request.query_params.get(self.cursor_query_param)
        if raw is None:
            return None
        names = [name.lstrip("-") for name in self.ordering]
        try:
            values = decode_cursor(raw)
            if not isinstance(values, list) or len(values) != len(names):
                raise ValueError("wrong length")
            return [_field_value(_field(queryset, name), value) for name, value in zip(names, values, strict=True)]
        except (ValueError, TypeError, DjangoValidationError, OverflowError):
            raise ValidationError({"cursor": ["Invalid cursor."]}) from None

    def get_paginated_response(self, data):
        return Response({"results": data, "next_cursor": self._next})

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
