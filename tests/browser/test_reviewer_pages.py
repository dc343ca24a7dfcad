"""The reviewer's pages as a person sees them, in headless Debian Chromium (issue 16).

Each page at 1366 px and 390 px through the shared harness (no horizontal overflow at
390, a screenshot in test-artifacts/, axe-core without serious or critical violations,
no console error), and what it shows: the input as labelled fields, the output beside
its context sources with the grounding check's unsupported sentence marked, the
confidence against the queue's thresholds, the routing reason in words, metadata and
external id; right-to-left text laid out right to left; the edit form leaving the
sources in view; skip that keeps the item away; a lost lease seen within seconds;
decided items without a countdown; digits picking reject reasons; comments.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from review.core.models import Item, Queue, User
from review.human.assignment import bulk_reassign
from tests.browser.harness import HAS_CHROMIUM, PHONE, check_page, login

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not HAS_CHROMIUM, reason="needs /usr/bin/chromium"),
]

ARABIC = "تم إرسال المبلغ المسترد إلى حسابك."
CONTEXT = "Refunds are sent to the original card within 5 business days."
GROUNDED = "Refunds are sent to the original card within 5 business days."
INVENTED = "We also added a 20 dollar voucher to your account."


def inspect(app, fn):
    from review.core.db import get_session

    with app.app_context():
        return fn(get_session())


def submit(client, auth, slug: str, count: int, **fields) -> list[str]:
    items = [{"queue": slug, "output": f"{GROUNDED} {INVENTED}", "confidence": 0.2,
              "input": {"question": f"Where is my refund {i}?", "customer": {"tier": "gold"}},
              "context": [{"title": "Refund policy", "text": CONTEXT}, ARABIC],
              "metadata": {"channel": "email", "note": ARABIC},
              "external_id": f"ticket-{i}-{'x' * 40}",
              "model": {"name": "gpt", "version": "7"}, **fields} for i in range(count)]
    response = client.post("/api/v1/items/batch", headers=auth, json={"items": items})
    results = response.get_json()["results"]
    assert [r["status"] for r in results] == ["pending"] * count, results
    return [r["id"] for r in results]


def grounding_failed(app, ids: list[str]) -> None:
    """Record what the queue's grounding check found (the check itself is tested in intake)."""
    def run(session):
        session.execute(update(Item).where(Item.id.in_(ids)).values(
            check_checker="grounding", check_verdict="fail", check_score=0.5,
            check_reason="1/2 sentences supported by 2 context sources; "
                         f'unsupported: "{INVENTED}"'))
        session.commit()
    inspect(app, run)


@pytest.fixture
def support(app, client, auth, make_queue, make_user):
    make_queue("support", reject_reasons=["incorrect", "unsupported", "tone"],
               checker={"type": "grounding"}, auto_approve_at=0.9, review_below=0.6)
    make_queue("billing")
    make_user("ana", queues=("support", "billing"))
    make_user("ben", queues=("support",))
    make_user("sue", "supervisor", queues=("support",))
    ids = submit(client, auth, "support", 4)
    grounding_failed(app, ids)
    submit(client, auth, "billing", 2)
    return ids


def shown_item(page) -> str | None:
    return page.inner_text("#item-id") if page.locator("#item-id").count() else None


def press_and_wait(page, key: str) -> None:
    before = page.url
    page.keyboard.press(key)
    page.wait_for_url(lambda url: url != before)


def claim_first(page, base: str, slug: str = "support") -> str:
    page.goto(f"{base}/queues/{slug}")
    press_and_wait(page, "n")
    return shown_item(page)


