"""Benchmark of the row-local text features on a synthetic 5,000,000-call history.

Budget (docs/lexicon.md): the whole feature set for 5M calls in about 60 s, this module's share at
most about 15 s. Usage:

    .venv/bin/python benchmarks/bench_text.py [--rows 5000000] [--seed 0]

Progress goes to stderr; the last stdout line is one JSON object with the seconds per function.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from risk_model import text

logger = logging.getLogger("bench_text")

_STREETS = (
    *("MAIN", "ELM", "OAK", "MAPLE", "CEDAR", "PINE", "LAKE", "HILL", "PARK", "RIVER"),
    *("GARLAND", "FERGUSON", "ERVAY", "LANCASTER", "MOCKINGBIRD", "PRESTON", "FOREST"),
    *("ROYAL", "WALNUT HILL", "CAMP WISDOM", "MARSH", "BELT LINE", "SKILLMAN", "ABRAMS"),
    *("GREENVILLE", "HARRY HINES", "INWOOD", "LEMMON", "MCKINNEY", "ROSS", "GASTON"),
)
_SUFFIXES = (
    ("ST", "Street", "St.", "STR"),
    ("AVE", "Avenue", "Ave.", "AV"),
    ("BLVD", "Boulevard", "Blvd."),
    ("DR", "Drive", "Dr."),
    ("RD", "Road", "Rd."),
    ("LN", "Lane", "Ln."),
    ("FWY", "Freeway", "Frwy."),
    ("PKWY", "Parkway", "Pkwy."),
)
_DIRS = ("", "N ", "S ", "E ", "W ", "North ", "South ", "East ", "West ")
_UNITS = ("", "", "", "", " APT 4B", " #12", " Suite 200", " UNIT 3")

# Remarks mentioning a signal (with and without negation) ...
_SIGNAL_FRAGMENTS = (
    "HAS A GUN",
    "W/ KNIFE",
    "NO WEAPONS SEEN",
    "NEG WEAPONS",
    "UNK IF ARMED",
    "SUBJS FIGHTING",
    "VERBAL ONLY NO PHYSICAL",
    "PUNCHED RP",
    "THREATENING TO KILL RP",
    "MAKING THREATS",
    "EDP OFF HIS MEDS",
    "HEARING VOICES",
    "SUICIDAL",
    "THREATENING TO KILL HERSELF",
    "INTOX",
    "ETOH INVOLVED",
    "HIGH ON METH",
    "2 KIDS IN RES",
    "NO CHILDREN",
    "HIT AND RUN NO INJ",
)
# ... and the everyday remarks most calls carry.
_NEUTRAL_FRAGMENTS = (
    "RP STATES",
    "CALLER ADVISES",
    "SUBJ",
    "MALE IN BLK HOODIE",
    "FEMALE W/ RED SHIRT",
    "REQ CALLBACK",
    "WANTS OFC TO RESPOND",
    "NEIGHBOR DISPUTE OVER PARKING",
    "VEH LEFT NB ON MAIN",
    "ADV CALLER TO STAY ON LINE",
    "GOA",
    "SILVER SEDAN UNK PLATE",
    "RP WILL MEET OFC IN FRONT",
    "APT COMPLEX GATE CODE 1234",
    "LOUD MUSIC",
    "PREV CALL SAME LOC",
    "RP REQ NO CONTACT",
    "SUBJ LAST SEEN HEADED EB",
    "UNK RACE",
    "BUSINESS CLOSED",
    "LANDLORD TENANT ISSUE",
    "RP HANGS UP ON CALLBACK",
)
_CALL_TYPES = (
    "DISTURBANCE",
    "Domestic Disturbance",
    "DOM DIST",
    "ASSAULT",
    "AGG ASLT W/ WEAPON",
    "SHOTS FIRED",
    "PERSON WITH WEAPON",
    "ROBBERY IN PROGRESS",
    "BURGLARY REPORT",
    "BURGLAR ALARM",
    "SUSPICIOUS PERSON/VEHICLE",
    "TRAFFIC STOP",
    "MVA",
    "RECKLESS DRIVER",
    "MENTAL HEALTH CRISIS",
    "SUICIDAL PERSON",
    "WELFARE CHECK",
    "WARRANT SERVICE",
    "NARCOTICS",
    "TRESPASS",
    "THEFT REPORT",
    "NOISE COMPLAINT",
    "PARKING",
    "911 HANG UP",
    "FOLLOW UP",
    "Other ( In Narrative)",
    "10-16",
)


def synthetic_addresses(n: int, rng: np.random.Generator) -> np.ndarray:
    """About 300k distinct raw address strings (spelling variants, units), Zipf-like reuse."""
    n_unique = min(300_000, max(1, n // 16))
    uniques = []
    for _ in range(n_unique):
        number = int(rng.integers(1, 20_000))
        name = " ".join(rng.choice(_STREETS, size=int(rng.integers(1, 3))))
        suffix = _SUFFIXES[int(rng.integers(len(_SUFFIXES)))]
        spelling = suffix[int(rng.integers(len(suffix)))]
        if rng.random() < 0.04:
            other = _STREETS[int(rng.integers(len(_STREETS)))]
            uniques.append(f"{name} {spelling} / {other} AVE")
            continue
        direction = _DIRS[int(rng.integers(len(_DIRS)))]
        unit = _UNITS[int(rng.integers(len(_UNITS)))]
        uniques.append(f"{number} {direction}{name} {spelling}{unit}")
    pool = np.array([*uniques, None], dtype=object)
    ranks = np.minimum(rng.zipf(1.2, size=n) - 1, len(pool) - 1)
    return pool[rng.permutation(len(pool))[ranks]]


def synthetic_narratives(n: int, rng: np.random.Generator, signal_share: float) -> pa.Array:
    """Mostly unique remarks of 2-6 fragments plus a callback number (~70-100 characters).

    Each fragment is a signal phrase with probability `signal_share`, otherwise an everyday one;
    5% of calls have no remark at all.
    """
    signal = pa.array(_SIGNAL_FRAGMENTS)
    neutral = pa.array(_NEUTRAL_FRAGMENTS)
    cols = []
    for k in range(6):
        use_signal = pa.array(rng.random(n) < signal_share)
        pick_signal = signal.take(pa.array(rng.integers(0, len(signal), size=n)))
        pick_neutral = neutral.take(pa.array(rng.integers(0, len(neutral), size=n)))
        fragment = pc.if_else(use_signal, pick_signal, pick_neutral)
        if k >= 2:  # rows have 2-6 fragments
            fragment = pc.if_else(pa.array(rng.random(n) < 0.4), pa.scalar(""), fragment)
        cols.append(fragment)
    phone = pa.array(rng.integers(2_000_000, 9_999_999, size=n).astype(str))
    cols.append(pc.binary_join_element_wise(pa.array(["CB"] * n), phone, " "))
    joined = pc.binary_join_element_wise(*cols, ", ")
    joined = pc.replace_substring_regex(joined, "(, )+", ", ")
    missing = pa.array(rng.random(n) < 0.05)
    return pc.if_else(missing, pa.scalar(None, pa.string()), joined)


def _timed(
    label: str, func: Callable[[], Any], results: dict[str, float], cpu: dict[str, float]
) -> Any:
    """Wall seconds, plus CPU seconds over all threads (stable when other jobs share the box)."""
    start, start_cpu = time.perf_counter(), time.process_time()
    out = func()
    results[label] = round(time.perf_counter() - start, 2)
    cpu[label] = round(time.process_time() - start_cpu, 2)
    logger.info("%-22s %6.2f s wall %6.2f s cpu", label, results[label], cpu[label])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--signal-share",
        type=float,
        default=0.15,
        help="share of remark fragments that mention a signal (1.0: every fragment does)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)

    rng = np.random.default_rng(args.seed)
    n = args.rows
    logger.info("generating %d synthetic calls", n)
    addresses = synthetic_addresses(n, rng)
    lat = 32.78 + rng.normal(0, 0.1, size=n)
    lon = -96.80 + rng.normal(0, 0.1, size=n)
    lat[rng.random(n) < 0.02] = np.nan
    narratives = synthetic_narratives(n, rng, args.signal_share)
    narratives_obj = narratives.to_numpy(zero_copy_only=False)  # what call.py passes
    call_types = np.array(_CALL_TYPES, dtype=object)[rng.integers(0, len(_CALL_TYPES), size=n)]
    sources = np.array(["911", "Phone", "officer initiated ", None], dtype=object)[
        rng.integers(0, 4, size=n)
    ]

    results: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def timed(label: str, func: Callable[[], Any]) -> Any:
        return _timed(label, func, results, cpu)

    ctype = timed("normalize_call_type", lambda: text.normalize_call_type(call_types))
    timed("call_family", lambda: text.call_family(ctype))
    timed("normalize_category", lambda: text.normalize_category(sources))
    timed("normalize_address", lambda: text.normalize_address(addresses))
    timed("grid_cell", lambda: text.grid_cell(lat, lon))
    keys = timed("premise_key", lambda: text.premise_key(addresses, lat, lon))
    signals = timed("narrative_signals", lambda: text.narrative_signals(narratives_obj))
    # What the feature builder (features/call.py) calls per build: call type, family, four
    # categories (source, premise_type, beat, district), premise_key (which does the address
    # and grid work) and the narrative signals.
    share = {"normalize_call_type": 1, "call_family": 1, "normalize_category": 4}
    share |= {"premise_key": 1, "narrative_signals": 1}
    results["builder_share"] = round(sum(results[k] * m for k, m in share.items()), 2)
    cpu["builder_share"] = round(sum(cpu[k] * m for k, m in share.items()), 2)
    logger.info(
        "builder share: %.2f s wall, %.2f s cpu", results["builder_share"], cpu["builder_share"]
    )
    rates = {k: float(np.nanmean(v)) for k, v in signals.items()}
    logger.info("signal rates among remarks: %s", rates)
    logger.info("distinct premise keys: %d", len(set(keys[:200_000].tolist())))
    summary = {
        "rows": n,
        "signal_share": args.signal_share,
        "seconds": results,
        "cpu_seconds": cpu,
        "cores": os.cpu_count(),
    }
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
