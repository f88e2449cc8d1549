"""`risk-model score --dask`: score a calls dataset on a Dask cluster, with the answers `score`
gives on one machine.

The calls (and `--history`, or else the model's training-time snapshot) are shuffled by premise
(`features.cluster.shuffle_calls`); each premise group then runs, in one task, what
`CallRiskModel.assess_calls` runs on one machine: the features, the premise history the
precautions quote, `assess_features`, `assessment_frame`. A global input row number (`_row`)
travels with every call so the output keeps the input's order.
"""

from __future__ import annotations

import copy
import logging
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from risk_model.dataset import rows_refused
from risk_model.errors import UserError

log = logging.getLogger(__name__)

ROW = "_row"  # the call's row number in the input (a history row's: in its own file)
OUT_SUFFIXES = (".csv", ".parquet")


def score_file_dask(
    model_uri: str,
    input_path: Path,
    out_path: Path,
    history_path: Path | None = None,
    address: str | None = None,
    client: Any = None,
    partitions: int | None = None,
) -> dict[str, Any]:
    """`risk-model score --dask ADDRESS`: `offline.score_file`'s output, computed on a cluster.

    `--out x.csv` / `x.parquet`: the rows are collected here and written in input order, the
    same file `score` writes. `--out folder` (no suffix): the workers write a Parquet dataset,
    rows in input order within each file, with the `_row` column (the input row number) kept
    so a reader can restore the whole order. `client` (an existing distributed Client) takes
    precedence over `address`.
    """
    import dask

    from risk_model.dask_client import connect
    from risk_model.features.partitions import read_calls
    from risk_model.model import tracking

    t0 = time.perf_counter()
    suffix = out_path.suffix.lower()
    if suffix and suffix not in OUT_SUFFIXES:
        raise UserError(f"--out {out_path}: expected a .parquet or .csv file, or a folder")
    if not suffix and out_path.exists() and (not out_path.is_dir() or any(out_path.iterdir())):
        raise UserError(
            f"--out {out_path}: already exists and is not an empty folder; give a new folder"
        )
    if client is None and address is None:
        raise UserError("--dask: give a scheduler address (tcp://host:8786) or local:N")
    # Fail fast, before any cluster starts: the inputs (read lazily: nothing is read yet) and
    # the model. Text stays plain objects, as `cluster.connect` sets for the whole session.
    # Paths are made absolute: the workers read and write them, from their own directories.
    with dask.config.set({"dataframe.convert-string": False}):
        calls = read_calls(Path(input_path).absolute())
        history = None if history_path is None else read_calls(Path(history_path).absolute())
    model, ref = tracking.load_model(model_uri)

    def run(c: Any) -> dict[str, Any]:
        return _score(c, model, ref, calls, history, input_path, out_path, partitions, t0)

    if client is not None:
        return run(client)
    with connect(address) as c:  # type: ignore[arg-type]
        return run(c)


def _numbered(calls: Any) -> tuple[Any, int]:
    """The calls persisted (read and validated once) with their global row number as `_row`:
    partition lengths give each partition its first row."""
    lengths = [int(n) for n in calls.map_partitions(len).compute()]
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64).tolist()
    meta = calls._meta.assign(**{ROW: np.array([], dtype=np.int64)})
    numbered = calls.map_partitions(_with_row, offsets, meta=meta)
    return numbered.persist(), int(sum(lengths))


def _with_row(part: pd.DataFrame, offsets: list[int], partition_info: Any = None) -> pd.DataFrame:
    start = offsets[partition_info["number"]] if partition_info else 0
    return part.assign(**{ROW: np.arange(start, start + len(part), dtype=np.int64)})


def _persisted(calls: Any) -> tuple[Any, int]:
    """The accepted calls persisted and the count of rows refused, from one read."""
    import dask

    with warnings.catch_warnings():
        # The frame and the count come from the same read tasks; dask warns that computing a
        # frame and a delayed together materialises the frame's graph, which is the point.
        warnings.filterwarnings("ignore", "Computing mixed collections", UserWarning)
        frame, rejected = dask.persist(calls.calls, calls.rejected)
    return frame, int(rejected.compute())


