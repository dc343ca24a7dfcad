"""Claims and leases: who holds which item, until when, under which token.

`claim_next` hands a reviewer the highest-priority pending item of a queue
(priority, then SLA due time, then age) with a lease. Two reviewers never get
the same item: on PostgreSQL the candidate row is taken with
`SELECT ... FOR UPDATE SKIP LOCKED` over the partial index `ix_items_claimable`;
on SQLite one conditional `UPDATE ... WHERE id = (SELECT ...) AND status =
'pending'` does it (SQLite runs one writer at a time, so the pick and the
update are atomic). Every state change bumps the item's version, so a decision
that raced a release, an expiry or a reassignment fails its conditional UPDATE.

Extending a lease does not bump the version: a heartbeat never makes the
holder's own decision conflict. A lease is live while `lease_expires_at > now`;
past that nothing renews, extends or escalates under it, even before the SLA
clock has swept it back to the queue.

Priorities stay in 0..MAX_PRIORITY, the range the API accepts: escalation,
like every other boost, stops at the top.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ARRAY,
    Text,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, array
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.expression import ColumnElement, type_coerce

from review.core.access import can_review, member_tags
from review.core.clock import isoformat, utcnow
from review.core.errors import Conflict, DomainError, NotAllowed
from review.core.events import record_event
from review.core.models import Item, Queue, Review, User
from review.core.settings import settings
from review.core.tracing import span
from review.human.overflow import overflow_claim_rules
from review.human.skips import remember_skip, skipped

# An escalated item jumps ahead of ordinary work in the supervisors' view.
ESCALATION_PRIORITY_BOOST = 30
# The top of the one priority range: ItemIn.priority's maximum in
# review/intake/schemas.py, and where ingest's, the check's and the SLA clock's
# boosts stop too, so no item ever carries a priority the API would refuse.
MAX_PRIORITY = 100
BATCH = 1000
OPEN_STATUSES = ("pending", "in_review")
CLEAR_LEASE = dict(claimed_by=None, lease_token=None, lease_expires_at=None)


@dataclass
class Claim:
    item: Item
    lease_token: str
    lease_expires_at: datetime
    renewed: bool = False  # the reviewer already held this item

    def lease_to_dict(self) -> dict[str, Any]:
        return {"token": self.lease_token, "expires_at": isoformat(self.lease_expires_at)}


def lease_seconds_for(queue: Queue) -> int:
    return int(queue.lease_seconds or settings().LEASE_SECONDS or 900)


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def reload_item(session: Session, item_id: str) -> Item:
    return session.execute(
        select(Item).where(Item.id == item_id).execution_options(populate_existing=True)
    ).scalar_one()


# --- Claiming -----------------------------------------------------------------


def _tag_match(session: Session, cand: Any, tags: list[str]) -> ColumnElement[bool]:
    """The item's metadata["tags"] (a list or one string) or ["language"] is among `tags`."""
    if _is_postgres(session):
        meta = type_coerce(cand.meta, JSONB)
        return or_(meta["tags"].has_any(cast(array(tags), ARRAY(Text))),
                   meta["language"].astext.in_(tags))
    each = func.json_each(cand.meta, "$.tags").table_valued("value").alias("item_tags")
    return or_(exists(select(literal(1)).select_from(each).where(each.c.value.in_(tags))),
               func.json_extract(cand.meta, "$.language").in_(tags))


def _claimable(session: Session, cand: Any, user: User, queue: Queue,
               exclude: Iterable[str]) -> list[ColumnElement[bool]]:
    """Conditions on `cand` (Item or an alias) for items `user` may claim in `queue`."""
    supervisor = user.has_role("supervisor")
    assignment = [cand.assigned_to.is_(None), cand.assigned_to == user.id]
    if queue.required_reviews > 1:
        # An assignee who already gave their review cannot claim the item
        # again, so their assignment no longer holds it back from others
        # (otherwise it would wait forever).
        assignment.append(exists(select(Review.id).where(
            Review.item_id == cand.id, Review.reviewer_id == cand.assigned_to)))
    conditions = [cand.queue_id == queue.id, cand.status == "pending", or_(*assignment)]
    if not supervisor:
        # Escalated items are for supervisors, unless one assigned it to this
        # reviewer (else nobody could ever claim it).
        conditions.append(or_(cand.escalated == false(), cand.assigned_to == user.id))
    excluded = list(exclude)
    if excluded:
        conditions.append(cand.id.notin_(excluded))
    tags = member_tags(session, user, queue.id)
    if tags:
        conditions.append(_tag_match(session, cand, tags))
    if queue.required_reviews > 1:
        # Consensus: a reviewer never sees the same item twice; a supervisor
        # settling an escalated item may have been one of its reviewers.
        reviewed = exists(select(Review.id).where(Review.item_id == cand.id,
                                                  Review.reviewer_id == user.id))
        conditions.append(or_(cand.escalated == true(), ~reviewed) if supervisor
                          else ~reviewed)
    return conditions


