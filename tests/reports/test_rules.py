"""Every check kind, including missing values and odd types."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from reports.rules import Rule, RuleError, RunFacts, evaluate, validate_rules, verdict_of

NOW = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)


def facts(**overrides) -> RunFacts:  # type: ignore[no-untyped-def]
    base = {
        "run_id": "r1",
        "status": "FINISHED",
        "user_id": "ana",
        "start_time": NOW - dt.timedelta(days=10),
        "artifact_uri": "s3://bucket/1/r1/artifacts",
        "params": {"lr": "0.1", "epochs": "10", "optimizer": "adam"},
        "tags": {"classification": "official", "ticket": "GOV-123"},
        "metrics": {"accuracy": {"value": 0.93, "step": 3, "timestamp": 1}},
        "experiment_tags": {"department": "risk"},
    }
    base.update(overrides)
    return RunFacts(**base)


def rule(kind: str, severity: str = "high", **check) -> Rule:  # type: ignore[no-untyped-def]
    return validate_rules(
        [{"id": "r", "title": "T", "severity": severity, "check": {"kind": kind, **check}}]
    )[0]


def outcome(r: Rule, run: RunFacts) -> str:
    return evaluate(r, run, now=NOW).outcome


# --- tags --------------------------------------------------------------------------


def test_tag_present_passes_and_fails_on_missing_or_blank():
    r = rule("tag_present", key="ticket")
    assert outcome(r, facts()) == "pass"
    assert outcome(r, facts(tags={})) == "fail"
    assert outcome(r, facts(tags={"ticket": "   "})) == "fail"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("official", "pass"),
        ("Secret ", "pass"),  # case and surrounding whitespace are ignored
        ("OFFICIAL", "pass"),
        ("top-secret", "fail"),
        ("offical", "fail"),
        ("", "fail"),
    ],
)
def test_tag_in_folds_case_and_strips_whitespace(value, expected):
    r = rule("tag_in", key="classification", values=["public", "official", "secret"])
    assert outcome(r, facts(tags={"classification": value})) == expected


def test_tag_in_can_be_case_sensitive():
    r = rule("tag_in", key="classification", values=["secret"], case_sensitive=True)
    assert outcome(r, facts(tags={"classification": " secret "})) == "pass"
    assert outcome(r, facts(tags={"classification": "Secret"})) == "fail"


def test_tag_in_evidence_shows_the_value_as_recorded():
    r = rule("tag_in", key="classification", values=["public"])
    result = evaluate(r, facts(tags={"classification": "Top Secret"}), now=NOW)
    assert result.observed == "Top Secret"
    assert result.expected == ["public"]
    assert "Top Secret" in result.message


def test_tag_in_missing_tag_fails_with_none_observed():
    result = evaluate(
        rule("tag_in", key="classification", values=["public"]), facts(tags={}), now=NOW
    )
    assert (result.outcome, result.observed) == ("fail", None)


def test_tag_matches_uses_a_full_match():
    r = rule("tag_matches", key="ticket", pattern=r"GOV-\d+")
    assert outcome(r, facts()) == "pass"
    assert outcome(r, facts(tags={"ticket": "xGOV-1"})) == "fail"
    assert outcome(r, facts(tags={})) == "fail"


# --- params and metrics --------------------------------------------------------------


def test_param_present():
    assert outcome(rule("param_present", key="lr"), facts()) == "pass"
    assert outcome(rule("param_present", key="seed"), facts()) == "fail"


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [(">=", 10, "pass"), (">", 10, "fail"), ("<", 11, "pass"), ("==", 10, "pass")],
)
def test_param_compare_numbers(op, value, expected):
    assert outcome(rule("param_compare", key="epochs", op=op, value=value), facts()) == expected


def test_param_compare_text_equality():
    assert outcome(rule("param_compare", key="optimizer", op="==", value="adam"), facts()) == "pass"
    assert outcome(rule("param_compare", key="optimizer", op="!=", value="adam"), facts()) == "fail"


def test_param_compare_non_numeric_value_is_an_error_not_a_crash():
    result = evaluate(rule("param_compare", key="optimizer", op=">", value=1), facts(), now=NOW)
    assert result.outcome == "error"
    assert "not a number" in result.message


def test_param_compare_missing_param_fails():
    assert outcome(rule("param_compare", key="seed", op=">", value=1), facts()) == "fail"


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [
        ({"accuracy": {"value": 0.93}}, "pass"),
        ({"accuracy": {"value": 0.5}}, "fail"),
        ({}, "fail"),
        ({"accuracy": {"value": math.nan}}, "error"),
        ({"accuracy": {"value": "n/a"}}, "error"),
        ({"accuracy": 0.95}, "pass"),  # a bare number is accepted too
    ],
)
def test_metric_threshold(metrics, expected):
    r = rule("metric_threshold", key="accuracy", op=">=", value=0.9)
    assert outcome(r, facts(metrics=metrics)) == expected


# --- run attributes -------------------------------------------------------------------


def test_status_in():
    r = rule("status_in", values=["FINISHED"])
    assert outcome(r, facts()) == "pass"
    assert outcome(r, facts(status="FAILED")) == "fail"
    assert outcome(r, facts(status="")) == "fail"


@pytest.mark.parametrize(
    ("user", "expected"), [("ana", "pass"), ("", "fail"), ("unknown", "fail"), ("root", "fail")]
)
def test_user_known_rejects_anonymous_users(user, expected):
    assert outcome(rule("user_known"), facts(user_id=user, tags={})) == expected


def test_user_known_with_an_allow_list():
    r = rule("user_known", users=["bob"])
    assert outcome(r, facts(user_id="bob")) == "pass"
    assert outcome(r, facts(user_id="ana")) == "fail"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bucket/x", "pass"),
        ("https://store.example/x", "pass"),
        ("http://store.example/x", "fail"),
        ("file:///mnt/x", "fail"),
        ("/mnt/artifacts/x", "fail"),
        ("C:/artifacts", "fail"),  # a drive letter is a local path, not a scheme
        ("", "fail"),
    ],
)
def test_artifact_scheme(uri, expected):
    r = rule("artifact_scheme", allowed=["s3", "gs", "https"])
    assert outcome(r, facts(artifact_uri=uri, experiment_artifact_location="")) == expected


def test_artifact_scheme_falls_back_to_the_experiment_location():
    r = rule("artifact_scheme", allowed=["s3"])
    assert outcome(r, facts(artifact_uri="", experiment_artifact_location="s3://b")) == "pass"


def test_retention_not_applicable_within_the_period():
    r = rule("retention", days=365)
    assert outcome(r, facts()) == "not_applicable"


def test_retention_old_run_needs_an_exemption():
    r = rule("retention", days=365, exemption_tag="retention_exempt")
    old = NOW - dt.timedelta(days=400)
    assert outcome(r, facts(start_time=old, tags={})) == "fail"
    assert outcome(r, facts(start_time=old, tags={"retention_exempt": "legal hold"})) == "pass"
    assert outcome(r, facts(start_time=old, tags={"retention_exempt": "false"})) == "fail"


def test_retention_without_start_time_is_an_error():
    assert outcome(rule("retention", days=30), facts(start_time=None)) == "error"


def test_owner_tag_on_experiment_or_model():
    r = rule("owner_tag", keys=["department", "owner"])
    assert outcome(r, facts()) == "pass"
    assert outcome(r, facts(experiment_tags={})) == "fail"
    assert outcome(r, facts(experiment_tags={}, model_tags=({"owner": "ana"},))) == "pass"
    assert outcome(r, facts(experiment_tags={"owner": " "})) == "fail"


def test_activity_logged_names_what_is_missing():
    r = rule("activity_logged")
    assert outcome(r, facts()) == "pass"
    result = evaluate(r, facts(params={}, metrics={}, user_id=""), now=NOW)
    assert result.outcome == "fail"
    assert "params, metrics, user" in result.message


# --- validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ([], "rules"),
        (
            [
                {
                    "id": "a",
                    "title": "T",
                    "severity": "urgent",
                    "check": {"kind": "tag_present", "key": "k"},
                }
            ],
            "rules[0].severity",
        ),
        (
            [
                {
                    "id": "A b",
                    "title": "T",
                    "severity": "low",
                    "check": {"kind": "tag_present", "key": "k"},
                }
            ],
            "rules[0].id",
        ),
        (
            [
                {
                    "id": "a",
                    "title": "",
                    "severity": "low",
                    "check": {"kind": "tag_present", "key": "k"},
                }
            ],
            "rules[0].title",
        ),
        (
            [{"id": "a", "title": "T", "severity": "low", "check": {"kind": "nope"}}],
            "rules[0].check.kind",
        ),
        (
            [{"id": "a", "title": "T", "severity": "low", "check": {"kind": "tag_in", "key": "k"}}],
            "rules[0].check.values",
        ),
        (
            [
                {
                    "id": "a",
                    "title": "T",
                    "severity": "low",
                    "check": {"kind": "tag_in", "key": "k", "values": "x"},
                }
            ],
            "rules[0].check.values",
        ),
        (
            [
                {
                    "id": "a",
                    "title": "T",
                    "severity": "low",
                    "check": {"kind": "metric_threshold", "key": "m", "op": "~", "value": 1},
                }
            ],
            "rules[0].check.op",
        ),
        (
            [
                {
                    "id": "a",
                    "title": "T",
                    "severity": "low",
                    "check": {"kind": "metric_threshold", "key": "m", "op": ">", "value": "high"},
                }
            ],
            "rules[0].check.value",
        ),
        (
            [
                {
                    "id": "a",
                    "title": "T",
                    "severity": "low",
                    "check": {"kind": "tag_matches", "key": "k", "pattern": "("},
                }
            ],
            "rules[0].check.pattern",
        ),
        (
            [
                {
                    "id": "a",
                    "title": "T",
                    "severity": "low",
                    "check": {"kind": "retention", "days": -1},
                }
            ],
            "rules[0].check.days",
        ),
        (
            [
                {
                    "id": "a",
                    "title": "T",
                    "severity": "low",
                    "check": {"kind": "tag_present", "key": "k", "extra": 1},
                }
            ],
            "rules[0].check.extra",
        ),
        (
            [
                {
                    "id": "a",
                    "title": "T",
                    "severity": "low",
                    "check": {"kind": "tag_present", "key": "k"},
                },
                {
                    "id": "a",
                    "title": "T",
                    "severity": "low",
                    "check": {"kind": "tag_present", "key": "k"},
                },
            ],
            "rules[1].id",
        ),
    ],
)
def test_malformed_rule_names_the_field(rules, field):
    with pytest.raises(RuleError) as excinfo:
        validate_rules(rules)
    assert excinfo.value.field == field


# --- verdict and risk -----------------------------------------------------------------------


def _r(severity: str, outcome_: str):  # type: ignore[no-untyped-def]
    from reports.rules import Result

    return Result("x", "x", severity, outcome_, None, None, "")


def test_verdict_compliant_when_nothing_fails():
    assert verdict_of([_r("high", "pass"), _r("low", "not_applicable")]) == ("compliant", "none", 0)


def test_verdict_error_when_a_rule_could_not_be_evaluated():
    assert verdict_of([_r("high", "pass"), _r("low", "error")]) == ("error", "none", 0)


def test_risk_is_the_highest_failed_severity():
    assert verdict_of([_r("medium", "fail"), _r("low", "fail")]) == ("non_compliant", "medium", 4)


def test_three_failures_raise_the_risk_one_level():
    results = [_r("medium", "fail"), _r("low", "fail"), _r("low", "fail")]
    assert verdict_of(results) == ("non_compliant", "high", 5)


def test_failures_outrank_errors():
    assert verdict_of([_r("low", "fail"), _r("high", "error")])[0] == "non_compliant"
