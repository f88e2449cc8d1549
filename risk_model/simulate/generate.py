"""The generator: one vectorised draw of the whole world (premises, calls, times, flags,
narratives, outcomes), and `simulate` to get it as frames. The tables it draws from are in
world.py; writing files is files.py.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from risk_model.errors import UserError
from risk_model.schema import FLAG_COLUMNS
from risk_model.simulate.world import (
    _DISTRICT_NAMES,
    _EW_NAMES,
    _EW_SUFFIX_CYCLE,
    ASSAULT_ON_OFFICER,
    BEAT_COLS,
    BEAT_ROWS,
    BLOCK_FORMS,
    CALL_COLUMNS,
    CLEARANCE_CODES,
    DIRECTIONALS,
    DISPOSITION_PRESETS,
    DISPOSITIONS,
    F_CHILDREN,
    F_DOMESTIC,
    F_IN_PROGRESS,
    F_INTOX,
    F_MENTAL,
    F_PHYSICAL,
    F_THREATS,
    F_WEAPON,
    GRID_M,
    HOUR_PROFILES,
    N_EW,
    N_NS,
    NARRATIVE_SEPARATORS,
    OFFICER_INJURED,
    PHRASES,
    PREMISE_AFFINITY,
    PRIORITY_PRESETS,
    SOURCE_PRESETS,
    SOURCES,
    SUFFIXES,
    TRUTH_COLUMNS,
    WEEKDAY_CALLS,
    SimConfig,
    _bank,
    _bool_array,
    _district_of_cell,
    _draw,
    _join,
    _mean_one_lognormal,
    _ordinal,
    _spec_arrays,
    _take,
)

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- the generator


@dataclass
class _Premises:
    ptype: np.ndarray
    hazard: np.ndarray  # latent hazard incl. premise-type mean
    tilt: np.ndarray  # (idiosyncratic hazard x area) ** violent_hazard_power
    hbin: np.ndarray
    area: np.ndarray
    propensity: np.ndarray
    beat: np.ndarray
    district: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    street: np.ndarray  # index into the street-name bank
    suffix: np.ndarray  # suffix kind
    direction: np.ndarray  # index into DIRECTIONALS
    number: np.ndarray  # house number, or block number for STREET premises


def _make_premises(rng: np.random.Generator, n: int, config: SimConfig) -> _Premises:
    """Places on a city grid, each with a type, call propensity, latent hazard, beat, address."""
    pts = config.premise_types
    ptype = rng.choice(len(pts), size=n, p=_normalise([p.share for p in pts]))
    street_idx = next((i for i, p in enumerate(pts) if p.name == "STREET"), -1)
    n_blocks = N_EW * N_NS + N_NS * N_EW  # E-W blocks + N-S blocks
    is_street = ptype == street_idx
    if is_street.sum() > n_blocks:  # more street premises than blocks: the rest become houses
        extra = np.flatnonzero(is_street)[n_blocks:]
        ptype[extra] = 0
        is_street = ptype == street_idx
        log.warning("street blocks saturated; %d street premises became residences", len(extra))
    n_houses = n - int(is_street.sum())
    if n_houses > n_blocks * 100:
        raise UserError(f"too many premises for the city grid ({n}); use fewer calls")
    block = np.empty(n, dtype=np.int64)
    num = np.empty(n, dtype=np.int64)
    block[is_street] = rng.choice(n_blocks, size=int(is_street.sum()), replace=False)
    num[is_street] = 50
    slots = rng.choice(n_blocks * 100, size=n_houses, replace=False)
    block[~is_street] = slots // 100
    num[~is_street] = slots % 100

    n_ew_blocks = N_EW * N_NS
    ew = block < n_ew_blocks
    side = np.where(num % 2 == 0, -12.0, 12.0)
    # E-W street j, block b (between N-S streets b and b+1): x along, y fixed.
    j, b_ew = block // N_NS, block % N_NS
    k = block - n_ew_blocks
    i, b_ns = k // N_EW, k % N_EW
    x = np.where(ew, b_ew * GRID_M + num, (i + 0.5) * GRID_M + side)
    y = np.where(ew, (j + 0.5) * GRID_M + side, b_ns * GRID_M + num)
    half_x, half_y = N_NS // 2, N_EW // 2
    east = b_ew >= half_x
    north = b_ns >= half_y
    direction = np.where(ew, np.where(east, 2, 3), np.where(north, 0, 1))
    blk_label = np.where(
        ew,
        np.where(east, b_ew - half_x, half_x - 1 - b_ew),
        np.where(north, b_ns - half_y, half_y - 1 - b_ns),
    )
    # Houses are numbered 1..100 within their hundred block, so no two premises share a number.
    number = np.where(is_street, blk_label * 100, blk_label * 100 + num + 1)
    street = np.where(ew, j, N_EW + i)
    cycle = np.array(_EW_SUFFIX_CYCLE)
    suffix = np.where(ew, cycle[j % len(cycle)], np.where(i % 10 == 9, 4, 1))

    width, height = N_NS * GRID_M, N_EW * GRID_M
    col = np.clip((x / width * BEAT_COLS).astype(int), 0, BEAT_COLS - 1)
    row = np.clip((y / height * BEAT_ROWS).astype(int), 0, BEAT_ROWS - 1)
    beat = row * BEAT_COLS + col
    cell_district = np.array(
        [_district_of_cell(c, r) for r in range(BEAT_ROWS) for c in range(BEAT_COLS)]
    )
    district = cell_district[beat]
    district_mult = _mean_one_lognormal(rng, config.district_sigma, len(_DISTRICT_NAMES))
    beat_mult = _mean_one_lognormal(rng, config.beat_sigma, BEAT_COLS * BEAT_ROWS)
    area = district_mult[district] * beat_mult[beat]

    z_h = rng.standard_normal(n)
    rho = config.hazard_propensity_corr
    z_p = rho * z_h + np.sqrt(1 - rho**2) * rng.standard_normal(n)
    idio = np.exp(config.hazard_sigma * z_h - config.hazard_sigma**2 / 2)
    hazard = np.array([p.hazard for p in pts])[ptype] * idio
    propensity = (
        np.array([p.calls for p in pts])[ptype]
        * np.exp(config.propensity_sigma * z_p)
        * area**config.area_calls_power
    )
    hbin = np.digitize(z_h, [-1.5, -0.75, 0.0, 0.75, 1.5, 2.25])

    m_per_deg = 111_320.0
    lat = config.center_lat + (y - height / 2) / m_per_deg
    lon = config.center_lon + (x - width / 2) / (m_per_deg * np.cos(np.radians(config.center_lat)))
    return _Premises(
        ptype=ptype,
        hazard=hazard,
        tilt=(idio * area) ** config.violent_hazard_power,
        hbin=hbin,
        area=area,
        propensity=propensity,
        beat=beat,
        district=district,
        lat=lat,
        lon=lon,
        street=street,
        suffix=suffix,
        direction=direction,
        number=number,
    )


def _normalise(values: Any) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    return arr / arr.sum()


def _ipf(seed: np.ndarray, rows: np.ndarray, cols: np.ndarray, iters: int = 60) -> np.ndarray:
    """Iterative proportional fitting: a table with these margins and the seed's odds ratios."""
    table = seed * (rows / np.maximum(seed.sum(axis=1), 1e-300))[:, None]
    for _ in range(iters):
        table *= (cols / np.maximum(table.sum(axis=0), 1e-300))[None, :]
        table *= (rows / np.maximum(table.sum(axis=1), 1e-300))[:, None]
    return table


