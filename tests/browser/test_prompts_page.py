"""The prompts pages in Chromium: preview a prompt for a strategy, save a version with a syntax error and
see the message by the editor, fix it, find it in the history, diff two versions; hostile text stays text."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import Site, check_accessibility, each_size, login, shoot

DEFAULT = "default-analysis-en"
VERSIONS = f"/api/v1/prompts/templates/{DEFAULT}/versions"
HOSTILE = "<script>alert(1)</script> <b>bold</b> for {{ symbol }}"


def _preview(page: Any, strategy: str) -> str:
    """Choose the strategy and press Preview from the keyboard; return the rendered text shown."""
    page.select_option("#preview-strategy", label=strategy)
    page.focus("#preview-strategy")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Preview"
    page.keyboard.press("Enter")
    output = page.locator("#preview-output pre")
    output.wait_for(state="visible")
    text: str = output.inner_text()
    return text


def test_both_prompt_pages_pass_at_both_sizes(page: Any, site: Site) -> None:
    login(page, site, "trader", next_path="/prompts")
    page.click(f"a[href='/prompts/{DEFAULT}']")
    page.wait_for_url(f"**/prompts/{DEFAULT}")
    each_size(page, f"{site.url}/prompts", "prompts")
    each_size(page, f"{site.url}/prompts/{DEFAULT}", "prompt-editor")


def test_preview_save_a_broken_version_fix_it_and_diff_it_with_the_first(
    page: Any, site: Site, page_problems: Any
) -> None:
    login(page, site, "trader", next_path=f"/prompts/{DEFAULT}")
    rendered = _preview(page, "demo-spy-bands (SPY)")
    assert rendered.startswith("Analyse SPY for a long entry")
    assert "{{" not in rendered
    page.evaluate("() => window.scrollTo(0, 0)")  # the sticky header stays at the top of the shot
    shoot(page, "prompt-preview")

    original = page.input_value("#prompt-body")
    page_problems.allow(VERSIONS)  # the broken version's 422, shown by the editor
    page.fill("#prompt-body", original + "\nKeep it {% if %} short.")
    page.click("#editor button[type=submit]")
    problems = page.locator("#editor-problems")
    problems.wait_for(state="visible")
    lines = len(original.splitlines()) + 1
    assert f"line {lines}:" in problems.inner_text()
    assert "syntax error" in problems.inner_text()
    assert "problem" in page.inner_text("#flash")
    page.evaluate("() => window.scrollTo(0, 0)")
    shoot(page, "prompt-syntax-error")

    page.fill("#prompt-body", original + "\nKeep it short.")
    page.click("#editor button[type=submit]")
    page.wait_for_selector('li.version[data-version="2"]')  # the page reloaded with the new version
    assert page.url.endswith(f"/prompts/{DEFAULT}#history")
    newest = page.locator("li.version").first
    assert newest.get_attribute("data-version") == "2"
    assert "Version 2" in newest.inner_text()
    assert page.input_value("#prompt-body").endswith("Keep it short.")

    page.select_option("#diff-old", "1")
    page.select_option("#diff-new", "2")
    page.click("#diff button[type=submit]")
    page.wait_for_url("**old=1&new=2#diff")
    added = page.locator(".diff .diff-added")
    assert added.all_inner_texts() == ["+Keep it short."]
    assert page.locator(".diff .diff-removed").count() == 0
    each_size(page, f"{site.url}/prompts/{DEFAULT}?old=1&new=2", "prompt-diff")
    page.emulate_media(color_scheme="dark")  # the added lines' colours read in the dark theme too
    check_accessibility(page)


def test_html_in_a_prompt_previews_as_text_and_never_runs(page: Any, site: Site) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    login(page, site, "trader", next_path=f"/prompts/{DEFAULT}")
    page.fill("#prompt-body", HOSTILE)
    rendered = _preview(page, "demo-spy-bands (SPY)")
    assert rendered == "<script>alert(1)</script> <b>bold</b> for SPY"
    assert page.locator("#preview-output script, #preview-output b").count() == 0
    page.wait_for_timeout(300)
    assert dialogs == []


def test_a_viewer_reads_and_previews_but_cannot_edit(page: Any, site: Site) -> None:
    login(page, site, "viewer", next_path=f"/prompts/{DEFAULT}")
    assert page.locator("textarea, #editor").count() == 0
    assert page.locator("button", has_text="Save as new version").count() == 0
    assert "Analyse {{ symbol }}" in page.inner_text("#main")
    assert "SPY" in _preview(page, "demo-spy-bands (SPY)")
