"""Dashboard rollups: the writes (docs/architecture.md, "Dashboard rollups").

Three tables (``reports.models``) count what the dashboard shows:

- ``ComplianceDelta``: current assessments of visible runs, by policy,
  version, source, experiment, raw classification, verdict, risk and
  ``fresh`` (assessed for the run's current content);
- ``TrendDelta``: the same by policy, run dimensions, the week the run
  started and verdict (the trend; kept apart so the others sum fewer rows);
- ``RuleFailDelta``: their failed rules, by policy, source, experiment,
  classification and rule;
- ``RunCountDelta``: visible runs, by source, experiment, classification, week.

Department and names are not stored: they are the experiment's, looked up on
read, so an edited experiment needs no compensating rows.

**Writes are deltas.** Whoever changes what is counted writes the difference
in the same transaction, as a handful of new rows (never an UPDATE of a shared
counter, so concurrent workers never wait for each other):

- an assessment chunk, through ``counting(run_ids, policy)`` around its work:
  the current assessments of its runs before and after, one aggregate;
- the sync, through ``tracking.signals.runs_changing`` (receiver in
  ``reports.receivers``): runs created, changed, hidden or shown again.

Both take a transaction-scoped advisory lock per run first (PostgreSQL), in
ascending order, so the "before" they read cannot be changed under them by
the other writer; SQLite serialises writers itself.

**Fold** (the maintenance tick, ``manage.py rollups fold``) merges delta rows
into one folded row per key and drops keys that sum to nothing. **Rebuild**
recomputes every table from the rows; **check** compares the two.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncWeek
from django.utils import timezone

from reports.models import (
    Assessment,
    ComplianceDelta,
    Policy,
    RollupState,
    RuleFailDelta,
    RuleResult,
    RunCountDelta,
    TrendDelta,
)
from tracking.models import Run, visible_q

# pg_advisory_xact_lock(namespace, id) namespaces (arbitrary, fixed).
RUN_LOCK = 0x726F6C6C  # one per run
FOLD_LOCK = (0x726F6C6C, 0)  # folds and rebuilds, one at a time
FOLD_ROWS = 20_000  # delta rows per fold transaction
IN_CHUNK = 500  # ids per IN (...) list
OVERDUE_ROWS = 10 * FOLD_ROWS  # delta rows waiting to be folded, at most

ComplianceKey = tuple[int, int, int, int, str, str, str, bool]
TrendKey = tuple[int, int, int, str, dt.date, str]
RuleKey = tuple[int, int, int, str, str]
RunKey = tuple[int, int, str, dt.date | None]

TABLES: dict[str, Any] = {  # name -> model
    "compliance": ComplianceDelta,
    "trend": TrendDelta,
    "rules": RuleFailDelta,
    "runs": RunCountDelta,
}
FIELDS: dict[str, tuple[str, ...]] = {
    "compliance": (
        "policy_id",
        "policy_version_id",
        "source_id",
        "experiment_id",
        "classification",
        "verdict",
        "risk",
        "fresh",
    ),
    "trend": ("policy_id", "source_id", "experiment_id", "classification", "week", "verdict"),
    "rules": ("policy_id", "source_id", "experiment_id", "classification", "rule_id"),
    "runs": ("source_id", "experiment_id", "classification", "week"),
}


def week_of(value: dt.datetime | dt.date | None) -> dt.date | None:
    """The Monday of a run's start, in the current time zone (as the live
    trend's ``TruncWeek``)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return value - dt.timedelta(days=value.weekday())


def key_of(values: Sequence[Any]) -> str:
    text = "\x1f".join("" if v is None else str(v) for v in values)
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def is_built() -> bool:
    return RollupState.objects.exists()


# --------------------------------------------------------------------------- snapshots


@dataclass(frozen=True)
class _Counted:
    """One current assessment as the rollups see it."""

    policy: int
    version: int
    verdict: str
    risk: str
    content_hash: str
    failed_rules: int
    run: int


@dataclass(frozen=True)
class _RunDims:
    source: int
    experiment: int
    classification: str
    week: dt.date | None
    visible: bool
    facts_hash: str


_RUN_FIELDS = (
    "source_id",
    "experiment_id",
    "classification",
    "start_time",
    "lifecycle_stage",
    "gone_at",
    "facts_hash",
)


