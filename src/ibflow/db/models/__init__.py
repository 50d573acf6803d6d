"""ORM models: one module per area; importing this package registers every table on Base.metadata."""

from ibflow.db.models.backtests import Backtest
from ibflow.db.models.executions import (
    Chart,
    LlmCall,
    LlmResponse,
    StrategyExecution,
    TradingSignal,
    WorkflowLineage,
)
from ibflow.db.models.installation import Installation
from ibflow.db.models.market import Bar, BarCoverage, Symbol
from ibflow.db.models.notify import NotificationDelivery, NotificationTarget
from ibflow.db.models.orders import Fill, Order, OrderEvent
from ibflow.db.models.paper import PaperAccount, PaperFill, PaperOrder, PaperPosition
from ibflow.db.models.positions import PortfolioSnapshot, Position, ReconcileMismatch, Trade
from ibflow.db.models.strategies import (
    Indicator,
    NamedIndicatorConfig,
    PromptTemplate,
    PromptVersion,
    Strategy,
    StrategyIndicator,
)
from ibflow.db.models.system import (
    AppSetting,
    AuditLog,
    Event,
    EventCursor,
    GatewayPacing,
    TradingState,
    WorkerHeartbeat,
)
from ibflow.db.models.users import ApiToken, User, UserSession

__all__ = [
    "ApiToken",
    "AppSetting",
    "AuditLog",
    "Backtest",
    "Bar",
    "BarCoverage",
    "Chart",
    "Event",
    "EventCursor",
    "Fill",
    "GatewayPacing",
    "Indicator",
    "Installation",
    "LlmCall",
    "LlmResponse",
    "NamedIndicatorConfig",
    "NotificationDelivery",
    "NotificationTarget",
    "Order",
    "OrderEvent",
    "PaperAccount",
    "PaperFill",
    "PaperOrder",
    "PaperPosition",
    "PortfolioSnapshot",
    "Position",
    "PromptTemplate",
    "PromptVersion",
    "ReconcileMismatch",
    "Strategy",
    "StrategyExecution",
    "StrategyIndicator",
    "Symbol",
    "Trade",
    "TradingSignal",
    "TradingState",
    "User",
    "UserSession",
    "WorkerHeartbeat",
    "WorkflowLineage",
]
