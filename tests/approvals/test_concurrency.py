"""Concurrent final votes on PostgreSQL: exactly one approval, one delivery job,
and an unbroken audit chain."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from approvals.audit_actions import ApprovalsAction
from approvals.models import PromotionRequest, Vote
from approvals.services import promotion_vote
from audit.models import AuditEvent
from audit.services import verify
from kernel.errors import Conflict

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.redis,
    pytest.mark.skipif(
        "connection.vendor != 'postgresql'",
        reason="row locks under real concurrency: PostgreSQL (CI runs it there)",
    ),
]


def _race(voters, request_id):  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(len(voters))
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def vote(user) -> None:  # type: ignore[no-untyped-def]
        try:
            barrier.wait()
            result = promotion_vote(
                actor=user, request_id=request_id, decision="approve", comment=""
            )
            outcomes.append(result.status)
        except Conflict:
            outcomes.append("conflict")
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=vote, args=(user,)) for user in voters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return sorted(outcomes)


def _deliver_jobs(queue) -> list[object]:  # type: ignore[no-untyped-def]
    return [job for job in queue.jobs if job.func_name == "approvals.jobs.deliver_promotion_job"]


@pytest.mark.parametrize("rounds", range(3))
def test_two_reviewers_completing_the_last_stage_at_once_give_one_approval(
    world, ask, redis_queue, rounds
):
    queue = redis_queue("default")
    request = ask("staging")
    outcomes = _race(world.reviewers[:2], request.pk)
    assert outcomes == ["approved", "conflict"]
    request.refresh_from_db()
    assert request.status == "approved"
    assert request.promotion == "pending"
    assert Vote.objects.filter(request=request).count() == 1
    assert AuditEvent.objects.filter(action=ApprovalsAction.APPROVED).count() == 1
    assert [job.args for job in _deliver_jobs(queue)] == [(request.pk,)]
    assert verify().intact


def test_the_two_last_approvals_of_a_two_person_stage_at_once(world, ask, redis_queue):
    queue = redis_queue("default")
    request = ask("production")
    r1, r2, r3 = world.reviewers
    promotion_vote(actor=world.officer, request_id=request.pk, decision="approve", comment="")
    promotion_vote(actor=r1, request_id=request.pk, decision="approve", comment="")
    outcomes = _race([r2, r3], request.pk)
    assert outcomes == ["approved", "open"]
    request = PromotionRequest.objects.get(pk=request.pk)
    assert request.status == "approved"
    assert Vote.objects.filter(request=request, stage_index=2).count() == 2
    assert AuditEvent.objects.filter(action=ApprovalsAction.APPROVED).count() == 1
    assert len(_deliver_jobs(queue)) == 1
    assert verify().intact
    assert connection.vendor == "postgresql"


def test_two_identical_requests_at_once_give_one_open_request(world, redis_queue):
    from approvals.services import promotion_request

    redis_queue("default")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            barrier.wait()
            promotion_request(
                actor=world.engineer,
                source=world.source.name,
                model=world.model.name,
                version="1",
                environment="staging",
                justification="race",
            )
            outcomes.append("created")
        except Conflict as exc:
            outcomes.append("conflict" if "already exists" in str(exc) else str(exc))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(outcomes) == ["conflict", "created"]
    assert PromotionRequest.objects.filter(status="open").count() == 1
    assert AuditEvent.objects.filter(action=ApprovalsAction.REQUEST).count() == 1
    assert verify().intact
