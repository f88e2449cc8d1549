"""Live monitoring: is the served model still right? (`risk-model monitor`, docs/monitoring.md)

Joins the audit log (every scored call: score, decision, model, and in the compact record the
features and warnings) with the history store (the outcomes `POST /ingest` brings days later) and
reports, per model version over the last N days: observed vs predicted harm rate, AUC and PR-AUC,
conformal coverage per class, decision shares against the training test window, warning shares
(overall and by district), population stability (PSI) of the score and every feature against a
reference saved with the model, and a verdict `ok | watch | retrain` with its reasons in words.

Both databases are opened read-only (SQLite URI `mode=ro`): the monitor never writes to the
service's files, and can run while the service is serving. The summary columns of the audit log
are read with one SQL query; the compressed records (features, warnings) are decoded for a
seeded sample only, since decoding is the expensive part.

Statistics are plain functions of arrays (`wilson`, `psi`, `auc`, `average_precision`,
`bootstrap_ranking`, `verdict_for`) so the rules are tested on small inline data.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from risk_model.config import MonitorConfig
from risk_model.errors import UserError
from risk_model.model.reference import REFERENCE_JSON, psi_against
from risk_model.service import audit_codec
from risk_model.vocab import (
    DECISIONS,
    OUTSIDE_TRAINING_PERIOD,
    SUMMARY_JSON,
    UNKNOWN_CALL_TYPE,
    UNSEEN_AREA,
    warning_code,
)

log = logging.getLogger(__name__)

PREMISE_CAUTION = "premise_caution"  # the precaution that shares a premise's history
# `stale_model` is what the live assessor says today for a call long after the training data;
# `outside_training_period` is the SPEC's code for it: both are watched.
STALE_MODEL = "stale_model"
WATCHED_WARNINGS = (UNKNOWN_CALL_TYPE, UNSEEN_AREA, OUTSIDE_TRAINING_PERIOD, STALE_MODEL)
SEVERITY = {"ok": 0, "watch": 1, "retrain": 2}
Z95 = 1.959963984540054


# ----------------------------------------------------------------------------- statistics


def wilson(k: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n (NaNs for n = 0).

    Preferred to the normal interval because harm is rare: at 1% with a few hundred outcomes the
    normal interval runs below zero, Wilson's does not.
    """
    if n <= 0:
        return (math.nan, math.nan)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def _tie_groups(score: np.ndarray) -> tuple[np.ndarray, int]:
    """Group index of each score, in ascending score order (tied scores share a group)."""
    _, inverse = np.unique(score, return_inverse=True)
    return inverse, int(inverse.max()) + 1 if len(inverse) else 0


def _auc_from_groups(
    group: np.ndarray, n_groups: int, y: np.ndarray, w: np.ndarray
) -> tuple[float, float]:
    """Weighted (AUC, average precision) with tied scores grouped (ties count half)."""
    pos = np.bincount(group, weights=w * y, minlength=n_groups)
    neg = np.bincount(group, weights=w * (1 - y), minlength=n_groups)
    wp, wn = pos.sum(), neg.sum()
    if wp <= 0 or wn <= 0:
        return (math.nan, math.nan)
    below = np.cumsum(neg) - neg
    auc_value = float(np.sum(pos * (below + 0.5 * neg)) / (wp * wn))
    # Average precision: descending score, precision at each group where positives are found.
    pos_d, all_d = pos[::-1], (pos + neg)[::-1]
    tp, seen = np.cumsum(pos_d), np.cumsum(all_d)
    hit = pos_d > 0
    ap = float(np.sum(pos_d[hit] / wp * (tp[hit] / seen[hit])))
    return auc_value, ap


def auc(score: np.ndarray, y: np.ndarray) -> float:
    """ROC AUC (Mann-Whitney, ties count half); NaN when one class is absent."""
    group, n = _tie_groups(np.asarray(score, dtype=float))
    y = np.asarray(y, dtype=float)
    return _auc_from_groups(group, n, y, np.ones(len(y)))[0]


def average_precision(score: np.ndarray, y: np.ndarray) -> float:
    """PR-AUC as average precision (precision at each positive, tied scores together)."""
    group, n = _tie_groups(np.asarray(score, dtype=float))
    y = np.asarray(y, dtype=float)
    return _auc_from_groups(group, n, y, np.ones(len(y)))[1]


def bootstrap_ranking(
    score: np.ndarray, y: np.ndarray, reps: int, seed: int = 0
) -> dict[str, list[float]]:
    """95% Poisson-bootstrap intervals of AUC and PR-AUC.

    The scores are sorted once; each replicate only redraws weights, so 100 replicates over a
    million calls take seconds, not minutes.
    """
    group, n = _tie_groups(np.asarray(score, dtype=float))
    y = np.asarray(y, dtype=float)
    rng = np.random.default_rng(seed)
    aucs, aps = [], []
    for _ in range(reps):
        w = rng.poisson(1.0, len(y)).astype(float)
        a, p = _auc_from_groups(group, n, y, w)
        if not math.isnan(a):
            aucs.append(a)
            aps.append(p)
    if not aucs:
        return {}
    return {
        "auc": [float(np.quantile(aucs, 0.025)), float(np.quantile(aucs, 0.975))],
        "pr_auc": [float(np.quantile(aps, 0.025)), float(np.quantile(aps, 0.975))],
    }


# ----------------------------------------------------------------------------- reading


def _readonly(path: Path, what: str) -> sqlite3.Connection:
    if not path.is_file():
        raise UserError(f"no {what} at {path}: pass its path with --{what.split()[0]}-db")
    try:
        con = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True)
        con.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.DatabaseError as exc:
        raise UserError(f"{what} {path} cannot be read: {exc}") from None
    return con


