"""The item page in words: what a reviewer reads, shaped for reading.

The input and metadata become labelled fields instead of raw JSON; the
output's sentences carry the grounding check's verdict (unsupported ones are
highlighted); the routing reasons become one plain sentence; the confidence
is placed against the queue's thresholds. Lives in web because it reuses the
intake's grounding checker, sentence by sentence, so the highlight is exactly
what the check decided under the queue's own options.
"""

from __future__ import annotations

import json
import re
from typing import Any

from review.core.models import Item, Queue
from review.intake.checks.base import CheckInput, clip
from review.intake.checks.builtin import grounding, source_text
from review.intake.checks.text import sentences

MAX_FIELDS = 60
MAX_HIGHLIGHT_CHARS = 50_000  # longer outputs are shown without per-sentence marks
# The checker reads the whole context for each sentence: past this many sentences x
# context characters (about 0.2 s) the marks come from the sentences the stored check
# result quotes instead.
MARK_BUDGET = 150_000


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def labelled_fields(value: Any) -> list[dict[str, Any]]:
    """An object's keys as labels with their values; anything else one unlabelled field."""
    if isinstance(value, dict) and value:
        rows = [{"label": str(k), "text": _text(v), "structured": not isinstance(v, str)}
                for k, v in list(value.items())[:MAX_FIELDS]]
        if len(value) > MAX_FIELDS:
            rows.append({"label": "…", "text": f"{len(value) - MAX_FIELDS} more fields",
                         "structured": False})
        return rows
    if value is None or value == {}:
        return []
    return [{"label": None, "text": _text(value), "structured": not isinstance(value, str)}]


def _grounding_options(config: Any) -> dict[str, Any] | None:
    """The options of the first grounding checker in a queue's checker config."""
    if isinstance(config, dict):
        if config.get("type") == "grounding":
            return {k: v for k, v in config.items() if k != "type"}
        for value in config.values():
            found = _grounding_options(value)
            if found is not None:
                return found
    if isinstance(config, list):
        for value in config:
            found = _grounding_options(value)
            if found is not None:
                return found
    return None


def _unsupported(text: str, item: Item, options: dict[str, Any], context_chars: int) -> set[str]:
    """Sentences of `text` the grounding checker does not find in the context: the checker
    itself, run on each sentence with the queue's options (so the marks are its verdicts);
    over the budget, the sentences its stored result quotes."""
    found = sentences(text)
    if len(found) * context_chars > MARK_BUDGET:
        reason = item.check_reason or ""
        return {s for s in found if f'"{clip(s)}"' in reason}
    out = set()
    for sentence in found:
        try:
            result = grounding(CheckInput(item_id=item.id, output=sentence,
                                          context=item.context or []), **options)
        except (ValueError, TypeError):
            return set()  # options the checker refuses: no marks rather than wrong ones
        if result.score is not None and result.score < 1:
            out.add(sentence)
    return out


def marked(text: str, bad: set[str]) -> list[dict[str, Any]]:
    """`text` cut into runs, each flagged when it is an unsupported sentence."""
    if not bad:
        return [{"text": text, "unsupported": False}]
    runs: list[dict[str, Any]] = []
    pos = 0
    for sentence in sentences(text):
        at = text.find(sentence, pos)
        if at < 0:
            continue
        if at > pos:
            runs.append({"text": text[pos:at], "unsupported": False})
        runs.append({"text": sentence, "unsupported": sentence in bad})
        pos = at + len(sentence)
    if pos < len(text):
        runs.append({"text": text[pos:], "unsupported": False})
    return runs


def output_view(item: Item, queue: Queue) -> dict[str, Any]:
    """The output as fields of marked runs, and how many sentences are unsupported."""
    options = _grounding_options(queue.checker)
    checked = (options is not None and item.check_verdict is not None
               and bool(item.context) and len(_text(item.output)) <= MAX_HIGHLIGHT_CHARS)
    context_chars = sum(len(source_text(s)) for s in item.context or []) if checked else 0
    fields = []
    flagged = 0
    for field in (labelled_fields(item.output) or [{"label": None, "text": "",
                                                      "structured": False}]):
        bad = _unsupported(field["text"], item, options or {}, context_chars) \
            if checked and not field["structured"] else set()
        flagged += len(bad)
        fields.append({**field, "runs": marked(field["text"], bad)})
    return {"fields": fields, "unsupported": flagged, "grounded": checked}


_CONFIDENCE_BELOW = re.compile(r"^confidence (\S+) < review_below (\S+)$")
_CONFIDENCE_BETWEEN = re.compile(r"^confidence (\S+) between review_below (\S+) and (.+)$")
_AMBIGUOUS = re.compile(r"^confidence (\S+) is ambiguous and the queue has no checker$")


def _plain(reason: str) -> str:
    if m := _CONFIDENCE_BELOW.match(reason):
        return f"its confidence {m[1]} is below the queue's review line {m[2]}"
    if m := _CONFIDENCE_BETWEEN.match(reason):
        return f"its confidence {m[1]} was in the uncertain band ({m[2]} to {m[3]})"
    if m := _AMBIGUOUS.match(reason):
        return f"its confidence {m[1]} was uncertain and the queue has no automated check"
    if reason.startswith("validation: "):
        return f"the output failed validation ({reason[len('validation: '):]})"
    if reason.startswith("audit sample"):
        return "it was picked at random for an audit although it could have been approved"
    return reason


def route_sentence(item: Item) -> str:
    """Why a human sees this item, once, in plain words."""
    reasons = [_plain(str(r)) for r in (item.route_reasons or []) if str(r).strip()]
    text = "Sent to review because " + "; ".join(reasons) if reasons \
        else "Sent to review"
    if item.check_verdict and item.check_verdict != "pass":
        text += f", and the {item.check_checker or 'automated'} check said " \
                f"“{item.check_verdict}”"
    if item.escalated:
        text += "; escalated to a supervisor"
    return text + "."


def confidence_bar(item: Item, queue: Queue) -> dict[str, Any]:
    """Percentages for an SVG bar: the confidence and the queue's two thresholds."""
    def pct(value: float | None) -> float | None:
        return None if value is None else round(max(0.0, min(1.0, float(value))) * 100, 1)

    auto = None if queue.max_error_rate is not None else queue.auto_approve_at
    value = pct(item.confidence) or 0.0
    zone = ("low" if queue.review_below is not None and item.confidence < queue.review_below
            else "high" if auto is not None and item.confidence >= auto else "mid")
    return {"value": value, "review_below": pct(queue.review_below), "auto": pct(auto),
            "zone": zone, "label": f"{item.confidence:.2f}"}
