"""The SSRF guard (review/core/netguard.py), issue 14 items 4 and 5.

- Every form of IPv4 inside IPv6 (mapped, compatible, NAT64, 6to4, Teredo) is
  unwrapped and checked, as a literal in the URL and as a resolved address (a real
  resolver in a mount namespace whose /etc/hosts maps names to each form).
- A guarded session connects to the checked address, never resolving the name
  again, while the Host header, SNI and certificate check use the name (real HTTP
  and HTTPS servers on 127.0.0.1 with a CA made for the test).
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import ssl
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from review.core.netguard import PinnedAdapter, UnsafeUrl, check_url, guarded_session, vet_url

# (address, refused?) for each way an IPv6 address can carry an IPv4 one.
EMBEDDED = [
    ("::127.0.0.1", True),                  # IPv4-compatible
    ("::10.0.0.1", True),
    ("::808:808", False),                   # ::8.8.8.8
    ("::ffff:127.0.0.1", True),             # IPv4-mapped
    ("::ffff:192.168.1.1", True),
    ("::ffff:8.8.8.8", False),
    ("64:ff9b::7f00:1", True),              # NAT64 well-known prefix: 127.0.0.1
    ("64:ff9b::a9fe:a9fe", True),           # 169.254.169.254, the metadata service
    ("64:ff9b::808:808", False),
    ("64:ff9b:1::7f00:1", True),            # NAT64 local-use prefix
    ("2002:7f00:1::", True),                # 6to4: 127.0.0.1
    ("2002:a00:1::", True),                 # 6to4: 10.0.0.1
    ("2002:808:808::", False),
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", True),  # Teredo: client 127.0.0.1
    ("2001:0:808:808:0:0:f7f7:f7f7", True),  # Teredo, public server and client 8.8.8.8
    ("::1", True),
    ("::", True),
    ("2606:4700:4700::1111", False),        # a plain public IPv6 address
    ("127.0.0.1", True),
    ("8.8.8.8", False),
]


def _normal(address: str) -> str:
    return str(ipaddress.ip_address(address))


def _url(address: str) -> str:
    return f"http://[{address}]:8080/hook" if ":" in address else f"http://{address}:8080/hook"


@pytest.mark.parametrize("resolve", [False, True])
@pytest.mark.parametrize(("address", "refused"), EMBEDDED)
def test_embedded_ipv4_is_unwrapped_in_a_literal(address, refused, resolve):
    if refused:
        with pytest.raises(UnsafeUrl, match="private, loopback or link-local"):
            check_url(_url(address), resolve=resolve)
    else:
        check_url(_url(address), resolve=resolve)
        assert vet_url(_url(address), resolve=resolve).address == _normal(address)


@pytest.mark.parametrize(("address", "refused"), [row for row in EMBEDDED if row[1]])
def test_allowed_callback_hosts_still_let_an_embedded_address_through(address, refused):
    host = f"[{address}]" if ":" in address else address
    check_url(_url(address), [address])
    check_url(_url(address), [f"{address}:8080"])
    check_url(_url(address), ["*"])
    with pytest.raises(UnsafeUrl):
        check_url(_url(address), [f"{address}:9090"])  # another port is not allowed
    assert vet_url(f"http://{host}/", [address]).address is None  # allowed: not pinned


def test_the_message_names_the_embedded_address():
    with pytest.raises(UnsafeUrl) as caught:
        check_url("http://[64:ff9b::7f00:1]/")
    assert str(caught.value).startswith("64:ff9b::7f00:1 resolves to 64:ff9b::7f00:1 "
                                        "(127.0.0.1), a private")


RESOLVE_PROBE = """
import json, sys
from review.core.netguard import UnsafeUrl, check_url
out = {}
for name in sys.argv[1:]:
    try:
        check_url(f"http://{name}:8080/hook")
        out[name] = "allowed"
    except UnsafeUrl as exc:
        out[name] = str(exc)
