"""Sign-in with an OpenID Connect provider: the claim mapping and the users it makes.

`begin_sign_in` and `finish_sign_in` are what the web edge (review/web/sso.py) calls;
the protocol (discovery, PKCE, state, nonce, the ID token's checks) is in
review/core/oidc_protocol.py. A user is found by (issuer, subject), never by name: a
provider account called "admin" does not become the local admin. A new user is
created on first sign-in. On every sign-in the role and the memberships of the queues
named in OIDC_QUEUE_MAP follow the provider's groups (memberships of other queues,
given by an admin here, are left alone), each change recorded in the account audit
trail. A deactivated user stays refused. `finish_sign_in` commits (one transaction:
the user, their memberships and the audit rows).
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from review.core import oidc_protocol
from review.core.accounts import NAME_CHARS, NAME_MAX, create_user, record_account_event
from review.core.errors import Unauthenticated
from review.core.models import ROLES, QueueMember, User
from review.core.oidc_protocol import Client, refused
from review.core.queues import queue_by_slug
from review.core.settings import ConfigError, Settings

log = logging.getLogger(__name__)

ACTOR = "sso"  # the account trail's actor for changes the provider's groups made


@dataclass(frozen=True)
class ClaimMapping:
    """Which claims name a user and carry their groups, and what the groups grant."""

    name_claim: str
    groups_claim: str
    role_map: dict[str, str]
    queue_map: dict[str, tuple[str, ...]]
    default_role: str

    @property
    def managed_queues(self) -> set[str]:
        """The queues whose memberships follow the provider's groups."""
        return {slug for slugs in self.queue_map.values() for slug in slugs}


