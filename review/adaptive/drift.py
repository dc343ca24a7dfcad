"""Confidence-shift alerts: a version's recent confidences against its own recent past.

A provider can change a model behind an unchanged version string; its confidence
distribution moving is often the only sign. For every version with learned evidence,
the latest SHIFT_WINDOW items are compared with the 3 x SHIFT_WINDOW before them
(`review.adaptive.thresholds.shift_alert`: PSI over SHIFT_PSI and a KS difference significant
at 1%). A shift opens one `confidence_shift` alert per queue and version; it
resolves when the distributions agree again (the past catches up with the present).
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from review.adaptive.evidence import version_filter
from review.adaptive.thresholds import shift_alert
from review.alerts.episodes import Condition, open_episode, resolve_episodes
from review.core.models import Item, LearnedThreshold, Queue
from review.core.settings import settings


def shift_key(queue: Queue, model_version: str, prompt_version: str) -> str:
    digest = hashlib.sha256(f"{model_version}\0{prompt_version}".encode()).hexdigest()[:16]
    return f"confidence_shift:{queue.slug}:{digest}"


def recent_confidences(session: Session, queue: Queue, model_version: str,
                       prompt_version: str, limit: int) -> list[float]:
    """Newest first."""
    return list(session.scalars(
        select(Item.confidence)
        .where(Item.queue_id == queue.id, version_filter(model_version, prompt_version))
        .order_by(Item.created_at.desc()).limit(limit)))


def update_shift_alerts(session: Session, queue: Queue, now: datetime) -> list[str]:
    """Open or resolve the queue's shift alerts; returns the keys open now. Commits."""
    window = int(settings().SHIFT_WINDOW)
    psi_threshold = float(settings().SHIFT_PSI)
    versions = session.execute(select(LearnedThreshold.model_version,
                                      LearnedThreshold.prompt_version)
                               .where(LearnedThreshold.queue_id == queue.id)).all()
    shifted = []
    for mv, pv in versions:
        values = recent_confidences(session, queue, mv, pv, window * 4)
        recent, past = values[:window], values[window:]
        alert, psi = shift_alert(past, recent, psi_threshold) if past else (False, 0.0)
        key = shift_key(queue, mv, pv)
        if not alert:
            resolve_episodes(session, [key], now)
            continue
        shifted.append(key)
        name = f"{mv or '(no model version)'} / {pv or '(no prompt version)'}"
        mean = sum(recent) / len(recent) - sum(past) / len(past)
        open_episode(session, Condition(
            "confidence_shift", key, queue_id=queue.id,
            message=(f"Queue {queue.slug}, version {name}: confidence distribution shifted "
                     f"(PSI {psi:.2f} > {psi_threshold}, mean {mean:+.3f}) over the latest "
                     f"{len(recent)} items against the {len(past)} before them."),
            data={"queue": queue.slug, "model_version": mv, "prompt_version": pv,
                  "psi": psi, "mean_change": mean}), now)
    session.commit()
    return shifted
