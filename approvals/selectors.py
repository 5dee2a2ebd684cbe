"""Reads of the approval workflow, shared by the services, pages, API and commands.

Who may vote in the open stage (and why not), whether a workflow can be
completed at all, the facts a later sync may change, and the CI gate's answer
("is this version approved for this environment right now?"). Never imports
``approvals.services`` or ``approvals.jobs``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Prefetch, Q, QuerySet

from approvals.models import CLASSIFICATIONS, Environment, PromotionRequest, Stage, Team, Vote
from kernel.errors import NotFound
from kernel.roles import Role, members_of, roles_of
from reports.models import Assessment, Policy, PolicyVersion
from reports.selectors.policies import default_policy
from tracking.models import GOVDASH_TAG_PREFIX, ModelVersion, RegisteredModel, Run

INBOX_LIMIT = 200
# Version tags govdash itself writes on a promotion: never "a change since the snapshot".
GOVDASH_VERSION_TAGS = frozenset({"compliance_validated"})


# --------------------------------------------------------------------------- lookups


def version_named(*, source: str, model: str, version: str) -> ModelVersion:
    found = (
        ModelVersion.objects.select_related("model__source", "run__experiment")
        .filter(model__source__name=source, model__name=model, version=version)
        .first()
    )
    if found is None:
        raise NotFound(f"model {model!r} has no version {version!r} in source {source!r}")
    return found


def model_named(*, source: str, model: str) -> RegisteredModel:
    found = RegisteredModel.objects.select_related("source").filter(source__name=source, name=model)
    first = found.first()
    if first is None:
        raise NotFound(f"source {source!r} has no registered model {model!r}")
    return first


def environment_named(name: str) -> Environment:
    found = Environment.objects.filter(name=name).first()
    if found is None:
        raise NotFound(f"no environment named {name!r}")
    return found


def request_by_id(request_id: int) -> PromotionRequest:
    found = (
        PromotionRequest.objects.select_related(
            "environment", "version__model__source", "version__run", "requested_by"
        )
        .prefetch_related("votes__user")
        .filter(pk=request_id)
        .first()
    )
    if found is None:
        raise NotFound(f"no promotion request #{request_id}")
    return found


def requests_list(
    *, status: str = "", environment: str = "", mine: Any = None
) -> QuerySet[PromotionRequest]:
    rows = PromotionRequest.objects.select_related(
        "environment", "version__model__source", "requested_by"
    ).prefetch_related("votes__user")
    if status:
        rows = rows.filter(status=status)
    if environment:
        rows = rows.filter(environment__name=environment)
    if mine is not None:
        rows = rows.filter(requested_by=mine)
    return rows.order_by("-created_at", "-id")


# --------------------------------------------------------------------------- facts


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 text as it is: one spelling per value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _own_tag(key: str, alias_names: Iterable[str] = ()) -> bool:
    return key.startswith(GOVDASH_TAG_PREFIX) or key in GOVDASH_VERSION_TAGS


def version_facts(version: ModelVersion) -> dict[str, Any]:
    """What a later sync may change about a version and its run, govdash's own
    writes left out (the alias it sets, ``compliance_validated``, ``govdash.*``)."""
    run = version.run
    return {
        "version_tags": {
            str(k): str(v) for k, v in sorted((version.tags or {}).items()) if not _own_tag(k)
        },
        "version_source": version.source_uri,
        "version_run_id": version.mlflow_run_id,
        "run_facts_hash": run.facts_hash if run is not None else "",
    }


def facts_digest(version: ModelVersion) -> str:
    return sha256_text(canonical_json(version_facts(version)))


def facts_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """What changed between two ``version_facts``, in words."""
    changes: list[str] = []
    old_tags: Mapping[str, str] = before.get("version_tags") or {}
    new_tags: Mapping[str, str] = after.get("version_tags") or {}
    for key in sorted(set(old_tags) | set(new_tags)):
        if key not in new_tags:
            changes.append(f"version tag {key!r} removed (was {old_tags[key]!r})")
        elif key not in old_tags:
            changes.append(f"version tag {key!r} added ({new_tags[key]!r})")
        elif old_tags[key] != new_tags[key]:
            changes.append(
                f"version tag {key!r} changed from {old_tags[key]!r} to {new_tags[key]!r}"
            )
    if before.get("version_source") != after.get("version_source"):
        changes.append("the version's source URI changed")
    if before.get("version_run_id") != after.get("version_run_id"):
        changes.append("the version's source run changed")
    if before.get("run_facts_hash") != after.get("run_facts_hash"):
        changes.append("the source run's params, metrics or tags changed")
    return changes


def snapshot_facts(request: PromotionRequest) -> dict[str, Any]:
    """The facts frozen in the request's snapshot."""
    try:
        facts: dict[str, Any] = json.loads(request.snapshot).get("facts") or {}
    except (ValueError, AttributeError):
        return {}
    return facts


