"""SSRF guard: callback and webhook URLs may not point inside our network
unless the operator allows the host (ALLOWED_CALLBACK_HOSTS)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


class UnsafeUrl(ValueError):
    """The URL is malformed or points at a private, loopback or link-local address."""


def check_url(url: str, allowed_hosts: list[str] | None = None, *, resolve: bool = True) -> None:
    """Raise UnsafeUrl unless `url` is http(s) to a public address or an allowed host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"malformed URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeUrl("only absolute http:// or https:// URLs are accepted")
    if parts.username or parts.password:
        raise UnsafeUrl("credentials in the URL are not accepted")
    host = parts.hostname.lower().rstrip(".")
    allowed = {h.lower() for h in (allowed_hosts or [])}
    if "*" in allowed or host in allowed or (port and f"{host}:{port}" in allowed):
        return
    for address in _addresses(host, port, resolve):
        if not address.is_global or address.is_multicast:
            raise UnsafeUrl(
                f"{host} resolves to {address}, a private, loopback or link-local address; "
                "allow it with ALLOWED_CALLBACK_HOSTS if intended"
            )


def _addresses(host: str, port: int | None, resolve: bool) -> list[ipaddress._BaseAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    if host == "localhost" or host.endswith(".localhost") or host.endswith(".internal"):
        return [ipaddress.ip_address("127.0.0.1")]
    if not resolve:
        return []
    try:
        infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise UnsafeUrl(f"cannot resolve {host}") from exc
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