def _json_object(name: str, raw: str) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a JSON object {{\"group\": ...}}.")
    return value


def claim_mapping(cfg: Settings) -> ClaimMapping:
    """The mapping the settings describe; ConfigError if malformed (checked at start)."""
    roles = _json_object("OIDC_ROLE_MAP", cfg.OIDC_ROLE_MAP)
    for group, role in roles.items():
        if role not in ROLES:
            raise ConfigError(f"OIDC_ROLE_MAP: group {group!r} maps to {role!r}; a role is "
                              f"one of {', '.join(ROLES)}.")
    queues: dict[str, tuple[str, ...]] = {}
    for group, slugs in _json_object("OIDC_QUEUE_MAP", cfg.OIDC_QUEUE_MAP).items():
        slugs = [slugs] if isinstance(slugs, str) else slugs
        if not isinstance(slugs, list) or not all(isinstance(s, str) and s for s in slugs):
            raise ConfigError(f"OIDC_QUEUE_MAP: group {group!r} must map to a queue slug "
                              "or a list of them.")
        queues[group] = tuple(slugs)
    if cfg.OIDC_DEFAULT_ROLE and cfg.OIDC_DEFAULT_ROLE not in ROLES:
        raise ConfigError(f"OIDC_DEFAULT_ROLE={cfg.OIDC_DEFAULT_ROLE!r}: use one of "
                          f"{', '.join(ROLES)}, or leave it empty to refuse users with no "
                          "mapped group.")
    return ClaimMapping(cfg.OIDC_NAME_CLAIM, cfg.OIDC_GROUPS_CLAIM, roles, queues,
                        cfg.OIDC_DEFAULT_ROLE)


def check_settings(cfg: Settings) -> None:
    """Refuse to start with an SSO configuration that cannot work (ConfigError)."""
    if not cfg.OIDC_ISSUER:
        return
    if not cfg.OIDC_CLIENT_ID:
        raise ConfigError("OIDC_ISSUER is set but OIDC_CLIENT_ID is not.")
    if cfg.PRODUCTION and not cfg.OIDC_ISSUER.startswith("https://"):
        raise ConfigError(f"OIDC_ISSUER={cfg.OIDC_ISSUER!r}: use https in production.")
    if "openid" not in cfg.OIDC_SCOPES.split():
        raise ConfigError("OIDC_SCOPES must include openid.")
    claim_mapping(cfg)


def claim_value(claims: Mapping[str, Any], path: str) -> Any:
    """A claim by name, or by a dotted path into nested objects (Keycloak's
    `realm_access.roles`); None when absent."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def groups_of(claims: Mapping[str, Any], mapping: ClaimMapping) -> set[str]:
    value = claim_value(claims, mapping.groups_claim)
    if isinstance(value, str):
        return {value}
    if isinstance(value, list):
        return {g for g in value if isinstance(g, str)}
    return set()


def role_for(groups: set[str], mapping: ClaimMapping) -> str | None:
    """The highest role any of the groups grants (admin > supervisor > reviewer), else
    OIDC_DEFAULT_ROLE; None means this person may not sign in."""
    granted = [mapping.role_map[g] for g in groups if g in mapping.role_map]
    if not granted:
        return mapping.default_role or None
    return max(granted, key=ROLES.index)


def queues_for(groups: set[str], mapping: ClaimMapping) -> set[str]:
    return {slug for g in groups for slug in mapping.queue_map.get(g, ())}


def _name_base(claims: Mapping[str, Any], mapping: ClaimMapping) -> str:
    for source in (mapping.name_claim, "preferred_username", "email", "sub"):
        value = claim_value(claims, source)
        if isinstance(value, str) and value.strip():
            cleaned = "".join(c if c in NAME_CHARS else "-" for c in value.strip())
            cleaned = cleaned.lstrip("._@-")[:NAME_MAX]
            if cleaned:
                return cleaned
    return "user"


def _free_name(session: Session, base: str, issuer: str, subject: str) -> str:
    """`base`, or `base-<8 hex of the identity>` when a user has that name already."""
    if session.scalar(select(User.id).where(User.name == base)) is None:
        return base
    suffix = hashlib.sha256(f"{issuer}\n{subject}".encode()).hexdigest()[:8]
    return f"{base[:NAME_MAX - 9]}-{suffix}"


def _apply_memberships(session: Session, user: User, groups: set[str],
                       mapping: ClaimMapping) -> None:
    """Add and remove memberships of the managed queues so they match the groups; no
    commit. A queue named in the map but not (yet) created is skipped."""
    wanted = queues_for(groups, mapping)
    for slug in sorted(mapping.managed_queues):
        queue = queue_by_slug(session, slug)
        if queue is None:
            log.warning("OIDC_QUEUE_MAP names queue %r, which does not exist", slug)
            continue
        member = session.get(QueueMember, (queue.id, user.id))
        if slug in wanted and member is None:
            session.add(QueueMember(queue_id=queue.id, user_id=user.id, tags=[]))
            record_account_event(session, ACTOR, "membership.set", user.id, queue=slug,
                                 name=user.name, tags=[], via="sso")
        elif slug not in wanted and member is not None:
            # Items they hold in it go back to the queue when their lease runs out.
            session.delete(member)
            record_account_event(session, ACTOR, "membership.removed", user.id,
                                 queue=slug, name=user.name, via="sso")


def _provision(session: Session, mapping: ClaimMapping, issuer: str,
               claims: Mapping[str, Any]) -> User:
    """Find or create the user of (issuer, sub) and make role and memberships follow
    the groups; no commit."""
    subject = claims["sub"]
    user = session.scalar(select(User).where(User.oidc_issuer == issuer,
                                             User.oidc_subject == subject))
    if user is not None and not user.active:
        raise refused("inactive", "This account is deactivated. Ask an admin.",
                      f"user {user.name} (#{user.id})")
    groups = groups_of(claims, mapping)
    role = role_for(groups, mapping)
    if role is None:
        raise refused("sso_no_role", "Your account at the sign-in provider is in no group "
                      "that may use this service. Ask an admin.",
                      f"sub={subject!r} groups={sorted(groups)!r}")
    if user is None:
        name = _free_name(session, _name_base(claims, mapping), issuer, subject)
        # A random password nobody knows: an SSO user signs in only through the provider.
        user = create_user(session, name, secrets.token_urlsafe(32), role)
        user.oidc_issuer, user.oidc_subject = issuer, subject
        record_account_event(session, ACTOR, "user.created", user.id, name=name, role=role,
                             queues=sorted(queues_for(groups, mapping)), via="sso",
                             issuer=issuer, subject=subject)
        session.flush()
    elif user.role != role:
        record_account_event(session, ACTOR, "user.role_changed", user.id, name=user.name,
                             via="sso", **{"from": user.role, "to": role})
        user.role = role
    _apply_memberships(session, user, groups, mapping)
    return user


def begin_sign_in(cfg: Settings, redirect_uri: str) -> tuple[str, dict[str, Any]]:
    """(where to send the browser, what its session keeps until the callback)."""
    return oidc_protocol.start(Client.from_settings(cfg), redirect_uri)


def finish_sign_in(session: Session, cfg: Settings, pending: Any,
                   params: Mapping[str, str]) -> User:
    """The user the provider's answer (`params`: the callback's query) signs in, with
    role and memberships updated from their groups; committed. Raises Unauthenticated
    with a code saying why (docs/sso.md), never anything else for a bad answer."""
    checked = oidc_protocol.check_state(pending, params.get("state"))
    if params.get("error"):
        error = "".join(c for c in str(params["error"])[:60] if c.isalnum() or c in "_-")
        raise refused("sso_denied", f"The sign-in provider did not sign you in ({error}).",
                      repr(str(params.get("error_description", ""))[:200]))
    code = params.get("code")
    if not code:
        raise refused("sso_bad_response", "The sign-in provider's answer has no code.")
    client = Client.from_settings(cfg)
    id_token = oidc_protocol.exchange_code(client, checked, code)
    claims = oidc_protocol.verify_id_token(client, id_token, checked["nonce"])
    mapping = claim_mapping(cfg)
    for attempt in (1, 2):
        try:
            user = _provision(session, mapping, client.issuer, claims)
            session.commit()
            log.info("SSO sign-in: user %s (#%s) role %s", user.name, user.id, user.role)
            return user
        except IntegrityError:
            # The same person's first sign-in in two tabs at once: the other one
            # created the user; the second attempt finds it.
            session.rollback()
            if attempt == 2:
                raise refused("sso_conflict", "Your account could not be set up (a name "
                              "clash). Try again.", f"sub={claims['sub']!r}") from None
        except Unauthenticated:
            session.rollback()
            raise
    raise AssertionError("unreachable")  # the loop returns or raises
