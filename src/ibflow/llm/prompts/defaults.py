# ruff: noqa: E501  (prose; Chinese characters count double)
"""The seeded default templates (English and Chinese), one per role; written for ibflow's signal schema."""

from __future__ import annotations

_INDICATORS = """{% for key, ind in indicators.items() %}
- {{ key }} ({{ ind.type }}): {% for name, value in ind.latest.items() %}{{ name }}={{ value }} {% endfor %}{{ "" }}
{% endfor %}"""

_MARKET = (
    """Symbol: {{ symbol }} on {{ exchange }} ({{ currency }}). Time: {{ now }}.
Last price {{ last_price }} ({{ change }}, {{ change_pct }} %) after {{ ohlcv.bars }} daily bars;
20-day high {{ ohlcv.high_20 }}, low {{ ohlcv.low_20 }}, average volume {{ ohlcv.avg_volume_20 }}.
Latest indicator values:
"""
    + _INDICATORS
)

_POSITION = """{% if position %}
Held: {{ position.quantity }} shares at {{ position.avg_cost }} (stop {{ position.stop }}, \
target {{ position.target }}).
{% else %}
No position is held.
{% endif %}"""

_ANSWER = """Allowed actions: {{ allowed_actions | join(", ") }}. Risk rules: reward/risk at least \
{{ risk.min_reward_risk }}, confidence at least {{ risk.min_confidence }}, entry within \
{{ risk.max_entry_deviation }} of the last price.
Answer with one JSON object only, matching this schema: {{ signal_schema }}
A BUY needs confidence, entry, stop_loss below the entry and take_profit above it. If the charts do not \
support a clear decision, answer HOLD; if you cannot read them, answer NO_SIGNAL."""

SYSTEM_EN = """You are a disciplined swing-trading analyst. You read daily and weekly candlestick charts and \
indicator values the way an experienced technician does, and you propose at most one long-only trade.
You never invent prices: levels come from what the charts and the numbers show. You are honest about \
uncertainty: a weak setup is HOLD, an unreadable one is NO_SIGNAL. You answer only with the JSON asked for."""

ANALYSIS_EN = (
    """Analyse {{ symbol }} for a long entry over the next days to weeks.
{% for chart in charts %}
Chart {{ loop.index }}: {{ chart.description }} ({{ chart.timeframe }}).
{% endfor %}
"""
    + _MARKET
    + _POSITION
    + """
Judge the trend (daily primary, weekly confirming), momentum, support and resistance, and volume.
"""
    + _ANSWER
)

WEEKLY_EN = (
    """Weekly confirmation for {{ symbol }}. The daily analysis said:
{{ daily_analysis }}

Look at the weekly chart: does the weekly trend confirm, contradict or stay neutral on the daily view? Name the
weekly support and resistance that matter. Answer in a few sentences of plain text.
"""
    + _MARKET
)

CONSOLIDATION_EN = (
    """Consolidate the analyses of {{ symbol }} into one signal. The daily view is primary; the weekly view
confirms or vetoes.
Daily analysis:
{{ daily_analysis }}
Weekly confirmation:
{{ weekly_analysis }}
"""
    + _MARKET
    + _POSITION
    + _ANSWER
)

SYSTEM_ZH = """你是一名纪律严明的波段交易分析师。你像经验丰富的技术分析师一样阅读日线和周线K线图以及指标数值，\
最多提出一笔只做多的交易。价格必须来自图表和数据，不可编造。对不确定性保持诚实：形态弱时回答 HOLD，无法判断时回答 \
NO_SIGNAL。只按要求回答 JSON。"""

_ANSWER_ZH = """允许的操作：{{ allowed_actions | join(", ") }}。风险规则：盈亏比至少 {{ risk.min_reward_risk }}，\
置信度至少 {{ risk.min_confidence }}，入场价与最新价偏离不超过 {{ risk.max_entry_deviation }}。
只回答一个符合此模式的 JSON 对象：{{ signal_schema }}
BUY 需要 confidence、entry、低于入场价的 stop_loss 和高于入场价的 take_profit。字段名和 action 取值保持英文；\
reasoning 可用中文。"""

_MARKET_ZH = (
    """代码：{{ symbol }}（{{ exchange }}，{{ currency }}）。时间：{{ now }}。
最新价 {{ last_price }}（{{ change }}，{{ change_pct }} %），共 {{ ohlcv.bars }} 根日K；
20日最高 {{ ohlcv.high_20 }}，最低 {{ ohlcv.low_20 }}，平均成交量 {{ ohlcv.avg_volume_20 }}。
最新指标：
"""
    + _INDICATORS
)

_POSITION_ZH = """{% if position %}
持仓：{{ position.quantity }} 股，成本 {{ position.avg_cost }}（止损 {{ position.stop }}，目标 {{ position.target }}）。
{% else %}
当前无持仓。
{% endif %}"""

ANALYSIS_ZH = (
    """分析 {{ symbol }} 未来数日至数周的做多机会。
{% for chart in charts %}
图 {{ loop.index }}：{{ chart.timeframe }}。
{% endfor %}
"""
    + _MARKET_ZH
    + _POSITION_ZH
    + "判断趋势（日线为主，周线确认）、动量、支撑与阻力以及成交量。\n"
    + _ANSWER_ZH
)

WEEKLY_ZH = (
    """{{ symbol }} 的周线确认。日线分析结论：
{{ daily_analysis }}

查看周线图：周线趋势是确认、否定还是中性？指出重要的周线支撑和阻力。用几句文字回答。
"""
    + _MARKET_ZH
)

CONSOLIDATION_ZH = (
    """把 {{ symbol }} 的分析汇总为一个信号。日线为主，周线确认或否决。
日线分析：
{{ daily_analysis }}
周线确认：
{{ weekly_analysis }}
"""
    + _MARKET_ZH
    + _POSITION_ZH
    + _ANSWER_ZH
)

DEFAULTS: dict[tuple[str, str], str] = {
    ("system", "en"): SYSTEM_EN,
    ("analysis", "en"): ANALYSIS_EN,
    ("weekly", "en"): WEEKLY_EN,
    ("consolidation", "en"): CONSOLIDATION_EN,
    ("system", "zh"): SYSTEM_ZH,
    ("analysis", "zh"): ANALYSIS_ZH,
    ("weekly", "zh"): WEEKLY_ZH,
    ("consolidation", "zh"): CONSOLIDATION_ZH,
}


def default_name(role: str, language: str) -> str:
    """Return the name of the seeded default template of ``role`` in ``language``."""
    return f"default-{role}-{language}"