def _dims(values: Sequence[Any]) -> _RunDims:
    source, experiment, classification, start, stage, gone, facts = values
    visible = stage == "active" and gone is None
    return _RunDims(source, experiment, classification, week_of(start), visible, facts)


@dataclass
class _Snapshot:
    assessments: dict[int, _Counted]
    runs: dict[int, _RunDims]
    with_runs: bool  # runs counted too (the sync), or only assessments (a chunk)


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), IN_CHUNK):
        yield list(ids[start : start + IN_CHUNK])


def _snapshot(run_ids: Sequence[int], *, policy: int | None, with_runs: bool) -> _Snapshot:
    snap = _Snapshot({}, {}, with_runs)
    for ids in _chunks(run_ids):
        current = Assessment.objects.filter(run_id__in=ids, is_current=True)
        if policy is not None:
            current = current.filter(policy_id=policy)
        for row in current.values_list(
            "pk",
            "policy_id",
            "policy_version_id",
            "verdict",
            "risk",
            "run_content_hash",
            "failed_rules",
            "run_id",
            *(f"run__{name}" for name in _RUN_FIELDS),
        ):
            snap.assessments[row[0]] = _Counted(*row[1:8])
            snap.runs[row[7]] = _dims(row[8:])
        if with_runs:
            for pk, *values in Run.objects.filter(pk__in=ids).values_list("pk", *_RUN_FIELDS):
                snap.runs[pk] = _dims(values)
    return snap


def _lock_runs(run_ids: Iterable[int]) -> None:
    """Transaction-scoped advisory locks on the runs, ascending (no deadlock
    between two writers that both lock this way)."""
    if connection.vendor != "postgresql":
        return
    ids = sorted(set(run_ids))
    if ids:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_advisory_xact_lock(%s, (k %% 2147483647)::int)) "
                "FROM unnest(%s::bigint[]) AS k",
                [RUN_LOCK, ids],
            )


# --------------------------------------------------------------------------- deltas


@dataclass
class _Deltas:
    compliance: Counter[ComplianceKey]
    trend: Counter[TrendKey]
    rules: Counter[RuleKey]
    runs: Counter[RunKey]


def _rule_base(a: _Counted, run: _RunDims) -> tuple[int, int, int, str] | None:
    if not run.visible or not a.failed_rules:
        return None
    return (a.policy, run.source, run.experiment, run.classification)


def _contributions(snap: _Snapshot, sign: int, deltas: _Deltas) -> None:
    for a in snap.assessments.values():
        run = snap.runs[a.run]
        if run.visible:
            key: ComplianceKey = (
                a.policy,
                a.version,
                run.source,
                run.experiment,
                run.classification,
                a.verdict,
                a.risk,
                a.content_hash == run.facts_hash,
            )
            deltas.compliance[key] += sign
            if run.week is not None:
                week: TrendKey = (
                    a.policy,
                    run.source,
                    run.experiment,
                    run.classification,
                    run.week,
                    a.verdict,
                )
                deltas.trend[week] += sign
    if snap.with_runs:
        for run in snap.runs.values():
            if run.visible:
                deltas.runs[(run.source, run.experiment, run.classification, run.week)] += sign


def _write(before: _Snapshot, after: _Snapshot) -> None:
    deltas = _Deltas(Counter(), Counter(), Counter(), Counter())
    _contributions(after, 1, deltas)
    _contributions(before, -1, deltas)
    # Failed rules: only for assessments whose rule key changed.
    moved: dict[int, tuple[Any, Any]] = {}
    for pk in set(before.assessments) | set(after.assessments):
        old = before.assessments.get(pk)
        new = after.assessments.get(pk)
        old_base = _rule_base(old, before.runs[old.run]) if old else None
        new_base = _rule_base(new, after.runs[new.run]) if new else None
        if old_base != new_base:
            moved[pk] = (old_base, new_base)
    if moved:
        for ids in _chunks(sorted(moved)):
            for pk, rule_id in RuleResult.objects.filter(
                assessment_id__in=ids, outcome=RuleResult.Outcome.FAIL
            ).values_list("assessment_id", "rule_id"):
                old_base, new_base = moved[pk]
                if old_base is not None:
                    deltas.rules[(*old_base, rule_id)] -= 1
                if new_base is not None:
                    deltas.rules[(*new_base, rule_id)] += 1
    _insert("compliance", deltas.compliance)
    _insert("trend", deltas.trend)
    _insert("rules", deltas.rules)
    _insert("runs", deltas.runs)


