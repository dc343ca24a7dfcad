"""What `checker.scope = "all"` costs: built-in grounding latency per item and check volume.

Runs the grounding checker in-process on support-style items (3 context sources of ~120
words, a 2-sentence answer) and reports the median and p99 latency per check and the
single-worker throughput, then how many more items go through the check queue under
scope "all" than "ambiguous" for a typical confidence mix (60% at/above the threshold).
Usage: python bench/check_scope_cost.py [N]
"""

from __future__ import annotations

import random
import statistics
import sys
import time

from review.intake.checks import CheckInput, run_checker

WORDS = ("refund order ship warehouse monday payment method business days account credit "
         "customer invoice tracking number delivery address return label window policy "
         "replacement damaged parcel courier").split()


def item(rng: random.Random, i: int) -> CheckInput:
    context = [" ".join(rng.choice(WORDS) for _ in range(120)) + "." for _ in range(3)]
    output = (" ".join(rng.choice(WORDS) for _ in range(14)) + ". "
              + " ".join(rng.choice(WORDS) for _ in range(12)) + ".")
    return CheckInput(item_id=f"b{i}", output=output, context=context, confidence=0.95)


def main(n: int = 2000) -> None:
    rng = random.Random(0)
    items = [item(rng, i) for i in range(n)]
    latencies = []
    started = time.perf_counter()
    for it in items:
        t0 = time.perf_counter()
        run_checker({"type": "grounding"}, it)
        latencies.append((time.perf_counter() - t0) * 1000)
    elapsed = time.perf_counter() - started
    latencies.sort()
    print(f"grounding over {n} items: median {statistics.median(latencies):.3f} ms, "
          f"p99 {latencies[int(0.99 * n)]:.3f} ms, {n / elapsed:.0f} checks/s per worker")
    confident, ambiguous = 0.60, 0.25  # shares at/above the threshold and in the band
    print(f"check volume: scope ambiguous {ambiguous:.0%} of items, scope all "
          f"{ambiguous + confident:.0%} ({(ambiguous + confident) / ambiguous:.1f}x); "
          "auto-approvals wait for one check job each (queue latency + check latency)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
