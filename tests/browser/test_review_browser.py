"""Reviewers in headless Chromium: log in, claim with the keyboard, approve,
reject with a reason, edit, the lease heartbeat, two reviewers in two browser
contexts never holding the same item, logout; and two reviewers working a
queue of 50 items to empty, nothing decided twice and nothing left behind.
Every screenshot goes through the shared harness (axe-core, no console error) into
test-artifacts/."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from review.core.models import Item, ItemEvent, Review
from tests.browser.harness import DESKTOP, HAS_CHROMIUM, check_page

PASSWORD = "correct horse"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not HAS_CHROMIUM, reason="needs /usr/bin/chromium"),
]


def shot(page, name: str) -> None:
    """Screenshot, overflow and axe checks of the page as it is (tests/browser/harness.py)."""
    check_page(page, f"review-{name}", DESKTOP)


def inspect(app, fn):
    from review.core.db import get_session

    with app.app_context():
        return fn(get_session())


def item_row(app, item_id: str) -> Item:
    return inspect(app, lambda s: s.get(Item, item_id))


def add_items(client, auth, slug: str, count: int) -> list[str]:
    items = [{"queue": slug, "output": {"answer": f"draft {i}", "sources": [i]},
              "confidence": 0.2, "priority": 50, "input": {"question": f"q{i}"},
              "context": [f"source text {i}"], "model": {"name": "m", "version": "1"}}
             for i in range(count)]
    response = client.post("/api/v1/items/batch", headers=auth, json={"items": items})
    results = response.get_json()["results"]
    assert [r["status"] for r in results] == ["pending"] * count
    return [r["id"] for r in results]


def login(page, base: str, name: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.click("#login")
    page.wait_for_selector("nav .who")


def shown_item(page) -> str | None:
    """The id of the item on the page, or None on the queue page."""
    return page.inner_text("#item-id") if page.locator("#item-id").count() else None


def press_and_wait(page, key: str) -> None:
    before = page.url
    page.keyboard.press(key)
    page.wait_for_url(lambda url: url != before)


def test_reviewer_works_by_keyboard(app, live_server, client, auth, make_queue, make_user,
                                    new_page):
    make_queue("support", reject_reasons=["incorrect", "unsupported", "other"],
               lease_seconds=15)  # a heartbeat every 5 s
    make_user("ana", queues=("support",))
    make_user("ben", queues=("support",))
    ids = add_items(client, auth, "support", 6)
    base = live_server.url
    ana = new_page()
    login(ana, base, "ana")
    ana.goto(f"{base}/queues/support")
    shot(ana, "01-queue")
    assert ana.is_visible("#shortcuts")

    press_and_wait(ana, "n")  # claim
    first = shown_item(ana)
    assert first == ids[0]
    assert "draft 0" in ana.inner_text("#output") and "source text 0" in ana.inner_text("#context")
    assert "left" in ana.inner_text("#lease-countdown")  # the countdown script runs
    shot(ana, "02-item")

    # A second reviewer in another browser context gets a different item.
    ben = new_page()
    login(ben, base, "ben")
    ben.goto(f"{base}/queues/support")
    press_and_wait(ben, "n")
    assert shown_item(ben) not in (None, first)
    shot(ben, "03-second-reviewer")

    # The heartbeat keeps ana's lease alive while the page is open (a deadline, not a timing).
    def extended() -> int:
        return inspect(app, lambda s: s.scalar(select(func.count()).select_from(ItemEvent).where(
            ItemEvent.item_id == first, ItemEvent.kind == "lease_extended")))
    ana.wait_for_timeout(100)
    for _ in range(60):
        if extended():
            break
        ana.wait_for_timeout(500)
    assert extended() >= 1

    press_and_wait(ana, "a")  # approve; the next item opens at once
    assert item_row(app, first).status == "approved"
    second = shown_item(ana)
    assert second not in (None, first)

    ana.keyboard.press("r")
    assert ana.is_visible("#reject-form")
    assert ana.evaluate("document.activeElement.id") == "reject-reason"
    ana.select_option("#reject-reason", "unsupported")
    ana.fill("#reject-note", "no source says this")
    shot(ana, "04-reject")
    ana.focus("#reject-reason")
    press_and_wait(ana, "Enter")
    row = item_row(app, second)
    assert (row.status, row.decision_reason, row.decision_note) == \
        ("rejected", "unsupported", "no source says this")

    third = shown_item(ana)
    ana.keyboard.press("e")
    assert ana.evaluate("document.activeElement.id") == "edit-output"
    ana.fill("#edit-output", '{"answer": "corrected", "sources": [1, 2]}')
    shot(ana, "05-edit")
    press_and_wait(ana, "Control+Enter")
    row = item_row(app, third)
    assert (row.status, row.decision_outcome, row.decision_output) == \
        ("approved", "edit", {"answer": "corrected", "sources": [1, 2]})
    ana.goto(f"{base}/items/{third}")
    assert "corrected" in ana.inner_text("#history")  # the diff is in the audit trail
    shot(ana, "06-edited-history")

    assert not ana.errors and not ben.errors  # nothing broke under the strict CSP
    ana.click("#logout")
    ana.wait_for_url(f"{base}/login")
    ana.goto(f"{base}/queues/support")
    assert "/login" in ana.url
    shot(ana, "07-logged-out")


def test_two_reviewers_empty_a_queue_of_50(app, live_server, client, auth, make_queue,
                                           make_user, new_page):
    """The issue's "done when": no item decided twice, none left behind."""
    make_queue("batch", reject_reasons=["incorrect"])
    make_user("ana", queues=("batch",))
    make_user("ben", queues=("batch",))
    ids = add_items(client, auth, "batch", 50)
    base = live_server.url
    pages = {}
    for name in ("ana", "ben"):
        page = new_page()
        login(page, base, name)
        page.goto(f"{base}/queues/batch")
        press_and_wait(page, "n")
        pages[name] = page
    assert shown_item(pages["ana"]) != shown_item(pages["ben"])
    decided_by: dict[str, list[str]] = {"ana": [], "ben": []}
    active = dict(pages)
    turn = 0
    while active:
        # Both reviewers press at once, so their requests really overlap on the server.
        pressed = []
        for name, page in list(active.items()):
            item_id = shown_item(page)
            key = "a"
            if turn % 7 == 3:  # now and then a rejection, by keyboard too
                page.keyboard.press("r")
                page.select_option("#reject-reason", "incorrect")
                key = "Enter"
            before = page.url
            page.keyboard.press(key)
            pressed.append((name, page, item_id, before))
        for name, page, item_id, before in pressed:
            page.wait_for_url(lambda url, before=before: url != before)
            decided_by[name].append(item_id)
            if shown_item(page) is None:  # back on the queue page: nothing left
                assert "Nothing waiting" in page.inner_text("main")
                del active[name]
        turn += 1
        if turn == 10:
            shot(pages["ana"], "08-batch-midway")
    shot(pages["ben"], "09-batch-empty")

    every = decided_by["ana"] + decided_by["ben"]
    assert len(every) == 50 and sorted(every) == sorted(ids)  # once each, none missed
    assert decided_by["ana"] and decided_by["ben"]
    counts = inspect(app, lambda s: dict(s.execute(
        select(Item.status, func.count()).where(Item.id.in_(ids)).group_by(Item.status)).all()))
    assert sum(counts.values()) == 50 and set(counts) <= {"approved", "rejected"}
    decided = inspect(app, lambda s: Counter(s.scalars(
        select(ItemEvent.item_id).where(ItemEvent.kind == "decided")).all()))
    assert set(decided) == set(ids) and set(decided.values()) == {1}
    reviewers = inspect(app, lambda s: Counter(s.scalars(select(Review.item_id)).all()))
    assert set(reviewers.values()) == {1} and len(reviewers) == 50
    assert not pages["ana"].errors and not pages["ben"].errors
