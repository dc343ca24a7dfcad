"""The manage page's item list and "Take", through the test client with CSRF on: a
hand-edited query string never errors, paging past the end shows the last page, and
taking an item leases it to the supervisor (one held item per queue)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert

from review.core.clock import utcnow
from review.core.models import Item
from tests.web.forms import csrf, login


def inspect(app, fn):
    """Run `fn(session)` in its own app context (the `db` fixture's context would stay
    pushed under the test client's requests and share their session)."""
    from review.core.db import get_session

    with app.app_context():
        return fn(get_session())


def item(app, item_id: str) -> Item:
    return inspect(app, lambda s: s.get(Item, item_id))


@pytest.fixture
def queue(app, make_queue, make_user):
    queue = make_queue("support", sla_seconds=3600)
    make_user("sue", "supervisor", queues=("support",))
    make_user("rita", "reviewer", queues=("support",))
    now = utcnow()

    def seed(session) -> None:
        session.execute(insert(Item), [dict(
            id=f"mi{n:04d}", queue_id=queue.id, submitter="up", body_hash="0",
            external_id=f"ext-{n}", status="pending", route_path="human", route_reasons=[],
            confidence=0.5, created_at=now - timedelta(minutes=n),
            due_at=now + timedelta(hours=1), output=f"answer {n}", context=[], meta={})
            for n in range(55)])
        session.commit()

    inspect(app, seed)
    return queue


@pytest.mark.parametrize("query", [
    "status=nope&sla=%27&route=x&sort=drop+table&page=abc",
    "page=99999999999999", "page=-3", "q=%25_%5C", "tab=../../etc",
])
def test_any_query_string_answers_the_page(app, queue, query):
    sue = login(app, "sue")
    answer = sue.get(f"/queues/support/manage?{query}")
    assert answer.status_code == 200
    assert 'id="open-items"' in answer.get_data(as_text=True) or \
        'id="no-items"' in answer.get_data(as_text=True)


def test_paging_past_the_end_shows_the_last_page(app, queue):
    html = login(app, "sue").get("/queues/support/manage?page=7").get_data(as_text=True)
    assert "55 items; page 2 of 2." in html and html.count('class="pick"') == 5


def test_take_leases_one_item_and_refuses_a_second(app, queue):
    sue = login(app, "sue")
    token = csrf(sue.get("/queues/support/manage").get_data(as_text=True))
    answer = sue.post("/queues/support/manage/items/mi0007/take", data={"csrf_token": token})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/items/mi0007")
    taken = item(app, "mi0007")
    assert taken.status == "in_review" and taken.claimed_by == taken.assigned_to
    again = sue.post("/queues/support/manage/items/mi0008/take", data={"csrf_token": token},
                     follow_redirects=True)
    assert "You hold item mi0007 of this queue" in again.get_data(as_text=True)
    assert item(app, "mi0008").status == "pending"
    # A reviewer cannot take anything (the manage page is not theirs).
    rita = login(app, "rita")
    refused = rita.post("/queues/support/manage/items/mi0009/take",
                        data={"csrf_token": csrf(rita.get("/").get_data(as_text=True))})
    assert refused.status_code == 404
