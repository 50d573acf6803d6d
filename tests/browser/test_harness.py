"""The harness can fail: it catches console errors, failed requests, axe violations and sideways scroll."""

from __future__ import annotations

from typing import Any

import pytest
from tests.browser.conftest import (
    PHONE,
    PageProblems,
    Site,
    check_accessibility,
    no_horizontal_scroll,
    watch_page,
)


def test_a_console_error_and_a_failed_request_are_caught(browser: Any, site: Site) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        problems = PageProblems()
        watch_page(page, problems)
        page.goto(f"{site.url}/api/v1/no-such-route")
        page.evaluate("() => console.error('something broke')")
        assert any("HTTP 404" in seen and "/api/v1/no-such-route" in seen for seen in problems.seen)
        assert any("something broke" in seen for seen in problems.seen)
    finally:
        context.close()


def test_an_allowed_failure_is_not_a_problem(browser: Any, site: Site) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        problems = PageProblems()
        problems.allow("/api/v1/no-such-route")
        watch_page(page, problems)
        page.goto(f"{site.url}/api/v1/no-such-route")
        assert problems.seen == []
    finally:
        context.close()


def test_axe_reports_an_image_without_text_and_an_unlabelled_input(page: Any) -> None:
    page.set_content(
        '<html lang="en"><title>t</title><main><img src="data:,"><input type="text"></main></html>'
    )
    with pytest.raises(AssertionError, match="image-alt"):
        check_accessibility(page)


def test_a_page_wider_than_a_phone_is_caught(page: Any) -> None:
    page.set_viewport_size(PHONE)
    page.set_content(
        '<html lang="en"><title>t</title><body style="margin:0">'
        '<main><div style="width:600px">wide</div></main></html>'
    )
    with pytest.raises(AssertionError, match="600 px wide in a 390 px viewport"):
        no_horizontal_scroll(page)
