"""Database triggers installed by migrations, per database vendor.

``vendor_sql(postgres, sqlite)`` is a ``RunPython`` function that runs the
PostgreSQL script or the SQLite statements (SQLite runs one statement per
call), whichever the database is; other vendors get none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.apps.registry import Apps
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

Migrate = Callable[[Apps, BaseDatabaseSchemaEditor], None]


def vendor_sql(postgres: str, sqlite: Sequence[str]) -> Migrate:
    def run(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            schema_editor.execute(postgres)
        elif vendor == "sqlite":
            for statement in sqlite:
                schema_editor.execute(statement)

    return run
