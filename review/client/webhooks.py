"""Verifying the service's webhooks on the receiving side (no server imports)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from review.client.errors import WebhookVerificationError

SIGNATURE_HEADER = "X-Review-Signature"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def verify_webhook(headers: Mapping[str, str], body: bytes | str, secret: str,
                   tolerance: int = 300) -> dict[str, Any]:
    """Check a webhook's `X-Review-Signature` and return the parsed event.

    The signature is `t=UNIX,v1=HEX`, HMAC-SHA256 of `t.` + the raw body under
    the key's webhook secret. Pass the body exactly as received (bytes), not
    re-serialised JSON. Raises WebhookVerificationError.
    """
    raw = body.encode() if isinstance(body, str) else bytes(body)
    header = _header(headers, SIGNATURE_HEADER)
    if not header:
        raise WebhookVerificationError(f"missing {SIGNATURE_HEADER} header",
                                       code="missing_signature")
    try:
        parts = dict(part.strip().split("=", 1) for part in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (ValueError, KeyError) as exc:
        raise WebhookVerificationError(f"malformed {SIGNATURE_HEADER} header",
                                       code="malformed_signature") from exc
    if abs(time.time() - timestamp) > tolerance:
        raise WebhookVerificationError(
            f"signature timestamp is more than {tolerance} s away from now (replay?)",
            code="stale_signature")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + raw,
                        hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given):
        raise WebhookVerificationError("signature does not match the body",
                                       code="bad_signature")
    try:
        event: dict[str, Any] = json.loads(raw)  # the service signs only JSON objects
        return event
    except ValueError as exc:
        raise WebhookVerificationError("body is not JSON", code="bad_body") from exc
