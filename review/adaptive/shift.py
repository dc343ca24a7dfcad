"""Sequential shift detection on one model version's stream: CUSUMs over a fixed reference.

A provider can change the model behind an unchanged version string. What such a change
shows at ingest, before any human has judged an item, is the stream itself: the
confidences (their mean, or a spread distribution collapsing to the top) and the outputs
(their length). The detector takes the version's first ``reference`` items as its
reference, then runs five one-sided CUSUM statistics item by item:

- confidence mean up and down (Gaussian CUSUM on the reference z-score, clipped to +-4 so
  one odd item moves it little; ``k`` is half the mean shift of interest, 0.15 by default,
  in reference standard deviations);
- the share of confidences >= 0.99 up (Bernoulli CUSUM, log-likelihood ratio of p1 against
  the reference share p0): a collapse onto 0.99+ is caught in a handful of items;
- log output length up and down (Gaussian CUSUM, one reference standard deviation).

Each decision limit ``h`` is chosen so that statistic's in-control average run length is
``arl`` items (Siegmund's approximation for the Gaussian CUSUMs, Wald's for the Bernoulli
one). Nominally five statistics at arl = 1,000,000 alarm once per 200,000 items; the
estimation error of a 300-item reference costs a factor of a few, so measured on stable
streams (tests/adaptive/test_shift.py, five distributions, 1,000,000 items in
bench) it is 0 to 0.3 false alarms per 10,000 items, under the 1 per 10,000 required.
Pure functions over a JSON-able state dict, so the router can keep the state on the
version's row (review/intake/routing.py) and the replay (review/adaptive/scenarios.py) runs
the very same code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

TOP = 0.99
Z_CLIP = 4.0
MIN_SD_CONFIDENCE = 0.02
MIN_SD_LENGTH = 0.05
NEVER = 1e300


@dataclass(frozen=True)
class ShiftSettings:
    reference: int = 300
    mean_shift: float = 0.15
    length_shift_sd: float = 1.0
    arl: float = 1_000_000.0


def gaussian_limit(k: float, arl: float) -> float:
    """Smallest h whose Siegmund in-control ARL of a one-sided CUSUM with reference value
    k (in sd units) reaches ``arl``: ARL0 = (exp(2kb) - 2kb - 1) / (2k^2), b = h + 1.166."""
    lo, hi = 0.0, 200.0
    for _ in range(80):
        h = (lo + hi) / 2
        b = 2 * k * (h + 1.166)
        run = (math.exp(min(b, 700.0)) - b - 1) / (2 * k * k)
        lo, hi = (h, hi) if run < arl else (lo, h)
    return hi


def new_state() -> dict[str, Any]:
    """A detector collecting its reference."""
    return {"n": 0, "ref": [0, 0.0, 0.0, 0, 0.0, 0.0], "params": None,
            "s": [0.0, 0.0, 0.0, 0.0, 0.0]}


def _params(ref: list[float], cfg: ShiftSettings) -> dict[str, float]:
    n, sc, sc2, top, sl, sl2 = ref
    mu_c = sc / n
    sd_c = max(math.sqrt(max(sc2 / n - mu_c * mu_c, 0.0)), MIN_SD_CONFIDENCE)
    mu_l = sl / n
    sd_l = max(math.sqrt(max(sl2 / n - mu_l * mu_l, 0.0)), MIN_SD_LENGTH)
    p0 = (top + 1) / (n + 2)  # Laplace: a reference without 0.99s still has p0 > 0
    p1 = min(0.95, max(0.5, 4 * p0))
    k_c = max(cfg.mean_shift / 2 / sd_c, 0.25)
    k_l = cfg.length_shift_sd / 2
    if p1 <= p0:  # the reference already sits at the top: nothing left to collapse onto
        up, down, h_top = 0.0, 0.0, NEVER  # JSON has no infinity
    else:
        up, down = math.log(p1 / p0), math.log((1 - p1) / (1 - p0))
        h_top = math.log(cfg.arl)
    return {"mu_c": mu_c, "sd_c": sd_c, "k_c": k_c, "h_c": gaussian_limit(k_c, cfg.arl),
            "mu_l": mu_l, "sd_l": sd_l, "k_l": k_l, "h_l": gaussian_limit(k_l, cfg.arl),
            "top_up": up, "top_down": down, "h_top": h_top, "p0": p0}


def output_length_feature(length: int) -> float:
    return math.log1p(max(length, 0))


def observe(state: dict[str, Any], confidence: float, output_length: int,
            cfg: ShiftSettings = ShiftSettings()) -> str | None:
    """Feed one item; returns why the stream shifted, or None. Mutates ``state``.

    After an alarm the caller starts a fresh detector (``new_state``) so the new regime
    becomes the next reference.
    """
    state["n"] += 1
    length = output_length_feature(output_length)
    if state["params"] is None:
        ref = state["ref"]
        ref[0] += 1
        ref[1] += confidence
        ref[2] += confidence * confidence
        ref[3] += confidence >= TOP
        ref[4] += length
        ref[5] += length * length
        if ref[0] >= cfg.reference:
            state["params"] = _params(ref, cfg)
        return None
    p, s = state["params"], state["s"]
    z = max(-Z_CLIP, min(Z_CLIP, (confidence - p["mu_c"]) / p["sd_c"]))
    s[0] = max(0.0, s[0] + z - p["k_c"])
    s[1] = max(0.0, s[1] - z - p["k_c"])
    s[2] = max(0.0, s[2] + (p["top_up"] if confidence >= TOP else p["top_down"]))
    zl = max(-Z_CLIP, min(Z_CLIP, (length - p["mu_l"]) / p["sd_l"]))
    s[3] = max(0.0, s[3] + zl - p["k_l"])
    s[4] = max(0.0, s[4] - zl - p["k_l"])
    if s[2] > p["h_top"]:
        return (f"confidences collapsed onto >= {TOP:g} (reference share {p['p0']:.3f}, "
                f"after {state['n'] - cfg.reference} items)")
    if s[0] > p["h_c"] or s[1] > p["h_c"]:
        way = "up" if s[0] > p["h_c"] else "down"
        return (f"confidence mean moved {way} from the reference {p['mu_c']:.3f} "
                f"(sd {p['sd_c']:.3f}, CUSUM over {p['h_c']:.1f})")
    if s[3] > p["h_l"] or s[4] > p["h_l"]:
        way = "longer" if s[3] > p["h_l"] else "shorter"
        return f"outputs got {way} than the reference (CUSUM over {p['h_l']:.1f})"
    return None


def ready(state: dict[str, Any] | None) -> bool:
    """Whether the detector has its reference (is watching, not still learning)."""
    return bool(state) and state.get("params") is not None
