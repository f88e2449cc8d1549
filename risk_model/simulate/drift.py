"""Planted drift for the simulator: a world that changes from a given day on, so tests and the
demo can show each verdict of `risk-model monitor` (docs/simulator.md, docs/monitoring.md).

Drift is applied AFTER the world is drawn, with its own random stream (seeded from the same
seed), so a run without drift is byte-for-byte the run it always was, and a run with drift
differs from it only in the calls the drift touches.

Kinds (comma-separated in `--drift`):
- `new_call_type[:SHARE]`: from the drift day on, SHARE (default 0.5) of calls carry a renamed
  call-type code (`<code>-NEW`), as when an agency changes its CAD vocabulary.
- `harm_rate:DISTRICT[:FACTOR]`: from the drift day on, the harm rate of calls in DISTRICT is
  multiplied by FACTOR (default 2): unharmed calls become injury-only with the probability that
  makes each call's expected harm FACTOR times its true risk (capped at 1).
- `flag_feedback[:N]`: the N (default 5) premises with the highest hidden hazard (those the model
  flags first) draw every call twice from the drift day on, as when a flag brings more patrols
  and more calls to a place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from risk_model.errors import UserError

DRIFT_KINDS = ("new_call_type", "harm_rate", "flag_feedback")
RENAMED_SUFFIX = "-NEW"
REPEAT_SUFFIX = "-FB"


@dataclass(frozen=True)
class Drift:
    """One planted change: its kind and its parameters."""

    kind: str
    share: float = 0.5
    district: str = ""
    factor: float = 2.0
    premises: int = 5


def parse_drift(spec: str | None, districts: tuple[str, ...]) -> list[Drift]:
    """`new_call_type,harm_rate:NORTH` -> [Drift, ...]; any bad part -> one UserError."""
    if not spec or not spec.strip():
        return []
    out: list[Drift] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        kind, *args = part.split(":")
        try:
            if kind == "new_call_type" and len(args) <= 1:
                share = float(args[0]) if args else 0.5
                if not 0 < share <= 1:
                    raise ValueError
                out.append(Drift(kind, share=share))
            elif kind == "harm_rate" and 1 <= len(args) <= 2:
                district = args[0].strip().upper()
                if district not in districts:
                    raise UserError(
                        f"--drift harm_rate:{args[0]}: unknown district; use one of "
                        + ", ".join(districts)
                    )
                factor = float(args[1]) if len(args) > 1 else 2.0
                if factor <= 0:
                    raise ValueError
                out.append(Drift(kind, district=district, factor=factor))
            elif kind == "flag_feedback" and len(args) <= 1:
                n = int(args[0]) if args else 5
                if n < 1:
                    raise ValueError
                out.append(Drift(kind, premises=n))
            else:
                raise ValueError
        except ValueError:
            raise UserError(
                f"--drift {part!r} is not understood; use new_call_type[:SHARE in (0,1]], "
                "harm_rate:DISTRICT[:FACTOR > 0] or flag_feedback[:N >= 1], comma-separated"
            ) from None
    return out


def drift_start(start: pd.Timestamp, days: int, drift_from: str | None) -> pd.Timestamp:
    """The first drifted day: `drift_from`, or by default the start of the last quarter."""
    if drift_from is None:
        return start + pd.Timedelta(days=int(days * 0.75))
    try:
        ts = pd.Timestamp(drift_from).normalize()
    except (ValueError, TypeError) as exc:
        raise UserError(f"--drift-from {drift_from!r} is not a date (YYYY-MM-DD)") from exc
    if ts is pd.NaT or ts.tzinfo is not None:
        raise UserError(f"--drift-from {drift_from!r} must be a plain date (YYYY-MM-DD)")
    return ts


def apply_drift(
    calls: pa.Table, truth: pa.Table, drifts: list[Drift], since: pd.Timestamp, seed: int
) -> tuple[pa.Table, pa.Table]:
    """The same world with each drift planted on calls received on or after `since`."""
    if not drifts:
        return calls, truth
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xD71F7]))
    for d in drifts:
        after = calls["received_at"].to_numpy() >= since.to_datetime64()
        if d.kind == "new_call_type":
            pick = pa.array(after & (rng.random(calls.num_rows) < d.share))
            renamed = pc.binary_join_element_wise(calls["call_type"], RENAMED_SUFFIX, "")
            calls = _set(calls, "call_type", pc.if_else(pick, renamed, calls["call_type"]))
        elif d.kind == "harm_rate":
            calls, truth = _harm_rate(calls, truth, d, after, rng)
        elif d.kind == "flag_feedback":
            calls, truth = _flag_feedback(calls, truth, d, after, rng)
    return calls, truth


def _set(table: pa.Table, name: str, values: pa.Array | pa.ChunkedArray) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, values)


def _harm_rate(
    calls: pa.Table, truth: pa.Table, d: Drift, after: np.ndarray, rng: np.random.Generator
) -> tuple[pa.Table, pa.Table]:
    """Raises each touched call's harm probability p to min(1, factor * p) (or lowers it)."""
    in_district = pc.fill_null(pc.equal(calls["district"], d.district), False).to_numpy()
    touched = after & np.asarray(in_district, dtype=bool)
    p = truth["true_risk"].to_numpy()
    harmed = pc.fill_null(calls["officer_assaulted"], False).to_numpy(
        zero_copy_only=False
    ) | pc.fill_null(calls["officer_injured"], False).to_numpy(zero_copy_only=False)
    target = np.minimum(1.0, d.factor * p)
    u = rng.random(calls.num_rows)
    if d.factor >= 1:  # unharmed calls become harmed so that P(harmed) = target
        q = np.where(p < 1, (target - p) / np.maximum(1 - p, 1e-12), 0.0)
        newly = touched & ~harmed & (u < q)
        injured = pc.or_kleene(calls["officer_injured"], pa.array(newly))
        calls = _set(calls, "officer_injured", injured)
    else:  # harmed calls become unharmed so that P(harmed) = target
        keep = np.where(p > 0, target / np.maximum(p, 1e-12), 1.0)
        cleared = pa.array(touched & harmed & (u >= keep))
        for name in ("officer_assaulted", "officer_injured"):
            calls = _set(calls, name, pc.if_else(cleared, False, calls[name]))
    new_risk = np.where(touched, target, p)
    truth = _set(truth, "true_risk", pa.array(new_risk))
    inj = truth["true_p_injury_only"].to_numpy()
    truth = _set(truth, "true_p_injury_only", pa.array(np.where(touched, inj + target - p, inj)))
    return calls, truth


