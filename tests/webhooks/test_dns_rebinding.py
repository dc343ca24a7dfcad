"""DNS rebinding cannot take a webhook past the SSRF guard (issue 14, item 4).

The guard used to resolve the host, check the address, and let `requests` resolve
it again, so a DNS server answering a public address first and 127.0.0.1 next got
the POST delivered inside. Now the POST goes to the address that was checked.

The probe runs for real in a namespace of its own (`unshare --mount --net`): a
network with only loopback, where 1.2.3.4 (public, as far as the guard can tell)
is a local address, so nothing leaves the machine; /etc/resolv.conf names a
hand-written DNS server on 127.0.0.1:53 that answers 1.2.3.4 to the first lookup
and 127.0.0.1 to every later one; one HTTP server listens on each address.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

PUBLIC = "1.2.3.4"

PROBE = r'''
import json, socket, struct, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PUBLIC, PORT = sys.argv[1], 8080
lookups = []
hits = {PUBLIC: [], "127.0.0.1": []}


def dns() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 53))
    while True:
        query, peer = sock.recvfrom(512)
        end = 12
        while query[end]:
            end += query[end] + 1
        qtype = struct.unpack("!H", query[end + 1:end + 3])[0]
        question = query[12:end + 5]
        answer = b""
        if qtype == 1:  # A: public first, loopback after
            lookups.append(len(lookups))
            address = PUBLIC if len(lookups) == 1 else "127.0.0.1"
            answer = (b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 0, 4)
                      + socket.inet_aton(address))
        header = query[:2] + struct.pack("!HHHHH", 0x8180, 1, 1 if answer else 0, 0, 0)
        sock.sendto(header + question + answer, peer)


def serve(address: str) -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            hits[address].append(self.headers.get("Host"))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer((address, PORT), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()


threading.Thread(target=dns, daemon=True).start()
serve(PUBLIC)
serve("127.0.0.1")

from review.factory import create_app
from review.webhooks.delivery import post_delivery

with create_app().app_context():  # the settings (ALLOWED_CALLBACK_HOSTS from the env)
    result = post_delivery(f"http://rebind.test:{PORT}/hook", b"{}",
                           {"Content-Type": "application/json"})
print(json.dumps({"status": result.status_code, "error": result.error,
                  "lookups": len(lookups), "hits": hits}))
'''


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    probe = subprocess.run(["unshare", "--mount", "--net", "ip", "link", "set", "lo", "up"],
                           capture_output=True, check=False)
    return probe.returncode == 0


def test_a_rebinding_dns_answer_cannot_redirect_the_post_inside(tmp_path):
    if not _namespaces_work():
        pytest.skip("needs `unshare --mount --net` and `ip` (root, or user namespaces)")
    resolv, hosts, probe = tmp_path / "resolv.conf", tmp_path / "hosts", tmp_path / "probe.py"
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:2 attempts:1\n")
    hosts.write_text("127.0.0.1 localhost\n")
    probe.write_text(PROBE)
    script = ('ip link set lo up && ip addr add "$4/32" dev lo '
              '&& mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/hosts '
              '&& exec "$3" "$5" "$4"')
    env = {**os.environ, "ALLOWED_CALLBACK_HOSTS": "", "WEBHOOK_TIMEOUT": "5",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'probe.db'}", "INSTANCE_DIR": str(tmp_path)}
    done = subprocess.run(
        ["unshare", "--mount", "--net", "sh", "-c", script, "sh", str(resolv), str(hosts),
         sys.executable, PUBLIC, str(probe)],
        env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["hits"]["127.0.0.1"] == []  # the rebound answer reached nothing
    assert outcome["hits"][PUBLIC] == ["rebind.test:8080"]  # the checked address, by name
    assert (outcome["status"], outcome["error"]) == (204, None)
    assert outcome["lookups"] == 1  # one resolution: the guard's
