"""Dashboard figures, the SLA report, the reviewer report and the quality report on a
generated week of items, each recomputed here in plain Python from the raw rows."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import date, timedelta

import pytest

from review.api.errors import status_of
from review.core.clock import isoformat, utcnow
from review.core.errors import DomainError
from review.core.models import Queue, User
from review.reports.sla_report import DateRange, parse_range
from tests.report_data import generate_week, login

RATIO = 0.8


@pytest.fixture(params=["live", "rolled-up"])
def week(request, app, make_queue, make_user, db):
    """The week, with reports computed from the raw rows only, or from the daily
    rollups of its closed days (plus today live): the figures must not differ."""
    make_queue("alpha", sla_seconds=3600, backlog_cap=5)
    make_queue("beta", sla_seconds=5400)
    for name in ("rita", "sam", "tom"):
        make_user(name, "reviewer", queues=("alpha", "beta"))
    queues = list(db.query(Queue).order_by(Queue.slug))
    reviewers = list(db.query(User).order_by(User.name))
    data = generate_week(db, queues, reviewers, utcnow(), per_queue=300)
    if request.param == "rolled-up":
        from review.reports.rollups import refresh_rollups

        # The week's 7 closed days (6 in the hour after midnight), 5 kinds each.
        assert refresh_rollups(db, data.now, days=10) in (5 * 6, 5 * 7)
        assert refresh_rollups(db, data.now, days=10) == 0  # nothing new closed since
    return data


def rank(values, p):
    """Nearest rank: the value at rank ceil(p * n) of the sorted values."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(round(p * len(ordered), 9))) - 1] if ordered else None


def seconds(start, end):
    """Whole seconds, truncated (the reports' resolution)."""
    return math.floor(round((end - start).total_seconds(), 3))


def bucket_of(s):
    """Durations: 1 s below a minute, 5 s below 10 min, 30 s below an hour, 5 min below
    a day, 30 min beyond (the reports' resolution)."""
    for limit, step in ((60, 1), (600, 5), (3600, 30), (86400, 300), (10**12, 1800)):
        if s < limit:
            return s - s % step


def close(a, b, tol=0.01):
    return (a is None and b is None) or (a is not None and b is not None and abs(a - b) <= tol)


# --- dashboard ---------------------------------------------------------------------------


def expected_health(week, queue, now):
    rows = [r for r in week.items if r["queue_id"] == queue.id]
    open_rows = [r for r in rows if r["status"] in ("checking", "pending", "in_review")]
    window = timedelta(seconds=(1 - RATIO) * queue.sla_seconds)
    last_hour = now.replace(minute=0, second=0, microsecond=0)
    first_hour = last_hour - timedelta(hours=23)
    inflow, decisions = Counter(), Counter()
    split = Counter()
    for r in rows:
        if first_hour <= r["created_at"] <= now:
            inflow[r["created_at"].replace(minute=0, second=0, microsecond=0)] += 1
            split[r["route_path"]] += 1
        if r["decided_at"] and first_hour <= r["decided_at"] <= now:
            decisions[r["decided_at"].replace(minute=0, second=0, microsecond=0)] += 1
    recent = sum(1 for r in rows if r["decided_at"] and r["decided_by_kind"] != "router"
                 and now - timedelta(hours=1) < r["decided_at"] <= now)
    backlog = len(open_rows)
    return {
        "pending": sum(r["status"] == "pending" for r in open_rows),
        "in_review": sum(r["status"] == "in_review" for r in open_rows),
        "checking": sum(r["status"] == "checking" for r in open_rows),
        "oldest": max((now - r["created_at"]).total_seconds() for r in open_rows),
        "breached": sum(1 for r in open_rows if r["due_at"] and r["due_at"] <= now),
        "at_risk": sum(1 for r in open_rows
                       if r["due_at"] and now < r["due_at"] <= now + window),
        "inflow": [inflow[first_hour + timedelta(hours=i)] for i in range(24)],
        "decisions": [decisions[first_hour + timedelta(hours=i)] for i in range(24)],
        "split": {p: split[p] for p in ("auto", "check", "human")},
        "recent": recent,
        "clear": None if recent == 0 else backlog / recent * 3600,
    }


