"""The browser harness: a real ``ibflow serve`` and Debian's Chromium driven by Playwright.

- ``site`` (one per test module; ``serving(folder, **env)`` for a module that needs other settings):
  ``ibflow serve`` in a subprocess on a free port, on a fresh SQLite database
  with the demo seeded and three users, ``admin``, ``trader`` and ``viewer``, all with password ``PASSWORD``.
  The demo strategies run once a year (``RARE_CRON``): every run in a browser test is one the test starts,
  so a scheduled run never collides with its "Run now" (the API's 422 "running already").
  ``site.cli(...)`` runs an ``ibflow`` command against the same database.
- ``page``: a Chromium page in a fresh context at 1280x800. The test fails when the page logs a console
  error, throws, or a request fails or answers 4xx/5xx, unless the test allows it with
  ``page_problems.allow("part of the URL")``.
- ``login(page, site, "trader")``, ``check_accessibility(page)`` (axe-core, vendored in ``vendor/``: no
  serious or critical violation), ``no_horizontal_scroll(page)``, ``shoot(page, "name")`` (a screenshot
  under ``var/screenshots/``; ``make screenshots`` copies the ones the docs use into ``docs/images/``).

Chromium is ``/usr/bin/chromium`` (``apt-get install -y chromium``; ``.ci/run`` installs it when missing);
without it the tests skip locally and fail under ``CI=true``. Playwright never downloads a browser here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
from tests.conftest import require_service
from tests.ports import free_port

RARE_CRON = "0 0 1 1 *"
CHROMIUM = Path(os.environ.get("IBFLOW_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "browser-test-pass-1"
USERS = {"admin": "admin", "trader": "trader", "viewer": "viewer"}
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "var" / "screenshots"
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
IBFLOW = str(Path(sys.executable).parent / "ibflow")
START_TIMEOUT_S = 90


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every browser test ``integration`` (it runs a server and a browser)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.integration)


@dataclass
class Site:
    """A running ``ibflow serve`` and the environment to reach its database with the CLI."""

    url: str
    env: dict[str, str]
    log: Path

    def cli(self, *args: str, stdin: str | None = None) -> str:
        """Run ``ibflow ARGS`` on the site's database; fail the test with its output when it fails."""
        command = [IBFLOW, *args]
        done = subprocess.run(
            command, env=self.env, input=stdin, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, f"ibflow {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done.stdout

    def api(self, username: str) -> httpx2.Client:
        """Return an HTTP client logged in to the API as ``username`` (cookie session and CSRF header)."""
        client = httpx2.Client(base_url=self.url, timeout=30)
        answer = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        csrf = answer.json().get("csrf_token")
        if csrf:
            client.headers["X-CSRF-Token"] = csrf
        return client


def _env(folder: Path, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "IBFLOW_DATA_DIR": str(folder),
        "IBFLOW_DATABASE_URL": f"sqlite:///{folder / 'ibflow.db'}",
        "IBFLOW_DISPATCH_INTERVAL_SECONDS": "0.5",
        "IBFLOW_HTTP_HOST": "127.0.0.1",
        "IBFLOW_HTTP_PORT": str(port),
        "COLUMNS": "200",
    }


def _wait_until_up(url: str, serving: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if serving.poll() is not None:
            raise AssertionError(f"ibflow serve exited with {serving.returncode}:\n{log.read_text()}")
        try:
            if httpx2.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"ibflow serve did not answer within {START_TIMEOUT_S}s:\n{log.read_text()}")


def _run_rarely(database_url: str) -> None:
    from ibflow.core.clock import SystemClock
    from ibflow.db.engine import make_engine, session_factory
    from ibflow.db.models import Strategy
    from ibflow.workflow.strategies.lookup import reschedule

    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            for strategy in session.query(Strategy):
                reschedule(session, strategy, cron=RARE_CRON, timezone=strategy.timezone, clock=SystemClock())
            session.commit()
    finally:
        engine.dispose()


@contextmanager
def serving(folder: Path, **extra_env: str) -> Iterator[Site]:
    """Seed a demo installation in ``folder`` and serve it with ``ibflow serve``; stop it (SIGINT) after."""
    port = free_port()
    env = {**_env(folder, port), **extra_env}
    url = f"http://127.0.0.1:{port}"
    site = Site(url=url, env=env, log=folder / "serve.log")
    site.cli("migrate")
    site.cli("demo")
    _run_rarely(env["IBFLOW_DATABASE_URL"])
    site.cli("user", "set-password", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    for name, role in USERS.items():
        if name != "admin":
            site.cli("user", "create", name, "--role", role, "--password-stdin", stdin=PASSWORD + "\n")
    with site.log.open("w") as log:
        process = subprocess.Popen([IBFLOW, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_up(url, process, site.log)
        yield site
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Serve a fresh demo installation for one test module."""
    with serving(tmp_path_factory.mktemp("site")) as served:
        yield served


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Launch Debian's Chromium once per test process."""
    require_service("Chromium", CHROMIUM.exists(), f"{CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class PageProblems:
    """What went wrong on a page: console errors, uncaught exceptions, failed requests."""

    seen: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)

    def allow(self, url_part: str) -> None:
        """Accept failed requests whose URL contains ``url_part`` (a test that expects a 403, say)."""
        self.allowed.append(url_part)

    def add(self, problem: str, url: str = "") -> None:
        if url and any(part in url for part in self.allowed):
            return
        self.seen.append(problem)


def watch_page(page: Any, problems: PageProblems) -> None:
    """Record ``page``'s console errors, uncaught exceptions and failed requests in ``problems``."""

    def on_console(message: Any) -> None:
        if message.type == "error":
            where = message.location.get("url", "")
            # Chromium logs every failed load as a console error naming its URL: allowed with the request.
            problems.add(f"console error: {message.text} ({where})", where)

    def on_failed(request: Any) -> None:
        failure = request.failure or ""
        # A page that navigates away aborts its open event stream and pending fetches: not a failure.
        if "ERR_ABORTED" in failure:
            return
        problems.add(f"request failed: {request.method} {request.url}: {failure}", request.url)

    def on_response(response: Any) -> None:
        if response.status >= 400:
            problems.add(f"HTTP {response.status}: {response.request.method} {response.url}", response.url)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.add(f"uncaught: {error}"))
    page.on("requestfailed", on_failed)
    page.on("response", on_response)


@pytest.fixture
def page_problems() -> PageProblems:
    """The current test's page problems; ``allow`` expected failures before they happen."""
    return PageProblems()


@pytest.fixture
def page(browser: Any, page_problems: PageProblems) -> Iterator[Any]:
    """A fresh context and page at 1280x800 that fails the test on any console error or failed request."""
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(15_000)
    opened = context.new_page()
    watch_page(opened, page_problems)
    try:
        yield opened
    finally:
        context.close()
    assert not page_problems.seen, "the page had problems:\n" + "\n".join(page_problems.seen)


def login(page: Any, site: Site, username: str, *, next_path: str = "/") -> None:
    """Log in through the login form as ``username`` and wait to leave the login page."""
    page.goto(f"{site.url}/login?next={next_path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def check_accessibility(page: Any) -> None:
    """Run axe-core on the page; fail on any serious or critical violation, naming each one."""
    # Evaluated through the DevTools protocol, which the page's Content-Security-Policy does not govern (a
    # <script> tag would be refused, as it should be): the page itself keeps its CSP.
    page.evaluate(AXE.read_text() + "\n;undefined")
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [v for v in result["violations"] if v.get("impact") in {"serious", "critical"}]
    lines = [
        f"{v['impact']}: {v['id']} ({v['help']}): "
        + "; ".join(" ".join(node["target"]) for node in v["nodes"][:5])
        for v in bad
    ]
    assert not bad, "accessibility violations:\n" + "\n".join(lines)


def no_horizontal_scroll(page: Any) -> None:
    """Fail when the page is wider than its viewport (a phone user would have to scroll sideways)."""
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"page is {widths[0]} px wide in a {widths[1]} px viewport"


def shoot(page: Any, name: str) -> Path:
    """Save a full-page screenshot as ``var/screenshots/NAME-WIDTHxHEIGHT.png`` and return its path."""
    size = page.viewport_size
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}-{size['width']}x{size['height']}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def each_size(page: Any, url: str, name: str) -> None:
    """Open ``url`` at 1280x800 and at 390x844: screenshot, axe and (on the phone) no sideways scroll."""
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        page.goto(url)
        page.wait_for_load_state("load")
        if size is PHONE:
            no_horizontal_scroll(page)
        check_accessibility(page)
        shoot(page, name)
