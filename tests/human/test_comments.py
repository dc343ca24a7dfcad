"""Comments on an item: a thread for its reviewers and supervisors, in the audit trail and
the API, refused for anyone outside the queue."""

from __future__ import annotations

import pytest


@pytest.fixture
def thread(client, auth, make_queue, make_user, make_key):
    make_queue("support")
    make_queue("legal")
    ana = make_user("ana", queues=("support",))
    sam = make_user("sam", role="supervisor", queues=("support",))
    olga = make_user("olga", queues=("legal",))
    keys = {name: {"Authorization": f"Bearer {make_key(f'{name}-key', 'review', user)}"}
            for name, user in (("ana", ana), ("sam", sam), ("olga", olga))}
    item = client.post("/api/v1/items", headers=auth, json={
        "queue": "support", "output": "Refunds take 5 weeks.", "confidence": 0.1})
    assert item.status_code == 201
    return {"id": item.get_json()["id"], "keys": keys}


def comment(client, headers, item_id, body):
    return client.post(f"/api/v1/items/{item_id}/comments", headers=headers, json=body)


def test_reviewers_and_supervisors_discuss_an_item(client, auth, thread):
    item_id, keys = thread["id"], thread["keys"]
    first = comment(client, keys["ana"], item_id, {"body": "  Is 5 weeks right? KB says days.  "})
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["author"] == "ana"
    assert first.get_json()["body"] == "Is 5 weeks right? KB says days."
    assert comment(client, keys["sam"], item_id, {"body": "Days. Edit it."}).status_code == 201
    listed = client.get(f"/api/v1/items/{item_id}/comments", headers=keys["ana"]).get_json()
    assert [(c["author"], c["body"]) for c in listed["comments"]] == [
        ("ana", "Is 5 weeks right? KB says days."), ("sam", "Days. Edit it.")]
    assert all(c["at"].endswith("Z") for c in listed["comments"])
    # The submitter sees the thread, and it is part of the audit trail.
    assert client.get(f"/api/v1/items/{item_id}/comments", headers=auth).get_json() == listed
    events = client.get(f"/api/v1/items/{item_id}/events", headers=auth).get_json()["events"]
    assert [e["data"]["body"] for e in events if e["kind"] == "commented"] == [
        "Is 5 weeks right? KB says days.", "Days. Edit it."]


def test_outsiders_cannot_read_or_write_the_thread(client, make_key, thread):
    item_id, keys = thread["id"], thread["keys"]
    assert comment(client, keys["ana"], item_id, {"body": "internal"}).status_code == 201
    # A reviewer of another queue and another submitter: 404, as if the item did not exist.
    assert comment(client, keys["olga"], item_id, {"body": "hi"}).status_code == 404
    assert client.get(f"/api/v1/items/{item_id}/comments",
                      headers=keys["olga"]).status_code == 404
    other = {"Authorization": f"Bearer {make_key('other-upstream', 'submit')}"}
    assert client.get(f"/api/v1/items/{item_id}/comments", headers=other).status_code == 404
    # A submit key cannot write; an admin key reads, but with no person behind it, cannot
    # write either.
    assert comment(client, other, item_id, {"body": "hi"}).status_code == 403
    robot = {"Authorization": f"Bearer {make_key('robot', 'admin')}"}
    assert len(client.get(f"/api/v1/items/{item_id}/comments",
                          headers=robot).get_json()["comments"]) == 1
    answer = comment(client, robot, item_id, {"body": "hi"})
    assert answer.status_code == 403 and answer.get_json()["error"]["code"] == "no_user"


@pytest.mark.parametrize("body, status, code", [
    ({"body": "   "}, 422, "empty_comment"),
    ({"body": 5}, 422, "empty_comment"),
    ({}, 422, "empty_comment"),
    ({"body": "x" * 4001}, 422, "comment_too_long"),
    ([], 400, "not_an_object"),
])
def test_bad_comments_are_refused_and_nothing_is_stored(client, auth, thread, body, status,
                                                        code):
    item_id, ana = thread["id"], thread["keys"]["ana"]
    answer = comment(client, ana, item_id, body)
    assert answer.status_code == status and answer.get_json()["error"]["code"] == code
    assert client.get(f"/api/v1/items/{item_id}/comments",
                      headers=ana).get_json()["comments"] == []


def test_a_lone_surrogate_is_refused(client, thread):
    answer = client.post(f"/api/v1/items/{thread['id']}/comments", headers={
        **thread["keys"]["ana"], "Content-Type": "application/json"},
        data='{"body": "bad \\ud800 text"}')
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == "invalid_characters"
