"""schemathesis against the API's own OpenAPI document, over real HTTP (uvicorn on a loopback port).

An admin's bearer token calls every operation with generated inputs on a fresh database of its own: no
answer may be a 5xx, and every documented response must match its schema. Operations that would end the
run's own login or stop the run are left out, by name, below. The number of examples is bounded (the tier
budget in ``.ci/tiers`` bounds the time).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from tests.ports import free_port

from ibflow import bootstrap
from ibflow.api.server import ApiServer
from ibflow.core.clock import ManualClock
from ibflow.core.settings import ChartSettings, DatabaseSettings
from ibflow.db.states import UserRole
from ibflow.users.service import create_user
from ibflow.users.tokens import create_token
from ibflow.workflow.runtime.runner import InlineRunner
from ibflow.workflow.runtime.service import InlineService
from ibflow.workflow.strategies.demo import seed_demo

pytestmark = pytest.mark.integration
EXAMPLES = 40
EXCLUDED = {
    ("POST", "/api/v1/auth/logout"),  # would end the run's own login
    ("POST", "/api/v1/auth/logout-everywhere"),  # ends every login, the run's token's user included
    ("PATCH", "/api/v1/users/{username}"),  # could disable or demote the run's own admin
    ("DELETE", "/api/v1/tokens/{token_id}"),  # could revoke the run's own token (ids are small numbers)
    ("POST", "/api/v1/trading/flatten"),  # halts trading for the rest of the run
    ("GET", "/api/v1/events"),  # a stream that stays open: tested in test_events_stream.py
    ("POST", "/api/v1/notify/test"),  # sends to whatever URL it is given: tested in test_notify_api.py
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    folder = tmp_path_factory.mktemp("schemathesis")
    from ibflow.db.migrate import upgrade

    url = f"sqlite:///{folder / 'ibflow.db'}"
    upgrade(url)
    settings_ = bootstrap.Settings(
        database=DatabaseSettings(database_url=url, data_dir=folder),
        charts=ChartSettings(charts_dir=folder / "charts"),
    )
    clock = ManualClock(datetime(2026, 3, 3, 15, 0, tzinfo=UTC))
    container = bootstrap.build(settings_, clock)
    seed_demo(container.sessions, contracts=container.contract_service(), clock=clock)
    with container.sessions() as session:
        owner = create_user(
            session, username="fuzzer", password="fuzzer password 1", role=UserRole.ADMIN, clock=clock
        )
        token = create_token(session, user=owner, name="schemathesis", clock=clock).token
        session.commit()
    executor = container.executor()
    runner = InlineRunner(executor.run, workers=1)  # as `ibflow serve`: run requests reach real workers
    service = InlineService(
        sessions=container.sessions, clock=clock, runner=runner, queue_manual=executor.create_manual
    )
    server = ApiServer(container, host="127.0.0.1", port=free_port(), run_now=service.run_now)
    server.start()
    yield server.url, token
    server.stop()
    runner.shutdown()
    container.engine.dispose()


@pytest.fixture(scope="module")
def api_schema(served: tuple[str, str]) -> schemathesis.BaseSchema:
    url, _ = served
    schema = schemathesis.openapi.from_url(f"{url}/api/v1/openapi.json")
    return schema.exclude(func=lambda ctx: (ctx.operation.method.upper(), ctx.operation.path) in EXCLUDED)


def test_no_server_error_and_every_documented_answer_matches_its_schema(
    api_schema: schemathesis.BaseSchema, served: tuple[str, str]
) -> None:
    """Each operation in turn, ``EXAMPLES`` generated cases each; every failing operation is reported."""
    headers = {"Authorization": f"Bearer {served[1]}"}
    failures: dict[str, str] = {}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 20
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error, response_schema_conformance])

        try:
            call()
        except (Exception, BaseExceptionGroup) as exc:  # every operation's failure, then fail once
            failures[f"{operation.method.upper()} {operation.path}"] = str(exc)[:2000]
    assert not failures, "\n\n".join(f"{name}:\n{text}" for name, text in failures.items())


def test_the_excluded_operations_exist(api_schema: schemathesis.BaseSchema, served: tuple[str, str]) -> None:
    """An exclusion that names nothing would hide a renamed route from the run."""
    import httpx2

    document = httpx2.get(f"{served[0]}/api/v1/openapi.json", timeout=10).json()
    operations = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    assert operations >= EXCLUDED
    del api_schema
