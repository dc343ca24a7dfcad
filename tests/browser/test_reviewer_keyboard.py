"""A reviewer decides 50 items from the keyboard alone (issue 16, "done when"): logs in,
opens the queue and approves, rejects (a digit picks the reason) and edits (the
editor opens on "e", Ctrl+Enter saves) without a single pointer event, in headless
Debian Chromium. Each item is decided once, by her, with the outcome she typed."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from sqlalchemy import func, select

from review.core.models import Item, ItemEvent
from tests.browser.harness import HAS_CHROMIUM, PASSWORD, check_page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not HAS_CHROMIUM, reason="needs /usr/bin/chromium"),
]

COUNT = 50
REASONS = ["incorrect", "unsupported", "tone"]


def inspect(app, fn):
    from review.core.db import get_session

    with app.app_context():
        return fn(get_session())


def press_and_wait(page, key: str) -> None:
    before = page.url
    page.keyboard.press(key)
    page.wait_for_url(lambda url: url != before)


def plan(turn: int) -> str:
    """What the reviewer does with the turn-th item."""
    return {3: "reject", 7: "edit"}.get(turn % 10, "approve")


def test_fifty_items_from_the_keyboard_alone(app, live_server, client, auth, make_queue,
                                             make_user, new_page):
    make_queue("support", reject_reasons=REASONS)
    make_user("ana", queues=("support",))
    items = [{"queue": "support", "output": f"Answer number {i}.", "confidence": 0.2,
              "input": {"question": f"q{i}"}, "context": [f"source {i}"]} for i in range(COUNT)]
    response = client.post("/api/v1/items/batch", headers=auth, json={"items": items})
    ids = [r["id"] for r in response.get_json()["results"]]
    page = new_page()
    # Any pointer event (a click, a tap) is counted; the test ends with none.
    page.add_init_script("addEventListener('pointerdown', () => { sessionStorage.pointer ="
                         " (+sessionStorage.pointer || 0) + 1; }, true);")
    base = live_server.url
    page.goto(f"{base}/login")
    page.focus("#name")
    page.keyboard.type("ana")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_selector("nav .who")
    page.goto(f"{base}/queues/support")
    press_and_wait(page, "n")

    started = time.monotonic()
    done: dict[str, str] = {}
    for turn in range(COUNT):
        item_id = page.inner_text("#item-id")
        action = plan(turn)
        if action == "reject":
            page.keyboard.press("r")
            page.keyboard.press(str(turn % 3 + 1))  # the digit picks the numbered reason
            press_and_wait(page, "Enter")
        elif action == "edit":
            page.keyboard.press("e")
            page.keyboard.press("Control+End")
            page.keyboard.type(" Checked.")
            press_and_wait(page, "Control+Enter")
        else:
            press_and_wait(page, "a")
        done[item_id] = action
        if turn == 25:
            check_page(page, "reviewer-keyboard-midway", 1366, axe=False)
    elapsed = time.monotonic() - started

    assert "Nothing waiting for you" in page.inner_text("main")  # back on the queue page
    assert page.evaluate("sessionStorage.pointer") is None  # the mouse was never used
    assert sorted(done) == sorted(ids)
    rows = inspect(app, lambda s: {i.id: i for i in s.scalars(
        select(Item).where(Item.id.in_(ids)))})
    for item_id, action in done.items():
        row = rows[item_id]
        assert row.decided_by == "ana", item_id
        if action == "reject":
            assert (row.status, row.decision_reason) == ("rejected", REASONS[
                list(done).index(item_id) % 3]), item_id
        elif action == "edit":
            assert (row.decision_outcome, row.decision_output) == (
                "edit", f"Answer number {ids.index(item_id)}. Checked."), item_id
        else:
            assert row.status == "approved", item_id
    decided = inspect(app, lambda s: Counter(s.scalars(
        select(ItemEvent.item_id).where(ItemEvent.kind == "decided")).all()))
    assert set(decided) == set(ids) and set(decided.values()) == {1}
    assert Counter(done.values()) == {"approve": 40, "reject": 5, "edit": 5}
    assert inspect(app, lambda s: s.scalar(select(func.count()).select_from(Item).where(
        Item.status.in_(("pending", "in_review"))))) == 0
    print(f"\n50 keyboard decisions in {elapsed:.1f} s ({elapsed / COUNT * 1000:.0f} ms each)")
