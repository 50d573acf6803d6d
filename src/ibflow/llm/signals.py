"""The signal schema and its parser: anything unparseable or incomplete becomes NO_SIGNAL with the reason.

Parsing only checks shape (the fields a BUY needs are there, numbers are numbers, confidence is 0..1). The
business checks — stop and target on the right sides, reward/risk, minimum confidence, expiry — are the
trading core's risk checks, judged once, with a reason code.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ibflow.core.clock import ensure_utc
from ibflow.db.states import SignalAction

MAX_REASONING_CHARS = 4000
_FENCE = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.DOTALL | re.IGNORECASE)


class SignalSchema(BaseModel):
    """What an analyst must answer, as JSON."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    action: SignalAction
    confidence: Decimal | None = Field(default=None, ge=0, le=1)
    entry: Decimal | None = Field(default=None, gt=0)
    stop_loss: Decimal | None = Field(default=None, gt=0)
    take_profit: Decimal | None = Field(default=None, gt=0)
    timeframe: str | None = None
    reasoning: str = ""
    key_factors: list[str] = Field(default_factory=list)
    expires_at: datetime | None = None
    valid_for_minutes: int | None = Field(default=None, gt=0, le=60 * 24 * 7)

    @field_validator("action", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper().replace(" ", "_") if isinstance(value, str) else value


@dataclass(frozen=True)
class ParsedSignal:
    """A signal as ibflow keeps it; ``no_signal_reason`` says why a reply became NO_SIGNAL."""

    action: SignalAction
    raw_text: str
    confidence: Decimal | None = None
    entry: Decimal | None = None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    timeframe: str | None = None
    reasoning: str = ""
    key_factors: tuple[str, ...] = field(default_factory=tuple)
    expires_at: datetime | None = None
    no_signal_reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready view (decimals and times as strings) for lineage."""
        return {
            "action": self.action.value,
            "confidence": _s(self.confidence),
            "entry": _s(self.entry),
            "stop_loss": _s(self.stop_loss),
            "take_profit": _s(self.take_profit),
            "timeframe": self.timeframe,
            "reasoning": self.reasoning,
            "key_factors": list(self.key_factors),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "no_signal_reason": self.no_signal_reason,
        }


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def no_signal(raw_text: str, reason: str) -> ParsedSignal:
    """Return the NO_SIGNAL that stands for a reply ibflow cannot act on."""
    return ParsedSignal(action=SignalAction.NO_SIGNAL, raw_text=raw_text, no_signal_reason=reason)


def extract_json(raw_text: str) -> dict[str, Any] | None:
    """Find the JSON object in a reply: the whole text, a fenced block, or the outermost braces."""
    candidates = [raw_text.strip()]
    candidates += _FENCE.findall(raw_text)
    first, last = raw_text.find("{"), raw_text.rfind("}")
    if 0 <= first < last:
        candidates.append(raw_text[first : last + 1])
    for candidate in candidates:
        try:
            value = json.loads(candidate, parse_float=Decimal)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def parse_signal(raw_text: str, *, now: datetime) -> ParsedSignal:
    """Parse an analyst's reply; never raises, never turns a failure into HOLD."""
    data = extract_json(raw_text)
    if data is None:
        return no_signal(raw_text, "no JSON object found in the reply")
    try:
        schema = SignalSchema.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'reply'}: {e['msg']}" for e in exc.errors())
        return no_signal(raw_text, f"reply does not match the signal schema: {problems}")
    if schema.action is SignalAction.NO_SIGNAL:
        return no_signal(raw_text, "the analyst returned NO_SIGNAL")
    missing = _missing_fields(schema)
    if missing:
        return no_signal(raw_text, f"{schema.action.value} is incomplete: missing {', '.join(missing)}")
    expires_at = schema.expires_at
    if expires_at is not None and (expires_at.tzinfo is None or expires_at.utcoffset() is None):
        return no_signal(raw_text, "expires_at has no time zone")
    if expires_at is None and schema.valid_for_minutes is not None:
        expires_at = now + timedelta(minutes=schema.valid_for_minutes)
    return ParsedSignal(
        action=schema.action,
        raw_text=raw_text,
        confidence=schema.confidence,
        entry=schema.entry,
        stop_loss=schema.stop_loss,
        take_profit=schema.take_profit,
        timeframe=schema.timeframe,
        reasoning=schema.reasoning[:MAX_REASONING_CHARS],
        key_factors=tuple(schema.key_factors),
        expires_at=ensure_utc(expires_at) if expires_at else None,
    )


def _missing_fields(schema: SignalSchema) -> list[str]:
    required = {
        SignalAction.BUY: ("confidence", "entry", "stop_loss", "take_profit"),
        SignalAction.SELL: ("confidence",),
        SignalAction.HOLD: (),
    }[schema.action]
    return [name for name in required if getattr(schema, name) is None]
