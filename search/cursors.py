"""Opaque cursors of search pages.

A cursor is URL-safe base64 (no padding) of compact JSON ``{"k": kind, "f": fingerprint,
"a": key}``: the search type, a digest of the normalised query (:func:`search.query.fingerprint`)
and the sort key of the page's last hit — ``[score, id]`` for posts and people,
``[last_used_at ISO 8601, name]`` for hashtags. A cursor only continues the search it came
from: another query, another type, or anything malformed is :class:`InvalidCursor`.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from datetime import datetime

from search.query import HASHTAGS


class InvalidCursor(ValueError):
    """The cursor is malformed or belongs to another search (the API answers 400)."""


def encode_cursor(kind: str, fingerprint: str, key: tuple) -> str:
    """Return the cursor continuing after ``key`` (a ``(score, id)`` or ``(datetime, name)``)."""
    first, second = key
    value = [first.isoformat() if isinstance(first, datetime) else first, second]
    raw = json.dumps({"k": kind, "f": fingerprint, "a": value}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(raw: str | None, kind: str, fingerprint: str) -> tuple | None:
    """Return the sort key in ``raw``, or ``None`` for no cursor (the first page).

    Raises:
        InvalidCursor: not a cursor of this ``kind`` and query, or a key of the wrong shape.
    """
    if raw is None:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode())
        first, second = data["a"]
        valid = isinstance(data, dict) and data["k"] == kind and data["f"] == fingerprint
    except (binascii.Error, UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise InvalidCursor("Invalid cursor.") from None
    if not valid:
        raise InvalidCursor("Invalid cursor.")
    if kind == HASHTAGS:
        if not (isinstance(first, str) and isinstance(second, str)):
            raise InvalidCursor("Invalid cursor.")
        try:
            moment = datetime.fromisoformat(first)
        except ValueError:
            raise InvalidCursor("Invalid cursor.") from None
        if moment.tzinfo is None:
            raise InvalidCursor("Invalid cursor.")
        return moment, second
    score_ok = isinstance(first, (int, float)) and not isinstance(first, bool) and math.isfinite(first)
    id_ok = isinstance(second, int) and not isinstance(second, bool) and 0 < second < 2**63
    if not (score_ok and id_ok):
        raise InvalidCursor("Invalid cursor.")
    return float(first), second
