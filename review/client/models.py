"""Typed results of the client: dataclasses over the API's JSON, each keeping `raw`;
and `Timeout`, the error of a `wait()` that carries the last item seen."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from review.client.errors import ERRORS, ReviewError

DECIDED_STATUSES = ("approved", "rejected")


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


@dataclass
class Route:
    path: str  # auto, check or human
    reasons: list[str]
    audit_sampled: bool
    raw: dict[str, Any] = field(repr=False)
    shadow_route: str | None = None  # what an adaptive queue would have done live

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Route:
        return cls(d.get("path", ""), list(d.get("reasons") or []),
                   bool(d.get("audit_sampled")), d, d.get("shadow_route"))


@dataclass
class Sla:
    due_at: datetime | None
    state: str
    breached: bool
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Sla:
        return cls(_when(d.get("due_at")), d.get("state", "ok"), bool(d.get("breached")), d)


@dataclass
class Check:
    checker: str | None
    verdict: str | None
    score: float | None
    reason: str | None
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Check:
        return cls(d.get("checker"), d.get("verdict"), d.get("score"), d.get("reason"), d)


@dataclass
class Decision:
    outcome: str  # approve, reject or edit
    output: Any  # the final output: the model's, the reviewer's edit, or None
    reason: str | None
    note: str | None
    decided_by: str
    decided_by_kind: str | None
    decided_at: datetime | None
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Decision:
        return cls(d.get("outcome", ""), d.get("output"), d.get("reason"), d.get("note"),
                   d.get("decided_by", ""), d.get("decided_by_kind"),
                   _when(d.get("decided_at")), d)


@dataclass
class Backlog:
    """The queue's backlog as an ingest answer reports it: degrade gracefully when
    `over_cap` (or `wait_seconds` is long) instead of piling on."""

    queue: str
    pending: int
    wait_seconds: float | None  # None: no pace known yet
    over_cap: bool
    over_sla: bool
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Backlog:
        return cls(d.get("queue", ""), int(d.get("pending") or 0), d.get("wait_seconds"),
                   bool(d.get("over_cap")), bool(d.get("over_sla")), d)


@dataclass
class Item:
    id: str
    queue: str
    status: str
    external_id: str | None
    confidence: float
    output: Any
    route: Route
    sla: Sla
    decision: Decision | None
    check: Check | None
    created_at: datetime | None
    raw: dict[str, Any] = field(repr=False)
    backlog: Backlog | None = None  # set on answers to submit(), None when polled

    @property
    def decided(self) -> bool:
        return self.decision is not None or self.status in DECIDED_STATUSES

    @property
    def approved(self) -> bool:
        return self.status == "approved"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Item:
        return cls(
            id=d["id"], queue=d.get("queue", ""), status=d.get("status", ""),
            external_id=d.get("external_id"), confidence=d.get("confidence", 0.0),
            output=d.get("output"), route=Route.from_dict(d.get("route") or {}),
            sla=Sla.from_dict(d.get("sla") or {}),
            decision=Decision.from_dict(d["decision"]) if d.get("decision") else None,
            check=Check.from_dict(d["check"]) if d.get("check") else None,
            created_at=_when(d.get("created_at")), raw=d,
            backlog=Backlog.from_dict(d["backlog"]) if d.get("backlog") else None,
        )


@dataclass
class BatchEntry:
    index: int
    result: str  # created, replayed or error
    id: str | None
    status: str | None
    error: ReviewError | None

    @property
    def ok(self) -> bool:
        return self.result != "error"


@dataclass
class BatchResult:
    entries: list[BatchEntry]
    summary: dict[str, int]
    raw: dict[str, Any] = field(repr=False)
    backlog: dict[str, Backlog] = field(default_factory=dict)  # per queue slug

    @property
    def errors(self) -> list[BatchEntry]:
        return [e for e in self.entries if not e.ok]

    @property
    def ids(self) -> list[str | None]:
        """Item ids in input order (None where that item failed)."""
        return [e.id for e in self.entries]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BatchResult:
        entries = []
        for r in d.get("results", []):
            error = None
            if r.get("result") == "error":
                err = r.get("error") or {}
                status = r.get("status_code") or 422
                error = ERRORS.get(status, ReviewError)(
                    err.get("message", ""), status=status, code=err.get("code", "error"),
                    details=err.get("details"))
            entries.append(BatchEntry(r["index"], r["result"], r.get("id"),
                                      r.get("status"), error))
        backlog = {slug: Backlog.from_dict(b) for slug, b in (d.get("backlog") or {}).items()}
        return cls(entries, dict(d.get("summary") or {}), d, backlog)


class Timeout(ReviewError, TimeoutError):
    """`wait()` ran out of time; `item` is the last state seen."""

    def __init__(self, message: str, *, item: Item | None = None) -> None:
        super().__init__(message, code="wait_timeout")
        self.item = item
