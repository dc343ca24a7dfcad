"""Supervisor reports over the API: admin keys only, JSON and CSV, documented."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from review.core.clock import utcnow
from review.core.models import Queue, User
from tests.report_data import generate_week

ROUTES = ("/api/v1/reports/dashboard", "/api/v1/reports/sla?queue=alpha",
          "/api/v1/reports/reviewers", "/api/v1/reports/quality?queue=alpha")


@pytest.fixture
def week(app, make_queue, make_user, db):
    make_queue("alpha", sla_seconds=3600)
    make_user("rita", "reviewer", queues=("alpha",))
    return generate_week(db, list(db.query(Queue)), list(db.query(User)), utcnow(),
                         per_queue=80)


def test_reports_need_an_admin_key(week, client, auth, make_key):
    admin = {"Authorization": f"Bearer {make_key('ops', 'admin')}"}
    for route in ROUTES:
        assert client.get(route).status_code == 401
        resp = client.get(route, headers=auth)
        assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "wrong_scope"
        assert client.get(route, headers=admin).status_code == 200


def test_sla_report_json_and_csv(week, client, make_key):
    admin = {"Authorization": f"Bearer {make_key('ops', 'admin')}"}
    today = week.now.date()
    span = f"from={today - timedelta(days=7)}&to={today}"
    report = client.get(f"/api/v1/reports/sla?queue=alpha&{span}", headers=admin).get_json()
    assert report["breached"] == len(report["breaches"]) > 0
    resp = client.get(f"/api/v1/reports/sla?queue=alpha&{span}&format=csv", headers=admin)
    assert resp.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert [r["item_id"] for r in rows] == [b["item_id"] for b in report["breaches"]]
    for query, code in (("", "missing_queue"), ("queue=zzz", "unknown_queue"),
                        ("queue=alpha&format=xml", "bad_format"),
                        ("queue=alpha&format=csv&table=x", "bad_table"),
                        ("queue=alpha&from=2026-02-30", "bad_date")):
        resp = client.get(f"/api/v1/reports/sla?{query}", headers=admin)
        assert resp.status_code in (400, 404) and resp.get_json()["error"]["code"] == code


def test_report_routes_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for route in ROUTES:
        assert route.split("?")[0] in paths
