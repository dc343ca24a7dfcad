"""Strict JSON text: finite numbers, bounded nesting, no NUL, nothing UTF-8 cannot encode.

Python's json module accepts NaN and Infinity, turns 1e999 into infinity,
recurses without limit, and decodes `"\\ud800"` into a lone surrogate that no
UTF-8 encoder (body hashing, psycopg, sqlite3) accepts. Every edge that takes
JSON from outside parses it here: the API's request bodies
(review/api/body.py) and the review page's "edit then approve" form, so both
accept and refuse exactly the same documents.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from review.core.errors import BadArgument

MAX_DEPTH = 32
BODY = "The body"

_SURROGATE = re.compile("[\ud800-\udfff]")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _refuse_constant(name: str) -> float:
    raise ValueError(f"non-finite number {name} is not valid JSON")


def _finite_float(text: str) -> float:
    # 1e999 parses to inf, which PostgreSQL's JSONB cannot store either.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def loads_strict(text: str, *, what: str = BODY, check_characters: bool = True) -> Any:
    """Parse `text`; BadArgument (HTTP 400) with code invalid_json, too_deep or
    invalid_characters otherwise. `what` names the text in messages. With
    `check_characters` False the caller checks unencodable strings itself (a
    batch refuses only the entry that holds one); NUL is refused regardless."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError as exc:
        raise _too_deep(what) from exc
    except ValueError as exc:
        raise BadArgument("invalid_json", f"{what} is not valid JSON: {exc}") from exc
    if _depth_exceeds(value, MAX_DEPTH):
        raise _too_deep(what)
    if _contains_nul(value):
        # PostgreSQL text and JSONB cannot store U+0000: refuse it on every database.
        raise BadArgument("invalid_characters",
                          f"{what} contains a NUL character (\\u0000), which is not allowed.")
    if check_characters:
        refuse_unencodable(value, what=what)
    return value


def refuse_unencodable(value: Any, path: str = "$", *, what: str = BODY) -> None:
    """BadArgument invalid_characters, naming the JSON path, if a string or key of
    `value` holds a lone UTF-16 surrogate."""
    bad = unencodable_path(value, path)
    if bad is not None:
        raise BadArgument(
            "invalid_characters",
            f"{what} has a lone UTF-16 surrogate (\\ud800-\\udfff, not a character UTF-8 "
            f"can encode) at {bad}.", {"path": bad})


def unencodable_path(value: Any, path: str = "$") -> str | None:
    """The JSON path of the first string or object key UTF-8 cannot encode, or None.
    A bad key is named as the last step of its path, escaped."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, str):
            if _SURROGATE.search(node):
                return where
        elif isinstance(node, dict):
            for key in node:
                if _SURROGATE.search(key):
                    return _step(where, key)
            # Reversed onto the stack, so the first bad one in document order is named.
            stack.extend((v, _step(where, k)) for k, v in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((v, f"{where}[{i}]") for i, v in reversed(list(enumerate(node))))
    return None


def _step(path: str, key: str) -> str:
    if _IDENTIFIER.match(key):
        return f"{path}.{key}"
    # backslashreplace: the path goes into a JSON answer, which must stay valid UTF-8.
    escaped = key.replace("\\", "\\\\").replace("'", "\\'")
    escaped = escaped.encode("utf-8", "backslashreplace").decode("utf-8")
    return f"{path}['{escaped}']"


def _too_deep(what: str) -> BadArgument:
    return BadArgument("too_deep", f"{what} nests JSON deeper than {MAX_DEPTH} levels.")


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return False


def _contains_nul(value: Any) -> bool:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False
