"""Log records carry the request, execution, strategy and order they were emitted for."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest

from ibflow.core.log_context import current, log_context, request_id_from
from ibflow.core.logging import HumanFormatter, JsonFormatter

LOG = logging.getLogger("ibflow.tests.context")


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    LOG.addHandler(handler)
    LOG.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        LOG.removeHandler(handler)


def _records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_records_carry_the_context_they_were_emitted_in(json_lines: io.StringIO) -> None:
    LOG.info("before")
    with log_context(execution_id=12, strategy_id=3, strategy="AAPL daily"):
        LOG.info("step")
        with log_context(client_order_id="ibf-ab12-e12-entry"):
            LOG.warning("order")
        LOG.info("after the order")
    before, step, order, after = _records(json_lines)
    assert "execution_id" not in before
    assert (step["execution_id"], step["strategy_id"], step["strategy"]) == (12, 3, "AAPL daily")
    assert "client_order_id" not in step
    assert order["client_order_id"] == "ibf-ab12-e12-entry"
    assert order["execution_id"] == 12
    assert "client_order_id" not in after
    assert current() == {}


def test_threads_keep_their_own_context(json_lines: io.StringIO) -> None:
    started = threading.Barrier(2)

    def run(execution_id: int) -> None:
        with log_context(execution_id=execution_id):
            started.wait(5)  # both inside their context at once
            LOG.info("running %s", execution_id)

    threads = [threading.Thread(target=run, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    seen = {record["message"]: record["execution_id"] for record in _records(json_lines)}
    assert seen == {"running 1": 1, "running 2": 2}


def test_human_lines_end_with_a_short_context() -> None:
    record = logging.makeLogRecord({"name": "ibflow.t", "levelname": "INFO", "msg": "placed", "created": 0})
    with log_context(execution_id=7, strategy="demo"):
        line = HumanFormatter().format(record)
    assert line == "1970-01-01T00:00:00Z INFO    ibflow.t: placed [execution=7 name=demo]"
    assert HumanFormatter().format(record).endswith("ibflow.t: placed")


def test_an_unknown_context_field_is_refused() -> None:
    with pytest.raises(ValueError, match="execution"), log_context(execution=1):
        pass


@pytest.mark.parametrize(
    ("header", "kept"),
    [
        ("3f9c2a7e-1b4d-4c1e-9a57-2f6e8b0d4c11", True),
        ("req.42:retry-1", True),
        ("", False),
        ("a" * 65, False),
        ("two words", False),
        ('"><script>', False),
        ("line\r\nbreak", False),
        (None, False),
    ],
)
def test_a_request_id_is_the_callers_only_when_it_is_a_short_plain_token(
    header: str | None, kept: bool
) -> None:
    request_id = request_id_from(header)
    assert (request_id == header) is kept
    assert 0 < len(request_id) <= 64
