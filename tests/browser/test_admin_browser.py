"""The admin pages in Chromium at 1366 and 390 px: users, memberships, API keys, queue
policies and webhook deliveries, all reached from the navigation; the webhooks page
fits 1366 px with long URLs and errors, its item ids are links; removals and
deactivations ask first. Every page goes through check_page (no console error, no
overflow at 390 px, axe-core without serious or critical violations, a screenshot)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert

from review.core.clock import utcnow
from review.core.models import Item, User, WebhookDelivery
from tests.browser.harness import HAS_CHROMIUM, check_widths, login, overflow

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not HAS_CHROMIUM, reason="needs /usr/bin/chromium"),
]


@pytest.fixture
def setup(app, db, make_queue, make_user, make_key):
    queue = make_queue("support", sla_seconds=1800, backlog_cap=40,
                       reject_reasons=["wrong", "rude"])
    make_queue("legal", sla_seconds=7200)
    make_user("root", "admin")
    make_user("rita", "reviewer", queues=("support", "legal"))
    make_user("sue", "supervisor", queues=("support",))
    make_key("upstream", "submit")
    now = utcnow()
    db.execute(insert(Item), [dict(
        id=f"wh{n:04d}", queue_id=queue.id, submitter="up", body_hash="0", status="approved",
        route_path="human", route_reasons=[], confidence=0.5, created_at=now,
        due_at=now + timedelta(hours=1), output="x", context=[], meta={},
        decided_at=now, decided_by="rita", decided_by_kind="reviewer",
        decision_outcome="approve") for n in range(3)])
    long_url = "https://hooks.example.com/" + "really-long-path-segment/" * 12 + "?token=abc"
    for n in range(3):
        db.add(WebhookDelivery(
            event_id=f"evt-{n}", item_id=f"wh{n:04d}", kind="item.decided", url=long_url,
            payload={"id": f"wh{n:04d}"}, status="failed" if n else "pending", attempts=n + 3,
            next_attempt_at=now + timedelta(minutes=n), last_status_code=502,
            last_error="upstream said: " + "Bad Gateway, retry later " * 8))
    db.commit()


def test_admin_pages_from_the_navigation(app, live_server, db, setup, page):
    login(page, live_server.url, "root")
    assert page.locator("tr[data-queue=support] td.num").last.inner_text() == "30m"
    check_widths(page, "home")

    page.set_viewport_size({"width": 1366, "height": 900})
    page.click("#nav-admin")
    page.wait_for_selector("#users")
    assert page.locator("#users tr[data-user=rita]").count() == 1
    assert page.locator("#admin-tabs a.active").inner_text() == "Users"
    created = page.locator("#users tr[data-user=rita] time.when")
    assert created.get_attribute("title").endswith(" UTC")
    check_widths(page, "admin-users")
    page.set_viewport_size({"width": 1366, "height": 900})
    # Deactivation asks first; dismissed, nothing changes.
    seen: list[str] = []
    page.once("dialog", lambda d: (seen.append(d.message), d.dismiss()))
    page.click("#users tr[data-user=rita] button.deactivate")
    assert "Deactivate rita?" in seen[-1]
    db.expire_all()
    assert db.query(User).filter_by(name="rita").one().active

    page.click("#admin-tabs a:has-text('Memberships')")
    page.wait_for_selector("section[data-queue=legal]")
    assert page.locator("section[data-queue=support] tr[data-member=sue]").count() == 1
    check_widths(page, "admin-members")
    page.set_viewport_size({"width": 1366, "height": 900})
    page.once("dialog", lambda d: (seen.append(d.message), d.accept()))
    page.click("section[data-queue=legal] tr[data-member=rita] button.remove-member")
    page.wait_for_selector("p.flash")
    assert "Remove rita from legal?" in seen[-1]
    assert page.locator("section[data-queue=legal] tr[data-member=rita]").count() == 0

    page.click("#admin-tabs a:has-text('API keys')")
    page.wait_for_selector("#keys")
    assert page.locator("#keys tbody tr").count() == 1
    assert "upstream" in page.inner_text("#keys tbody tr")
    check_widths(page, "admin-keys")
    page.set_viewport_size({"width": 1366, "height": 900})
    page.fill("#key-form input[name=name]", "reporting")
    page.select_option("#key-form select[name=scope]", "admin")
    page.click("#create-key")
    page.wait_for_selector("#raw-key")
    assert len(page.inner_text("#raw-key").strip()) > 20  # shown once, in full
    check_widths(page, "admin-key-shown")
    page.set_viewport_size({"width": 1366, "height": 900})
    page.click("#admin-tabs a:has-text('API keys')")
    page.wait_for_selector("#keys")
    assert page.locator("#keys tbody tr").count() == 2

    page.click("#admin-tabs a:has-text('Queue policies')")
    page.wait_for_selector("section.policy[data-queue=support]")
    support = page.inner_text("section.policy[data-queue=support]")
    assert "a decision within 30 min of arrival" in support
    assert "40 waiting items" in support and "wrong, rude" in support
    check_widths(page, "admin-queue-policies")
    page.set_viewport_size({"width": 1366, "height": 900})

    # The webhooks page is in the top navigation and the admin tabs, and fits 1366 px.
    page.click("#nav-webhooks")
    page.wait_for_selector("#deliveries")
    assert page.locator("#admin-tabs a.active").inner_text() == "Webhooks"
    scroll, inner = overflow(page)
    assert scroll <= inner, f"webhooks page is {scroll}px wide at {inner}"
    links = page.locator("#deliveries a.item-id")
    assert links.count() == 3
    assert links.first.get_attribute("href").startswith("/items/wh")
    check_widths(page, "admin-webhooks")

    page.set_viewport_size({"width": 1366, "height": 900})
    page.click("#nav-password")
    page.wait_for_selector("main form")
    check_widths(page, "account-password")
