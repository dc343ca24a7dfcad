"""Queue policies: validation, apply with history, files, export."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from review.core.models import PolicyChange, Queue
from review.core.queues import (
    PolicyError,
    apply_policy,
    export_policies,
    load_policy_file,
    validate_policy,
)
from review.intake.routing import policy_for


def test_defaults_and_history(db):
    changes = apply_policy(db, "support", validate_policy("support", {}), actor="alice")
    db.commit()
    queue = db.scalar(select(Queue).where(Queue.slug == "support"))
    assert (queue.auto_approve_at, queue.review_below, queue.sla_seconds) == (0.9, 0.6, 3600)
    assert changes["auto_approve_at"] == [None, 0.9]
    assert apply_policy(db, "support", validate_policy("support", {}), actor="alice") == {}
    changes = apply_policy(db, "support", validate_policy("support", {"audit_rate": 0.2}),
                           actor="bob")
    db.commit()
    assert changes == {"audit_rate": [0.05, 0.2]}
    history = list(db.scalars(select(PolicyChange).order_by(PolicyChange.id)))
    assert [h.changed_by for h in history] == ["alice", "bob"]
    assert history[1].changes == {"audit_rate": [0.05, 0.2]}
    assert history[1].changed_at is not None
    assert policy_for(queue).audit_rate == 0.2


@pytest.mark.parametrize("spec, message", [
    ({"auto_approve_at": 1.5}, "auto_approve_at"),
    ({"review_below": 0.95, "auto_approve_at": 0.9}, "review_below"),
    ({"sla_seconds": 0}, "sla_seconds"),
    ({"output_schema": {"type": "nonsense"}}, "output_schema"),
    ({"checker": "http"}, "checker"),
    ({"blocked_phrases": "word"}, "blocked_phrases"),
    ({"surprise": 1}, "unknown fields"),
])
def test_invalid_policies(spec, message):
    with pytest.raises(PolicyError, match=message):
        validate_policy("q", spec)


def test_policy_files_toml_and_yaml(tmp_path, db):
    toml = tmp_path / "queues.toml"
    toml.write_text('[queues.support]\nauto_approve_at = 0.95\n'
                    'checker = { type = "grounding", threshold = 0.8 }\n')
    yml = tmp_path / "queues.yaml"
    yml.write_text("queues:\n  billing:\n    sla_seconds: 600\n    blocked_phrases: [refund]\n")
    policies = {**load_policy_file(toml), **load_policy_file(yml)}
    assert policies["support"]["checker"] == {"type": "grounding", "threshold": 0.8}
    assert policies["billing"]["blocked_phrases"] == ["refund"]
    for slug, policy in policies.items():
        apply_policy(db, slug, policy, actor="test")
    db.commit()
    exported = export_policies(db)
    assert exported["billing"]["sla_seconds"] == 600
    assert validate_policy("billing", exported["billing"]) == policies["billing"]
    bad = tmp_path / "bad.toml"
    bad.write_text("[nothing]\n")
    with pytest.raises(PolicyError, match="queues"):
        load_policy_file(bad)
