"""The web pages' server time and weight with a large history, beside the same pages on an empty database.

The history (``benchmarks/large_history.py``): 20 strategies, 50,000 executions (550,000 lineage rows), a
signal each, 5,000 orders with their events and fills, a year of hourly portfolio snapshots, on SQLite,
served by uvicorn on loopback (``ApiServer``, as ``ibflow serve`` does). Each page is fetched
``WARM`` times, then ``TIMED`` times one after another by a logged-in trader; the time is from sending the
request to the last byte on loopback (the server's time plus a loopback round trip). A cold load's bytes are
the page's HTML plus every stylesheet, script and image it links, as a browser with an empty cache fetches
them (the bytes on the wire, after any compression the server applies). Targets (issue 16): p95 under
100 ms, a cold load under 300 KB.
"""

from __future__ import annotations

import re
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx2

from benchmarks import free_port
from benchmarks.bench_api_load import demo_container
from benchmarks.large_history import EXECUTIONS, ORDERS, STRATEGIES, seed_large_history
from ibflow import bootstrap
from ibflow.api.server import ApiServer
from ibflow.db.states import UserRole
from ibflow.users.service import create_user
from ibflow.web.site import mount_site

PAGES = [
    "/",
    "/strategies",
    "/strategies/new",
    "/strategies/1",
    "/symbols",
    "/indicators",
    "/prompts",
    "/prompts/default-analysis-en",
    "/lineage",
    "/executions",
    "/signals",
    "/orders",
    "/backtests",
    "/portfolio",
    "/account",
    "/settings",
]
"""Every page (the login page aside).

``/strategies/1`` is the demo's first strategy, seeded in both databases. ``/lineage`` shows the newest
execution: on the large history one with its 11 steps and its strategy's step statistics over some 2,500
executions; on the empty database the page that says nothing ran yet. ``/executions`` and ``/signals`` show
their newest 50 rows of all strategies (no filter). ``/portfolio`` draws the large history's year of hourly
snapshots thinned to at most 1,000 points."""
WARM = 5
TIMED = 40
P95_TARGET_MS = 100.0
BYTES_TARGET = 300 * 1024
ASSET = re.compile(r"""<(?:link[^>]+href|script[^>]+src|img[^>]+src)=["']([^"']+)["']""", re.IGNORECASE)


def _client(base: str, container: bootstrap.Container) -> httpx2.Client:
    password = secrets.token_urlsafe(16)
    with container.sessions() as session:
        create_user(session, username="bench", password=password, role=UserRole.TRADER, clock=container.clock)
        session.commit()
    client = httpx2.Client(base_url=base, timeout=60, headers={"Accept-Encoding": "gzip"})
    answer = client.post("/api/v1/auth/login", json={"username": "bench", "password": password})
    answer.raise_for_status()
    return client


def _time_page(client: httpx2.Client, path: str) -> dict[str, float]:
    for _ in range(WARM):
        answer = client.get(path)
        if answer.status_code != 200:
            raise SystemExit(
                f"GET {path} answered {answer.status_code}: is the page built? {answer.text[:200]}"
            )
    times = []
    for _ in range(TIMED):
        start = time.perf_counter()
        client.get(path).raise_for_status()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {
        "median_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
        "max_ms": round(times[-1], 1),
    }


def _wire_bytes(client: httpx2.Client, url: str) -> int:
    with client.stream("GET", url) as answer:
        answer.raise_for_status()
        return sum(len(chunk) for chunk in answer.iter_raw())


def _cold_bytes(client: httpx2.Client, base: str, path: str) -> int:
    body = client.get(path).text
    total = _wire_bytes(client, path)
    for asset in sorted(set(ASSET.findall(body))):
        url = urljoin(base + path, asset)
        if not url.startswith(base):
            raise SystemExit(f"{path} loads {url} from outside the server: vendor it")
        total += _wire_bytes(client, url)
    return total


def _measure(folder: Path, *, history: bool) -> dict[str, dict[str, Any]]:
    container = demo_container(folder)
    if history:
        seed_large_history(container)
    server = ApiServer(container, host="127.0.0.1", port=free_port(), site=mount_site)
    server.start()
    try:
        client = _client(server.url, container)
        return {
            path: {
                **_time_page(client, path),
                "cold_kb": round(_cold_bytes(client, server.url, path) / 1024, 1),
            }
            for path in PAGES
        }
    finally:
        server.stop()
        container.engine.dispose()


def run() -> dict[str, object]:
    """Time every page on the large history, then on an empty database; weigh a cold load of each."""
    with tempfile.TemporaryDirectory() as full, tempfile.TemporaryDirectory() as empty:
        loaded = _measure(Path(full), history=True)
        bare = _measure(Path(empty), history=False)
    cases: dict[str, dict[str, float]] = {}
    passed = True
    for path in PAGES:
        full_case, empty_case = loaded[path], bare[path]
        cases[f"GET {path}, large history"] = {**full_case, "n": TIMED}
        cases[f"GET {path}, empty"] = {**empty_case, "n": TIMED}
        passed = passed and full_case["p95_ms"] < P95_TARGET_MS and full_case["cold_kb"] * 1024 < BYTES_TARGET
    worst = max(PAGES, key=lambda p: loaded[p]["p95_ms"])
    heaviest = max(PAGES, key=lambda p: loaded[p]["cold_kb"])
    return {
        "name": "pages",
        "title": "Web pages: server time and cold-load weight with a large history",
        "setup": (
            f"uvicorn on loopback, SQLite; {STRATEGIES} strategies, {EXECUTIONS:,} executions"
            f" ({EXECUTIONS * 11:,} lineage rows), {ORDERS:,} orders with events and fills, a year of hourly"
            f" snapshots; then the same pages on an empty (demo) database; {WARM} warm-up and {TIMED} timed"
            " requests per page, sequential, as a logged-in trader"
        ),
        "cases": cases,
        "ratio": {
            "slowest page p95 ms (large history)": f"{worst}: {loaded[worst]['p95_ms']}",
            "heaviest cold load KB": f"{heaviest}: {loaded[heaviest]['cold_kb']}",
        },
        "target": f"each page: p95 under {P95_TARGET_MS:.0f} ms, cold load under {BYTES_TARGET // 1024} KB",
        "passed": passed,
    }
