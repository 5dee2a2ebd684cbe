"""kernel.bulk: rows written by COPY (PostgreSQL) or bulk_create (SQLite) read
back exactly as a save would have written them. Run on both databases: the
default SQLite, and PostgreSQL with DATABASE_URL set."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction

from kernel.bulk import insert_rows, insert_rows_returning_pks
from reports.models import Assessment, RuleResult
from tests import factories

pytestmark = pytest.mark.django_db

# Text that COPY's text format must escape: tab, newline, carriage return,
# backslash, the literal \N (its NULL marker), a lone period line, quotes,
# and characters outside ASCII (accents, CJK, an emoji).
AWKWARD = "a\tb\nc\r\nd \\ e \\N f\n\\.\n\"quoted\" 'single' é 漢字 🙂 end"


def _assessment_row(version: Any, run: Any, **fields: Any) -> dict[str, Any]:
    return {
        "run_id": run.pk,
        "policy_id": version.policy_id,
        "policy_version_id": version.pk,
        "run_content_hash": run.facts_hash,
        "verdict": "non_compliant",
        "risk": "high",
        "is_current": True,
        **fields,
    }


def test_rows_read_back_exactly_json_null_text_and_timestamps(default_policy):  # type: ignore[no-untyped-def]
    runs = [factories.run(), factories.run()]
    india = dt.timezone(dt.timedelta(hours=5, minutes=30))
    when = dt.datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=india)
    pks = insert_rows_returning_pks(
        Assessment,
        [
            _assessment_row(default_policy, runs[0], error=AWKWARD, assessed_at=when),
            _assessment_row(default_policy, runs[1], assessed_at=when, batch_id=None, score=7),
        ],
    )
    assert len(pks) == len(set(pks)) == 2
    first, second = (Assessment.objects.get(pk=pk) for pk in pks)
    assert (first.run_id, second.run_id) == (runs[0].pk, runs[1].pk)  # in order
    assert first.error == AWKWARD
    assert first.assessed_at == when  # the same instant, whatever the zone
    assert first.assessed_at.utcoffset() == dt.timedelta(0)
    assert (first.score, first.failed_rules, second.error) == (0, 0, "")  # defaults
    assert (second.score, second.batch_id) == (7, None)

    observed = {
        "text": AWKWARD,
        "nested": {"list": [1, 2.5, -0.0, None, True, False, "\\N"], "empty": {}},
        "big": 10**15,
        "unicode key é": "漢字",
    }
    written = insert_rows(
        RuleResult,
        [
            {
                "assessment_id": pks[0],
                "rule_id": "r1",
                "title": "Awkward",
                "severity": "high",
                "outcome": "fail",
                "observed": observed,
                "expected": ["a\tb", "c\nd", "\\"],
                "message": AWKWARD,
            },
            {
                "assessment_id": pks[0],
                "rule_id": "r2",
                "title": "Nothing seen",
                "severity": "low",
                "outcome": "pass",
                "observed": None,  # SQL NULL, as a save writes it
                "expected": "\\N",  # a JSON string, not NULL
            },
            {
                "assessment": second,  # a related object by field name
                "rule_id": "r3",
                "title": "Scalars",
                "severity": "low",
                "outcome": "pass",
                "observed": 0.1,
                "expected": "",
            },
        ],
    )
    assert written == 3
    results = {r.rule_id: r for r in RuleResult.objects.all()}
    assert results["r1"].observed == observed
    assert results["r1"].expected == ["a\tb", "c\nd", "\\"]
    assert results["r1"].message == AWKWARD
    assert results["r2"].observed is None
    assert results["r2"].expected == "\\N"
    assert results["r2"].message == ""  # a missing field takes its default
    assert results["r3"].assessment_id == pks[1]
    assert results["r3"].observed == 0.1
    assert set(
        RuleResult.objects.filter(observed__isnull=True).values_list("rule_id", flat=True)
    ) == {"r2"}


def test_one_statement_all_rows_or_none(default_policy):  # type: ignore[no-untyped-def]
    run = factories.run()
    rows = [
        _assessment_row(default_policy, run, assessed_at=dt.datetime.now(dt.UTC)),
        # The same run, content and version again: a unique constraint refuses it.
        _assessment_row(default_policy, run, assessed_at=dt.datetime.now(dt.UTC)),
    ]
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_rows(Assessment, rows)
    assert not Assessment.objects.exists()


def test_counts_as_one_query_and_nothing_for_no_rows(default_policy, django_assert_num_queries):  # type: ignore[no-untyped-def]
    run = factories.run()
    (pk,) = insert_rows_returning_pks(
        Assessment, [_assessment_row(default_policy, run, assessed_at=dt.datetime.now(dt.UTC))]
    )
    rows = [
        {
            "assessment_id": pk,
            "rule_id": f"r{i}",
            "title": "t",
            "severity": "low",
            "outcome": "pass",
            "observed": {"i": i},
            "expected": None,
        }
        for i in range(300)
    ]
    if connection.vendor == "postgresql":
        statements = 1  # one COPY
    else:  # bulk_create's batches, as many as the driver's parameter limit needs
        fields = [f for f in RuleResult._meta.concrete_fields if not f.primary_key]
        statements = math.ceil(300 / connection.ops.bulk_batch_size(fields, rows))
    with django_assert_num_queries(statements) as captured:
        assert insert_rows(RuleResult, rows) == 300
    if connection.vendor == "postgresql":
        assert captured.captured_queries[0]["sql"].startswith('COPY "reports_ruleresult"')
    with django_assert_num_queries(0):
        assert insert_rows(RuleResult, []) == 0
        assert insert_rows_returning_pks(RuleResult, []) == []
    assert RuleResult.objects.filter(assessment_id=pk).count() == 300


def test_an_unknown_field_is_refused_before_writing(db):  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="no field 'colour'"):
        insert_rows(RuleResult, [{"rule_id": "r", "colour": "red"}])