# --------------------------------------------------------------------------- compliance


def active_policy() -> Policy | None:
    return default_policy()


@dataclass(frozen=True)
class RunCompliance:
    compliant: bool
    detail: str
    assessment: Assessment | None = None
    policy_version: PolicyVersion | None = None


def run_compliance_now(run: Run | None) -> RunCompliance:
    """Is the run compliant under the active policy's current version, for its
    current content? (An assessment of older content or an older version does not count.)"""
    if run is None:
        return RunCompliance(False, "the version's source run is not in the mirror")
    policy = active_policy()
    if policy is None:
        return RunCompliance(False, "no compliance policy is active")
    current_version = policy.current_version()
    if current_version is None:
        return RunCompliance(False, f"policy {policy.slug!r} has no published version")
    assessment = (
        Assessment.objects.current()
        .filter(run=run, policy=policy)
        .select_related("policy_version", "policy")
        .first()
    )
    where = f"{policy.name} v{current_version.number}"
    if assessment is None:
        return RunCompliance(
            False, f"the source run has not been assessed under {where}", None, current_version
        )
    if (
        assessment.policy_version_id != current_version.pk
        or assessment.run_content_hash != run.facts_hash
    ):
        return RunCompliance(
            False,
            f"the source run's assessment is out of date: not yet assessed under {where} "
            "for its current content",
            assessment,
            current_version,
        )
    if assessment.verdict != Assessment.Verdict.COMPLIANT:
        failed = list(
            assessment.results.filter(outcome__in=["fail", "error"]).values_list(
                "rule_id", flat=True
            )
        )
        rules = f" (failed: {', '.join(failed)})" if failed else ""
        return RunCompliance(
            False,
            f"the source run is {assessment.get_verdict_display().lower()} under {where}{rules}",
            assessment,
            current_version,
        )
    return RunCompliance(
        True, f"the source run is compliant under {where}", assessment, current_version
    )


# --------------------------------------------------------------------------- people


def classification_rank(value: str) -> int:
    return CLASSIFICATIONS.index(value) if value in CLASSIFICATIONS else -1


def trainer_username(version: ModelVersion) -> str:
    """Who trained the version: its source run's user (matched to usernames)."""
    return version.run.user_id if version.run is not None else ""


def department_of(version: ModelVersion) -> str:
    """The ``department`` tag of the version, else its model, else its source run."""
    for tags in (
        version.tags,
        version.model.tags,
        version.run.tags if version.run is not None else {},
    ):
        value = str((tags or {}).get("department", "")).strip()
        if value:
            return value
    return ""


def owning_teams(department: str) -> list[Team]:
    wanted = department.strip().casefold()
    if not wanted:
        return []
    return [
        team
        for team in Team.objects.prefetch_related("members")
        if any(str(d).strip().casefold() == wanted for d in team.departments or [])
    ]


def stage_definitions(environment: Environment, workflow: str) -> list[dict[str, Any]]:
    """An environment's stages, as a request freezes them."""
    return [
        {
            "name": stage.name,
            "required": stage.required,
            "roles": list(stage.roles),
            "team_restricted": environment.team_restricted,
        }
        for stage in environment.stages.filter(workflow=workflow).order_by("position", "id")
    ]


@dataclass(frozen=True)
class StagePool:
    """Who could vote in one stage, before anyone votes, and why the pool is what it is."""

    user_ids: frozenset[int]
    note: str = ""


