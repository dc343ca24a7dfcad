"""Output validation at ingest: schema, blocked phrases, length.

A pure function of the output and the queue's rules; every problem found is a
reason the router sends the item to a human (never auto-approved). Nothing here
raises on bad rules: a broken schema or regex is reported or degraded, because a
policy mistake must not make ingest fail.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

REGEX_PREFIX = "re:"
MAX_SCHEMA_REASONS = 20
_MESSAGE_CHARS = 200


def output_text(output: Any) -> str:
    """The text a reader sees in an output, for phrase and length checks.

    A string is itself; in a dict or list only the leaf values count (keys and
    JSON punctuation are structure, not content), joined by newlines in order.
    Numbers are written as str(); booleans in JSON spelling; null is nothing.
    """
    return "\n".join(_leaves(output))


def _leaves(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, int | float):
        return [str(value)]
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list | tuple):
        return [leaf for v in value for leaf in _leaves(v)]
    return [str(value)]


# Thai and Chinese write words without spaces: no word boundary there to match on.
_UNSPACED = re.compile("[\u0e00-\u0e7f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def _literal_pattern(phrase: str) -> re.Pattern[str]:
    # Word boundaries that also work when the phrase starts or ends with
    # punctuation, and any run of whitespace between words; none at a Thai or
    # Chinese end, which would never match inside a sentence.
    words = [re.escape(w) for w in phrase.split()]
    start = "" if _UNSPACED.match(phrase.strip()[0]) else r"(?<!\w)"
    end = "" if _UNSPACED.match(phrase.strip()[-1]) else r"(?!\w)"
    return re.compile(start + r"\s+".join(words) + end, re.IGNORECASE)


@lru_cache(maxsize=1024)
def phrase_pattern(phrase: str) -> re.Pattern[str] | None:
    """The compiled matcher for one blocked-phrase entry (None for an empty entry).

    `re:<pattern>` is a case-insensitive regex; an invalid regex is matched as
    the literal text after the prefix rather than raising.
    """
    if phrase.startswith(REGEX_PREFIX):
        body = phrase[len(REGEX_PREFIX):]
        if not body:
            return None
        try:
            return re.compile(body, re.IGNORECASE)
        except re.error:
            return _literal_pattern(body) if body.strip() else None
    if not phrase.strip():
        return None
    return _literal_pattern(phrase)


@lru_cache(maxsize=128)
def _validator(schema_json: str) -> Draft202012Validator | str:
    """A validator for a canonical schema, or the reason the schema is invalid."""
    schema = json.loads(schema_json)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return f"invalid output_schema: {exc.message[:_MESSAGE_CHARS]}"
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _schema_problems(output: Any, schema: Any) -> list[str]:
    try:
        validator = _validator(json.dumps(schema, sort_keys=True))
    except (TypeError, ValueError) as exc:
        return [f"schema: invalid output_schema: not JSON ({exc})"]
    if isinstance(validator, str):
        return [f"schema: {validator}"]
    try:
        errors = sorted(validator.iter_errors(output),
                        key=lambda e: ([str(p) for p in e.absolute_path], e.message))
    except Exception as exc:  # e.g. an unresolvable $ref only shows up while validating
        return [f"schema: cannot validate: {type(exc).__name__}: {str(exc)[:_MESSAGE_CHARS]}"]
    problems = []
    for error in errors[:MAX_SCHEMA_REASONS]:
        where = "".join(f"/{p}" for p in error.absolute_path)
        prefix = f"at {where}: " if where else ""
        problems.append(f"schema: {prefix}{error.message[:_MESSAGE_CHARS]}")
    if len(errors) > MAX_SCHEMA_REASONS:
        problems.append(f"schema: and {len(errors) - MAX_SCHEMA_REASONS} more errors")
    return problems


def validate_output(
    output: Any,
    *,
    output_schema: dict[str, Any] | None = None,
    blocked_phrases: list[str] | None = None,
    max_output_chars: int | None = None,
) -> list[str]:
    """Every problem with `output` under the rules, as short human-readable reasons.

    An empty list means the output is valid. Reasons look like
    `schema: 'answer' is a required property`, `blocked phrase: "fraudulent claim"`
    and `too long: 5012 > 4000 chars`.
    """
    problems: list[str] = []
    if output_schema is not None:
        problems.extend(_schema_problems(output, output_schema))
    text = output_text(output)
    for phrase in blocked_phrases or []:
        if not isinstance(phrase, str):
            continue
        pattern = phrase_pattern(phrase)
        # The first non-empty match: a pattern that can match "" (`re:x*`) must
        # not block every output.
        found = next((m for m in pattern.finditer(text) if m.group(0)), None) if pattern else None
        if found is None:
            continue
        if phrase.startswith(REGEX_PREFIX):
            problems.append(f'blocked phrase: "{phrase}" (matched "{found.group(0)[:80]}")')
        else:
            problems.append(f'blocked phrase: "{phrase}"')
    if max_output_chars is not None and len(text) > max_output_chars:
        problems.append(f"too long: {len(text)} > {max_output_chars} chars")
    return problems