def test_item_page_is_built_for_reading(app, live_server, support, new_page):
    base = live_server.url
    page = new_page()
    login(page, base, "ana")
    page.goto(f"{base}/queues/support")
    assert "You have no skill tags here" in page.inner_text("#why")
    assert "billing" in page.inner_text("#other-queues")  # other queues with work
    check_page(page, "reviewer-queue", 1366)
    check_page(page, "reviewer-queue", PHONE)
    page.set_viewport_size({"width": 1366, "height": 900})

    item_id = claim_first(page, base)
    assert item_id == support[0]
    head = page.inner_text(".item-head")
    assert "support" in head and "0 done today · 3 waiting" in head and "left" in head
    # The input as labelled fields, not raw JSON.
    fields = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#input dt')]
        .map(dt => [dt.textContent.trim(), dt.nextElementSibling.textContent.trim()]))""")
    assert fields["question"] == "Where is my refund 0?"
    assert '"tier": "gold"' in fields["customer"]
    assert not page.is_visible("text=\"question\":")
    # The output beside its sources, the invented sentence marked, the grounded one not.
    marks = page.locator("#output mark.unsupported")
    assert marks.count() == 1 and marks.inner_text() == INVENTED
    assert "1 sentence the grounding check did not find" in page.inner_text("#grounding-note")
    out_box = page.locator("#output").bounding_box()
    ctx_box = page.locator("#context").bounding_box()
    assert ctx_box["x"] > out_box["x"] + out_box["width"] - 1  # side by side at 1366
    assert abs(ctx_box["y"] - out_box["y"]) < 120
    assert "Refund policy" in page.inner_text("#context")
    # Why, confidence against the thresholds, metadata, external id; the hex id demoted.
    assert "below the queue's review line 0.6" in page.inner_text("#route")
    assert "0.200" in page.inner_text("#confidence-bar")
    assert "review below 0.60" in page.inner_text("#confidence-bar")
    assert page.locator("#confidence-bar svg line.threshold").count() == 2
    assert "email" in page.inner_text("#metadata")
    assert page.inner_text("#external-id").startswith("ticket-0-")
    assert page.evaluate("parseFloat(getComputedStyle(document.querySelector('#item-id')).fontSize)"
                         " < parseFloat(getComputedStyle(document.querySelector('h1')).fontSize)")
    # Right-to-left text is laid out right to left wherever it appears.
    directions = page.evaluate(
        """(text) => [...document.querySelectorAll('[dir=auto]')]
             .filter(el => el.textContent.trim() === text)
             .map(el => getComputedStyle(el).direction)""", ARABIC)
    assert directions == ["rtl", "rtl"], directions  # the context source and the metadata
    assert page.evaluate(
        "getComputedStyle(document.querySelector('#output [dir=auto]')).direction") == "ltr"
    assert "just now" in page.inner_text("#history")
    assert page.get_attribute("#history time", "title").endswith("UTC")
    check_page(page, "reviewer-item", 1366)
    check_page(page, "reviewer-item", PHONE)
    assert page.locator("#item-id").bounding_box()["width"] <= PHONE


def test_edit_form_leaves_the_sources_in_view_and_shows_the_diff(app, live_server, support,
                                                                 new_page):
    page = new_page()
    login(page, live_server.url, "ana")
    item_id = claim_first(page, live_server.url)
    page.keyboard.press("e")
    assert page.evaluate("document.activeElement.id") == "edit-output"
    bar = page.locator("#actions").bounding_box()
    assert bar["height"] < 90, bar  # the action bar stays a bar, not a card over the page
    page.keyboard.press("End")
    page.keyboard.press("Control+End")
    page.keyboard.type(" Thanks")
    page.wait_for_selector("#edit-diff ins")
    assert page.inner_text("#edit-diff ins").strip() == "Thanks"
    # Scroll the editor into view: the sources beside it are visible and not covered.
    page.locator("#edit-output").scroll_into_view_if_needed()
    covered = page.evaluate("""() => {
        const ctx = document.querySelector('#context li').getBoundingClientRect();
        const x = ctx.left + ctx.width / 2, y = Math.max(ctx.top + 5, 100);
        const hit = document.elementFromPoint(x, y);
        return hit ? !document.querySelector('#context').contains(hit) : true;
    }""")
    assert not covered
    edit_box = page.locator("#edit-output").bounding_box()
    read_box = page.locator("#output").bounding_box()
    assert edit_box["x"] > read_box["x"] + read_box["width"] - 1  # the editor beside the output
    check_page(page, "reviewer-item-editing", 1366)
    check_page(page, "reviewer-item-editing", PHONE)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.focus("#edit-output")
    press_and_wait(page, "Control+Enter")
    row = inspect(app, lambda s: s.get(Item, item_id))
    assert row.decision_outcome == "edit" and row.decision_output.endswith("Thanks")


def test_skip_keeps_the_item_away_from_me_but_not_from_others(app, live_server, support,
                                                              new_page):
    base = live_server.url
    ana = new_page()
    login(ana, base, "ana")
    a = claim_first(ana, base)
    press_and_wait(ana, "s")
    assert "stays away from you" in ana.inner_text("main")
    b = shown_item(ana)
    assert b not in (None, a)
    press_and_wait(ana, "a")
    c = shown_item(ana)
    assert c not in (None, a, b)  # before the fix: a came straight back here
    press_and_wait(ana, "a")
    d = shown_item(ana)
    assert d not in (None, a, b, c)
    press_and_wait(ana, "a")
    # Only the skipped item is left: the queue page says so.
    assert shown_item(ana) is None
    main = ana.inner_text("main")
    assert "1 item you skipped" in main and "comes back to you in" in main
    assert "is kept away from you" in ana.inner_text("#why-skipped")
    check_page(ana, "reviewer-queue-only-skipped", PHONE)
    # Another reviewer gets it at once.
    ben = new_page()
    login(ben, base, "ben")
    assert claim_first(ben, base) == a


def test_a_lost_lease_is_seen_within_seconds_and_on_every_key(app, live_server, support,
                                                              new_page):
    base = live_server.url
    ana = new_page()
    login(ana, base, "ana")
    first = claim_first(ana, base)

    def release_as_supervisor(item_id: str) -> None:
        """Sue takes the item from ana and gives it to ben (ana cannot claim it again)."""
        def run(session):
            queue = session.scalar(select(Queue).where(Queue.slug == "support"))
            sue = session.scalar(select(User).where(User.name == "sue"))
            ben = session.scalar(select(User).where(User.name == "ben"))
            assert bulk_reassign(session, sue, queue, [item_id], ben) == [item_id]
        inspect(app, run)

    # Pushed: the page notices by itself within a few seconds, no key pressed.
    release_as_supervisor(first)
    ana.wait_for_selector("#lease-lost", state="visible", timeout=6000)
    assert "no longer yours" in ana.inner_text("#lease-lost")
    assert ana.is_disabled("#approve") and ana.is_disabled("#skip")
    assert ana.inner_text("#lease-countdown") == "lost"
    assert ana.inner_text("#item-status") == "not yours any more"
    check_page(ana, "reviewer-item-lease-lost", 1366)
    check_page(ana, "reviewer-item-lease-lost", PHONE)
    ana.set_viewport_size({"width": 1366, "height": 900})
    press_and_wait(ana, "n")  # the one key left: on to the next item
    second = shown_item(ana)
    assert second not in (None, first)

    # On a key press: released and at once "a": nothing is sent, the page says why.
    release_as_supervisor(second)
    ana.keyboard.press("a")
    ana.wait_for_selector("#lease-lost", state="visible", timeout=2500)
    assert shown_item(ana) == second and ana.is_disabled("#approve")
    assert inspect(app, lambda s: s.get(Item, second)).status == "pending"

    # On focus: coming back to the tab checks at once.
    press_and_wait(ana, "n")
    third = shown_item(ana)
    release_as_supervisor(third)
    ana.evaluate("window.dispatchEvent(new Event('focus'))")
    ana.wait_for_selector("#lease-lost", state="visible", timeout=2500)


def test_decided_items_show_no_live_countdown(app, live_server, support, new_page):
    page = new_page()
    login(page, live_server.url, "ana")
    item_id = claim_first(page, live_server.url)
    assert page.locator("#sla-countdown").count() == 1
    press_and_wait(page, "a")
    page.goto(f"{live_server.url}/items/{item_id}")
    assert page.inner_text("#item-status") == "approved"
    assert page.locator(".countdown").count() == 0
    assert page.inner_text("#sla-final") == "decided within the SLA"
    recent = page.locator("#recent a.item-link")
    assert recent.count() == 1 and recent.get_attribute("href").endswith(item_id)
    check_page(page, "reviewer-item-decided", 1366)
    check_page(page, "reviewer-item-decided", PHONE)


def test_a_digit_picks_the_numbered_reject_reason(app, live_server, support, new_page):
    page = new_page()
    login(page, live_server.url, "ana")
    item_id = claim_first(page, live_server.url)
    page.keyboard.press("r")
    page.keyboard.press("2")
    assert page.input_value("#reject-reason") == "unsupported"
    page.keyboard.press("3")
    assert page.input_value("#reject-reason") == "tone"
    check_page(page, "reviewer-item-rejecting", PHONE)
    page.set_viewport_size({"width": 1366, "height": 900})
    press_and_wait(page, "Enter")
    row = inspect(app, lambda s: s.get(Item, item_id))
    assert (row.status, row.decision_reason) == ("rejected", "tone")


def test_an_empty_queue_says_why_and_points_to_other_work(app, live_server, support,
                                                         new_page):
    from review.human.members import set_member

    def arrange(session):
        queue = session.scalar(select(Queue).where(Queue.slug == "support"))
        sue = session.scalar(select(User).where(User.name == "sue"))
        ben = session.scalar(select(User).where(User.name == "ben"))
        set_member(session, "sue", queue, "ana", ["de"])
        session.commit()
        bulk_reassign(session, sue, queue, support[:1], ben)
    inspect(app, arrange)
    page = new_page()
    login(page, live_server.url, "ana")
    page.goto(f"{live_server.url}/queues/support")
    with page.expect_navigation():
        page.keyboard.press("n")  # nothing for her: the items are not tagged "de"
    assert "Nothing waiting for you" in page.inner_text("main")
    assert "Your skill tags in this queue are de" in page.inner_text("#why-tags")
    assert "1 item is assigned to other reviewers" in page.inner_text("#why-assigned")
    link = page.locator("#other-queues a", has_text="billing")
    assert link.get_attribute("href").endswith("/queues/billing")
    assert page.inner_text("#other-queues td.num >> nth=0") == "2"
    for width in (1366, PHONE):
        check_page(page, "reviewer-queue-empty", width)
    sla = page.locator("#other-queues th", has_text="SLA").bounding_box()
    assert sla["x"] + sla["width"] <= PHONE  # the SLA column is not cut at 390 px


def test_escalate_takes_a_note_from_the_keyboard(app, live_server, support, new_page):
    page = new_page()
    login(page, live_server.url, "ana")
    item_id = claim_first(page, live_server.url)
    page.keyboard.press("x")
    assert page.evaluate("document.activeElement.id") == "escalate-note"
    page.keyboard.type("Customer threatens legal action; " + ARABIC)
    check_page(page, "reviewer-item-escalating", PHONE)
    page.set_viewport_size({"width": 1366, "height": 900})
    press_and_wait(page, "Control+Enter")
    assert "Escalated" in page.inner_text("main")
    assert inspect(app, lambda s: s.get(Item, item_id)).escalated
    # The supervisor reads the note, right to left where it is, in the item's history.
    sue = new_page()
    login(sue, live_server.url, "sue")
    sue.goto(f"{live_server.url}/items/{item_id}")
    note = sue.locator("#history span[dir=auto]", has_text="legal action")
    assert note.count() == 1
    check_page(sue, "reviewer-item-escalated-supervisor", 1366)


def test_reviewer_comments_and_the_supervisor_reads_it(app, live_server, support, new_page):
    base = live_server.url
    ana = new_page()
    login(ana, base, "ana")
    item_id = claim_first(ana, base)
    assert ana.inner_text("#comment-list") == "No comments yet."
    # Letters that are shortcuts elsewhere (a approves, r rejects) only type here.
    ana.fill("#comment-body", "a r e: the voucher is invented, " + ARABIC)
    ana.click("#comment-submit")
    ana.wait_for_url(f"**/items/{item_id}#comments")
    thread = ana.inner_text("#comment-list")
    assert "ana" in thread and "the voucher is invented" in thread and ARABIC in thread
    assert ana.get_attribute(".comments .comment-body", "dir") == "auto"
    assert "the voucher is invented" in ana.inner_text("#history")
    assert "commented" in ana.inner_text("#history")
    # Still held and undecided: the comment decided nothing.
    assert ana.locator("#decision").count() == 0 or "decided" not in ana.inner_text("#decision")
    check_page(ana, "item-comments", 1366)

    sue = new_page(PHONE)
    login(sue, base, "sue")
    sue.goto(f"{base}/items/{item_id}")
    assert "the voucher is invented" in sue.inner_text("#comment-list")
    check_page(sue, "item-comments", PHONE)

    # An empty comment is refused with a message, and nothing is added.
    sue.evaluate("document.querySelector('#comment-body').removeAttribute('required')")
    sue.fill("#comment-body", "   ")
    sue.click("#comment-submit")
    assert "A comment needs some text." in sue.inner_text("body")
    assert sue.locator(".comments li").count() == 1
