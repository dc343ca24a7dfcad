"""The supervisor's pages in headless Chromium at 1366 and 390 px: the dashboard (every
number a link to the items behind it, self-refreshing, charts that fit a phone), the
reports (quality's Items column, filter errors on the page, an empty SLA report), the
stalled-queue alert, and the error pages. Every page visited goes through check_page:
no console error, no overflow at 390 px, axe-core without serious or critical
violations, a screenshot in test-artifacts/."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import insert

from review.core.clock import utcnow
from review.core.liveness import Liveness
from review.core.models import Item, Queue, User
from tests.browser.harness import HAS_CHROMIUM, check_page, check_widths, login
from tests.report_data import generate_week

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not HAS_CHROMIUM, reason="needs /usr/bin/chromium"),
]
ALIVE = Liveness(True, 1, 1.0, 1.0)


def evaluate(app):
    from review.alerts.rules import evaluate_alerts
    from review.core.db import get_session

    with app.app_context():
        return evaluate_alerts(get_session(), alive=ALIVE)


def api(page, path: str):
    """GET a JSON report with the page's session cookie."""
    return page.request.get(page.url.split("/", 3)[0] + "//" + page.url.split("/")[2] + path,
                            headers={"Accept": "application/json"}).json()


@pytest.fixture
def week(app, db, make_queue, make_user):
    make_queue("alpha", sla_seconds=3600)
    make_queue("beta", sla_seconds=5400, backlog_cap=1)
    make_user("rita", "reviewer", queues=("alpha", "beta"))
    make_user("boss", "supervisor", queues=("alpha", "beta"))
    return generate_week(db, list(db.query(Queue).order_by(Queue.slug)),
                         list(db.query(User).filter(User.role == "reviewer")), utcnow(),
                         per_queue=120)


def test_dashboard_numbers_link_to_their_items_and_fit_a_phone(app, live_server, week, page):
    evaluate(app)
    login(page, live_server.url, "boss")
    page.click("#nav-dashboard")
    page.wait_for_selector("section.queue-health[data-queue=beta]")
    board = api(page, "/supervise/?format=json")
    beta = next(q for q in board["queues"] if q["queue"] == "beta")
    card = page.locator("section.queue-health[data-queue=beta]")
    assert card.locator("[data-figure=pending]").inner_text() == str(beta["pending"])
    assert card.locator("[data-figure=breached]").inner_text() == str(beta["breached"])
    assert page.locator("#alerts li.alert.open[data-kind=backlog_cap]").count() == 1
    # Distinct colours, tooltips on every bar, a legend readable at phone size.
    fills = set(page.eval_on_selector_all(
        "section[data-queue=beta] svg.chart rect[class^=bar-]",
        "els => els.map(e => e.getAttribute('fill'))"))
    assert len(fills) == 2
    assert card.locator("rect.bar-inflow title").first.text_content().endswith(
        f"inflow: {beta['hours'][0]['inflow']}")
    check_widths(page, "supervisor-dashboard")
    box = card.locator("svg.chart").first.bounding_box()
    assert box and box["width"] <= 390 - 2 * 10  # the chart scales down with the page
    topbar = page.locator("header.topbar").bounding_box()
    assert topbar and topbar["height"] < 70  # one row, not a wrapped pile of links
    page.set_viewport_size({"width": 1366, "height": 900})

    # The "breached" number opens exactly the breached items of that queue.
    card.locator("a:has([data-figure=breached])").click()
    page.wait_for_selector("#open-items")
    assert "sla=breached" in page.url
    assert page.locator("#filter-sla").input_value() == "breached"
    shown = page.locator("#open-items tbody tr")
    assert shown.count() == min(beta["breached"], 50)
    assert set(page.eval_on_selector_all("#open-items tbody tr",
                                         "rs => rs.map(r => r.dataset.sla)")) == {"breached"}
    count = int(re.match(r"(\d+) item", page.inner_text("#items-count")).group(1))
    assert count == beta["breached"]
    check_widths(page, "supervisor-manage-breached")


def test_dashboard_refreshes_itself(app, live_server, db, make_queue, make_user, page):
    queue = make_queue("live", sla_seconds=3600)
    make_user("boss", "supervisor", queues=("live",))
    login(page, live_server.url, "boss")
    page.goto(f"{live_server.url}/supervise/?refresh=5")
    figure = page.locator("section[data-queue=live] [data-figure=pending]")
    assert figure.inner_text() == "0"
    now = utcnow()
    db.execute(insert(Item), [dict(
        id=f"live{n:04d}", queue_id=queue.id, submitter="up", body_hash="0", status="pending",
        route_path="human", route_reasons=[], confidence=0.3, created_at=now,
        due_at=now + timedelta(hours=1), output="x", context=[], meta={}) for n in range(3)])
    db.commit()
    page.wait_for_function(
        "() => document.querySelector('section[data-queue=live] [data-figure=pending]')"
        ".textContent === '3'", timeout=15000)
    assert page.locator("#dashboard-live").get_attribute("data-refreshed")
    check_page(page, "supervisor-dashboard-refreshed", 1366)


