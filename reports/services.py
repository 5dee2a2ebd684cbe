"""Writes for policies and assessments."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import yaml
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.text import slugify

from audit.actors import SystemActor
from audit.chain import canonical_json
from audit.models import AuditEvent
from audit.services import record
from kernel.bulk import insert_rows, insert_rows_returning_pks
from reports import rollups
from reports.audit_actions import ReportsAction
from reports.models import (
    Assessment,
    AssessmentBatch,
    AssessmentRequest,
    Policy,
    PolicyVersion,
    RuleResult,
)
from reports.rules import (
    NUMBER_RANGE,
    Rule,
    RuleError,
    RunFacts,
    evaluate,
    in_range,
    is_number,
    validate_rules,
    verdict_of,
)
from reports.selectors.assessing import runs_to_queue
from tracking.models import ModelVersion, Run

BATCH_SIZE = settings.ASSESS_BATCH_SIZE  # runs per job
COMMIT_EVERY = 50  # runs per transaction inside a job


class PolicyError(ValueError):
    """A policy cannot be saved; ``field`` names the offending part."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class PolicyLocked(Exception):
    pass


# --------------------------------------------------------------------------- policies


def _rules_hash(rules: list[dict[str, Any]]) -> str:
    return hashlib.sha256(canonical_json(rules).encode()).hexdigest()


# Bounds on a policy document, checked before any rule is validated: a policy
# needs about six levels and a few hundred values; these leave ample room.
MAX_POLICY_BYTES = 256 * 1024
MAX_DEPTH = 20
MAX_VALUES = 20_000
MAX_INT_DIGITS = 30  # longer integer literals are refused, never converted


class _TooLong:
    """An integer literal too long to convert; refused, with its field, by ``_check_shape``."""

    def __init__(self, literal: str) -> None:
        self.literal = literal


class _PolicyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses deep nesting while composing (PyYAML
    composes recursively: thousands of levels would exhaust the stack) and never
    converts an over-long integer literal."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise PolicyError(
                    f"line {mark.line + 1}", f"nests deeper than {MAX_DEPTH} levels, the limit"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_yaml_int(self, node: Any) -> Any:
        literal = str(self.construct_scalar(node))
        if len(literal) > MAX_INT_DIGITS:
            return _TooLong(literal)
        return super().construct_yaml_int(node)


_PolicyLoader.add_constructor("tag:yaml.org,2002:int", _PolicyLoader.construct_yaml_int)


