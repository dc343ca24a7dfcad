"""Single sign-on in Chromium: the login page offers the provider's button (and only
that with LOCAL_PASSWORDS off), a click goes through a real OpenID Connect provider on
127.0.0.1 and lands signed in on the page asked for; a refused sign-in shows its reason
on the login page. Pages go through check_page (no console error, no overflow at
390 px, axe-core, a screenshot)."""

from __future__ import annotations

import json

import pytest

from tests.browser.harness import HAS_CHROMIUM, check_widths
from tests.conftest import LiveServer, make_config
from tests.security.oidc_provider import Provider

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not HAS_CHROMIUM, reason="needs /usr/bin/chromium"),
]


@pytest.fixture
def provider():
    started = Provider()
    yield started
    started.stop()


@pytest.fixture
def sso_server(app, provider, make_queue):
    from review.factory import create_app

    make_queue("support")
    cfg = app.config
    sso = create_app(make_config(
        cfg["DATABASE_URL"], cfg["REDIS_URL"], cfg["INSTANCE_DIR"],
        OIDC_ISSUER=provider.issuer, OIDC_CLIENT_ID=provider.client_id,
        OIDC_CLIENT_SECRET=provider.client_secret, OIDC_LABEL="Keycloak",
        LOCAL_PASSWORDS=False, OIDC_ROLE_MAP=json.dumps({"rv-team": "reviewer"}),
        OIDC_QUEUE_MAP=json.dumps({"rv-team": "support"})))
    server = LiveServer(sso).start()
    yield server
    server.stop()
    sso.extensions["review.engine"].dispose()


def test_sign_in_with_the_provider_in_chromium(sso_server, provider, page):
    provider.person = {"sub": "u-7", "preferred_username": "ines", "groups": ["rv-team"]}
    page.goto(f"{sso_server.url}/queues/support")  # not signed in: sent to the login page
    assert page.locator("#password").count() == 0  # LOCAL_PASSWORDS=off
    check_widths(page, "login-sso-only")
    page.click("#login-sso")  # -> the provider, which approves -> the callback
    page.wait_for_selector("nav .who")
    assert page.url == f"{sso_server.url}/queues/support"
    assert "ines" in page.inner_text("nav .who")


def test_a_refused_sign_in_shows_why_in_chromium(sso_server, provider, page):
    provider.person["groups"] = ["rv-team"]
    provider.tamper = {"aud": "another-app"}
    page.goto(f"{sso_server.url}/login")
    page.click("#login-sso")
    page.wait_for_selector(".flash.error")
    assert "issued for another application" in page.inner_text(".flash.error")
    assert page.locator("nav .who").count() == 0
    # Chromium logs the page's 401 as a failed resource: that status is the point here.
    page.errors[:] = [e for e in page.errors if "401" not in e or "/login/sso/callback" not in e]
    check_widths(page, "login-sso-refused")