@dataclass
class Scored:
    """The audited calls of the window with their outcomes (NaN: not known yet)."""

    row_id: np.ndarray
    call_id: np.ndarray
    received: np.ndarray  # seconds on the agency's wall clock
    score: np.ndarray
    decision: np.ndarray
    district: np.ndarray
    model: np.ndarray
    outcome: np.ndarray  # 1.0 harmed, 0.0 not, NaN not in the history store
    premise: np.ndarray  # the history store's premise key (None: not there, or no location)


_SCORED_COLUMNS = "a.id, a.call_id, a.received, a.score, a.decision, a.district, a.model"


def read_scored(
    audit_db: Path, history_db: Path, days: int, target: str = "harmed"
) -> tuple[Scored, dict[str, Any]]:
    """The latest assessment per call received in the last `days` days of the log, joined to
    the history store's outcomes (one read-only SQL query over both files).

    A damaged log (a corrupt page, a record with impossible values) does not stop the monitor:
    the readable records are used, the others are counted in `window["damaged_records"]`.
    """
    con = _readonly(audit_db, "audit log")
    _readonly(history_db, "history store").close()
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise UserError(f"audit log {audit_db} is damaged beyond reading: {exc}") from None
    if "audit_entry" not in tables:
        raise UserError(f"audit log {audit_db} has no audit_entry table: is it the service's log?")
    con.execute("ATTACH DATABASE ? AS h", (f"file:{history_db.resolve()}?mode=ro",))
    hist = {r[0] for r in con.execute("SELECT name FROM h.sqlite_master WHERE type = 'table'")}
    if "calls" not in hist:
        raise UserError(f"history store {history_db} has no calls table: is it the service's?")
    outcome = {"harmed": "(c.assault | c.injury)", "assaulted": "c.assault", "injured": "c.injury"}
    try:
        newest = con.execute("SELECT MAX(received) FROM audit_entry WHERE latest = 1").fetchone()[
            0
        ]
        if newest is None:
            raise UserError(f"audit log {audit_db} is empty: no call has been scored yet")
        since = int(newest) - days * 86400
        rows = con.execute(
            f"SELECT {_SCORED_COLUMNS}, {outcome[target]}, c.premise "
            "FROM audit_entry a INDEXED BY audit_by_time "
            "LEFT JOIN h.calls c ON c.call_id = a.call_id "
            "WHERE a.latest = 1 AND a.received >= ?",
            (since,),
        ).fetchall()
        values = dict(con.execute("SELECT id, value FROM audit_value").fetchall())
        lost = 0
    except sqlite3.DatabaseError as exc:
        log.warning("audit log %s is damaged (%s): reading what can be read", audit_db, exc)
        rows, values, lost, newest = _salvage_scored(con, audit_db, days, outcome[target])
        since = int(newest) - days * 86400
    con.close()
    rows, bad = _valid_scored(rows, values)
    damaged = lost + bad
    if damaged:
        log.warning(
            "audit log %s: %d damaged records skipped (%d unreadable, %d with impossible values)",
            audit_db,
            damaged,
            lost,
            bad,
        )
    if not rows:
        raise UserError(
            f"audit log {audit_db} has no readable record in the window ({damaged} damaged)"
        )
    cols = list(zip(*rows, strict=True))

    def named(ids: Any) -> np.ndarray:
        return np.array([values.get(i) for i in ids], dtype=object)

    scored = Scored(
        row_id=np.asarray(cols[0], dtype=np.int64),
        call_id=np.asarray(cols[1], dtype=object),
        received=np.asarray(cols[2], dtype=np.int64),
        score=np.asarray(cols[3], dtype=float),
        decision=named(cols[4]),
        district=named(cols[5]),
        model=named(cols[6]),
        outcome=np.array([math.nan if v is None else float(v) for v in cols[7]], dtype=float),
        premise=np.asarray(cols[8], dtype=object),
    )
    window = {
        "from": audit_codec.from_seconds(since),
        "to": audit_codec.from_seconds(int(newest)),
        "days": days,
        "damaged_records": damaged,
    }
    return scored, window


def _valid_scored(rows: list[tuple], values: dict[int, Any]) -> tuple[list[tuple], int]:
    """Rows whose summary columns make sense (a score in [0, 1], a time, a model named
    ["name", "version"]); the count of the others."""
    models: dict[Any, bool] = {}  # a few model ids for a whole log: each checked once

    def named_model(id_: Any) -> bool:
        if id_ not in models:
            try:
                value = json.loads(values.get(id_))  # type: ignore[arg-type]
                models[id_] = isinstance(value, list) and len(value) == 2
            except (TypeError, ValueError):
                models[id_] = False
        return models[id_]

    good, bad = [], 0
    for r in rows:
        score, received = r[3], r[2]
        if (
            isinstance(received, int)
            and isinstance(score, int | float)
            and 0.0 <= score <= 1.0
            and named_model(r[6])
        ):
            good.append(r)
        else:
            bad += 1
    return good, bad


def _salvage(
    con: sqlite3.Connection, table: str, columns: str, span: int
) -> tuple[list[tuple], int]:
    """Every row of `table` that can still be read, by rowid ranges split in halves around
    damaged pages; and how many rowids could not be read (`span`: rowids to try when the
    table's largest rowid itself is unreadable)."""
    try:
        top = con.execute(f"SELECT MAX(rowid) FROM {table}").fetchone()[0] or 0
    except sqlite3.DatabaseError:
        top = span
    rows: list[tuple] = []
    lost = 0
    todo = [(1, int(top))]
    while todo:
        lo, hi = todo.pop()
        try:
            rows += con.execute(
                f"SELECT {columns} FROM {table} WHERE rowid BETWEEN ? AND ?", (lo, hi)
            ).fetchall()
        except sqlite3.DatabaseError:
            if lo == hi:
                lost += 1
            else:
                mid = (lo + hi) // 2
                todo += [(lo, mid), (mid + 1, hi)]
    return rows, lost


