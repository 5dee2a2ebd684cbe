"""Fill a real MLflow tracking server with demo data, through the official client.

The data is shaped for governance: most runs would pass the default compliance
policy, and a realistic share would not (missing or odd ``classification``,
no owner, no user, nothing logged, artifacts on plain ``file:``/``http:``,
past retention). Everything is drawn from ``random.Random(seed)``, so two seeds
with the same arguments describe the same experiments, runs and models (only
the ids MLflow assigns differ).
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

# The client reports usage to MLflow unless told not to, and decides when mlflow is
# first imported; demo machines are often air-gapped.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunStatus, RunTag, ViewType
from mlflow.exceptions import MlflowException

logger = logging.getLogger(__name__)

DAY_MS = 24 * 60 * 60 * 1000
# Marks a demo experiment; "complete" once the whole seed has gone through, so a
# seed interrupted half-way is recognised rather than silently topped up.
SEED_TAG = "govdash.demo"
ALLOWED_CLASSIFICATIONS = ("public", "official", "secret")
# What people actually type when the field is free text.
ODD_CLASSIFICATIONS = ("Secret ", "top-secret", "OFFICIAL", "confidential", "offical", "")
RETENTION_EXEMPT_TAG = "retention_exempt"
# Few enough to keep each seed quick, enough that the server's single worker is never idle.
_PARALLEL_REQUESTS = 4


class DemoSeedError(RuntimeError):
    """The server holds demo data from a seed that did not finish."""


@dataclass(frozen=True)
class SeedSummary:
    """Counts of the demo data on the server.

    ``created`` is false when the data was already there; ``notes`` says where the
    server made the seed deviate from its plan (an artifact location it refused).
    """

    experiments: int
    runs: int
    models: int
    versions: int
    created: bool = False
    notes: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class _ExperimentSpec:
    name: str
    tags: dict[str, str]
    artifact_location: str | None
    framework: str
    metric: str  # the validation metric; every run also logs train_loss
    higher_is_better: bool
    team: tuple[str, ...]
    source_name: str
    dataset: str
    ticket_prefix: str
    run_name_words: tuple[str, ...] = ()


@dataclass(frozen=True)
class _ModelSpec:
    name: str
    experiment: str
    versions: int
    description: str
    tags: dict[str, str]
    # alias -> version number (1-based)
    aliases: dict[str, int]
    # Governed models carry the governance tags the seed's validate_compliance asks
    # of every version (classification, compliance, department, security_scan), and
    # their versions' runs the tags the default policy checks: promotable in govdash.
    department: str = ""


EXPERIMENTS: tuple[_ExperimentSpec, ...] = (
    _ExperimentSpec(
        name="fraud-detection/card-transactions",
        tags={
            "department": "Revenue Protection",
            "owner": "amara.okafor",
            "project": "FRAUD-SHIELD",
            "mlflow.note.content": "Scores card transactions for likely fraud before payment.",
        },
        artifact_location="s3://demo-bucket/mlflow/fraud-detection",
        framework="xgboost",
        metric="val_auc",
        higher_is_better=True,
        team=("amara.okafor", "li.wei", "priya.raman", "svc-mlpipeline"),
        source_name="pipelines/fraud/train.py",
        dataset="card_transactions_2024q3",
        ticket_prefix="FRAUD",
    ),
    _ExperimentSpec(
        name="benefits-eligibility-triage",
        tags={
            "department": "Benefits Administration",
            "owner": "jorge.alvarez",
            "project": "BEN-TRIAGE",
            "mlflow.note.content": "Routes benefit claims to the right caseworker queue.",
        },
        # .example is reserved (RFC 2606): nothing is ever uploaded there.
        artifact_location="https://artifacts.agency.example/mlflow/benefits-triage",
        framework="sklearn",
        metric="val_f1",
        higher_is_better=True,
        team=("jorge.alvarez", "hannah.becker", "svc-mlpipeline"),
        source_name="notebooks/triage_baseline.ipynb",
        dataset="claims_sample_v7",
        ticket_prefix="BEN",
    ),
    _ExperimentSpec(
        name="prévisions-de-crues",
        tags={
            "department": "Hydrology & Flood Forecasting",
            "owner": "elodie.gagnon",
            "mlflow.note.content": "Prévisions de débit à 72 h pour les bassins du Saint-Laurent.",
        },
        artifact_location=None,  # the server's default: a local file: path
        framework="pytorch",
        metric="val_rmse",
        higher_is_better=False,
        team=("elodie.gagnon", "mathieu.tremblay", "noah.lefebvre"),
        source_name="crues/entrainement.py",
        dataset="debits_stations_2019_2024",
        ticket_prefix="HYD",
        run_name_words=("essai-été", "crue-printanière", "débit-lstm"),
    ),
    _ExperimentSpec(
        name="document-ocr-routing",
        tags={
            "department": "Records Management",
            "project": "RECORDS-OCR",
            "mlflow.note.content": "Classifies scanned correspondence and routes it to a registry.",
        },
        artifact_location="http://mlflow-artifacts.records.agency.example:8080/ocr-routing",
        framework="pytorch",
        metric="val_accuracy",
        higher_is_better=True,
        team=("sanjay.nguyen", "olivia.brown", "svc-records-ml"),
        source_name="ocr/train_router.py",
        dataset="scanned_letters_v3",
        ticket_prefix="REC",
    ),
    _ExperimentSpec(
        name="call-centre-wait-time",
        tags={"project": "CX-FORECAST"},
        artifact_location="s3://demo-bucket/mlflow/call-centre",
        framework="lightgbm",
        metric="val_mape",
        higher_is_better=False,
        team=("fatima.haddad", "tom.kowalski"),
        source_name="forecast/wait_time.py",
        dataset="ivr_call_logs_2023_2024",
        ticket_prefix="CX",
    ),
)

MODELS: tuple[_ModelSpec, ...] = (
    _ModelSpec(
        name="fraud-card-xgb",
        experiment="fraud-detection/card-transactions",
        versions=4,
        description="Gradient-boosted fraud score for card-not-present transactions.",
        tags={
            "owner": "amara.okafor",
            "classification": "official",
            "risk_tier": "high",
            "use_case": "payment fraud screening",
        },
        aliases={"champion": 3, "production": 3, "staging": 4},
        department="Fraud Prevention",
    ),
    _ModelSpec(
        name="benefits-triage-classifier",
        experiment="benefits-eligibility-triage",
        versions=3,
        description="Suggests a caseworker queue; a human always makes the decision.",
        tags={
            "owner": "jorge.alvarez",
            "classification": "secret",
            "risk_tier": "high",
            "use_case": "claim routing",
        },
        aliases={"production": 2, "staging": 3},
        department="Benefits Operations",
    ),
    _ModelSpec(
        name="flood-forecast-lstm",
        experiment="prévisions-de-crues",
        versions=2,
        description="Modèle LSTM de prévision de débit (72 h).",
        # No classification: the registry entry itself is a finding.
        tags={"owner": "elodie.gagnon", "risk_tier": "medium"},
        aliases={"champion": 2},
    ),
    _ModelSpec(
        name="call-wait-forecaster",
        experiment="call-centre-wait-time",
        versions=2,
        description="",
        tags={"classification": "public", "risk_tier": "low", "owner": "fatima.haddad"},
        aliases={"staging": 1},
        department="Customer Experience",
    ),
)

_ADJECTIVES = (
    "amber", "brisk", "calm", "dusty", "eager", "fuzzy", "gentle", "hazy", "icy", "jolly",
    "keen", "lucid", "mellow", "nimble", "placid", "quiet", "rustic", "steady", "tidy", "vivid",
)  # fmt: skip
_NOUNS = (
    "heron", "otter", "lynx", "badger", "falcon", "marten", "osprey", "bison", "kestrel", "vole",
    "ibex", "puffin", "wren", "stoat", "gecko", "tapir", "quokka", "egret", "finch", "moose",
)  # fmt: skip
_SOURCE_TYPES = ("JOB", "JOB", "LOCAL", "NOTEBOOK")
_PHASES = ("exploration", "exploration", "tuning", "candidate", "validation")


@dataclass
class _RunPlan:
    experiment: _ExperimentSpec
    run_name: str
    start_time: int
    end_time: int
    status: str
    tags: dict[str, str]
    params: dict[str, str]
    metrics: list[Metric]
    run_id: str = ""
    artifact_uri: str = ""


def seed_demo(tracking_uri: str, *, runs_per_experiment: int = 60, seed: int = 7) -> SeedSummary:
    """Create the demo experiments, runs and registered models unless they exist.

    Idempotent: when the demo experiments are already there (a finished seed),
    nothing is written and their current counts are returned. Raises
    ``DemoSeedError`` when an earlier seed stopped half-way.
    """
    if runs_per_experiment < 1:
        raise ValueError("runs_per_experiment must be at least 1")
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    existing = [client.get_experiment_by_name(spec.name) for spec in EXPERIMENTS]
    if any(existing):
        if all(exp is not None and exp.tags.get(SEED_TAG) == "complete" for exp in existing):
            return count_demo(tracking_uri)
        raise DemoSeedError(
            f"{tracking_uri} holds demo data from a seed that did not finish; "
            "start from an empty tracking server"
        )

    rng = random.Random(seed)
    now_ms = int(time.time() * 1000)
    notes: list[str] = []
    experiment_ids: dict[str, str] = {}
    for spec in EXPERIMENTS:
        experiment_ids[spec.name] = _create_experiment(client, spec=spec, notes=notes)

    plans = [
        _plan_run(rng, spec=spec, now_ms=now_ms)
        for spec in EXPERIMENTS
        for _ in range(runs_per_experiment)
    ]
    with _quiet_client():
        pool = ThreadPoolExecutor(max_workers=_PARALLEL_REQUESTS)
        try:
            # list() so the first failure surfaces here instead of being dropped.
            list(pool.map(lambda plan: _write_run(client, plan, experiment_ids), plans))
        finally:
            # On Ctrl-C or a failure, drop the queued runs rather than writing them all first.
            pool.shutdown(wait=True, cancel_futures=True)

    versions = 0
    for model in MODELS:
        versions += _register_model(client, model=model, plans=plans, rng=rng)

    for experiment_id in experiment_ids.values():
        client.set_experiment_tag(experiment_id, SEED_TAG, "complete")
    return SeedSummary(
        experiments=len(experiment_ids),
        runs=len(plans),
        models=len(MODELS),
        versions=versions,
        created=True,
        notes=tuple(notes),
    )


def count_demo(tracking_uri: str) -> SeedSummary:
    """What the server holds of the demo data, counted through the client."""
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    experiment_ids = [
        exp.experiment_id
        for exp in (client.get_experiment_by_name(spec.name) for spec in EXPERIMENTS)
        if exp is not None
    ]
    runs = 0
    if experiment_ids:
        page_token: str | None = None
        while True:
            page = client.search_runs(
                experiment_ids,
                run_view_type=ViewType.ACTIVE_ONLY,
                max_results=1000,
                page_token=page_token,
            )
            runs += len(page)
            page_token = page.token
            if not page_token:
                break
    models = versions = 0
    for model in MODELS:
        found = client.search_registered_models(filter_string=f"name = '{model.name}'")
        if not found:
            continue
        models += 1
        versions += len(client.search_model_versions(f"name = '{model.name}'", max_results=1000))
    return SeedSummary(experiments=len(experiment_ids), runs=runs, models=models, versions=versions)


@contextmanager
def _quiet_client() -> Iterator[None]:
    """``set_terminated`` prints two links per run (and fetches the run to do so)."""
    name = "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"
    previous = os.environ.get(name)
    os.environ[name] = "true"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def _create_experiment(client: MlflowClient, *, spec: _ExperimentSpec, notes: list[str]) -> str:
    tags = {**spec.tags, SEED_TAG: "seeding"}
    try:
        return client.create_experiment(
            spec.name, artifact_location=spec.artifact_location, tags=tags
        )
    except MlflowException as exc:
        # MLflow >= 3.x refuses artifact locations on hosts it was not told to trust
        # (MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES on the server); the demo
        # server allows them, a stock one keeps its own default instead.
        if spec.artifact_location is None or "MLFLOW_ALLOWED_HOST_ADDRESSED" not in str(exc):
            raise
    notes.append(
        f"{spec.name}: server refused artifact location {spec.artifact_location}; used its default"
    )
    logger.info(notes[-1])
    return client.create_experiment(spec.name, tags=tags)


def _plan_run(rng: random.Random, *, spec: _ExperimentSpec, now_ms: int) -> _RunPlan:
    if spec.run_name_words and rng.random() < 0.3:
        run_name = f"{rng.choice(spec.run_name_words)}-{rng.randint(1, 999)}"
    else:
        run_name = f"{rng.choice(_ADJECTIVES)}-{rng.choice(_NOUNS)}-{rng.randint(100, 999)}"

    # Most runs are recent; about one in six predates a typical 3-year retention period.
    old = rng.random() < 0.17
    age_days = rng.uniform(3 * 365 + 30, 6 * 365) if old else rng.uniform(0.5, 420)
    start_time = now_ms - int(age_days * DAY_MS)

    roll = rng.random()
    status = (
        RunStatus.to_string(RunStatus.FAILED)
        if roll < 0.07
        else RunStatus.to_string(RunStatus.KILLED)
        if roll < 0.11
        else RunStatus.to_string(RunStatus.FINISHED)
    )

    user = rng.choice(spec.team)
    tags: dict[str, str] = {
        "mlflow.source.type": rng.choice(_SOURCE_TYPES),
        "mlflow.source.name": spec.source_name,
        "mlflow.source.git.commit": f"{rng.getrandbits(160):040x}",
        "dataset": f"{spec.dataset}@v{rng.randint(1, 14)}",
        "phase": rng.choice(_PHASES),
        "ticket": f"{spec.ticket_prefix}-{rng.randint(100, 2400)}",
        "framework": spec.framework,
    }
    # A run without a recorded user is shown by MLflow as "unknown".
    if rng.random() < 0.92:
        tags["mlflow.user"] = user
    roll = rng.random()
    if roll < 0.70:
        tags["classification"] = rng.choices(ALLOWED_CLASSIFICATIONS, weights=(3, 5, 2))[0]
    elif roll < 0.85:
        tags["classification"] = rng.choice(ODD_CLASSIFICATIONS)
    # Run-level ownership: usual where the experiment names none, occasional elsewhere.
    if "owner" not in spec.tags and rng.random() < 0.6:
        tags["owner"] = user if not user.startswith("svc-") else spec.team[0]
    if "department" not in spec.tags and rng.random() < 0.5:
        tags["department"] = "Customer Experience"
    if old and rng.random() < 0.35:
        tags[RETENTION_EXEMPT_TAG] = "true"
        tags["retention_exempt_reason"] = rng.choice(
            ("litigation hold", "audit reference model", "ministerial inquiry")
        )
    elif not old and rng.random() < 0.03:
        tags[RETENTION_EXEMPT_TAG] = "true"
    if rng.random() < 0.1:
        tags["mlflow.note.content"] = rng.choice(
            ("Baseline for comparison.", "Re-run after data fix.", "Do not promote: leakage.")
        )

    params = _params(rng, spec.framework)
    steps = rng.randint(5, 10)
    if status != RunStatus.to_string(RunStatus.FINISHED):
        steps = rng.randint(1, 3)  # stopped early
    duration_ms = steps * rng.randint(20_000, 240_000)
    end_time = start_time + duration_ms
    metrics = _metrics(rng, spec=spec, steps=steps, start_time=start_time, end_time=end_time)

    # A few runs log nothing at all (a crashed setup, a forgotten autolog).
    if rng.random() < 0.05:
        params = {}
    if rng.random() < 0.05:
        metrics = []
    return _RunPlan(
        experiment=spec,
        run_name=run_name,
        start_time=start_time,
        end_time=end_time,
        status=status,
        tags=tags,
        params=params,
        metrics=metrics,
    )


def _params(rng: random.Random, framework: str) -> dict[str, str]:
    if framework == "xgboost":
        return {
            "max_depth": str(rng.randint(3, 10)),
            "learning_rate": f"{rng.choice((0.01, 0.03, 0.05, 0.1, 0.2))}",
            "n_estimators": str(rng.choice((200, 400, 800, 1200))),
            "subsample": f"{rng.choice((0.6, 0.8, 1.0))}",
            "feature_set": rng.choice(("base", "base+merchant", "base+merchant+velocity")),
        }
    if framework == "sklearn":
        return {
            "model": rng.choice(("LogisticRegression", "LinearSVC", "RandomForestClassifier")),
            "C": f"{rng.choice((0.01, 0.1, 1.0, 10.0))}",
            "class_weight": rng.choice(("balanced", "none")),
            "max_iter": str(rng.choice((200, 500, 1000))),
            "vectorizer": rng.choice(("tfidf-1gram", "tfidf-2gram", "hashing-2^18")),
        }
    if framework == "pytorch":
        return {
            "lr": f"{rng.choice((1e-4, 3e-4, 1e-3))}",
            "batch_size": str(rng.choice((16, 32, 64, 128))),
            "epochs": str(rng.randint(5, 40)),
            "optimizer": rng.choice(("adam", "adamw", "sgd")),
            "hidden_size": str(rng.choice((64, 128, 256))),
        }
    return {
        "num_leaves": str(rng.choice((15, 31, 63, 127))),
        "learning_rate": f"{rng.choice((0.02, 0.05, 0.1))}",
        "n_estimators": str(rng.choice((300, 600, 1000))),
        "min_child_samples": str(rng.choice((10, 20, 50))),
        "horizon_minutes": str(rng.choice((15, 30, 60))),
    }


def _metrics(
    rng: random.Random, *, spec: _ExperimentSpec, steps: int, start_time: int, end_time: int
) -> list[Metric]:
    """A learning curve: training loss falls, the validation metric improves and levels off."""
    if spec.metric == "val_rmse":
        start, target = rng.uniform(40, 60), rng.uniform(12, 25)
    elif spec.metric == "val_mape":
        start, target = rng.uniform(0.35, 0.5), rng.uniform(0.08, 0.2)
    else:  # AUC, F1, accuracy
        start, target = rng.uniform(0.55, 0.7), rng.uniform(0.8, 0.97)
    loss_start, loss_end = rng.uniform(0.6, 1.2), rng.uniform(0.05, 0.3)
    interval = max((end_time - start_time) // steps, 1)
    metrics: list[Metric] = []
    for step in range(steps):
        progress = 1 - 0.5 ** (step + 1)
        timestamp = start_time + (step + 1) * interval
        noise = rng.uniform(-0.02, 0.02)
        value = start + (target - start) * progress
        value *= 1 + noise
        loss = loss_start + (loss_end - loss_start) * progress + rng.uniform(-0.02, 0.02)
        metrics.append(Metric(spec.metric, round(value, 5), timestamp, step))
        metrics.append(Metric("train_loss", round(max(loss, 0.001), 5), timestamp, step))
    return metrics


def _write_run(client: MlflowClient, plan: _RunPlan, experiment_ids: dict[str, str]) -> None:
    run = client.create_run(
        experiment_ids[plan.experiment.name],
        start_time=plan.start_time,
        tags=plan.tags,
        run_name=plan.run_name,
    )
    plan.run_id = run.info.run_id
    plan.artifact_uri = str(run.info.artifact_uri).rstrip("/")
    # create_run already stored the tags; one batch carries the rest.
    client.log_batch(
        plan.run_id,
        metrics=plan.metrics,
        params=[Param(key, value) for key, value in plan.params.items()],
        tags=[RunTag("mlflow.source.git.branch", "main")],
    )
    client.set_terminated(plan.run_id, status=plan.status, end_time=plan.end_time)


def _governance_tags(client: MlflowClient, *, model: _ModelSpec, plan: _RunPlan) -> dict[str, str]:
    """Make a governed model's run pass the default policy, and return the version
    tags the seed's ``validate_compliance`` requires."""
    classification = model.tags["classification"]
    run_tags = {"classification": classification, "department": model.department}
    if "mlflow.user" not in plan.tags:
        run_tags["mlflow.user"] = plan.experiment.team[0]
    if plan.end_time < int(time.time() * 1000) - 3 * 365 * DAY_MS:
        run_tags[RETENTION_EXEMPT_TAG] = "true"
        run_tags["retention_exempt_reason"] = "audit reference model"
    for key, value in run_tags.items():
        client.set_tag(plan.run_id, key, value)
    return {
        "classification": classification,
        "compliance": "reviewed",
        "department": model.department,
        "security_scan": "passed",
    }


