"""What every browser test checks on every page it visits.

`check_page(page, name, width)` resizes the page to `width`, asserts there is no
horizontal overflow at phone widths (<= 480 px), saves a full-page screenshot to
test-artifacts/<name>-<width>.png and runs axe-core, failing on any serious or critical
violation. axe-core is the copy bundled in the `axe-playwright-python` package (a test
dependency), evaluated into the page by Playwright: nothing is fetched from a CDN, and
because it is evaluated through the DevTools protocol the app's strict
Content-Security-Policy does not have to be relaxed for it.

Console errors and uncaught page errors are collected by `watch_errors` (the `page`
fixture in conftest.py calls it) and fail the test at teardown.
"""

from __future__ import annotations

import os
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
HAS_CHROMIUM = os.path.exists(CHROMIUM)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "correct horse"
DESKTOP = 1366
PHONE = 390
WIDTHS = (DESKTOP, PHONE)
BLOCKING_IMPACTS = ("serious", "critical")


def _axe_source() -> str:
    """The axe.min.js bundled by axe-playwright-python, read from the installed package."""
    import axe_playwright_python  # test-only dependency, loaded only when a page is checked

    return (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()


_AXE: list[str] = []


def axe_script() -> str:
    if not _AXE:
        _AXE.append(_axe_source())
    return _AXE[0]


def watch_errors(page) -> list[str]:
    """Collect console errors and uncaught exceptions of `page` into `page.errors`."""
    errors: list[str] = []

    def on_console(msg) -> None:
        if msg.type == "error":
            errors.append(f"console: {msg.text} ({msg.location.get('url')})")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.errors = errors  # type: ignore[attr-defined]
    return errors


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    # Generous: with several browsers on two cores a tall full-page capture can be slow.
    page.screenshot(path=str(path), full_page=True, timeout=60000)
    return path


def overflow(page) -> tuple[int, int]:
    """(scrollWidth, innerWidth) of the document."""
    return page.evaluate(
        "() => [document.documentElement.scrollWidth, window.innerWidth]")


def widest_elements(page, limit: int = 5) -> list[str]:
    """The elements reaching furthest past the right edge, to say *what* overflows."""
    return page.evaluate(
        """(limit) => {
            const w = window.innerWidth, out = [];
            const clipped = (el) => {
                for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
                    if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(a).overflowX))
                        return true;
                }
                return false;
            };
            for (const el of document.querySelectorAll('body *')) {
                if (clipped(el)) continue;  // inside a scrolling region: not the page's width
                const r = el.getBoundingClientRect();
                if (r.right > w + 1) out.push([r.right, el.tagName.toLowerCase() +
                    (el.id ? '#' + el.id : '') +
                    (el.className && typeof el.className === 'string'
                        ? '.' + el.className.trim().split(/\\s+/).join('.') : '')]);
            }
            out.sort((a, b) => b[0] - a[0]);
            return out.slice(0, limit).map(([r, s]) => `${s} right=${Math.round(r)}`);
        }""", limit)


def run_axe(page) -> list[dict]:
    """axe-core's violations on the current page (all impacts)."""
    page.evaluate(axe_script())
    result = page.evaluate(
        "() => axe.run(document, {resultTypes: ['violations']})"
        ".then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))})))")
    return result


def assert_accessible(page, name: str = "") -> None:
    blocking = [v for v in run_axe(page) if v["impact"] in BLOCKING_IMPACTS]
    assert not blocking, f"axe on {name or page.url}: " + "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {v['nodes']}" for v in blocking)


def check_page(page, name: str, width: int = DESKTOP, *, axe: bool = True) -> Path:
    """Resize to `width`, assert no overflow at phone widths, screenshot, run axe.

    Returns the screenshot's path. Console errors are asserted here too, so a failure
    names the page it happened on.
    """
    height = page.viewport_size["height"] if page.viewport_size else 900
    if not page.viewport_size or page.viewport_size["width"] != width:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(50)  # let layout settle after the resize
    if width <= 480:
        scroll, inner = overflow(page)
        assert scroll <= inner, (
            f"{name} overflows at {width}px: scrollWidth {scroll} > {inner}; "
            f"widest: {widest_elements(page)}")
    path = screenshot(page, f"{name}-{width}")
    if axe:
        assert_accessible(page, name)
    errors = getattr(page, "errors", [])
    assert errors == [], f"console/page errors on {name}: {errors}"
    return path


def check_widths(page, name: str, widths: tuple[int, ...] = WIDTHS) -> None:
    """`check_page` at each width (desktop first, then phone)."""
    for width in widths:
        check_page(page, name, width)


def login(page, base: str, name: str, password: str = PASSWORD) -> None:
    """Log in through the login form and wait for the navigation to show who we are."""
    page.goto(f"{base}/login")
    page.fill("#name", name)
    page.fill("#password", password)
    page.click("#login")
    page.wait_for_selector("nav .who")
