"""The steady load of the chaos run: submitters and reviewers over real HTTP.

Clients behave like well-written upstream services: on a connection error or
a 503 they retry the same request (ingest reuses its external_id, so a retry
never makes a second item); a 409 on a decision means someone else's change
won. Every answer is recorded so the test can check what was promised.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import requests

OUTCOMES = ("approve", "reject", "edit")


@dataclass
class Record:
    """What the clients saw, shared by all load threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    accepted: dict[str, str] = field(default_factory=dict)  # external_id -> item id
    statuses: Counter = field(default_factory=Counter)
    unavailable_without_retry_after: int = 0
    unexpected: list[str] = field(default_factory=list)
    decisions_ok: Counter = field(default_factory=Counter)  # item id -> 200 decision answers
    connection_errors: int = 0

    def saw(self, resp: requests.Response, what: str) -> None:
        with self.lock:
            self.statuses[resp.status_code] += 1
            if resp.status_code == 503 and not resp.headers.get("Retry-After"):
                self.unavailable_without_retry_after += 1
            if resp.status_code >= 500 and resp.status_code != 503:
                self.unexpected.append(f"{what}: {resp.status_code} {resp.text[:300]}")

    def lost_connection(self) -> None:
        with self.lock:
            self.connection_errors += 1


class Submitter(threading.Thread):
    def __init__(self, n: int, base: str, key: str, record: Record, stop: threading.Event,
                 give_up: threading.Event) -> None:
        super().__init__(daemon=True, name=f"submitter-{n}")
        self.n, self.base, self.record = n, base, record
        self.stop, self.give_up = stop, give_up
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {key}"

    def run(self) -> None:
        rng = random.Random(self.n)
        i = 0
        while not self.stop.is_set():
            ext = f"s{self.n}-{i}"
            # Auto-approved, sent to the checker, or straight to a human.
            confidence = rng.choice([0.95, 0.75, 0.75, 0.3, 0.3])
            body = {"queue": "chaos", "output": f"answer {ext}", "confidence": confidence,
                    "external_id": ext, "input": {"n": i}}
            self.submit(body)
            i += 1
            time.sleep(rng.uniform(0.02, 0.1))

    def submit(self, body: dict) -> None:
        """Retry until answered 200/201 or the run gives up on unanswered requests."""
        while not self.give_up.is_set():
            try:
                resp = self.http.post(f"{self.base}/api/v1/items", json=body, timeout=15)
            except requests.RequestException:
                self.record.lost_connection()
                time.sleep(0.2)
                continue
            self.record.saw(resp, "ingest")
            if resp.status_code in (200, 201):
                item_id = resp.json()["id"]
                with self.record.lock:
                    previous = self.record.accepted.setdefault(body["external_id"], item_id)
                    if previous != item_id:
                        self.record.unexpected.append(f"a retry made a second item {item_id}")
                return
            if resp.status_code in (429, 503):
                time.sleep(min(float(resp.headers.get("Retry-After", "1")), 1.0))
                continue
            with self.record.lock:
                self.record.unexpected.append(f"ingest {resp.status_code}: {resp.text[:300]}")
            return


class Reviewer(threading.Thread):
    def __init__(self, name: str, base: str, key: str, record: Record,
                 stop: threading.Event) -> None:
        super().__init__(daemon=True, name=f"reviewer-{name}")
        self.base, self.record, self.stop = base, record, stop
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {key}"
        self.rng = random.Random(name)

    def call(self, path: str, body: dict | None = None) -> requests.Response | None:
        try:
            resp = self.http.post(f"{self.base}{path}", json=body, timeout=15)
        except requests.RequestException:
            self.record.lost_connection()
            time.sleep(0.2)
            return None
        self.record.saw(resp, path)
        return resp

    def run(self) -> None:
        while not self.stop.is_set():
            resp = self.call("/api/v1/queues/chaos/claim")
            if resp is None or resp.status_code != 200:
                time.sleep(0.2)
                continue
            claim = resp.json()
            self.decide(claim["item"]["id"], claim["lease"]["token"])

    def decide(self, item_id: str, token: str) -> None:
        outcome = self.rng.choice(OUTCOMES)
        body = {"outcome": outcome, "lease_token": token}
        if outcome == "reject":
            body["reason"] = "wrong"
        if outcome == "edit":
            body["output"] = f"edited {item_id}"
        for _attempt in range(20):  # the same decision again until it has an answer
            resp = self.call(f"/api/v1/items/{item_id}/decision", body)
            if resp is None or resp.status_code == 503:
                time.sleep(0.3)
                continue
            if resp.status_code == 200:
                with self.record.lock:
                    self.record.decisions_ok[item_id] += 1
            elif resp.status_code != 409:
                with self.record.lock:
                    self.record.unexpected.append(f"decision {resp.status_code}: "
                                                  f"{resp.text[:300]}")
            return
