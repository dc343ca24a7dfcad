"""Read one item and the decisions feed, against the hello-world baseline, for one checkout.

    python bench/read_bench.py [ROOT]    # ROOT: a checkout (default: this one)

A quick before/after of the read paths (issue 20): run it on two checkouts alternately on
the same machine and compare the ratios to the hello world of the same run. Uses ROOT's
bench/run.py for the database, keys and gunicorn (deploy/gunicorn.conf.py), 1,000
auto-approved items of one submitter, then wrk with 2 connections (--rounds rounds of
--seconds s each for hello, poll and feed, interleaved). Not a test.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("root", nargs="?", type=Path, default=Path(__file__).resolve().parent.parent)
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--seconds", type=int, default=4)
args = ap.parse_args()
sys.path[:0] = [str(args.root.resolve()), str(args.root.resolve() / "bench")]

import psycopg  # noqa: E402
import redis  # noqa: E402
import requests  # noqa: E402
import run  # noqa: E402  - ROOT's bench/run.py

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, headers: dict[str, str], seconds: int) -> dict[str, float]:
    """requests/s, p50 and p99 (ms) of 2 wrk connections."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items()))
    out = subprocess.run(["wrk", "-t", "2", "-c", "2", "-d", f"{seconds}s", "--latency",
                          "-s", script.name, url], capture_output=True, text=True,
                         timeout=seconds + 30).stdout
    got = {"rate": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for q in ("50", "99"):
        m = re.search(rf"{q}%\s+([\d.]+)(us|ms|s)\b", out)
        got[f"p{q}"] = float(m.group(1)) * UNITS[m.group(2)]
    if "Non-2xx" in out:
        raise RuntimeError(out)
    return got


def main() -> None:
    keys = run.setup_database("http://127.0.0.1:9/hook")
    env = run.app_env()
    sub = {"Authorization": f"Bearer {keys['submit']}"}
    hello = web = None
    try:
        hello = run.Gunicorn("hello:app", {**env, "PYTHONPATH": str(args.root / "bench")})
        web = run.Gunicorn("review.factory:create_app()", env)
        for _ in range(10):
            r = requests.post(web.url + "/api/v1/items/batch", headers=sub, timeout=120, json={
                "items": [dict(run.ITEM, queue="small", confidence=0.99)] * 100})
            assert r.status_code == 200, r.text
        feed = requests.get(web.url + "/api/v1/decisions?limit=100", headers=sub).json()
        assert len(feed["items"]) == 100
        item_id = feed["items"][-1]["id"]
        figures: dict[str, list[dict[str, float]]] = {"hello": [], "poll": [], "feed": []}
        for _ in range(args.rounds):
            figures["hello"].append(wrk(hello.url + "/", {}, args.seconds))
            figures["poll"].append(wrk(f"{web.url}/api/v1/items/{item_id}", sub, args.seconds))
            figures["feed"].append(wrk(web.url + "/api/v1/decisions?limit=100", sub,
                                       args.seconds))
        commit = subprocess.run(["git", "-C", str(args.root), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
        print(f"checkout {args.root} ({commit}), {args.rounds} rounds of {args.seconds} s")
        for round_ in range(args.rounds):
            h, p, f = (figures[k][round_] for k in ("hello", "poll", "feed"))
            print(f"  round {round_ + 1}: hello {h['rate']:,.0f}/s | poll {p['rate']:,.0f}/s"
                  f" ({p['rate'] / h['rate']:.3f}x) p50 {p['p50']:.1f} p99 {p['p99']:.1f} ms"
                  f" | feed {f['rate']:,.0f}/s ({f['rate'] / h['rate']:.3f}x)"
                  f" p50 {f['p50']:.1f} p99 {f['p99']:.1f} ms", flush=True)
    finally:
        for server in (hello, web):
            if server is not None:
                server.stop()
        client = redis.Redis.from_url(env["REDIS_URL"])
        for key in client.scan_iter(f"{run.PREFIX}*"):
            client.delete(key)
        with psycopg.connect(run.pg_server(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{run.DB_NAME}" WITH (FORCE)')


if __name__ == "__main__":
    main()
