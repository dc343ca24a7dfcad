"""Supervisor pages over HTTP: who may see what, the pages render the report figures,
the exports download, and the charts are CSP-safe SVG."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from review.core.clock import isoformat, utcnow
from review.core.models import Alert, Item, Queue, User
from tests.report_data import generate_week, login


@pytest.fixture
def week(app, make_queue, make_user, db):
    make_queue("alpha", sla_seconds=3600)
    make_queue("beta", sla_seconds=5400)
    make_user("rita", "reviewer", queues=("alpha",))
    queues = list(db.query(Queue).order_by(Queue.slug))
    reviewers = list(db.query(User).order_by(User.name))
    return generate_week(db, queues, reviewers, utcnow(), per_queue=120)


PAGES = ("/supervise/", "/supervise/sla", "/supervise/reviewers", "/supervise/quality",
         "/supervise/forecast")


def test_anonymous_is_sent_to_login_and_reviewers_are_refused(week, client):
    for page in PAGES:
        resp = client.get(page)
        assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    login(client, "rita")
    for page in PAGES:
        assert client.get(page).status_code == 403


def test_a_supervisor_sees_only_their_queues(week, client, make_user):
    make_user("ann", "supervisor", queues=("alpha",))
    login(client, "ann")
    body = client.get("/supervise/?format=json").get_json()
    assert [q["queue"] for q in body["queues"]] == ["alpha"]
    assert client.get("/supervise/sla?queue=beta").status_code == 404
    assert client.get("/supervise/quality?queue=beta&format=json").status_code == 404
    assert client.get("/supervise/reviewers?queue=beta").status_code == 404
    assert client.get("/supervise/sla?queue=alpha").status_code == 200
    reviewers = client.get("/supervise/reviewers?format=json").get_json()
    assert reviewers["queues"] == ["alpha"]


def test_an_admin_sees_every_queue_and_the_nav_link(week, client, make_user):
    make_user("root", "admin")
    login(client, "root")
    home = client.get("/").get_data(as_text=True)
    assert 'id="nav-dashboard"' in home
    page = client.get("/supervise/").get_data(as_text=True)
    assert re.findall(r'class="card queue-health" data-queue="(\w+)"', page) == ["alpha", "beta"]


def test_dashboard_page_shows_the_figures_and_csp_safe_charts(week, client, make_user):
    make_user("boss", "supervisor", queues=("alpha", "beta"))
    login(client, "boss")
    resp = client.get("/supervise/")
    html = resp.get_data(as_text=True)
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    data = client.get("/supervise/?format=json").get_json()
    alpha = data["queues"][0]
    card = html.split('data-queue="alpha"', 1)[1].split("</section>", 1)[0]
    assert f'data-figure="pending">{alpha["pending"]}<' in card
    assert f'data-figure="breached">{alpha["breached"]}<' in card
    assert card.count("<svg") == 2 and "style=" not in card
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)  # no inline script, only files
    bars = re.findall(r'class="bar-inflow" data-value="(\d+)"', card)
    assert [int(b) for b in bars] == [h["inflow"] for h in alpha["hours"]]


def test_sla_page_and_exports(week, client, make_user):
    make_user("boss", "supervisor", queues=("alpha", "beta"))
    login(client, "boss")
    today = week.now.date()
    span = f"from={today - timedelta(days=7)}&to={today}"
    report = client.get(f"/supervise/sla?queue=beta&{span}&format=json").get_json()
    assert report["queue"] == "beta" and report["breached"] == len(report["breaches"]) > 0
    html = client.get(f"/supervise/sla?queue=beta&{span}").get_data(as_text=True)
    assert f'data-figure="breached">{report["breached"]}<' in html
    assert f'data-figure="decided">{report["decided"]}<' in html
    resp = client.get(f"/supervise/sla?queue=beta&{span}&format=csv")
    assert resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert [r["item_id"] for r in rows] == [b["item_id"] for b in report["breaches"]]
    days = client.get(f"/supervise/sla?queue=beta&{span}&format=csv&table=days")
    assert len(list(csv.DictReader(io.StringIO(days.get_data(as_text=True))))) == 8
    bad = client.get("/supervise/sla?queue=beta&from=2026-13-01&format=json")
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "bad_date"
    # The page itself answers with the page and the message, not raw JSON.
    page = client.get("/supervise/sla?queue=beta&from=2026-13-01")
    assert page.status_code == 400 and page.mimetype == "text/html"
    assert "from and to must be dates as YYYY-MM-DD." in page.get_data(as_text=True)


def test_quality_and_reviewer_pages_render(week, client, make_user):
    make_user("boss", "supervisor", queues=("alpha", "beta"))
    login(client, "boss")
    report = client.get("/supervise/quality?queue=alpha&format=json").get_json()
    html = client.get("/supervise/quality?queue=alpha").get_data(as_text=True)
    for version in report["versions"]:
        assert f'data-version="{version["key"]}"' in html
    assert html.count('class="calibration-point"') == sum(
        1 for b in report["calibration"] if b["approval_rate"] is not None)
    key = report["versions"][-1]["key"]
    narrowed = client.get(f"/supervise/quality?queue=alpha&version={key}")
    assert narrowed.status_code == 200 and 'class="selected"' in narrowed.get_data(as_text=True)
    reviewers = client.get("/supervise/reviewers").get_data(as_text=True)
    assert 'data-reviewer="rita"' in reviewers


def test_open_alerts_show_current_figures(app, client, db, make_queue, make_user):
    """An open alert's text follows the figures while it holds ("backlog 5" and "12 of 12"
    frozen at opening beside a live backlog of 3 misled), with the time they were taken."""
    from tests.alerts.test_alerts import add_items, evaluate

    queue = make_queue("capped", backlog_cap=2, sla_seconds=600)
    make_user("boss", "supervisor", queues=("capped",))
    waiting = add_items(db, queue, 5)
    now = utcnow()
    decided = dict(status="approved", decided_by_kind="reviewer", decision_outcome="approve")
    add_items(db, queue, 6, decided_at=now - timedelta(minutes=50),
              due_at=now - timedelta(minutes=55), **decided)
    add_items(db, queue, 6, decided_at=now - timedelta(minutes=20),
              due_at=now - timedelta(minutes=25), **decided)
    assert {"backlog_cap:capped", "breach_rate:capped"} <= set(evaluate(app, now).opened)
    assert "12 of 12 items decided" in db.scalars(select(Alert).where(
        Alert.kind == "breach_rate")).one().message
    for item_id in waiting[:2]:
        db.execute(Item.__table__.update().where(Item.id == item_id).values(
            status="approved", decided_at=now, decided_by_kind="reviewer"))
    db.commit()
    later = now + timedelta(minutes=15)  # the decisions of 50 min ago left the window
    evaluate(app, later)

    login(client, "boss")
    html = client.get("/supervise/").get_data(as_text=True)
    alerts = html.split('id="alerts"', 1)[1].split("</section>", 1)[0]
    card = html.split('data-queue="capped"', 1)[1].split("</section>", 1)[0]
    assert 'data-figure="pending">3<' in card
    assert "Queue capped: backlog 3 is above its cap of 2." in alerts
    assert "6 of 8 items decided in the last 60 min missed their SLA" in alerts
    assert "backlog 5" not in alerts and "12 of 12" not in alerts
    # A <time> the browser shows in local, relative terms; the exact UTC on hover.
    stamp = isoformat(later)[:19] + "Z"
    assert f'figures as of <time class="when" datetime="{stamp}"' in alerts


def test_forecast_page_shows_the_reports_figures(week, client, make_user, db):
    """The dashboard's link to the forecast: the same figures as its JSON (and the API's
    report), the hours as a table, the method and its assumptions in words."""
    make_user("boss", "supervisor", queues=("alpha", "beta"))
    login(client, "boss")
    dashboard = client.get("/supervise/").get_data(as_text=True)
    assert "/supervise/forecast?queue=alpha" in dashboard
    report = client.get("/supervise/forecast?queue=alpha&format=json").get_json()
    waiting = db.query(Item).filter(Item.queue_id == db.query(Queue.id).filter(
        Queue.slug == "alpha").scalar_subquery(), Item.status.in_(("pending", "in_review")))
    assert report["backlog_now"] == waiting.count() > 0
    html = client.get("/supervise/forecast?queue=alpha").get_data(as_text=True)
    figure = re.search(r'data-figure="backlog_now">(\d+)<', html).group(1)
    assert int(figure) == report["backlog_now"]
    peak = re.search(r'data-figure="peak_reviewers">(\d+)<', html).group(1)
    assert int(peak) == report["peak_reviewers_needed"]
    assert html.count("<tr><td>") == len(report["hours"]) == 24
    assert report["assumptions"][0] in html
    assert "Erlang C" in html
    assert client.get("/supervise/forecast?queue=nope").status_code == 404
