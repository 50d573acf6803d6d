"""Build the ``ibkr`` broker from settings (the composition root calls this; nothing else should)."""

from __future__ import annotations

from collections.abc import Callable

from ibflow.brokers.ibkr.broker import IbkrBroker
from ibflow.brokers.ibkr.http import GatewayHttp, Pacer
from ibflow.brokers.ibkr.questions import QuestionPolicy
from ibflow.core.clock import Clock
from ibflow.core.errors import ConfigurationError
from ibflow.core.ids import AccountId
from ibflow.core.settings import BrokerSettings


def question_ids(text: str) -> frozenset[str]:
    """The allow-list setting as a set of message ids (``o163``, ``p12``...)."""
    return frozenset(part.strip() for part in text.split(",") if part.strip())


def ibkr_broker(
    settings: BrokerSettings,
    *,
    clock: Clock,
    pacer: Pacer,
    allowed_questions: Callable[[], frozenset[str]] | None = None,
) -> IbkrBroker:
    """The broker for ``IBFLOW_BROKER=ibkr``; one line of error for a setting that is missing.

    ``allowed_questions`` reads the run-time allow-list at each question (default: the environment's).
    """
    if not settings.ibkr_account_id:
        raise ConfigurationError("IBFLOW_BROKER=ibkr needs IBFLOW_IBKR_ACCOUNT_ID (the account to trade)")
    verify: bool | str = str(settings.ibkr_ca_file) if settings.ibkr_ca_file else settings.ibkr_verify_tls
    http = GatewayHttp(
        settings.ibkr_base_url, verify=verify, timeout=settings.ibkr_timeout_seconds, pacer=pacer
    )
    return IbkrBroker(
        http,
        account_id=AccountId(settings.ibkr_account_id),
        clock=clock,
        questions=QuestionPolicy(allowed_questions or question_ids(settings.ibkr_question_allow_list)),
        take_over_competing=settings.ibkr_take_over_competing,
        live_account_allowed=settings.ibkr_live_account_allowed,
    )
