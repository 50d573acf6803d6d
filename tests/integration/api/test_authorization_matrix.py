"""Who may call what: every route of the app, called as anonymous, viewer, trader and admin.

``MATRIX`` is the literal table of (method, path) -> minimum role ("public" needs no login). A route the
app serves that the table lacks fails the test, so a new route cannot ship without saying who may call it.
Ids in paths name nothing (404 for whoever may ask) and write bodies are empty (422 for whoever may ask):
the matrix checks who gets past the door, not what the route then does.
"""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from starlette.routing import Route
from tests.integration.api.conftest import Api, problem

pytestmark = pytest.mark.integration

PUBLIC, VIEWER, TRADER, ADMIN = "public", "viewer", "trader", "admin"
MATRIX: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,  # a scraper has no session; IBFLOW_METRICS_TOKEN guards it when set
    ("GET", "/docs"): PUBLIC,
    ("GET", "/api/v1/openapi.json"): PUBLIC,
    ("POST", "/api/v1/auth/login"): PUBLIC,
    ("GET", "/api/v1/auth/me"): VIEWER,
    ("POST", "/api/v1/auth/password"): VIEWER,
    ("POST", "/api/v1/auth/logout"): VIEWER,
    ("POST", "/api/v1/auth/logout-everywhere"): VIEWER,
    ("GET", "/api/v1/status"): VIEWER,
    ("GET", "/api/v1/positions"): VIEWER,
    ("GET", "/api/v1/orders"): VIEWER,
    ("GET", "/api/v1/trades"): VIEWER,
    ("GET", "/api/v1/signals"): VIEWER,
    ("GET", "/api/v1/executions"): VIEWER,
    ("GET", "/api/v1/lineage/execution/{execution_id}"): VIEWER,
    ("GET", "/api/v1/strategies"): VIEWER,
    ("GET", "/api/v1/strategies/{strategy_id}"): VIEWER,
    ("POST", "/api/v1/strategies"): TRADER,
    ("PUT", "/api/v1/strategies/{strategy_id}"): TRADER,
    ("POST", "/api/v1/strategies/{strategy_id}/pause"): TRADER,
    ("POST", "/api/v1/strategies/{strategy_id}/resume"): TRADER,
    ("POST", "/api/v1/strategies/{strategy_id}/archive"): TRADER,
    ("POST", "/api/v1/strategies/{strategy_id}/run"): TRADER,
    ("POST", "/api/v1/strategies/check"): TRADER,
    ("GET", "/api/v1/schedule/preview"): VIEWER,
    ("GET", "/api/v1/trading"): VIEWER,
    ("POST", "/api/v1/trading/halt"): TRADER,
    ("POST", "/api/v1/trading/reduce"): TRADER,
    ("POST", "/api/v1/trading/resume"): ADMIN,
    ("POST", "/api/v1/trading/flatten"): TRADER,
    ("POST", "/api/v1/orders/{order_id}/cancel"): TRADER,
    ("POST", "/api/v1/orders/{order_id}/confirm"): TRADER,
    ("POST", "/api/v1/orders/{order_id}/reject"): TRADER,
    ("POST", "/api/v1/positions/{position_id}/close"): TRADER,
    ("POST", "/api/v1/broker/sync"): TRADER,
    ("GET", "/api/v1/users"): ADMIN,
    ("POST", "/api/v1/users"): ADMIN,
    ("PATCH", "/api/v1/users/{username}"): ADMIN,
    ("GET", "/api/v1/tokens"): ADMIN,
    ("POST", "/api/v1/tokens"): ADMIN,
    ("DELETE", "/api/v1/tokens/{token_id}"): ADMIN,
    ("GET", "/api/v1/events"): VIEWER,
    ("GET", "/api/v1/symbols"): VIEWER,
    ("GET", "/api/v1/symbols/{conid}"): VIEWER,
    ("GET", "/api/v1/indicators"): VIEWER,
    ("POST", "/api/v1/indicators/preview"): VIEWER,
    ("GET", "/api/v1/indicators/configs"): VIEWER,
    ("POST", "/api/v1/indicators/configs"): TRADER,
    ("GET", "/api/v1/indicators/configs/{config_id}"): VIEWER,
    ("PUT", "/api/v1/indicators/configs/{config_id}"): TRADER,
    ("DELETE", "/api/v1/indicators/configs/{config_id}"): TRADER,
    ("GET", "/api/v1/prompts/templates"): VIEWER,
    ("GET", "/api/v1/prompts/templates/{name}"): VIEWER,
    ("GET", "/api/v1/prompts/templates/{name}/versions/{version}"): VIEWER,
    ("POST", "/api/v1/prompts/templates/{name}/versions"): TRADER,
    ("GET", "/api/v1/prompts/variables"): VIEWER,
    ("POST", "/api/v1/prompts/render"): VIEWER,
    ("GET", "/api/v1/prompts/diff"): VIEWER,
    ("GET", "/api/v1/prompts/stats"): VIEWER,
    ("GET", "/api/v1/charts/{chart_id}.png"): VIEWER,
    ("GET", "/api/v1/settings"): VIEWER,
    ("PUT", "/api/v1/settings/{key}"): ADMIN,
    ("DELETE", "/api/v1/settings/{key}"): ADMIN,
    ("GET", "/api/v1/audit"): ADMIN,
    ("GET", "/api/v1/broker/session"): VIEWER,
    ("GET", "/api/v1/portfolio/summary"): VIEWER,
    ("GET", "/api/v1/portfolio/statistics"): VIEWER,
    ("GET", "/api/v1/portfolio/snapshots"): VIEWER,
    ("GET", "/api/v1/lineage/execution/{execution_id}/step/{step_name}"): VIEWER,
    ("GET", "/api/v1/lineage/strategy/{strategy_id}/recent"): VIEWER,
    ("GET", "/api/v1/lineage/step/{step_name}/statistics"): VIEWER,
    ("GET", "/api/v1/notify/targets"): VIEWER,
    ("POST", "/api/v1/notify/targets"): VIEWER,
    ("GET", "/api/v1/notify/targets/{target_id}"): VIEWER,
    ("PATCH", "/api/v1/notify/targets/{target_id}"): VIEWER,
    ("DELETE", "/api/v1/notify/targets/{target_id}"): VIEWER,
    ("POST", "/api/v1/notify/test"): VIEWER,
    ("GET", "/api/v1/backtests"): VIEWER,
    ("POST", "/api/v1/backtests"): TRADER,
    ("GET", "/api/v1/backtests/progress"): VIEWER,
    ("POST", "/api/v1/backtests/cancel"): TRADER,
    ("GET", "/api/v1/backtests/compare"): VIEWER,
    ("GET", "/api/v1/backtests/{name}"): VIEWER,
    ("GET", "/api/v1/backtests/{name}/report"): VIEWER,
}
NOT_IN_OPENAPI = {("GET", "/docs"), ("GET", "/api/v1/openapi.json")}
"""Routes the app serves outside its OpenAPI document (the document itself and its Swagger page)."""
RANK = {PUBLIC: 0, VIEWER: 1, TRADER: 2, ADMIN: 3}
CALLERS = {"anonymous": 0, "viewer": 1, "trader": 2, "owner": 3}
"""The conftest's users (``owner`` is an admin) and the rank each has."""


