"""The item page's lease watch and its exits, over the Flask test client: GET
/items/ID/lease says whether the page's lease still holds (and never answers 500 or
leaks to a non-member), "Release and stop" gives the item back without a skip, and the
skip's flash says the item stays away."""

from __future__ import annotations

import pytest

from tests.web.forms import csrf, login
from tests.web.test_queue_pages import claim, fresh_item, item_id_of, lease_token


@pytest.fixture
def items(client, auth, make_queue, make_user):
    make_queue("support")
    make_queue("legal")
    make_user("ana", queues=("support",))
    make_user("olga", queues=("legal",))
    ids = []
    for n in range(3):
        response = client.post("/api/v1/items", headers=auth, json={
            "queue": "support", "output": f"text {n}", "confidence": 0.1, "priority": 90 - n})
        ids.append(response.get_json()["id"])
    return ids


def status(browser, item_id: str, token: str):
    response = browser.get(f"/items/{item_id}/lease", query_string={"token": token})
    return response.status_code, response.get_json()


def test_lease_status_follows_the_lease(app, items):
    ana = login(app, "ana")
    item_id, html = claim(ana)
    token = lease_token(html)
    code, body = status(ana, item_id, token)
    assert (code, body["held"], body["status"]) == (200, True, "in_review")
    assert body["lease_expires_at"].endswith("Z")
    for wrong in ("", "nope", "x" * 5000):
        code, body = status(ana, item_id, wrong)
        assert (code, body["held"]) == (200, False), wrong
    bad_utf8 = ana.get(f"/items/{item_id}/lease?token=%ED%A0%80")  # a lone surrogate
    assert bad_utf8.status_code in (200, 400) and bad_utf8.get_json()
    olga = login(app, "olga")
    assert olga.get(f"/items/{item_id}/lease", query_string={"token": token}).status_code == 404
    assert ana.get(f"/items/{'0' * 400}/lease").status_code == 404

    stopped = ana.post(f"/items/{item_id}/stop", data={"csrf_token": csrf(html),
                                                       "lease_token": token})
    assert stopped.headers["Location"].endswith("/queues/support")
    assert fresh_item(app, item_id).status == "pending"
    assert status(ana, item_id, token)[1] == {"item_id": item_id, "held": False,
                                             "status": "pending", "lease_expires_at": None}
    # Released, not skipped: the next claim may give it back to her.
    again, _ = claim(ana)
    assert again == item_id


def test_skip_says_the_item_stays_away(app, items):
    ana = login(app, "ana")
    item_id, html = claim(ana)
    skipped = ana.post(f"/items/{item_id}/release", data={"csrf_token": csrf(html),
                                                          "lease_token": lease_token(html)})
    nxt = item_id_of(skipped.headers["Location"])
    page = ana.get(f"/items/{nxt}").get_data(as_text=True)
    assert "it stays away from you for a while" in page and nxt != item_id
