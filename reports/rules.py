"""Compliance rules: their schema, validation, and evaluation against a run.

A policy version is a list of rules. Each rule is a mapping::

    id: classification            # unique in the policy: [a-z0-9][a-z0-9_.-]*
    title: Data classification recorded
    description: Plain words for compliance officers.
    severity: high                # low | medium | high | critical
    check:
      kind: tag_in                # see CHECKS below
      key: classification
      values: [public, official, secret]

Comparison of text values (``tag_in``, ``status_in``, ``artifact_scheme``):
surrounding whitespace is ignored and case is folded, unless the check says
``case_sensitive: true``; then values must match exactly (whitespace still
ignored). The evidence always shows the value as it was recorded, so an
officer sees ``'Secret '`` and knows what to fix.

Outcomes: ``pass``, ``fail``, ``not_applicable`` (the rule does not concern
this run, e.g. retention of a recent run) and ``error`` (the rule could not be
evaluated, e.g. a threshold compared with a non-numeric metric).
"""

from __future__ import annotations

import datetime as dt
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("low", "medium", "high", "critical")
# Numbers in a policy: finite and at most this big either way, so each is a
# float exactly enough, fits any JSON column and compares with a metric.
MAX_NUMBER = 10**15
NUMBER_RANGE = "a number between -10^15 and 10^15"
_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


