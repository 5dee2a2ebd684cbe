"""Keyset ("seek") paging: a page starts after the last row of the page before it,
so page 1 and page 10,000 cost the same (an index range scan, no OFFSET).

A ``Keyset`` names the columns a list is ordered by, every one descending with
NULLs first (PostgreSQL's own order for a descending index), the last one unique
(the primary key), so the order is total. A cursor is the last row's values,
JSON in URL-safe base64: opaque to clients, checked on the way in. A cursor that
does not decode, or whose values do not fit the columns, raises ``BadCursor``
(a ``ValueError``: the API answers it 422, the pages 400), never a 500.

Rows inserted while a client walks the list never make it see a row twice or
skip one: a row is placed by its own values, not by how many rows precede it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import models
from django.db.models import F, Q, QuerySet

M = TypeVar("M", bound=models.Model)

MAX_CURSOR_LENGTH = 512


class BadCursor(ValueError):
    """The cursor is not one this list handed out."""


@dataclass(frozen=True)
class Keyset:
    """Columns (field names of ``model``), each descending, NULLs first; the last unique."""

    model: type[models.Model]
    fields: tuple[str, ...]

    def _field(self, name: str) -> models.Field[Any, Any]:
        return self.model._meta.get_field(name)  # type: ignore[return-value]

    def order(self, queryset: QuerySet[M]) -> QuerySet[M]:
        return queryset.order_by(*(F(name).desc(nulls_first=True) for name in self.fields))

    def after(self, queryset: QuerySet[M], cursor: str) -> QuerySet[M]:
        """``queryset`` in keyset order, from the row after the one ``cursor`` names."""
        values = self.decode(cursor)
        condition = Q(pk__in=[])
        equal = Q()
        for name, value in zip(self.fields, values, strict=True):
            # Descending, NULLs first: after a NULL come the non-NULL values; after
            # a value, the smaller ones.
            if value is None:
                later, same = Q(**{f"{name}__isnull": False}), Q(**{f"{name}__isnull": True})
            else:
                later, same = Q(**{f"{name}__lt": value}), Q(**{name: value})
            condition |= equal & later
            equal &= same
        return self.order(queryset.filter(condition))

    def cursor(self, row: models.Model) -> str:
        values = []
        for name in self.fields:
            value = getattr(row, self._field(name).attname)
            values.append(value.isoformat() if isinstance(value, dt.datetime) else value)
        text = json.dumps(values, separators=(",", ":"))
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    def decode(self, cursor: str) -> list[Any]:
        if not cursor or len(cursor) > MAX_CURSOR_LENGTH:
            raise BadCursor("The cursor is empty or too long.")
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            values = json.loads(raw.decode())
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise BadCursor("The cursor is not one this list handed out.") from None
        if not isinstance(values, list) or len(values) != len(self.fields):
            raise BadCursor("The cursor is not one this list handed out.")
        return [self._value(name, value) for name, value in zip(self.fields, values, strict=True)]

    def _value(self, name: str, value: Any) -> Any:
        field = self._field(name)
        if value is None and field.null:
            return None
        bad = BadCursor("The cursor is not one this list handed out.")
        if isinstance(field, models.DateTimeField):
            if not isinstance(value, str):
                raise bad
            try:
                moment = dt.datetime.fromisoformat(value)
            except ValueError:
                raise bad from None
            if moment.tzinfo is None:
                raise bad
            return moment
        if isinstance(field, models.IntegerField | models.AutoField):
            # bool is an int to Python, not to a cursor; and the value must fit a bigint.
            if type(value) is not int or not -(2**63) <= value < 2**63:
                raise bad
            return value
        if isinstance(field, models.CharField):
            if not isinstance(value, str) or "\x00" in value:
                raise bad
            return value
        raise bad
