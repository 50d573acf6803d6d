"""The lineage viewer: one execution's 11 steps, timeline, details, the strategy's step statistics.

``/lineage?strategy=ID&execution=ID`` is deep-linkable: an execution names its strategy; a strategy alone
shows its newest execution; neither shows the newest execution of all. Reads go through the queries the API's
lineage endpoints use (``execution_detail``, ``step_statistics``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from ibflow.api.auth import Principal, container
from ibflow.api.deps import ReadSessionDep
from ibflow.core.ids import StrategyId
from ibflow.db.states import StepStatus
from ibflow.web.layout import page_context
from ibflow.web.pages import lineage_parts as parts
from ibflow.web.session import PageCaller
from ibflow.web.templating import templates
from ibflow.workflow.lineage import step_statistics
from ibflow.workflow.queries import lineage_view as views
from ibflow.workflow.queries.execution_detail import execution_detail

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
FINISHED = {"succeeded", "failed", "skipped", "interrupted"}
STATISTICS_RUNS = 200
"""The step statistics cover the strategy's newest 200 executions (the API's
``/lineage/step/NAME/statistics?days=`` gives any window): recent behaviour is what a trader compares a run
with, and the page stays fast on a long history (over all of it, some 2,500 runs, it took 230 ms)."""


@router.get("/lineage")
def lineage(
    request: Request,
    caller: PageCaller,
    db: ReadSessionDep,
    strategy: str | None = None,
    execution: str | None = None,
) -> Response:
    """One execution step by step; which one from ``execution``, else ``strategy``'s newest."""
    strategy_id, execution_id = _number(strategy), _number(execution)
    if (strategy and strategy_id is None) or (execution and execution_id is None):
        return _missing(request, caller, db, "A strategy or execution is a whole number (an id).", 400)
    if execution_id is not None:
        strategy_id = views.strategy_of(db, execution_id)
        if strategy_id is None:
            return _missing(request, caller, db, f"There is no execution {execution_id}.", 404)
    else:
        execution_id = views.latest_execution(db, strategy_id)
        if strategy_id is None and execution_id is not None:
            strategy_id = views.strategy_of(db, execution_id)
    choices = views.strategy_choices(db)
    if strategy_id is not None and strategy_id not in dict(choices):
        return _missing(request, caller, db, f"There is no strategy {strategy_id}.", 404)
    values: dict[str, Any] = {
        "strategies": choices,
        "strategy_id": strategy_id,
        "executions": views.execution_choices(db, strategy_id) if strategy_id is not None else [],
        "execution_id": execution_id,
        "view": _execution(db, execution_id) if execution_id is not None else None,
        "statistics": _statistics(request, db, strategy_id),
        "statistics_runs": STATISTICS_RUNS,
        "title": "Lineage",
    }
    return templates.TemplateResponse(
        request, "lineage/page.html", page_context(request, caller, db, **values, **_helpers())
    )


def _number(text: str | None) -> int | None:
    if text is None or text == "":
        return None
    plain = text.isascii() and text.isdigit() and len(text) <= 18  # no "²", no 10**100
    return int(text) if plain and int(text) > 0 else None


def _execution(db: Session, execution_id: int) -> dict[str, Any]:
    detail = execution_detail(db, execution_id)
    starts = views.step_starts(db, execution_id)
    failed = next((s for s in detail.steps if s.status == StepStatus.FAILED.value), None)
    risk_step = next((s for s in detail.steps if s.name == "size_and_check_risk"), None)
    decision = next(
        (
            found
            for found in (risk_step.output if risk_step else None, detail.risk)
            if isinstance(found, dict) and "allowed" in found
        ),
        None,
    )
    return {
        "detail": detail,
        "bars": {bar.index: bar for bar in parts.timeline(starts.values())},
        "total_ms": sum(s.duration_ms for s in detail.steps),
        "failed": failed,
        "finished": detail.status in FINISHED,
        "chart_sizes": views.chart_sizes(db, execution_id),
        "llm_texts": views.llm_texts(db, execution_id),
        "decision": decision,
        "checks": views.risk_checks(decision),
    }


def _statistics(request: Request, db: Session, strategy_id: int | None) -> list[Any]:
    if strategy_id is None:
        return []
    return step_statistics(
        db, now=container(request).clock.now(), strategy_id=StrategyId(strategy_id), last_runs=STATISTICS_RUNS
    )


def _helpers() -> dict[str, Any]:
    return {
        "summary": parts.summary,
        "duration": parts.duration,
        "step_title": parts.step_title,
        "pretty_json": parts.pretty_json,
        "reward_risk": parts.reward_risk,
        "price": parts.price,
        "quantity": parts.quantity,
        "timeline_width": parts.TIMELINE_WIDTH,
    }


def _missing(request: Request, caller: Principal, db: Session, message: str, status: int) -> Response:
    return templates.TemplateResponse(
        request,
        "lineage/missing.html",
        page_context(request, caller, db, title="Lineage", message=message),
        status_code=status,
    )
