"""Confidence-shift alerts: a version's recent confidences against its own recent past.

The alert that a person reads; acting on a shift is the sequential detector's job at
ingest (review/adaptive/watch.py), whose detections also open this alert.

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

from review.adaptive.evidence import Version, version_filter
from review.adaptive.thresholds import shift_alert
from review.alerts.episodes import Condition, open_episode, resolve_episodes
from review.core.models import Item, LearnedThreshold, Queue
from review.core.settings import settings


def shift_key(queue: Queue, model_version: str, prompt_version: str,
              model_name: str = "") -> str:
    # Without a model name the key is what it was before names were part of a version.
    text = f"{model_version}\0{prompt_version}" + (f"\0{model_name}" if model_name else "")
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return f"confidence_shift:{queue.slug}:{digest}"


def recent_confidences(session: Session, queue: Queue, version: Version,
                       limit: int) -> list[float]:
    """Newest first."""
    return list(session.scalars(
        select(Item.confidence)
        .where(Item.queue_id == queue.id, version_filter(version))
        .order_by(Item.created_at.desc()).limit(limit)))


def update_shift_alerts(session: Session, queue: Queue, now: datetime) -> list[str]:
    """Open or resolve the queue's shift alerts; returns the keys open now. Commits."""
    window = int(settings().SHIFT_WINDOW)
    psi_threshold = float(settings().SHIFT_PSI)
    rows = list(session.scalars(select(LearnedThreshold)
                                .where(LearnedThreshold.queue_id == queue.id)
                                .order_by(LearnedThreshold.id)))
    shifted = []
    for row in rows:
        version = (row.model_name, row.model_version, row.prompt_version)
        _, mv, pv = version
        key = shift_key(queue, mv, pv, row.model_name)
        name = (f"{row.model_name + ' ' if row.model_name else ''}"
                f"{mv or '(no model version)'} / {pv or '(no prompt version)'}")
        if row.shift_detected_at is not None:
            # The sequential detector (review/adaptive/watch.py) acted at ingest already.
            shifted.append(key)
            open_episode(session, Condition(
                "confidence_shift", key, queue_id=queue.id,
                message=(f"Queue {queue.slug}, version {name}: shift detected at ingest "
                         f"({row.shift_reason}); its items go to humans until post-shift "
                         "evidence earns a threshold"),
                data={"queue": queue.slug, "model_name": row.model_name,
                      "model_version": mv, "prompt_version": pv,
                      "detected": True, "reason": row.shift_reason}), now)
            continue
        values = recent_confidences(session, queue, version, window * 4)
        recent, past = values[:window], values[window:]
        alert, psi = shift_alert(past, recent, psi_threshold) if past else (False, 0.0)
        if not alert:
            resolve_episodes(session, [key], now)
            continue
        shifted.append(key)
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
