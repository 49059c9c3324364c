"""The ``<id:…>`` path converter of every route with an object id.

Django's ``<int:…>`` matches any run of digits, so ``/api/blocks/9223372036854775808`` reached
the view and the database driver raised ``OverflowError`` (a 500): ids are 64-bit signed
integers (``BigAutoField``) on both PostgreSQL and SQLite. ``<id:…>`` matches 1 to 19 digits
and refuses values above 2^63 − 1, so such a path matches no route and is a 404 like any other
unknown object. Importing this module registers the converter (every ``urls.py`` that uses it
imports it).
"""

from __future__ import annotations

from django.urls import register_converter

#: Largest value of a 64-bit signed primary key (PostgreSQL ``bigint``, SQLite ``INTEGER``).
MAX_ID = 2**63 - 1


class IdConverter:
    """Path segment → ``int`` in ``0..MAX_ID``; anything else does not match (404)."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ID:
            raise ValueError(f"{value} is above the largest id")  # Django: no match → 404
        return number

    def to_url(self, value: int) -> str:
        return str(int(value))


register_converter(IdConverter, "id")
