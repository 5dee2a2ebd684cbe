"""What each report kind shows, read through the same selectors as the pages.

Each builder returns a ``Content``: the template and its context, the evidence
(plain JSON values: everything the document was built from, hashed and
attached to the PDF) and the findings CSV. Reads only: nothing here writes.

The model version dossier renders the slot ``"reports.dossier"`` of the
kernel's panel registry: a higher layer (approvals) registers a ``Panel`` there
with a ``template`` and a ``data`` function of the model version; the dossier
renders that template with the data, and the data joins the evidence (so its
hash and the attachment cover it). ``reports`` never imports that layer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from audit.chain import GENESIS_HASH, HASHED_FIELDS, canonical_json, event_hash
from audit.models import AuditEvent, AuditHead
from audit.services import verify
from kernel.csv import csv_lines
from kernel.errors import Conflict, NotFound
from kernel.registry import panel_data, panels_for
from reports import charts
from reports.models import Assessment, Policy, PolicyVersion, Report, RuleResult
from reports.rules import RISK_LEVELS
from reports.selectors.common import RISK_LABELS, VERDICT_LABELS, ComplianceFilters
from reports.selectors.dashboard import compliance_summary, filter_choices
from reports.selectors.policies import default_policy
from reports.selectors.run_panel import run_compliance
from reports.selectors.runs import compliance_runs, failed_rule_ids
from tracking.models import Experiment, ModelVersion

DOSSIER_SLOT = "reports.dossier"
ALL_RULES = 10_000  # "top" failing rules: every one of them


@dataclass
class Content:
    template: str
    title: str
    context: dict[str, Any]
    evidence: dict[str, Any]
    csv_header: Sequence[str]
    csv_rows: list[Sequence[Any]]
    policy_version: PolicyVersion | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def evidence_bytes(self) -> bytes:
        return canonical_json(self.evidence).encode("utf-8")

    def csv_bytes(self) -> bytes:
        return "".join(csv_lines(self.csv_header, self.csv_rows)).encode("utf-8")


def evidence_sha256(content: Content) -> str:
    return hashlib.sha256(content.evidence_bytes()).hexdigest()


def _print_svg(svg: SafeString) -> SafeString:
    """The dashboard's chart for print: its screen style (``max-width:100%;
    height:auto``) makes WeasyPrint give it a page of its own; its width and
    height attributes are what print needs."""
    return mark_safe(str(svg).replace(' style="max-width:100%;height:auto"', ""))  # noqa: S308


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


# --------------------------------------------------------------------------- targets


def find_experiment(source: str, experiment: str) -> Experiment:
    found = list(
        Experiment.objects.select_related("source")
        .filter(source__name=source, name=experiment)
        .order_by("gone_at", "-id")
    )
    visible = [e for e in found if e.gone_at is None and e.lifecycle_stage == "active"]
    candidates = visible or found
    if not candidates:
        raise NotFound(f"no experiment {experiment!r} in source {source!r}")
    if len(candidates) > 1:
        raise Conflict(f"several experiments are named {experiment!r} in source {source!r}")
    return candidates[0]


def find_policy(slug: str | None) -> Policy:
    policy = Policy.objects.filter(slug=slug).first() if slug else default_policy()
    if policy is None:
        raise NotFound(f"no policy {slug!r}" if slug else "there is no policy yet")
    return policy


def find_model_version(source: str, model: str, version: str) -> ModelVersion:
    found = (
        ModelVersion.objects.select_related("model__source", "run__experiment", "run__source")
        .filter(model__source__name=source, model__name=model, version=str(version))
        .first()
    )
    if found is None:
        raise NotFound(f"no version {version} of model {model!r} in source {source!r}")
    return found


def parse_day(value: str | None, name: str) -> dt.date | None:
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{name}: not a date (YYYY-MM-DD): {str(value)[:40]!r}") from None


# --------------------------------------------------------------------------- experiment


def experiment_content(report: Report) -> Content:
    params = report.parameters
    experiment = find_experiment(params["source"], params["experiment"])
    policy = find_policy(params.get("policy"))
    version = policy.current_version()
    choices = filter_choices()
    filters = ComplianceFilters(
        policy=policy, version=version, source=experiment.source, experiment=experiment
    )
    summary = compliance_summary(filters, choices, top_rules=ALL_RULES, latest=0)
    runs = list(compliance_runs(filters, choices))
    failed = failed_rule_ids(run.assessment_id for run in runs)  # type: ignore[attr-defined]
    catalogue = {rule["id"]: rule for rule in (version.rules if version else [])}

    appendix = []
    for run in runs:
        assessment_id = run.assessment_id  # type: ignore[attr-defined]
        appendix.append(
            {
                "pk": run.pk,
                "run_id": run.run_id,
                "run_name": run.run_name,
                "start_time": run.start_time,
                "verdict": run.verdict or "none",  # type: ignore[attr-defined]
                "risk": run.risk or "",  # type: ignore[attr-defined]
                "score": run.score,  # type: ignore[attr-defined]
                "version_number": run.version_number,  # type: ignore[attr-defined]
                "failed": failed.get(assessment_id, []) if assessment_id else [],
                "assessment_id": assessment_id,
            }
        )
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for row in appendix:
        for rule_id in row["failed"]:
            by_rule.setdefault(rule_id, []).append(row)
    findings = [
        {
            "rule_id": rule.rule_id,
            "title": rule.title,
            "severity": rule.severity,
            "runs": rule.runs,
            "share": rule.share,
            "how_to_fix": catalogue.get(rule.rule_id, {}).get("description", ""),
            "affected": by_rule.get(rule.rule_id, []),
        }
        for rule in summary.failing_rules
    ]

    # Every rule result of every assessed run: the attachment's full evidence.
    assessment_ids = [row["assessment_id"] for row in appendix if row["assessment_id"]]
    results: dict[int, list[dict[str, Any]]] = {}
    for result in (
        RuleResult.objects.filter(assessment_id__in=assessment_ids)
        .order_by("assessment_id", "id")
        .values(
            "assessment_id", "rule_id", "severity", "outcome", "observed", "expected", "message"
        )
        .iterator(chunk_size=5000)
    ):
        row_data: dict[str, Any] = dict(result)
        results.setdefault(row_data.pop("assessment_id"), []).append(row_data)
    non_compliant_evidence = [
        {
            "run": row,
            "results": [
                r
                for r in results.get(row["assessment_id"], [])
                if r["outcome"] in ("fail", "error")
            ],
        }
        for row in appendix
        if row["verdict"] in ("non_compliant", "error")
    ]

    totals = summary.totals
    risk_rows: list[dict[str, Any]] = [
        {"level": level, "label": RISK_LABELS[level], "count": totals.risk[level]}
        for level in RISK_LEVELS
    ]
    risk_chart = _print_svg(
        charts.donut_chart(
            chart_id="chart-risk",
            title="Risk distribution of assessed runs",
            description="Number of assessed runs at each risk level; the table gives the numbers.",
            segments=[(r["label"], r["count"], charts.RISK_COLOURS[r["level"]]) for r in risk_rows],
            centre_label="assessed runs",
        )
    )
    rules_chart = _print_svg(
        charts.bar_chart(
            chart_id="chart-rules",
            title="Most frequently failed rules",
            description="Number of assessed runs failing each rule; the table gives the numbers.",
            bars=[(rule.rule_id, rule.runs) for rule in summary.failing_rules[:10]],
            colour=charts.NON_COMPLIANT,
        )
    )
    evidence: dict[str, Any] = {
        "kind": "experiment",
        "report_id": report.pk,
        "source": experiment.source.name,
        "experiment": {
            "name": experiment.name,
            "experiment_id": experiment.experiment_id,
            "tags": experiment.tags,
        },
        "policy": {
            "slug": policy.slug,
            "name": policy.name,
            "version": version.number if version else None,
            "content_hash": version.content_hash if version else None,
        },
        "summary": {
            "runs": summary.runs,
            "assessed": totals.total,
            "compliant": totals.compliant,
            "non_compliant": totals.non_compliant,
            "error": totals.error,
            "not_assessed": summary.not_assessed,
            "risk": dict(totals.risk),
        },
        "failing_rules": [
            {
                "rule_id": f["rule_id"],
                "title": f["title"],
                "severity": f["severity"],
                "runs": f["runs"],
            }
            for f in findings
        ],
        "runs": [
            {
                "run_id": row["run_id"],
                "run_name": row["run_name"],
                "start_time": _iso(row["start_time"]),
                "verdict": row["verdict"],
                "risk": row["risk"],
                "score": row["score"],
                "policy_version": row["version_number"],
                "failed_rules": row["failed"],
                "results": results.get(row["assessment_id"], []) if row["assessment_id"] else [],
            }
            for row in appendix
        ],
    }
    csv_rows: list[Sequence[Any]] = [
        (
            row["run_id"],
            row["run_name"],
            _iso(row["start_time"]) or "",
            row["verdict"],
            row["risk"],
            "" if row["score"] is None else row["score"],
            ";".join(row["failed"]),
        )
        for row in appendix
    ]
    context = {
        "experiment": experiment,
        "policy": policy,
        "version": version,
        "summary": summary,
        "totals": totals,
        "risk_rows": risk_rows,
        "risk_chart": risk_chart,
        "rules_chart": rules_chart,
        "findings": findings,
        "appendix": appendix,
        "non_compliant_evidence": non_compliant_evidence,
        "verdict_labels": VERDICT_LABELS,
    }
    return Content(
        template="reports/documents/experiment.html",
        title=f"Compliance report: {experiment.name}",
        context=context,
        evidence=evidence,
        csv_header=(
            "run_id",
            "run_name",
            "start_time",
            "verdict",
            "risk",
            "score",
            "failed_rules",
        ),
        csv_rows=csv_rows,
        policy_version=version,
    )


# --------------------------------------------------------------------------- dossier


def dossier_sections(version: ModelVersion) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The sections higher layers contribute to the dossier (slot ``reports.dossier``):
    rendered HTML for the document and their data for the evidence."""
    data = panel_data(DOSSIER_SLOT, version)
    sections = []
    for panel in panels_for(DOSSIER_SLOT, None, version):
        section_data = data.get(panel.key)
        html = render_to_string(
            panel.template, {"data": section_data, "version": version, "panel_key": panel.key}
        )
        sections.append({"key": panel.key, "html": html})
    return sections, data


