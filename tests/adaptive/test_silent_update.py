"""Issue 15 items 3-4 against the real app: a silent model update is acted on at ingest,
and evidence belongs to (model name, model version, prompt version).

Items go in through the batch API; a reviewer decides what reaches humans by ground truth;
the learner runs between rounds as the periodic job would.
"""

from __future__ import annotations

import random

from sqlalchemy import select

from review.adaptive.rollout import set_stage
from review.core.models import Alert, Item, LearnedThreshold, PolicyChange, Queue, User


class Stream:
    def __init__(self, client, auth, db, slug: str, seed: int = 7) -> None:  # noqa: ANN001
        self.client, self.auth, self.db, self.slug = client, auth, db, slug
        self.rng = random.Random(seed)
        self.correct: dict[str, bool] = {}

    def submit(self, n: int, *, shifted: bool = False, name: str = "m",
               version: str = "v1") -> list[dict]:
        items = []
        for _ in range(n):
            if shifted:  # the silent update: over-confident, 20% wrong
                confidence, ok = round(self.rng.uniform(0.99, 1.0), 4), self.rng.random() > 0.2
            else:
                confidence = round(self.rng.uniform(0.5, 1.0), 4)
                ok = self.rng.random() > (0.005 if confidence >= 0.85 else 0.2)
            external_id = f"s{len(self.correct)}"
            self.correct[external_id] = ok
            items.append({"queue": self.slug, "external_id": external_id,
                          "output": "an answer of ordinary length", "confidence": confidence,
                          "model": {"name": name, "version": version}})
        resp = self.client.post("/api/v1/items/batch", headers=self.auth, json={"items": items})
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()["results"]

    def review_everything(self, reviewer_id: int, queue_id: int) -> None:
        from review.human.claims import claim_next
        from review.human.verdicts import Verdict, decide_as_reviewer

        user, queue = self.db.get(User, reviewer_id), self.db.get(Queue, queue_id)
        while (claim := claim_next(self.db, user, queue)) is not None:
            ok = self.correct[claim.item.external_id]
            decide_as_reviewer(self.db, claim.item.id, user, claim.lease_token,
                               Verdict("approve") if ok else Verdict("reject", reason="incorrect"))

    def learn(self, queue_id: int) -> dict:
        from review.adaptive.learning import refresh_queue

        summary = refresh_queue(self.db, self.db.get(Queue, queue_id))
        self.db.expire_all()
        return summary


def row(db, queue_id: int, name: str = "m", version: str = "v1") -> LearnedThreshold | None:
    db.expire_all()
    return db.scalar(select(LearnedThreshold).where(
        LearnedThreshold.queue_id == queue_id, LearnedThreshold.model_name == name,
        LearnedThreshold.model_version == version))


def items(db, results: list[dict]) -> list[Item]:
    db.expire_all()
    ids = [r["id"] for r in results]
    by_id = {i.id: i for i in db.scalars(select(Item).where(Item.id.in_(ids)))}
    return [by_id[i] for i in ids]


def live_adaptive(db, make_queue, make_user, client, auth):  # noqa: ANN201
    queue = make_queue("silent", max_error_rate=0.02, audit_rate=0.05, checker=None,
                       rollout_hold_seconds=None)
    set_stage(db, db.get(Queue, queue.id), "100%", "test")
    reviewer = make_user("rita", queues=("silent",))
    stream = Stream(client, auth, db, "silent")
    stream.submit(5)
    stream.learn(queue.id)  # the version's row exists: its detector watches from now on
    for _round in range(6):
        stream.submit(100)
        stream.review_everything(reviewer.id, queue.id)
        stream.learn(queue.id)
    assert row(db, queue.id).threshold is not None
    return queue, reviewer, stream


def test_a_silent_update_withdraws_the_threshold_at_once(db, client, auth, make_queue,
                                                         make_user):
    queue, reviewer, stream = live_adaptive(db, make_queue, make_user, client, auth)
    healthy = items(db, stream.submit(100))
    assert sum(i.status == "approved" for i in healthy) > 20
    shifted = items(db, stream.submit(200, shifted=True))
    auto = [i for i in shifted if i.status == "approved"]
    wrong = [i for i in auto if not stream.correct[i.external_id]]
    assert len(auto) <= 20 and len(wrong) <= 10, (len(auto), len(wrong))
    held = [i for i in shifted[len(auto) + 20:]]
    assert all(i.status == "pending" and i.route_reasons[0].startswith("shift detected")
               for i in held)
    state = row(db, queue.id)
    assert state.shift_detected_at is not None and "collapsed" in state.shift_reason
    assert db.scalar(select(PolicyChange).where(PolicyChange.changed_by == "shift-detector"))
    stream.learn(queue.id)
    assert db.scalar(select(Alert).where(Alert.kind == "confidence_shift")).resolved_at is None
    assert row(db, queue.id).threshold is None  # no post-shift evidence yet

    # Post-shift evidence (humans see every item) earns a threshold again, or not.
    for _round in range(3):
        stream.review_everything(reviewer.id, queue.id)
        stream.learn(queue.id)
        stream.submit(100, shifted=True)
    state = row(db, queue.id)
    assert state.threshold is None, "80% accurate at >= 0.99 must not earn 2%"
    assert state.evidence_count >= 200


def test_a_different_model_name_under_an_old_version_has_no_evidence(
        db, client, auth, make_queue, make_user):
    queue, _reviewer, stream = live_adaptive(db, make_queue, make_user, client, auth)
    other = items(db, stream.submit(50, name="other-model", version="v1"))
    assert all(i.status == "pending" for i in other)
    assert all(i.route_reasons[0].startswith("shadow: no evidence yet") for i in other)
    stream.learn(queue.id)
    assert row(db, queue.id, name="other-model").threshold is None


def fixed_queue(db, make_queue, client, auth, on_shift: str):  # noqa: ANN201
    queue = make_queue("silent", auto_approve_at=0.9, audit_rate=0.0, checker=None,
                       on_shift=on_shift)
    stream = Stream(client, auth, db, "silent")
    stream.submit(5)
    stream.learn(queue.id)
    stream.submit(300)  # the detector's reference
    return queue, stream


def test_fixed_threshold_queues_hold_a_shifted_version_by_default(db, client, auth,
                                                                  make_queue):
    queue, stream = fixed_queue(db, make_queue, client, auth, "hold")
    shifted = items(db, stream.submit(100, shifted=True))
    assert sum(i.status == "approved" for i in shifted) <= 20
    assert shifted[-1].status == "pending"
    assert shifted[-1].route_reasons[0].startswith("shift detected")


def test_on_shift_alert_keeps_routing_but_audits_more(db, client, auth, make_queue):
    queue, stream = fixed_queue(db, make_queue, client, auth, "alert")
    shifted = items(db, stream.submit(200, shifted=True))
    tail = shifted[50:]
    assert any(i.status == "approved" for i in tail)
    assert sum(i.audit_sampled for i in tail) >= 20  # SHIFT_AUDIT_RATE 0.25 of 150
    stream.learn(queue.id)
    assert db.scalar(select(Alert).where(Alert.kind == "confidence_shift"))
