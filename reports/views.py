"""Compliance pages: the dashboard, the runs table and its CSV export, policies.

Reading is open to every signed-in user; editing, importing and publishing
policies and starting assessments are for compliance officers and
administrators (the rights in ``reports.permissions``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.services import record
from kernel.csv import csv_lines
from kernel.http import private_no_store
from kernel.tables import configure_keyset_table
from reports import charts
from reports.audit_actions import ReportsAction
from reports.forms import (
    ComplianceFilterForm,
    ComplianceRunsFilterForm,
    PolicyEditForm,
    PolicyImportForm,
)
from reports.jobs import AssessmentNotQueued, assess_pending
from reports.models import Policy
from reports.permissions import ASSESS_RUNS, EDIT_POLICY, PUBLISH_POLICY
from reports.rules import RISK_LEVELS
from reports.selectors.assessing import assessment_activity, batches_needing_attention
from reports.selectors.common import RISK_LABELS, ComplianceFilters
from reports.selectors.dashboard import (
    ComplianceSummary,
    Tally,
    compliance_summary,
    filter_choices,
)
from reports.selectors.policies import (
    default_policy,
    policy_overview,
    policy_overviews,
    policy_version,
    rules_of,
)
from reports.selectors.runs import compliance_runs, failed_rule_ids
from reports.services import (
    PolicyError,
    PolicyLocked,
    parse_policy_yaml,
    policy_export_audited,
    policy_export_yaml,
    policy_publish,
    policy_save_draft,
)
from reports.tables import ComplianceRunTable
from tracking.filters import RUN_TABLE_KEYSETS
from tracking.models import Experiment

PER_PAGE = 50
GROUP_ROWS = 15  # rows of a breakdown table; the chart shows the first CHART_ROWS
CHART_ROWS = 10
CSV_CHUNK = 2000

VERDICT_SERIES = (
    charts.Series("Compliant", charts.COMPLIANT),
    charts.Series("Non-compliant", charts.NON_COMPLIANT),
    charts.Series("Error", charts.ERROR),
)


def runs_url(filters: ComplianceFilters, **overrides: Any) -> str:
    """The runs table showing exactly what a figure counts."""
    return reverse("reports:runs") + "?" + urlencode(filters.params(scope_only=True, **overrides))


# --------------------------------------------------------------------------- dashboard


@dataclass
class GroupRow:
    tally: Tally
    url: str
    compliant_url: str
    non_compliant_url: str
    error_url: str

    @property
    def risk_counts(self) -> list[int]:
        return [self.tally.risk[level] for level in RISK_LEVELS]


@dataclass
class Breakdown:
    slug: str
    title: str
    column: str
    rows: list[GroupRow]
    hidden: int
    chart: SafeString


def _breakdown(
    filters: ComplianceFilters, slug: str, title: str, column: str, tallies: list[Tally]
) -> Breakdown:
    rows = []
    for tally in tallies[:GROUP_ROWS]:
        scope = {slug: tally.key}
        rows.append(
            GroupRow(
                tally=tally,
                url=runs_url(filters, **scope),
                compliant_url=runs_url(filters, verdict="compliant", **scope),
                non_compliant_url=runs_url(filters, verdict="non_compliant", **scope),
                error_url=runs_url(filters, verdict="error", **scope),
            )
        )
    shown = tallies[:CHART_ROWS]
    chart = charts.stacked_bar_chart(
        chart_id=f"chart-{slug}",
        title=f"Verdicts by {column.lower()}",
        description=(
            f"Share of compliant, non-compliant and error verdicts for the {len(shown)} "
            f"{column.lower()} values with the most non-compliant runs; "
            "the table below gives the numbers."
        ),
        series=VERDICT_SERIES,
        rows=[
            (
                f"{t.label} ({t.source})" if t.source else t.label,
                (t.compliant, t.non_compliant, t.error),
            )
            for t in shown
        ],
    )
    return Breakdown(slug, title, column, rows, max(0, len(tallies) - GROUP_ROWS), chart)


def _dashboard_context(summary: ComplianceSummary) -> dict[str, Any]:
    filters = summary.filters
    totals = summary.totals
    risk_rows: list[dict[str, Any]] = [
        {
            "level": level,
            "label": RISK_LABELS[level],
            "count": totals.risk[level],
            "url": runs_url(filters, risk=level),
        }
        for level in RISK_LEVELS
    ]
    risk_chart = charts.donut_chart(
        chart_id="chart-risk",
        title="Risk distribution of assessed runs",
        description="Number of assessed runs at each risk level; the table next to it "
        "gives the same numbers.",
        segments=[(r["label"], r["count"], charts.RISK_COLOURS[r["level"]]) for r in risk_rows],
        centre_label="assessed runs",
    )
    trend_rows = []
    for point in summary.trend:
        since = max(point.week_start, filters.since) if filters.since else point.week_start
        until = min(point.week_end, filters.until) if filters.until else point.week_end
        trend_rows.append(
            {
                "point": point,
                "url": runs_url(filters, since=since.isoformat(), until=until.isoformat()),
                "non_compliant_url": runs_url(
                    filters,
                    since=since.isoformat(),
                    until=until.isoformat(),
                    verdict="non_compliant",
                ),
                "rate": round(100 * point.compliant / point.total, 1) if point.total else None,
            }
        )
    trend_chart = charts.trend_chart(
        chart_id="chart-trend",
        title="Compliant and non-compliant runs per week",
        description="Current verdicts of runs, by the week the run started; "
        "the table below gives the numbers.",
        labels=[p.week_start.strftime("%m-%d") for p in summary.trend],
        series=[
            (VERDICT_SERIES[0], [p.compliant for p in summary.trend]),
            (VERDICT_SERIES[1], [p.non_compliant for p in summary.trend]),
        ],
    )
    rule_rows = [
        {"rule": rule, "url": runs_url(filters, failed_rule=rule.rule_id)}
        for rule in summary.failing_rules
    ]
    rules_chart = charts.bar_chart(
        chart_id="chart-rules",
        title="Most frequently failed rules",
        description="Number of assessed runs failing each rule; the table next to it "
        "gives the numbers and the rules' titles.",
        bars=[(rule.rule_id, rule.runs) for rule in summary.failing_rules],
        colour=charts.NON_COMPLIANT,
    )
    breakdowns = [
        _breakdown(filters, "source", "By source", "Source", summary.by_source),
        _breakdown(filters, "experiment", "By experiment", "Experiment", summary.by_experiment),
        _breakdown(filters, "department", "By department", "Department", summary.by_department),
        _breakdown(
            filters,
            "classification",
            "By classification",
            "Classification",
            summary.by_classification,
        ),
    ]
    failed = failed_rule_ids(a.pk for a in summary.latest_non_compliant)
    latest = [(a, failed.get(a.pk, [])) for a in summary.latest_non_compliant]
    return {
        "summary": summary,
        "links": {
            "runs": runs_url(filters),
            "compliant": runs_url(filters, verdict="compliant"),
            "non_compliant": runs_url(filters, verdict="non_compliant"),
            "error": runs_url(filters, verdict="error"),
            "not_assessed": runs_url(filters, verdict="none"),
            "awaiting": runs_url(filters, pending="yes"),
        },
        "risk_rows": risk_rows,
        "risk_chart": risk_chart,
        "trend_rows": trend_rows,
        "trend_chart": trend_chart,
        "rule_rows": rule_rows,
        "rules_chart": rules_chart,
        "breakdowns": breakdowns,
        "latest": latest,
        "scope_params": filters.params(scope_only=True),
        "risk_levels": list(RISK_LABELS.items()),
    }


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    choices = filter_choices()
    form = ComplianceFilterForm(request.GET or None, choices=choices)
    filters = form.filters()
    context: dict[str, Any] = {
        "form": form,
        "filters": filters,
        "attention": batches_needing_attention(),
        **_activity(),
    }
    if filters is not None:
        context.update(_dashboard_context(compliance_summary(filters, choices)))
    return render(request, "reports/dashboard.html", context)


@require_POST
def assess_now(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(ASSESS_RUNS):
        raise PermissionDenied("Only compliance officers and administrators may do this.")
    slug = request.POST.get("policy") or ""
    policy = get_object_or_404(Policy, slug=slug) if slug else default_policy()
    if policy is None:
        raise PermissionDenied("There is no policy to assess with.")
    experiment = None
    raw_experiment = request.POST.get("experiment") or ""
    if raw_experiment.isascii() and raw_experiment.isdigit():
        experiment = (
            Experiment.objects.select_related("source").filter(pk=int(raw_experiment)).first()
        )
    source_name = experiment.source.name if experiment else (request.POST.get("source") or None)
    scope = {"policy": policy.slug}
    if source_name:
        scope["source"] = source_name
    if experiment:
        scope["experiment"] = str(experiment.pk)
    try:
        requests = assess_pending(
            policy=policy,
            source_name=source_name,
            experiment_name=experiment.name if experiment else None,
            reason="requested on the compliance dashboard",
            actor=request.user,  # type: ignore[arg-type]
        )
    except AssessmentNotQueued as exc:
        messages.error(request, exc.summary())
    else:
        total = sum(r.total for r in requests)
        if total:
            messages.success(
                request, f"Assessment of {total:,} run{'s' if total != 1 else ''} queued."
            )
        else:
            messages.info(
                request,
                "Nothing to assess: every run here is assessed under the current version "
                "or already queued.",
            )
    return redirect(reverse("reports:dashboard") + "?" + urlencode(scope))


@require_GET
def assess_progress(request: HttpRequest) -> HttpResponse:
    """The progress of the latest assessment requests; htmx re-polls it while any is open."""
    return render(request, "reports/_assess_progress.html", _activity())


def _activity() -> dict[str, Any]:
    activity = assessment_activity()
    return {"activity": activity, "activity_open": any(item.is_open for item in activity)}


# --------------------------------------------------------------------------- runs table and CSV


@private_no_store
@require_GET
def runs(request: HttpRequest) -> HttpResponse:
    choices = filter_choices()
    form = ComplianceRunsFilterForm(request.GET or None, choices=choices)
    filters = form.filters()
    table = None
    if filters is not None:
        table = ComplianceRunTable(compliance_runs(filters, choices))
        table.caption = f"Runs and their verdicts under {filters.policy.name}"
        configure_keyset_table(
            request, table, keysets=RUN_TABLE_KEYSETS, default="-start_time", per_page=PER_PAGE
        )
        table.load_failed_rules()
    return render(
        request,
        "reports/runs.html",
        {
            "form": form,
            "filters": filters,
            "table": table,
            "csv_url": reverse("reports:runs-csv") + "?" + urlencode(filters.params())
            if filters
            else "",
            "dashboard_url": reverse("reports:dashboard")
            + "?"
            + urlencode(filters.params(scope_only=True))
            if filters
            else reverse("reports:dashboard"),
        },
    )


CSV_HEADER = (
    "run_id",
    "run_name",
    "mirror_id",
    "experiment",
    "source",
    "classification",
    "start_time",
    "policy",
    "policy_version",
    "verdict",
    "risk",
    "score",
    "failed_rules",
    "assessed_at",
)
_CSV_VALUES = (
    "run_id",
    "run_name",
    "id",
    "experiment__name",
    "source__name",
    "classification",
    "start_time",
    "version_number",
    "verdict",
    "risk",
    "score",
    "assessment_id",
    "assessed_at",
)


def _iso(value: Any) -> str:
    return value.isoformat() if value is not None else ""


def _csv_lines(rows: Sequence[tuple[Any, ...]], policy: str) -> Iterator[list[Any]]:
    failed = failed_rule_ids(row[11] for row in rows)
    for row in rows:
        (run_id, name, pk, exp, source, cls, start, number, verdict, risk, score, aid, at) = row
        yield [
            run_id,
            name,
            pk,
            exp,
            source,
            cls,
            _iso(start),
            policy,
            number if number is not None else "",
            verdict or "not_assessed",
            risk or "",
            score if score is not None else "",
            ";".join(failed.get(aid, [])) if aid else "",
            _iso(at),
        ]


def _csv_rows(filters: ComplianceFilters, runs: Any) -> Iterator[list[Any]]:
    """The rows of the export, read in chunks (one failed-rules query per chunk)."""
    chunk: list[tuple[Any, ...]] = []
    for row in runs.values_list(*_CSV_VALUES).iterator(chunk_size=CSV_CHUNK):
        chunk.append(row)
        if len(chunk) == CSV_CHUNK:
            yield from _csv_lines(chunk, filters.policy.slug)
            chunk = []
    if chunk:
        yield from _csv_lines(chunk, filters.policy.slug)


@private_no_store
@require_GET
def runs_csv(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """Stream the filtered runs table: it can be every run in the mirror."""
    choices = filter_choices()
    form = ComplianceRunsFilterForm(request.GET or None, choices=choices)
    filters = form.filters()
    if filters is None:
        return HttpResponse("There is no policy yet.", status=404, content_type="text/plain")
    runs = compliance_runs(filters, choices)
    with transaction.atomic():
        record(
            action=ReportsAction.EXPORT_CSV,
            actor=request.user,
            target=filters.policy,
            data={"filters": filters.params()},
        )
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response = StreamingHttpResponse(
        csv_lines(CSV_HEADER, _csv_rows(filters, runs), batch=CSV_CHUNK),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = (
        f'attachment; filename="govdash-compliance-{filters.policy.slug}-{stamp}.csv"'
    )
    return response


# --------------------------------------------------------------------------- policies


@require_GET
def policies(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "reports/policies.html",
        {"overviews": policy_overviews()},
    )


@require_GET
def policy_detail(request: HttpRequest, slug: str) -> HttpResponse:
    overview = policy_overview(slug)
    if overview is None:
        raise Http404("No such policy.")
    shown = overview.current or overview.latest
    wanted = request.GET.get("version", "")
    if wanted.isascii() and wanted.isdigit():  # "²" is a digit int() refuses
        shown = next((v for v in overview.versions if v.number == int(wanted)), shown)
    return render(
        request,
        "reports/policy_detail.html",
        {
            "overview": overview,
            "policy": overview.policy,
            "shown": shown,
            "rules": rules_of(shown),
            "dashboard_url": reverse("reports:dashboard")
            + "?"
            + urlencode({"policy": overview.policy.slug}),
        },
    )


def _error_text(exc: PolicyError) -> str:
    return f"{exc.field}: {exc.message}"


@require_http_methods(["GET", "POST"])
def policy_edit(request: HttpRequest, slug: str) -> HttpResponse:
    if not request.user.has_perm(EDIT_POLICY):
        raise PermissionDenied("Only compliance officers and administrators may do this.")
    overview = policy_overview(slug)
    if overview is None:
        raise Http404("No such policy.")
    policy = overview.policy
    base = overview.draft or overview.current or overview.latest
    error: PolicyError | None = None
    if request.method == "POST":
        form = PolicyEditForm(request.POST)
        if form.is_valid():
            text = form.cleaned_data["text"]
            try:
                parsed = parse_policy_yaml(text)
                if parsed["slug"] != policy.slug:
                    raise PolicyError(
                        "slug",
                        f"must stay {policy.slug!r}: this page edits that policy "
                        "(to create another policy, use Import)",
                    )
                version = policy_save_draft(
                    text=text,
                    actor=request.user,  # type: ignore[arg-type]
                    notes=form.cleaned_data["notes"],
                )
            except PolicyError as exc:
                error = exc
                form.add_error("text", _error_text(exc))
            else:
                messages.success(
                    request,
                    f"Draft v{version.number} of {policy.name} saved. "
                    "Publish it to assess runs with it.",
                )
                return redirect(
                    reverse("reports:policy", args=[policy.slug]) + f"?version={version.number}"
                )
    else:
        form = PolicyEditForm(initial={"text": policy_export_yaml(base) if base else ""})
    return render(
        request,
        "reports/policy_edit.html",
        {"policy": policy, "form": form, "error": error, "base": base},
    )


@require_http_methods(["GET", "POST"])
def policy_import(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(EDIT_POLICY):
        raise PermissionDenied("Only compliance officers and administrators may do this.")
    error: PolicyError | None = None
    if request.method == "POST":
        form = PolicyImportForm(request.POST, request.FILES)
        if form.is_valid():
            text = form.cleaned_data["text"]
            try:
                version = policy_save_draft(
                    text=text,
                    actor=request.user,  # type: ignore[arg-type]
                    notes=form.cleaned_data["notes"] or "Imported from YAML.",
                )
            except PolicyError as exc:
                error = exc
                # Show the text that was read (from the file too), so it can be fixed here.
                form = PolicyImportForm({"text": text, "notes": form.cleaned_data["notes"]})
                form.is_valid()
                form.add_error("text", _error_text(exc))
            else:
                messages.success(
                    request,
                    f"Imported as draft v{version.number} of {version.policy.name}. "
                    "Review it, then publish it.",
                )
                return redirect(
                    reverse("reports:policy", args=[version.policy.slug])
                    + f"?version={version.number}"
                )
    else:
        form = PolicyImportForm()
    return render(request, "reports/policy_import.html", {"form": form, "error": error})


@require_POST
def policy_publish_view(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    if not request.user.has_perm(PUBLISH_POLICY):
        raise PermissionDenied("Only compliance officers and administrators may do this.")
    version = policy_version(slug=slug, number=number)
    detail = reverse("reports:policy", args=[slug])
    try:
        version = policy_publish(version=version, actor=request.user)  # type: ignore[arg-type]
    except PolicyLocked:
        messages.error(request, f"v{number} is already published; publish a newer draft instead.")
        return redirect(detail)
    try:
        requests = assess_pending(
            policy=version.policy,
            reason=f"policy v{version.number} published",
            actor=request.user,  # type: ignore[arg-type]
        )
    except AssessmentNotQueued as exc:
        messages.warning(
            request,
            f"Published v{version.number} of {version.policy.name}, but re-assessment could "
            f"not be queued: {exc.error}. Re-assessment of {exc.request.total:,} "
            f"run{'s' if exc.request.total != 1 else ''} is recorded as not queued and is "
            "queued again automatically once the job queue is back.",
        )
    else:
        total = sum(r.total for r in requests)
        messages.success(
            request,
            f"Published v{version.number} of {version.policy.name}. "
            + (
                f"Re-assessment of {total:,} run{'s' if total != 1 else ''} queued."
                if total
                else "No runs needed re-assessment."
            ),
        )
    return redirect(detail)


@require_GET
def policy_export(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    version = policy_version(slug=slug, number=number)
    text = policy_export_audited(version=version, actor=request.user)  # type: ignore[arg-type]
    response = HttpResponse(text, content_type="application/yaml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{slug}-v{number}.yaml"'
    return response
