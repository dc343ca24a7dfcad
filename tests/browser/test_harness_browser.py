"""The shared browser harness itself: it catches what it promises to catch
(overflow at 390 px, console errors, axe violations) on a real page."""

from __future__ import annotations

import pytest

from tests.browser.harness import HAS_CHROMIUM, check_page, overflow, run_axe

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not HAS_CHROMIUM, reason="needs /usr/bin/chromium"),
]


def test_login_page_passes_the_checks_and_the_checks_can_fail(live_server, page):
    page.goto(f"{live_server.url}/login")
    assert page.locator("h1").inner_text() == "Log in"
    for width in (1366, 390):
        path = check_page(page, "login", width)
        assert path.exists() and path.stat().st_size > 0

    # Overflow is detected: a wide element pushed into the page fails the check.
    page.evaluate("() => { const d = document.createElement('div');"
                  " d.style.width = '900px'; d.textContent = 'wide';"
                  " document.body.appendChild(d); }")
    scroll, inner = overflow(page)
    assert scroll > inner
    with pytest.raises(AssertionError, match="overflows at 390px"):
        check_page(page, "login-broken", 390, axe=False)

    # axe runs and reports: an image without alt text is a critical violation.
    page.evaluate("() => { const i = document.createElement('img'); i.src = '/static/favicon.svg';"
                  " document.body.appendChild(i); }")
    assert any(v["id"] == "image-alt" for v in run_axe(page))
