"""Insert many rows at once, as cheaply as the database allows.

``insert_rows(model, rows)`` writes plain rows (mappings of field name, or
attribute name such as ``assessment_id``, to value) without building model
instances: on PostgreSQL through ``COPY … FROM STDIN`` (psycopg's
``cursor.copy``), elsewhere through ``bulk_create``. Values are prepared as
the fields would prepare them for a save (``get_db_prep_save``: time zones,
JSON encoders), a missing field takes its default, and ``None`` in a JSON
field is SQL NULL, as with ``bulk_create``. Primary keys come from the
database; ``insert_rows_returning_pks`` gives them back (on PostgreSQL it
takes them from the table's sequence first, in one query).

It runs in the caller's transaction (COPY is one statement: all rows or none)
and, like any query, counts in ``connection.queries`` when queries are logged,
so query-count pins see it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from django.db import connections, models
from django.db.backends.base.base import BaseDatabaseWrapper

_PLAIN = (str, int, bool)  # handed to the driver as they are
_AS_IS_TYPES = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "SmallAutoField",
        "BigIntegerField",
        "BooleanField",
        "CharField",
        "IntegerField",
        "PositiveBigIntegerField",
        "PositiveIntegerField",
        "PositiveSmallIntegerField",
        "SlugField",
        "SmallIntegerField",
        "TextField",
    }
)


def _columns(model: type[models.Model], names: Iterable[str]) -> list[models.Field[Any, Any]]:
    """The concrete fields to write: those named, plus every other one that is
    not an auto primary key (it takes its default)."""
    opts = model._meta
    given = set(names)
    fields = []
    for field in opts.concrete_fields:
        if field.primary_key and field.name not in given and field.attname not in given:
            continue  # the database numbers the row
        fields.append(field)
    known = {f.name for f in fields} | {f.attname for f in fields}
    unknown = given - known
    if unknown:
        raise ValueError(f"{opts.label} has no field {sorted(unknown)[0]!r}")
    return fields


def _preparer(
    field: models.Field[Any, Any], connection: BaseDatabaseWrapper
) -> Callable[[Any], Any]:
    """value -> what the driver is given for ``field``: JSON as its text,
    plain text and numbers as they are, the rest as the field prepares it."""
    if isinstance(field, models.JSONField):
        encoder = field.encoder

        def json_text(value: Any) -> Any:
            return None if value is None else json.dumps(value, cls=encoder)

        return json_text
    target = field.target_field if isinstance(field, models.ForeignKey) else field
    if target.get_internal_type() in _AS_IS_TYPES:

        def as_is(value: Any) -> Any:
            if value is None or type(value) in _PLAIN:
                return value
            return field.get_db_prep_save(value, connection)

        return as_is
    return lambda value: field.get_db_prep_save(value, connection)


def _value(row: Mapping[str, Any], field: models.Field[Any, Any]) -> Any:
    if field.attname in row:
        return row[field.attname]
    if field.name in row:
        value = row[field.name]
        return value.pk if isinstance(value, models.Model) else value
    return field.get_default()


def insert_rows(
    model: type[models.Model], rows: Sequence[Mapping[str, Any]], *, using: str = "default"
) -> int:
    """Insert ``rows`` into ``model``'s table; returns how many."""
    if not rows:
        return 0
    connection = connections[using]
    names = set().union(*(row.keys() for row in rows))
    fields = _columns(model, names)
    if connection.vendor != "postgresql":
        model._base_manager.using(using).bulk_create(
            [model(**{f.attname: _value(row, f) for f in fields}) for row in rows]
        )
        return len(rows)

    prepare = [(_preparer(f, connection), f) for f in fields]
    quote = connection.ops.quote_name
    sql = "COPY {} ({}) FROM STDIN".format(
        quote(model._meta.db_table), ", ".join(quote(f.column) for f in fields)
    )
    connection.ensure_connection()
    started = time.monotonic()
    raw = connection.connection  # the driver's connection, in the caller's transaction
    with connection.wrap_database_errors, raw.cursor() as cursor, cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row([fn(_value(row, f)) for fn, f in prepare])
    if connection.queries_logged:
        connection.queries_log.append(
            {"sql": f"{sql} -- {len(rows)} rows", "time": f"{time.monotonic() - started:.3f}"}
        )
    return len(rows)


def insert_rows_returning_pks(
    model: type[models.Model], rows: Sequence[Mapping[str, Any]], *, using: str = "default"
) -> list[Any]:
    """``insert_rows`` that gives back the new rows' primary keys, in order.
    The table's primary key must be numbered by the database (an auto field)."""
    if not rows:
        return []
    connection = connections[using]
    pk = model._meta.pk
    assert pk is not None
    if connection.vendor != "postgresql":
        fields = _columns(model, set().union(*(row.keys() for row in rows)))
        made = model._base_manager.using(using).bulk_create(
            [model(**{f.attname: _value(row, f) for f in fields}) for row in rows]
        )
        return [item.pk for item in made]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [model._meta.db_table, pk.column, len(rows)],
        )
        pks = [value for (value,) in cursor.fetchall()]
    insert_rows(
        model,
        [{**row, pk.attname: value} for row, value in zip(rows, pks, strict=True)],
        using=using,
    )
    return pks
