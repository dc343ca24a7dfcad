"""Dataset export: decided items through the real API, exported by the CLI and the admin
API in every format and shape, and read back with pandas and Hugging Face `datasets`."""

from __future__ import annotations

import io
import json
import time
import tracemalloc
from datetime import timedelta

import pandas as pd
import pytest
import requests
from sqlalchemy import insert, text

from review.cli import main
from review.core.clock import utcnow
from review.core.models import Item
from review.reports.dataset_export import export_request, text_chunks

ANSWERS = {
    "approve": {"outcome": "approve"},
    "edit": {"outcome": "edit", "output": "Refunds take 5 days.", "note": "days, not weeks"},
    "reject": {"outcome": "reject", "reason": "incorrect"},
}


@pytest.fixture
def decided(client, auth, make_queue, make_user, make_key):
    """Three items decided by a reviewer over HTTP: approved, edited, rejected (+1 pending)."""
    make_queue("ft", reject_reasons=["incorrect"], audit_rate=0.0)
    ana = make_user("ana", queues=("ft",))
    key = {"Authorization": f"Bearer {make_key('ana-key', 'review', ana)}"}
    ids = {}
    for n, outcome in enumerate((*ANSWERS, "pending")):
        created = client.post("/api/v1/items", headers=auth, json={
            "queue": "ft", "external_id": f"e{n}", "input": {"question": f"Refunds? {n}"},
            "output": "Refunds take 5 weeks.", "confidence": 0.2,
            "model": {"name": "m", "version": "v1"}, "prompt_version": "p1", "priority": 90 - n,
            "context": [{"id": "kb-1", "text": "Refunds are sent within 5 days."}]})
        assert created.status_code == 201, created.get_json()
        ids[outcome] = created.get_json()["id"]
    for outcome, answer in ANSWERS.items():
        claimed = client.post("/api/v1/queues/ft/claim", headers=key).get_json()
        assert claimed["item"]["id"] == ids[outcome]
        done = client.post(f"/api/v1/items/{ids[outcome]}/decision", headers=key,
                           json={**answer, "lease_token": claimed["lease"]["token"]})
        assert done.status_code == 200, done.get_json()
    return ids


def run_export(app, tmp_path, *args: str) -> tuple[str, object]:
    result = app.test_cli_runner().invoke(main, args=["export", "dataset", "--queue", "ft",
                                                      *args])
    return result.output, result


def test_records_jsonl_hold_every_decided_item_and_nothing_pending(app, tmp_path, decided):
    out = tmp_path / "ft.jsonl"
    output, result = run_export(app, tmp_path, "--output", str(out))
    assert result.exit_code == 0, output
    assert "wrote 3 rows" in output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    by_outcome = {row["outcome"]: row for row in rows}
    assert set(by_outcome) == {"approve", "edit", "reject"}
    assert decided["pending"] not in {row["id"] for row in rows}
    edit = by_outcome["edit"]
    assert edit["input"] == {"question": "Refunds? 1"}
    assert edit["output"] == "Refunds take 5 weeks."
    assert edit["final_output"] == "Refunds take 5 days."
    assert edit["note"] == "days, not weeks"
    assert edit["context"] == [{"id": "kb-1", "text": "Refunds are sent within 5 days."}]
    assert (edit["model_name"], edit["model_version"], edit["prompt_version"]) == \
        ("m", "v1", "p1")
    assert (edit["reviews"], edit["reviews_agreeing"]) == (1, 1)
    assert by_outcome["approve"]["final_output"] == "Refunds take 5 weeks."
    assert by_outcome["reject"]["final_output"] is None
    assert by_outcome["reject"]["reason"] == "incorrect"


def test_chat_and_preference_shapes(app, tmp_path, decided):
    chat, pref = tmp_path / "chat.jsonl", tmp_path / "pref.jsonl"
    assert run_export(app, tmp_path, "--shape", "chat", "-o", str(chat))[1].exit_code == 0
    assert run_export(app, tmp_path, "--shape", "preference", "-o", str(pref))[1].exit_code == 0
    conversations = [json.loads(line) for line in chat.read_text().splitlines()]
    # Approved and edited items only: a rejected output has no correct answer.
    assert {c["id"] for c in conversations} == {decided["approve"], decided["edit"]}
    edited = next(c for c in conversations if c["id"] == decided["edit"])
    assert [m["role"] for m in edited["messages"]] == ["system", "user", "assistant"]
    assert "Refunds are sent within 5 days." in edited["messages"][0]["content"]
    assert json.loads(edited["messages"][1]["content"]) == {"question": "Refunds? 1"}
    assert edited["messages"][2]["content"] == "Refunds take 5 days."
    pairs = [json.loads(line) for line in pref.read_text().splitlines()]
    assert pairs == [{"id": decided["edit"], "prompt": '{"question": "Refunds? 1"}',
                      "chosen": "Refunds take 5 days.", "rejected": "Refunds take 5 weeks."}]


