"""The shell without a mouse and on a phone: the skip link, the folding sidebar, the theme toggle."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import PHONE, Site, login, no_horizontal_scroll


def test_the_first_tab_reaches_the_skip_link_and_it_moves_focus_to_the_content(page: Any, site: Site) -> None:
    login(page, site, "viewer")
    page.goto(f"{site.url}/strategies")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent.trim()") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"


def test_on_a_phone_the_sidebar_folds_behind_the_menu_button(page: Any, site: Site) -> None:
    page.set_viewport_size(PHONE)
    login(page, site, "viewer")
    strategies = page.locator("#sidebar a[href='/strategies']")
    assert not strategies.is_visible()
    no_horizontal_scroll(page)
    menu = page.locator("[data-toggle-menu]")
    menu.focus()
    page.keyboard.press("Enter")  # a keyboard user opens it too
    assert menu.get_attribute("aria-expanded") == "true"
    assert strategies.is_visible()
    no_horizontal_scroll(page)
    strategies.click()
    page.wait_for_url(f"{site.url}/strategies")


def test_the_theme_toggle_cycles_and_is_remembered(page: Any, site: Site) -> None:
    login(page, site, "viewer")
    theme = page.locator("[data-toggle-theme]")
    assert page.evaluate("() => document.documentElement.dataset.theme") == "auto"
    theme.click()
    assert page.evaluate("() => document.documentElement.dataset.theme") == "light"
    theme.click()
    assert page.evaluate("() => document.documentElement.dataset.theme") == "dark"
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    page.reload()
    assert page.evaluate("() => document.documentElement.dataset.theme") == "dark"
    assert page.evaluate("() => getComputedStyle(document.body).backgroundColor") == background
    assert theme.text_content() == "Theme: dark"