def _storable(text: str) -> bool:
    """No NUL and no lone surrogate: text every database column can hold."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_shape(document: Any) -> None:
    """Refuse what no policy needs before the rules are validated, naming
    where: nesting deeper than MAX_DEPTH, more than MAX_VALUES values (YAML
    aliases can repeat, even nest, one value), keys that are not text, numbers
    out of range (infinite, NaN, or beyond ±10^15), text a database cannot
    store, and anything but text, numbers, true/false, null, lists and mappings.
    Iterative, so no input can exhaust the stack."""
    pending: list[tuple[Any, str, int]] = [(document, "document", 1)]
    seen = 0
    while pending:
        value, where, depth = pending.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise PolicyError("document", f"has more than {MAX_VALUES:,} values, the limit")
        if depth > MAX_DEPTH:
            raise PolicyError(where, f"nests deeper than {MAX_DEPTH} levels, the limit")
        prefix = "" if where == "document" else where
        if isinstance(value, dict):
            children = []
            for key, item in value.items():
                if not isinstance(key, str) or not key.strip() or not _storable(key):
                    raise PolicyError(where, f"has a key that is not a name: {key!r:.40}")
                children.append((item, f"{prefix}.{key}" if prefix else key, depth + 1))
            pending.extend(reversed(children))
        elif isinstance(value, list):
            pending.extend(
                (item, f"{where}[{index}]", depth + 1)
                for index, item in reversed(list(enumerate(value)))
            )
        elif isinstance(value, _TooLong) or (is_number(value) and not in_range(value)):
            raise PolicyError(where, f"is out of range: it must be {NUMBER_RANGE}")
        elif isinstance(value, str):
            if not _storable(value):
                raise PolicyError(where, "contains a character that cannot be stored (NUL)")
        elif value is not None and not isinstance(value, bool | int | float):
            raise PolicyError(where, "must be text, a number, true/false, a list or a mapping")


def parse_policy_yaml(text: str) -> dict[str, Any]:
    """Parse and validate a policy document; raises PolicyError naming the
    field, or the limit, at fault. Size is checked before parsing, nesting
    while parsing, and the rest (``_check_shape``) before validation."""
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > MAX_POLICY_BYTES:
        limit = f"{MAX_POLICY_BYTES // 1024} KiB"
        raise PolicyError("document", f"is {size:,} bytes, larger than the limit of {limit}")
    try:
        document = yaml.load(text, Loader=_PolicyLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "document"
        raise PolicyError(where, f"is not valid YAML: {getattr(exc, 'problem', exc)}") from None
    return policy_from_document(document)


def policy_from_document(document: Any) -> dict[str, Any]:
    """Validate a parsed policy document (what YAML or JSON gives); raises
    PolicyError naming the field, never anything else."""
    _check_shape(document)
    if not isinstance(document, dict):
        raise PolicyError("document", "must be a mapping with name and rules")
    unknown = set(document) - {"slug", "name", "description", "sources", "rules", "version"}
    if unknown:
        raise PolicyError(sorted(unknown)[0], "is not a policy field")
    name = document.get("name")
    if not isinstance(name, str) or not name.strip():
        raise PolicyError("name", "is required")
    slug = document.get("slug") or slugify(name)
    if not isinstance(slug, str) or slugify(slug) != slug or not slug:
        raise PolicyError("slug", "must be lower-case letters, digits and hyphens")
    sources = document.get("sources") or []
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise PolicyError("sources", "must be a list of source names")
    description = document.get("description")
    if description is not None and not isinstance(description, str):
        raise PolicyError("description", "must be text")
    try:
        rules = validate_rules(document.get("rules"))
    except RuleError as exc:
        raise PolicyError(exc.field, exc.message) from None
    return {
        "slug": slug,
        "name": name.strip(),
        "description": (description or "").strip(),
        "sources": sources,
        "rules": [rule.as_dict() for rule in rules],
    }


def policy_export_yaml(version: PolicyVersion) -> str:
    policy = version.policy
    document = {
        "slug": policy.slug,
        "name": policy.name,
        "description": policy.description,
        "sources": list(policy.source_names),
        "version": version.number,
        "rules": version.rules,
    }
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


@transaction.atomic
def policy_export_audited(*, version: PolicyVersion, actor: User) -> str:
    """One policy version as YAML for someone to take away, audited (page and API)."""
    record(
        action=ReportsAction.POLICY_EXPORT,
        actor=actor,
        target=version,
        data={"policy": version.policy.slug, "number": version.number},
    )
    return policy_export_yaml(version)


@transaction.atomic
def policy_save_draft(*, text: str, actor: User | None, notes: str = "") -> PolicyVersion:
    """Create a policy, or a new draft version of it, from a YAML document.

    A draft that has not been published is replaced in place; published
    versions are never touched: the edit becomes the next version number.
    """
    parsed = parse_policy_yaml(text)
    policy, created = Policy.objects.select_for_update().get_or_create(
        slug=parsed["slug"],
        defaults={
            "name": parsed["name"],
            "description": parsed["description"],
            "source_names": parsed["sources"],
        },
    )
    if not created:
        Policy.objects.filter(pk=policy.pk).update(
            name=parsed["name"], description=parsed["description"], source_names=parsed["sources"]
        )
    draft = policy.versions.filter(published_at__isnull=True).order_by("-number").first()
    latest = policy.versions.order_by("-number").first()
    fields = {
        "rules": parsed["rules"],
        "notes": notes,
        "content_hash": _rules_hash(parsed["rules"]),
        "created_by": actor if actor and actor.is_authenticated else None,
        "created_at": timezone.now(),
    }
    if draft is not None:
        PolicyVersion.objects.filter(pk=draft.pk, published_at__isnull=True).update(**fields)
        draft.refresh_from_db()
        version = draft
    else:
        version = PolicyVersion.objects.create(
            policy=policy, number=(latest.number + 1) if latest else 1, **fields
        )
    record(
        action=ReportsAction.POLICY_DRAFT,
        actor=actor,
        system_actor=None if actor else SystemActor.SYSTEM,
        target=version,
        data={"policy": policy.slug, "number": version.number, "rules": len(parsed["rules"])},
    )
    return version


@transaction.atomic
def policy_publish(*, version: PolicyVersion, actor: User | None) -> PolicyVersion:
    """Publish a draft: from now on it is immutable and the policy's current
    version. Re-assessment of every run it applies to is requested on commit."""
    now = timezone.now()
    moved = PolicyVersion.objects.filter(pk=version.pk, published_at__isnull=True).update(
        published_at=now, published_by=actor if actor and actor.is_authenticated else None
    )
    if not moved:
        raise PolicyLocked(f"{version} is already published")
    version.refresh_from_db()
    record(
        action=ReportsAction.POLICY_PUBLISH,
        actor=actor,
        system_actor=None if actor else SystemActor.SYSTEM,
        target=version,
        data={"policy": version.policy.slug, "number": version.number},
    )
    return version


# --------------------------------------------------------------------------- facts

# What assessing reads of a run and its experiment: plain values, no model
# instances (docs/architecture.md: reads for a write stay in its service).
_RUN_COLUMNS = (
    "pk",
    "run_id",
    "status",
    "user_id",
    "start_time",
    "artifact_uri",
    "params",
    "tags",
    "metrics",
    "facts_hash",
    "experiment__tags",
    "experiment__artifact_location",
)


def _facts(ids: Sequence[int]) -> list[tuple[int, str, RunFacts]]:
    """(pk, facts_hash, facts) of each run in ``ids`` that exists, in two queries."""
    model_tags: dict[int, list[dict[str, str]]] = {}
    for run_pk, tags in ModelVersion.objects.filter(run__in=ids).values_list(
        "run_id", "model__tags"
    ):
        model_tags.setdefault(run_pk, []).append(tags or {})
    return [
        (
            pk,
            facts_hash,
            RunFacts(
                run_id=run_id,
                status=status,
                user_id=user_id,
                start_time=start_time,
                artifact_uri=artifact_uri,
                params=params or {},
                tags=tags or {},
                metrics=metrics or {},
                experiment_tags=experiment_tags or {},
                experiment_artifact_location=experiment_location,
                model_tags=tuple(model_tags.get(pk, ())),
            ),
        )
        for (
            pk,
            run_id,
            status,
            user_id,
            start_time,
            artifact_uri,
            params,
            tags,
            metrics,
            facts_hash,
            experiment_tags,
            experiment_location,
        ) in Run.objects.filter(pk__in=ids).values_list(*_RUN_COLUMNS)
    ]


# --------------------------------------------------------------------------- assessing


def assess_runs(
    *,
    run_ids: Iterable[int],
    version: PolicyVersion,
    batch: AssessmentBatch | None = None,
    now: dt.datetime | None = None,
) -> Counter[str]:
    """Assess runs under a published policy version, in small transactions.

    Idempotent: a run whose current content already has an assessment under
    this version is skipped (but made current again if it is not). Returns
    the verdicts written, plus ``skipped``.
    """
    if not version.is_published:
        raise PolicyLocked(f"{version} is a draft; publish it before assessing with it")
    rules = [
        Rule(r["id"], r["title"], r.get("description", ""), r["severity"], r["check"])
        for r in version.rules
    ]
    ids = list(run_ids)
    tally: Counter[str] = Counter()
    for start in range(0, len(ids), COMMIT_EVERY):
        chunk = ids[start : start + COMMIT_EVERY]
        with transaction.atomic(), rollups.counting(chunk, version.policy):
            tally.update(_assess_chunk(chunk, version, rules, batch, now or timezone.now()))
            if batch is not None:
                AssessmentBatch.objects.filter(pk=batch.pk).update(
                    done=F("done") + len(chunk), heartbeat_at=timezone.now()
                )
    return tally


def _assess_chunk(
    ids: list[int],
    version: PolicyVersion,
    rules: list[Rule],
    batch: AssessmentBatch | None,
    now: dt.datetime,
) -> Counter[str]:
    """Assess one chunk inside the caller's transaction, in a number of
    queries that does not grow with its runs: runs and their facts (two), what
    is assessed already and what is current (one), an update only when some
    run gives up a current assessment, the new assessments and their rule
    results (on PostgreSQL: their ids, then one COPY each, ``kernel.bulk``),
    and the chunk's audit event."""
    tally: Counter[str] = Counter()
    policy_id = version.policy_id
    facts = _facts(ids)
    # This version's assessments of these runs (by content), and which
    # assessment of the policy is current for each run, in one query.
    existing: dict[tuple[int, str], int] = {}
    current: dict[int, int] = {}
    for pk, run_pk, version_pk, content, is_current in Assessment.objects.filter(
        Q(policy_version=version) | Q(is_current=True), run__in=ids, policy_id=policy_id
    ).values_list("pk", "run_id", "policy_version_id", "run_content_hash", "is_current"):
        if version_pk == version.pk:
            existing[(run_pk, content)] = pk
        if is_current:
            current[run_pk] = pk
    to_create: list[tuple[dict[str, Any], list[Any]]] = []
    revive: list[int] = []
    for run_pk, facts_hash, run_facts in facts:
        already = existing.get((run_pk, facts_hash))
        if already is not None:
            tally["skipped"] += 1
            if current.get(run_pk) != already:
                revive.append(already)
            continue
        try:
            results = [evaluate(rule, run_facts, now=now) for rule in rules]
            verdict, risk, score = verdict_of(results)
            error = ""
        except Exception as exc:
            results, verdict, risk, score = [], "error", "none", 0
            error = f"{type(exc).__name__}: {exc}"
        tally[verdict] += 1
        row = {
            "run_id": run_pk,
            "policy_id": policy_id,
            "policy_version_id": version.pk,
            "run_content_hash": facts_hash,
            "verdict": verdict,
            "risk": risk,
            "score": score,
            "failed_rules": sum(1 for r in results if r.outcome == "fail"),
            "error": error,
            "assessed_at": now,
            "is_current": True,
            "batch_id": batch.pk if batch else None,
        }
        to_create.append((row, results))

    # Move "current" off the old assessments before the new (or revived) ones
    # take it (one current per run and policy is a unique constraint): one
    # update, only when some run has a current assessment to give up.
    taking = {row["run_id"] for row, _ in to_create}
    if revive:
        revived = set(revive)
        taking |= {run_pk for (run_pk, _), pk in existing.items() if pk in revived}
    retire = [pk for run_pk, pk in current.items() if run_pk in taking]
    if retire:
        Assessment.objects.filter(pk__in=retire).update(is_current=False)
    if revive:
        Assessment.objects.filter(pk__in=revive).update(is_current=True)
    created = insert_rows_returning_pks(Assessment, [row for row, _ in to_create])
    insert_rows(
        RuleResult,
        [
            {
                "assessment_id": assessment_pk,
                "rule_id": r.rule_id,
                "title": r.title,
                "severity": r.severity,
                "outcome": r.outcome,
                "observed": _jsonable(r.observed),
                "expected": _jsonable(r.expected),
                "message": r.message,
            }
            for assessment_pk, (_, results) in zip(created, to_create, strict=True)
            for r in results
        ],
    )
    if created:
        record(
            action=ReportsAction.ASSESS,
            system_actor=SystemActor.ASSESSOR,
            target=("reports.policyversion", version.pk),
            data={
                "policy": version.policy.slug,
                "version": version.number,
                "runs": len(created),
                "verdicts": dict(Counter(row["verdict"] for row, _ in to_create)),
                "batch": batch.pk if batch else None,
            },
        )
    return tally


