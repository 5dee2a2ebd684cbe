"""Mirror rows for tests of code that only reads the mirror (assessments, pages).

Sync itself is always tested against a real mlflow server (tests/sync)."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from typing import Any

from django.utils import timezone

from tracking.models import Experiment, Run, Source

_counter = itertools.count(1)


def source(name: str = "mlflow-test") -> Source:
    found = Source.objects.filter(name=name).first()
    return found or Source.objects.create(name=name, url="http://127.0.0.1:9")


def experiment(src: Source | None = None, name: str | None = None, **fields: Any) -> Experiment:
    src = src or source()
    number = next(_counter)
    defaults: dict[str, Any] = {
        "experiment_id": str(number),
        "name": name or f"experiment {number}",
        "artifact_location": f"s3://bucket/{number}",
        "tags": {"department": "risk"},
        "content_hash": hashlib.sha256(str(number).encode()).hexdigest(),
    }
    defaults.update(fields)
    return Experiment.objects.create(source=src, **defaults)


def run(exp: Experiment | None = None, **fields: Any) -> Run:
    exp = exp or experiment()
    number = next(_counter)
    defaults: dict[str, Any] = {
        "run_id": f"{number:032x}",
        "run_name": f"run {number}",
        "status": "FINISHED",
        "start_time": timezone.now() - dt.timedelta(days=1),
        "end_time": timezone.now() - dt.timedelta(hours=23),
        "user_id": "ana",
        "artifact_uri": f"s3://bucket/{exp.experiment_id}/{number}/artifacts",
        "params": {"lr": "0.1"},
        "tags": {"classification": "official"},
        "metrics": {"accuracy": {"value": 0.9, "step": 1, "timestamp": 1}},
    }
    defaults.update(fields)
    defaults.setdefault("classification", defaults["tags"].get("classification", ""))
    defaults.setdefault(
        "content_hash", hashlib.sha256(repr(sorted(defaults.items())).encode()).hexdigest()
    )
    defaults.setdefault("facts_hash", defaults["content_hash"])
    return Run.objects.create(source=exp.source, experiment=exp, **defaults)
