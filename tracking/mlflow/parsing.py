"""Strict JSON → dataclass parsing of MLflow REST answers.

Every function here either returns a value of :mod:`tracking.mlflow.types` or raises
:class:`ShapeError` naming the offending field by its path (``runs[3].info.run_id``); the
transport turns that into a :class:`~tracking.mlflow.errors.MalformedResponse` naming the source
and the endpoint. Nothing is guessed: a field of the wrong type is an error, not a default.

MLflow and GitLab answer with the same shapes, except where ``gitlab=True`` says otherwise
(see docs/mlflow-endpoints.md): model times in seconds, ``0`` for an unknown start time, every
logged metric value instead of the latest, and semantic versions listed among the aliases.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from .types import Experiment, MetricValue, ModelVersion, Page, RegisteredModel, Run

_SEMVER_RE = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
# Below this an epoch timestamp cannot be milliseconds (it would be before March 1973).
_SECONDS_CEILING = 100_000_000_000


class ShapeError(Exception):
    """A JSON shape problem, with a path like ``runs[3].info.run_id``."""


# --------------------------------------------------------------------------- the body


def decode_object(content: bytes, content_type: str) -> dict[str, Any]:
    """The JSON object an answer's body holds."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise ShapeError("the body is not UTF-8") from None
    if not text.strip():
        raise ShapeError("empty body, expected a JSON object")
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        if text.lstrip()[:1] in ("{", "["):
            what = f"truncated or invalid JSON ({exc.msg} at character {exc.pos} of {len(text)})"
        else:
            what = f"not JSON ({content_type}, starting {text[:40]!r})"
        raise ShapeError(what) from None
    if not isinstance(payload, dict):
        raise ShapeError(f"the body is {json_type(payload)}, expected an object")
    return payload


