"""The hostile-string set and the helpers the hostile-input tests share: the values,
the walk over the OpenAPI request schemas that finds every field to put them in, and
a search for a value in an answer (to check that an accepted value round-trips).

A value is raw JSON text, so the cases Python's json module cannot produce
(1e999, a lone surrogate, 10,000 brackets) are sent exactly as an attacker would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

SENTINEL = "__hostile_7f3a__"


@dataclass(frozen=True)
class Hostile:
    name: str
    raw: str  # JSON text
    is_string: bool

    def value(self) -> Any:
        """The value as the server would store it, if it accepted it."""
        return json.loads(self.raw)


def _s(name: str, text: str) -> Hostile:
    return Hostile(name, json.dumps(text), True)


HOSTILE: list[Hostile] = [
    Hostile("lone-surrogate", '"a\\ud800b"', True),
    Hostile("lone-low-surrogate", '"\\udc00"', True),
    Hostile("nul", '"a\\u0000b"', True),
    _s("rtl-override", "abc\u202edef.exe"),
    _s("1mb-line", "x" * 1_000_000),
    Hostile("deep-nesting", "[" * 10_000 + "]" * 10_000, False),
    Hostile("1e308", "1e308", False),
    Hostile("-1e308", "-1e308", False),
    Hostile("1e999", "1e999", False),
    Hostile("-1e999", "-1e999", False),
    # Not a round number, so a store that turns it into a float shows.
    Hostile("huge-int", "123456789" * 44, False),
    Hostile("int-over-digit-limit", "9" * 5000, False),
]
NUMERIC = [h for h in HOSTILE if h.name in {"1e308", "-1e308", "1e999", "-1e999", "huge-int",
                                             "int-over-digit-limit", "deep-nesting"}]
KEYS = [h for h in HOSTILE if h.is_string]
PARSABLE = {"rtl-override", "1mb-line", "1e308", "-1e308", "huge-int"}


@dataclass(frozen=True)
class Field:
    """Where a hostile value goes: `path` into the body; `as_key` puts it in an object
    key there instead of a value."""
    path: tuple[str | int, ...]
    kind: str  # string | number | any | key

    def label(self) -> str:
        out = "$"
        for step in self.path:
            out += f"[{step}]" if isinstance(step, int) else f".{step}"
        return out + ("{key}" if self.kind == "key" else "")

    def values(self) -> list[Hostile]:
        return {"number": NUMERIC, "key": KEYS}.get(self.kind, HOSTILE)


def resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return components[ref.rsplit("/", 1)[1]] if ref else schema


def fields(schema: dict[str, Any], components: dict[str, Any],
           path: tuple[str | int, ...] = ()) -> list[Field]:
    """Every string (and number) field of a request schema, nested ones included, and
    every free-form place: a value of any type, or an object whose keys are free."""
    schema = resolve(schema, components)
    kind = schema.get("type")
    kinds = set(kind) if isinstance(kind, list) else {kind} if kind else set()
    found: list[Field] = []
    for alternative in schema.get("anyOf", []) + schema.get("oneOf", []):
        found += fields(alternative, components, path)
    if "properties" in schema:
        for name, sub in schema["properties"].items():
            found += fields(sub, components, (*path, name))
        if schema.get("additionalProperties", True) is not False:
            found.append(Field(path, "key"))
        return found
    if "items" in schema:
        return found + fields(schema["items"], components, (*path, 0))
    if "object" in kinds:
        return found + [Field(path, "key"), Field((*path, "k"), "any")]
    if kinds & {"string"} or "enum" in schema:
        return found + [Field(path, "string")]
    if kinds & {"number", "integer"}:
        return found + [Field(path, "number")]
    if not kinds and not found and path:
        # Any JSON value (output, input): the value itself and a free key inside it.
        return [Field(path, "any"), Field(path, "key")]
    return found


def place(body: Any, field: Field) -> Any:
    """`body` with the sentinel at the field (creating what the path needs)."""
    body = json.loads(json.dumps(body))
    if not field.path:
        return {**body, SENTINEL: "v"} if field.kind == "key" else SENTINEL
    node = body
    for step, after in zip(field.path, [*field.path[1:], None], strict=True):
        fresh: Any = [] if isinstance(after, int) else {}
        if after is None:
            fresh = {SENTINEL: "v"} if field.kind == "key" else SENTINEL
        if isinstance(step, int):
            while len(node) <= step:
                node.append(None)
            if after is None or not isinstance(node[step], (dict, list)):
                node[step] = fresh
        elif after is None or not isinstance(node.get(step), (dict, list)):
            node[step] = fresh
        node = node[step]
    return body


def encode(body: Any, hostile: Hostile) -> bytes:
    text = json.dumps(body)
    assert json.dumps(SENTINEL) in text
    return text.replace(json.dumps(SENTINEL), hostile.raw).encode()


def contains(node: Any, value: Any) -> bool:
    """Whether `value` is a value or an object key anywhere in `node`."""
    stack = [node]
    while stack:
        here = stack.pop()
        if _same(here, value):
            return True
        if isinstance(here, dict):
            if isinstance(value, str) and value in here:
                return True
            stack.extend(here.values())
        elif isinstance(here, list):
            stack.extend(here)
    return False


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values: a number is its decimal value, so 1e308 read back as
    1000...0 (PostgreSQL keeps JSON numbers as exact decimals) is the same number."""
    if _number(a) and _number(b):
        return Decimal(repr(a)) == Decimal(repr(b))
    return type(a) is type(b) and a == b
