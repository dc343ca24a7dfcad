"""Issue 6, end to end: a queue with max_error_rate 0.02 on a labelled stream.

Items go in through the batch API, a reviewer decides every item that reaches a
human by its ground truth (through the same claim and decide services the web
queue uses), and the learner runs between rounds as the periodic job would. The
model is healthy at first (0.2% errors at confidence >= 0.9, 25% below), then its
accuracy is degraded on purpose (30% errors everywhere).
"""

from __future__ import annotations

import random
import time

from sqlalchemy import func, select

from review.core.clock import utcnow
from review.core.models import Item, LearnedThreshold, Queue, User

TARGET = 0.02
WINDOW = 100


class LabelledStream:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.correct: dict[str, bool] = {}

    def items(self, n: int, error_at, version: str = "v1") -> list[dict]:  # noqa: ANN001
        out = []
        for _ in range(n):
            high = self.rng.random() < 0.6
            confidence = round(0.9 + 0.1 * self.rng.random() if high
                               else 0.5 + 0.4 * self.rng.random(), 4)
            external_id = f"x{len(self.correct)}"
            self.correct[external_id] = self.rng.random() >= error_at(confidence)
            out.append({"queue": "adaptive", "external_id": external_id, "output": "answer",
                        "confidence": confidence, "model": {"name": "m", "version": version}})
        return out


def healthy(confidence: float) -> float:
    return 0.002 if confidence >= 0.9 else 0.25


def degraded(_confidence: float) -> float:
    return 0.3


class Harness:
    def __init__(self, client, auth, db, queue_id: int, reviewer_id: int) -> None:  # noqa: ANN001
        self.client, self.auth, self.db = client, auth, db
        self.queue_id, self.reviewer_id = queue_id, reviewer_id
        self.stream = LabelledStream(seed=20261203)

    @property
    def queue(self) -> Queue:
        return self.db.get(Queue, self.queue_id)

    def submit(self, n: int, error_at, version: str = "v1") -> list[dict]:  # noqa: ANN001
        resp = self.client.post("/api/v1/items/batch", headers=self.auth,
                                json={"items": self.stream.items(n, error_at, version)})
        assert resp.status_code == 200 and resp.get_json()["summary"]["created"] == n
        return resp.get_json()["results"]

    def review_everything(self) -> None:
        from review.human.claims import claim_next
        from review.human.verdicts import Verdict, decide_as_reviewer

        user = self.db.get(User, self.reviewer_id)
        while (claim := claim_next(self.db, user, self.queue)) is not None:
            ok = self.stream.correct[claim.item.external_id]
            verdict = Verdict("approve") if ok else Verdict("reject", reason="incorrect")
            decide_as_reviewer(self.db, claim.item.id, user, claim.lease_token, verdict)

    def learn(self) -> dict:
        from review.adaptive.learning import refresh_queue

        summary = refresh_queue(self.db, self.queue)
        self.db.expire_all()
        return summary

    def threshold(self, version: str = "v1") -> LearnedThreshold | None:
        return self.db.scalar(select(LearnedThreshold).where(
            LearnedThreshold.queue_id == self.queue_id,
            LearnedThreshold.model_version == version))

    def items(self, ids: list[str]) -> list[Item]:
        return list(self.db.scalars(select(Item).where(Item.id.in_(ids))))


def test_max_error_rate_queue_earns_trust_keeps_errors_low_and_trips(
        db, client, auth, make_queue, make_user):
    queue = make_queue("adaptive", max_error_rate=TARGET, audit_rate=0.2,
                       breaker_window=WINDOW, rollout_hold_seconds=1, checker=None)
    reviewer = make_user("rita", queues=("adaptive",))
    run = Harness(client, auth, db, queue.id, reviewer.id)
    assert run.queue.rollout_stage == "shadow"

    # 1. Shadow, then the rollout stages: nothing auto-approves before evidence allows.
    auto_ids: list[str] = []
    first_auto_evidence = None
    last_learn = 0.0
    for _round in range(30):
        trusted = run.threshold()
        stage = run.queue.rollout_stage
        results = run.submit(100, healthy)
        approved = [r["id"] for r in results if r["status"] == "approved"]
        if approved:
            assert trusted is not None and trusted.threshold is not None and stage != "shadow"
            first_auto_evidence = first_auto_evidence or trusted.evidence_count
        auto_ids += approved
        run.review_everything()
        if stage == "100%" and trusted is not None:
            break
        # rollout_hold_seconds=1: each pass may advance one stage.
        time.sleep(max(0.0, 1.05 - (time.monotonic() - last_learn)))
        run.learn()
        last_learn = time.monotonic()
    assert run.queue.rollout_stage == "100%"
    # Zero errors need 149 items to bound the rate under 2% at 95% confidence.
    assert first_auto_evidence is not None and first_auto_evidence >= 149

    # 2. Live at 100%: a new model version cannot ride on v1's record.
    v2 = run.submit(30, healthy, version="v2")
    assert all(r["status"] == "pending" for r in v2)
    assert all(i.route_reasons[0].startswith("shadow: no evidence yet")
               for i in run.items([r["id"] for r in v2]))
    for _round in range(8):
        auto_ids += [r["id"] for r in run.submit(100, healthy) if r["status"] == "approved"]
        run.review_everything()
        run.learn()
    auto_items = run.items(auto_ids)
    assert all(i.decided_by_kind == "router" and i.model_version == "v1" for i in auto_items)
    escaped = sum(not run.stream.correct[i.external_id] for i in auto_items)
    assert len(auto_items) >= 300
    assert escaped / len(auto_items) < TARGET, (escaped, len(auto_items))

    # 3. Degrade the model: the breaker trips within one window of audited samples.
    assert not run.queue.breaker_open
    degraded_at = utcnow()
    for _round in range(20):
        run.submit(50, degraded)
        run.review_everything()
        run.learn()
        if run.queue.breaker_open:
            break
    queue_now = run.queue
    assert queue_now.breaker_open, "the breaker never tripped"
    samples = db.scalar(select(func.count()).where(
        Item.queue_id == queue.id, Item.decided_at > degraded_at,
        Item.decided_by_kind == "reviewer",
        (Item.audit_sampled.is_(True)) | (Item.shadow_route == "auto")))
    assert samples <= WINDOW, samples
    after_trip = run.submit(100, degraded)
    assert all(r["status"] == "pending" for r in after_trip)
    reasons = [i.route_reasons[0] for i in run.items([r["id"] for r in after_trip])]
    assert all(r.startswith("circuit breaker open") for r in reasons)