def stage_pool(stage: Mapping[str, Any], version: ModelVersion | None) -> StagePool:
    """Active members of the stage's roles, limited to the owning team when the
    stage is team-restricted (no team owns the department: admins only)."""
    members = members_of(stage.get("roles") or [])
    if stage.get("team_restricted") and version is not None:
        department = department_of(version)
        teams = owning_teams(department)
        if not teams:
            admins = members_of([Role.ADMIN.value])
            return StagePool(
                frozenset(admins.values_list("pk", flat=True)),
                f"department {department or '(none)'!r} matches no team: only admins may approve",
            )
        team_members = {user.pk for team in teams for user in team.members.all()}
        names = ", ".join(team.name for team in teams)
        return StagePool(
            frozenset(pk for pk in members.values_list("pk", flat=True) if pk in team_members),
            f"limited to team {names} (department {department!r})",
        )
    return StagePool(frozenset(members.values_list("pk", flat=True)))


def _max_assignment(slots: list[frozenset[int]]) -> int:
    """How many of the slots (one per required approval) distinct people can fill."""
    owner: dict[int, int] = {}

    def place(slot: int, seen: set[int]) -> bool:
        for person in slots[slot]:
            if person in seen:
                continue
            seen.add(person)
            if person not in owner or place(owner[person], seen):
                owner[person] = slot
                return True
        return False

    return sum(1 for slot in range(len(slots)) if place(slot, set()))


def workflow_problems(
    stages: Sequence[Mapping[str, Any]],
    *,
    version: ModelVersion | None = None,
    excluded: Mapping[int, str] | None = None,
) -> list[str]:
    """Why this workflow cannot be completed, in words (empty: it can).

    ``excluded`` maps user ids to why they may not vote (the requester, the
    trainer). A person votes once per request, so the stages together need
    as many distinct people as the sum of their approvals.
    """
    excluded = excluded or {}
    if not stages:
        return ["the workflow has no stages"]
    problems: list[str] = []
    slots: list[frozenset[int]] = []
    for stage in stages:
        pool = stage_pool(stage, version)
        people = frozenset(pk for pk in pool.user_ids if pk not in excluded)
        required = int(stage.get("required") or 1)
        if len(people) < required:
            why = [pool.note] if pool.note else []
            gone = sorted({excluded[pk] for pk in pool.user_ids if pk in excluded})
            if gone:
                why.append("excluded: " + ", ".join(gone))
            roles = ", ".join(stage.get("roles") or []) or "(no role)"
            problems.append(
                f"stage {stage.get('name')!r} needs {required} approval(s) from {roles}"
                f" but only {len(people)} eligible person(s) can give them"
                + (f" ({'; '.join(why)})" if why else "")
            )
        slots.extend([people] * required)
    if not problems:
        filled = _max_assignment(slots)
        if filled < len(slots):
            problems.append(
                f"the stages need {len(slots)} different approvers in all (a person votes once "
                f"per request) but only {filled} approval(s) can be given by distinct eligible "
                "people"
            )
    return problems


def request_exclusions(*, requester: Any, version: ModelVersion) -> dict[int, str]:
    """Who may never vote on a request for this version, and why."""
    excluded = {requester.pk: f"the requester ({requester.get_username()})"}
    trainer = trainer_username(version)
    if trainer:
        for pk in get_user_model().objects.filter(username=trainer).values_list("pk", flat=True):
            excluded.setdefault(pk, f"the trainer ({trainer})")
    return excluded


# --------------------------------------------------------------------------- voting


def open_stage(request: PromotionRequest) -> dict[str, Any] | None:
    if request.status != PromotionRequest.Status.OPEN:
        return None
    if request.stage_index >= len(request.workflow):
        return None
    stage: dict[str, Any] = request.workflow[request.stage_index]
    return stage


@dataclass(frozen=True)
class Eligibility:
    role: str = ""
    reason: str = ""

    @property
    def eligible(self) -> bool:
        return bool(self.role)


