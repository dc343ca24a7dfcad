"""OpenID Connect, the protocol side of SSO sign-in (Authlib's OAuth 2 client, joserfc).

The authorization code flow with PKCE (S256), `state` and `nonce`: `start` builds the
provider's authorization URL and the values the browser's session keeps until the
callback; `check_state`, `exchange_code` and `verify_id_token` finish it. The provider's
discovery document and its JWKS are cached per process (an unknown key id refetches the
JWKS, at most every JWKS_REFETCH seconds, so a provider's key rotation just works and a
flood of forged tokens cannot make us hammer it).

Every refusal is `Unauthenticated` with a code saying which check failed (docs/sso.md
lists them); `sso_unavailable` means the provider could not be reached or answered
nonsense. Only review/core/oidc.py (the sign-in service) calls this module.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import BadSignatureError, InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from review.core.errors import Unauthenticated
from review.core.settings import Settings

log = logging.getLogger(__name__)

DISCOVERY_TTL = 3600  # seconds a discovery document is reused
JWKS_REFETCH = 30  # at most one JWKS refetch per this many seconds on an unknown key id
LEEWAY = 60  # seconds of clock skew allowed on exp and iat
PENDING_TTL = 600  # a sign-in must come back from the provider within this many seconds
# Asymmetric algorithms only: "none" and the HS* family (keyed with the client secret)
# are never accepted for an ID token.
ASYMMETRIC_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                   "ES256", "ES384", "ES512", "EdDSA")

_lock = threading.Lock()
_metadata: dict[str, tuple[float, dict[str, Any]]] = {}
_jwks: dict[str, tuple[float, KeySet]] = {}


@dataclass(frozen=True)
class Client:
    """This service as the provider's registered client."""

    issuer: str
    client_id: str
    client_secret: str
    scopes: str
    timeout: float

    @classmethod
    def from_settings(cls, cfg: Settings) -> Client:
        # The issuer is compared exactly (OIDC Discovery 4.3), trailing slash and all.
        return cls(cfg.OIDC_ISSUER, cfg.OIDC_CLIENT_ID, cfg.OIDC_CLIENT_SECRET,
                   cfg.OIDC_SCOPES, cfg.OIDC_TIMEOUT)


def refused(code: str, message: str, detail: str = "") -> Unauthenticated:
    """A sign-in refusal; `detail` (what exactly was wrong) goes to the log only."""
    log.warning("SSO sign-in refused: %s %s", code, detail)
    return Unauthenticated(code, message)


def _unavailable(what: str, exc: object) -> Unauthenticated:
    return refused("sso_unavailable", "The sign-in provider could not be reached or gave "
                   "an unusable answer. Try again in a minute.", f"{what}: {exc}")


def _get_json(url: str, timeout: float, what: str) -> dict[str, Any]:
    try:
        response = requests.get(url, timeout=timeout, headers={"Accept": "application/json"})
        response.raise_for_status()
        body = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise _unavailable(what, exc) from exc
    if not isinstance(body, dict):
        raise _unavailable(what, "not a JSON object")
    return body


def provider_metadata(client: Client) -> dict[str, Any]:
    """The provider's discovery document (cached DISCOVERY_TTL seconds), checked: it
    names our issuer exactly and has the endpoints the code flow needs."""
    now = time.monotonic()
    with _lock:
        cached = _metadata.get(client.issuer)
    if cached and now - cached[0] < DISCOVERY_TTL:
        return cached[1]
    url = client.issuer.rstrip("/") + "/.well-known/openid-configuration"
    metadata = _get_json(url, client.timeout, "discovery")
    if metadata.get("issuer") != client.issuer:
        raise _unavailable("discovery", f"issuer {metadata.get('issuer')!r} is not "
                           f"OIDC_ISSUER {client.issuer!r}")
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(metadata.get(key), str) or not metadata[key]:
            raise _unavailable("discovery", f"no {key}")
    with _lock:
        _metadata[client.issuer] = (now, metadata)
    return metadata


def _key_set(metadata: dict[str, Any], timeout: float, refetch: bool) -> KeySet:
    uri = metadata["jwks_uri"]
    now = time.monotonic()
    with _lock:
        cached = _jwks.get(uri)
    fresh_enough = cached and (now - cached[0] < (JWKS_REFETCH if refetch else DISCOVERY_TTL))
    if cached and fresh_enough:
        return cached[1]
    document = _get_json(uri, timeout, "jwks")
    try:
        keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise _unavailable("jwks", exc) from exc
    with _lock:
        _jwks[uri] = (now, keys)
    return keys


def _oauth_session(client: Client, metadata: dict[str, Any],
                   redirect_uri: str) -> OAuth2Session:
    methods = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    if not client.client_secret:
        method = "none"  # a public client: PKCE alone binds the code to this browser
    elif "client_secret_basic" in methods or "client_secret_post" not in methods:
        method = "client_secret_basic"
    else:
        method = "client_secret_post"
    return OAuth2Session(client.client_id, client.client_secret or None,
                         token_endpoint_auth_method=method, scope=client.scopes,
                         redirect_uri=redirect_uri, code_challenge_method="S256")


