"""Resolving a strategy's prompts: its analysis (pinned or newest version), the defaults of its language."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select

from ibflow.core.clock import ManualClock
from ibflow.core.errors import NotFound, ValidationError
from ibflow.db.engine import SessionFactory
from ibflow.db.models.strategies import PromptTemplate, PromptVersion
from ibflow.llm.analyst import PromptText
from ibflow.llm.prompts import store
from ibflow.llm.prompts.defaults import DEFAULTS, default_name

ROLES = ("analysis", "system", "weekly", "consolidation")


def _names(texts: dict[str, PromptText]) -> dict[str, tuple[str, int | None]]:
    return {role: (t.template, t.version) for role, t in texts.items()}


def test_a_strategy_naming_no_template_gets_the_english_defaults_seeded_on_first_use(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    with sessions() as session:
        session.execute(delete(PromptTemplate))
        texts = store.resolve(session, template_id=None, version_id=None, clock=clock)
        assert _names(texts) == {role: (default_name(role, "en"), 1) for role in ROLES}
        assert texts["system"].body == DEFAULTS[("system", "en")]
        assert texts["analysis"].role == "analysis"
        count = session.scalar(select(func.count()).select_from(PromptTemplate))
        assert count == len(DEFAULTS)


def test_a_missing_default_is_created_again_and_the_others_keep_their_newest_version(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    with sessions() as session:
        store.ensure_defaults(session, clock=clock)
        store.add_version(session, name=default_name("system", "en"), body="Be brief.", clock=clock)
        session.execute(delete(PromptTemplate).where(PromptTemplate.name == default_name("weekly", "en")))
        texts = store.resolve(session, template_id=None, version_id=None, clock=clock)
        assert texts["system"].body == "Be brief."
        assert texts["system"].version == 2
        assert _names(texts)["weekly"] == (default_name("weekly", "en"), 1)
        assert texts["weekly"].body == DEFAULTS[("weekly", "en")]


def test_a_template_gives_its_newest_version_and_the_other_roles_in_its_language(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    with sessions() as session:
        store.ensure_defaults(session, clock=clock)
        first, _ = store.add_version(
            session, name="mine", body="Analyse {{ symbol }}.", role="analysis", language="zh", clock=clock
        )
        newest, _ = store.add_version(session, name="mine", body="Look at {{ symbol }}.", clock=clock)
        texts = store.resolve(session, template_id=first.template_id, version_id=None, clock=clock)
        assert _names(texts) == {
            "analysis": ("mine", 2),
            **{role: (default_name(role, "zh"), 1) for role in ROLES[1:]},
        }
        assert texts["analysis"].version_id == newest.id
        pinned = store.resolve(session, template_id=first.template_id, version_id=first.id, clock=clock)
        assert pinned["analysis"].body == "Analyse {{ symbol }}."
        assert pinned["analysis"].version_id == first.id
        assert _names(pinned)["system"] == (default_name("system", "zh"), 1)


def test_a_default_analysis_named_by_id_follows_its_newest_version(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    with sessions() as session:
        store.ensure_defaults(session, clock=clock)
        template = store.template_named(session, default_name("analysis", "zh"))
        store.add_version(session, name=template.name, body="Analyse {{ symbol }} again.", clock=clock)
        texts = store.resolve(session, template_id=template.id, version_id=None, clock=clock)
        assert _names(texts)["analysis"] == (default_name("analysis", "zh"), 2)
        assert _names(texts)["consolidation"] == (default_name("consolidation", "zh"), 1)


def test_a_template_of_another_role_or_one_that_does_not_exist_is_refused(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    with sessions() as session:
        store.ensure_defaults(session, clock=clock)
        system = store.template_named(session, default_name("system", "en"))
        with pytest.raises(ValidationError, match="has role system"):
            store.resolve(session, template_id=system.id, version_id=None, clock=clock)
        with pytest.raises(NotFound, match="does not exist"):
            store.resolve(session, template_id=10_000, version_id=None, clock=clock)
        with pytest.raises(NotFound, match="no prompt version"):
            store.resolve(session, template_id=None, version_id=10_000, clock=clock)


def test_a_default_without_any_version_is_reported(sessions: SessionFactory, clock: ManualClock) -> None:
    with sessions() as session:
        store.ensure_defaults(session, clock=clock)
        consolidation = store.template_named(session, default_name("consolidation", "en"))
        session.execute(delete(PromptVersion).where(PromptVersion.template_id == consolidation.id))
        with pytest.raises(NotFound, match="has no version"):
            store.resolve(session, template_id=None, version_id=None, clock=clock)