def _salvage_scored(
    con: sqlite3.Connection, audit_db: Path, days: int, outcome: str
) -> tuple[list[tuple], dict[int, Any], int, int]:
    """read_scored's rows from a damaged log: (rows, values, unreadable records, newest)."""
    pages = con.execute("PRAGMA page_count").fetchone()[0]
    entries, lost = _salvage(
        con,
        "audit_entry",
        "id, call_id, received, score, decision, district, model, latest",
        span=pages * 64,
    )
    if entries:  # record ids are dense: ids missing between the first and last were lost
        ids = [e[0] for e in entries]
        lost = max(lost, max(ids) - min(ids) + 1 - len(ids))
    pairs, _ = _salvage(con, "audit_value", "id, value", span=pages * 64)
    values = dict(pairs)
    latest = [e for e in entries if e[7] == 1 and isinstance(e[2], int)]
    if not latest:
        raise UserError(f"audit log {audit_db} is damaged: no readable record ({lost} lost)")
    newest = max(e[2] for e in latest)
    since = newest - days * 86400
    window = [e[:7] for e in latest if e[2] >= since]
    known: dict[str, tuple[Any, Any]] = {}
    ids = sorted({str(e[1]) for e in window})
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        marks = ",".join("?" * len(chunk))
        for cid, harm, premise in con.execute(
            f"SELECT c.call_id, {outcome}, c.premise FROM h.calls c WHERE c.call_id IN ({marks})",
            chunk,
        ):
            known[cid] = (harm, premise)
    rows = [(*e, *known.get(str(e[1]), (None, None))) for e in window]
    return rows, values, lost, newest


class _RecordReader:
    """Decodes the features and warnings of audit records (read-only; audit_codec's format)."""

    def __init__(self, audit_db: Path) -> None:
        self.con = _readonly(audit_db, "audit log")
        span = self.con.execute("PRAGMA page_count").fetchone()[0] * 64
        self.values = dict(_salvage(self.con, "audit_value", "id, value", span)[0])
        self.zdicts = {
            i: bytes(d) for i, d in _salvage(self.con, "audit_zdict", "id, data", span)[0]
        }
        self._keys: dict[int, tuple[str, ...]] = {}
        self.damaged = 0  # records of the sample that could not be decoded

    def keys(self, id_: int) -> tuple[str, ...]:
        if id_ not in self._keys:
            self._keys[id_] = tuple(json.loads(self.values.get(id_) or "[]"))
        return self._keys[id_]

    def _field(self, packed: Any, name: str) -> Any:
        """One field of a packed dict, unpacking only that field."""
        if isinstance(packed, dict) and len(packed) == 1:
            ((tag, inner),) = packed.items()
            if tag in ("", "f") and isinstance(inner, list) and inner:
                names = self.keys(inner[0])
                if name not in names:
                    return None
                return inner[1 + names.index(name)]
        return packed.get(name) if isinstance(packed, dict) else None

    def _records(self, chunk: list[int]) -> dict[int, Any]:
        """id -> record blob for the ids that can be read (one by one around damaged pages)."""
        marks = ",".join("?" * len(chunk))
        sql = "SELECT id, record FROM audit_entry WHERE id IN ({})"
        try:
            return dict(self.con.execute(sql.format(marks), chunk).fetchall())
        except sqlite3.DatabaseError:
            got: dict[int, Any] = {}
            for i in chunk:
                with contextlib.suppress(sqlite3.DatabaseError):
                    got.update(self.con.execute(sql.format("?"), (i,)).fetchall())
            return got

    def _decode(self, blob: Any) -> tuple[dict[str, Any], list[str], tuple[str, ...]]:
        blob = bytes(blob)
        _, zid = audit_codec.header(blob)
        data = orjson.loads(audit_codec.decode_json(blob, self.zdicts.get(zid)))
        f = self._field(data, "features")
        feats = audit_codec.unpack(f, self.keys) if f is not None else {}
        a = self._field(data, "assessment")
        w = self._field(a, "warnings") if a is not None else None
        programs = self._field(data, "precaution_programs")
        if not isinstance(feats, dict):
            raise ValueError("features are not a mapping")
        return (
            feats,
            [warning_code(str(t)) for t in (w or [])],
            tuple(audit_codec.unpack(programs, self.keys)) if programs else (),
        )

    def read(
        self, row_ids: np.ndarray
    ) -> tuple[list[dict[str, Any]], list[list[str]], list[tuple[str, ...]], np.ndarray]:
        """Features, warning codes and precaution ids of each record that can be decoded, and
        which of `row_ids` those are (a damaged record is skipped and counted in `damaged`)."""
        feats, warns, precautions, ok = [], [], [], []
        for start in range(0, len(row_ids), 900):
            chunk = [int(i) for i in row_ids[start : start + 900]]
            got = self._records(chunk)
            for i in chunk:
                try:
                    f, w, p = self._decode(got[i])
                except Exception:  # any damage: unreadable page, bad header, bad JSON
                    self.damaged += 1
                    ok.append(False)
                    continue
                feats.append(f)
                warns.append(w)
                precautions.append(p)
                ok.append(True)
        return feats, warns, precautions, np.array(ok, dtype=bool)


# ----------------------------------------------------------------------------- artifacts