def _register_model(
    client: MlflowClient, *, model: _ModelSpec, plans: list[_RunPlan], rng: random.Random
) -> int:
    spec = next(exp for exp in EXPERIMENTS if exp.name == model.experiment)
    finished = RunStatus.to_string(RunStatus.FINISHED)
    candidates = [
        plan
        for plan in plans
        if plan.experiment is spec and plan.status == finished and plan.metrics and plan.params
    ]

    def final_score(plan: _RunPlan) -> float:
        value = [m.value for m in plan.metrics if m.key == spec.metric][-1]
        return value if spec.higher_is_better else -value

    # Registered versions are the better runs, numbered in the order they were trained.
    chosen = sorted(candidates, key=final_score, reverse=True)[: model.versions]
    chosen.sort(key=lambda plan: plan.start_time)

    client.create_registered_model(
        model.name, tags=model.tags, description=model.description or None
    )
    registered: dict[int, str] = {}
    for number, plan in enumerate(chosen, start=1):
        version_tags = {
            "validation_status": rng.choice(("passed", "passed", "pending")),
            "dataset": plan.tags["dataset"],
        }
        if rng.random() < 0.6:
            version_tags["model_card"] = f"docs/model-cards/{model.name}-v{number}.md"
        if model.department:
            version_tags.update(_governance_tags(client, model=model, plan=plan))
        version = client.create_model_version(
            model.name,
            f"{plan.artifact_uri}/model",
            run_id=plan.run_id,
            tags=version_tags,
            description=f"Trained by run {plan.run_name}.",
            await_creation_for=0,
        )
        registered[number] = str(version.version)
    for alias, number in model.aliases.items():
        if number in registered:
            client.set_registered_model_alias(model.name, alias, registered[number])
    return len(chosen)


# The out-of-band move: production pointed at an old version, as a hurried hand might.
OUT_OF_BAND = ("fraud-card-xgb", "production", "1")


def move_alias_out_of_band(tracking_uri: str) -> str:
    """Point a watched alias at another version directly on the server (once):
    what govdash must notice. Returns what was moved, or "" if already done."""
    model, alias, version = OUT_OF_BAND
    client = MlflowClient(tracking_uri)
    with _quiet_client():
        current = client.get_registered_model(model).aliases.get(alias)
        if str(current) == version:
            return ""
        client.set_registered_model_alias(model, alias, version)
    return f"{model}@{alias} to version {version}"