def start(client: Client, redirect_uri: str) -> tuple[str, dict[str, Any]]:
    """(the provider's authorization URL, what the browser session keeps until the
    callback: state, nonce, the PKCE verifier, the redirect URI and when)."""
    metadata = provider_metadata(client)
    pending = {"state": generate_token(32), "nonce": generate_token(32),
               "verifier": generate_token(64), "redirect_uri": redirect_uri,
               "at": int(time.time())}
    url, _state = _oauth_session(client, metadata, redirect_uri).create_authorization_url(
        metadata["authorization_endpoint"], state=pending["state"],
        code_verifier=pending["verifier"], nonce=pending["nonce"])
    return url, pending


def check_state(pending: Any, returned: str | None) -> dict[str, Any]:
    """The pending sign-in if `returned` is its state and it is recent; refuses a
    callback this browser did not start, one used already and one too old."""
    if not isinstance(pending, dict) or not all(
            isinstance(pending.get(k), str) for k in ("state", "nonce", "verifier")):
        raise refused("sso_state", "This sign-in was not started from this browser, has "
                      "been used already or has expired. Sign in again.", "no pending state")
    if not returned or not hmac.compare_digest(pending["state"].encode(),
                                               returned.encode("utf-8", "replace")):
        raise refused("sso_state", "The sign-in answer does not belong to the sign-in this "
                      "browser started (state mismatch). Sign in again.", "state mismatch")
    if not isinstance(pending.get("at"), int) or time.time() - pending["at"] > PENDING_TTL:
        raise refused("sso_state", "The sign-in took too long. Sign in again.", "expired")
    return pending


def exchange_code(client: Client, pending: dict[str, Any], code: str) -> str:
    """The ID token the provider's token endpoint gives for `code` (with the PKCE
    verifier and our client credentials)."""
    metadata = provider_metadata(client)
    oauth = _oauth_session(client, metadata, pending["redirect_uri"])
    try:
        token = oauth.fetch_token(metadata["token_endpoint"], code=code,
                                  code_verifier=pending["verifier"], timeout=client.timeout)
    except OAuthError as exc:
        raise refused("sso_code_refused", "The sign-in provider refused the sign-in code. "
                      "Sign in again.", f"token endpoint: {exc}") from exc
    except (requests.RequestException, ValueError) as exc:
        raise _unavailable("token endpoint", exc) from exc
    id_token = token.get("id_token") if isinstance(token, dict) else None
    if not isinstance(id_token, str) or not id_token:
        raise _unavailable("token endpoint", "no id_token in the answer")
    return id_token


def _decode(client: Client, id_token: str) -> dict[str, Any]:
    metadata = provider_metadata(client)
    offered = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = [alg for alg in offered if alg in ASYMMETRIC_ALGS] or ["RS256"]
    bad_signature = ("sso_bad_signature", "The sign-in provider's token has an invalid "
                     "signature.")
    for refetch in (False, True):
        keys = _key_set(metadata, client.timeout, refetch)
        try:
            return jwt.decode(id_token, keys, algorithms=algorithms).claims
        except InvalidKeyIdError as exc:
            if refetch:  # unknown even in a fresh JWKS: not signed by the provider
                raise refused(*bad_signature, f"unknown key id: {exc}") from exc
        except BadSignatureError as exc:
            raise refused(*bad_signature, str(exc)) from exc
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise refused("sso_bad_token", "The sign-in provider's token is malformed or "
                          "uses an algorithm not allowed.", repr(exc)) from exc
    raise AssertionError("unreachable")  # the loop returns or raises


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def verify_id_token(client: Client, id_token: str, nonce: str,
                    now: float | None = None) -> dict[str, Any]:
    """The ID token's claims once its signature (the provider's JWKS, asymmetric
    algorithms only), issuer, audience, expiry and nonce are checked."""
    claims = _decode(client, id_token)
    now = time.time() if now is None else now
    if claims.get("iss") != client.issuer:
        raise refused("sso_wrong_issuer", "The sign-in token was issued by another "
                      "provider than the one configured.", f"iss={claims.get('iss')!r}")
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    if not isinstance(audiences, list) or client.client_id not in audiences or (
            len(audiences) > 1 and claims.get("azp", client.client_id) != client.client_id):
        raise refused("sso_wrong_audience", "The sign-in token was issued for another "
                      "application.", f"aud={audience!r} azp={claims.get('azp')!r}")
    expires = _number(claims, "exp")
    if expires is None or expires + LEEWAY < now:
        raise refused("sso_expired", "The sign-in token has expired. Sign in again.",
                      f"exp={claims.get('exp')!r} now={int(now)}")
    issued = _number(claims, "iat")
    if issued is None or issued - LEEWAY > now:
        raise refused("sso_bad_token", "The sign-in token has no valid issue time.",
                      f"iat={claims.get('iat')!r} now={int(now)}")
    got_nonce = claims.get("nonce")
    if not isinstance(got_nonce, str) or not hmac.compare_digest(
            got_nonce.encode("utf-8", "replace"), nonce.encode()):
        raise refused("sso_nonce", "The sign-in token does not belong to this sign-in "
                      "(nonce mismatch). Sign in again.", f"nonce={got_nonce!r}")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not 0 < len(subject) <= 255:
        raise refused("sso_bad_token", "The sign-in token names no valid subject.",
                      f"sub={subject!r}")
    return claims