def eligibility(request: PromotionRequest, user: Any) -> Eligibility:
    """May ``user`` vote on the request's open stage? The role the vote counts
    under, or the reason in words. Binds everyone, superusers included."""
    stage = open_stage(request)
    if stage is None:
        return Eligibility(reason=f"request #{request.pk} is {request.status}: no stage is open")
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return Eligibility(reason="sign in to vote")
    if request.requested_by_id == user.pk:
        return Eligibility(reason="you asked for this promotion: the requester never approves it")
    trainer = trainer_username(request.version)
    if trainer and trainer == user.get_username():
        return Eligibility(
            reason=f"you trained this version (its source run's user is {trainer}): "
            "the trainer never approves it"
        )
    earlier = Vote.objects.filter(request=request, user=user).first()
    if earlier is not None:
        return Eligibility(
            reason=f"you already voted on this request (stage {earlier.stage_name!r}): "
            "a person votes once per request"
        )
    held = roles_of(user)
    if not user.has_perm("approvals.review_promotion"):
        return Eligibility(reason="your roles do not include reviewing promotions")
    pool = stage_pool(stage, request.version)
    if user.pk not in pool.user_ids:
        if stage.get("team_restricted") and pool.note:
            return Eligibility(reason=f"stage {stage['name']!r} is {pool.note}")
        roles = ", ".join(stage.get("roles") or [])
        return Eligibility(
            reason=f"stage {stage['name']!r} needs a member of: {roles}; "
            f"you hold: {', '.join(sorted(held)) or 'no role'}"
        )
    matching = sorted(set(stage.get("roles") or []) & held)
    role = matching[0] if matching else (Role.ADMIN.value if Role.ADMIN.value in held else "")
    if not role:
        return Eligibility(reason=f"stage {stage['name']!r}: you hold none of its roles")
    return Eligibility(role=role)


def eligible_voters(request: PromotionRequest) -> QuerySet[Any]:
    """The people who may vote in the open stage now: its pool, without the
    requester, the trainer and those who already voted."""
    stage = open_stage(request)
    users = get_user_model().objects.all()
    if stage is None:
        return users.none()
    pool = stage_pool(stage, request.version)
    excluded = set(request_exclusions(requester=request.requested_by, version=request.version))
    voted = set(Vote.objects.filter(request=request).values_list("user_id", flat=True))
    return users.filter(pk__in=pool.user_ids - excluded - voted).order_by("username")


@dataclass
class StageView:
    index: int
    name: str
    required: int
    roles: list[str]
    state: str  # "waiting", "open", "approved", "rejected", "skipped"
    votes: list[Vote] = field(default_factory=list)

    @property
    def approvals(self) -> int:
        return sum(1 for vote in self.votes if vote.decision == Vote.Decision.APPROVE)


def stage_views(request: PromotionRequest) -> list[StageView]:
    """The frozen stages with their votes and state (prefetch ``votes__user`` for lists)."""
    votes = sorted(request.votes.all(), key=lambda vote: (vote.at, vote.pk))
    views = []
    for index, stage in enumerate(request.workflow):
        mine = [vote for vote in votes if vote.stage_index == index]
        if any(vote.decision == Vote.Decision.REJECT for vote in mine):
            state = "rejected"
        elif index < request.stage_index:
            state = "approved"
        elif index == request.stage_index and request.status == PromotionRequest.Status.OPEN:
            state = "open"
        elif request.status == PromotionRequest.Status.OPEN:
            state = "waiting"
        else:
            state = "skipped"
        views.append(
            StageView(
                index=index,
                name=str(stage.get("name", "")),
                required=int(stage.get("required") or 1),
                roles=list(stage.get("roles") or []),
                state=state,
                votes=mine,
            )
        )
    return views


def awaiting_review(user: Any) -> list[PromotionRequest]:
    """Open requests whose open stage ``user`` may vote in now (the reviewer's inbox),
    oldest first.

    A first cut in the database (not their own request, no vote of theirs yet),
    then the full rule (``eligibility``: stage roles, trainer, team) on what remains.
    """
    if not roles_of(user):
        return []
    rows = (
        requests_base()
        .filter(status=PromotionRequest.Status.OPEN)
        .exclude(requested_by=user)
        .exclude(votes__user=user)
        .select_related("version__run")
        .order_by("created_at", "id")[:INBOX_LIMIT]
    )
    return [row for row in rows if eligibility(row, user).eligible]


def requests_base() -> QuerySet[PromotionRequest]:
    """Requests with what every list shows, in one query."""
    return PromotionRequest.objects.select_related(
        "environment", "version__model__source", "requested_by"
    )


def request_detail(pk: int) -> PromotionRequest:
    """One request with its votes, comments and deliveries (raises DoesNotExist)."""
    return (
        requests_base()
        .select_related("replaces_version", "policy_version__policy")
        .prefetch_related(
            Prefetch("votes", queryset=Vote.objects.select_related("user")),
            "comments__user",
            "deliveries",
        )
        .get(pk=pk)
    )