_JSON_SCALARS = (str, int, bool, type(None))
_SLOW = object()  # a value the direct path does not take


def _json_direct(value: Any) -> Any:
    kind = type(value)
    if kind in _JSON_SCALARS or (kind is float and math.isfinite(value)):
        return value
    if kind is list:
        items = [_json_direct(item) for item in value]
        return _SLOW if any(item is _SLOW for item in items) else items
    if kind is dict and all(type(key) is str for key in value):
        pairs = [(key, _json_direct(value[key])) for key in sorted(value)]
        return _SLOW if any(item is _SLOW for _, item in pairs) else dict(pairs)
    return _SLOW


def _jsonable(value: Any) -> Any:
    """``value`` as it reads back from a JSON column after canonical JSON
    (sorted keys, dates as ISO text, tuples as lists). Text, whole numbers,
    finite floats, booleans, None, and lists and mappings of them (the usual
    evidence) are rebuilt directly; anything else goes through the JSON text."""
    direct = _json_direct(value)
    return json.loads(canonical_json(value)) if direct is _SLOW else direct


# --------------------------------------------------------------------------- requests


@transaction.atomic
def assessment_request_pending(
    *,
    version: PolicyVersion,
    source_name: str | None = None,
    experiment_name: str | None = None,
    reason: str,
    actor: User | None = None,
    system_actor: SystemActor = SystemActor.SYSTEM,
) -> AssessmentRequest | None:
    """A request for the runs under ``version`` that need assessment and that no
    open batch holds yet, or None when there are none. Two callers at once (a
    sync's job and ``manage.py assess``) are serialised on the version's row, so
    a run is never queued twice."""
    PolicyVersion.objects.select_for_update().filter(pk=version.pk).first()
    run_ids = runs_to_queue(version, source_name=source_name, experiment_name=experiment_name)
    if not run_ids:
        return None
    return assessment_request_create(
        version=version, runs=run_ids, reason=reason, actor=actor, system_actor=system_actor
    )