def model_version_content(report: Report) -> Content:
    params = report.parameters
    version = find_model_version(params["source"], params["model"], params["version"])
    model = version.model
    changes = list(
        model.alias_changes.filter(
            Q(to_version=version.version) | Q(from_version=version.version)
        ).order_by("observed_at", "id")
    )
    current_aliases = sorted(a for a, v in model.aliases.items() if str(v) == version.version)
    run = version.run
    compliance = run_compliance(run) if run is not None else []
    sections, section_data = dossier_sections(version)
    evidence: dict[str, Any] = {
        "kind": "model-version",
        "report_id": report.pk,
        "source": model.source.name,
        "model": {"name": model.name, "tags": model.tags, "aliases": model.aliases},
        "version": {
            "version": version.version,
            "source_uri": version.source_uri,
            "run_id": version.mlflow_run_id,
            "status": version.status,
            "stage": version.current_stage,
            "description": version.description,
            "created": _iso(version.creation_time),
            "tags": version.tags,
            "aliases": current_aliases,
        },
        "alias_history": [
            {
                "alias": c.alias,
                "from": c.from_version,
                "to": c.to_version,
                "observed_at": _iso(c.observed_at),
                "unapproved": c.unapproved,
            }
            for c in changes
        ],
        "run": None
        if run is None
        else {
            "run_id": run.run_id,
            "run_name": run.run_name,
            "experiment": run.experiment.name,
            "params": run.params,
            "metrics": run.metrics,
            "tags": run.tags,
        },
        "assessments": [
            {
                "policy": item.policy.slug,
                "policy_version": item.current.policy_version.number if item.current else None,
                "verdict": item.current.verdict if item.current else None,
                "risk": item.current.risk if item.current else None,
                "results": [
                    {
                        "rule_id": r.rule_id,
                        "outcome": r.outcome,
                        "observed": r.observed,
                        "expected": r.expected,
                        "message": r.message,
                    }
                    for r in item.results
                ],
            }
            for item in compliance
        ],
        "sections": section_data,
    }
    csv_rows: list[Sequence[Any]] = [
        (
            item["policy"],
            item["policy_version"],
            item["verdict"],
            r["rule_id"],
            r["outcome"],
            r["message"],
        )
        for item in evidence["assessments"]
        for r in item["results"]
    ]
    context = {
        "model": model,
        "version": version,
        "current_aliases": current_aliases,
        "alias_changes": changes,
        "run": run,
        "params": sorted((run.params or {}).items()) if run else [],
        "metrics": sorted(_metric_rows(run.metrics) if run else []),
        "compliance": compliance,
        "sections": sections,
        "tags": sorted(version.tags.items()),
    }
    current = next((item.current for item in compliance if item.current), None)
    return Content(
        template="reports/documents/model_version.html",
        title=f"Model version dossier: {model.name} v{version.version}",
        context=context,
        evidence=evidence,
        csv_header=("policy", "policy_version", "verdict", "rule_id", "outcome", "message"),
        csv_rows=csv_rows,
        policy_version=current.policy_version if isinstance(current, Assessment) else None,
    )