def _run_artifacts(model_name: str, version: str, uri: str | None) -> dict[str, Any]:
    """summary.json and monitor_reference.json of the run behind a model version (each None
    when it cannot be found, with the reason)."""
    out: dict[str, Any] = {"summary": None, "reference": None, "why": {}}
    try:
        import mlflow.artifacts
        from mlflow.exceptions import MlflowException

        from risk_model.model import tracking

        tracking.configure()
        target = uri or (f"models:/{model_name}/{version}" if version.isdigit() else None)
        if target is None:
            out["why"]["run"] = f"model version {version!r} is not in the registry"
            return out
        run_id = tracking.resolve(target).run_id
        if run_id is None:
            out["why"]["run"] = f"no MLflow run found for {target}"
            return out
        out["run_id"] = run_id
        with tempfile.TemporaryDirectory() as tmp:
            for key, name in (("summary", SUMMARY_JSON), ("reference", REFERENCE_JSON)):
                try:
                    path = mlflow.artifacts.download_artifacts(
                        run_id=run_id, artifact_path=name, dst_path=tmp
                    )
                    out[key] = json.loads(Path(path).read_text(encoding="utf-8"))
                except (MlflowException, OSError, ValueError) as exc:
                    out["why"][key] = f"run {run_id} has no readable {name} ({type(exc).__name__})"
    except UserError as exc:
        out["why"]["run"] = str(exc)
    return out


# ----------------------------------------------------------------------------- the report