print(json.dumps(out))
"""


def test_embedded_ipv4_is_unwrapped_in_a_resolved_address(tmp_path):
    """getaddrinfo answers each form (from /etc/hosts, in a namespace of its own)."""
    if shutil.which("unshare") is None or subprocess.run(
            ["unshare", "--mount", "true"], capture_output=True, check=False).returncode:
        pytest.skip("needs `unshare --mount` (root, or user namespaces)")
    names = {f"host{i}.example.test": row for i, row in enumerate(EMBEDDED)}
    hosts, resolv = tmp_path / "hosts", tmp_path / "resolv.conf"
    hosts.write_text("".join(f"{address} {name}\n" for name, (address, _) in names.items()))
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    script = ('mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/hosts '
              '&& shift 2 && exec "$@"')
    done = subprocess.run(
        ["unshare", "--mount", "sh", "-c", script, "sh", str(resolv), str(hosts),
         sys.executable, "-c", RESOLVE_PROBE, *names],
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    verdicts = json.loads(done.stdout)
    for name, (address, refused) in names.items():
        if refused:
            assert verdicts[name].startswith(f"{name} resolves to {_normal(address)}"), \
                (name, verdicts[name])
        else:
            assert verdicts[name] == "allowed", (name, verdicts)


# -- pinning: the connection goes to the checked address --------------------------------


class _Server:
    """An HTTP(S) server on 127.0.0.1 recording each request's Host header and SNI."""

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        self.hosts: list[str | None] = []
        self.sni: list[str | None] = []
        self.proxy_auth: list[str | None] = []
        seen, proxy_auth = self.hosts, self.proxy_auth

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                seen.append(self.headers.get("Host"))
                proxy_auth.append(self.headers.get("Proxy-Authorization"))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if context is not None:
            context.sni_callback = lambda sock, name, ctx: self.sni.append(name)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _pinned(host: str, address: str = "127.0.0.1") -> requests.Session:
    session = requests.Session()
    adapter = PinnedAdapter(host, address)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def test_a_pinned_session_connects_to_the_address_and_sends_the_name(monkeypatch):
    # .invalid never resolves (RFC 6761): reaching the server proves no lookup happened.
    # A proxy from the environment would resolve the name itself: it is not used, and
    # its credentials do not reach the receiver.
    monkeypatch.setenv("HTTP_PROXY", "http://user:secret@127.0.0.1:9")
    server = _Server()
    try:
        with _pinned("hooks.invalid") as session:
            response = session.post(f"http://hooks.invalid:{server.port}/hook", data=b"{}",
                                    allow_redirects=False, timeout=5)
        assert response.status_code == 204
        assert server.hosts == [f"hooks.invalid:{server.port}"]
        assert server.proxy_auth == [None]
        with _pinned("hooks.invalid") as session, pytest.raises(requests.RequestException):
            session.post(f"http://elsewhere.invalid:{server.port}/", timeout=5)
        assert len(server.hosts) == 1  # a pinned session serves its own host only
    finally:
        server.stop()


def test_a_guarded_session_refuses_what_the_guard_refuses():
    for address, refused in EMBEDDED:
        if refused:
            with pytest.raises(UnsafeUrl):
                guarded_session(_url(address))
    with pytest.raises(UnsafeUrl, match="^cannot resolve"):
        guarded_session("http://hooks.invalid/hook")


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], capture_output=True, check=True, timeout=60)


def _ca(directory: Path, name: str) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
             "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return key, cert


@pytest.fixture
def tls_server(tmp_path):
    """An HTTPS server on 127.0.0.1 whose certificate (signed by a CA made here) names
    hooks.invalid; yields (server, that CA's file, another CA's file)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make certificates")
    ca_key, ca_cert = _ca(tmp_path, "test-ca")
    _, other_ca = _ca(tmp_path, "other-ca")
    key, csr, cert = (tmp_path / f"server.{ext}" for ext in ("key", "csr", "pem"))
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(key), "-out", str(csr), "-subj", "/CN=hooks.invalid")
    extensions = tmp_path / "server.ext"
    extensions.write_text("subjectAltName=DNS:hooks.invalid\nbasicConstraints=CA:FALSE\n")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
             "-CAcreateserial", "-out", str(cert), "-days", "1", "-extfile", str(extensions))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server = _Server(context)
    yield server, str(ca_cert), str(other_ca)
    server.stop()


def test_tls_to_a_pinned_address_is_verified_against_the_host_name(tls_server):
    server, ca, other_ca = tls_server
    with _pinned("hooks.invalid") as session:
        response = session.post(f"https://hooks.invalid:{server.port}/hook", data=b"{}",
                                verify=ca, allow_redirects=False, timeout=5)
    assert response.status_code == 204
    assert server.sni[-1] == "hooks.invalid"
    assert server.hosts == [f"hooks.invalid:{server.port}"]

    # Another name on the same address: the certificate does not match it.
    with _pinned("other.invalid") as session, \
            pytest.raises(requests.exceptions.SSLError, match="(?i)hostname|match"):
        session.post(f"https://other.invalid:{server.port}/hook", data=b"{}", verify=ca,
                     timeout=5)
    # The right name, but a CA that did not sign the certificate.
    with _pinned("hooks.invalid") as session, \
            pytest.raises(requests.exceptions.SSLError, match="(?i)verif"):
        session.post(f"https://hooks.invalid:{server.port}/hook", data=b"{}",
                     verify=other_ca, timeout=5)
    assert len(server.hosts) == 1