@pytest.mark.parametrize("shape", ["records", "chat", "preference"])
def test_parquet_and_csv_load_with_pandas_and_datasets(app, tmp_path, decided, shape):
    import datasets

    parquet, csv_file = tmp_path / f"{shape}.parquet", tmp_path / f"{shape}.csv"
    for fmt, path in (("parquet", parquet), ("csv", csv_file)):
        output, result = run_export(app, tmp_path, "--format", fmt, "--shape", shape,
                                    "-o", str(path))
        assert result.exit_code == 0, output
    expected = {"records": 3, "chat": 2, "preference": 1}[shape]
    frame = pd.read_parquet(parquet)
    assert len(frame) == expected == len(pd.read_csv(csv_file))
    loaded = datasets.load_dataset("parquet", data_files=str(parquet), split="train",
                                   cache_dir=str(tmp_path / "hf"))
    assert loaded.num_rows == expected
    if shape == "records":
        edit = frame[frame.outcome == "edit"].iloc[0]
        assert json.loads(edit.final_output) == "Refunds take 5 days."
        assert set(frame.outcome) == {"approve", "edit", "reject"}
    elif shape == "chat":
        assert loaded[0]["messages"][-1]["role"] == "assistant"
    else:
        assert loaded[0]["chosen"] == "Refunds take 5 days."


def test_admin_api_streams_the_export_and_refuses_bad_arguments(client, make_key, decided):
    admin = {"Authorization": f"Bearer {make_key('ops', 'admin')}"}
    resp = client.get("/api/v1/exports/dataset?queue=ft&shape=preference", headers=admin)
    assert resp.status_code == 200 and resp.mimetype == "application/x-ndjson"
    assert 'filename="ft-preference.jsonl"' in resp.headers["Content-Disposition"]
    assert [json.loads(line)["id"] for line in resp.get_data(as_text=True).splitlines()] == \
        [decided["edit"]]
    resp.close()  # what a WSGI server does after the last chunk: ends the request's context
    parquet = client.get("/api/v1/exports/dataset?queue=ft&format=parquet", headers=admin)
    assert parquet.status_code == 200
    assert len(pd.read_parquet(io.BytesIO(parquet.get_data()))) == 3
    parquet.close()
    for query, code in (("queue=ft&format=xml", "bad_format"), ("queue=ft&shape=x", "bad_shape"),
                        ("queue=ft&from=2026-13-01", "bad_date"),
                        ("queue=ft&from=2026-02-02&to=2026-02-01", "bad_range")):
        bad = client.get(f"/api/v1/exports/dataset?{query}", headers=admin)
        assert bad.status_code == 400 and bad.get_json()["error"]["code"] == code, query
    assert client.get("/api/v1/exports/dataset?queue=nope", headers=admin).status_code == 404
    submit = {"Authorization": f"Bearer {make_key('up2', 'submit')}"}
    assert client.get("/api/v1/exports/dataset?queue=ft", headers=submit).status_code == 403


def test_date_range_selects_by_decision_day(app, tmp_path, decided):
    today = utcnow().date()
    yesterday = (today - timedelta(days=1)).isoformat()
    output, result = run_export(app, tmp_path, "--to", yesterday, "-o", str(tmp_path / "x"))
    assert result.exit_code == 0 and "wrote 0 rows" in output
    output, result = run_export(app, tmp_path, "--from", today.isoformat(),
                                "-o", str(tmp_path / "y"))
    assert "wrote 3 rows" in output
    output, result = run_export(app, tmp_path, "--from", "bad")
    assert result.exit_code != 0 and "bad_date" in output


def _bulk_decided(db, queue_id: int, count: int, start: int) -> None:
    now = utcnow()
    rows = [dict(id=f"bx{start + n:010d}", queue_id=queue_id, submitter="up", body_hash="0",
                 status="approved", route_path="human", route_reasons=[], confidence=0.5,
                 input={"q": "x" * 200}, output="y" * 400, context=[], meta={},
                 created_at=now, decided_at=now, decision_outcome="approve",
                 decided_by="ana", decided_by_kind="reviewer")
            for n in range(count)]
    db.execute(insert(Item), rows)
    db.commit()


def test_memory_stays_bounded_as_the_export_grows(app, db, make_queue):
    queue = make_queue("big", audit_rate=0.0)

    def peak_for_export() -> tuple[int, int]:
        with app.app_context():
            from review.core.db import get_session

            session = get_session()
            req = export_request(session.get(type(queue), queue.id), None, None, "jsonl",
                                 "records")
            tracemalloc.start()
            rows = sum(n for _text, n in text_chunks(session, req))
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            return rows, peak

    _bulk_decided(db, queue.id, 3000, 0)
    small_rows, small_peak = peak_for_export()
    _bulk_decided(db, queue.id, 9000, 3000)
    big_rows, big_peak = peak_for_export()
    assert (small_rows, big_rows) == (3000, 12000)
    # Four times the rows, about the same peak: chunks, not the whole export, in memory.
    assert big_peak < 1.5 * small_peak, (small_peak, big_peak)


def test_streamed_downloads_leave_no_transaction_open(app, live_server, make_key, decided):
    """Flask closes the request's session when the view returns, before a streamed body
    runs its queries; those began a transaction nothing ended (one idle-in-transaction
    connection per download, holding back vacuum) until the body closed it."""
    if app.extensions["review.engine"].dialect.name != "postgresql":
        pytest.skip("pg_stat_activity is PostgreSQL's")
    admin = {"Authorization": f"Bearer {make_key('ops', 'admin')}"}
    for path in ("/api/v1/exports/dataset?queue=ft", "/api/v1/reports/sla?queue=ft&format=csv"):
        answer = requests.get(live_server.url + path, headers=admin, timeout=30)
        assert answer.status_code == 200 and answer.text, path
    engine = app.extensions["review.engine"]

    def idle_in_transaction() -> int:
        with engine.connect() as conn:
            return conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%'")).scalar()

    deadline = time.monotonic() + 5  # the server closes the body just after the last byte
    while idle_in_transaction() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert idle_in_transaction() == 0
