"""The symbols and indicators pages: search, details, a 404, the configs (escaped), viewers, the preview."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from tests.integration.web.conftest import Api

from ibflow.db.models import NamedIndicatorConfig
from ibflow.indicators.catalogue import CATALOGUE

pytestmark = pytest.mark.integration

HOSTILE = '<script>alert("owned")</script>'
ESCAPED = "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;"


def _login(site: Api, username: str) -> TestClient:
    client = site.login(username)
    client.follow_redirects = False
    return client


def _conid(page: str, symbol: str) -> str:
    found = re.search(rf'<a href="/symbols/(\d+)"><strong>{symbol}</strong>', page)
    assert found, page
    return found.group(1)


def test_the_search_fragment_and_the_submitted_form_list_the_matches(site: Api) -> None:
    viewer = _login(site, "viewer")
    fragment = viewer.get("/symbols/search", params={"q": "aap"}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text  # the list alone
    assert "AAPL" in fragment.text
    submitted = viewer.get("/symbols", params={"q": "aap"})
    assert submitted.status_code == 200
    assert _conid(submitted.text, "AAPL") == _conid(fragment.text, "AAPL")
    assert 'hx-trigger="input changed delay:250ms, search"' in submitted.text
    assert 'value="aap"' in submitted.text


def test_a_search_without_a_match_or_without_text_says_so(site: Api) -> None:
    viewer = _login(site, "viewer")
    none = viewer.get("/symbols/search", params={"q": "ZZZZQX"})
    assert none.status_code == 200
    assert "No contract matches “ZZZZQX”" in none.text
    empty = viewer.get("/symbols/search", params={"q": "  "})
    assert "Type a symbol" in empty.text
    too_long = viewer.get("/symbols/search", params={"q": "A" * 65})
    assert "give 1 to 64 characters" in too_long.text


def test_the_details_page_shows_the_contract_and_an_unknown_conid_is_a_404_page(site: Api) -> None:
    viewer = _login(site, "viewer")
    conid = _conid(viewer.get("/symbols", params={"q": "AAPL"}).text, "AAPL")
    details = viewer.get(f"/symbols/{conid}")
    assert details.status_code == 200
    text = details.text
    for fact in (f"<code>{conid}</code>", "AAPL", "USD", "0.01", "STK"):
        assert fact in text, fact
    assert 'data-remember-symbol data-conid="' + conid in text
    for missing in ("987654321", "not-a-number", "0", "9" * 30):
        answer = viewer.get(f"/symbols/{missing}")
        assert answer.status_code == 404, missing
        assert answer.headers["content-type"].startswith("text/html")
        assert "No contract has the conid" in answer.text


def test_the_indicators_page_lists_the_catalogue_with_ranges_and_defaults(site: Api) -> None:
    page = _login(site, "viewer").get("/indicators")
    assert page.status_code == 200
    for spec in CATALOGUE.values():
        assert f'data-indicator="{spec.type}"' in page.text
        for param in spec.params:
            assert param.range_text() in page.text
    assert 'href="/symbols"' in page.text  # in the sidebar
    assert 'href="/indicators" aria-current="page"' in page.text


def test_a_config_name_and_description_with_html_render_as_text(site: Api) -> None:
    trader = _login(site, "trader")
    made = trader.post(
        "/api/v1/indicators/configs",
        json={"name": "rsi-fast", "type": "rsi", "params": {"period": 7}, "description": HOSTILE},
    )
    assert made.status_code == 201, made.text
    with site.container.sessions() as session:  # the API refuses such a name; the page must not trust that
        session.execute(update(NamedIndicatorConfig).values(name=HOSTILE))
        session.commit()
    for path in ("/indicators", "/fragments/indicator-configs"):
        page = trader.get(path).text
        assert ESCAPED in page, path
        assert "<script>alert" not in page, path


def test_a_trader_gets_the_config_forms_and_a_viewer_none(site: Api) -> None:
    trader = _login(site, "trader")
    assert (
        trader.post(
            "/api/v1/indicators/configs", json={"name": "sma-10", "type": "sma", "params": {"period": 10}}
        ).status_code
        == 201
    )
    page = trader.get("/indicators").text
    assert 'data-action="/api/v1/indicators/configs"' in page
    assert 'data-method="PUT"' in page
    assert 'data-method="DELETE"' in page
    assert 'data-error-for="params.period"' in page
    viewer = _login(site, "viewer")
    for path in ("/indicators", "/symbols", "/fragments/indicator-configs"):
        text = viewer.get(path).text
        writes = [line for line in text.splitlines() if "data-post=" in line or "data-action=" in line]
        assert all("/api/v1/auth/logout" in line for line in writes), (path, writes)
        assert "Save config" not in text, path
        assert "Delete" not in text, path
    assert "sma-10" in viewer.get("/indicators").text
    refused = viewer.post("/api/v1/indicators/configs", json={"name": "v", "type": "sma"})
    assert refused.status_code == 403


def test_a_bad_parameter_is_refused_naming_the_field_the_form_shows_it_next_to(site: Api) -> None:
    trader = _login(site, "trader")
    bad = trader.post(
        "/api/v1/indicators/configs", json={"name": "rsi-1", "type": "rsi", "params": {"period": 1}}
    )
    assert bad.status_code == 422
    errors = {item["field"]: item["problem"] for item in bad.json()["errors"]}
    assert "params.period" in errors
    assert "between 2 and 200" in errors["params.period"]
    assert 'data-error-for="params.period"' in trader.get("/indicators").text


def test_the_preview_shows_the_last_values_and_its_chart_is_a_png(site: Api) -> None:
    viewer = _login(site, "viewer")
    fragment = viewer.get("/indicators/preview", params={"symbol": "aapl", "indicator": "sma", "points": "5"})
    assert fragment.status_code == 200, fragment.text
    rows = re.findall(
        r"<tr>\s*<td><time[^>]*>[^<]*</time></td>\s*<td class=\"num\">([^<]*)</td>", fragment.text
    )
    assert len(rows) == 5
    assert all(re.fullmatch(r"\d+\.\d\d", close) for close in rows), rows  # at the contract's tick, 0.01
    chart = re.search(r'<img src="([^"]+)"', fragment.text)
    assert chart
    image = viewer.get(chart.group(1).replace("&amp;", "&"))
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")
    page = viewer.get("/indicators", params={"symbol": "AAPL", "indicator": "rsi", "points": "3"})
    assert page.status_code == 200
    assert "data-preview-values" in page.text  # works without htmx too


def test_a_preview_that_cannot_be_drawn_says_why(site: Api) -> None:
    viewer = _login(site, "viewer")
    unknown = viewer.get("/indicators/preview", params={"symbol": "ZZZZQ", "indicator": "sma"})
    assert unknown.status_code == 404
    assert "no contract with the symbol" in unknown.text
    bad_points = viewer.get(
        "/indicators/preview", params={"symbol": "AAPL", "indicator": "sma", "points": "0"}
    )
    assert bad_points.status_code == 422
    assert "from 1 to 200" in bad_points.text
    no_config = viewer.get("/indicators/preview", params={"symbol": "AAPL", "indicator": "config:987654"})
    assert no_config.status_code == 422
    assert "does not exist" in no_config.text
    image = viewer.get("/indicators/preview.png", params={"symbol": "ZZZZQ", "indicator": "sma"})
    assert image.status_code == 404
