"""The shared pacer keeps two OS processes together within the gateway's limits, on SQLite and PostgreSQL.

Each process makes its own engine and records the wall time at which each ``acquire`` let it go (when it
would send). The checks are the gateway's own, on the limits without our margin: never two requests to a
1-per-N endpoint closer than N seconds, never more than the global count in a 1-second window, nothing
inside a penalty box another process was told of. The same checks run against a per-process pacer (what
rule 4 forbids) to show they catch it. Lower bounds only: a slow machine makes gaps wider, never narrower.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import time
from collections.abc import Callable
from datetime import timedelta
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ibflow.brokers.ibkr.http import GatewayHttp, Pacer, Retry
from ibflow.brokers.ibkr.pacing import DEFAULT_RULES, PacingRules, Rule, SharedPacer
from ibflow.core.errors import BrokerError, RateLimited
from ibflow.db.engine import make_engine
from ibflow.db.models.system import GatewayPacing

pytestmark = pytest.mark.integration

LIVE_ORDERS = "/iserver/account/orders"
PLACE = "/iserver/account/DU123/orders"  # an id in the path: the global limit only
ACCOUNTS = "/iserver/accounts"  # no endpoint limit
GLOBAL_PER_SECOND = 20
ENDPOINT_EVERY = 0.3
TEST_RULES = PacingRules(
    global_per_seconds=1 / GLOBAL_PER_SECOND,
    endpoints=(Rule("live orders", LIVE_ORDERS, ENDPOINT_EVERY),),
)
"""Small spacings so the tests run in seconds: 20 requests a second, live orders 1 per 0.3 s (+10% each)."""

SPAWN = multiprocessing.get_context("spawn")


class InMemoryPacer:
    """The broken pacer rule 4 forbids: the same spacings, kept in this process only."""

    def __init__(self, rules: PacingRules) -> None:
        self._rules = rules
        self._next: dict[str, float] = {}

    def acquire(self, path: str) -> None:
        rule = self._rules.rule_for(path)
        keys = {"global": self._rules.global_spacing}
        if rule:
            keys[rule.key] = rule.spacing
        now = time.time()
        slot = max([now, self._next.get("penalty", 0.0)] + [self._next.get(k, 0.0) for k in keys])
        for key, spacing in keys.items():
            self._next[key] = slot + spacing
        time.sleep(max(0.0, slot - now))

    def penalized(self, path: str) -> None:
        del path
        self._next["penalty"] = time.time() + 1.0


def _pacer(kind: str, url: str, penalty_seconds: float = 1.0) -> Pacer:
    if kind == "memory":
        return InMemoryPacer(TEST_RULES)
    return SharedPacer(make_engine(url), TEST_RULES, penalty_seconds=penalty_seconds)


def _burst(kind: str, url: str, barrier: Barrier, out: str, rounds: int) -> None:
    pacer = _pacer(kind, url)
    sends: list[tuple[str, float]] = []
    barrier.wait()
    for i in range(rounds):
        live = f"{LIVE_ORDERS}?force=true" if i % 2 else LIVE_ORDERS  # the query string is the same endpoint
        for path in (live, ACCOUNTS, PLACE, ACCOUNTS, PLACE):
            pacer.acquire(path)
            sends.append((path, time.time()))
    Path(out).write_text(json.dumps(sends))


def _penalize_later(kind: str, url: str, barrier: Barrier, out: str, delay: float) -> None:
    pacer = _pacer(kind, url)
    barrier.wait()
    time.sleep(delay)
    before = time.time()
    pacer.penalized(LIVE_ORDERS)
    after = time.time()
    Path(out).write_text(json.dumps({"before": before, "after": after}))


def _keep_asking(kind: str, url: str, barrier: Barrier, out: str, seconds: float) -> None:
    pacer = _pacer(kind, url)
    calls: list[tuple[float, float]] = []
    barrier.wait()
    end = time.time() + seconds
    while time.time() < end:
        asked = time.time()
        pacer.acquire(ACCOUNTS)
        calls.append((asked, time.time()))
    Path(out).write_text(json.dumps(calls))


def _run(*targets: tuple[Any, tuple[Any, ...]], tmp_path: Path) -> list[Any]:
    """Run each target in a spawned process behind one barrier; return what each wrote."""
    barrier = SPAWN.Barrier(len(targets))
    outs = [tmp_path / f"out-{i}.json" for i in range(len(targets))]
    procs = [
        SPAWN.Process(target=target, args=(*args[:2], barrier, str(out), *args[2:]))
        for (target, args), out in zip(targets, outs, strict=True)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    return [json.loads(out.read_text()) for out in outs]


def _sends(written: list[list[Any]]) -> list[tuple[str, float]]:
    return [(str(path), float(sent)) for path, sent in written]


def pacing_violations(sends: list[tuple[str, float]]) -> list[str]:
    """What the gateway would count as a breach (limits without our margin) in the merged send times."""
    found = []
    endpoint = sorted(t for path, t in sends if TEST_RULES.rule_for(path))
    found += [
        f"live orders {b - a:.3f} s apart" for a, b in itertools.pairwise(endpoint) if b - a < ENDPOINT_EVERY
    ]
    every = sorted(t for _, t in sends)
    found += [
        f"{GLOBAL_PER_SECOND + 1} requests within {every[i + GLOBAL_PER_SECOND] - every[i]:.3f} s"
        for i in range(len(every) - GLOBAL_PER_SECOND)
        if every[i + GLOBAL_PER_SECOND] - every[i] < 1.0
    ]
    return found


def penalty_violations(box: dict[str, float], calls: list[tuple[float, float]], seconds: float) -> list[str]:
    """Requests let go inside the box by acquires that began after the penalty was recorded."""
    until = box["before"] + seconds
    return [
        f"sent {until - sent:.3f} s inside the box"
        for asked, sent in calls
        if asked >= box["after"] and sent < until
    ]


def _spacing(path: str) -> float:
    rule = DEFAULT_RULES.rule_for(path)
    assert rule is not None, path
    return rule.spacing


def test_rules_match_the_path_exactly_with_a_margin() -> None:
    assert _spacing("/iserver/account/orders") == pytest.approx(5.5)
    assert DEFAULT_RULES.rule_for("/iserver/account/orders?force=true") == DEFAULT_RULES.rule_for(LIVE_ORDERS)
    assert DEFAULT_RULES.rule_for("/iserver/account/orders/") == DEFAULT_RULES.rule_for(LIVE_ORDERS)
    assert DEFAULT_RULES.rule_for("/iserver/account/DU123/orders") is None  # placing: the global limit only
    assert DEFAULT_RULES.rule_for("/iserver/account/order/status/12") is None
    for path in ("/iserver/account/trades", "/iserver/account/pnl/partitioned", "/portfolio/accounts"):
        assert _spacing(path) == pytest.approx(5.5)
    assert _spacing("/portfolio/subaccounts") == pytest.approx(5.5)
    assert DEFAULT_RULES.rule_for("/portfolio/DU123/summary") is None
    # a limit of a second or less keeps 25 % (one late request must not make 11 in a second), slower 10 %
    assert _spacing("/tickle") == pytest.approx(1.25)
    assert _spacing("/sso/validate") == pytest.approx(66.0)
    assert _spacing("/iserver/marketdata/snapshot") == pytest.approx(0.125)
    assert _spacing("/iserver/scanner/run") == pytest.approx(1.25)
    assert _spacing("/fyi/unreadnumber") == pytest.approx(1.25)
    assert DEFAULT_RULES.global_spacing == pytest.approx(0.125)


class FakeWall:
    """The wall clock of one test: ``sleep`` moves it on."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_request_waiting_for_its_endpoint_does_not_hold_the_others(migrated_sqlite_url: str) -> None:
    engine = make_engine(migrated_sqlite_url)
    wall = FakeWall()
    start = wall.now
    other = SharedPacer(engine, wall=wall, sleep=wall.sleep)
    others_went: list[float] = []

    def sleep(seconds: float) -> None:
        if not others_went:  # while live orders waits for its 5.5 s, another request comes
            other.acquire(ACCOUNTS)
            others_went.append(wall.now)
        wall.sleep(seconds)

    pacer = SharedPacer(engine, wall=wall, sleep=sleep)
    pacer.acquire(LIVE_ORDERS)
    pacer.acquire(LIVE_ORDERS)
    engine.dispose()
    assert others_went == [pytest.approx(start + 0.125)]  # one global spacing, not behind live orders
    assert wall.now >= start + 5.5