def requests_of(user: Any) -> QuerySet[PromotionRequest]:
    """What ``user`` asked for, newest first."""
    return requests_base().filter(requested_by=user)


def version_promotions(version: ModelVersion) -> list[tuple[Environment, list[PromotionRequest]]]:
    """Every environment with this version's requests to it (newest first)."""
    by_environment: dict[int, list[PromotionRequest]] = {}
    for item in requests_base().filter(version=version):
        by_environment.setdefault(item.environment_id, []).append(item)
    return [
        (environment, by_environment.get(environment.pk, []))
        for environment in Environment.objects.all()
    ]


# --------------------------------------------------------------------------- promotions


def promotions_done(environment: Environment, model: RegisteredModel) -> QuerySet[PromotionRequest]:
    """Completed promotions (and rollbacks) of the model to the environment, newest first."""
    return (
        PromotionRequest.objects.filter(
            environment=environment,
            version__model=model,
            promotion=PromotionRequest.Promotion.DONE,
        )
        .select_related("version__run", "policy_version__policy")
        .order_by("-promoted_at", "-id")
    )


def current_promotion(environment: Environment, model: RegisteredModel) -> PromotionRequest | None:
    return promotions_done(environment, model).first()


def previous_promoted_version(
    environment: Environment, model: RegisteredModel
) -> tuple[ModelVersion | None, ModelVersion | None]:
    """(what the environment points at now, the version promoted before it)."""
    done = list(promotions_done(environment, model)[:50])
    if not done:
        return None, None
    current = done[0].version
    for row in done[1:]:
        if row.version_id != current.pk:
            return current, row.version
    return current, None


def latest_approved(environment: Environment, model: RegisteredModel) -> PromotionRequest | None:
    """The newest approved request (any delivery state) of the model to the environment."""
    return (
        PromotionRequest.objects.filter(
            environment=environment,
            version__model=model,
            status=PromotionRequest.Status.APPROVED,
        )
        .order_by("-closed_at", "-id")
        .first()
    )


def approved_move(*, model: RegisteredModel, alias: str, to_version: str) -> bool | None:
    """Was moving ``alias`` to ``to_version`` approved by govdash? None when no
    environment owns the alias (govdash approves nothing there)."""
    environments = list(Environment.objects.filter(alias=alias))
    if not environments:
        return None
    for environment in environments:
        latest = latest_approved(environment, model)
        if latest is not None and latest.version.version == to_version:
            return True
    return False


@dataclass(frozen=True)
class GateAnswer:
    approved: bool
    version: str
    environment: str
    reasons: list[str] = field(default_factory=list)
    request_id: int | None = None
    promoted_at: str = ""

    def as_dict(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "approved": self.approved,
            "version": self.version,
            "environment": self.environment,
            "request": self.request_id,
            "promoted_at": self.promoted_at or None,
        }
        if not self.approved:
            answer["reasons"] = list(self.reasons)
            answer["detail"] = (
                f"v{self.version} is not approved for {self.environment}: "
                + "; ".join(self.reasons)
            )
        return answer


def _still_valid(promotion: PromotionRequest) -> list[str]:
    reasons: list[str] = []
    version = promotion.version
    if facts_digest(version) != promotion.facts_digest:
        changes = facts_changes(snapshot_facts(promotion), version_facts(version))
        reasons.append(
            "the version changed since its approval: "
            + ("; ".join(changes) if changes else "its facts differ from the snapshot")
        )
    if not promotion.environment.keep_approvals_across_policies:
        compliance = run_compliance_now(version.run)
        policy_now = compliance.policy_version
        if (
            policy_now is not None
            and promotion.policy_version_id is not None
            and policy_now.pk != promotion.policy_version_id
            and not compliance.compliant
        ):
            reasons.append(
                f"{policy_now.policy.name} v{policy_now.number} was published since the "
                f"approval and {compliance.detail.removeprefix('the ')}"
            )
    return reasons


