"""Daily rollups: closed days are read from the stored rows, today live; the stored
rows equal the live grouping; the CLI and the periodic job fill them."""

from __future__ import annotations

from datetime import timedelta

from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import insert, select, update

from review.cli import main
from review.core.clock import utcnow
from review.core.models import Item, ReportRollup, ReportRollupDay
from review.reports.rollups import KINDS, closed_until, live_rows, refresh_rollups
from review.reports.sla_report import DateRange


def add_decided(db, queue, created, decided, item_id):
    db.execute(insert(Item), [dict(
        id=item_id, queue_id=queue.id, submitter="up", body_hash="0", status="approved",
        route_path="human", route_reasons=[], confidence=0.4, output="x", context=[], meta={},
        created_at=created, due_at=created + timedelta(seconds=60), decided_at=decided,
        decided_by="rita", decided_by_kind="reviewer", decision_outcome="approve")])
    db.commit()


def test_closed_days_come_from_the_rollup_and_today_is_live(app, db, make_queue):
    from review.reports.sla_report import sla_report

    queue = make_queue("rq")
    now = utcnow()
    yesterday = now - timedelta(days=2)  # closed whatever the time of day
    add_decided(db, queue, yesterday - timedelta(seconds=30), yesterday, "old1")
    closed = (closed_until(now) - yesterday.date()).days + 1
    assert refresh_rollups(db, now) == len(KINDS) * closed
    stored = db.scalars(select(ReportRollup).where(ReportRollup.kind == "decided")).all()
    live = live_rows(db, "decided", yesterday.date())
    assert [(r.queue_id, (r.k1, r.k2, r.k3), r.n) for r in stored] == [
        (r.queue_id, r.keys, r.n) for r in live]
    span = DateRange(yesterday.date(), now.date())
    # Stored rows are what the report reads for a closed day: change one and it shows.
    db.execute(update(ReportRollup).where(ReportRollup.kind == "decided").values(n=5))
    db.commit()
    assert sla_report(db, queue, span)["decided"] == 5
    # Today is computed live: a decision made now shows at once.
    add_decided(db, queue, now - timedelta(seconds=90), now, "new1")
    report = sla_report(db, queue, span)
    assert report["decided"] == 6 and report["breached"] == 1  # 90 s > the 60 s SLA


def test_cli_rolls_up_and_rebuilds(app, db, make_queue):
    queue = make_queue("cq")
    add_decided(db, queue, utcnow() - timedelta(days=3), utcnow() - timedelta(days=3), "c1")
    runner = CliRunner()
    info = ScriptInfo(create_app=lambda: app)
    result = runner.invoke(main, obj=info, args=["reports", "rollup", "--days", "5"])
    assert result.exit_code == 0, result.output
    days = db.scalars(select(ReportRollupDay.day).where(ReportRollupDay.kind == "decided"))
    assert len(set(days)) >= 3
    again = runner.invoke(main, obj=info, args=["reports", "rollup", "--days", "5"])
    assert "rolled up 0 kind-days" in again.output
    rebuilt = runner.invoke(main, obj=info, args=["reports", "rollup", "--days", "5", "--rebuild"])
    assert "rolled up 0 kind-days" not in rebuilt.output
    assert db.scalar(select(ReportRollup.n).where(ReportRollup.kind == "decided")) == 1
