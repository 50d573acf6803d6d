"""Apply strategy files (create or update by name, with the changes and an audit row) and change states.

For the CLI, the HTTP API and the web app alike: functions take the session first and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ibflow.core.clock import Clock
from ibflow.core.errors import ValidationError
from ibflow.db.models.orders import Order
from ibflow.db.models.positions import Position
from ibflow.db.models.strategies import Strategy
from ibflow.db.states import LIVE_ORDER_STATES, OrderState, PositionStatus, StrategyMode, StrategyState
from ibflow.trading.audit import person_actor, record_audit
from ibflow.workflow.runtime.schedule import next_run_after
from ibflow.workflow.strategies.checks import check_strategy
from ibflow.workflow.strategies.files import StrategyFile, read_strategy
from ibflow.workflow.strategies.lookup import set_strategy_state
from ibflow.workflow.strategies.stored import file_of, flatten, store_indicators, store_prompt

if TYPE_CHECKING:
    from ibflow.marketdata.contracts import ContractService


@dataclass(frozen=True)
class Change:
    """One field that differs: its path in the file, and the old and new values as a user reads them."""

    field: str
    old: str
    new: str

    def __str__(self) -> str:
        return f"{self.field}: {self.old} -> {self.new}"


@dataclass
class Plan:
    """What applying a file would do: the checked file, the strategy it updates (None: create), changes."""

    file: StrategyFile
    existing: Strategy | None
    changes: list[Change] = field(default_factory=list)

    @property
    def creates(self) -> bool:
        """Tell whether applying makes a new strategy."""
        return self.existing is None


@dataclass(frozen=True)
class Applied:
    """What ``apply_strategy_file`` did."""

    strategy: Strategy
    created: bool
    changes: list[Change]


@dataclass(frozen=True)
class StateChange:
    """What ``change_state`` did; ``open_positions`` still held by the strategy (protection keeps working)."""

    strategy: Strategy
    before: StrategyState
    after: StrategyState
    open_positions: int

    @property
    def changed(self) -> bool:
        """Tell whether the state moved."""
        return self.before is not self.after


def plan_strategy_file(
    session: Session, *, text: str, fmt: str, contracts: ContractService, clock: Clock
) -> Plan:
    """Check a file (every problem at once) and say what applying it would change.

    It writes nothing but the default prompt templates when missing (a file may name them on a database
    that was only migrated); a caller that only validates rolls back.
    """
    from ibflow.llm.prompts.store import ensure_defaults

    ensure_defaults(session, clock=clock)
    parsed, problems = read_strategy(text, fmt)
    existing = session.scalars(select(Strategy).where(Strategy.name == parsed.name.strip())).one_or_none()
    checked = check_strategy(
        session,
        parsed,
        problems=problems,
        contracts=contracts,
        current_conid=existing.conid if existing else None,
    )
    plan = Plan(checked, existing)
    if existing is not None:
        before, after = flatten(file_of(session, existing)), flatten(checked)
        keys = list(dict.fromkeys([*before, *after]))
        none = "(none)"
        plan.changes = [
            Change(key, before.get(key, none), after.get(key, none))
            for key in keys
            if before.get(key) != after.get(key)
        ]
        _refuse_moving_a_busy_strategy(session, existing, plan.changes)
    return plan


def apply_strategy_file(
    session: Session,
    *,
    text: str,
    fmt: str,
    contracts: ContractService,
    clock: Clock,
    actor: str,
    owner_id: int | None = None,
) -> Applied:
    """Create the strategy the file names, or update it to match the file; audited when anything changed.

    A new strategy starts active. ``ValidationError`` lists every bad field; nothing is written then.
    """
    actor = person_actor(actor)
    plan = plan_strategy_file(session, text=text, fmt=fmt, contracts=contracts, clock=clock)
    now = clock.now()
    if plan.existing is not None and not plan.changes:
        return Applied(plan.existing, created=False, changes=[])
    wanted = plan.file
    strategy = plan.existing
    if strategy is None:
        strategy = Strategy(owner_id=owner_id, name=wanted.name, state=StrategyState.ACTIVE, created_at=now)
        session.add(strategy)
    reschedule = plan.creates or any(c.field.startswith("schedule.") for c in plan.changes)
    _write(strategy, wanted, now)
    session.flush()
    if reschedule and strategy.state is StrategyState.ACTIVE:
        strategy.next_run_at = next_run_after(wanted.schedule.cron, wanted.schedule.timezone, now)
    store_indicators(session, strategy, wanted.indicators, now=now, owner_id=owner_id)
    store_prompt(session, strategy, wanted.analyst, clock=clock)
    changes = plan.changes or [Change(k, "(none)", v) for k, v in flatten(wanted).items()]
    record_audit(
        session,
        actor=actor,
        action="strategy.created" if plan.creates else "strategy.updated",
        at=now,
        target_type="strategy",
        target_id=strategy.id,
        before={} if plan.creates else {c.field: c.old for c in changes},
        after={c.field: c.new for c in changes},
        detail="; ".join(map(str, changes)),
    )
    session.flush()
    return Applied(strategy, created=plan.creates, changes=changes)


def _write(strategy: Strategy, wanted: StrategyFile, now: datetime) -> None:
    if wanted.conid is None:  # check_strategy always resolves one; keep mypy and readers sure
        raise ValidationError("the strategy file has no contract", {"symbol": "give the symbol to trade"})
    risk = dict(wanted.risk)
    strategy.description = wanted.description
    strategy.conid, strategy.symbol = wanted.conid, wanted.symbol
    strategy.timeframes = list(wanted.timeframes)
    strategy.analyst = wanted.analyst.provider
    strategy.llm_model, strategy.analysis_mode = wanted.analyst.model, wanted.analyst.analysis_mode
    strategy.cron, strategy.timezone = wanted.schedule.cron, wanted.schedule.timezone
    strategy.market_hours_only = wanted.schedule.market_hours_only
    strategy.mode = StrategyMode(wanted.mode)
    strategy.risk_per_trade = risk["risk_per_trade"]
    strategy.max_position_value = risk["max_position_value"]
    strategy.max_quantity = risk["max_quantity"]
    strategy.max_entries_per_day = int(risk["max_entries_per_day"])
    strategy.min_reward_risk = risk["min_reward_risk"]
    strategy.min_confidence = risk["min_confidence"]
    strategy.max_entry_deviation = risk["max_entry_deviation"]
    strategy.updated_at = now


def _refuse_moving_a_busy_strategy(session: Session, strategy: Strategy, changes: list[Change]) -> None:
    moving = [c.field for c in changes if c.field in {"symbol", "conid", "mode"}]
    if not moving:
        return
    held = open_positions(session, strategy.id)
    working = session.scalar(
        select(func.count(Order.id)).where(
            Order.strategy_id == strategy.id,
            Order.state.in_([*LIVE_ORDER_STATES, OrderState.INTENT]),
        )
    )
    if not held and not working:
        return
    what = f"{held} open position(s) and {working} working order(s)"
    problem = (
        f"cannot change while {strategy.name!r} has {what}: close them first "
        f"(ibflow position close {strategy.name}) or apply the file under a new name"
    )
    raise ValidationError(f"{', '.join(moving)}: {problem}", dict.fromkeys(moving, problem))


def open_positions(session: Session, strategy_id: int) -> int:
    """Count the open positions a strategy holds."""
    return int(
        session.scalar(
            select(func.count(Position.id)).where(
                Position.strategy_id == strategy_id, Position.status == PositionStatus.OPEN
            )
        )
        or 0
    )


_ACTIONS = {
    StrategyState.ACTIVE: "strategy.resumed",
    StrategyState.PAUSED: "strategy.paused",
    StrategyState.ARCHIVED: "strategy.archived",
}


def change_state(
    session: Session,
    strategy: Strategy,
    state: StrategyState,
    *,
    clock: Clock,
    actor: str,
    reason: str = "",
) -> StateChange:
    """Pause, resume or archive a strategy, audited; a state it already has changes nothing.

    Only an active strategy is scheduled: pausing or archiving clears its next run, resuming computes
    it from now. Positions it holds keep their stop and target either way.
    """
    actor = person_actor(actor)
    before = strategy.state
    if before is not state:
        now = clock.now()
        set_strategy_state(session, strategy, state, clock=clock)
        if state is not StrategyState.ACTIVE:
            strategy.next_run_at = None
        record_audit(
            session,
            actor=actor,
            action=_ACTIONS[state],
            at=now,
            target_type="strategy",
            target_id=strategy.id,
            before={"state": before.value},
            after={"state": state.value, "next_run_at": strategy.next_run_at},
            detail=f"{strategy.name}: {before.value} -> {state.value}" + (f" ({reason})" if reason else ""),
        )
        session.flush()
    return StateChange(strategy, before, state, open_positions(session, strategy.id))