def test_a_stalled_queue_raises_an_alert_on_the_dashboard(app, live_server, db, make_queue,
                                                         make_user, page):
    queue = make_queue("stuck", sla_seconds=600)
    make_user("boss", "supervisor", queues=("stuck",))
    now = utcnow()
    db.execute(insert(Item), [dict(
        id=f"stuck{n:03d}", queue_id=queue.id, submitter="up", body_hash="0",
        status="pending", route_path="human", route_reasons=[], confidence=0.3,
        created_at=now - timedelta(hours=2), due_at=now - timedelta(hours=1, minutes=50),
        sla_state="breached", output="x", context=[], meta={}) for n in range(133)])
    db.commit()
    assert "stalled:stuck" in evaluate(app).opened
    login(page, live_server.url, "boss")
    page.goto(f"{live_server.url}/supervise/")
    alert = page.locator("#alerts li.alert.open[data-kind=stalled]")
    assert "Queue stuck is stalled: 133 pending (133 breached)" in alert.inner_text()
    assert page.locator("#no-alerts").count() == 0
    check_widths(page, "supervisor-dashboard-stalled")
    alert.locator("a:has-text('see the items')").click()
    page.wait_for_selector("#open-items")
    assert page.locator("#filter-status").input_value() == "pending"
    assert "133 items; page 1 of 3" in page.inner_text("#items-count")


def test_reports_show_their_figures_and_their_errors(app, live_server, week, page):
    login(page, live_server.url, "boss")
    quality = api(page, "/supervise/quality?queue=alpha&format=json")
    page.goto(f"{live_server.url}/supervise/quality?queue=alpha")
    cells = page.eval_on_selector_all("#versions tbody td[data-col=items]",
                                      "tds => tds.map(td => td.textContent.trim())")
    assert cells == [str(v["items"]) for v in quality["versions"]]
    assert "built-in method" not in page.inner_text("main")
    # Calibration points carry their counts and a 95% interval.
    points = page.locator("svg.chart circle.calibration-point")
    assert points.count() >= 5
    assert page.locator("svg.chart line.calibration-interval").count() == points.count()
    bucket = next(b for b in quality["calibration"] if b["approval_rate"] is not None)
    assert f"{bucket['approved']}/{bucket['human_decided']} approved" in \
        points.first.locator("title").text_content()
    assert "95% interval" in points.first.locator("title").text_content()
    check_widths(page, "supervisor-quality")

    page.goto(f"{live_server.url}/supervise/sla?queue=beta")
    assert int(page.inner_text("[data-figure=decided]")) > 0
    first = page.locator("#sla-breaches tbody tr a.item-id").first
    assert first.get_attribute("href").startswith("/items/")
    time = page.locator("#sla-breaches tbody time.when").first
    assert time.get_attribute("title").endswith(" UTC")
    assert re.search(r"\bago\b", time.inner_text())  # local and relative
    check_widths(page, "supervisor-sla")

    page.goto(f"{live_server.url}/supervise/reviewers")
    assert page.locator("#reviewers tr[data-reviewer=rita]").count() == 1
    check_widths(page, "supervisor-reviewers")

    forecast = api(page, "/supervise/forecast?queue=alpha&format=json")
    page.goto(f"{live_server.url}/supervise/forecast?queue=alpha")
    assert int(page.inner_text("[data-figure=backlog_now]")) == forecast["backlog_now"]
    assert int(page.inner_text("[data-figure=peak_reviewers]")) == \
        forecast["peak_reviewers_needed"]
    assert page.locator("#forecast-hours tbody tr").count() == 24
    assert "Erlang C" in page.inner_text("#forecast-method")
    check_widths(page, "supervisor-forecast")

    # Filter errors come back as the page, with the message and the form.
    today = week.now.date()
    for query, message in [
        (f"from={today}&to={today - timedelta(days=3)}", "from must not be after to."),
        (f"from={today - timedelta(days=120)}&to={today}", "at most 92 days"),
        ("from=2026-13-01", "from and to must be dates as YYYY-MM-DD."),
    ]:
        response = page.goto(f"{live_server.url}/supervise/sla?queue=beta&{query}")
        assert response.status == 400 and "text/html" in response.headers["content-type"]
        assert message in page.inner_text("#range-error")
        assert page.locator("#report-filters").is_visible()
        page.errors.clear()  # Chromium logs the 400 status of the page itself
    check_page(page, "supervisor-sla-bad-range", 390)

    # An empty range: no "Decided by: ." any more.
    page.goto(f"{live_server.url}/supervise/sla?queue=beta&from=2001-01-01&to=2001-01-07")
    assert page.inner_text("#decided-by").startswith("Nothing was decided in this range.")
    check_page(page, "supervisor-sla-empty", 1366)


def test_error_pages_are_app_pages_with_a_way_back(app, live_server, client, make_queue,
                                                   make_user, page):
    make_queue("alpha")
    make_user("rita", "reviewer", queues=("alpha",))
    login(page, live_server.url, "rita")
    for path, status, title in [("/no/such/page", 404, "Not found"),
                                ("/supervise/", 403, "Not allowed"),
                                ("/items/doesnotexist", 404, "Not found")]:
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == status
        assert page.inner_text("#error-page h1") == title
        assert page.locator("nav .who").is_visible()  # the app's own navigation
        assert page.locator("#error-home").get_attribute("href") == "/"
        page.errors.clear()  # Chromium logs the page's own 4xx status
        check_widths(page, f"error-{status}")
    page.click("#error-home")
    page.wait_for_selector("tr[data-queue=alpha]")
    # The API keeps its JSON errors.
    answer = client.get("/api/v1/items/nope", headers={"Authorization": "Bearer x"})
    assert answer.is_json and "error" in answer.get_json()
    assert client.get("/no/such/page", headers={"Accept": "application/json"}).is_json
