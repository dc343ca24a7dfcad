"""The supervisor dashboard in headless Chromium: it renders under the strict CSP
(no console errors), its SVG charts draw, and the SLA CSV export downloads."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from review.core.clock import utcnow
from review.core.models import Queue, User
from tests.browser.conftest import HAS_CHROMIUM, screenshot
from tests.report_data import generate_week

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not HAS_CHROMIUM, reason="needs /usr/bin/chromium"),
]


@pytest.fixture
def browser_page(chromium):
    context = chromium.new_context(accept_downloads=True, viewport={"width": 1280,
                                                                     "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.errors = errors  # type: ignore[attr-defined]
    yield page
    context.close()


def test_dashboard_renders_and_the_sla_csv_downloads(app, live_server, db, make_queue,
                                                     make_user, browser_page, tmp_path):
    make_queue("alpha", sla_seconds=3600)
    make_queue("beta", sla_seconds=5400, backlog_cap=1)  # it has 2+ waiting
    make_user("rita", "reviewer", queues=("alpha", "beta"))
    make_user("boss", "supervisor", queues=("alpha", "beta"))
    week = generate_week(db, list(db.query(Queue).order_by(Queue.slug)),
                         list(db.query(User).filter(User.role == "reviewer")), utcnow(),
                         per_queue=150)
    with app.app_context():
        from review.alerts.rules import evaluate_alerts
        from review.core.db import get_session
        from review.core.liveness import Liveness

        report = evaluate_alerts(get_session(), alive=Liveness(True, 1, 1.0, 1.0))
    assert "backlog_cap:beta" in report.opened

    page = browser_page
    page.goto(f"{live_server.url}/login")
    page.fill("input[name=name]", "boss")
    page.fill("input[name=password]", "correct horse")
    page.click("button[type=submit]")
    page.click("#nav-dashboard")
    page.wait_for_selector("section.queue-health[data-queue=beta]")
    assert page.locator("section.queue-health").count() == 2
    assert page.locator("svg.chart rect.bar-inflow").count() == 2 * 24
    box = page.locator("section[data-queue=alpha] svg.chart").first.bounding_box()
    assert box and box["width"] > 400 and box["height"] > 100
    assert page.locator("#alerts li.alert.open").count() == len(report.opened)
    assert page.locator("#alerts li.alert.open[data-kind=backlog_cap]").count() == 1
    screenshot(page, "dashboard")

    page.click("section[data-queue=beta] a:has-text('SLA report')")
    page.wait_for_selector("#sla-summary")
    breached = int(page.text_content("[data-figure=breached]"))
    with page.expect_download() as download_info:
        page.click("#export-csv")
    download = download_info.value
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    assert download.suggested_filename.startswith("sla-beta-")
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert len(rows) == breached > 0
    queue = next(q for q in week.queues if q.slug == "beta")
    start = week.now.date() - timedelta(days=6)
    late = {r["id"] for r in week.items if r["queue_id"] == queue.id and r["decided_at"]
            and r["due_at"] and r["decided_at"] > r["due_at"]
            and r["decided_at"].date() >= start}
    assert {r["item_id"] for r in rows} == late
    screenshot(page, "sla-report")

    page.goto(f"{live_server.url}/supervise/quality?queue=alpha")
    assert page.locator("svg.chart circle.calibration-point").count() >= 5
    screenshot(page, "quality-report")
    # Nothing blocked by the Content-Security-Policy, nothing missing.
    assert page.errors == []
