"""Sign-in with OpenID Connect, end to end against a real provider on 127.0.0.1.

The provider (tests/security/oidc_provider.py) runs the authorization code flow with
PKCE over HTTP and signs ID tokens with its RSA key; the app is driven through the
Flask test client and the browser's hop to the provider is a real HTTP request. Each
spoiled answer (another key, audience, issuer, an expired token, a wrong nonce or
state, a replayed callback, the provider down) must show the login page with its
reason, log it, create nobody and sign nobody in.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests
from sqlalchemy import select

from review.core.models import AccountEvent, Queue, QueueMember, User
from review.core.settings import ConfigError
from tests.conftest import LiveServer, free_port, make_config
from tests.security.oidc_provider import Provider, new_key
from tests.web.forms import PASSWORD, csrf

ROLE_MAP = {"rv-admins": "admin", "rv-leads": "supervisor", "rv-team": "reviewer"}
QUEUE_MAP = {"rv-support": "support", "rv-billing": ["billing"]}


@pytest.fixture
def provider():
    started = Provider()
    yield started
    started.stop()


@pytest.fixture
def sso_app(app, provider):
    """Factory: an app signing in with `provider` (settings overridable)."""
    from review.factory import create_app

    made = []

    def _make(**overrides):
        values = dict(OIDC_ISSUER=provider.issuer, OIDC_CLIENT_ID=provider.client_id,
                      OIDC_CLIENT_SECRET=provider.client_secret,
                      OIDC_ROLE_MAP=json.dumps(ROLE_MAP), OIDC_QUEUE_MAP=json.dumps(QUEUE_MAP))
        values.update(overrides)
        cfg = app.config
        other = create_app(make_config(cfg["DATABASE_URL"], cfg["REDIS_URL"],
                                       cfg["INSTANCE_DIR"], **values))
        made.append(other)
        return other

    yield _make
    for other in made:
        other.extensions["review.engine"].dispose()


@pytest.fixture
def queues(make_queue):
    for slug in ("support", "billing", "other"):
        make_queue(slug)


def start(browser, next_path: str | None = None):
    """The redirect to the provider, and the provider's redirect back (its real answer)."""
    url = "/login/sso" + (f"?next={quote(next_path, safe='')}" if next_path else "")
    begun = browser.get(url)
    assert begun.status_code == 302, begun.get_data(as_text=True)
    answer = requests.get(begun.headers["Location"], allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    assert back.path == "/login/sso/callback"
    return back


def sign_in(browser, next_path: str | None = None):
    back = start(browser, next_path)
    return browser.get(f"{back.path}?{back.query}")


def signed_in(browser) -> bool:
    with browser.session_transaction() as session:
        return "_user_id" in session


def page(response) -> str:
    return response.get_data(as_text=True)


def sso_user(db, provider, subject="u-1") -> User | None:
    db.expire_all()
    return db.scalar(select(User).where(User.oidc_issuer == provider.issuer,
                                        User.oidc_subject == subject))


def memberships(db, user: User) -> set[str]:
    db.expire_all()
    return set(db.scalars(select(Queue.slug).join(QueueMember, QueueMember.queue_id == Queue.id)
                          .where(QueueMember.user_id == user.id)))


def assert_refused(response, status: int, words: str, browser, db, provider) -> None:
    assert response.status_code == status, page(response)
    text = page(response)
    assert words in text and "Traceback" not in text
    assert 'id="login-sso"' in text  # the login page again, offering to retry
    assert not signed_in(browser)
    assert sso_user(db, provider) is None


# --- success, and the mapping following the groups ---------------------------------


def test_first_sign_in_creates_the_user_with_role_and_queues_from_groups(
        sso_app, provider, queues, db):
    provider.person = {"sub": "u-1", "preferred_username": "alice",
                       "groups": ["rv-team", "rv-support", "unrelated"]}
    browser = sso_app().test_client()
    response = sign_in(browser)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert signed_in(browser)
    user = sso_user(db, provider)
    assert (user.name, user.role, user.active) == ("alice", "reviewer", True)
    assert memberships(db, user) == {"support"}
    assert browser.get("/").status_code == 200
    created = db.scalar(select(AccountEvent).where(AccountEvent.action == "user.created"))
    assert created.actor == "sso" and created.data["queues"] == ["support"]
    # PKCE: the token request carried the verifier the provider checked.
    assert provider.token_requests[0]["code_verifier"]


def test_sign_in_over_real_http_with_a_browser_like_session(sso_app, provider, queues, db):
    """The whole round trip over real HTTP: the app served on 127.0.0.1, a cookie jar,
    redirects followed: app -> provider -> the app's callback -> the queue page."""
    provider.person = {"sub": "u-9", "preferred_username": "hugo",
                       "groups": ["rv-team", "rv-support"]}
    server = LiveServer(sso_app()).start()
    try:
        browser = requests.Session()
        landed = browser.get(f"{server.url}/login/sso?next=/queues/support", timeout=10)
        assert landed.status_code == 200 and landed.url == f"{server.url}/queues/support"
        hops = [urlsplit(r.url) for r in landed.history]
        assert [h.path for h in hops] == ["/login/sso", provider.realm + "/authorize",
                                          "/login/sso/callback"]
        # The redirect URI is the app's own address, as the browser reached it.
        authorize = parse_qs(hops[1].query)
        assert authorize["redirect_uri"] == [f"{server.url}/login/sso/callback"]
        assert authorize["code_challenge_method"] == ["S256"] and authorize["nonce"][0]
        assert "hugo" in landed.text
    finally:
        server.stop()
    assert sso_user(db, provider, "u-9").name == "hugo"


def test_second_sign_in_updates_role_and_memberships(sso_app, provider, queues, db):
    provider.person = {"sub": "u-1", "preferred_username": "alice",
                       "groups": ["rv-team", "rv-support"]}
    sso = sso_app()
    assert signed_in_ok(sso)
    user = sso_user(db, provider)
    other = db.scalar(select(Queue).where(Queue.slug == "other"))
    db.add(QueueMember(queue_id=other.id, user_id=user.id, tags=["de"]))  # given locally
    db.commit()

    provider.person["groups"] = ["rv-leads", "rv-billing"]
    assert signed_in_ok(sso)
    user = sso_user(db, provider)
    assert user.role == "supervisor"
    # The mapped queues follow the groups; a membership given here stays.
    assert memberships(db, user) == {"billing", "other"}
    actions = [(e.action, e.data.get("queue"), e.data.get("to")) for e in db.scalars(
        select(AccountEvent).where(AccountEvent.user_id == user.id).order_by(AccountEvent.id))]
    assert ("user.role_changed", None, "supervisor") in actions
    assert ("membership.set", "billing", None) in actions
    assert ("membership.removed", "support", None) in actions
    assert len(list(db.scalars(select(User)))) == 1  # the same user, found by (iss, sub)


def signed_in_ok(sso) -> bool:
    browser = sso.test_client()
    response = sign_in(browser)
    return response.status_code == 302 and signed_in(browser)


def test_next_survives_the_round_trip_and_an_unsafe_one_goes_home(sso_app, provider, queues):
    provider.person["groups"] = ["rv-team"]
    sso = sso_app()
    assert sign_in(sso.test_client(), "/queues/support").headers["Location"] == \
        "/queues/support"
    assert sign_in(sso.test_client(), "//evil.example/").headers["Location"] == "/"


def test_a_provider_account_named_like_a_local_user_does_not_take_it_over(
        sso_app, provider, make_user, db):
    make_user("admin", role="admin")
    provider.person = {"sub": "attacker", "preferred_username": "admin",
                       "groups": ["rv-team"]}
    browser = sso_app().test_client()
    assert sign_in(browser).status_code == 302
    user = sso_user(db, provider, "attacker")
    assert user.name.startswith("admin-") and user.role == "reviewer"
    local = db.scalar(select(User).where(User.name == "admin"))
    assert local.oidc_subject is None and local.role == "admin"


def test_no_mapped_group_is_refused_unless_a_default_role_is_set(sso_app, provider, db):
    provider.person["groups"] = ["unrelated"]
    browser = sso_app().test_client()
    assert_refused(sign_in(browser), 401, "in no group", browser, db, provider)
    browser = sso_app(OIDC_DEFAULT_ROLE="reviewer").test_client()
    assert sign_in(browser).status_code == 302
    assert sso_user(db, provider).role == "reviewer"


def test_groups_from_a_nested_claim(sso_app, provider, db):
    provider.person = {"sub": "u-1", "preferred_username": "kc",
                       "realm_access": {"roles": ["rv-admins"]}}
    browser = sso_app(OIDC_GROUPS_CLAIM="realm_access.roles").test_client()
    assert sign_in(browser).status_code == 302
    assert sso_user(db, provider).role == "admin"


def test_a_deactivated_user_stays_refused(sso_app, provider, queues, db):
    from review.core.accounts import set_user_active

    provider.person["groups"] = ["rv-team"]
    sso = sso_app()
    assert signed_in_ok(sso)
    set_user_active(db, "admin", sso_user(db, provider).id, False)
    browser = sso.test_client()
    response = sign_in(browser)
    assert response.status_code == 401 and "deactivated" in page(response)
    assert not signed_in(browser)


# --- each spoiled answer: the login page, the reason, logged, nobody signed in ----


@pytest.mark.parametrize("case, tamper, words, code", [
    ("wrong audience", {"aud": "someone-else"}, "issued for another application",
     "sso_wrong_audience"),
    ("audience list without us", {"aud": ["a", "b"]}, "issued for another application",
     "sso_wrong_audience"),
    ("wrong issuer", {"iss": "http://127.0.0.1:1/evil"}, "issued by another provider",
     "sso_wrong_issuer"),
    ("expired", {"exp": 1_000_000_000, "iat": 999_999_000}, "has expired", "sso_expired"),
    ("no expiry", {"exp": None}, "has expired", "sso_expired"),
    ("nonce mismatch", {"nonce": "not-the-one-we-sent"}, "nonce mismatch", "sso_nonce"),
    ("no nonce", {"nonce": None}, "nonce mismatch", "sso_nonce"),
    ("no subject", {"sub": None}, "no valid subject", "sso_bad_token"),
])
def test_a_spoiled_token_is_refused(sso_app, provider, db, caplog, case, tamper, words, code):
    provider.person["groups"] = ["rv-team"]
    provider.tamper = tamper
    browser = sso_app().test_client()
    with caplog.at_level(logging.WARNING, logger="review.core.oidc_protocol"):
        response = sign_in(browser)
    assert_refused(response, 401, words, browser, db, provider)
    assert code in caplog.text, case


def test_a_token_signed_by_another_key_is_refused(sso_app, provider, db, caplog):
    provider.person["groups"] = ["rv-team"]
    provider.sign_with = new_key("k1")  # the published key id, another key
    browser = sso_app().test_client()
    with caplog.at_level(logging.WARNING, logger="review.core.oidc_protocol"):
        response = sign_in(browser)
    assert_refused(response, 401, "invalid signature", browser, db, provider)
    assert "sso_bad_signature" in caplog.text


def test_a_token_signed_by_an_unpublished_key_is_refused(sso_app, provider, db):
    provider.person["groups"] = ["rv-team"]
    provider.sign_with = new_key("k-unknown")
    browser = sso_app().test_client()
    assert_refused(sign_in(browser), 401, "invalid signature", browser, db, provider)


def test_the_providers_key_rotation_is_followed(sso_app, provider, queues, db, monkeypatch):
    """A token under a key id the cached JWKS lacks makes the service fetch the JWKS
    again (at most every JWKS_REFETCH seconds: within that, it stays refused)."""
    from review.core import oidc_protocol

    provider.person["groups"] = ["rv-team"]
    sso = sso_app()
    assert signed_in_ok(sso)  # the JWKS with k1 is cached now
    provider.key = new_key("k2")  # rotated: k2 published and used
    browser = sso.test_client()
    assert_refused_after_creation(sign_in(browser), browser)
    monkeypatch.setattr(oidc_protocol, "JWKS_REFETCH", 0)  # as if 30 s had passed
    assert signed_in_ok(sso)


def assert_refused_after_creation(response, browser) -> None:
    assert response.status_code == 401 and "invalid signature" in page(response)
    assert not signed_in(browser)


def test_a_state_mismatch_is_refused(sso_app, provider, db):
    browser = sso_app().test_client()
    back = start(browser)
    query = parse_qs(back.query)
    response = browser.get(f"{back.path}?code={query['code'][0]}&state=forged")
    assert_refused(response, 401, "state mismatch", browser, db, provider)
    assert provider.token_requests == []  # the code was never redeemed


def test_a_callback_not_started_here_or_replayed_is_refused(sso_app, provider, queues, db):
    provider.person["groups"] = ["rv-team"]
    sso = sso_app()
    browser = sso.test_client()
    back = start(browser)
    stranger = sso.test_client()  # another browser given the callback URL (login CSRF)
    response = stranger.get(f"{back.path}?{back.query}")
    assert_refused(response, 401, "not started from this browser", stranger, db, provider)
    assert browser.get(f"{back.path}?{back.query}").status_code == 302
    replayed = browser.get(f"{back.path}?{back.query}")  # the state was used up
    assert replayed.status_code == 401 and "used already" in page(replayed)


def test_the_provider_refusing_is_shown(sso_app, provider, db):
    browser = sso_app().test_client()
    start(browser)
    with browser.session_transaction() as session:
        state = session["sso_pending"]["state"]
    response = browser.get(f"/login/sso/callback?error=access_denied&state={state}")
    assert_refused(response, 401, "did not sign you in (access_denied)", browser, db,
                   provider)


def test_the_provider_down_at_start_is_a_503_with_a_message(sso_app, provider, db, caplog):
    browser = sso_app(OIDC_ISSUER=f"http://127.0.0.1:{free_port()}/realms/gone").test_client()
    with caplog.at_level(logging.WARNING, logger="review.core.oidc_protocol"):
        response = browser.get("/login/sso")
    assert response.status_code == 503
    assert "could not be reached" in page(response) and "Traceback" not in page(response)
    assert "sso_unavailable" in caplog.text


def test_the_provider_down_at_the_token_exchange_is_a_503(sso_app, provider, db):
    browser = sso_app().test_client()
    back = start(browser)
    provider.stop()
    response = browser.get(f"{back.path}?{back.query}")
    assert_refused(response, 503, "could not be reached", browser, db, provider)


@pytest.mark.parametrize("status, body, expected", [
    (200, "not json at all", 503),
    (200, {}, 503),
    (200, {"access_token": "x", "token_type": "Bearer"}, 503),
    (200, {"access_token": "x", "token_type": "Bearer", "id_token": 5}, 503),
    (200, {"access_token": "x", "token_type": "Bearer", "id_token": "a.b.c"}, 401),
    (200, {"access_token": "x", "token_type": "Bearer", "id_token": "x" * 10000}, 401),
    (200, [1, 2], 503),
    (400, {"error": "invalid_grant"}, 401),
    (500, "<html>oops</html>", 503),
])
def test_a_broken_token_answer_is_a_clear_refusal(sso_app, provider, db, status, body,
                                                  expected):
    provider.person["groups"] = ["rv-team"]
    provider.token_answer = (status, body)
    browser = sso_app().test_client()
    response = sign_in(browser)
    assert response.status_code == expected, page(response)
    assert "Traceback" not in page(response) and not signed_in(browser)


@pytest.mark.parametrize("extra, jwks", [
    ({"issuer": "http://127.0.0.1:1/someone-else"}, None),
    ({"jwks_uri": None}, None),
    ({}, {"keys": "nope"}),
    ({}, [1]),
])
def test_a_broken_discovery_document_or_jwks_is_a_503(sso_app, provider, db, extra, jwks):
    provider.person["groups"] = ["rv-team"]
    provider.discovery_extra, provider.jwks_answer = extra, jwks
    browser = sso_app().test_client()
    begun = browser.get("/login/sso")
    if begun.status_code == 302:  # the discovery document was usable: the keys are not
        back = urlsplit(requests.get(begun.headers["Location"], allow_redirects=False,
                                     timeout=10).headers["Location"])
        begun = browser.get(f"{back.path}?{back.query}")
    assert begun.status_code == 503 and "could not be reached" in page(begun)
    assert not signed_in(browser)


@pytest.mark.parametrize("query", [
    "", "state=", "code=x", "state=%00&code=%00", "state=%ED%A0%80&code=%FF",
    "code=" + "a" * 5000,
    "state=x&state=y&code=1", "error=" + "%3Cscript%3E" * 50,
])
def test_hostile_callbacks_never_give_a_500(sso_app, provider, db, query):
    browser = sso_app().test_client()
    start(browser)
    response = browser.get("/login/sso/callback?" + query)
    # 400: the request guard refuses a NUL in any query before the view runs.
    assert response.status_code in (400, 401) and not signed_in(browser)
    assert "<script>" not in page(response)


# --- local passwords off ----------------------------------------------------------


def test_local_passwords_off_offers_only_sso_and_refuses_a_password(
        sso_app, provider, make_user, queues, make_key, db):
    make_user("rita")
    sso = sso_app(LOCAL_PASSWORDS=False)
    browser = sso.test_client()
    login_page = page(browser.get("/login"))
    assert 'name="password"' not in login_page and 'id="login-sso"' in login_page
    assert "Sign in with single sign-on" in login_page
    # A posted password (with a valid CSRF token from a page that has one) is refused
    # without being checked.
    provider.person["groups"] = ["rv-team"]
    assert sign_in(browser).status_code == 302
    token = csrf(page(browser.get("/")))
    fresh = sso.test_client()
    with fresh.session_transaction() as session, browser.session_transaction() as old:
        session["csrf_token"] = old["csrf_token"]
    refused = fresh.post("/login", data={"csrf_token": token, "name": "rita",
                                         "password": PASSWORD})
    assert refused.status_code == 403 and "Password sign-in is turned off" in page(refused)
    assert not signed_in(fresh)
    # API keys are unaffected.
    key = make_key("upstream", "submit")
    assert sso.test_client().get("/api/v1/items?queue=support", headers={
        "Authorization": f"Bearer {key}"}).status_code != 401


def test_local_passwords_on_still_sign_in_beside_sso(sso_app, make_user):
    make_user("rita")
    browser = sso_app().test_client()
    login_page = page(browser.get("/login"))
    assert 'name="password"' in login_page and 'id="login-sso"' in login_page
    response = browser.post("/login", data={"csrf_token": csrf(login_page), "name": "rita",
                                            "password": PASSWORD})
    assert response.status_code == 302 and signed_in(browser)


def test_without_an_issuer_there_is_no_sso(client):
    assert client.get("/login/sso").status_code == 404
    assert client.get("/login/sso/callback?state=x&code=y").status_code == 404
    assert 'id="login-sso"' not in page(client.get("/login"))


@pytest.mark.parametrize("overrides, words", [
    ({"OIDC_ROLE_MAP": "{not json"}, "not valid JSON"),
    ({"OIDC_ROLE_MAP": '{"g": "owner"}'}, "a role is one of"),
    ({"OIDC_QUEUE_MAP": '{"g": 5}'}, "queue slug"),
    ({"OIDC_DEFAULT_ROLE": "root"}, "OIDC_DEFAULT_ROLE"),
    ({"OIDC_CLIENT_ID": ""}, "OIDC_CLIENT_ID"),
    ({"OIDC_SCOPES": "profile"}, "openid"),
])
def test_a_broken_sso_configuration_stops_the_start(sso_app, overrides, words):
    with pytest.raises(ConfigError, match=words):
        sso_app(**overrides)


def test_local_passwords_off_without_an_issuer_stops_the_start(app):
    cfg = app.config
    with pytest.raises(ConfigError, match="LOCAL_PASSWORDS=off needs OIDC_ISSUER"):
        make_config(cfg["DATABASE_URL"], cfg["REDIS_URL"], cfg["INSTANCE_DIR"],
                    LOCAL_PASSWORDS=False)


def test_an_sso_user_has_no_password_page(sso_app, provider, queues, make_user):
    """Their password is the provider's: no Password link, and the page sends them home
    with a word; a local user still has both."""
    provider.person = {"sub": "u-9", "preferred_username": "ivy",
                       "groups": ["rv-team", "rv-support"]}
    browser = sso_app().test_client()
    assert sign_in(browser).status_code == 302
    home = page(browser.get("/"))
    assert 'id="nav-password"' not in home
    answer = browser.get("/account/password", follow_redirects=True)
    assert "your password is your identity provider" in page(answer)
    assert 'name="new"' not in page(answer)

    make_user("lou", queues=("support",))
    local = sso_app().test_client()
    assert local.post("/login", data={"csrf_token": csrf(page(local.get("/login"))),
                                      "name": "lou", "password": PASSWORD}).status_code == 302
    assert 'id="nav-password"' in page(local.get("/"))
    assert 'name="new"' in page(local.get("/account/password"))