@transaction.atomic
def assessment_request_create(
    *,
    version: PolicyVersion,
    runs: QuerySet[Run] | Iterable[int],
    reason: str,
    actor: User | None = None,
    system_actor: SystemActor = SystemActor.SYSTEM,
) -> AssessmentRequest:
    """Split the runs (a queryset, or primary keys such as
    ``reports.selectors.assessing.runs_to_queue`` gives) into batches, one job
    each; the caller enqueues them."""
    request = AssessmentRequest.objects.create(
        policy_version=version,
        reason=reason[:200],
        requested_by=actor if actor and actor.is_authenticated else None,
    )
    if isinstance(runs, QuerySet):
        run_ids = list(runs.order_by("pk").values_list("pk", flat=True))
    else:
        run_ids = sorted(runs)
    AssessmentBatch.objects.bulk_create(
        AssessmentBatch(request=request, run_ids=run_ids[i : i + BATCH_SIZE])
        for i in range(0, len(run_ids), BATCH_SIZE)
    )
    AssessmentRequest.objects.filter(pk=request.pk).update(total=len(run_ids))
    request.total = len(run_ids)
    record(
        action=ReportsAction.ASSESS_REQUEST,
        actor=actor,
        system_actor=None if actor else system_actor,
        target=request,
        data={
            "policy": version.policy.slug,
            "version": version.number,
            "runs": len(run_ids),
            "reason": reason,
        },
    )
    return request


