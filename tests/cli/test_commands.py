"""The `review` CLI through Click's test runner: queue policies as code, accounts, keys."""

from __future__ import annotations

import re

import pytest
import yaml
from sqlalchemy import func, select

from review.cli import main
from review.core.accounts import hash_key
from review.core.models import ApiKey, PolicyChange, Queue, QueueMember, User

POLICY = """
[queues.support]
name = "Support answers"
auto_approve_at = 0.92
review_below = 0.6
audit_rate = 0.05
sla_seconds = 1800
blocked_phrases = ["fraudulent claim", "re:guarantee[ds]? refund"]
checker = { type = "grounding", threshold = 0.8 }

[queues.billing]
sla_seconds = 600
"""


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def invoke(*args: str, input: str | None = None):  # noqa: A002 - click's name
        return runner.invoke(main, args=list(args), input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def policy_file(tmp_path):
    path = tmp_path / "queues.toml"
    path.write_text(POLICY)
    return path


def queue(db, slug: str) -> Queue | None:
    db.rollback()
    db.expire_all()
    return db.scalar(select(Queue).where(Queue.slug == slug))


def test_apply_shows_diff_applies_and_is_idempotent(cli, db, policy_file):
    first = cli("queues", "apply", str(policy_file), "--yes")
    assert first.exit_code == 0, first.output
    assert "+ queue support" in first.output and "+ queue billing" in first.output
    assert "auto_approve_at: null -> 0.92" in first.output
    assert "applied 2 queue(s)" in first.output
    support = queue(db, "support")
    assert support.auto_approve_at == 0.92 and support.sla_seconds == 1800
    assert support.checker == {"type": "grounding", "threshold": 0.8}
    assert queue(db, "billing").sla_seconds == 600
    second = cli("queues", "apply", str(policy_file), "--yes")
    assert second.exit_code == 0 and second.output.strip() == "no changes"
    assert db.scalar(select(func.count()).select_from(PolicyChange)) == 2


def test_diff_shows_only_changes_and_dry_run_writes_nothing(cli, db, policy_file):
    cli("queues", "apply", str(policy_file), "--yes")
    policy_file.write_text(POLICY.replace("auto_approve_at = 0.92", "auto_approve_at = 0.95"))
    dry = cli("queues", "apply", str(policy_file), "--dry-run")
    assert dry.exit_code == 0
    assert dry.output.splitlines() == ["~ queue support", "    auto_approve_at: 0.92 -> 0.95"]
    assert queue(db, "support").auto_approve_at == 0.92
    declined = cli("queues", "apply", str(policy_file), input="n\n")
    assert "apply these changes?" in declined.output
    assert queue(db, "support").auto_approve_at == 0.92
    accepted = cli("queues", "apply", str(policy_file), input="y\n")
    assert "applied 1 queue(s)" in accepted.output
    assert queue(db, "support").auto_approve_at == 0.95
    change = db.scalars(select(PolicyChange).order_by(PolicyChange.id.desc())).first()
    assert change.changes == {"auto_approve_at": [0.92, 0.95]}
    assert change.changed_by.startswith("cli:")


@pytest.mark.parametrize("fmt, suffix", [("yaml", ".yaml"), ("json", ".json")])
def test_export_then_apply_round_trips(cli, db, policy_file, tmp_path, fmt, suffix):
    cli("queues", "apply", str(policy_file), "--yes")
    exported = cli("queues", "export", "--format", fmt)
    assert exported.exit_code == 0
    data = yaml.safe_load(exported.output)  # JSON is YAML too
    assert set(data["queues"]) == {"support", "billing"}
    assert data["queues"]["support"]["blocked_phrases"] == ["fraudulent claim",
                                                            "re:guarantee[ds]? refund"]
    path = tmp_path / f"exported{suffix}"
    path.write_text(exported.output)
    assert cli("queues", "apply", str(path), "--yes").output.strip() == "no changes"
    # Into an empty database the export recreates the same policies.
    for slug in ("support", "billing"):
        before = {k: v for k, v in data["queues"][slug].items()}
        db.rollback()
        db.execute(PolicyChange.__table__.delete())
        db.execute(Queue.__table__.delete().where(Queue.slug == slug))
        db.commit()
        cli("queues", "apply", str(path), "--yes")
        recreated = yaml.safe_load(cli("queues", "export").output)["queues"][slug]
        assert recreated == before


@pytest.mark.parametrize("content, name, message", [
    ("[queues.support]\nauto_approve_at = 1.5\n", "q.toml",
     "queue support: auto_approve_at must be a number in [0, 1]"),
    ("[queues.support]\nreview_below = 0.9\nauto_approve_at = 0.5\n", "q.toml",
     "review_below must not exceed auto_approve_at"),
    ("[queues.support]\ncolour = 'red'\n", "q.toml", "unknown fields ['colour']"),
    ("queues: [1, 2]\n", "q.yaml", "expected a top-level 'queues' table"),
    ("[queues.support\n", "q.toml", "Expected ']'"),
    ("queues:\n  support: {sla_seconds: [}\n", "q.yaml", "while parsing"),
])
def test_invalid_files_give_a_clear_error(cli, db, tmp_path, content, name, message):
    path = tmp_path / name
    path.write_text(content)
    result = cli("queues", "apply", str(path), "--yes")
    assert result.exit_code == 1
    assert "Error:" in result.output and message in result.output
    assert "Traceback" not in result.output
    assert queue(db, "support") is None


def test_apply_missing_file(cli):
    result = cli("queues", "apply", "/nonexistent/queues.toml")
    assert result.exit_code == 2 and "does not exist" in result.output


def test_users_create_prints_generated_password_once(cli, db, make_queue):
    make_queue("support")
    result = cli("users", "create", "rita", "--role", "supervisor", "--queue", "support")
    assert result.exit_code == 0
    password = re.fullmatch(r"created supervisor rita with password (\S+)\n",
                            result.output).group(1)
    db.rollback()
    user = db.scalar(select(User).where(User.name == "rita"))
    assert user.role == "supervisor" and password not in user.password_hash
    from review.core.accounts import verify_password

    assert verify_password(user, password)
    assert db.scalar(select(func.count()).select_from(QueueMember)) == 1
    given = cli("users", "create", "sam", "--password", "long enough pw")
    assert given.output == "created reviewer sam\n"
    dup_queue = cli("users", "create", "tom", "--queue", "ghost")
    assert dup_queue.exit_code == 2 and "no queue 'ghost'" in dup_queue.output
    short = cli("users", "create", "ann", "--password", "short")
    assert short.exit_code == 2 and "at least 8 characters" in short.output


def test_keys_create_prints_key_and_secret_and_stores_hash(cli, db, live_server, make_queue):
    make_queue("support", audit_rate=0.0)
    result = cli("keys", "create", "upstream-a", "--scope", "submit")
    assert result.exit_code == 0
    raw = re.search(r"shown once:\n  (rv_\S+)", result.output).group(1)
    secret = re.search(r"webhook signing secret:\n  (whsec_\S+)", result.output).group(1)
    db.rollback()
    key = db.scalar(select(ApiKey).where(ApiKey.name == "upstream-a"))
    assert key.key_hash == hash_key(raw) and raw not in (key.key_hash, key.prefix + "x")
    assert key.webhook_secret == secret and key.scope == "submit"
    # The printed key works against the API.
    from review.client import ReviewClient

    item = ReviewClient(live_server.url, raw, max_retries=0).submit("support", "ok", 0.99)
    assert item.status == "approved"
    review_without_user = cli("keys", "create", "r", "--scope", "review")
    assert review_without_user.exit_code == 2 and "give the user" in review_without_user.output
    unknown_user = cli("keys", "create", "r", "--scope", "review", "--user", "ghost")
    assert unknown_user.exit_code == 2 and "no user 'ghost'" in unknown_user.output