def _rate_block(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    n = len(y)
    k = float(y.sum())
    lo, hi = wilson(k, n)
    pred = float(p.mean()) if n else math.nan
    return {
        "outcomes_known": int(n),
        "harmed": int(k),
        "observed_rate": k / n if n else None,
        "observed_ci": [lo, hi] if n else None,
        "predicted_rate": pred if n else None,
        "predicted_within_ci": bool(lo <= pred <= hi) if n else None,
        "ratio": (k / n) / pred if n and pred > 0 else None,
    }


def _warning_shares(codes: list[list[str]]) -> dict[str, float]:
    n = len(codes)
    return {c: (sum(c in w for w in codes) / n if n else 0.0) for c in WATCHED_WARNINGS}


def evaluate_version(
    s: Scored,
    mask: np.ndarray,
    cfg: MonitorConfig,
    alpha: float,
    summary: dict[str, Any] | None,
    sample_feats: pd.DataFrame | None,
    sample_warns: list[list[str]] | None,
    sample_district: np.ndarray | None,
    reference: dict[str, Any] | None,
    why: dict[str, str],
    seed: int = 0,
) -> dict[str, Any]:
    """Every figure for one model version's calls (`mask` selects them)."""
    known = mask & ~np.isnan(s.outcome)
    y, p = s.outcome[known], s.score[known]
    out: dict[str, Any] = {
        "calls_scored": int(mask.sum()),
        "outcomes_known": int(known.sum()),
        "outcomes_not_yet_known": int(mask.sum() - known.sum()),
    }
    out["calibration"] = _rate_block(y, p)
    out["observed_rate"] = out["calibration"]["observed_rate"]
    out["predicted_rate"] = out["calibration"]["predicted_rate"]
    out["score_mean_all"] = float(s.score[mask].mean()) if mask.any() else None
    # Ranking.
    positives = int(y.sum())
    ranking: dict[str, Any] = {"positives": positives}
    if positives >= cfg.min_positives and positives < len(y):
        ranking["auc"] = auc(p, y)
        ranking["pr_auc"] = average_precision(p, y)
        ranking["ci"] = bootstrap_ranking(p, y, cfg.bootstrap, seed)
    else:
        ranking["skipped"] = (
            f"only {positives} harmed calls with known outcomes (need {cfg.min_positives})"
        )
    train_m = ((summary or {}).get("metrics") or {}).get("model") or {}
    ranking["training_auc"] = train_m.get("auc")
    ranking["training_pr_auc"] = train_m.get("pr_auc")
    out["ranking"] = ranking
    # Conformal coverage per class: "cant_tell" is taken as the set {high, low}.
    dec = s.decision[known]
    target = 1 - alpha
    cov = {"target": target, "alpha": alpha}
    for cls, label, in_set in (
        ("high", 1.0, ("high", "cant_tell")),
        ("low", 0.0, ("low", "cant_tell")),
    ):
        of = y == label
        n = int(of.sum())
        k = int(np.isin(dec[of], in_set).sum())
        lo, hi = wilson(k, n)
        cov[cls] = {"calls": n, "coverage": k / n if n else None, "ci": [lo, hi] if n else None}
    out["coverage"] = cov
    # Decision shares.
    d_all = s.decision[mask]
    shares = {d: float(np.mean(d_all == d)) if len(d_all) else 0.0 for d in DECISIONS}
    out["decisions"] = {
        "live": shares,
        "training": {d: train_m.get(f"share_{d}") for d in shares} if train_m else None,
    }
    if not train_m:
        out["decisions"]["why_no_training"] = why.get("summary") or why.get("run", "no summary")
    # Warnings and districts (decoded sample).
    if sample_warns is not None:
        out["warnings"] = _warning_shares(sample_warns)
        by_d: dict[str, Any] = {}
        d_known = s.district[known]
        for d in sorted({str(x) for x in s.district[mask] if x is not None}):
            m = d_known == d
            block = _rate_block(y[m], p[m])
            ws = [w for w, dd in zip(sample_warns, sample_district, strict=True) if dd == d]
            block["calls_scored"] = int(np.sum(s.district[mask] == d))
            block["warnings"] = _warning_shares(ws)
            block["warnings_sample"] = len(ws)
            by_d[d] = block
        out["by_district"] = by_d
    # Population stability.
    if reference is None:
        out["psi"] = {"skipped": why.get("reference") or why.get("run", "no reference saved")}
    elif sample_feats is not None:
        out["psi"] = psi_against(reference, s.score[mask], sample_feats)
    out["verdict"], out["reasons"] = verdict_for(out, cfg)
    return out


def verdict_for(fig: dict[str, Any], cfg: MonitorConfig) -> tuple[str, list[str]]:
    """ok | watch | retrain from one version's figures, with each reason in words.

    The worst finding wins. Each rule and threshold is documented in docs/monitoring.md.
    """
    found: list[tuple[str, str]] = []
    cal = fig.get("calibration") or {}
    n = cal.get("outcomes_known") or 0
    if n >= cfg.min_outcomes and cal.get("predicted_within_ci") is False:
        ratio = cal["ratio"] or 0.0
        lo, hi = cal["observed_ci"]
        level = (
            "retrain" if ratio >= cfg.ratio_retrain or ratio <= 1 / cfg.ratio_retrain else "watch"
        )
        found.append(
            (
                level,
                f"calibration: observed harm rate {cal['observed_rate']:.2%} "
                f"(95% CI {lo:.2%}-{hi:.2%}) vs predicted {cal['predicted_rate']:.2%}, "
                f"{ratio:.2f}x ({n:,} outcomes)",
            )
        )
    rk = fig.get("ranking") or {}
    if "auc" in rk and rk.get("training_auc") is not None:
        drop = rk["training_auc"] - rk["auc"]
        hi = (rk.get("ci") or {}).get("auc", [rk["auc"]] * 2)[1]
        if drop > cfg.auc_drop:
            level = "retrain" if hi < rk["training_auc"] - cfg.auc_drop else "watch"
            found.append(
                (
                    level,
                    f"ranking: AUC {rk['auc']:.3f} vs {rk['training_auc']:.3f} on the training "
                    f"test window (drop {drop:.3f} > {cfg.auc_drop})",
                )
            )
    cov = fig.get("coverage") or {}
    for cls in ("high", "low"):
        c = cov.get(cls) or {}
        if (
            c.get("calls", 0) >= cfg.min_class_calls
            and c.get("coverage") is not None
            and c["ci"][1] < cov["target"] - cfg.coverage_tolerance
        ):
            found.append(
                (
                    "watch",
                    f"conformal: {cls}-class coverage {c['coverage']:.1%} (95% CI up to "
                    f"{c['ci'][1]:.1%}) below the target {cov['target']:.0%}",
                )
            )
    dec = fig.get("decisions") or {}
    if dec.get("training"):
        for d, live in dec["live"].items():
            ref = dec["training"].get(d)
            if ref is not None and abs(live - ref) > cfg.decision_shift:
                found.append(
                    (
                        "watch",
                        f"decisions: '{d}' share {live:.1%} vs {ref:.1%} on the training test "
                        f"window (more than {cfg.decision_shift:.0%} apart)",
                    )
                )
    for code, share in (fig.get("warnings") or {}).items():
        if share > cfg.warning_retrain:
            found.append(("retrain", f"warnings: {share:.1%} of calls carry {code}"))
        elif share > cfg.warning_watch:
            found.append(("watch", f"warnings: {share:.1%} of calls carry {code}"))
    for d, b in (fig.get("by_district") or {}).items():
        if (
            (b.get("outcomes_known") or 0) >= cfg.min_outcomes
            and b.get("predicted_within_ci") is False
            and b.get("ratio") is not None
            and (b["ratio"] >= cfg.ratio_retrain or b["ratio"] <= 1 / cfg.ratio_retrain)
        ):
            found.append(
                (
                    "watch",
                    f"district {d}: observed harm rate {b['observed_rate']:.2%} vs predicted "
                    f"{b['predicted_rate']:.2%} ({b['ratio']:.2f}x)",
                )
            )
        for code, share in (b.get("warnings") or {}).items():
            if b.get("warnings_sample", 0) >= cfg.min_class_calls and share > cfg.warning_retrain:
                found.append(("watch", f"district {d}: {share:.1%} of calls carry {code}"))
    ps = fig.get("psi") or {}
    if "score" in ps:
        if ps["score"] > cfg.psi_retrain:
            found.append(("retrain", f"drift: score PSI {ps['score']:.3f} > {cfg.psi_retrain}"))
        elif ps["score"] > cfg.psi_watch:
            found.append(("watch", f"drift: score PSI {ps['score']:.3f} > {cfg.psi_watch}"))
        drifted = [f"{k} ({v:.2f})" for k, v in ps["features"].items() if v > cfg.psi_retrain]
        if drifted:
            found.append(
                (
                    "watch",
                    f"drift: features with PSI > {cfg.psi_retrain}: " + ", ".join(drifted[:8]),
                )
            )
    if not found:
        return "ok", ["no check crossed its threshold"]
    worst = max((lvl for lvl, _ in found), key=SEVERITY.__getitem__)
    found.sort(key=lambda f: -SEVERITY[f[0]])
    return worst, [f"{lvl}: {text}" for lvl, text in found]


def monitor(
    audit_db: Path | str,
    history_db: Path | str,
    days: int = 30,
    model_uri: str | None = None,
    cfg: MonitorConfig | None = None,
    target: str = "harmed",
    fetch: bool = True,
    artifacts: dict[str, Any] | None = None,
    log_experiment: str | None = None,
) -> dict[str, Any]:
    """The whole report (SPEC §3 `monitor --json`): per model version and overall verdict.

    `artifacts` ({"summary": ..., "reference": ...}) replaces the run's artifacts for every
    version (benchmarks, tests without MLflow); `fetch=False` reads none. With
    `log_experiment`, the run is logged to that MLflow experiment (`log_to_mlflow`).
    """
    cfg = cfg or MonitorConfig()
    if days < 1:
        raise UserError("--days must be at least 1")
    s, window = read_scored(Path(audit_db), Path(history_db), days, target)
    pinned = None
    if model_uri:
        from risk_model.model import tracking

        tracking.configure()
        pinned = tracking.resolve(model_uri)
    rng = np.random.default_rng(cfg.seed)
    n = len(s.score)
    sample = np.sort(rng.choice(n, min(n, cfg.decode_sample), replace=False))
    reader = _RecordReader(Path(audit_db))
    feats_rows, warns, precautions, decoded = reader.read(s.row_id[sample])
    reader.con.close()
    sample = sample[decoded]  # the damaged records of the sample are left out
    damaged = window["damaged_records"] + reader.damaged
    window["damaged_records"] = damaged
    sample_frame = pd.DataFrame.from_records(feats_rows) if feats_rows else pd.DataFrame()
    versions: dict[str, Any] = {}
    for model in sorted({str(m) for m in s.model}):
        name, version = json.loads(model)
        key = f"{name}/{version}"
        if pinned is not None and (name, version) != (pinned.name, pinned.version):
            continue
        mask = s.model == model
        if artifacts is not None:
            art = {"why": {"run": "artifacts given by the caller"}, **artifacts}
        elif fetch:
            art = _run_artifacts(name, version, pinned.uri if pinned else None)
        else:
            art = {"summary": None, "reference": None, "why": {"run": "artifacts not fetched"}}
        summary = art["summary"]
        alpha = float((summary or {}).get("conformal_alpha") or cfg.default_alpha)
        in_sample = mask[sample]
        fig = evaluate_version(
            s,
            mask,
            cfg,
            alpha,
            summary,
            sample_frame[in_sample].reset_index(drop=True) if len(sample_frame) else None,
            [w for w, keep in zip(warns, in_sample, strict=True) if keep],
            s.district[sample][in_sample],
            art["reference"],
            art["why"],
            seed=cfg.seed,
        )
        fig["run_id"] = art.get("run_id")
        versions[key] = fig
    if not versions:
        raise UserError(
            f"no call in the last {days} days was scored by {model_uri} "
            f"(models in the log: {', '.join(sorted({str(m) for m in s.model}))})"
        )
    # The version that scored the most calls is the headline (usually the champion).
    main = max(versions, key=lambda k: versions[k]["calls_scored"])
    head = versions[main]
    verdict = max((v["verdict"] for v in versions.values()), key=SEVERITY.__getitem__)
    reasons = [
        f"{k}: {r}" if len(versions) > 1 else r
        for k, v in versions.items()
        for r in v["reasons"]
        if v["verdict"] != "ok" or len(versions) == 1
    ] or ["no check crossed its threshold"]
    report = {
        "verdict": verdict,
        "reasons": reasons,
        "model": main,
        "calls_scored": int(sum(v["calls_scored"] for v in versions.values())),
        "outcomes_known": int(sum(v["outcomes_known"] for v in versions.values())),
        "observed_rate": head["observed_rate"],
        "predicted_rate": head["predicted_rate"],
        "window": window,
        "target": target,
        "decoded_sample": len(sample),
        "damaged_records": damaged,
        "notes": [
            f"features and warnings are read from a seeded sample of {len(sample):,} of "
            f"{n:,} audit records (PSI, warning shares); every other figure uses all of them",
            "an outcome is 'known' when the call is in the history store (POST /ingest); "
            "the store does not mark calls ingested before their outcome, so ingest outcomes "
            "before monitoring them",
            "conformal coverage counts a 'cant_tell' decision as the set {high, low}",
            "feedback loop: premises flagged by a high decision (every call) or a "
            f"{PREMISE_CAUTION} precaution (decoded sample only); reported, not in the verdict",
        ],
        "versions": versions,
    }
    if damaged:
        report["notes"].insert(
            0,
            f"{damaged:,} damaged audit records were skipped (unreadable pages or records); "
            "every figure uses the readable ones",
        )
    flagged = s.decision == "high"
    caution = np.array([PREMISE_CAUTION in p for p in precautions], dtype=bool)
    flagged[sample[caution]] = True
    report["feedback_loop"] = feedback_loop(
        Path(history_db), s.premise, s.received, flagged, cfg.feedback_days, cfg.seed
    )
    daily = daily_figures(s)
    # The daily trend travels with the report (the review page's Live view draws it).
    report["daily"] = [
        {"day": str(np.datetime64(int(r["day"]), "D")), **{k: r[k] for k in DAILY_KEYS}}
        for r in daily.to_dict("records")
    ]
    report = _finite(report)
    if log_experiment:
        report["mlflow_run_id"] = log_to_mlflow(report, daily, log_experiment)
    return report


DAILY_KEYS = ("calls_scored", "outcomes_known", "observed_rate", "predicted_rate")


def _finite(value: Any) -> Any:
    """The report with NaN / infinity as None and numpy scalars as Python numbers, so `--json`
    prints valid JSON (Python's json writes NaN, which JSON does not have)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def render_text(report: dict[str, Any]) -> str:
    """A plain-text report for a terminal or a cron mail."""

    def pct(v: Any) -> str:
        return "-" if v is None else f"{v:.2%}"

    w = report["window"]
    lines = [
        f"verdict: {report['verdict'].upper()}",
        *[f"  - {r}" for r in report["reasons"]],
        f"window: {w['from']} .. {w['to']} ({w['days']} days); target {report['target']}",
    ]
    for key, v in report["versions"].items():
        cal = v["calibration"]
        lines.append(f"\nmodel {key} (run {v.get('run_id') or '?'}): verdict {v['verdict']}")
        lines.append(
            f"  calls scored {v['calls_scored']:,}; outcomes known {v['outcomes_known']:,}; "
            f"not yet known {v['outcomes_not_yet_known']:,}"
        )
        if cal["outcomes_known"]:
            lo, hi = cal["observed_ci"]
            lines.append(
                f"  observed harm rate {pct(cal['observed_rate'])} (95% CI {pct(lo)}-{pct(hi)});"
                f" predicted {pct(cal['predicted_rate'])}; "
                f"{'within' if cal['predicted_within_ci'] else 'OUTSIDE'} the interval"
            )
        rk = v["ranking"]
        if "auc" in rk:
            ci = rk.get("ci") or {}
            a, p = ci.get("auc", [math.nan] * 2), ci.get("pr_auc", [math.nan] * 2)
            lines.append(
                f"  AUC {rk['auc']:.3f} ({a[0]:.3f}-{a[1]:.3f}); PR-AUC {rk['pr_auc']:.3f} "
                f"({p[0]:.3f}-{p[1]:.3f}); training test window AUC "
                f"{'-' if rk.get('training_auc') is None else format(rk['training_auc'], '.3f')}"
            )
        else:
            lines.append(f"  AUC / PR-AUC: {rk['skipped']}")
        cov = v["coverage"]
        lines.append(
            "  conformal coverage (target {:.0%}): high {} low {}".format(
                cov["target"], pct(cov["high"]["coverage"]), pct(cov["low"]["coverage"])
            )
        )
        dec = v["decisions"]
        tr = dec.get("training") or {}
        lines.append(
            "  decisions: "
            + "; ".join(
                f"{d} {pct(s)} (training {pct(tr.get(d))})" for d, s in dec["live"].items()
            )
        )
        if "warnings" in v:
            lines.append(
                "  warnings: " + "; ".join(f"{c} {pct(s)}" for c, s in v["warnings"].items())
            )
        ps = v.get("psi") or {}
        if "score" in ps:
            top = list(ps["features"].items())[:5]
            lines.append(
                f"  PSI score {ps['score']:.3f}; largest features: "
                + ", ".join(f"{k} {val:.3f}" for k, val in top)
            )
        elif "skipped" in ps:
            lines.append(f"  PSI skipped: {ps['skipped']}")
    fb = report.get("feedback_loop") or {}
    if "excess" in fb:
        lines.append(
            f"\nfeedback loop ({fb['premises']:,} flagged premises, {fb['window_days']} days "
            f"either side of the first flag): calls before {fb['mean_calls_before']:.2f}, after "
            f"{fb['mean_calls_after']:.2f}; matched unflagged premises after "
            f"{fb['matched_expected_after']:.2f} (excess {fb['excess']:+.2f} a premise)"
        )
        lines.append(f"  {fb['what_it_means']}")
        lines.append(f"  {fb['what_it_does_not']}")
    elif "skipped" in fb:
        lines.append(f"\nfeedback loop: skipped: {fb['skipped']}")
    lines += ["", *[f"note: {n}" for n in report["notes"]]]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- MLflow


def daily_figures(s: Scored) -> pd.DataFrame:
    """Per receive day: calls scored, known outcomes, observed and predicted harm rate."""
    frame = pd.DataFrame(
        {"day": s.received // 86400, "score": s.score, "y": s.outcome, "k": ~np.isnan(s.outcome)}
    )
    frame["score_known"] = np.where(frame["k"], frame["score"], np.nan)
    g = frame.groupby("day")
    out = pd.DataFrame(
        {
            "calls_scored": g.size(),
            "outcomes_known": g["k"].sum(),
            "observed_rate": g["y"].mean(),
            "predicted_rate": g["score_known"].mean(),
        }
    )
    return out.reset_index()


def log_to_mlflow(report: dict[str, Any], daily: pd.DataFrame, experiment: str) -> str:
    """One MLflow run per monitor run (experiment `monitoring`): the headline figures, the
    verdict as a number (0 ok, 1 watch, 2 retrain), every PSI, and the daily series (step =
    day number, timestamp = the day) so the MLflow UI draws the trend. Returns the run id."""
    import mlflow
    from mlflow.entities import Metric

    from risk_model.model import tracking

    tracking.configure()
    mlflow.set_experiment(experiment)
    head = report["versions"][report["model"]]
    metrics = {
        "verdict_level": SEVERITY[report["verdict"]],
        "calls_scored": report["calls_scored"],
        "outcomes_known": report["outcomes_known"],
    }
    for key in ("observed_rate", "predicted_rate"):
        if report.get(key) is not None:
            metrics[key] = report[key]
    for key in ("auc", "pr_auc"):
        if key in head["ranking"]:
            metrics[key] = head["ranking"][key]
    for code, share in (head.get("warnings") or {}).items():
        metrics[f"share_{code}"] = share
    ps = head.get("psi") or {}
    if "score" in ps:
        metrics["psi_score"] = ps["score"]
        metrics.update({f"psi_{k}": v for k, v in ps["features"].items()})
    with mlflow.start_run(run_name=f"monitor {report['window']['to'][:10]}") as run:
        mlflow.set_tags(
            {
                "verdict": report["verdict"],
                "model": report["model"],
                "days": report["window"]["days"],
            }
        )
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        series = []
        for row in daily.itertuples(index=False):
            ts = int(row.day) * 86_400_000
            for key in ("calls_scored", "outcomes_known", "observed_rate", "predicted_rate"):
                value = float(getattr(row, key))
                if math.isfinite(value):
                    series.append(Metric(f"daily_{key}", value, ts, int(row.day)))
        for start in range(0, len(series), 1000):
            mlflow.MlflowClient().log_batch(run.info.run_id, metrics=series[start : start + 1000])
        mlflow.log_dict(report, "monitor_report.json")
        return run.info.run_id


# ----------------------------------------------------------------------------- feedback loop

# Calls at a premise in the window before its first flag -> stratum (matching on call counts).
_STRATA = np.array([0, 1, 2, 3, 5, 10, 20])


def matched_change(
    before_f: np.ndarray, after_f: np.ndarray, before_c: np.ndarray, after_c: np.ndarray
) -> dict[str, Any]:
    """Calls after vs before for flagged premises, and what matched unflagged premises with the
    same number of calls before did (strata of `_STRATA`, weighted like the flagged ones).

    `excess` = flagged premises' mean calls after - the matched expectation; `ratio` the same
    as a ratio. Strata without a control premise are left out (counted in `unmatched`).
    """
    sf = np.searchsorted(_STRATA, before_f, side="right")
    sc = np.searchsorted(_STRATA, before_c, side="right")
    expected, used = [], []
    for k in np.unique(sf):
        ctrl = after_c[sc == k]
        if len(ctrl):
            n = int(np.sum(sf == k))
            expected.append((n, float(ctrl.mean())))
            used.append(k)
    keep = np.isin(sf, used)
    if not keep.any():
        return {"premises": len(before_f), "unmatched": len(before_f)}
    exp = sum(n * m for n, m in expected) / sum(n for n, _ in expected)
    after = float(after_f[keep].mean())
    return {
        "premises": int(keep.sum()),
        "unmatched": int((~keep).sum()),
        "control_premises": int(np.isin(sc, used).sum()),
        "mean_calls_before": float(before_f[keep].mean()),
        "mean_calls_after": after,
        "matched_expected_after": exp,
        "excess": after - exp,
        "ratio": after / exp if exp > 0 else None,
    }


def feedback_loop(
    history_db: Path,
    premise: np.ndarray,
    received: np.ndarray,
    flagged: np.ndarray,
    days: int,
    seed: int = 0,
    max_premises: int = 20_000,
) -> dict[str, Any]:
    """Do premises the model flagged draw more calls after the first flag than similar premises
    it did not flag? (The loop the field notes warn about: a flagged address gets more attention,
    more recorded calls, a higher premise history, more flags.)

    For each flagged premise, calls in the history store in the `days` before its first flag and
    in the `days` from it; for unflagged premises scored in the window, the same around one of
    their scored calls (at random); premises whose after-window is not yet complete are left
    out. Flagged and unflagged premises are matched on their calls before (`matched_change`).
    """
    out: dict[str, Any] = {
        "window_days": days,
        "what_it_means": (
            "excess > 0: flagged premises drew more calls after the flag than unflagged premises "
            "with the same call history. That is what a feedback loop would look like (a flag "
            "brings attention, attention brings recorded calls, calls raise the premise's "
            "history and its next score)."
        ),
        "what_it_does_not": (
            "It does not prove one: a premise is also flagged because something is escalating "
            "there, which brings calls by itself; matching uses call counts only, not the reason "
            "for the calls; and few premises give a noisy figure. Read it with the premises' "
            "call records."
        ),
    }
    has = np.array([p is not None for p in premise], dtype=bool)
    if not has.any():
        out["skipped"] = "no scored call has a premise in the history store"
        return out
    frame = pd.DataFrame({"premise": premise[has], "t": received[has], "flag": flagged[has]})
    first_flag = frame[frame["flag"]].groupby("premise")["t"].min()
    # An unflagged premise's reference time is one of its scored calls at random (not its
    # first: that would put every control at the window's start, flags come later).
    unflagged = frame[~frame["premise"].isin(first_flag.index)]
    controls = unflagged.groupby("premise").sample(n=1, random_state=seed)
    controls = controls.set_index("premise")["t"]
    rng = np.random.default_rng(seed)
    if len(controls) > max_premises:
        controls = controls.iloc[np.sort(rng.choice(len(controls), max_premises, replace=False))]
    if len(first_flag) > max_premises:
        idx = np.sort(rng.choice(len(first_flag), max_premises, replace=False))
        first_flag = first_flag.iloc[idx]
    con = _readonly(history_db, "history store")
    newest = con.execute("SELECT MAX(ts) FROM calls").fetchone()[0] or 0
    span = days * 86_400_000_000

    def counts(times: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        before, after = [], []
        for p, t in times.items():
            t_us = int(t) * 1_000_000
            if t_us + span > newest:
                continue
            rows = con.execute(
                "SELECT ts FROM calls WHERE premise = ? AND ts >= ? AND ts < ?",
                (p, t_us - span, t_us + span),
            ).fetchall()
            ts = np.array([r[0] for r in rows], dtype=np.int64)
            before.append(int(np.sum(ts < t_us)))
            after.append(int(np.sum(ts >= t_us)))
        return np.array(before), np.array(after)

    bf, af = counts(first_flag)
    bc, ac = counts(controls)
    con.close()
    out["flagged_premises"] = len(first_flag)
    if len(bf) == 0 or len(bc) == 0:
        out["skipped"] = (
            f"no flagged premise with {days} days of history after its first flag yet"
            if len(bf) == 0
            else "no unflagged premise to compare with"
        )
        return out
    out.update(matched_change(bf, af, bc, ac))
    return out
