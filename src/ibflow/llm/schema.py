"""The signal's JSON schema as sent to providers (strict: every key present, null where not applicable)."""

from __future__ import annotations

import json
from typing import Any

SIGNAL_TOOL_NAME = "record_signal"

SIGNAL_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "action",
        "confidence",
        "entry",
        "stop_loss",
        "take_profit",
        "timeframe",
        "reasoning",
        "key_factors",
        "valid_for_minutes",
    ],
    "properties": {
        "action": {"type": "string", "enum": ["BUY", "SELL", "HOLD", "NO_SIGNAL"]},
        "confidence": {"type": ["number", "null"], "description": "0..1"},
        "entry": {"type": ["number", "null"], "description": "limit price of a BUY"},
        "stop_loss": {"type": ["number", "null"], "description": "below the entry"},
        "take_profit": {"type": ["number", "null"], "description": "above the entry"},
        "timeframe": {"type": ["string", "null"], "enum": ["1d", "1w", None]},
        "reasoning": {"type": "string"},
        "key_factors": {"type": "array", "items": {"type": "string"}},
        "valid_for_minutes": {"type": ["integer", "null"], "description": "how long the signal holds"},
    },
}


def schema_text() -> str:
    """Return the schema as compact JSON, for prompts of endpoints without structured output."""
    return json.dumps(SIGNAL_JSON_SCHEMA, separators=(",", ":"))
