"""A small but real OpenID Connect provider for the SSO tests, served on 127.0.0.1.

It speaks the authorization code flow with PKCE over real HTTP: a discovery document,
a JWKS, `/authorize` (approves at once, as the person `provider.person`, and redirects
back with a one-time code) and `/token` (checks the client's credentials, the code, the
redirect URI and the PKCE verifier, then returns an ID token signed with its RSA key by
joserfc). Its knobs make it misbehave the ways a hostile or broken provider would:
`tamper` changes the ID token's claims or signing key, `stop()` takes it off the network.
Paths live under /realms/<random>, so every provider has its own issuer (the service
caches discovery documents and key sets by issuer and URL).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from typing import Any
from urllib.parse import urlencode

from flask import Flask, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server


def new_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"},
                               auto_kid=False)


class Provider:
    """The provider; `person` is who signs in next, `tamper` how the token is spoiled."""

    def __init__(self, client_id: str = "review-web", client_secret: str = "s3cret") -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.key = new_key("k1")
        self.person: dict[str, Any] = {"sub": "u-1", "preferred_username": "alice",
                                       "groups": []}
        # Claims to override (a value of None deletes the claim) and the key to sign
        # with instead of the published one.
        self.tamper: dict[str, Any] = {}
        self.sign_with: RSAKey | None = None
        # (status, body) the token endpoint answers instead, after checking the request;
        # extra fields for the discovery document; a JWKS to publish instead.
        self.token_answer: tuple[int, Any] | None = None
        self.discovery_extra: dict[str, Any] = {}
        self.jwks_answer: Any = None
        self.codes: dict[str, dict[str, Any]] = {}
        self.token_requests: list[dict[str, str]] = []
        self.realm = "/realms/" + secrets.token_hex(4)
        app = Flask("oidc-provider")
        app.add_url_rule(self.realm + "/.well-known/openid-configuration",
                         view_func=self._discovery)
        app.add_url_rule(self.realm + "/jwks", view_func=self._jwks)
        app.add_url_rule(self.realm + "/authorize", view_func=self._authorize)
        app.add_url_rule(self.realm + "/token", view_func=self._token, methods=["POST"])
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.base = f"http://127.0.0.1:{self._server.server_port}"
        self.issuer = self.base + self.realm
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self._running = True

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._server.shutdown()
            self._server.server_close()

    # --- the endpoints ---

    def _discovery(self):  # noqa: ANN202 - a Flask view
        return jsonify({
            "issuer": self.issuer,
            "authorization_endpoint": self.issuer + "/authorize",
            "token_endpoint": self.issuer + "/token",
            "jwks_uri": self.issuer + "/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
            **self.discovery_extra,
        })

    def _jwks(self):  # noqa: ANN202 - a Flask view
        if self.jwks_answer is not None:
            return jsonify(self.jwks_answer)
        return jsonify({"keys": [self.key.as_dict(private=False)]})

    def _authorize(self):  # noqa: ANN202 - a Flask view
        args = request.args
        if args.get("client_id") != self.client_id or args.get("response_type") != "code":
            return jsonify({"error": "unauthorized_client"}), 400
        if args.get("code_challenge_method") != "S256" or not args.get("code_challenge"):
            return jsonify({"error": "invalid_request", "why": "PKCE required"}), 400
        if "openid" not in args.get("scope", "").split():
            return jsonify({"error": "invalid_scope"}), 400
        code = secrets.token_urlsafe(24)
        self.codes[code] = {"nonce": args.get("nonce"), "challenge": args["code_challenge"],
                            "redirect_uri": args["redirect_uri"], "person": dict(self.person)}
        query = urlencode({"code": code, "state": args.get("state", "")})
        return redirect(f"{args['redirect_uri']}?{query}")

    def _token(self):  # noqa: ANN202 - a Flask view
        form = request.form.to_dict()
        self.token_requests.append(form)
        auth = request.authorization
        if auth is None or (auth.username, auth.password) != (self.client_id,
                                                              self.client_secret):
            return jsonify({"error": "invalid_client"}), 401
        grant = self.codes.pop(form.get("code", ""), None)  # one use only
        if grant is None or form.get("grant_type") != "authorization_code":
            return jsonify({"error": "invalid_grant"}), 400
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(
            hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != grant["challenge"] or form.get("redirect_uri") != grant["redirect_uri"]:
            return jsonify({"error": "invalid_grant", "why": "PKCE or redirect_uri"}), 400
        if self.token_answer is not None:
            status, body = self.token_answer
            if isinstance(body, str):
                return body, status, {"Content-Type": "application/json"}
            return jsonify(body), status
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.client_id, "iat": now, "exp": now + 300,
                  "nonce": grant["nonce"], **grant["person"]}
        for name, value in self.tamper.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        key = self.sign_with or self.key
        id_token = jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)
        return jsonify({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                        "expires_in": 300, "id_token": id_token})
