"""Policy documents are bounded before they are validated: depth, size, count
and numbers. Whatever the input, parsing ends in a policy or a PolicyError
naming the field (or the limit) at fault; never another exception."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reports.rules import CHECKS
from reports.services import (
    MAX_DEPTH,
    MAX_POLICY_BYTES,
    PolicyError,
    parse_policy_yaml,
    policy_from_document,
)

RULE = """\
name: Bounds
rules:
  - id: a
    title: T
    severity: low
    check:
      kind: metric_threshold
      key: accuracy
      op: ">="
      value: {value}
"""


def _refused(text: str) -> PolicyError:
    with pytest.raises(PolicyError) as excinfo:
        parse_policy_yaml(text)
    return excinfo.value


def test_ten_thousand_levels_of_nesting_are_refused_naming_the_limit():
    # Without the bound, PyYAML's recursive composer raises RecursionError.
    for text in (
        "name: x\nrules: " + "[" * 10_000 + "]" * 10_000,
        "name: x\nrules: " + "{a: " * 10_000 + "1" + "}" * 10_000,
    ):
        error = _refused(text)
        assert error.field == "line 2"
        assert f"deeper than {MAX_DEPTH} levels" in error.message


def test_an_alias_nesting_itself_is_refused():
    error = _refused("name: x\nrules: &a [*a]\n")
    assert error.field.startswith("rules[0][0]")
    assert "deeper than" in error.message


def test_aliases_cannot_multiply_the_document():
    text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for level in "bcdefg":
        previous = chr(ord(level) - 1)
        text += f"{level}: &{level} [" + ", ".join([f"*{previous}"] * 10) + "]\n"
    error = _refused(text + "name: x\n")
    assert error.field == "document"
    assert "values, the limit" in error.message


@pytest.mark.parametrize(
    "value",
    [
        # converts to an int that overflows float()
        pytest.param(str(10**400), id="10**400"),
        # int() refuses more than 4300 digits with a ValueError
        pytest.param("9" * 5000, id="5000 digits"),
        "1.0e+400",  # infinity: not JSON, fails in the database
        ".inf",
        "-.inf",
        ".nan",
        "1.0e+16",  # finite, but beyond what the checks compare exactly
    ],
)
def test_numbers_out_of_range_are_refused_naming_the_field(value):
    error = _refused(RULE.format(value=value))
    assert error.field == "rules[0].check.value"
    assert "between -10^15 and 10^15" in error.message


def test_a_text_comparison_value_cannot_be_an_infinite_number():
    text = (
        RULE.format(value=".nan")
        .replace('">="', '"=="')
        .replace("metric_threshold", "param_compare")
    )
    assert _refused(text).field == "rules[0].check.value"


def test_the_largest_numbers_in_range_are_kept():
    assert parse_policy_yaml(RULE.format(value=10**15))["rules"][0]["check"]["value"] == 10**15
    assert parse_policy_yaml(RULE.format(value="-1.0e+15"))["rules"][0]["check"]["value"] == -1e15


def test_a_multi_megabyte_document_is_refused_before_parsing():
    text = RULE.format(value=1) + "# " + "x" * (3 * 1024 * 1024) + "\n"
    error = _refused(text)
    assert error.field == "document"
    assert f"larger than the limit of {MAX_POLICY_BYTES // 1024} KiB" in error.message


def test_text_a_database_cannot_store_is_refused():
    assert _refused(RULE.format(value=1).replace("title: T", 'title: "a\\0b"')).field == (
        "rules[0].title"
    )


def test_keys_that_are_not_text_are_refused():
    assert _refused("name: x\n1: y\nrules: []\n").field == "document"
    dated = RULE.format(value=1).replace("key: accuracy", "2026-01-01: accuracy")
    assert _refused(dated).field == "rules[0].check"


# --------------------------------------------------------------------------- property

_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["", "low", "high", ">=", "==", "key", *CHECKS])
)
_KEYS = st.text(max_size=8) | st.sampled_from(["kind", "key", "value"])
_ANY = st.recursive(
    _LEAVES,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_KEYS, children, max_size=4),
    max_leaves=40,
)
_CHECK = st.fixed_dictionaries(
    {"kind": st.sampled_from(sorted(CHECKS)) | _LEAVES},
    optional={
        name: _ANY
        for name in ("key", "values", "op", "value", "pattern", "days", "keys", "allowed", "users")
    },
)
_RULE = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["a", "b", "Bad id"]) | _LEAVES,
        "title": st.sampled_from(["T"]) | _LEAVES,
        "severity": st.sampled_from(["low", "critical"]) | _LEAVES,
        "check": _CHECK | _ANY,
    },
    optional={"description": _ANY, "extra": _ANY},
)
_DOCUMENT = _ANY | st.fixed_dictionaries(
    {"name": st.sampled_from(["P"]) | _LEAVES, "rules": st.lists(_RULE | _ANY, max_size=3)},
    optional={"slug": _ANY, "sources": _ANY, "description": _ANY, "version": _ANY},
)


def _accepted_or_named(document: Any) -> None:
    refusal: PolicyError | None = None
    try:
        policy = policy_from_document(document)
    except PolicyError as exc:
        refusal = exc
    if refusal is None:
        # What is accepted can be stored: strict JSON, no NaN or infinity.
        json.dumps(policy, allow_nan=False)
        return
    assert refusal.field, "a refusal names the field or the limit"
    assert refusal.message
    assert str(refusal) == f"{refusal.field}: {refusal.message}"


@settings(max_examples=200, deadline=None)
@given(_DOCUMENT)
def test_any_yaml_shaped_data_is_accepted_or_refused_naming_a_field(document):
    _accepted_or_named(document)