def batch_queued(batch: AssessmentBatch, *, job_id: str) -> None:
    """The job queue took the batch's job: remember its id, and when (a queued
    batch's ``heartbeat_at`` is when it was last put on the queue)."""
    if job_id:
        AssessmentBatch.objects.filter(pk=batch.pk).update(
            job_id=job_id, heartbeat_at=timezone.now()
        )


RECOVERED = "requeued"
GAVE_UP = "failed"


@transaction.atomic
def assess_recover(
    *,
    batches: Sequence[AssessmentBatch],
    action: str,
    reason: str,
    error: str | None = None,
    new_job_ids: Callable[[], str],
) -> list[AssessmentBatch]:
    """Recovery moves ``batches`` and audits it in the same transaction
    (docs/architecture.md, Audit): one ``reports.assess_recover`` event per
    request, for the batches that moved. Each move is a compare-and-swap on
    the status, job id and attempts the caller saw, so of two callers (or a
    worker finishing meanwhile) one wins and the other moves nothing.

    - ``action="requeued"``: queued or running -> queued under a new job id
      (from ``new_job_ids``), set on the returned batches for the caller to
      queue once this commits; ``error`` (if given) says why, for the pages.
    - ``action="failed"``: running -> failed for good with ``error`` (or
      ``reason``)."""
    if action not in (RECOVERED, GAVE_UP):
        raise ValueError(f"unknown recovery action {action!r}")
    moved: list[AssessmentBatch] = []
    for batch in batches:
        fields: dict[str, Any] = {"heartbeat_at": timezone.now()}
        if action == RECOVERED:
            fields.update(status=AssessmentBatch.Status.QUEUED, job_id=new_job_ids())
            if error is not None:
                fields["error"] = error
        else:
            if batch.status != AssessmentBatch.Status.RUNNING:
                continue
            fields.update(status=AssessmentBatch.Status.FAILED, error=error or reason)
        if AssessmentBatch.objects.filter(
            pk=batch.pk, status=batch.status, job_id=batch.job_id, attempts=batch.attempts
        ).update(**fields):
            for key, value in fields.items():
                setattr(batch, key, value)
            moved.append(batch)
    by_request: dict[int, list[AssessmentBatch]] = {}
    for batch in moved:
        by_request.setdefault(batch.request_id, []).append(batch)
    requests = AssessmentRequest.objects.in_bulk(list(by_request))
    for request_id, group in sorted(by_request.items()):
        record(
            action=ReportsAction.ASSESS_RECOVER,
            system_actor=SystemActor.SYSTEM,
            target=requests[request_id],
            outcome=(
                AuditEvent.Outcome.FAILURE if action == GAVE_UP else AuditEvent.Outcome.SUCCESS
            ),
            data={
                "action": action,
                "reason": reason,
                "batches": [b.pk for b in group],
                "runs": sum(len(b.run_ids) for b in group),
            },
        )
    return moved