def _insert(table: str, counts: Counter[Any], *, folded: bool = False) -> None:
    model = TABLES[table]
    names = FIELDS[table]
    rows = [
        model(
            runs=n,
            folded=folded,
            key=key_of(values),
            **dict(zip(names, values, strict=True)),
        )
        for values, n in counts.items()
        if n
    ]
    if rows:
        model.objects.bulk_create(rows, batch_size=1000)


@contextmanager
def counting(run_ids: Sequence[int], policy: Policy) -> Iterator[None]:
    """Around one assessment chunk, inside its transaction: the change in the
    runs' current assessments under ``policy`` is written as deltas."""
    _lock_runs(run_ids)
    before = _snapshot(run_ids, policy=policy.pk, with_runs=False)
    yield
    after = _snapshot(run_ids, policy=policy.pk, with_runs=False)
    _write(before, after)


def runs_changing(runs: QuerySet[Run]) -> Callable[[], None]:
    """Before the sync writes ``runs`` (``tracking.signals.runs_changing``):
    read them, and return what writes the deltas once they are written."""
    before_ids = list(runs.order_by().values_list("pk", flat=True))
    _lock_runs(before_ids)
    before = _snapshot(before_ids, policy=None, with_runs=True)

    def after() -> None:
        ids = sorted(set(before_ids) | set(runs.order_by().values_list("pk", flat=True)))
        _write(before, _snapshot(ids, policy=None, with_runs=True))

    return after


# --------------------------------------------------------------------------- from scratch


def _from_scratch() -> dict[str, Counter[Any]]:
    """Every table's counts, recomputed from the rows."""
    visible = visible_q("run__")
    current = Assessment.objects.filter(visible, is_current=True).order_by()
    compliance: Counter[ComplianceKey] = Counter()
    for row in current.values_list(
        "policy_id",
        "policy_version_id",
        "run__source_id",
        "run__experiment_id",
        "run__classification",
        "verdict",
        "risk",
        "run_content_hash",
        "run__facts_hash",
    ).annotate(n=Count("pk")):
        *head, verdict, risk, content, facts, n = row
        compliance[(*head, verdict, risk, content == facts)] += n
    trend: Counter[TrendKey] = Counter()
    for policy, source, experiment, classification, week, verdict, n in (
        current.filter(run__start_time__isnull=False)
        .annotate(week=TruncWeek("run__start_time"))
        .values_list(
            "policy_id",
            "run__source_id",
            "run__experiment_id",
            "run__classification",
            "week",
            "verdict",
        )
        .annotate(n=Count("pk"))
    ):
        monday = week_of(week)
        assert monday is not None
        trend[(policy, source, experiment, classification, monday, verdict)] += n
    rules: Counter[RuleKey] = Counter()
    for *key, n in (
        RuleResult.objects.filter(
            outcome=RuleResult.Outcome.FAIL,
            assessment__is_current=True,
        )
        .filter(visible_q("assessment__run__"))
        .order_by()
        .values_list(
            "assessment__policy_id",
            "assessment__run__source_id",
            "assessment__run__experiment_id",
            "assessment__run__classification",
            "rule_id",
        )
        .annotate(n=Count("pk"))
    ):
        rules[tuple(key)] += n  # type: ignore[index]
    runs: Counter[RunKey] = Counter()
    for source, experiment, classification, week, n in (
        Run.objects.visible()
        .order_by()
        .annotate(week=TruncWeek("start_time"))
        .values_list("source_id", "experiment_id", "classification", "week")
        .annotate(n=Count("pk"))
    ):
        runs[(source, experiment, classification, week_of(week))] += n
    return {"compliance": compliance, "trend": trend, "rules": rules, "runs": runs}


def _summed(table: str) -> Counter[Any]:
    """What a table counts now: its rows summed by key (zeros left out)."""
    names = FIELDS[table]
    counts: Counter[Any] = Counter()
    rows = TABLES[table].objects.order_by().values_list(*names).annotate(n=Sum("runs"))
    for *values, n in rows:
        if n:
            counts[tuple(values)] += n
    return counts


def _lock_for_fold() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", list(FOLD_LOCK))


