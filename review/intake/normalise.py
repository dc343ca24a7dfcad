"""The normal form of an item body, which idempotent replays compare.

A field written out with its default value means what leaving it out means:
`build_item` stores `"priority": 50`, `"context": []`, `"metadata": {}`, `"model": {}`
and `"input": null` exactly as it stores their absence. So the body hash is taken over
the body without such fields, and a replay that spells a default differently from the
first submit is the same body, not a conflict.

Items stored before this normal form existed hold the hash of the body as sent. For a
body that spelled no default out, that is the same hash (leaving nothing out changes
nothing); for one that did, `hash_matches` also tries every spelling of the incoming
body's defaults, so such an item still replays, whichever way the retry spells them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

from review.intake.schemas import ITEM_IN

# Each optional field whose absence build_item stores as a value, and that value.
DEFAULTS: dict[str, Any] = {
    "priority": ITEM_IN["properties"]["priority"]["default"],
    "input": None,
    "context": [],
    "model": {},
    "metadata": {},
}


def _is_default(field: str, value: Any) -> bool:
    # JSON values only: `==` cannot confuse these defaults with anything else a body
    # may hold (no JSON value but null equals None, and True is not 50); 50.0 passes the
    # schema as an integer and is stored as 50, so it is the default too.
    return field in DEFAULTS and value == DEFAULTS[field]


def normal_form(payload: dict[str, Any]) -> dict[str, Any]:
    """The body without the fields that hold their default value."""
    return {k: v for k, v in payload.items() if not _is_default(k, v)}


def _member(key: str, value: Any) -> str:
    # One `"key":value` of the canonical JSON below, so spellings reuse the pieces
    # instead of serialising a large output once per spelling.
    return (json.dumps(key, ensure_ascii=False) + ":"
            + json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False))


def _digest(members: dict[str, str]) -> str:
    # The same text as json.dumps(body, sort_keys=True, separators=(",", ":"),
    # ensure_ascii=False): the form every stored hash was taken over.
    canonical = "{" + ",".join(members[k] for k in sorted(members)) + "}"
    return hashlib.sha256(canonical.encode()).hexdigest()


def body_hash(payload: dict[str, Any]) -> str:
    """The hash stored with an item: its normal form, as canonical JSON, SHA-256."""
    return _digest({k: _member(k, v) for k, v in normal_form(payload).items()})


def _spelling_hashes(payload: dict[str, Any]) -> Iterator[str]:
    """The hash of each other way to spell this body's defaults (out or written)."""
    base = {k: _member(k, v) for k, v in normal_form(payload).items()}
    # A default the body wrote out keeps its spelling (50.0 stays 50.0); one it left
    # out is written as the schema's default.
    optional = [(k, _member(k, payload[k] if k in payload else DEFAULTS[k]))
                for k in DEFAULTS if k not in base]
    for mask in range(1, 1 << len(optional)):  # 0 is the normal form: body_hash
        members = dict(base)
        for bit, (key, member) in enumerate(optional):
            if mask >> bit & 1:
                members[key] = member
        yield _digest(members)


def hash_matches(stored: str, payload: dict[str, Any], digest: str) -> bool:
    """Whether `stored` (an item's body hash) is the hash of this body, `digest` being
    its `body_hash`: also true for an item stored, before the normal form, with the
    hash of a body that wrote a default out."""
    return stored == digest or any(h == stored for h in _spelling_hashes(payload))
