"""SSRF guard: callback and webhook URLs may not point inside our network
unless the operator allows the host (ALLOWED_CALLBACK_HOSTS).

Two holes are closed here (issue 14):

- DNS rebinding. Checking a name and then letting `requests` resolve it again lets
  a hostile DNS server answer a public address to the check and 127.0.0.1 to the
  connection. `guarded_session` connects to the very address that was checked
  (pinned in the connection pool), while the Host header, TLS SNI and certificate
  verification still use the URL's host name.
- IPv4 inside IPv6. `::127.0.0.1`, `::ffff:127.0.0.1`, `64:ff9b::7f00:1` (NAT64),
  `2002:7f00:1::` (6to4) and Teredo reach the IPv4 address they carry, and Python
  calls several of them global. Every embedded IPv4 address is unwrapped and checked
  as well as the IPv6 address itself.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Translation prefixes whose last 32 bits are the IPv4 address reached:
# NAT64 well-known (RFC 6052) and local-use (RFC 8215).
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_V4_COMPATIBLE = ipaddress.ip_network("::/96")


class UnsafeUrl(ValueError):
    """The URL is malformed or points at a private, loopback or link-local address."""


@dataclass(frozen=True)
class Target:
    """A URL the guard passed: its host name and the address the connection must use.

    `address` is None when the host is in ALLOWED_CALLBACK_HOSTS (nothing to pin)."""

    host: str
    address: str | None


def embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo)."""
    if address.version == 4:
        return []
    assert isinstance(address, ipaddress.IPv6Address)
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    # ::/96 holds :: and ::1 too; their low 32 bits (0.0.0.0, 0.0.0.1) are refused
    # anyway, like the addresses themselves.
    if address in _V4_COMPATIBLE or any(address in net for net in _NAT64):
        found.append(low32)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)  # (server, client); the client is already un-XORed
    return found


def _refusal(address: IPAddress) -> IPAddress | None:
    """The non-public address hiding in `address` (itself or an embedded IPv4), if any."""
    for candidate in (address, *embedded_ipv4(address)):
        if not candidate.is_global or candidate.is_multicast:
            return candidate
    return None


def vet_url(url: str, allowed_hosts: list[str] | None = None, *, resolve: bool = True
            ) -> Target:
    """Check `url` like check_url and return where to connect.

    With resolve=True, `address` is the checked address the connection must be
    pinned to; with resolve=False a host name is not looked up and `address` is None.
    """
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
        return Target(host, None)
    addresses = _addresses(host, port, resolve)
    for address in addresses:
        bad = _refusal(address)
        if bad is not None:
            shown = f"{address}" if bad == address else f"{address} ({bad})"
            raise UnsafeUrl(
                f"{host} resolves to {shown}, a private, loopback or link-local address; "
                "allow it with ALLOWED_CALLBACK_HOSTS if intended"
            )
    return Target(host, str(addresses[0]) if addresses else None)


def check_url(url: str, allowed_hosts: list[str] | None = None, *, resolve: bool = True) -> None:
    """Raise UnsafeUrl unless `url` is http(s) to a public address or an allowed host."""
    vet_url(url, allowed_hosts, resolve=resolve)


def _addresses(host: str, port: int | None, resolve: bool) -> list[IPAddress]:
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
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


class PinnedAdapter(HTTPAdapter):
    """Connects every request for `host` to `address`, never resolving the name again.

    The pool is keyed by the address, so urllib3 dials it directly; SNI and the
    certificate's name check (server_hostname, assert_hostname) and the Host header
    use the host name, so TLS is verified exactly as an unpinned request would be.
    """

    def __init__(self, host: str, address: str) -> None:
        self.host, self.address = host, address
        super().__init__(max_retries=0)

    def get_connection_with_tls_context(self, request: requests.PreparedRequest, verify: Any,
                                        proxies: Any = None, cert: Any = None) -> Any:
        # A proxy would resolve the name itself, past the guard: none is used.
        host_params, pool_kwargs = self.build_connection_pool_key_attributes(
            request, verify, cert)
        if (host_params["host"] or "").lower().rstrip(".").strip("[]") != self.host:
            raise requests.exceptions.InvalidURL(
                f"this connection is pinned for {self.host}, not {host_params['host']}")
        host_params["host"] = self.address
        if host_params["scheme"] == "https":
            # urllib3 takes these pool arguments; types-requests' _PoolKwargs does not list them.
            pool_kwargs["server_hostname"] = self.host  # type: ignore[typeddict-unknown-key]
            pool_kwargs["assert_hostname"] = self.host  # type: ignore[typeddict-unknown-key]
        return self.poolmanager.connection_from_host(**host_params, pool_kwargs=pool_kwargs)

    def request_url(self, request: requests.PreparedRequest, proxies: Any) -> str:
        return super().request_url(request, {})  # never the absolute form meant for a proxy

    def add_headers(self, request: requests.PreparedRequest, **kwargs: Any) -> None:
        # urllib3 would name the pool's host, i.e. the address, in the Host header.
        request.headers["Host"] = urlsplit(request.url or "").netloc
        # requests adds this for a proxy from the environment; no proxy is used, and
        # its credentials must not reach the receiver.
        request.headers.pop("Proxy-Authorization", None)


def guarded_session(url: str, allowed_hosts: list[str] | None = None) -> requests.Session:
    """A requests session for `url` that passed the SSRF guard (else UnsafeUrl).

    The session connects to the checked address (see PinnedAdapter); an allowed host
    is not pinned. Redirects are the caller's to refuse (allow_redirects=False): a
    redirect to another host would not go through the guard.
    """
    target = vet_url(url, allowed_hosts, resolve=True)
    session = requests.Session()
    if target.address is not None:
        adapter = PinnedAdapter(target.host, target.address)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
    return session