def _flag_feedback(
    calls: pa.Table, truth: pa.Table, d: Drift, after: np.ndarray, rng: np.random.Generator
) -> tuple[pa.Table, pa.Table]:
    """Repeats each post-drift call of the most hazardous premises a few hours to days later."""
    premise = truth["premise_id"].to_numpy()
    hazard = truth["premise_hazard"].to_numpy()
    order = np.unique(premise[np.argsort(-hazard, kind="stable")], return_index=True)
    ranked = order[0][np.argsort(order[1])]  # premises by hazard, highest first
    chosen = ranked[: d.premises]
    rows = np.flatnonzero(after & np.isin(premise, chosen))
    if len(rows) == 0:
        return calls, truth
    shift = rng.integers(3600, 3 * 86400, size=len(rows)).astype("timedelta64[s]")
    end = calls["received_at"].to_numpy().max()
    received = calls["received_at"].to_numpy()[rows] + shift
    keep = received <= end  # the repeats stay inside the simulated period
    rows, shift, received = rows[keep], shift[keep], received[keep]
    extra = calls.take(pa.array(rows))
    ids = pc.binary_join_element_wise(extra["call_id"], REPEAT_SUFFIX, "")
    extra = _set(extra, "call_id", ids)
    extra = _set(extra, "received_at", pa.array(received.astype("datetime64[us]")))
    cleared = extra["cleared_at"].to_numpy() + shift
    extra = _set(extra, "cleared_at", pa.array(cleared.astype("datetime64[us]")))
    extra_truth = _set(truth.take(pa.array(rows)), "call_id", ids)
    calls = pa.concat_tables([calls, extra.cast(calls.schema)])
    truth = pa.concat_tables([truth, extra_truth.cast(truth.schema)])
    sort = np.argsort(calls["received_at"].to_numpy(), kind="stable")
    return calls.take(pa.array(sort)), truth.take(pa.array(sort))