def gate(*, source: str, model: str, environment: str, version: str | None = None) -> GateAnswer:
    """Is this version approved for this environment right now? Without a
    version: which version is (NotFound when none is)."""
    env = environment_named(environment)
    registered = model_named(source=source, model=model)
    current = current_promotion(env, registered)
    if version is None or version == "":
        if current is None:
            raise NotFound(f"no version of {model!r} is approved for {environment!r}")
        reasons = _still_valid(current)
        if reasons:
            raise NotFound(
                f"{model!r} v{current.version.version} was promoted to {environment!r} "
                f"but its approval no longer holds: {'; '.join(reasons)}"
            )
        return GateAnswer(
            True,
            current.version.version,
            env.name,
            request_id=current.pk,
            promoted_at=current.promoted_at.isoformat() if current.promoted_at else "",
        )
    target = version_named(source=source, model=model, version=version)
    if current is not None and current.version_id == target.pk:
        reasons = _still_valid(current)
        return GateAnswer(
            not reasons,
            target.version,
            env.name,
            reasons,
            current.pk,
            current.promoted_at.isoformat() if current.promoted_at else "",
        )
    own = PromotionRequest.objects.filter(version=target, environment=env)
    ever_done = own.filter(promotion=PromotionRequest.Promotion.DONE).order_by("-promoted_at")
    if current is not None and ever_done.exists():
        what = "rollback" if current.rollback else "promotion"
        return GateAnswer(
            False,
            target.version,
            env.name,
            [
                f"the approval was superseded by a later {what} (request #{current.pk}) "
                f"that put v{current.version.version} in {env.name}"
            ],
        )
    pending = own.filter(
        status=PromotionRequest.Status.APPROVED,
        promotion__in=[PromotionRequest.Promotion.PENDING, PromotionRequest.Promotion.FAILED],
    ).first()
    if pending is not None:
        state = "is pending" if pending.promotion == "pending" else "failed"
        return GateAnswer(
            False,
            target.version,
            env.name,
            [f"approved (request #{pending.pk}) but its promotion {state}: not in {env.name} yet"],
            pending.pk,
        )
    waiting = own.filter(status=PromotionRequest.Status.OPEN).first()
    if waiting is not None:
        return GateAnswer(
            False,
            target.version,
            env.name,
            [f"never approved for {env.name}: request #{waiting.pk} is still open"],
        )
    return GateAnswer(False, target.version, env.name, [f"never approved for {env.name}"])


def stage_model_rows(environment: Environment) -> QuerySet[Stage]:
    return environment.stages.order_by("workflow", "position", "id")


def open_request_for(version: ModelVersion, environment: Environment) -> PromotionRequest | None:
    return PromotionRequest.objects.filter(
        Q(version=version) & Q(environment=environment) & Q(status=PromotionRequest.Status.OPEN)
    ).first()


def version_history(version: ModelVersion) -> QuerySet[PromotionRequest]:
    """Every request to promote (or roll back to) this version, by environment, newest first."""
    return (
        PromotionRequest.objects.filter(version=version)
        .select_related("environment", "requested_by")
        .prefetch_related("votes__user")
        .order_by("environment__position", "environment__name", "-created_at", "-id")
    )


def dossier_approvals(version: ModelVersion) -> dict[str, Any]:
    """The approvals section of a version's dossier, as plain values (they join
    the dossier's evidence hash): the CI gate's answer per environment now, and
    every request with its gates, its votes and its evidence snapshot's SHA-256."""
    model = version.model
    environments = []
    for environment in Environment.objects.all():
        try:
            answer = gate(
                source=model.source.name,
                model=model.name,
                environment=environment.name,
                version=version.version,
            ).as_dict()
        except NotFound as exc:
            answer = {"approved": False, "reasons": [str(exc)]}
        environments.append({"environment": environment.name, **answer})
    requests = []
    for item in version_history(version):
        requests.append(
            {
                "id": item.pk,
                "environment": item.environment.name,
                "rollback": item.rollback,
                "status": item.status,
                "promotion": item.promotion,
                "requested_by": item.requested_by.get_username(),
                "requested_at": item.created_at.isoformat(),
                "justification": item.justification,
                "closed_reason": item.closed_reason,
                "promoted_at": item.promoted_at.isoformat() if item.promoted_at else None,
                "snapshot_sha256": item.snapshot_sha256,
                "gates": item.gates,
                "final_gates": item.final_gates,
                "votes": [
                    {
                        "stage": vote.stage_name,
                        "user": vote.user.get_username(),
                        "role": vote.role,
                        "decision": vote.decision,
                        "at": vote.at.isoformat(),
                        "comment": vote.comment,
                    }
                    for vote in sorted(item.votes.all(), key=lambda v: (v.at, v.pk))
                ],
            }
        )
    return {"gate_now": environments, "requests": requests}