def _order(cand: Any) -> list[Any]:
    # Same order as ix_items_claimable, so PostgreSQL reads the index in order.
    return [cand.priority.desc(), cand.due_at, cand.created_at]


def _renew_held(session: Session, user: User, queue: Queue, now: datetime) -> Claim | None:
    """The item `user` already holds in `queue`, with its lease renewed.

    A held lease that has expired (the clock has not swept it yet) is not
    renewed: the item goes back to the queue at once, as the sweep would do,
    and None lets the caller claim afresh under a new token.
    """
    held = session.execute(
        select(Item.id, Item.lease_token, Item.lease_expires_at).where(
            Item.queue_id == queue.id, Item.claimed_by == user.id, Item.status == "in_review")
        .order_by(Item.lease_expires_at.desc()).limit(1)
    ).first()
    if held is None:
        return None
    if held.lease_expires_at is None or held.lease_expires_at <= now:
        _return_expired(session, held.id, held.lease_token, user.id, now)
        session.commit()
        return None
    expires = now + timedelta(seconds=lease_seconds_for(queue))
    renewed = session.execute(
        update(Item)
        .where(Item.id == held.id, Item.status == "in_review", Item.claimed_by == user.id,
               Item.lease_token == held.lease_token, Item.lease_expires_at > now)
        .values(lease_expires_at=expires)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    if not renewed:
        session.rollback()
        return None
    session.commit()
    return Claim(reload_item(session, held.id), held.lease_token, expires, renewed=True)


def _lock_for_claim(session: Session, user: User, queue: Queue) -> None:
    """Take the reviewer's claim lock for this transaction, and make the claim's SELECT
    walk ix_items_claimable in order whatever the statistics say.

    Right after a surge, before autovacuum's ANALYZE, the planner guesses one pending row,
    scans ix_items_status_queue and sorts every pending item (341 ms at 100,000, on disk)
    instead of reading the first entry of ix_items_claimable (0.05 ms). Sorting off, for
    this transaction only (`set_config(..., true)` is SET LOCAL, and safe behind a
    transaction pooler), leaves the index walk as the plan; it rides on the lock's
    round trip."""
    session.execute(select(func.pg_advisory_xact_lock(user.id, queue.id),
                           func.set_config("enable_sort", "off", True)))


@span("review.claim")
def claim_next(session: Session, user: User, queue: Queue, *, exclude: Iterable[str] = (),
               now: datetime | None = None) -> Claim | None:
    """Lease the next item of `queue` to `user` and commit; None when nothing is left.

    A reviewer holds at most one item per queue: asking again returns (and
    renews) the one they hold. `exclude` skips items (e.g. the one just skipped);
    items this reviewer skipped within SKIP_COOLDOWN_SECONDS are left out too.
    """
    if not can_review(session, user, queue.id):
        raise NotAllowed("not_a_member", f"You are not a member of queue {queue.slug!r}.")
    exclude = [*exclude, *skipped(user.id, queue.id)]
    now = now or utcnow()
    postgres = _is_postgres(session)
    if postgres:
        # One claim at a time per reviewer and queue (two tabs clicking "Next"
        # at once), so the one-item rule holds; other reviewers are not blocked.
        _lock_for_claim(session, user, queue)
    held = _renew_held(session, user, queue, now)
    if held is not None:
        return held
    token = secrets.token_hex(16)
    expires = now + timedelta(seconds=lease_seconds_for(queue))
    values = dict(status="in_review", claimed_by=user.id, lease_token=token,
                  lease_expires_at=expires, version=Item.version + 1)
    if postgres:
        # Again: a failed renewal rolled back, which dropped the first lock.
        _lock_for_claim(session, user, queue)
        extra, first = overflow_claim_rules(session, Item, user, queue, now)
        item_id = session.scalar(
            select(Item.id).where(*_claimable(session, Item, user, queue, exclude), *extra)
            .order_by(*first, *_order(Item)).limit(1).with_for_update(skip_locked=True))
        won = item_id is not None and session.execute(
            update(Item).where(Item.id == item_id, Item.status == "pending").values(**values)
            .execution_options(synchronize_session=False)).rowcount == 1
    else:
        cand, mine = aliased(Item), aliased(Item)
        extra, first = overflow_claim_rules(session, cand, user, queue, now)
        pick = (select(cand.id).where(*_claimable(session, cand, user, queue, exclude), *extra)
                .order_by(*first, *_order(cand)).limit(1).scalar_subquery())
        holds_one = exists(select(mine.id).where(
            mine.queue_id == queue.id, mine.claimed_by == user.id, mine.status == "in_review"))
        item_id = session.scalar(
            update(Item).where(Item.id == pick, Item.status == "pending", ~holds_one)
            .values(**values).returning(Item.id)
            .execution_options(synchronize_session=False))
        won = item_id is not None
    if not won:
        session.rollback()
        return None
    record_event(session, item_id, "claimed", user.name,
                 {"user_id": user.id, "lease_expires_at": isoformat(expires)})
    session.commit()
    return Claim(reload_item(session, item_id), token, expires)


# --- The holder's lease actions ------------------------------------------------


def _held_guard(user: User, item_id: str, lease_token: str) -> list[ColumnElement[bool]]:
    return [Item.id == item_id, Item.status == "in_review", Item.claimed_by == user.id,
            Item.lease_token == lease_token]


def _lease_conflict(session: Session, item_id: str) -> DomainError:
    session.rollback()
    return Conflict("not_held", "You do not hold a live lease on this item (it expired, "
                    "was released, reassigned or decided); nothing was changed.",
                    {"item_id": item_id})


def extend_lease(session: Session, user: User, item: Item, lease_token: str,
                 now: datetime | None = None) -> datetime:
    """Push the holder's live lease forward and commit; 409 once it has expired."""
    now = now or utcnow()
    expires = now + timedelta(seconds=lease_seconds_for(item.queue))
    extended = session.execute(
        update(Item).where(*_held_guard(user, item.id, lease_token),
                           Item.lease_expires_at > now)
        .values(lease_expires_at=expires).execution_options(synchronize_session=False)
    ).rowcount == 1
    if not extended:
        raise _lease_conflict(session, item.id)
    record_event(session, item.id, "lease_extended", user.name,
                 {"lease_expires_at": isoformat(expires)})
    session.commit()
    item.lease_expires_at = expires
    return expires


def release(session: Session, user: User, item: Item, lease_token: str,
            reason: str = "released by reviewer") -> Item:
    """Give the held item back to the queue and commit; 409 unless the caller holds it."""
    released = session.execute(
        update(Item).where(*_held_guard(user, item.id, lease_token))
        .values(status="pending", version=Item.version + 1, **CLEAR_LEASE)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    if not released:
        raise _lease_conflict(session, item.id)
    record_event(session, item.id, "released", user.name, {"reason": reason})
    session.commit()
    return reload_item(session, item.id)


def skip(session: Session, user: User, item: Item, lease_token: str) -> Item:
    """Release the held item and keep it away from this reviewer for the cooldown;
    commit. Other reviewers may claim it at once. 409 unless the caller holds it."""
    released = release(session, user, item, lease_token, reason="skipped by reviewer")
    remember_skip(user.id, item.queue_id, item.id)
    return released


def skipped_waiting(session: Session, user: User, queue: Queue) -> tuple[int, float]:
    """How many items `user` could claim but skipped, and seconds until the first is back."""
    live = skipped(user.id, queue.id)
    if not live:
        return 0, 0.0
    ids = list(session.scalars(select(Item.id).where(
        *_claimable(session, Item, user, queue, ()), Item.id.in_(list(live)))))
    session.rollback()
    return len(ids), min((live[i] for i in ids), default=0.0)


def return_escalated(session: Session, item: Item, actor: str, lease_token: str,
                     data: dict[str, Any], now: datetime) -> bool:
    """Send a held item to the supervisors: escalated, higher priority, pending.

    Guarded by the item's version, lease token and a live lease at `now`; no
    commit (the caller may write more in the same transaction). False when the
    guard failed.
    """
    boosted = Item.priority + ESCALATION_PRIORITY_BOOST
    moved = session.execute(
        update(Item).where(Item.id == item.id, Item.version == item.version,
                           Item.status == "in_review", Item.lease_token == lease_token,
                           Item.lease_expires_at > now)
        .values(status="pending", escalated=True, version=Item.version + 1,
                priority=case((boosted > MAX_PRIORITY, MAX_PRIORITY), else_=boosted),
                **CLEAR_LEASE)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    if moved:
        record_event(session, item.id, "escalated", actor, data)
    return moved


def escalate(session: Session, user: User, item: Item, lease_token: str,
             note: str | None = None, now: datetime | None = None) -> Item:
    """The holder hands the item to a supervisor; commit. 409 unless held under a live lease."""
    now = now or utcnow()
    if (item.status != "in_review" or item.claimed_by != user.id
            or item.lease_token != lease_token):
        raise _lease_conflict(session, item.id)
    if item.escalated:
        raise Conflict("already_escalated", "The item is already escalated; decide it.")
    if item.lease_expires_at is None or item.lease_expires_at <= now:
        session.rollback()
        raise Conflict("lease_expired", "Your lease on this item expired; nothing changed.",
                       {"item_id": item.id})
    if not return_escalated(session, item, user.name, lease_token,
                            {"reason": "escalated by reviewer", "note": note}, now):
        raise _lease_conflict(session, item.id)
    session.commit()
    return reload_item(session, item.id)


# --- Expiry (called by the SLA clock) --------------------------------------------


def release_expired_leases(session: Session, now: datetime) -> list[str]:
    """Items whose lease ran out go back to `pending`; one commit per item.

    Each release is a conditional UPDATE on the token it saw, so a clock tick
    racing a heartbeat or another tick releases nothing twice.
    """
    rows = session.execute(
        select(Item.id, Item.lease_token, Item.claimed_by)
        .where(Item.status == "in_review", Item.lease_expires_at < now).limit(BATCH)
    ).all()
    session.rollback()
    released = []
    for item_id, token, claimed_by in rows:
        if _return_expired(session, item_id, token, claimed_by, now):
            released.append(item_id)
        session.commit()
    return released


def _return_expired(session: Session, item_id: str, token: str | None, claimed_by: int | None,
                    now: datetime) -> bool:
    """Return an item whose lease under `token` is no longer live at `now` to pending,
    with its `lease_expired` event; no commit. False when it changed meanwhile."""
    won = session.execute(
        update(Item).where(Item.id == item_id, Item.status == "in_review",
                           Item.lease_token == token, Item.lease_expires_at <= now)
        .values(status="pending", version=Item.version + 1, **CLEAR_LEASE)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    if won:
        record_event(session, item_id, "lease_expired", "sla", {"claimed_by": claimed_by})
    return won


def release_held_by(session: Session, queue_id: int, user_id: int) -> list[str]:
    """Return every item `user_id` holds in the queue to pending and free the items
    assigned to them (nobody else could take those); no commit, no events."""
    ids = list(session.scalars(select(Item.id).where(
        Item.queue_id == queue_id, Item.claimed_by == user_id, Item.status == "in_review")))
    if ids:
        session.execute(
            update(Item).where(Item.id.in_(ids), Item.status == "in_review",
                               Item.claimed_by == user_id)
            .values(status="pending", version=Item.version + 1, **CLEAR_LEASE)
            .execution_options(synchronize_session=False))
    session.execute(
        update(Item).where(Item.queue_id == queue_id, Item.assigned_to == user_id,
                           Item.status.in_(OPEN_STATUSES))
        .values(assigned_to=None, version=Item.version + 1)
        .execution_options(synchronize_session=False))
    return ids
