"""Webhook signatures: `X-Review-Signature: t=UNIX,v1=HEX`, HMAC-SHA256 over `t.body`.

The receiving side's twin is `review.client.verify_webhook`.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Review-Signature"
EVENT_HEADER = "X-Review-Event-Id"


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """`t=UNIX,v1=HEX`, HMAC-SHA256 over `t.body`: the timestamp binds against replay."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def verify_signature(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """Receiver side check: right MAC and a timestamp within `tolerance` seconds."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        ts = int(fields["t"])
    except (ValueError, KeyError):
        return False
    if abs(time.time() - ts) > tolerance:
        return False
    expected = sign(secret, body, ts).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))
