"""Headless Debian Chromium driven by Playwright, shared by the browser tests.

Fixtures:
- `chromium`: the browser (Debian's /usr/bin/chromium via executable_path, headless).
- `page`: a page in a fresh context (1366x900) that fails the test at teardown on any
  console error or uncaught page error (`page.errors` holds them as they arrive).
- `new_page`: a factory of such pages, each in its own context (its own cookies), for
  tests with several people at once; all are checked for errors at teardown.
What to check on each page visited (overflow at 390 px, screenshot, axe-core) is in
tests/browser/harness.py: `check_page(page, name, width)`.
"""

from __future__ import annotations

import pytest

from tests.browser.harness import (  # re-exported: older tests import them from here
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    HAS_CHROMIUM,
    screenshot,
    watch_errors,
)

__all__ = ["ARTIFACTS", "CHROMIUM", "HAS_CHROMIUM", "screenshot"]


@pytest.fixture
def chromium():
    from playwright.sync_api import sync_playwright  # test-only dependency

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(chromium):
    """Make pages, each in its own browser context; fail on console/page errors."""
    contexts = []
    pages = []

    def _make(width: int = DESKTOP, height: int = 900, **context_options):
        context = chromium.new_context(viewport={"width": width, "height": height},
                                       **context_options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15000)
        watch_errors(page)
        pages.append(page)
        return page

    yield _make
    errors = [e for p in pages for e in p.errors]
    for context in contexts:
        context.close()
    assert errors == [], f"console or page errors: {errors}"


@pytest.fixture
def page(new_page):
    """One page at 1366x900 that fails the test on any console or page error."""
    return new_page(accept_downloads=True)
