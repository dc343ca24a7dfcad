"""Load tools for bench/run.py: wrk (Debian's package) and a paced Python generator.

wrk drives the closed-loop peak figures; the Python generator does what wrk
cannot: a fixed request rate (p99 at 70% of peak) and multi-step reviewer
sessions (claim, then decide with the lease token from the claim).
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass
class Result:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    p99_ms: float | None = None

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def p(self, q: float) -> float:
        if self.p99_ms is not None and q == 0.99:
            return self.p99_ms
        xs = sorted(self.latencies_ms)
        return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def wrk(url: str, *, seconds: int, connections: int, threads: int = 2,
        method: str = "GET", body: dict | None = None,
        headers: dict[str, str] | None = None) -> Result:
    """Run wrk against 127.0.0.1 for `seconds`; requests/s and p99 from its --latency output."""
    assert "127.0.0.1" in url, "benchmarks drive 127.0.0.1 only"
    lines = [f'wrk.method = "{method}"']
    if body is not None:
        lines.append(f"wrk.body = {json.dumps(json.dumps(body))}")
    for name, value in (headers or {}).items():
        lines.append(f'wrk.headers["{name}"] = "{value}"')
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lines) + "\n")
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency",
         "-s", script.name, url], capture_output=True, text=True, timeout=seconds + 30).stdout
    result = Result(seconds=float(seconds))
    if m := re.search(r"(\d+) requests in ([\d.]+)(\w+)", out):
        result.requests = int(m.group(1))
        result.seconds = float(m.group(2)) * _UNITS[m.group(3)] / 1000.0
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        result.errors = int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        result.errors += sum(int(g) for g in m.groups())
    if m := re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out):
        result.p99_ms = float(m.group(1)) * _UNITS[m.group(2)]
    return result


def paced(step: Callable[[requests.Session], bool], *, seconds: float, workers: int,
          rate: float | None = None) -> Result:
    """`workers` threads call `step(session)` for `seconds`, at `rate` calls/s in total
    (None: as fast as they can). Latency is timed from the scheduled start, so a slow
    server cannot hide its queueing (no coordinated omission)."""
    result, lock = Result(), threading.Lock()
    start = time.perf_counter()
    end = start + seconds
    interval = workers / rate if rate else 0.0

    def run(index: int) -> None:
        session = requests.Session()
        due = start + (index * interval / workers if interval else 0.0)
        lat, ok, bad = [], 0, 0
        while True:
            now = time.perf_counter()
            if interval and now < due:
                time.sleep(due - now)
            began = due if interval else time.perf_counter()
            if began >= end:
                break
            try:
                good = step(session)
            except requests.RequestException:
                good = False
            lat.append((time.perf_counter() - began) * 1000.0)
            ok, bad = (ok + 1, bad) if good else (ok, bad + 1)
            due += interval
        with lock:
            result.latencies_ms.extend(lat)
            result.requests += ok
            result.errors += bad

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.seconds = time.perf_counter() - start
    return result