def _call_types_for(
    rng: np.random.Generator, prem: _Premises, premise: np.ndarray, arr: dict, config: SimConfig
) -> np.ndarray:
    """Draws each call's type given its premise: right overall shares, right places, and more
    violent calls at high-hazard premises."""
    n_bins = 7
    n_pt = len(config.premise_types)
    group_of_premise = prem.ptype * n_bins + prem.hbin
    group = group_of_premise[premise]
    n_groups = n_pt * n_bins
    rows = np.bincount(group, minlength=n_groups).astype(float)
    tilt_sum = np.bincount(group, weights=prem.tilt[premise], minlength=n_groups)
    tilt = np.where(rows > 0, tilt_sum / np.maximum(rows, 1), 1.0)
    affinity = np.array([PREMISE_AFFINITY[t.premises] for t in config.call_types]).T  # (pt, t)
    if affinity.shape[0] != n_pt:
        raise UserError("premise affinity presets must list one weight per premise type")
    seed = np.repeat(affinity, n_bins, axis=0)
    seed = seed * np.where(arr["violent"][None, :], tilt[:, None], 1.0)
    joint = _ipf(seed, rows, arr["share"] * rows.sum())
    return _draw(rng, joint + 1e-12 * (rows[:, None] > 0), group)


def _times(
    rng: np.random.Generator, ctype: np.ndarray, start: pd.Timestamp, days: int, config: SimConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seconds since start, hour and weekday of each call, from its type's hourly profile."""
    prof_names = list(HOUR_PROFILES)
    prof_of_type = np.array([prof_names.index(t.hours) for t in config.call_types])
    prof = prof_of_type[ctype]
    base = np.array([HOUR_PROFILES[p] for p in prof_names])  # (P, 24)
    weights = base[:, None, :] * np.array(WEEKDAY_CALLS)[None, :, None]  # (P, 7, 24)
    weights = weights * _weekend_night_matrix(config.weekend_night_calls)[None, :, :]
    dow_of_day = (start.day_of_week + np.arange(days)) % 7
    day = np.empty(len(ctype), dtype=np.int64)
    for p in range(len(prof_names)):
        idx = np.flatnonzero(prof == p)
        if len(idx):
            day_w = weights[p].sum(axis=1)[dow_of_day]
            day[idx] = rng.choice(days, size=len(idx), p=day_w / day_w.sum())
    dow = dow_of_day[day]
    hour = _draw(rng, weights.reshape(-1, 24), prof * 7 + dow)
    seconds = rng.integers(0, 3600, size=len(ctype))
    return day * 86_400 + hour * 3600 + seconds, hour, dow


def _weekend_night_matrix(boost: float) -> np.ndarray:
    """(7, 24) multipliers: Friday and Saturday nights (20:00-03:59 the next day) get `boost`."""
    m = np.ones((7, 24))
    m[4, 20:] = m[5, 20:] = boost  # Fri, Sat evenings
    m[5, :4] = m[6, :4] = boost  # early Sat, early Sun
    return m


def _near_repeat(premise: np.ndarray, t_sec: np.ndarray, violent: np.ndarray, window: int):
    """Violent calls at the same premise in (t - window, t): a sort + searchsorted, no loop."""
    span = int(t_sec.max(initial=0)) + window + 1
    key = premise.astype(np.int64) * span + t_sec + window
    v = np.sort(key[violent])
    return np.searchsorted(v, key, side="left") - np.searchsorted(v, key - window, side="right")


def _calibrate_risk(
    m0: np.ndarray, ctype: np.ndarray, hour: np.ndarray, rate: np.ndarray, config: SimConfig
) -> np.ndarray:
    """P(assault) per call: multipliers scaled so each type's mean is its table rate and the hour
    profile of expected assaults matches LEOKA's.

    Scaling in-sample keeps the table exact for any world size; the hour multipliers come from
    alternating the two constraints (converges in a few rounds).
    """
    n_types = len(rate)
    counts = np.bincount(ctype, minlength=n_types).astype(float)
    target = _normalise(config.assault_share_2h)
    if len(target) != 12:
        raise UserError("assault_share_2h must hold 12 two-hour shares")
    hm = np.ones(24)

    def scale(m: np.ndarray) -> np.ndarray:
        mean_t = np.bincount(ctype, weights=m, minlength=n_types) / np.maximum(counts, 1)
        return np.where(mean_t > 0, rate / np.where(mean_t > 0, mean_t, 1), 0.0)

    for _ in range(6):
        m = m0 * hm[hour]
        p = scale(m)[ctype] * m
        share = np.bincount(hour // 2, weights=p, minlength=12)
        share = share / max(share.sum(), 1e-300)
        adj = np.where(share > 0, target / np.where(share > 0, share, 1), 1.0)
        hm *= np.repeat(adj, 2)
    m = m0 * hm[hour]
    s = scale(m)
    # The cap binds for a few calls of the riskiest types: re-scale those types (only their
    # calls, so it is cheap) until their mean is exact again.
    capped = np.bincount(ctype, weights=s[ctype] * m > config.p_cap, minlength=n_types) > 0
    sub = np.flatnonzero(capped[ctype])
    for _ in range(100):
        if not len(sub):
            break
        p = np.minimum(config.p_cap, s[ctype[sub]] * m[sub])
        mean_t = np.bincount(ctype[sub], weights=p, minlength=n_types) / np.maximum(counts, 1)
        ratio = np.where(capped & (mean_t > 0), rate / np.where(mean_t > 0, mean_t, 1), 1.0)
        if np.abs(ratio - 1).max() < 1e-9:
            break
        s *= ratio
    return np.minimum(config.p_cap, s[ctype] * m)


def _addresses(
    rng: np.random.Generator, prem: _Premises, premise: np.ndarray, street_pt: int
) -> pa.Array:
    """Addresses as CAD writes them: one premise, many spellings (case, spaces, suffixes, ...)."""
    n = len(premise)
    number = pc.cast(pa.array(prem.number[premise]), pa.string())
    is_street = prem.ptype[premise] == street_pt
    form = rng.integers(0, len(BLOCK_FORMS), size=n)
    block_word = _take(_bank(BLOCK_FORMS), np.where(is_street, form, -1))
    lead = _join([number, block_word], " ")
    abbrev_dir = rng.random(n) < 0.75
    direction = _take(
        _bank([s for pair in DIRECTIONALS for s in pair]),
        prem.direction[premise] * 2 + abbrev_dir,
    )
    names = _bank([*_EW_NAMES, *(_ordinal(k) for k in range(1, N_NS + 1))])
    name = _take(names, prem.street[premise])
    variant = rng.choice(3, size=n, p=[0.25, 0.65, 0.10])
    suffix = _take(
        _bank([s for trio in SUFFIXES for s in trio]), prem.suffix[premise] * 3 + variant
    )
    sep = _take(_bank([" ", "  "]), (rng.random(n) < 0.04).astype(np.int64))
    text = _join([lead, direction, name, suffix], sep)
    period = (rng.random(n) < 0.05) & (variant != 2)
    text = pc.if_else(pa.array(period), pc.binary_join_element_wise(text, ".", ""), text)
    case = rng.choice(3, size=n, p=[0.87, 0.08, 0.05])
    text = pc.if_else(pa.array(case == 1), pc.utf8_title(text), text)
    return pc.if_else(pa.array(case == 2), pc.utf8_lower(text), text)


def _narratives(
    rng: np.random.Generator,
    facts: np.ndarray,
    flags: np.ndarray,
    ctype: np.ndarray,
    source: np.ndarray,
    config: SimConfig,
) -> pa.Array:
    """Call-taker remarks from phrase banks; some facts are written only here."""
    n = len(ctype)
    offsets: dict[str, int] = {}
    bank_list: list[str] = []
    for fam, phrases in PHRASES.items():
        offsets[fam] = len(bank_list)
        bank_list.extend(phrases)
    bank = _bank(bank_list)

    def pick(fam: str, mask: np.ndarray) -> np.ndarray:
        k = rng.integers(0, len(PHRASES[fam]), size=n)
        return np.where(mask, offsets[fam] + k, -1)

    u = rng.random((n, 8))
    type_facts = _spec_arrays(config)["facts"][ctype]
    flagged_w = flags[:, 0] == 1
    mention = np.where(flagged_w, config.mention_flagged, config.mention_unflagged)
    w_fact = facts[:, F_WEAPON]
    weapon_pos = (w_fact & (u[:, 0] < mention)) | (
        ~w_fact & (u[:, 0] < config.mention_false_weapon)
    )
    weapon_neg = (
        ~w_fact
        & ~weapon_pos
        & (type_facts[:, F_WEAPON] >= 0.02)
        & (u[:, 0] > 1 - config.mention_negated)
    )
    weapon = np.where(weapon_pos, pick("weapon", weapon_pos), pick("weapon_neg", weapon_neg))
    threat = pick("threat", facts[:, F_THREATS] & (u[:, 1] < config.mention_threats))
    phys = facts[:, F_PHYSICAL]
    violence = np.where(
        phys,
        pick("violence", phys & (u[:, 2] < config.mention_violence)),
        pick(
            "violence_neg",
            ~phys
            & (type_facts[:, F_PHYSICAL] >= 0.1)
            & (u[:, 2] < config.mention_violence_negated),
        ),
    )
    suicidal_type = np.array([t.name == "SUICIDAL PERSON" for t in config.call_types])[ctype]
    p_mental = np.where(
        flags[:, 2] == 1, config.mention_mental_flagged, config.mention_mental_unflagged
    )
    mental_mention = facts[:, F_MENTAL] & (u[:, 3] < p_mental)
    suicide = mental_mention & (suicidal_type | (u[:, 4] < 0.1))
    mental = np.where(suicide, pick("suicide", suicide), pick("mental", mental_mention))
    intox_fact = facts[:, F_INTOX]
    intox = pick(
        "intox",
        (intox_fact & (u[:, 5] < config.mention_intox)) | (~intox_fact & (u[:, 5] < 0.005)),
    )
    kids = facts[:, F_CHILDREN]
    children = np.where(
        kids,
        pick("children", kids & (u[:, 6] < config.mention_children)),
        pick(
            "children_neg",
            ~kids & facts[:, F_DOMESTIC] & (u[:, 6] < config.mention_children_negated),
        ),
    )
    filler_fam = [t.filler for t in config.call_types]
    fam_names = list(dict.fromkeys(filler_fam))
    fam_of_type = np.array([fam_names.index(f) for f in filler_fam])[ctype]
    n_fill = rng.choice(len(config.filler_counts), size=n, p=_normalise(config.filler_counts))
    fam_size = np.array([len(PHRASES[f]) for f in fam_names])[fam_of_type]
    fam_offset = np.array([offsets[f] for f in fam_names])[fam_of_type]
    first = rng.integers(0, 1 << 30, size=n)
    # Consecutive phrases of the family from a random start: never the same filler twice.
    fillers = [
        np.where(n_fill > slot, fam_offset + (first + slot) % fam_size, -1)
        for slot in range(len(config.filler_counts) - 1)
    ]
    parts = np.column_stack([weapon, threat, violence, mental, intox, children, *fillers])
    order = np.argsort(rng.random(parts.shape), axis=1)  # real remarks come in any order
    parts = np.take_along_axis(parts, order, axis=1)
    empty = rng.random(n) < np.asarray(config.empty_narrative_by_source)[source]
    parts[empty] = -1
    sep = _take(_bank(NARRATIVE_SEPARATORS), rng.integers(0, len(NARRATIVE_SEPARATORS), size=n))
    return _join([_take(bank, parts[:, c]) for c in range(parts.shape[1])], sep)


def _simulate_tables(
    calls: int, seed: int, start: str, days: int, config: SimConfig
) -> tuple[pa.Table, pa.Table]:
    """The world as two Arrow tables (calls, truth); `simulate` and the writer share it."""
    if int(calls) < 1:
        raise UserError("--calls must be at least 1")
    if int(days) < 1:
        raise UserError("--days must be at least 1")
    try:
        start_ts = pd.Timestamp(start).normalize()
    except (ValueError, TypeError) as exc:
        raise UserError(f"--start {start!r} is not a date (YYYY-MM-DD)") from exc
    if start_ts is pd.NaT or start_ts.tzinfo is not None:
        raise UserError(f"--start {start!r} must be a plain date (YYYY-MM-DD)")
    if int(seed) < 0:
        raise UserError("--seed must be zero or positive")
    n = int(calls)
    rng = np.random.default_rng(np.random.SeedSequence(int(seed)))
    arr = _spec_arrays(config)
    t0 = time.perf_counter()

    # Places and who calls from them.
    n_prem = max(1, round(n * config.premises_per_call))
    prem = _make_premises(rng, n_prem, config)
    cum = np.cumsum(prem.propensity)
    premise = np.minimum(np.searchsorted(cum, rng.random(n) * cum[-1], side="right"), n_prem - 1)
    ctype = _call_types_for(rng, prem, premise, arr, config)
    t_sec, hour, dow = _times(rng, ctype, start_ts, int(days), config)
    order = np.argsort(t_sec, kind="stable")
    premise, ctype, t_sec, hour, dow = (a[order] for a in (premise, ctype, t_sec, hour, dow))
    log.info("simulate: %d calls at %d premises placed in time (%.1fs)", n, n_prem,
             time.perf_counter() - t0)  # fmt: skip

    # Hidden true facts of each call.
    ptype = prem.ptype[premise]
    night = (hour >= 21) | (hour < 4)
    p_facts = arr["facts"][ctype].copy()
    hz = prem.hazard[premise] ** config.fact_hazard_power
    for f in (F_WEAPON, F_THREATS, F_INTOX, F_PHYSICAL):
        p_facts[:, f] *= hz
    p_facts[:, F_INTOX] *= np.where(night, config.night_intox, 0.7)
    facts = rng.random(p_facts.shape) < np.minimum(p_facts, 0.97)

    # What the call-taker hears: source, flags, priority.
    src = _draw(rng, np.array([SOURCE_PRESETS[t.source] for t in config.call_types]), ctype)
    fact_of_flag = (F_WEAPON, F_DOMESTIC, F_MENTAL, F_INTOX, F_IN_PROGRESS)
    flags = np.empty((n, len(FLAG_COLUMNS)), dtype=np.int8)  # 1 true, 0 false, -1 unknown
    unknown_base = np.asarray(config.unknown_by_source)[src]
    for c, f in enumerate(fact_of_flag):
        fp = config.flag_false_positive[c]
        if c == 0:
            fp = np.maximum(fp, arr["weapon_claim"][ctype])
        p_true = np.where(facts[:, f], config.flag_sensitivity[c], fp)
        value = (rng.random(n) < p_true).astype(np.int8)
        unknown = rng.random(n) < np.clip(unknown_base + config.flag_unknown_offset[c], 0, 1)
        flags[:, c] = np.where(unknown, -1, value)
    prio_rows = np.array([PRIORITY_PRESETS[t.priority] for t in config.call_types])
    priority = _draw(rng, prio_rows, ctype) + 1
    urgent = ((flags[:, 0] == 1) | (flags[:, 4] == 1)) & (rng.random(n) < config.priority_bump)
    priority = np.where(urgent, np.maximum(priority - 1, 1), priority)

    # The outcome.
    nr = _near_repeat(premise, t_sec, arr["violent"][ctype], int(config.near_repeat_days * 86400))
    pts = config.premise_types
    pt_time = np.where(night, np.array([p.night for p in pts])[ptype],
                       np.array([p.day for p in pts])[ptype])  # fmt: skip
    weekend_night = _weekend_night_matrix(config.weekend_night_risk)[dow, hour]
    effects = (
        (F_WEAPON, config.weapon_effect),
        (F_THREATS, config.threats_effect),
        (F_INTOX, config.intox_effect),
        (F_MENTAL, config.mental_effect),
        (F_PHYSICAL, config.physical_effect),
    )
    fact_mult = np.ones(n)
    for f, eff in effects:
        fact_mult *= np.where(facts[:, f], eff, 1.0)
    m0 = (
        prem.hazard[premise]
        * prem.area[premise]
        * pt_time
        * weekend_night
        * fact_mult
        * (1 + config.near_repeat_effect * np.minimum(nr, config.near_repeat_cap))
    )
    p_assault = _calibrate_risk(m0, ctype, hour, arr["rate"], config)
    p_inj_given = np.where(
        facts[:, F_WEAPON], config.injury_given_assault_weapon, config.injury_given_assault
    )
    p_inj_only = (
        np.where(
            arr["roadway"][ctype],
            config.injury_only_roadway_per_1000,
            config.injury_only_other_per_1000,
        )
        / 1000.0
    )
    true_risk = p_assault + (1 - p_assault) * p_inj_only
    u = rng.random((n, 3))
    assaulted = u[:, 0] < p_assault
    injured = np.where(assaulted, u[:, 1] < p_inj_given, u[:, 2] < p_inj_only)
    log.info("simulate: outcomes drawn: %d assaults, %d injuries (%.1fs)", assaulted.sum(),
             injured.sum(), time.perf_counter() - t0)  # fmt: skip

    # Post-dispatch fields: what the call was closed as. They leak the outcome by design.
    disp_rows = np.array([DISPOSITION_PRESETS[t.disposition] for t in config.call_types])
    disposition = _draw(rng, disp_rows, ctype)
    arrest = rng.random(n) < config.assault_arrest
    disposition = np.where(assaulted, np.where(arrest, 0, 1), disposition)
    clearance = disposition.copy()
    aoo = assaulted & (rng.random(n) < config.assault_clearance)
    type_names = [t.name for t in config.call_types]
    final_bank = _bank([*type_names, ASSAULT_ON_OFFICER, OFFICER_INJURED])
    reclass_idx = np.array([type_names.index(t.reclass) if t.reclass in type_names else i
                            for i, t in enumerate(config.call_types)])  # fmt: skip
    final = np.where(rng.random(n) < config.reclassified, reclass_idx[ctype], ctype)
    final = np.where(
        assaulted & (rng.random(n) < config.assault_final_type), len(type_names), final
    )
    injury_final = ~assaulted & injured & (rng.random(n) < config.injury_final_type)
    final = np.where(injury_final, len(type_names) + 1, final)
    minutes = arr["minutes"][ctype] * np.exp(0.6 * rng.standard_normal(n))
    minutes *= np.where(disposition == 0, 2.5, 1.0) * np.where(assaulted | injured, 2.0, 1.0)
    cleared_sec = t_sec + np.maximum(np.round(minutes * 60), 120).astype(np.int64)

    # Location as recorded.
    r_loc = rng.random(n)
    no_loc = r_loc < config.location_missing
    no_addr = r_loc < config.location_missing + config.address_missing
    street_pt = next((i for i, p in enumerate(pts) if p.name == "STREET"), -1)
    address = _addresses(rng, prem, premise, street_pt)
    address = pc.if_else(pa.array(no_addr), pa.scalar(None, pa.string()), address)
    jitter = config.jitter_m / 111_320.0
    lat = np.round(prem.lat[premise] + jitter * rng.standard_normal(n), 6)
    lon = np.round(
        prem.lon[premise]
        + jitter / np.cos(np.radians(config.center_lat)) * rng.standard_normal(n),
        6,
    )
    area_missing = no_loc & (rng.random(n) < 0.5)
    beat_names = [
        f"{_district_of_cell(c, r) + 1}{r * BEAT_COLS + c + 1:02d}"
        for r in range(BEAT_ROWS)
        for c in range(BEAT_COLS)
    ]
    beat = _take(_bank(beat_names), np.where(area_missing, -1, prem.beat[premise]))
    district = _take(_bank(_DISTRICT_NAMES), np.where(area_missing, -1, prem.district[premise]))
    pt_missing = rng.random(n) < config.premise_type_missing
    premise_type = _take(_bank([p.name for p in pts]), np.where(pt_missing, -1, ptype))
    narrative = _narratives(rng, facts, flags, ctype, src, config)
    log.info("simulate: text built (%.1fs)", time.perf_counter() - t0)

    received = start_ts.to_datetime64().astype("datetime64[s]") + t_sec.astype("timedelta64[s]")
    cleared = start_ts.to_datetime64().astype("datetime64[s]") + cleared_sec.astype(
        "timedelta64[s]"
    )
    year = received.astype("datetime64[Y]").astype(np.int64) + 1970
    yy = pc.utf8_lpad(pc.cast(pa.array(year % 100), pa.string()), width=2, padding="0")
    seq = pc.utf8_lpad(pc.cast(pa.array(np.arange(1, n + 1)), pa.string()), width=7, padding="0")
    call_id = pc.binary_join_element_wise(pc.binary_join_element_wise("C", yy, ""), seq, "-")
    prio_missing = rng.random(n) < config.priority_missing
    src_missing = rng.random(n) < config.source_missing

    columns: dict[str, pa.Array] = {
        "call_id": call_id,
        "received_at": pa.array(received.astype("datetime64[us]")),
        "call_type": _take(_bank(type_names), ctype),
        "priority": pa.array(priority.astype(np.int64), mask=prio_missing),
        "source": _take(_bank(SOURCES), np.where(src_missing, -1, src)),
        "address": address,
        "latitude": pa.array(lat, mask=no_loc),
        "longitude": pa.array(lon, mask=no_loc),
        "beat": beat,
        "district": district,
        "premise_type": premise_type,
    }
    for c, name in enumerate(FLAG_COLUMNS):
        columns[name] = _bool_array(flags[:, c] == 1, flags[:, c] >= 0)
    columns["narrative"] = narrative
    columns["officer_assaulted"] = _bool_array(assaulted)
    columns["officer_injured"] = _bool_array(injured)
    columns["disposition"] = _take(_bank(DISPOSITIONS), disposition)
    columns["final_call_type"] = _take(final_bank, final)
    columns["clearance_code"] = _take(
        _bank([*CLEARANCE_CODES, "AOO"]), np.where(aoo, len(CLEARANCE_CODES), clearance)
    )
    columns["cleared_at"] = pa.array(cleared.astype("datetime64[us]"))
    calls_table = pa.table({c: columns[c] for c in CALL_COLUMNS})

    truth_cols: dict[str, pa.Array] = {
        "call_id": call_id,
        "true_risk": pa.array(true_risk),
        "true_p_assault": pa.array(p_assault),
        "true_p_injury_only": pa.array(p_inj_only),
        "premise_id": pa.array(premise.astype(np.int64)),
        "premise_hazard": pa.array(prem.hazard[premise]),
        "area_multiplier": pa.array(prem.area[premise]),
        "near_repeat_violent_14d": pa.array(nr.astype(np.int64)),
    }
    for name, f in zip(
        TRUTH_COLUMNS[8:],
        (F_WEAPON, F_THREATS, F_INTOX, F_MENTAL, F_CHILDREN, F_PHYSICAL, F_IN_PROGRESS,
         F_DOMESTIC),
        strict=True,
    ):  # fmt: skip
        truth_cols[name] = _bool_array(facts[:, f])
    truth_table = pa.table(truth_cols)
    log.info("simulate: done (%.1fs)", time.perf_counter() - t0)
    return calls_table, truth_table


_PANDAS_TYPES = {
    pa.string(): pd.StringDtype(),
    pa.bool_(): pd.BooleanDtype(),
    pa.int64(): pd.Int64Dtype(),
}


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas(types_mapper=_PANDAS_TYPES.get)


def _drifted_tables(
    calls: int,
    seed: int,
    start: str,
    days: int,
    config: SimConfig,
    drift: str | None,
    drift_from: str | None,
) -> tuple[pa.Table, pa.Table]:
    """The world, with the planted drift if any (drawn after it, on its own random stream)."""
    from risk_model.simulate.drift import apply_drift, drift_start, parse_drift

    drifts = parse_drift(drift, _DISTRICT_NAMES)  # a bad --drift fails before the long draw
    calls_table, truth_table = _simulate_tables(calls, seed, start, days, config)
    if not drifts:
        return calls_table, truth_table
    since = drift_start(pd.Timestamp(start).normalize(), int(days), drift_from)
    return apply_drift(calls_table, truth_table, drifts, since, int(seed))


def simulate(
    calls: int,
    seed: int,
    start: str = "2025-01-01",
    days: int = 365,
    config: SimConfig | None = None,
    drift: str | None = None,
    drift_from: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(calls frame, truth frame). Deterministic for (calls, seed, start, days, config).

    The calls frame holds the SPEC §1 canonical columns, both outcomes and four post-dispatch
    columns, sorted by received_at. The truth frame is aligned row for row (same call_id order)
    and holds the exact probability each outcome was drawn from, plus the hidden facts.
    `drift` plants changes from `drift_from` on (risk_model/simulate/drift.py); without it the
    world is exactly the undrifted one.
    """
    calls_table, truth_table = _drifted_tables(
        calls, seed, start, days, config or SimConfig(), drift, drift_from
    )
    return _to_pandas(calls_table), _to_pandas(truth_table)
