"""A backtest's HTML report: one self-contained page (CSS and plots inline, no URL), opens offline.

The plots are PNGs drawn with matplotlib's Agg canvas and inlined as base64; the page is a Jinja2 template
with autoescape on, so the strategy's text and every reason in it reach the page as text, never as markup.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from jinja2 import Environment, select_autoescape
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

FILL_MODEL_NOTES = (
    "With daily data the strategy runs once per session, five minutes after the close, whatever its cron "
    "says; its orders fill from the next sessions' bars.",
    "Each session's path is open, low, high, close: limit and stop orders fill when the bar's range "
    "reaches them, at the order's price, or at the open when the session gaps through.",
    "When a position's stop and target both lie inside one bar, the stop fills first.",
    "Commissions are the paper broker's (USD 0.005 a share, at least USD 1, at most 1 % of the value); "
    "no slippage beyond gaps; dividends are not paid.",
)


@dataclass(frozen=True)
class ReportInput:
    """What a report shows: the backtest's row in the main database, and its strategy as it ran."""

    name: str
    strategy: str
    symbol: str
    first_day: str
    last_day: str
    status: str
    starting_cash: str
    data_source: str
    summary: dict[str, Any]
    equity_curve: list[dict[str, Any]]
    trades: list[dict[str, Any]]
    description: str = ""
    strategy_file: str = ""


