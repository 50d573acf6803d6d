"""LLM budgets: per execution (tokens, cost, seconds) and a daily cost cap for the installation.

``check`` is asked before every call with the call's ceiling (``costs.estimate``); a call that would break
a budget is not made. The daily cap raises one ``llm.budget_reached`` event on the UTC day it is first hit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ibflow.core.errors import BudgetExceeded
from ibflow.db.events.outbox import record_event
from ibflow.db.models.executions import LlmCall
from ibflow.db.models.system import Event
from ibflow.llm.costs import CallEstimate

EVENT_KIND = "llm.budget_reached"
MIN_CALL_SECONDS = 1.0


@dataclass(frozen=True)
class Budget:
    """The limits; zero means nothing may be spent."""

    execution_tokens: int
    execution_cost: Decimal
    execution_seconds: float
    daily_cost: Decimal


@dataclass(frozen=True)
class Spent:
    """What was spent so far (cached answers cost nothing)."""

    tokens: int
    cost: Decimal
    seconds: float


def spent_by_execution(session: Session, execution_id: int | None) -> Spent:
    """Return what the execution's calls used."""
    if execution_id is None:
        return Spent(0, Decimal(0), 0.0)
    row = session.execute(
        select(
            func.coalesce(func.sum(LlmCall.input_tokens + LlmCall.output_tokens), 0),
            func.coalesce(func.sum(LlmCall.latency_ms), 0),
        ).where(LlmCall.execution_id == execution_id, LlmCall.cached.is_(False))
    ).one()
    costs = session.scalars(
        select(LlmCall.cost).where(LlmCall.execution_id == execution_id, LlmCall.cached.is_(False))
    )
    return Spent(int(row[0]), sum(costs, Decimal(0)), float(row[1]) / 1000)


def spent_today(session: Session, now: datetime) -> Decimal:
    """Return the cost of every call since the start of the UTC day (exact: summed as decimals)."""
    start = _day_start(now)
    costs = session.scalars(
        select(LlmCall.cost).where(LlmCall.created_at >= start, LlmCall.cached.is_(False))
    )
    return sum(costs, Decimal(0))


def check(
    session: Session, *, budget: Budget, estimate: CallEstimate, execution_id: int | None, now: datetime
) -> float:
    """Return the seconds the call may take; raise ``BudgetExceeded`` (with its event) if it must not run."""
    today = spent_today(session, now)
    if today + estimate.cost > budget.daily_cost:
        _once_a_day(session, now, limit=budget.daily_cost, spent=today, execution_id=execution_id)
        raise BudgetExceeded(
            "daily",
            f"the daily LLM cost cap USD {budget.daily_cost} would be exceeded "
            f"(spent {today} today, this call up to {estimate.cost})",
        )
    spent = spent_by_execution(session, execution_id)
    remaining_seconds = budget.execution_seconds - spent.seconds
    problem = None
    if spent.tokens + estimate.tokens > budget.execution_tokens:
        problem = f"tokens: {spent.tokens} used + up to {estimate.tokens} > {budget.execution_tokens}"
        limit, used = str(budget.execution_tokens), str(spent.tokens)
    elif spent.cost + estimate.cost > budget.execution_cost:
        problem = f"cost: USD {spent.cost} used + up to {estimate.cost} > {budget.execution_cost}"
        limit, used = str(budget.execution_cost), str(spent.cost)
    elif remaining_seconds < MIN_CALL_SECONDS:
        problem = f"time: {spent.seconds:.1f} s used of {budget.execution_seconds:g} s"
        limit, used = f"{budget.execution_seconds:g}", f"{spent.seconds:.1f}"
    if problem is not None:
        record_event(
            session,
            kind=EVENT_KIND,
            at=now,
            severity="warning",
            execution_id=execution_id,
            message=f"LLM budget of the execution reached ({problem}); the call was not made",
            payload={"scope": "execution", "limit": limit, "spent": used},
        )
        raise BudgetExceeded("execution", f"the execution's LLM budget would be exceeded ({problem})")
    return min(estimate.seconds, remaining_seconds)


def _once_a_day(
    session: Session, now: datetime, *, limit: Decimal, spent: Decimal, execution_id: int | None
) -> None:
    events = session.scalars(
        select(Event.payload).where(Event.kind == EVENT_KIND, Event.created_at >= _day_start(now))
    )
    if any((payload or {}).get("scope") == "daily" for payload in events):
        return
    record_event(
        session,
        kind=EVENT_KIND,
        at=now,
        severity="warning",
        execution_id=execution_id,
        message=f"the daily LLM cost cap (USD {limit}) is reached: no more LLM calls today (UTC)",
        payload={"scope": "daily", "limit": str(limit), "spent": str(spent)},
    )


def _day_start(now: datetime) -> datetime:
    return datetime.combine(now.astimezone(UTC).date(), time(0), tzinfo=UTC)