def test_queue_health_matches_the_raw_items(app, week, db):
    from review.reports.backlog import queue_health

    now = week.now
    health = queue_health(db, week.queues, now, RATIO)
    assert [h.slug for h in health] == ["alpha", "beta"]
    for queue, h in zip(week.queues, health, strict=True):
        want = expected_health(week, queue, now)
        assert (h.pending, h.in_review, h.checking) == (
            want["pending"], want["in_review"], want["checking"])
        assert h.backlog > 0 and h.breached == want["breached"] and h.at_risk == want["at_risk"]
        assert close(h.oldest_age_seconds, want["oldest"], 0.002)
        assert [x["inflow"] for x in h.hours] == want["inflow"]
        assert [x["decisions"] for x in h.hours] == want["decisions"]
        assert h.split == want["split"]
        assert h.recent_decisions == want["recent"]
        assert close(h.projected_clear_seconds, want["clear"])
    assert sum(want_total for want_total in (health[0].breached, health[1].breached)) > 0


def test_dashboard_json_matches_the_raw_items_as_of_its_own_time(app, week, client, make_user):
    from datetime import datetime

    make_user("boss", "supervisor", queues=("alpha", "beta"))
    login(client, "boss")
    body = client.get("/supervise/?format=json").get_json()
    as_of = datetime.fromisoformat(body["as_of"].rstrip("Z"))
    for queue, got in zip(week.queues, body["queues"], strict=True):
        want = expected_health(week, queue, as_of)
        assert got["queue"] == queue.slug
        assert (got["pending"], got["in_review"], got["checking"], got["breached"],
                got["at_risk"]) == (want["pending"], want["in_review"], want["checking"],
                                    want["breached"], want["at_risk"])
        assert [h["inflow"] for h in got["hours"]] == want["inflow"]
        assert [h["decisions"] for h in got["hours"]] == want["decisions"]
        assert got["split_24h"] == want["split"]
        assert close(got["projected_clear_seconds"], want["clear"])


# --- SLA report --------------------------------------------------------------------------


def expected_sla(week, queue, span):
    decided = [r for r in week.items if r["queue_id"] == queue.id and r["decided_at"]
               and span.start <= r["decided_at"] < span.end]
    timed = [r for r in decided if r["due_at"]]
    ttd = [bucket_of(seconds(r["created_at"], r["decided_at"])) for r in timed]
    late = [r for r in timed if r["decided_at"] > r["due_at"]]
    days = {}
    for d in span.days():
        on_day = [r for r in timed if r["decided_at"].date() == d]
        days[d.isoformat()] = {
            "decided": sum(1 for r in decided if r["decided_at"].date() == d),
            "sla_items": len(on_day),
            "breached": sum(1 for r in on_day if r["decided_at"] > r["due_at"]),
            "p90": rank([bucket_of(seconds(r["created_at"], r["decided_at"])) for r in on_day],
                        0.9)}
    return {"decided": len(decided), "by_kind": Counter(r["decided_by_kind"] for r in decided),
            "sla_items": len(timed), "breached": len(late),
            "p": {k: rank(ttd, p) for k, p in (("p50", .5), ("p90", .9), ("p99", .99))},
            "late_ids": [r["id"] for r in sorted(late, key=lambda r: (r["decided_at"], r["id"]))],
            "days": days}