@transaction.atomic
def rebuild() -> dict[str, int]:
    """Replace every rollup by a recomputation from the rows, and mark them
    built. Writers wait meanwhile (an EXCLUSIVE lock on PostgreSQL: a delta
    written concurrently is either counted in the recomputation or kept, never
    both). Returns the folded rows written per table."""
    _lock_for_fold()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for model in TABLES.values():
                cursor.execute(f'LOCK TABLE "{model._meta.db_table}" IN EXCLUSIVE MODE')
    counts = _from_scratch()
    written = {}
    for table, model in TABLES.items():
        model.objects.all().delete()
        _insert(table, counts[table], folded=True)
        written[table] = sum(1 for n in counts[table].values() if n)
    RollupState.objects.all().delete()
    now = timezone.now()
    RollupState.objects.create(built_at=now, folded_at=now)
    return written


def check() -> dict[str, list[tuple[Any, int, int]]]:
    """Differences between the rollups and a recomputation, per table:
    (key, kept, recomputed). Empty lists: identical."""
    with transaction.atomic():
        fresh = _from_scratch()
        differences: dict[str, list[tuple[Any, int, int]]] = {}
        for table in TABLES:
            kept = _summed(table)
            keys = sorted(set(kept) | set(fresh[table]), key=repr)
            differences[table] = [
                (key, kept[key], fresh[table][key])
                for key in keys
                if kept[key] != fresh[table][key]
            ]
    return differences


# --------------------------------------------------------------------------- fold


def _fold_table(table: str) -> int:
    """Fold up to FOLD_ROWS delta rows of one table; returns how many."""
    model = TABLES[table]
    names = FIELDS[table]
    manager = model._default_manager
    with transaction.atomic():
        _lock_for_fold()
        rows = list(
            manager.filter(folded=False)
            .order_by("pk")
            .values_list("pk", "key", "runs", *names)[:FOLD_ROWS]
        )
        if not rows:
            return 0
        sums: Counter[str] = Counter()
        values_of: dict[str, tuple[Any, ...]] = {}
        for _pk, key, n, *values in rows:
            sums[key] += n
            values_of[key] = tuple(values)
        existing: dict[str, Any] = {}
        keys = sorted(sums)
        for start in range(0, len(keys), IN_CHUNK):
            for row in manager.filter(folded=True, key__in=keys[start : start + IN_CHUNK]):
                existing[row.key] = row
        pks = [row[0] for row in rows]
        for ids in _chunks(pks):
            manager.filter(pk__in=ids).delete()
        changed: list[Any] = []
        emptied: list[Any] = []
        created: list[Any] = []
        for key, n in sums.items():
            row = existing.get(key)
            if row is not None:
                row.runs += n
                (changed if row.runs else emptied).append(row)
            elif n:
                fields = dict(zip(names, values_of[key], strict=True))
                created.append(model(runs=n, folded=True, key=key, **fields))
        if changed:
            manager.bulk_update(changed, ["runs"], batch_size=1000)
        for ids in _chunks([row.pk for row in emptied]):
            manager.filter(pk__in=ids).delete()
        manager.bulk_create(created, batch_size=1000)
        return len(rows)


def fold(*, limit: int | None = None) -> dict[str, int]:
    """Fold the delta rows of every table, FOLD_ROWS per transaction, until
    none are left (or ``limit`` rows per table). Safe beside writers: they only
    add delta rows, and a fold deletes exactly the rows it read."""
    done: dict[str, int] = {}
    for table in TABLES:
        total = 0
        while limit is None or total < limit:
            folded = _fold_table(table)
            total += folded
            if folded < FOLD_ROWS:
                break
        done[table] = total
    RollupState.objects.update(folded_at=timezone.now())
    return done


class RollupReconciler:
    """The maintenance tick's part (``kernel.reconcile``): build the rollups on
    the first tick, fold them on every later one. Nothing to recover."""

    def reconcile(self) -> list[Any]:
        if not is_built():
            rebuild()
        else:
            fold()
        return []

    def overdue(self) -> int:
        """1 when the delta rows waiting to be folded pile up (the tick falls
        behind the writers: reads still right, but slower), else 0."""
        backlog = OVERDUE_ROWS + 1
        waiting = ComplianceDelta.objects.filter(folded=False).order_by()[:backlog].count()
        return int(waiting >= backlog)