class RuleError(ValueError):
    """A rule is malformed; ``field`` names where, e.g. ``rules[2].check.values``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# --------------------------------------------------------------------------- what a run is


@dataclass(frozen=True)
class RunFacts:
    """What a rule may look at: the run plus its experiment (and models made from it)."""

    run_id: str
    status: str
    user_id: str
    start_time: dt.datetime | None
    artifact_uri: str
    params: Mapping[str, str]
    tags: Mapping[str, str]
    metrics: Mapping[str, Any]  # key -> {"value": float, ...}
    experiment_tags: Mapping[str, str]
    experiment_artifact_location: str = ""
    model_tags: tuple[Mapping[str, str], ...] = ()


@dataclass(frozen=True)
class Result:
    rule_id: str
    title: str
    severity: str
    outcome: str
    observed: Any
    expected: Any
    message: str


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    description: str
    severity: str
    check: Mapping[str, Any]
    extra: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "severity": self.severity,
            "check": dict(self.check),
        }


# --------------------------------------------------------------------------- validation


def _text(value: Any, where: str, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise RuleError(where, "must be a non-empty string")
    return value.strip()


def _text_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not value:
        raise RuleError(where, "must be a non-empty list of strings")
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise RuleError(f"{where}[{index}]", "must be a non-empty string")
    return [item.strip() for item in value]


def is_number(value: Any) -> bool:
    """An int or float (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def in_range(value: int | float) -> bool:
    """Finite and within ±MAX_NUMBER (a huge int is compared as an int, never
    turned into a float first, which would overflow)."""
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return -MAX_NUMBER <= value <= MAX_NUMBER


def _number(value: Any, where: str) -> float:
    if not is_number(value) or not in_range(value):
        raise RuleError(where, f"must be {NUMBER_RANGE}")
    return float(value)


def _op(value: Any, where: str) -> str:
    if not isinstance(value, str) or value not in _OPS:
        raise RuleError(where, f"must be one of {', '.join(_OPS)}")
    return str(value)


def _bool(value: Any, where: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise RuleError(where, "must be true or false")
    return value


def _validate_check(check: Any, where: str) -> dict[str, Any]:
    if not isinstance(check, dict):
        raise RuleError(where, "must be a mapping with a 'kind'")
    kind = check.get("kind")
    if not isinstance(kind, str) or kind not in CHECKS:
        raise RuleError(f"{where}.kind", f"must be one of {', '.join(sorted(CHECKS))}")
    spec = CHECKS[kind]
    unknown = set(check) - {"kind"} - set(spec.fields)
    if unknown:
        raise RuleError(
            f"{where}.{sorted(unknown, key=str)[0]}", f"is not a field of a {kind} check"
        )
    clean: dict[str, Any] = {"kind": kind}
    for name, (validator, required) in spec.fields.items():
        if name not in check:
            if required:
                raise RuleError(f"{where}.{name}", "is required")
            continue
        clean[name] = validator(check[name], f"{where}.{name}")
    if "pattern" in clean:
        try:
            re.compile(clean["pattern"])
        except (re.error, RecursionError, OverflowError) as exc:
            raise RuleError(
                f"{where}.pattern", f"is not a valid regular expression: {exc}"
            ) from None
    if kind == "param_compare" and clean.get("op") not in ("==", "!=") and "value" in clean:
        clean["value"] = _number(clean["value"], f"{where}.value")
    return clean


def validate_rules(raw: Any) -> list[Rule]:
    """Turn parsed YAML/JSON into rules, or raise RuleError naming the field."""
    if not isinstance(raw, list) or not raw:
        raise RuleError("rules", "must be a non-empty list")
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        where = f"rules[{index}]"
        if not isinstance(item, dict):
            raise RuleError(where, "must be a mapping")
        unknown = set(item) - {"id", "title", "description", "severity", "check"}
        if unknown:
            raise RuleError(f"{where}.{sorted(unknown, key=str)[0]}", "is not a rule field")
        rule_id = item.get("id")
        if not isinstance(rule_id, str) or not _RULE_ID.match(rule_id):
            raise RuleError(f"{where}.id", "must match [a-z0-9][a-z0-9_.-]* (at most 64)")
        if rule_id in seen:
            raise RuleError(f"{where}.id", f"{rule_id!r} is used twice")
        seen.add(rule_id)
        severity = item.get("severity")
        if severity not in SEVERITIES:
            raise RuleError(f"{where}.severity", f"must be one of {', '.join(SEVERITIES)}")
        rules.append(
            Rule(
                id=rule_id,
                title=_text(item.get("title"), f"{where}.title"),
                description=_text(item.get("description"), f"{where}.description", required=False),
                severity=severity,
                check=_validate_check(item.get("check"), f"{where}.check"),
            )
        )
    return rules


# --------------------------------------------------------------------------- evaluation
#
# Each check kind has an evaluator (what a run must satisfy) and, next to it,
# its explanation: the check in words a compliance officer can act on (shown
# on the policy pages, the run's compliance panel and the API).

_OP_WORDS = {
    "==": "equal to",
    "!=": "different from",
    ">": "greater than",
    ">=": "at least",
    "<": "less than",
    "<=": "at most",
}


def _listed(values: Sequence[Any]) -> str:
    return ", ".join(str(value) for value in values)


def _norm(value: str, case_sensitive: bool) -> str:
    value = value.strip()
    return value if case_sensitive else value.casefold()


def _result(rule: Rule, outcome: str, observed: Any, expected: Any, message: str) -> Result:
    return Result(rule.id, rule.title, rule.severity, outcome, observed, expected, message)


def _tag_present(rule: Rule, run: RunFacts) -> Result:
    key = rule.check["key"]
    value = run.tags.get(key)
    if value is None or not value.strip():
        return _result(rule, "fail", value, f"tag {key} set", f"The run has no tag {key}.")
    return _result(rule, "pass", value, f"tag {key} set", f"Tag {key} is {value!r}.")


def _explain_tag_present(check: Mapping[str, Any]) -> str:
    return f'The run must have a tag "{check.get("key", "")}" with a value.'


def _tag_in(rule: Rule, run: RunFacts) -> Result:
    key, values = rule.check["key"], rule.check["values"]
    case_sensitive = rule.check.get("case_sensitive", False)
    value = run.tags.get(key)
    if value is None:
        return _result(rule, "fail", None, values, f"The run has no tag {key}.")
    allowed = {_norm(v, case_sensitive) for v in values}
    if _norm(value, case_sensitive) in allowed:
        return _result(rule, "pass", value, values, f"Tag {key} is {value!r}, an allowed value.")
    return _result(
        rule,
        "fail",
        value,
        values,
        f"Tag {key} is {value!r}; allowed: {', '.join(values)}.",
    )


def _explain_tag_in(check: Mapping[str, Any]) -> str:
    how = (
        "exactly as written"
        if check.get("case_sensitive")
        else "letter case and surrounding spaces are ignored"
    )
    key = check.get("key", "")
    return f'The run\'s tag "{key}" must be one of: {_listed(check["values"])} ({how}).'


def _tag_matches(rule: Rule, run: RunFacts) -> Result:
    key, pattern = rule.check["key"], rule.check["pattern"]
    value = run.tags.get(key)
    expected = f"matches /{pattern}/"
    if value is None:
        return _result(rule, "fail", None, expected, f"The run has no tag {key}.")
    if re.fullmatch(pattern, value.strip()):
        return _result(rule, "pass", value, expected, f"Tag {key} matches.")
    return _result(
        rule, "fail", value, expected, f"Tag {key} is {value!r}; it must match {pattern}."
    )


def _explain_tag_matches(check: Mapping[str, Any]) -> str:
    return f'The run\'s tag "{check.get("key", "")}" must match the pattern {check["pattern"]}.'


def _param_present(rule: Rule, run: RunFacts) -> Result:
    key = rule.check["key"]
    value = run.params.get(key)
    if value is None:
        return _result(rule, "fail", None, f"param {key} logged", f"Param {key} was not logged.")
    return _result(rule, "pass", value, f"param {key} logged", f"Param {key} is {value!r}.")


def _explain_param_present(check: Mapping[str, Any]) -> str:
    return f'The run must log the parameter "{check.get("key", "")}".'


def _compare(rule: Rule, observed: Any, label: str) -> Result:
    op, target = rule.check["op"], rule.check["value"]
    expected = f"{label} {op} {target}"
    if observed is None:
        return _result(rule, "fail", None, expected, f"{label} was not recorded.")
    if op in ("==", "!=") and not isinstance(target, int | float):
        ok = _OPS[op](str(observed).strip(), str(target).strip())
    else:
        try:
            number = float(observed)
        except (TypeError, ValueError):
            return _result(
                rule, "error", observed, expected, f"{label} is {observed!r}, not a number."
            )
        if math.isnan(number):
            return _result(rule, "error", observed, expected, f"{label} is NaN.")
        ok = _OPS[op](number, float(target))
    outcome = "pass" if ok else "fail"
    verb = "meets" if ok else "does not meet"
    return _result(
        rule, outcome, observed, expected, f"{label} is {observed!r}; {verb} {op} {target}."
    )


def _param_compare(rule: Rule, run: RunFacts) -> Result:
    return _compare(rule, run.params.get(rule.check["key"]), f"param {rule.check['key']}")


def _explain_param_compare(check: Mapping[str, Any]) -> str:
    op = _OP_WORDS.get(check["op"], check["op"])
    return f'The run\'s parameter "{check.get("key", "")}" must be {op} {check["value"]}.'


def _metric_threshold(rule: Rule, run: RunFacts) -> Result:
    metric = run.metrics.get(rule.check["key"])
    value = metric.get("value") if isinstance(metric, Mapping) else metric
    return _compare(rule, value, f"metric {rule.check['key']}")


def _explain_metric_threshold(check: Mapping[str, Any]) -> str:
    op = _OP_WORDS.get(check["op"], check["op"])
    key = check.get("key", "")
    return f'The run\'s latest value of the metric "{key}" must be {op} {check["value"]}.'


def _status_in(rule: Rule, run: RunFacts) -> Result:
    values = rule.check["values"]
    allowed = {_norm(v, False) for v in values}
    if _norm(run.status or "", False) in allowed:
        return _result(rule, "pass", run.status, values, f"The run ended {run.status}.")
    return _result(
        rule, "fail", run.status, values, f"The run is {run.status or 'without status'}."
    )


def _explain_status_in(check: Mapping[str, Any]) -> str:
    return f"The run's status must be one of: {_listed(check['values'])}."


_ANONYMOUS = {"", "unknown", "none", "null", "root", "anonymous"}


def _user_known(rule: Rule, run: RunFacts) -> Result:
    users = rule.check.get("users")
    user = (run.user_id or run.tags.get("mlflow.user") or "").strip()
    if users:
        ok = user in users
        expected: Any = users
    else:
        ok = user.casefold() not in _ANONYMOUS
        expected = "a named user"
    if ok:
        return _result(rule, "pass", user, expected, f"Recorded by {user}.")
    return _result(rule, "fail", user or None, expected, "The run does not record a known user.")


def _explain_user_known(check: Mapping[str, Any]) -> str:
    if check.get("users"):
        return f"The run must be recorded by one of: {_listed(check['users'])}."
    return (
        'The run must record a named user (not empty, "unknown", "none", "null", '
        '"root" or "anonymous").'
    )


def _artifact_scheme(rule: Rule, run: RunFacts) -> Result:
    allowed = [s.lower() for s in rule.check["allowed"]]
    location = (run.artifact_uri or run.experiment_artifact_location or "").strip()
    if not location:
        return _result(rule, "fail", None, allowed, "The run has no artifact location.")
    match = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*):", location)
    scheme = match.group(1).lower() if match and len(match.group(1)) > 1 else "local path"
    if scheme in allowed:
        return _result(rule, "pass", location, allowed, f"Artifacts are stored via {scheme}.")
    return _result(
        rule,
        "fail",
        location,
        allowed,
        f"Artifacts are stored via {scheme}, which is not an allowed scheme.",
    )


def _explain_artifact_scheme(check: Mapping[str, Any]) -> str:
    return (
        f"The run's artifacts must be stored via one of: {_listed(check['allowed'])}; "
        "a plain local path is not accepted unless listed."
    )


def _retention(rule: Rule, run: RunFacts, *, now: dt.datetime) -> Result:
    days = rule.check["days"]
    exemption = rule.check.get("exemption_tag", "retention_exempt")
    expected = f"younger than {int(days)} days, or tag {exemption}"
    if run.start_time is None:
        return _result(rule, "error", None, expected, "The run has no start time.")
    age = (now - run.start_time).total_seconds() / 86400
    if age <= days:
        return _result(
            rule, "not_applicable", f"{age:.0f} days old", expected, "Within the retention period."
        )
    value = (run.tags.get(exemption) or "").strip()
    if value and value.casefold() not in ("false", "no", "0"):
        return _result(
            rule, "pass", f"{age:.0f} days old, {exemption}={value!r}", expected, "Exempted."
        )
    return _result(
        rule,
        "fail",
        f"{age:.0f} days old",
        expected,
        f"Older than {int(days)} days without a {exemption} tag: delete it or record an exemption.",
    )


def _explain_retention(check: Mapping[str, Any]) -> str:
    days = int(check["days"])
    exemption = check.get("exemption_tag", "retention_exempt")
    return (
        f'Runs older than {days:,} days must be deleted or carry a tag "{exemption}"; '
        "younger runs are not concerned."
    )


def _owner_tag(rule: Rule, run: RunFacts) -> Result:
    keys = rule.check["keys"]
    places: list[tuple[str, Mapping[str, str]]] = [("experiment", run.experiment_tags)]
    places += [("registered model", tags) for tags in run.model_tags]
    for place, tags in places:
        for key in keys:
            value = (tags.get(key) or "").strip()
            if value:
                return _result(
                    rule,
                    "pass",
                    f"{place} {key}={value!r}",
                    keys,
                    f"Owned: {place} {key} is {value!r}.",
                )
    return _result(
        rule,
        "fail",
        None,
        keys,
        f"Neither the experiment nor a registered model records {' or '.join(keys)}.",
    )


def _explain_owner_tag(check: Mapping[str, Any]) -> str:
    keys = " or ".join(f'"{k}"' for k in check["keys"])
    return f"The experiment, or a registered model made from the run, must have a tag {keys}."


def _activity_logged(rule: Rule, run: RunFacts) -> Result:
    need = rule.check.get("require", ["params", "metrics", "user"])
    missing = []
    if "params" in need and not run.params:
        missing.append("params")
    if "metrics" in need and not run.metrics:
        missing.append("metrics")
    if "user" in need and (run.user_id or "").strip().casefold() in _ANONYMOUS:
        missing.append("user")
    observed = {
        "params": len(run.params),
        "metrics": len(run.metrics),
        "user": run.user_id or None,
    }
    if missing:
        return _result(rule, "fail", observed, need, f"Not recorded: {', '.join(missing)}.")
    return _result(rule, "pass", observed, need, "Params, metrics and user were recorded.")


def _explain_activity_logged(check: Mapping[str, Any]) -> str:
    need = check.get("require") or ["params", "metrics", "user"]
    return f"The run must record: {_listed(need)}."


@dataclass(frozen=True)
class _CheckSpec:
    evaluate: Callable[..., Result]
    fields: dict[str, tuple[Callable[[Any, str], Any], bool]]
    explain: Callable[[Mapping[str, Any]], str]
    needs_now: bool = False


def _require_list(value: Any, where: str) -> list[str]:
    items = _text_list(value, where)
    for index, item in enumerate(items):
        if item not in ("params", "metrics", "user"):
            raise RuleError(f"{where}[{index}]", "must be params, metrics or user")
    return items


def _positive(value: Any, where: str) -> float:
    number = _number(value, where)
    if number <= 0:
        raise RuleError(where, "must be greater than 0")
    return number


def _any_value(value: Any, where: str) -> Any:
    if is_number(value):
        if not in_range(value):
            raise RuleError(where, f"must be {NUMBER_RANGE}, or a string")
        return value
    if not isinstance(value, str):
        raise RuleError(where, "must be a number or a string")
    return value


CHECKS: dict[str, _CheckSpec] = {
    "tag_present": _CheckSpec(_tag_present, {"key": (_text, True)}, _explain_tag_present),
    "tag_in": _CheckSpec(
        _tag_in,
        {"key": (_text, True), "values": (_text_list, True), "case_sensitive": (_bool, False)},
        _explain_tag_in,
    ),
    "tag_matches": _CheckSpec(
        _tag_matches, {"key": (_text, True), "pattern": (_text, True)}, _explain_tag_matches
    ),
    "param_present": _CheckSpec(_param_present, {"key": (_text, True)}, _explain_param_present),
    "param_compare": _CheckSpec(
        _param_compare,
        {"key": (_text, True), "op": (_op, True), "value": (_any_value, True)},
        _explain_param_compare,
    ),
    "metric_threshold": _CheckSpec(
        _metric_threshold,
        {"key": (_text, True), "op": (_op, True), "value": (_number, True)},
        _explain_metric_threshold,
    ),
    "status_in": _CheckSpec(_status_in, {"values": (_text_list, True)}, _explain_status_in),
    "user_known": _CheckSpec(_user_known, {"users": (_text_list, False)}, _explain_user_known),
    "artifact_scheme": _CheckSpec(
        _artifact_scheme, {"allowed": (_text_list, True)}, _explain_artifact_scheme
    ),
    "retention": _CheckSpec(
        _retention,
        {"days": (_positive, True), "exemption_tag": (_text, False)},
        _explain_retention,
        needs_now=True,
    ),
    "owner_tag": _CheckSpec(_owner_tag, {"keys": (_text_list, True)}, _explain_owner_tag),
    "activity_logged": _CheckSpec(
        _activity_logged, {"require": (_require_list, False)}, _explain_activity_logged
    ),
}


def explain_check(check: Mapping[str, Any]) -> str:
    """A rule's check in words a compliance officer can act on."""
    kind = check.get("kind", "")
    spec = CHECKS.get(kind)
    return spec.explain(check) if spec is not None else f"A {kind} check."


def evaluate(rule: Rule, run: RunFacts, *, now: dt.datetime) -> Result:
    """One rule against one run. A bug in a check becomes an ``error`` result."""
    spec = CHECKS[rule.check["kind"]]
    try:
        if spec.needs_now:
            return spec.evaluate(rule, run, now=now)
        return spec.evaluate(rule, run)
    except Exception as exc:
        return _result(rule, "error", None, None, f"The check failed: {type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------- verdict and risk

# Risk = the highest severity among failed rules, raised one level (up to
# critical) when three or more rules failed; "none" when nothing failed.
# The score orders runs within a level: the sum of the failed rules' weights.
RISK_LEVELS = ("none", "low", "medium", "high", "critical")
SEVERITY_WEIGHT = {"low": 1, "medium": 3, "high": 7, "critical": 15}


def verdict_of(results: list[Result]) -> tuple[str, str, int]:
    """(verdict, risk, score) for a run's results."""
    failed = [r for r in results if r.outcome == "fail"]
    errors = [r for r in results if r.outcome == "error"]
    score = sum(SEVERITY_WEIGHT[r.severity] for r in failed)
    if failed:
        level = max(RISK_LEVELS.index(r.severity) for r in failed)
        if len(failed) >= 3:
            level = min(level + 1, len(RISK_LEVELS) - 1)
        return "non_compliant", RISK_LEVELS[level], score
    if errors:
        return "error", "none", 0
    return "compliant", "none", 0
