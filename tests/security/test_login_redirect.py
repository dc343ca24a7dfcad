"""After login, `next` sends the user back only to a path of this site.

`/login?next=/%09/evil.example/` used to answer `Location: //evil.example/`:
the `//` check ran on `/\\t/evil.example/`, and browsers drop tabs and
newlines from a URL before they resolve it. Now anything but a plain
same-site path (parsed strictly, and once more percent-decoded) goes home.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.conftest import make_config
from tests.web.forms import PASSWORD


@pytest.fixture
def plain(app, make_user):
    """An app without CSRF, so each case is one POST."""
    from review.factory import create_app

    make_user("rita")
    cfg = app.config
    other = create_app(make_config(cfg["DATABASE_URL"], cfg["REDIS_URL"], cfg["INSTANCE_DIR"],
                                   WTF_CSRF_ENABLED=False))
    yield other
    other.extensions["review.engine"].dispose()


def login_to(app, query: str) -> str:
    resp = app.test_client().post(f"/login?{query}", data={"name": "rita",
                                                           "password": PASSWORD})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return resp.headers["Location"]


BAD = [
    "//evil.example/", "///evil.example/", "/\\evil.example/", "\\\\evil.example/",
    "\\/evil.example/", "/\t/evil.example/", "/\n/evil.example/", "/\r\n/evil.example/",
    "\t//evil.example/", "//evil.example/\t", "/%09/evil.example/", "/%0a/evil.example/",
    "/%2F%2Fevil.example/", "/%2f/evil.example/", "/%5Cevil.example/", "/%5c%5cevil.example",
    "https://evil.example/", "http:evil.example", "HTTPS://evil.example", "javascript:alert(1)",
    "evil.example", ".//evil.example", " /queues/support", "/queues/\x0bsupport",
    "/queues\x7f/support", "/\u3000/evil.example/", "/\u2028/evil.example/", "",
    "/queues/support\\..\\..\\evil",
]


@pytest.mark.parametrize("target", BAD)
def test_unsafe_next_goes_home(plain, target):
    assert login_to(plain, "next=" + quote(target, safe="")) == "/"


def test_the_reported_case(plain):
    """Exactly the query string of the report (one decoding gives `/\\t/evil.example/`)."""
    assert login_to(plain, "next=/%09/evil.example/") == "/"
    assert login_to(plain, "next=/%2509/evil.example/") == "/"  # decoded twice: a tab


GOOD = ["/", "/queues/support", "/items/abc123", "/dashboard?queue=support&days=7",
        "/queues/support/manage#members", "/a%20b", "/reports/sla?from=2026-01-01",
        "/items/a%2Fb"]


@pytest.mark.parametrize("target", GOOD)
def test_same_site_paths_still_work(plain, target):
    assert login_to(plain, "next=" + quote(target, safe="")) == target


def test_login_required_round_trip(plain):
    """A page behind login sends the user to /login with `next`, and back after."""
    browser = plain.test_client()
    to_login = browser.get("/queues/support")
    assert to_login.status_code == 302 and "/login?next=" in to_login.headers["Location"]
    query = to_login.headers["Location"].split("?", 1)[1]
    back = browser.post(f"/login?{query}", data={"name": "rita", "password": PASSWORD})
    assert back.headers["Location"] == "/queues/support"