def json_type(value: object) -> str:
    """How JSON would call the value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# --------------------------------------------------------------------------- fields


def _obj(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ShapeError(f"{where} is {json_type(value)}, expected an object")
    return value


def _list(raw: Mapping[str, Any], key: str, where: str) -> list[Any]:
    """An optional array (protobuf JSON leaves empty arrays out)."""
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ShapeError(f"{where}.{key} is {json_type(value)}, expected an array")
    return value


def _required(raw: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    """The object named ``key`` in ``raw``, which must be there."""
    if raw.get(key) is None:
        raise ShapeError(f"{where}.{key} is missing" if where else f"{key} is missing")
    return _obj(raw[key], f"{where}.{key}" if where else key)


def _req_str(raw: Mapping[str, Any], key: str, where: str) -> str:
    if key not in raw or raw[key] is None:
        raise ShapeError(f"{where}.{key} is missing")
    value = raw[key]
    if not isinstance(value, str):
        raise ShapeError(f"{where}.{key} is {json_type(value)}, expected a string")
    if not value:
        raise ShapeError(f"{where}.{key} is empty")
    return value


def _opt_str(raw: Mapping[str, Any], key: str, where: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ShapeError(f"{where}.{key} is {json_type(value)}, expected a string")
    return value


def _opt_int(raw: Mapping[str, Any], key: str, where: str) -> int | None:
    """An int64; protobuf's canonical JSON may write those as decimal strings."""
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        raise ShapeError(f"{where}.{key} is a boolean, expected an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    raise ShapeError(f"{where}.{key} is {json_type(value)} ({value!r:.40}), expected an integer")


def _number(raw: Mapping[str, Any], key: str, where: str) -> float:
    if key not in raw or raw[key] is None:
        raise ShapeError(f"{where}.{key} is missing")
    value = raw[key]
    if isinstance(value, bool):
        raise ShapeError(f"{where}.{key} is a boolean, expected a number")
    if isinstance(value, int | float):
        return float(value)
    # protobuf JSON spells non-finite doubles as strings
    if value in ("NaN", "Infinity", "-Infinity"):
        return float(value.replace("Infinity", "inf"))
    raise ShapeError(f"{where}.{key} is {json_type(value)}, expected a number")


def _key_values(raw: Mapping[str, Any], key: str, where: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for index, item in enumerate(_list(raw, key, where)):
        here = f"{where}.{key}[{index}]"
        entry = _obj(item, here)
        name = _req_str(entry, "key", here)
        result[name] = _opt_str(entry, "value", here) or ""
    return result


def _latest_metrics(raw: Mapping[str, Any], where: str) -> dict[str, MetricValue]:
    """One value per key. MLflow sends only the latest; GitLab sends every logged value."""
    latest: dict[str, MetricValue] = {}
    for index, item in enumerate(_list(raw, "metrics", where)):
        here = f"{where}.metrics[{index}]"
        entry = _obj(item, here)
        key = _req_str(entry, "key", here)
        metric = MetricValue(
            value=_number(entry, "value", here),
            timestamp=_opt_int(entry, "timestamp", here),
            step=_opt_int(entry, "step", here) or 0,
        )
        current = latest.get(key)
        if current is None or _more_recent(metric, current):
            latest[key] = metric
    return latest


def _more_recent(a: MetricValue, b: MetricValue) -> bool:
    # The same comparison MLflow's SQL store uses to maintain latest_metrics.
    return (a.step, a.timestamp or 0, a.value) > (b.step, b.timestamp or 0, b.value)


def _ms(value: int | None, *, gitlab: bool) -> int | None:
    # GitLab writes model and version times with Ruby's Time#to_i: seconds.
    if gitlab and value is not None and 0 < value < _SECONDS_CEILING:
        return value * 1000
    return value


def _next_token(payload: Mapping[str, Any]) -> str | None:
    token = _opt_str(payload, "next_page_token", "answer")
    return token or None


# --------------------------------------------------------------------------- one item


def parse_experiment(raw: object, where: str) -> Experiment:
    exp = _obj(raw, where)
    return Experiment(
        experiment_id=_req_str(exp, "experiment_id", where),
        name=_req_str(exp, "name", where),
        artifact_location=_opt_str(exp, "artifact_location", where),
        lifecycle_stage=_opt_str(exp, "lifecycle_stage", where) or "active",
        creation_time=_opt_int(exp, "creation_time", where),
        last_update_time=_opt_int(exp, "last_update_time", where),
        tags=_key_values(exp, "tags", where),
    )


def parse_run(raw: object, where: str, *, gitlab: bool) -> Run:
    run = _obj(raw, where)
    here = f"{where}.info"
    info = _required(run, "info", where)
    run_id = _opt_str(info, "run_id", here) or _opt_str(info, "run_uuid", here)
    if not run_id:
        raise ShapeError(f"{here}.run_id is missing")
    data = _obj(run["data"], f"{where}.data") if run.get("data") is not None else {}
    tags = _key_values(data, "tags", f"{where}.data")
    start_time = _opt_int(info, "start_time", here)
    if gitlab and start_time == 0:
        start_time = None  # GitLab writes 0 when it does not know
    return Run(
        run_id=run_id,
        experiment_id=_req_str(info, "experiment_id", here),
        run_name=_opt_str(info, "run_name", here) or tags.get("mlflow.runName") or None,
        status=_opt_str(info, "status", here),
        start_time=start_time,
        end_time=_opt_int(info, "end_time", here),
        user_id=_opt_str(info, "user_id", here) or None,
        artifact_uri=_opt_str(info, "artifact_uri", here),
        lifecycle_stage=_opt_str(info, "lifecycle_stage", here) or "active",
        params=_key_values(data, "params", f"{where}.data"),
        tags=tags,
        metrics=_latest_metrics(data, f"{where}.data"),
    )


def parse_registered_model(raw: object, where: str, *, gitlab: bool) -> RegisteredModel:
    model = _obj(raw, where)
    aliases: dict[str, str] = {}
    for index, item in enumerate(_list(model, "aliases", where)):
        here = f"{where}.aliases[{index}]"
        entry = _obj(item, here)
        aliases[_req_str(entry, "alias", here)] = _req_str(entry, "version", here)
    return RegisteredModel(
        name=_req_str(model, "name", where),
        description=_opt_str(model, "description", where) or "",
        creation_timestamp=_ms(_opt_int(model, "creation_timestamp", where), gitlab=gitlab),
        last_updated_timestamp=_ms(_opt_int(model, "last_updated_timestamp", where), gitlab=gitlab),
        tags=_key_values(model, "tags", where),
        aliases=aliases,
    )


def parse_model_version(
    raw: object,
    where: str,
    *,
    gitlab: bool,
    model_aliases: Mapping[str, str] | None = None,
) -> ModelVersion:
    mv = _obj(raw, where)
    version = _req_str(mv, "version", where)
    listed: list[str] = []
    for index, item in enumerate(_list(mv, "aliases", where)):
        if not isinstance(item, str):
            raise ShapeError(f"{where}.aliases[{index}] is {json_type(item)}, expected a string")
        listed.append(item)
    semver = None
    if gitlab:
        semvers = [a for a in listed if _SEMVER_RE.match(a)]
        semver = semvers[0] if semvers else None
        listed = [a for a in listed if a not in semvers]
    # MLflow's model-versions/search leaves aliases out; the model's alias map has them.
    extra = sorted(a for a, v in (model_aliases or {}).items() if v == version and a not in listed)
    return ModelVersion(
        name=_req_str(mv, "name", where),
        version=version,
        source=_opt_str(mv, "source", where),
        run_id=_opt_str(mv, "run_id", where) or None,
        status=_opt_str(mv, "status", where),
        current_stage=_opt_str(mv, "current_stage", where),
        creation_timestamp=_ms(_opt_int(mv, "creation_timestamp", where), gitlab=gitlab),
        last_updated_timestamp=_ms(_opt_int(mv, "last_updated_timestamp", where), gitlab=gitlab),
        tags=_key_values(mv, "tags", where),
        aliases=tuple(listed + extra),
        description=_opt_str(mv, "description", where) or "",
        semver=semver,
    )


# --------------------------------------------------------------------------- whole answers


def experiments_page(payload: Mapping[str, Any]) -> Page[Experiment]:
    """An ``experiments/search`` answer."""
    items = tuple(
        parse_experiment(raw, f"experiments[{i}]")
        for i, raw in enumerate(_list(payload, "experiments", "answer"))
    )
    return Page(items, _next_token(payload))


def runs_page(payload: Mapping[str, Any], *, gitlab: bool) -> Page[Run]:
    """A ``runs/search`` answer."""
    items = tuple(
        parse_run(raw, f"runs[{i}]", gitlab=gitlab)
        for i, raw in enumerate(_list(payload, "runs", "answer"))
    )
    return Page(items, _next_token(payload))


def registered_models_page(payload: Mapping[str, Any], *, gitlab: bool) -> Page[RegisteredModel]:
    """A ``registered-models/search`` answer."""
    items = tuple(
        parse_registered_model(raw, f"registered_models[{i}]", gitlab=gitlab)
        for i, raw in enumerate(_list(payload, "registered_models", "answer"))
    )
    return Page(items, _next_token(payload))


def model_versions_page(
    payload: Mapping[str, Any], *, gitlab: bool, model_aliases: Mapping[str, str] | None
) -> Page[ModelVersion]:
    """A ``model-versions/search`` answer, aliases filled in from the model's alias map."""
    items = tuple(
        parse_model_version(raw, f"model_versions[{i}]", gitlab=gitlab, model_aliases=model_aliases)
        for i, raw in enumerate(_list(payload, "model_versions", "answer"))
    )
    return Page(items, _next_token(payload))


def member(payload: Mapping[str, Any], key: str) -> dict[str, Any]:
    """The object a ``*/get`` answer holds under ``key`` (``run``, ``registered_model``…)."""
    return _required(payload, key, "")


def registered_model(payload: Mapping[str, Any], *, gitlab: bool) -> RegisteredModel:
    """A ``registered-models/get`` answer."""
    return parse_registered_model(
        member(payload, "registered_model"), "registered_model", gitlab=gitlab
    )


def versions_of_model(payload: Mapping[str, Any], *, gitlab: bool) -> Page[ModelVersion]:
    """The versions a ``registered-models/get`` answer lists, in one page, by version number.

    GitLab fills ``latest_versions`` with every version of the model; MLflow (when it lacks
    ``model-versions/search``, which no current release does) with the latest per stage.
    """
    model = member(payload, "registered_model")
    aliases = parse_registered_model(model, "registered_model", gitlab=gitlab).aliases
    versions = [
        parse_model_version(
            raw,
            f"registered_model.latest_versions[{i}]",
            gitlab=gitlab,
            model_aliases=aliases,
        )
        for i, raw in enumerate(_list(model, "latest_versions", "registered_model"))
    ]
    versions.sort(key=lambda v: (int(v.version) if v.version.isdigit() else math.inf, v.version))
    return Page(tuple(versions))
