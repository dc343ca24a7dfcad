"""Error answers: a browser gets the app's own page (navigation, a way back), the API and
clients asking for JSON keep `{"error": {"code", "message"}}`."""

from __future__ import annotations

import pytest

from tests.web.forms import login


@pytest.fixture
def rita(app, make_queue, make_user):
    make_queue("alpha")
    make_user("rita", "reviewer", queues=("alpha",))
    return login(app, "rita")


def test_404_and_403_are_app_pages_for_browsers(rita):
    missing = rita.get("/no/such/page", headers={"Referer": "http://localhost/queues/alpha"})
    html = missing.get_data(as_text=True)
    assert missing.status_code == 404 and missing.mimetype == "text/html"
    assert '<section class="card narrow error-page" id="error-page" data-status="404">' in html
    assert '<a href="http://localhost/queues/alpha" id="error-back">' in html
    assert 'id="nav-queues"' in html  # the app's navigation, not a bare Werkzeug page
    refused = rita.get("/supervise/")
    assert refused.status_code == 403 and "Not allowed" in refused.get_data(as_text=True)


def test_a_way_back_never_leads_off_site(rita):
    html = rita.get("/no/such/page", headers={"Referer": "https://evil.example/x"}) \
        .get_data(as_text=True)
    assert "evil.example" not in html and 'id="error-home"' in html


def test_405_keeps_its_allow_header(rita):
    answer = rita.put("/login")
    assert answer.status_code == 405 and "GET" in answer.headers["Allow"]
    assert "Not allowed here" in answer.get_data(as_text=True)


def test_the_api_and_json_clients_keep_json_errors(client, rita):
    api = client.get("/api/v1/queues/nope", headers={"Authorization": "Bearer nope"})
    assert api.is_json and set(api.get_json()["error"]) >= {"code", "message"}
    asked = rita.get("/no/such/page", headers={"Accept": "application/json"})
    assert asked.status_code == 404 and asked.get_json()["error"]["code"] == "not_found"


def test_an_unexpected_error_is_an_app_page_and_logged(app, rita, monkeypatch, caplog):
    import review.web.pages

    def broken(*_args, **_kwargs):
        raise RuntimeError("boom")

    # Fault injection: the home page's report fails.
    monkeypatch.setattr(review.web.pages, "queue_overview", broken)
    answer = rita.get("/")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 500 and "Something went wrong" in html
    assert "boom" not in html  # nothing internal is shown
    assert "unhandled error" in caplog.text
    as_json = rita.get("/", headers={"Accept": "application/json"})
    assert as_json.status_code == 500 and as_json.get_json()["error"]["code"] == "internal_error"
