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

from django.db import connection, models
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

    def order(self, queryset: QuerySet[M], *, reverse: bool = False) -> QuerySet[M]:
        """``queryset`` in keyset order, or (``reverse``) the other way round:
        ascending, NULLs last, which an index scan reads backwards."""
        if reverse:
            return queryset.order_by(*(F(name).asc(nulls_last=True) for name in self.fields))
        return queryset.order_by(*(F(name).desc(nulls_first=True) for name in self.fields))

    def after(self, queryset: QuerySet[M], cursor: str) -> QuerySet[M]:
        """``queryset`` in keyset order, from the row after the one ``cursor`` names."""
        condition = Q(pk__in=[])
        for part in self._parts(self.decode(cursor), backward=False):
            condition |= part
        return self.order(queryset.filter(condition))

    def page(
        self,
        queryset: QuerySet[M],
        size: int,
        *,
        after: list[Any] | None = None,
        before: list[Any] | None = None,
        from_end: bool = False,
    ) -> tuple[list[M], bool]:
        """Up to ``size`` rows in keyset order: the first ones, those right
        ``after`` (or ``before``) the row with these values (``decode()``'s), or
        the last ones (``from_end``); and whether more rows lie beyond them in
        the direction read (after the page, or before it when read backwards).

        No OFFSET and no COUNT: each query is an index range scan that starts at
        the cursor. A cursor on the edge between NULLs and values of the first
        column takes a second query (the range of the other kind).
        """
        want = size + 1
        if after is not None:
            rows = self._collect(queryset, self._parts(after, backward=False), want, reverse=False)
        elif before is not None:
            rows = self._collect(queryset, self._parts(before, backward=True), want, reverse=True)
        else:
            rows = list(self.order(queryset, reverse=from_end)[:want])
        more = len(rows) > size
        rows = rows[:size]
        if before is not None or from_end:
            rows.reverse()
        return rows, more

    def _collect(
        self, queryset: QuerySet[M], parts: list[Q], want: int, *, reverse: bool
    ) -> list[M]:
        rows: list[M] = []
        for part in parts:
            rows += list(self.order(queryset.filter(part), reverse=reverse)[: want - len(rows)])
            if len(rows) >= want:
                break
        return rows

    def _parts(self, values: list[Any], *, backward: bool) -> list[Q]:
        """The rows after (``backward``: before) ``values`` in keyset order, as
        disjoint conditions in the order they are read. Each bounds the first
        column by an index condition (``<= v``, ``>= v``, ``IS NULL``, ``IS NOT
        NULL``), so the scan starts at the cursor rather than at the top of the
        index and filtering its way down (an OR alone would be read that way)."""
        first, value = self.fields[0], values[0]
        rest = self._beyond(self.fields[1:], values[1:], backward=backward)
        if value is None:
            nulls = Q(**{f"{first}__isnull": True}) & rest
            # Descending, NULLs first: after the NULLs come the values; nothing comes before them.
            return [nulls] if backward else [nulls, Q(**{f"{first}__isnull": False})]
        if backward:
            parts = [
                Q(**{f"{first}__gte": value})
                & (Q(**{f"{first}__gt": value}) | Q(**{first: value}) & rest)
            ]
            if self._field(first).null:
                parts.append(Q(**{f"{first}__isnull": True}))
            return parts
        return [
            Q(**{f"{first}__lte": value})
            & (Q(**{f"{first}__lt": value}) | Q(**{first: value}) & rest)
        ]

    def _beyond(self, fields: tuple[str, ...], values: list[Any], *, backward: bool) -> Q:
        """Among rows equal on the columns before ``fields``: those after (or before) ``values``."""
        condition = Q(pk__in=[])
        equal = Q()
        for name, value in zip(fields, values, strict=True):
            if value is None:
                # Descending, NULLs first: after a NULL come the non-NULL values;
                # nothing comes before a NULL.
                beyond = Q(pk__in=[]) if backward else Q(**{f"{name}__isnull": False})
                same = Q(**{f"{name}__isnull": True})
            else:
                if backward:
                    beyond = Q(**{f"{name}__gt": value})
                    if self._field(name).null:
                        beyond |= Q(**{f"{name}__isnull": True})
                else:
                    beyond = Q(**{f"{name}__lt": value})
                same = Q(**{name: value})
            condition |= equal & beyond
            equal &= same
        return condition

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


def distinct_values(model: type[models.Model], name: str) -> list[Any]:
    """The distinct values of an indexed, NOT NULL column, in order, read by
    seeking through its index (one ``MIN(column) WHERE column > previous`` a
    value: a "loose index scan") rather than by ``SELECT DISTINCT``, which reads
    every row: a few distinct values of a million rows cost a few index seeks.
    The same SQL runs on PostgreSQL and SQLite."""
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field)
    assert not field.null, f"{name} may be NULL"
    assert getattr(field, "db_index", False) or field.unique, f"{name} is not indexed"
    quote = connection.ops.quote_name
    # Names from the model, quoted; no value is written into the SQL.
    table, column = quote(model._meta.db_table), quote(str(field.column))
    sql = (
        f"WITH RECURSIVE seen(value) AS ("  # noqa: S608
        f"SELECT MIN({column}) FROM {table} "
        f"UNION ALL "
        f"SELECT (SELECT MIN({column}) FROM {table} WHERE {column} > seen.value) "
        f"FROM seen WHERE seen.value IS NOT NULL"
        f") SELECT value FROM seen WHERE value IS NOT NULL"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [row[0] for row in cursor.fetchall()]