@pytest.mark.parametrize("days_back", [7, 2])
def test_sla_report_matches_the_raw_items(app, week, db, days_back):
    from review.reports.sla_report import sla_report_json

    span = DateRange(week.now.date() - timedelta(days=days_back), week.now.date())
    for queue in week.queues:
        report = sla_report_json(db, queue, span)
        want = expected_sla(week, queue, span)
        assert report["decided"] == want["decided"] > 0
        assert report["decided_by_kind"] == dict(want["by_kind"])
        assert (report["sla_items"], report["breached"]) == (want["sla_items"],
                                                             want["breached"])
        assert want["breached"] > 0
        assert close(report["breach_rate"], want["breached"] / want["sla_items"], 1e-9)
        for key in ("p50", "p90", "p99"):
            assert close(report["time_to_decision_seconds"][key], want["p"][key]), key
        assert [b["item_id"] for b in report["breaches"]] == want["late_ids"]
        for row in report["days"]:
            expect = want["days"][row["day"]]
            assert (row["decided"], row["sla_items"], row["breached"]) == (
                expect["decided"], expect["sla_items"], expect["breached"])
            assert close(row["p90_seconds"], expect["p90"])


def test_sla_csv_lists_every_breach(app, week, db):
    import csv
    import io

    from review.reports.sla_report import sla_csv

    queue = week.queues[0]
    span = DateRange(week.now.date() - timedelta(days=7), week.now.date())
    rows = list(csv.DictReader(io.StringIO("".join(sla_csv(db, queue, span, "breaches")))))
    want = expected_sla(week, queue, span)
    assert [r["item_id"] for r in rows] == want["late_ids"]
    by_id = {r["id"]: r for r in week.items}
    for row in rows:
        item = by_id[row["item_id"]]
        assert row["decided_at"] == isoformat(item["decided_at"])
        assert close(float(row["late_by_seconds"]),
                     (item["decided_at"] - item["due_at"]).total_seconds(), 0.001)
    days = list(csv.DictReader(io.StringIO("".join(sla_csv(db, queue, span, "days")))))
    assert [int(d["breached"]) for d in days] == [v["breached"] for v in want["days"].values()]


def test_parse_range_defaults_and_refusals():
    today = date(2026, 3, 10)
    assert parse_range(None, None, today=today) == DateRange(date(2026, 3, 4), today)
    assert parse_range("2026-03-01", "2026-03-02", today=today).end.isoformat() == \
        "2026-03-03T00:00:00"
    for bad in (("2026-03-05", "2026-03-01"), ("nope", None), ("2025-01-01", "2026-01-01"),
                (None, "0001-01-01"), ("9999-12-31", "9999-12-31")):
        with pytest.raises(DomainError) as exc:
            parse_range(*bad, today=today)
        assert status_of(exc.value) == 400


# --- reviewer report ---------------------------------------------------------------------


def test_reviewer_report_matches_the_raw_reviews(app, week, db):
    from review.reports.workload import reviewer_report

    span = DateRange(week.now.date() - timedelta(days=7), week.now.date())
    report = reviewer_report(db, week.queues, span)
    names = {u.id: u.name for u in week.reviewers}
    by_name = {r["name"]: r for r in report["reviewers"]}
    assert set(by_name) == set(names.values())
    for reviewer_id, name in names.items():
        mine = [r for r in week.reviews if r["reviewer_id"] == reviewer_id]
        got = by_name[name]
        assert got["decisions"] == len(mine) > 0
        per_day = Counter(r["created_at"].date().isoformat() for r in mine)
        assert got["per_day"] == dict(per_day)
        assert got["median_handling_seconds"] == rank(
            [bucket_of(seconds(r["claimed_at"], r["created_at"])) for r in mine], 0.5)
        assert close(got["edit_share"], sum(r["outcome"] == "edit" for r in mine) / len(mine),
                     1e-9)
        assert close(got["reject_share"],
                     sum(r["outcome"] == "reject" for r in mine) / len(mine), 1e-9)
        assert got["current_claims"] == sum(
            1 for r in week.items if r["status"] == "in_review" and r["claimed_by"] ==
            reviewer_id)


# --- quality report ----------------------------------------------------------------------