MEASURES = (
    ("return", "return", "percent"),
    ("cagr", "CAGR", "percent"),
    ("max_drawdown", "max drawdown", "percent"),
    ("sharpe", "Sharpe", "plain"),
    ("sortino", "Sortino", "plain"),
)
TRADE_MEASURES = (
    ("final_equity", "final equity", "money"),
    ("exposure", "exposure", "percent"),
    ("trades", "trades", "count"),
    ("win_rate", "win rate", "percent"),
    ("profit_factor", "profit factor", "plain"),
    ("average_r", "average R", "plain"),
    ("net_pnl", "net P&L of trades", "money"),
    ("commissions", "commissions", "money"),
    ("executions", "executions", "count"),
    ("llm.calls", "LLM calls made", "count"),
    ("llm.cache_hits", "LLM answers from the cache", "count"),
    ("llm.input_tokens", "LLM input tokens", "count"),
    ("llm.output_tokens", "LLM output tokens", "count"),
    ("llm.cost_usd", "LLM cost (USD)", "money"),
)

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>backtest {{ r.name }}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; } td, th { padding: 2px 10px; border-bottom: 1px solid #eee; }
td.n { text-align: right; font-variant-numeric: tabular-nums; } th { text-align: left; }
img { max-width: 100%; } pre { background: #f6f6f6; padding: 8px; white-space: pre-wrap; }
.muted { color: #666; }
</style></head><body>
<h1>Backtest {{ r.name }}</h1>
<p>{{ r.strategy }} on {{ r.symbol }}, {{ r.first_day }} to {{ r.last_day }} ({{ r.status }}),
starting cash {{ r.starting_cash }}, data {{ r.data_source }}.</p>
{% if r.description %}<p class="muted">{{ r.description }}</p>{% endif %}
<h2>Summary</h2>
<table><tr><th>measure</th><th>strategy</th><th>buy and hold</th></tr>
{% for label, ours, held in measures %}<tr><td>{{ label }}</td><td class="n">{{ ours }}</td>
<td class="n">{{ held }}</td></tr>
{% endfor %}</table>
<h2>Equity against buy-and-hold</h2>
<img alt="equity curve against buy-and-hold" src="data:image/png;base64,{{ equity_png }}">
<h2>Drawdown</h2>
<img alt="drawdown" src="data:image/png;base64,{{ drawdown_png }}">
<h2>Signals by action</h2>
<table>{% for action, n in signals %}<tr><td>{{ action }}</td><td class="n">{{ n }}</td></tr>
{% else %}<tr><td>none</td></tr>{% endfor %}</table>
<h2>Trades ({{ trades|length }})</h2>
<table><tr><th>opened</th><th>closed</th><th>quantity</th><th>entry</th><th>exit</th><th>net P&amp;L</th>
<th>commissions</th><th>R</th><th>exit reason</th></tr>
{% for t in trades %}<tr><td>{{ t.opened_at }}</td><td>{{ t.closed_at }}</td>
<td class="n">{{ t.quantity }}</td><td class="n">{{ t.entry_price }}</td><td class="n">{{ t.exit_price }}</td>
<td class="n">{{ t.net_pnl }}</td><td class="n">{{ t.commissions }}</td>
<td class="n">{{ t.r_multiple or "-" }}</td><td>{{ t.exit_reason }}</td></tr>
{% endfor %}</table>
<h2>Fill model</h2>
<ul>{% for note in notes %}<li>{{ note }}</li>{% endfor %}</ul>
<p class="muted">Statistics: session returns of the equity at each decision, by empyrical-reloaded, annualised
(CAGR too) with 252 sessions a year, no risk-free rate; buy-and-hold puts the starting cash into the symbol at
the first decision's close.</p>
{% if r.strategy_file %}<h2>The strategy as it ran</h2><pre>{{ r.strategy_file }}</pre>{% endif %}
</body></html>
"""

_ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True))


def render_report(report: ReportInput) -> str:
    """Return the report's HTML page."""
    summary, held = report.summary, report.summary.get("buy_and_hold", {})
    rows = [
        (label, _format(summary.get(key), kind), _format(held.get(key), kind))
        for key, label, kind in MEASURES
    ]
    rows += [(label, _format(measure(summary, key), kind), "") for key, label, kind in TRADE_MEASURES]
    if report.equity_curve:
        rows.insert(5, ("final value", "", _format(report.equity_curve[-1]["buy_and_hold"], "money")))
    return _ENV.from_string(TEMPLATE).render(
        r=report,
        measures=rows,
        signals=sorted(summary.get("signals", {}).items()),
        trades=report.trades,
        notes=FILL_MODEL_NOTES,
        equity_png=_equity_plot(report.equity_curve, report.symbol),
        drawdown_png=_drawdown_plot(report.equity_curve),
    )


def measure(summary: dict[str, Any], key: str) -> Any:
    """The summary's value at ``key`` (``llm.calls``: a nested one); ``None`` when it has none."""
    value: Any = summary
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _format(value: Any, kind: str) -> str:
    if value is None or value == "":
        return "-"
    if kind == "percent":
        return f"{float(value) * 100:.2f} %"
    if kind == "plain":
        return f"{float(value):.2f}"
    if kind == "money":
        return f"{Decimal(str(value)):,.2f}"
    return str(value)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""matplotlib's date epoch: its date numbers are days since then."""


def _series(curve: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """The curve's times as matplotlib date numbers, and its ``key`` values."""
    days = [(datetime.fromisoformat(p["at"]) - EPOCH).total_seconds() / 86400 for p in curve]
    return days, [float(p[key]) for p in curve]


def _equity_plot(curve: list[dict[str, Any]], symbol: str) -> str:
    figure = Figure(figsize=(9, 3.6), dpi=100)
    axes = figure.add_subplot()
    times, equity = _series(curve, "equity")
    _, held = _series(curve, "buy_and_hold")
    axes.plot(times, equity, label="strategy", color="#1f5fa8")
    axes.plot(times, held, label=f"buy and hold {symbol}", color="#999999")
    axes.xaxis_date()
    axes.set_ylabel("equity")
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left")
    return _png(figure)


def _drawdown_plot(curve: list[dict[str, Any]]) -> str:
    figure = Figure(figsize=(9, 2.2), dpi=100)
    axes = figure.add_subplot()
    times, equity = _series(curve, "equity")
    peak, drawdown = 0.0, []
    for value in equity:
        peak = max(peak, value)
        drawdown.append((value / peak - 1) * 100 if peak > 0 else 0.0)
    axes.fill_between(times, drawdown, 0, color="#c0392b", alpha=0.4)
    axes.xaxis_date()
    axes.set_ylabel("drawdown %")
    axes.grid(alpha=0.3)
    return _png(figure)


def _png(figure: Figure) -> str:
    figure.autofmt_xdate()
    figure.tight_layout()
    buffer = io.BytesIO()
    FigureCanvasAgg(figure)  # the figure draws on an Agg canvas (no pyplot state, safe in threads)
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