def test_a_429_holds_everyone_for_the_penalty_and_says_so(
    migrated_sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(migrated_sqlite_url)
    wall = FakeWall()
    start = wall.now
    pacer = SharedPacer(engine, wall=wall, sleep=wall.sleep)
    with caplog.at_level("WARNING", logger="ibflow.brokers.ibkr.pacing"):
        SharedPacer(engine, wall=wall, sleep=wall.sleep).penalized(LIVE_ORDERS)
    pacer.acquire(ACCOUNTS)
    engine.dispose()
    assert wall.now == pytest.approx(start + 900.0)
    assert "answered 429" in caplog.text
    assert "backs off for 15 minutes" in caplog.text


def test_two_processes_together_keep_every_limit(any_migrated_db_url: str, tmp_path: Path) -> None:
    rounds = 6
    first, second = _run(
        (_burst, ("shared", any_migrated_db_url, rounds)),
        (_burst, ("shared", any_migrated_db_url, rounds)),
        tmp_path=tmp_path,
    )
    sends = _sends(first + second)
    assert len(sends) == 2 * rounds * 5
    assert pacing_violations(sends) == []
    engine = make_engine(any_migrated_db_url)
    with engine.connect() as conn:
        keys = set(conn.scalars(select(GatewayPacing.key)))
    engine.dispose()
    assert keys == {"global", "penalty", "endpoint:live orders"}  # the id'd path took no endpoint row


def test_the_check_catches_a_per_process_pacer(tmp_path: Path) -> None:
    first, second = _run(
        (_burst, ("memory", "", 6)),
        (_burst, ("memory", "", 6)),
        tmp_path=tmp_path,
    )
    found = pacing_violations(_sends(first + second))
    assert any(v.startswith("live orders") for v in found)
    assert any("requests within" in v for v in found)


def test_a_429_in_one_process_holds_the_other(any_migrated_db_url: str, tmp_path: Path) -> None:
    box, calls = _penalty_run("shared", any_migrated_db_url, tmp_path)
    assert penalty_violations(box, calls, seconds=1.0) == []
    after = [sent for asked, sent in calls if asked >= box["after"]]
    assert min(after) >= box["before"] + 1.0


def test_the_check_catches_a_per_process_penalty(tmp_path: Path) -> None:
    box, calls = _penalty_run("memory", "", tmp_path)
    assert penalty_violations(box, calls, seconds=1.0)  # the other process walks straight into the box


def _penalty_run(kind: str, url: str, tmp_path: Path) -> tuple[dict[str, float], list[tuple[float, float]]]:
    box, calls = _run(
        (_penalize_later, (kind, url, 0.5)),
        (_keep_asking, (kind, url, 2.5)),
        tmp_path=tmp_path,
    )
    pairs = [(float(asked), float(sent)) for asked, sent in calls]
    assert any(sent < box["before"] for _, sent in pairs)  # it was sending before the 429
    assert any(asked >= box["after"] for asked, _ in pairs)  # and asked again after it
    return box, pairs


SNAPSHOT = ("GET", "/iserver/marketdata/snapshot", {"conids": "265598", "fields": "31,84,86"})
ROUND = [
    ("GET", LIVE_ORDERS, None),
    *[("POST", "/tickle", None)] * 2,
    *[SNAPSHOT] * 5,
    *[("GET", ACCOUNTS, None)] * 4,
]
PLAN = [("GET", ACCOUNTS, None), *ROUND, *ROUND]
"""Per client process: 25 reads, 2 of them live orders (1 per 5 s at IBKR), 4 tickles (1/s), 10 snapshots."""


def _client(base_url: str, pacer_url: str, barrier: Barrier, out: str) -> None:
    engine = make_engine(pacer_url)
    http = GatewayHttp(base_url, pacer=SharedPacer(engine, penalty_seconds=2.0), retry=Retry(attempts=1))
    answered, limited, failed = 0, 0, []
    barrier.wait()
    for method, path, params in PLAN:
        try:
            http.read(method, path, params=params)
            answered += 1
        except RateLimited:
            limited += 1
        except BrokerError as exc:
            failed.append(f"{method} {path}: {exc}")
    http.close()
    engine.dispose()
    Path(out).write_text(json.dumps({"answered": answered, "limited": limited, "failed": failed}))


def test_two_clients_through_the_simulator_get_no_429(
    gateway: Callable[..., Any], migrated_sqlite: Callable[[Path], str], tmp_path: Path
) -> None:
    sim = gateway(rate_limits=True, time_scale=1.0, penalty_box=timedelta(seconds=60))
    assert sim.controls.get("/sim/state").json()["rate_limits"] is True
    base_url = str(sim.api.base_url)
    pacer_url = migrated_sqlite(tmp_path / "pacer" / "ibflow.db")
    started = time.monotonic()
    results = _run((_client, (base_url, pacer_url)), (_client, (base_url, pacer_url)), tmp_path=tmp_path)
    took = time.monotonic() - started
    assert [r["limited"] for r in results] == [0, 0]
    assert [r["failed"] for r in results] == [[], []]
    assert [r["answered"] for r in results] == [len(PLAN), len(PLAN)]
    # A breach would have boxed 127.0.0.1 for 60 s: the simulator still answers us, so there was none.
    engine = make_engine(pacer_url)
    http = GatewayHttp(base_url, pacer=SharedPacer(engine), retry=Retry(attempts=1))
    http.read("GET", ACCOUNTS)
    http.close()
    engine.dispose()
    assert took >= 3 * 5.0  # 4 live-orders reads at IBKR's 1 per 5 s: a lower bound, never an upper one