def _metric_rows(metrics: dict[str, Any]) -> list[tuple[str, Any]]:
    rows = []
    for key, value in (metrics or {}).items():
        shown = value.get("value") if isinstance(value, dict) else value
        rows.append((key, shown))
    return rows


# --------------------------------------------------------------------------- audit extract


def _start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def range_verification(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Check the events of a range link to each other and to the event before it."""
    if not events:
        return {"intact": True, "checked": 0, "reason": "no events in the range"}
    first = events[0]["sequence"]
    before = (
        AuditEvent.objects.filter(sequence=first - 1).values_list("hash", flat=True).first()
        if first > 1
        else GENESIS_HASH
    )
    prev_hash = before
    expected = first
    for row in events:
        if row["sequence"] != expected:
            return {
                "intact": False,
                "checked": expected - first,
                "reason": f"event {expected} is missing",
            }
        if prev_hash is None or row["prev_hash"] != prev_hash:
            return {
                "intact": False,
                "checked": expected - first,
                "reason": f"sequence {expected} does not link to its predecessor",
            }
        if event_hash(row["prev_hash"], row) != row["hash"]:
            return {
                "intact": False,
                "checked": expected - first,
                "reason": f"sequence {expected} does not match its hash",
            }
        prev_hash = row["hash"]
        expected += 1
    return {"intact": True, "checked": len(events), "reason": ""}


def audit_content(report: Report) -> Content:
    params = report.parameters
    since = parse_day(params.get("since"), "since")
    until = parse_day(params.get("until"), "until")
    query = AuditEvent.objects.chain_order()
    if since:
        query = query.filter(timestamp__gte=_start(since))
    if until:
        query = query.filter(timestamp__lt=_start(until + dt.timedelta(days=1)))
    # Events up to the request: the extract's own later events are not part of it.
    query = query.filter(timestamp__lte=report.created_at)
    events = list(query.values("prev_hash", "hash", *HASHED_FIELDS))
    in_range = range_verification(events)
    whole = verify()
    head = AuditHead.objects.filter(pk=1).values("sequence", "hash").first()
    evidence: dict[str, Any] = {
        "kind": "audit",
        "report_id": report.pk,
        "since": _iso(since),
        "until": _iso(until),
        "range_verification": in_range,
        "chain_verification": {
            "intact": whole.intact,
            "checked": whole.checked,
            "first_bad_sequence": whole.first_bad_sequence,
            "reason": whole.reason,
        },
        "head": head,
        "events": [
            {
                "sequence": e["sequence"],
                "timestamp": _iso(e["timestamp"]),
                "actor": e["actor_username"],
                "role": e["actor_role"],
                "action": e["action"],
                "target_type": e["target_type"],
                "target_id": e["target_id"],
                "outcome": e["outcome"],
                "data": e["data"],
                "hash": e["hash"],
            }
            for e in events
        ],
    }
    csv_rows: list[Sequence[Any]] = [
        (
            e["sequence"],
            e["timestamp"],
            e["actor"],
            e["role"],
            e["action"],
            e["target_type"],
            e["target_id"],
            e["outcome"],
            canonical_json(e["data"]),
            e["hash"],
        )
        for e in evidence["events"]
    ]
    for e in events:
        e["data_json"] = canonical_json(e["data"])
    context = {
        "since": since,
        "until": until,
        "events": events,
        "range_verification": in_range,
        "chain": whole,
        "head": head,
    }
    span = f"{since or 'the beginning'} to {until or report.created_at.date()}"
    return Content(
        template="reports/documents/audit.html",
        title=f"Audit extract: {span}",
        context=context,
        evidence=evidence,
        csv_header=(
            "sequence",
            "timestamp",
            "actor",
            "role",
            "action",
            "target_type",
            "target_id",
            "outcome",
            "data",
            "hash",
        ),
        csv_rows=csv_rows,
    )


BUILDERS = {
    Report.Kind.EXPERIMENT: experiment_content,
    Report.Kind.MODEL_VERSION: model_version_content,
    Report.Kind.AUDIT: audit_content,
}


def build_content(report: Report) -> Content:
    return BUILDERS[Report.Kind(report.kind)](report)