def bucket(confidence):
    for k in range(9):
        if confidence < round(0.1 * (k + 1), 1):
            return k
    return 9


def test_quality_report_matches_the_raw_items(app, week, db):
    from review.reports.quality import quality_report

    span = DateRange(week.now.date() - timedelta(days=7), week.now.date())
    for queue in week.queues:
        report = quality_report(db, queue, span)
        rows = [r for r in week.items if r["queue_id"] == queue.id
                and span.start <= r["created_at"] < span.end]
        # Human figures count decisions made in the range, whenever the item came in.
        human = [r for r in week.items if r["queue_id"] == queue.id and r["decided_at"]
                 and r["decided_by_kind"] == "reviewer"
                 and span.start <= r["decided_at"] < span.end]
        groups = defaultdict(list)
        for r in rows:
            groups[(r["model_name"], r["model_version"], r["prompt_version"])].append(r)
        got = {(v["model_name"], v["model_version"], v["prompt_version"]): v
               for v in report["versions"]}
        assert set(got) == set(groups)
        for key, items in groups.items():
            v = got[key]
            decided = [r for r in human
                       if (r["model_name"], r["model_version"], r["prompt_version"]) == key]
            assert v["items"] == len(items)
            assert v["routed"] == {p: sum(r["route_path"] == p for r in items)
                                   for p in ("auto", "check", "human")}
            assert v["human_decided"] == len(decided)
            assert v["approved"] == sum(r["decision_outcome"] == "approve" for r in decided)
            both = [r for r in decided if r["check_verdict"] in ("pass", "fail")]
            assert v["check_and_human"] == len(both)
            agree = sum((r["check_verdict"] == "pass") == (r["decision_outcome"] == "approve")
                        for r in both)
            assert close(v["check_agreement"], agree / len(both) if both else None, 1e-9)
        # Calibration: per bucket, approvals among human decisions.
        for row in report["calibration"]:
            in_bucket = [r for r in human if bucket(r["confidence"]) == row["bucket"]]
            assert row["human_decided"] == len(in_bucket)
            assert row["approved"] == sum(r["decision_outcome"] == "approve" for r in in_bucket)
            if in_bucket:
                mean = sum(r["confidence"] for r in in_bucket) / len(in_bucket)
                assert close(row["mean_confidence"], mean, 1e-6)
        assert sum(r["human_decided"] for r in report["calibration"]) == len(human) > 0
        # Agreement matrix and rejection reasons.
        matrix = Counter((r["check_verdict"], r["decision_outcome"]) for r in human
                         if r["check_verdict"])
        assert {(v, o): n for v, outcomes in report["agreement"]["matrix"].items()
                for o, n in outcomes.items()} == dict(matrix)
        reasons = Counter(r["decision_reason"] or "(no reason given)" for r in human
                          if r["decision_outcome"] == "reject")
        assert [(x["reason"], x["count"]) for x in report["rejection_reasons"]] == sorted(
            reasons.items(), key=lambda kv: (-kv[1], kv[0]))


def test_a_new_version_is_its_own_row_from_its_first_item(app, week, db):
    from review.reports.quality import quality_report

    queue = week.queues[-1]
    span = DateRange(week.now.date() - timedelta(days=1), week.now.date())
    report = quality_report(db, queue, span)
    newest = report["versions"][0]  # newest first
    assert (newest["model_version"], newest["prompt_version"], newest["items"]) == ("3", "p9", 1)
    assert newest["human_decided"] == 0 and newest["approval_rate"] is None
    narrowed = quality_report(db, queue, span, newest["key"])
    assert sum(b["human_decided"] for b in narrowed["calibration"]) == 0
    older = next(v for v in report["versions"] if v["model_name"] == "claude")
    narrowed = quality_report(db, queue, span, older["key"])
    assert sum(b["human_decided"] for b in narrowed["calibration"]) == older["human_decided"]