def _score(
    client: Any,
    model: Any,
    ref: Any,
    calls: Any,
    history: Any,
    input_path: Path,
    out_path: Path,
    partitions: int | None,
    t0: float,
) -> dict[str, Any]:
    import dask.dataframe as dd

    from risk_model.features.partitions import shuffle_calls
    from risk_model.model.assessment import ModelInfo
    from risk_model.model.precautions import load_rules

    workers = max(1, len(client.scheduler_info().get("workers", {})))
    cfg = model.settings.features
    frame, rejected = _persisted(calls)
    if rejected:
        raise rows_refused(input_path, rejected, reasons_logged=False)
    frame, rows = _numbered(frame)
    log.info("score: %s calls from %s", f"{rows:,}", input_path)
    past = past_events = None
    if history is not None:
        hist_frame, hist_rejected = _persisted(history)
        if hist_rejected:  # as `score` without --dask: counted, warned about, not used
            log.warning(
                "%s history rows break the schema and are not used (run `risk-model ingest` "
                "first)",
                f"{hist_rejected:,}",
            )
        past, hist_rows = _numbered(hist_frame)
        log.info("history: %s calls", f"{hist_rows:,}")
    elif model.history is not None:
        snapshot = model.history.assign(**{ROW: np.arange(len(model.history), dtype=np.int64)})
        past_events = dd.from_pandas(snapshot, npartitions=workers, sort=False)
        log.info("history: the model's snapshot of %s calls", f"{len(snapshot):,}")
    sh = shuffle_calls(
        client, frame, cfg, (ROW,), past, partitions=partitions, history_events=past_events
    )
    del frame, past
    # The model goes to every worker once, without its snapshot (the shuffle carried that);
    # its training scope (which the warnings read, and which may come from the snapshot) is
    # worked out here first, so every worker warns as this machine would.
    worker_model = copy.copy(model)
    _ = worker_model.scope
    worker_model.history = None
    [model_future] = client.scatter([worker_model], broadcast=True)
    rules = load_rules()
    info = ModelInfo(ref.name, ref.version)
    meta = output_meta()
    scored = sh.map(
        assess_partition,
        sh.area_future,
        sh.dtypes,
        model_future,
        rules,
        info,
        history is not None,
        meta=meta,
    )
    from risk_model.batch.score import _write, answer_summary

    if out_path.suffix:
        out = scored.compute().sort_values(ROW, kind="stable")
        if len(out) != rows or not np.array_equal(out[ROW].to_numpy(), np.arange(rows)):
            raise RuntimeError(f"cluster scoring returned {len(out):,} rows for {rows:,} calls")
        _write(out.drop(columns=ROW).reset_index(drop=True), out_path)
    else:
        scored.to_parquet(str(Path(out_path).absolute()), write_index=False)
        # The counts read back the three columns they need, not the whole answers.
        out = pd.read_parquet(out_path, columns=["risk_tier", "decision", "warnings"])
    return {
        "rows_scored": rows,
        "out": str(out_path),
        "model": {"name": ref.name, "version": ref.version},
        **answer_summary(out),
        "seconds": round(time.perf_counter() - t0, 2),
        "cluster": {"workers": workers, "partitions": sh.partitions},
    }


def output_meta() -> pd.DataFrame:
    """The rows `assess_partition` returns, empty: `assessment_frame`'s columns in the dtypes
    its lists become (text as pandas makes it of Python strings), then `_row`."""
    from risk_model.model.bundle import assessment_frame

    text = pd.Series(["x"]).dtype
    frame = assessment_frame([])
    cols = {c: pd.Series([], dtype=np.float64 if c == "risk_score" else text) for c in frame}
    return pd.DataFrame({**cols, ROW: pd.Series([], dtype=np.int64)})


def single_machine_order(frame: pd.DataFrame, history_in_time_order: bool) -> pd.DataFrame:
    """A premise group's rows in the order `assess_calls` holds them on one machine: history
    first (a `--history` file as `load_calls` sorts it: by received_at, file order within; the
    model's snapshot as stored), then the calls in input order.

    Features do not depend on row order, but the precautions' quoted incidents do where two
    are tied (same rank and time: calls known only to the day share their day's last moment):
    `FramePremiseHistory` keeps such ties in the order it was given them.
    """
    from risk_model.features.partitions import ROLE

    is_hist = frame[ROLE].to_numpy() == 1
    hist, calls = frame[is_hist], frame[~is_hist]
    hist_key = ["received_at", ROW] if history_in_time_order else [ROW]
    return pd.concat(
        [hist.sort_values(hist_key, kind="stable"), calls.sort_values(ROW, kind="stable")]
    )


def assess_partition(
    frame: pd.DataFrame,
    area: Any,
    dtypes: dict[str, np.dtype],
    model: Any,
    rules: Any,
    info: Any,
    history_in_time_order: bool,
) -> pd.DataFrame:
    """One premise group, on a worker: `assess_calls`'s steps on its calls, then their
    assessment rows (SPEC §3 columns) and input row numbers, in input order."""
    from risk_model.features.partitions import ROLE, partition_events, partition_features
    from risk_model.model.assessment import FramePremiseHistory
    from risk_model.model.bundle import assessment_frame

    if not (frame[ROLE].to_numpy() == 0).any():  # only history fell here
        return output_meta()
    cfg = model.settings.features
    frame = single_machine_order(frame, history_in_time_order)
    feats = partition_features(frame, cfg, area, dtypes, (ROW,))
    premises = FramePremiseHistory(partition_events(frame), cfg.premise_horizon_days)
    ids = feats["call_id"].astype(str).tolist()
    assessed = model.assess_features(feats, ids, premises, rules, info)
    out = assessment_frame(assessed.assessments)
    out[ROW] = feats[ROW].to_numpy(dtype=np.int64)
    return out
