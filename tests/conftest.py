"""Fixtures shared by the whole suite."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection

from govdash.demo.mlflow_server import MlflowServer


def pytest_report_header(config: pytest.Config) -> list[str]:
    engine = settings.DATABASES["default"]["ENGINE"]
    return [f"govdash database engine: {engine}", f"govdash redis: {settings.REDIS_URL}"]


# The one place that may truncate the audit tables (see audit/migrations/0003_head.py).
ALLOW_AUDIT_TRUNCATE = "SET LOCAL govdash.allow_truncate = on"

# Reports refuse DELETE and TRUNCATE (reports/migrations/0006_report_immutable.py):
# the flush switches their trigger off and on again inside its own transaction.
_REPORTS = importlib.import_module("reports.migrations.0006_report_immutable")
REPORTS_FLUSH_PG = (
    f"ALTER TABLE {_REPORTS.TABLE} DISABLE TRIGGER {_REPORTS.POSTGRES_TRUNCATE_TRIGGER}",
    f"ALTER TABLE {_REPORTS.TABLE} ENABLE TRIGGER {_REPORTS.POSTGRES_TRUNCATE_TRIGGER}",
)
REPORTS_FLUSH_SQLITE = (
    f"DROP TRIGGER {_REPORTS.SQLITE_DELETE_TRIGGER}",
    _REPORTS.SQLITE_DELETE_TRIGGER_SQL,
)


@pytest.fixture(scope="session", autouse=True)
def _test_flush_may_empty_the_guarded_tables() -> Iterator[None]:
    """Let the test suite's flush, and nothing else, empty the audit tables and
    the reports.

    Django empties the database after every transactional test: with one
    ``TRUNCATE ... CASCADE`` on PostgreSQL, which the audit trail's trigger
    refuses unless the transaction has switched it off, and the reports'
    trigger refuses while it is enabled; with DELETE on SQLite, which the
    reports' trigger refuses while it exists. The flush runs in its own
    transaction, so ``SET LOCAL`` ends with it, and the reports' trigger is
    back before it commits.
    """
    from django.db.backends.postgresql.operations import DatabaseOperations as Postgres
    from django.db.backends.sqlite3.base import DatabaseOperations as Sqlite

    pg_original = Postgres.execute_sql_flush
    sqlite_original = Sqlite.execute_sql_flush

    def pg_flush(self: Postgres, sql_list: list[str]) -> None:
        off, on = REPORTS_FLUSH_PG
        pg_original(self, [ALLOW_AUDIT_TRUNCATE, off, *sql_list, on])

    def sqlite_flush(self: Sqlite, sql_list: list[str]) -> None:
        off, on = REPORTS_FLUSH_SQLITE
        sqlite_original(self, [off, *sql_list, on])

    Postgres.execute_sql_flush = pg_flush  # type: ignore[method-assign]
    Sqlite.execute_sql_flush = sqlite_flush  # type: ignore[method-assign]
    try:
        yield
    finally:
        Postgres.execute_sql_flush = pg_original  # type: ignore[method-assign]
        Sqlite.execute_sql_flush = sqlite_original  # type: ignore[method-assign]


@pytest.fixture
def make_user(django_user_model) -> Callable[..., object]:  # type: ignore[no-untyped-def]
    """Create a user in the given roles (Django groups created by migration)."""

    def make(
        username: str = "alice", *roles: str, password: str = "correct horse battery"
    ) -> object:
        user = django_user_model.objects.create_user(username=username, password=password)
        for role in roles:
            user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """One real ``mlflow server`` for the session (it takes seconds to start)."""
    server = MlflowServer(Path(tmp_path_factory.mktemp("mlflow-server")))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def db_vendor(db: None) -> str:
    return connection.vendor


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:  # type: ignore[no-untyped-def]
    # Real hashing is deliberately slow; tests log in hundreds of times.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _test_database_url() -> str:
    """A DATABASE_URL for subprocesses that points at the *test* database."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


@pytest.fixture
def subprocess_env(transactional_db: None) -> dict[str, str]:
    """Environment for a real worker or command process sharing the test database.

    Needs committed data, hence transactional_db.
    """
    import os

    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env["DATABASE_URL"] = _test_database_url()
    env["REDIS_URL"] = settings.REDIS_URL
    return env


@pytest.fixture
def redis_queue():  # type: ignore[no-untyped-def]
    """A real, empty RQ queue on the test Redis database; emptied again afterwards."""
    from kernel.queues import get_queue

    queues = []

    def get(name: str = "default"):  # type: ignore[no-untyped-def]
        queue = get_queue(name)
        queue.empty()
        queues.append(queue)
        return queue

    yield get
    for queue in queues:
        queue.empty()


DEFAULT_POLICY_FILE = settings.BASE_DIR / "reports" / "default_policy.yaml"


@pytest.fixture
def default_policy(db: None):  # type: ignore[no-untyped-def]
    """The shipped default policy, published (recreated after transactional flushes)."""
    from reports.models import Policy
    from reports.services import policy_publish, policy_save_draft

    policy = Policy.objects.filter(slug="default").first()
    if policy is not None and policy.current_version() is not None:
        return policy.current_version()
    version = policy_save_draft(text=DEFAULT_POLICY_FILE.read_text(), actor=None)
    return policy_publish(version=version, actor=None)
