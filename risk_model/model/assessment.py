"""One typed assessment of a call, and what the model knows about the limits of its own data.

`Assessment` is what every caller gets: `risk-model score`, the MLflow pyfunc and the live
service all receive it from `CallRiskModel.assess_features`, so they agree by construction.
`TrainingScope` holds the facts behind the honest warnings (SPEC §4): when the training data
starts and ends, which beats and districts it saw, whether it was simulated. `PremiseHistory`
is the one thing assessment needs from a history: dated prior incidents at a premise, which
precautions quote; the live history store and the offline events frame both provide it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from risk_model import vocab
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
    offline scoring: the same incidents, in the same order, as the live store's query."""

    def __init__(self, events: pd.DataFrame, horizon_days: int) -> None:
        ev = events[events["premise"].notna()]
        flagged = (ev["violent"] > 0) | (ev["weapon"] > 0) | (ev["assault"] > 0)
        ev = ev[flagged | (ev["injury"] > 0)]
        self._by_premise = {str(k): g for k, g in ev.groupby("premise", sort=False)}
        self.horizon_us = horizon_days * US_PER_DAY

    def premise_incidents(
        self, premise: str, before_us: int, limit: int = 10
    ) -> list[PremiseIncident]:
        g = self._by_premise.get(premise)
        if g is None:
            return []
        ts = g["ts"].to_numpy(dtype=np.int64)
        g = g[(ts >= before_us - self.horizon_us) & (ts < before_us)]
        harm = (g["assault"] > 0) | (g["injury"] > 0)
        rank = np.where(harm, 0, np.where(g["weapon"] > 0, 1, 2))
        g = g.assign(_rank=rank).sort_values(["_rank", "ts"], ascending=[True, False])
        out = []
        for r in g.head(limit).itertuples(index=False):
            exact = int(r.received_us) == int(r.ts)
            when = np.datetime64(int(r.ts if exact else r.received_us), "us")
            out.append(
                PremiseIncident(
                    call_id=str(r.call_id),
                    received_at=str(when.astype("datetime64[s]" if exact else "datetime64[D]")),
                    call_type=None if pd.isna(r.call_type) else str(r.call_type),
                    violent=bool(r.violent),
                    weapon=bool(r.weapon),
                    assault=bool(r.assault),
                    injury=bool(r.injury),
                )
            )
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
