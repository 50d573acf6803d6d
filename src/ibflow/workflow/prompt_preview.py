"""Render a strategy's prompts now, as its next execution would (``ibflow prompt render --strategy``)."""

from __future__ import annotations

from sqlalchemy import select

from ibflow.core.ids import Conid
from ibflow.db.models.strategies import Indicator, Strategy, StrategyIndicator
from ibflow.db.states import StrategyMode
from ibflow.indicators.compute import IndicatorConfig, compute_all
from ibflow.llm.analyst import AnalystInput
from ibflow.llm.prompts import store as prompts
from ibflow.llm.prompts.render import render
from ibflow.llm.prompts.variables import build_variables
from ibflow.marketdata.bars import BarService
from ibflow.marketdata.contracts import ContractService
from ibflow.workflow.deps import WorkflowDeps
from ibflow.workflow.steps.data import strategy_snapshot
from ibflow.workflow.steps.decide import SERIES_TAIL, _latest


def preview_prompts(
    deps: WorkflowDeps, strategy: Strategy, *, version_id: int | None = None, draft: str | None = None
) -> dict[str, str]:
    """Return each role's rendered text for ``strategy`` on the market as of now (nothing is stored).

    ``draft`` is an analysis text not saved yet (the editor's preview): checked as a saved version would be,
    then rendered in place of the strategy's analysis template.
    """
    from dataclasses import replace

    from ibflow.llm.analyst import IndicatorReading
    from ibflow.llm.prompts.render import validate
    from ibflow.llm.prompts.variables import allowed_for

    if draft is not None:
        validate(draft, allowed_for("analysis"))

    handle = deps.broker_for(StrategyMode(strategy.mode))
    with deps.sessions() as session:
        indicators = list(
            session.scalars(
                select(Indicator)
                .join(StrategyIndicator, StrategyIndicator.indicator_id == Indicator.id)
                .where(StrategyIndicator.strategy_id == strategy.id)
                .order_by(StrategyIndicator.position)
            )
        )
        snapshot = strategy_snapshot(strategy, indicators)
        contract = ContractService(handle.broker, deps.cache, deps.clock).details(
            session, Conid(strategy.conid)
        )
        now = deps.clock.now()
        daily = BarService(handle.broker, deps.clock).daily_bars(
            session, conid=contract.conid, as_of=now, lookback_days=450
        )
        configs = [IndicatorConfig(i.name, i.type, i.params) for i in indicators]
        outputs = compute_all(daily.frame, configs)
        readings = [
            IndicatorReading(
                c.key,
                c.type,
                dict(c.params),
                _latest(outputs[c.key]),
                {k: [float(x) for x in v[-SERIES_TAIL:]] for k, v in outputs[c.key].items()},
            )
            for c in configs
        ]
        request = AnalystInput(
            strategy_name=strategy.name,
            symbol=strategy.symbol,
            as_of=now,
            last_price=handle.broker.quote(contract.conid).last,
            daily=daily.frame,
            indicators=readings,
        )
        texts = prompts.resolve(
            session,
            template_id=strategy.prompt_template_id,
            version_id=version_id or strategy.prompt_version_id,
            clock=deps.clock,
        )
        session.rollback()  # a preview stores nothing (not even cached bars or seeded defaults)
    if draft is not None:
        texts["analysis"] = replace(texts["analysis"], body=draft, version_id=None, version=None)
    context = {
        "exchange": contract.exchange,
        "currency": contract.currency,
        "strategy": {
            "name": strategy.name,
            "timeframes": list(strategy.timeframes),
            "mode": snapshot["mode"],
            "analysis_mode": strategy.analysis_mode,
        },
        "risk": {k: v for k, v in snapshot["risk"].items() if k != "max_entries_per_day"},
    }
    variables = {
        **build_variables(request, context),
        "daily_analysis": "(daily analysis)",
        "weekly_analysis": "(weekly confirmation)",
    }
    return {role: render(text.body, variables) for role, text in texts.items()}
