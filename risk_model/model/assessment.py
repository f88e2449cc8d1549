"""One typed assessment of a call, and what the model knows about the limits of its own data.

`Assessment` is what every caller gets: `risk-model score`, the MLflow pyfunc and the live
service all receive it from `CallRiskModel.assess_features`, so they agree by construction.
`TrainingScope` holds the facts behind the honest warnings (SPEC §4): when the training data
starts and ends, which beats and districts it saw, whether it was simulated. `PremiseHistory`
is the one thing assessment needs from a history: dated prior incidents at a premise, which
precautions quote; the live history store and the offline events frame both provide it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from risk_model import vocab
from risk_model.features.build import frame_outcome_us
from risk_model.features.history import US_PER_DAY
from risk_model.features.store import PremiseIncident

PREMISE_PLACEHOLDER = "{premise_incidents}"
# The area aggregates an outcome shows in: when both read zero, the history holds no recorded
# assault on an officer for the call's district (or beat) in the past year.
AREA_OUTCOMES = (("district", "district_assaults_365d"), ("beat", "beat_assaults_365d"))


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str


@dataclass
class Assessment:
    """SPEC §4 risk assessment of one call."""

    call_id: str
    risk_score: float
    risk_tier: vocab.Tier
    decision: vocab.Decision
    reasons: list[dict[str, Any]]
    precautions: list[dict[str, Any]]  # id, text, because
    warnings: list[str]
    model: ModelInfo

    def as_dict(self) -> dict[str, Any]:
        """The JSON object the API answers (and the audit log stores), in SPEC order."""
        return {
            "call_id": self.call_id,
            "risk_score": self.risk_score,
            "risk_tier": self.risk_tier,
            "decision": self.decision,
            "reasons": self.reasons,
            "precautions": self.precautions,
            "model": {"name": self.model.name, "version": self.model.version},
            "warnings": self.warnings,
        }


@dataclass
class Assessed:
    """A batch assessed, with what the live service keeps for its audit log."""

    assessments: list[Assessment]
    rows: list[dict[str, Any]]  # feature values per call, plain Python (NaN -> None)
    labels: list[str]
    grouped: np.ndarray  # calls x reason labels, log-odds
    base: np.ndarray
    incidents: list[list[PremiseIncident]] = field(default_factory=list)
    programs: list[dict[str, str]] = field(default_factory=list)  # precaution id -> program


class PremiseHistory(Protocol):
    """Dated prior incidents at a premise (SqliteHistoryStore satisfies it; so does
    `FramePremiseHistory` for the offline path)."""

    def premise_incidents(
        self, premise: str, before_us: int, limit: int = 10
    ) -> list[PremiseIncident]: ...


class FramePremiseHistory:
    """`PremiseHistory` over an events frame (risk_model.features.build.events_frame), for
    offline scoring: the same incidents, in the same order, as the live store's query (calls
    at the same time: later in the frame first, as the store lists the later recorded first).

    The store's rule, once more in arrays: harm to an officer counts from when it was known
    (`outcome_us`, as in the features): a harmed call whose report is not known yet at the
    call's time is listed by what else it was (weapon, violent), without the harm, and a known
    harm is listed while its report time is within the horizon.

    `premise_incidents` answers one call; `premise_incidents_many` answers a whole batch with a
    few array searches, the way `score` needs it (a pandas filter and sort per call cost ~4 ms,
    most of a call's scoring time). Both give the same lists (tests/model/test_batch_scoring.py).
    """

    def __init__(self, events: pd.DataFrame, horizon_days: int) -> None:
        ev = events[events["premise"].notna()]
        flagged = (ev["violent"] > 0) | (ev["weapon"] > 0) | (ev["assault"] > 0)
        ev = ev[flagged | (ev["injury"] > 0)].reset_index(drop=True)
        self._events = ev.assign(_out=frame_outcome_us(ev), _harm=incident_rank(ev) == 0)
        self._by_premise: dict[str, pd.DataFrame] | None = None
        self._index: _IncidentIndex | None = None
        self.horizon_us = horizon_days * US_PER_DAY

    def premise_incidents(
        self, premise: str, before_us: int, limit: int = 10
    ) -> list[PremiseIncident]:
        if self._by_premise is None:
            self._by_premise = {str(k): g for k, g in self._events.groupby("premise", sort=False)}
        g = self._by_premise.get(premise)
        if g is None:
            return []
        return _incidents_at(g, before_us, self.horizon_us, limit)

    def premise_incidents_many(
        self, premises: Sequence[str], before_us: Sequence[int], limit: int = 10
    ) -> list[list[PremiseIncident]]:
        """`premise_incidents` for many (premise, time) pairs at once, in their order."""
        if self._index is None:
            self._index = _IncidentIndex(self._events)
        out = self._index.lookup(premises, before_us, self.horizon_us, limit)
        # Calls just after a harmed call at their premise (its report not yet known), or one
        # horizon after one: the rank of that call depends on the time; answered one by one.
        for i in self._index.unsettled(premises, before_us, self.horizon_us).tolist():
            out[i] = self.premise_incidents(premises[i], int(before_us[i]), limit)
        return out


def _incidents_at(g: pd.DataFrame, before_us: int, horizon_us: int, limit: int) -> list:
    """One premise's incidents for a call at `before_us` (the store's three parts: harm known
    within the horizon; weapons; other violence; harm not yet known excluded from the flags)."""
    ts = g["ts"].to_numpy(dtype=np.int64)
    out = g["_out"].to_numpy(dtype=np.int64)
    harm = g["_harm"].to_numpy(dtype=bool)
    lo = before_us - horizon_us
    known = harm & (out < before_us)
    weapon = g["weapon"].to_numpy() > 0
    violent = g["violent"].to_numpy() > 0
    in_window = (ts >= lo) & (ts < before_us) & ~known & (weapon | violent)
    rank = np.where(known, 0, np.where(weapon, 1, 2))
    keep = (known & (out >= lo)) | in_window
    g = g[keep].assign(_rank=rank[keep], _known=known[keep], _at=np.flatnonzero(keep))
    g = g.sort_values(["_rank", "ts", "_at"], ascending=[True, False, False]).head(limit)
    columns = _incident_columns(g)
    flags = g["_known"].to_numpy(dtype=bool)
    columns[-2] = columns[-2].astype(bool) & flags  # assault, injury only once known
    columns[-1] = columns[-1].astype(bool) & flags
    return [_incident(*values) for values in zip(*columns, strict=True)]


def incidents_of(
    premises: PremiseHistory | None, keys: Sequence[str], before_us: Sequence[int]
) -> list[list[PremiseIncident]]:
    """Dated incidents for many calls: in one batch from an events frame (offline scoring), one
    query per call from a history store (the live service scores a call or a small batch)."""
    if not keys or premises is None:
        return [[] for _ in keys]
    if isinstance(premises, FramePremiseHistory):
        return premises.premise_incidents_many(keys, before_us)
    return [premises.premise_incidents(k, t) for k, t in zip(keys, before_us, strict=True)]


# Incidents are listed most serious first: harm to officers, then weapons, then other violence.
N_INCIDENT_RANKS = 3


def incident_rank(ev: pd.DataFrame) -> np.ndarray:
    """0 for officer harm, 1 for a weapon, 2 for other violence (events frame rows)."""
    harm = (ev["assault"].to_numpy() > 0) | (ev["injury"].to_numpy() > 0)
    return np.where(harm, 0, np.where(ev["weapon"].to_numpy() > 0, 1, 2)).astype(np.int64)


def _incident(
    call_id: Any,
    ts: int,
    received_us: int,
    call_type: Any,
    violent: Any,
    weapon: Any,
    assault: Any,
    injury: Any,
) -> PremiseIncident:
    """One events-frame row as a dated incident: the exact time to the second, or only the day
    when the call is known only to a day or shift band (never an unrecorded clock time)."""
    exact = int(received_us) == int(ts)
    when = np.datetime64(int(ts if exact else received_us), "us")
    return PremiseIncident(
        call_id=str(call_id),
        received_at=str(when.astype("datetime64[s]" if exact else "datetime64[D]")),
        call_type=None if pd.isna(call_type) else str(call_type),
        violent=bool(violent),
        weapon=bool(weapon),
        assault=bool(assault),
        injury=bool(injury),
    )


def _incident_columns(ev: pd.DataFrame) -> list[np.ndarray]:
    """`_incident`'s arguments as columns; a frame written before intervals existed has no
    `received_us`: its times are exact."""
    ts = ev["ts"].to_numpy(dtype=np.int64)
    received = ev["received_us"].to_numpy(dtype=np.int64) if "received_us" in ev else ts
    return [
        ev["call_id"].to_numpy(dtype=object),
        ts,
        received,
        ev["call_type"].to_numpy(dtype=object),
        *(ev[c].to_numpy() for c in ("violent", "weapon", "assault", "injury")),
    ]


class _IncidentIndex:
    """Incident rows sorted by (premise, rank, time newest first, later in the frame first),
    the order `premise_incidents` lists them in: a call's incidents of one rank inside its
    window are then one contiguous run, found by two binary searches on one integer key per
    row."""

    def __init__(self, ev: pd.DataFrame) -> None:
        codes, uniques = pd.factorize(ev["premise"].astype(str).to_numpy(dtype=object))
        self._premises = pd.Index(uniques)
        rank = incident_rank(ev)
        neg = -ev["ts"].to_numpy(dtype=np.int64)
        order = np.lexsort((-np.arange(len(ev)), neg, rank, codes))
        group = (codes.astype(np.int64) * N_INCIDENT_RANKS + rank)[order]
        self._times = np.unique(neg)  # minus ts: ascending within a run is newest first
        self._m = np.int64(len(self._times) + 1)
        self._key = group * self._m + np.searchsorted(self._times, neg[order])
        self._rows = order
        self._columns = _incident_columns(ev)
        self._made: dict[int, PremiseIncident] = {}
        # Harmed calls by (premise, call time), with the latest report time so far per premise.
        harm = np.flatnonzero(ev["_harm"].to_numpy(dtype=bool))
        hcodes, hnames = pd.factorize(ev["premise"].astype(str).to_numpy(dtype=object)[harm])
        hts = ev["ts"].to_numpy(dtype=np.int64)[harm]
        hout = ev["_out"].to_numpy(dtype=np.int64)[harm]
        horder = np.lexsort((hts, hcodes))
        self._harm_premises = pd.Index(hnames)
        self._harm_code = hcodes.astype(np.int64)[horder]
        self._harm_times = np.unique(hts)
        self._harm_m = np.int64(len(self._harm_times) + 1)
        self._harm_key = self._harm_code * self._harm_m + np.searchsorted(
            self._harm_times, hts[horder]
        )
        reported = pd.Series(hout[horder]).groupby(self._harm_code).cummax()
        self._harm_reported = reported.to_numpy(dtype=np.int64)

    def unsettled(
        self, premises: Sequence[str], before_us: Sequence[int], horizon_us: int
    ) -> np.ndarray:
        """Positions of the calls for which a harmed call at their premise is reported after
        they come in (ts < t <= outcome time), or whose report time, not its call time, is
        within the horizon (ts < t - horizon <= outcome time): `lookup` ranks every harmed call
        as known harm by its call time, which is right for every other call."""
        n = len(premises)
        t = np.asarray(before_us, dtype=np.int64).reshape(n)
        if not len(self._harm_key):
            return np.zeros(0, dtype=np.int64)
        code = self._harm_premises.get_indexer(pd.Index(np.asarray(premises, dtype=object)))
        found = np.zeros(n, dtype=bool)
        for at in (t, t - horizon_us):
            # The last harmed call of the premise before `at`; the latest report among it and
            # those before it is `reported` (a running maximum per premise).
            pos = (
                np.searchsorted(
                    self._harm_key,
                    code * self._harm_m + np.searchsorted(self._harm_times, at),
                    side="left",
                )
                - 1
            )
            ok = (code >= 0) & (pos >= 0)
            pos = np.maximum(pos, 0)
            ok &= self._harm_code[pos] == code
            found |= ok & (self._harm_reported[pos] >= at)
        return np.flatnonzero(found)

    def lookup(
        self, premises: Sequence[str], before_us: Sequence[int], horizon_us: int, limit: int
    ) -> list[list[PremiseIncident]]:
        n = len(premises)
        t = np.asarray(before_us, dtype=np.int64).reshape(n)
        code = self._premises.get_indexer(pd.Index(np.asarray(premises, dtype=object)))
        # Within a run, rows with ts < t start at -ts >= 1 - t; rows with ts >= t - horizon
        # end before -ts >= horizon - t + 1.
        newest = np.searchsorted(self._times, 1 - t)
        oldest = np.searchsorted(self._times, horizon_us - t + 1)
        starts = np.zeros((n, N_INCIDENT_RANKS), dtype=np.int64)
        takes = np.zeros((n, N_INCIDENT_RANKS), dtype=np.int64)
        left = np.where(code >= 0, max(limit, 0), 0).astype(np.int64)
        for r in range(N_INCIDENT_RANKS):
            base = (code.astype(np.int64) * N_INCIDENT_RANKS + r) * self._m
            lo = np.searchsorted(self._key, base + newest)
            hi = np.searchsorted(self._key, base + oldest)
            take = np.minimum(hi - lo, left)
            starts[:, r], takes[:, r] = lo, take
            left -= take
        lengths = takes.ravel()
        total = int(lengths.sum())
        offsets = np.cumsum(lengths) - lengths
        flat = np.arange(total) - np.repeat(offsets, lengths) + np.repeat(starts.ravel(), lengths)
        rows = self._rows[flat].tolist()
        made = self._made
        new = np.array(sorted(set(rows).difference(made)), dtype=np.int64)
        for row, *values in zip(new.tolist(), *(c[new] for c in self._columns), strict=True):
            made[row] = _incident(*values)
        per_call = takes.sum(axis=1).tolist()
        out, at = [], 0
        for k in per_call:
            out.append([made[row] for row in rows[at : at + k]])
            at += k
        return out


def incident_words(incidents: list[PremiseIncident]) -> str:
    """Dated prior incidents in words, e.g. '2025-03-02 assault on an officer (DOMESTIC ...)'."""
    if not incidents:
        return "no dated incidents on record in the history store"
    # Same day, same kind of incident: one entry with a count, so a busy address reads as a
    # short list of dates, not ten copies of one line.
    grouped: dict[tuple[str, str], int] = {}
    for inc in incidents:
        what = []
        if inc.assault:
            what.append("assault on an officer")
        if inc.injury:
            what.append("officer injured")
        if not what and inc.weapon:
            what.append("weapon involved")
        if not what and inc.violent:
            what.append("violent or disturbance call")
        kind = f" ({inc.call_type})" if inc.call_type else ""
        key = (inc.received_at[:10], f"{', '.join(what)}{kind}")
        grouped[key] = grouped.get(key, 0) + 1
    return "; ".join(
        f"{day} {what}" + (f" x{count}" if count > 1 else "")
        for (day, what), count in grouped.items()
    )


def seen_areas(events: pd.DataFrame) -> dict[str, list[str]]:
    """The beats and districts a training history holds (the keys features use), sorted."""
    out = {}
    for kind in ("beat", "district"):
        values = events[kind].dropna().astype(str).unique() if kind in events else []
        out[kind] = sorted(values)
    return out


def _to_us(value: Any) -> int | None:
    if value is None or value == "" or pd.isna(value):
        return None
    return int(np.datetime64(pd.Timestamp(value).to_datetime64(), "us").astype(np.int64))


@dataclass(frozen=True)
class TrainingScope:
    """What the training data covered, read from the model's metadata (see `from_metadata`)."""

    first_us: int | None
    last_us: int | None
    first_day: str
    last_day: str
    areas: Mapping[str, frozenset[str]] | None
    simulated: bool
    outside_days: int

    @classmethod
    def from_metadata(
        cls, metadata: Mapping[str, Any], outside_days: int, history: pd.DataFrame | None = None
    ) -> TrainingScope:
        """`history_from`/`history_until` (first/last training call), `seen_areas` and
        `trained_on_simulated`, written by `train`. A model trained before these existed falls
        back to its history snapshot for the areas and checks only what it can."""
        first, last = metadata.get("history_from"), metadata.get("history_until")
        areas = metadata.get("seen_areas")
        if areas is None and history is not None:
            areas = seen_areas(history)
        return cls(
            first_us=_to_us(first),
            last_us=_to_us(last),
            first_day=str(first or "")[:10],
            last_day=str(last or "")[:10],
            areas=None if areas is None else {k: frozenset(v) for k, v in areas.items()},
            simulated=bool(metadata.get("trained_on_simulated", False)),
            outside_days=outside_days,
        )

    def period_warning(self, ts_us: int) -> str | None:
        day = str(np.datetime64(int(ts_us), "us").astype("datetime64[D]"))
        if self.first_us is not None and ts_us < self.first_us:
            years = (self.first_us - ts_us) / US_PER_DAY / 365.25
            ago = f"{years:.1f} years" if years >= 1 else f"{years * 365.25:.0f} days"
            return vocab.warning(
                vocab.OUTSIDE_TRAINING_PERIOD,
                f"this call ({day}) is {ago} before the model's training data "
                f"({self.first_day} to {self.last_day}); the patterns it learned may not hold",
            )
        if self.last_us is not None:
            after = (ts_us - self.last_us) / US_PER_DAY
            if after > self.outside_days:
                return vocab.warning(
                    vocab.OUTSIDE_TRAINING_PERIOD,
                    f"this call ({day}) is {after:.0f} days after the model's training data "
                    f"ended ({self.last_day}; limit {self.outside_days} days); retrain",
                )
        return None

    def unseen(self, kind: str, key: str | None) -> bool:
        return key is not None and self.areas is not None and key not in self.areas.get(kind, ())