def _served(api: Api) -> set[tuple[str, str]]:
    paths = api.client.get("/api/v1/openapi.json").json()["paths"]
    documented = {(method.upper(), path) for path, operations in paths.items() for method in operations}
    app = api.client.app
    plain = {  # routes mounted on the app itself rather than through a router (the docs pages)
        (method, route.path)
        for route in getattr(app, "routes", [])
        if isinstance(route, Route) and not isinstance(route, APIRoute) and "oauth2" not in route.path
        for method in (route.methods or set()) - {"HEAD"}
    }
    return documented | plain


def _concrete(path: str) -> str:
    if path == "/api/v1/events":  # a stream that stays open: an unknown kind makes it answer (422) at once
        return "/api/v1/events?kinds=no.such-kind"
    return (
        path.replace("{username}", "nobody-of-that-name")
        .replace("{execution_id}", "987654")
        .replace("{strategy_id}", "987654")
        .replace("{order_id}", "987654")
        .replace("{position_id}", "987654")
        .replace("{step_name}", "render_charts")
        .replace("{conid}", "987654")
        .replace("{chart_id}", "987654")
        .replace("{key}", "max_open_positions")
        .replace("{token_id}", "987654")
        .replace("{config_id}", "987654")
        .replace("{target_id}", "987654")
        .replace("{name}", "no-such-template")
        .replace("{version}", "3")
    )


def test_the_table_names_every_route_the_app_serves_and_no_other(api: Api) -> None:
    served = _served(api)
    assert served >= NOT_IN_OPENAPI
    assert served - MATRIX.keys() == set(), "routes without a minimum role in MATRIX"
    assert MATRIX.keys() - served == set(), "MATRIX names routes the app does not serve"


@pytest.mark.parametrize(("method", "path"), sorted(MATRIX), ids=str)
def test_each_caller_gets_past_the_door_exactly_when_its_role_is_enough(
    api: Api, method: str, path: str
) -> None:
    needed = RANK[MATRIX[(method, path)]]
    for caller, rank in CALLERS.items():
        headers = {} if caller == "anonymous" else api.bearer(caller, name=f"matrix {method}")
        body = {} if method in {"POST", "PUT", "PATCH"} else None
        answer = api.fresh().request(method, _concrete(path), json=body, headers=headers)
        if rank >= needed:
            assert answer.status_code not in (401, 403), (caller, answer.status_code, answer.text)
            assert answer.status_code < 500, (caller, answer.status_code, answer.text)
        elif caller == "anonymous":
            assert answer.status_code == 401, (caller, answer.status_code, answer.text)
            assert problem(answer)["title"]
        else:
            assert answer.status_code == 403, (caller, answer.status_code, answer.text)
            assert MATRIX[(method, path)] in problem(answer)["detail"]