def _enqueue_event(
    batches: Sequence[AssessmentBatch],
    *,
    outcome: AuditEvent.Outcome,
    data: dict[str, Any],
    actor: User | None,
    system_actor: SystemActor,
) -> None:
    """One ``reports.assess_enqueue`` event per request the batches belong to."""
    by_request: dict[int, list[AssessmentBatch]] = {}
    for batch in batches:
        by_request.setdefault(batch.request_id, []).append(batch)
    requests = AssessmentRequest.objects.select_related("policy_version__policy").in_bulk(
        list(by_request)
    )
    for request_id, group in sorted(by_request.items()):
        request = requests[request_id]
        record(
            action=ReportsAction.ASSESS_ENQUEUE,
            actor=actor,
            system_actor=None if actor else system_actor,
            target=request,
            outcome=outcome,
            data={
                "policy": request.policy_version.policy.slug,
                "version": request.policy_version.number,
                "batches": len(group),
                "runs": sum(len(b.run_ids) for b in group),
                **data,
            },
        )


@transaction.atomic
def batches_not_queued(
    *,
    batches: Sequence[AssessmentBatch],
    error: str,
    retry: bool = False,
    actor: User | None = None,
    system_actor: SystemActor = SystemActor.SYSTEM,
) -> list[AssessmentBatch]:
    """queued -> unqueued for batches whose job the queue could not take, with
    the reason; audited as a failure, one event per request. They stay open
    (their runs are not requested again) until ``batches_take_unqueued``."""
    moved = [
        batch
        for batch in batches
        if AssessmentBatch.objects.filter(pk=batch.pk, status=AssessmentBatch.Status.QUEUED).update(
            status=AssessmentBatch.Status.UNQUEUED, error=error, job_id=""
        )
    ]
    if moved:
        _enqueue_event(
            moved,
            outcome=AuditEvent.Outcome.FAILURE,
            data={"error": error, "retry": retry},
            actor=actor,
            system_actor=system_actor,
        )
    return moved


def batches_take_unqueued() -> list[AssessmentBatch]:
    """unqueued -> queued, once each (two callers never take the same batch),
    for the caller to put on the queue."""
    taken = []
    for batch in AssessmentBatch.objects.filter(status=AssessmentBatch.Status.UNQUEUED):
        if AssessmentBatch.objects.filter(
            pk=batch.pk, status=AssessmentBatch.Status.UNQUEUED
        ).update(status=AssessmentBatch.Status.QUEUED, heartbeat_at=timezone.now()):
            batch.status = AssessmentBatch.Status.QUEUED
            taken.append(batch)
    return taken


@transaction.atomic
def batches_queued_again(
    *, batches: Sequence[AssessmentBatch], system_actor: SystemActor = SystemActor.SYSTEM
) -> None:
    """Batches that had not been queued are on the queue now: audited as a
    success, one event per request, so the trail shows the failure resolved."""
    AssessmentBatch.objects.filter(
        pk__in=[b.pk for b in batches], status=AssessmentBatch.Status.QUEUED
    ).update(error="")
    if batches:
        _enqueue_event(
            batches,
            outcome=AuditEvent.Outcome.SUCCESS,
            data={"retry": True},
            actor=None,
            system_actor=system_actor,
        )


def batch_claim(batch: AssessmentBatch, *, job_id: str = "") -> bool:
    """queued -> running, once: a second worker with the same batch backs off.
    ``job_id`` is the claiming job's, so the row always names the job that
    runs it (recovery asks RQ about that one)."""
    fields: dict[str, Any] = {"job_id": job_id} if job_id else {}
    return bool(
        AssessmentBatch.objects.filter(pk=batch.pk, status=AssessmentBatch.Status.QUEUED).update(
            status=AssessmentBatch.Status.RUNNING,
            attempts=F("attempts") + 1,
            done=0,  # a retried batch counts again from the start
            heartbeat_at=timezone.now(),
            **fields,
        )
    )


def batch_finish(batch: AssessmentBatch, *, error: str = "", retry: bool = False) -> None:
    """running -> done, failed, or back to queued for another attempt."""
    if not error:
        to = AssessmentBatch.Status.DONE
    else:
        to = AssessmentBatch.Status.QUEUED if retry else AssessmentBatch.Status.FAILED
    AssessmentBatch.objects.filter(pk=batch.pk, status=AssessmentBatch.Status.RUNNING).update(
        status=to, error=error, heartbeat_at=timezone.now()
    )