def call_warnings(
    scope: TrainingScope,
    *,
    call_type: Any,
    known_type: bool,
    premise: str | None,
    beat: str | None,
    district: str | None,
    ts_us: int,
    row: Mapping[str, Any],
    decision: str,
) -> list[str]:
    """SPEC §4 warnings for one call, most fundamental first."""
    out = []
    if scope.simulated:
        out.append(
            vocab.warning(
                vocab.SYNTHETIC_MODEL,
                "this model was trained on simulated calls; for demonstration only, "
                "not for dispatch decisions",
            )
        )
    period = scope.period_warning(ts_us)
    if period:
        out.append(period)
    unseen = [
        f"{k} {v!r}" for k, v in (("beat", beat), ("district", district)) if scope.unseen(k, v)
    ]
    if unseen:
        out.append(
            vocab.warning(
                vocab.UNSEEN_AREA,
                f"{' and '.join(unseen)} never seen in training; area patterns are unknown",
            )
        )
    if not known_type:
        out.append(
            vocab.warning(
                vocab.UNKNOWN_CALL_TYPE,
                f"{call_type!r} was rare or unseen in training; it is scored as OTHER",
            )
        )
    for kind, name in AREA_OUTCOMES:
        key = district if kind == "district" else beat
        if key is None:
            continue
        value = row.get(name)
        if value is not None and float(value) == 0.0:
            out.append(
                vocab.warning(
                    vocab.NO_OUTCOME_HISTORY,
                    f"the history holds no recorded assault on an officer in {kind} {key!r} "
                    "in the past 365 days; outcome counts read zero, which may mean no "
                    "outcomes were loaded",
                )
            )
        break  # the widest area given decides
    if premise is None:
        out.append(
            vocab.warning(
                vocab.NO_PREMISE_HISTORY, "no address or coordinates, premise history unused"
            )
        )
    missing = [k for k, v in (("beat", beat), ("district", district)) if v is None]
    if missing:
        out.append(
            vocab.warning(
                vocab.NO_AREA_HISTORY,
                f"no {' or '.join(missing)} given, {' and '.join(missing)} history unused",
            )
        )
    if decision == "cant_tell":
        out.append(
            vocab.warning(
                vocab.CANT_TELL,
                "the data cannot separate high from low risk for this call; "
                "rely on the call facts",
            )
        )
    return out


def plain(value: Any) -> Any:
    """A value as plain Python: numpy scalars unwrapped, NaN and pd.NA as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return value


def plain_column(values: Any) -> list[Any]:
    """A column as Python values, NaN as None (one `tolist`, not a call per cell)."""
    arr = values.to_numpy() if isinstance(values, pd.Series) else np.asarray(values)
    if arr.dtype.kind == "f":
        return [None if v != v else v for v in arr.tolist()]
    if arr.dtype.kind in "iub":
        return arr.tolist()
    return [plain(v) for v in arr.tolist()]


def warning_codes(warnings: Iterable[str]) -> list[str]:
    return [vocab.warning_code(w) for w in warnings]
