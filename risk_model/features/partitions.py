"""Point-in-time features on a Dask cluster: the same engine per partition, the same features.

Three passes over the calls, each a plain function applied per partition:

1. Row-local (`own_frame`): `call_level` on each input partition as read, once, plus a shuffle
   key: the premise (a call without one, which has no premise history, goes by its call_id so
   those calls spread evenly instead of piling into one partition).
2. Shuffle by that key: every partition now holds whole premise histories. Area totals per
   (beat or district, day) are summed from every partition (`area_day_counts`): a few thousand
   rows per area-year, collected to the client and sent back to every worker.
3. Per partition, `with_history`, the single-machine builder's own code: premise history from
   the partition's calls, area history from the city-wide day totals, the same derived
   features, the same frame.

Premise windows see only the same premise's calls and area windows only whole previous days, so
each call's features equal the single-machine builder's bit for bit (tests/data/
test_cluster_features.py holds a LocalCluster to that). For `score --dask --history`, history
calls travel the same way marked `_role` = 1: they count as events and get no features;
without `--history` the model's training-time snapshot (an events frame) does, its rows made
`own_frame`-shaped by `events_own_frame`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from risk_model.config import FeatureConfig
from risk_model.features.build import (
    AreaDays,
    History,
    area_day_counts,
    call_level,
    events_from_own,
    frame_outcome_us,
    none_for_missing,
    own_events,
    sum_area_days,
    with_history,
)
from risk_model.features.call import NO_INTERVAL, known_at_us

log = logging.getLogger(__name__)

ROLE = "_role"  # 0: a call that gets features; 1: a history call (an event only)
SHUFFLE_KEY = "_shuffle"
ROWS_PER_PARTITION = 400_000  # after the shuffle: ~0.2 GB of features each, plenty per task


def own_frame(
    calls: pd.DataFrame, cfg: FeatureConfig, role: int = 0, carry: Sequence[str] = ()
) -> pd.DataFrame:
    """Pass 1 on one partition of canonical calls: `call_level` as columns, the `carry`
    columns (labels, narrative, a row number: never features) as they are, role and key."""
    own = call_level(calls, cfg)
    frame = pd.DataFrame(
        {
            "call_id": calls["call_id"].astype(str).to_numpy(dtype=object),
            "received_at": calls["received_at"].to_numpy(dtype="datetime64[us]"),
            **{k: np.asarray(v) for k, v in own.items()},
        }
    )
    # When the outcome was given as known (NO_INTERVAL: not given): the events frame keeps it.
    frame["_known_us"] = known_at_us(calls, len(calls))
    for c in carry:
        frame[c] = calls[c].to_numpy() if c in calls.columns else None
    frame[ROLE] = np.int8(role)
    frame[SHUFFLE_KEY] = shuffle_key(frame["call_id"].to_numpy(dtype=object), own["_premise"])
    return frame


def shuffle_key(call_ids: np.ndarray, premise: np.ndarray) -> np.ndarray:
    """The premise; a call without one goes by its call_id (it has no premise history)."""
    return np.where(pd.isna(premise), "#" + call_ids, premise).astype(object)


EVENT_OWN_COLUMNS = {  # own_frame column: events_frame column it comes from
    "_ev_ts": "ts",
    "_ts": "received_us",
    "_violent": "violent",
    "_weapon": "weapon",
    "_assault": "assault",
    "_injury": "injury",
    "call_type": "call_type",
    "_premise": "premise",
    "_beat": "beat",
    "_district": "district",
}


def events_own_frame(
    ev: pd.DataFrame, cfg: FeatureConfig, like: pd.DataFrame, carry: Sequence[str] = ()
) -> pd.DataFrame:
    """Pass 1 for history given as an events frame (`features.build.events_frame`: the model's
    training-time snapshot): `own_frame`-shaped role-1 rows, `like`'s columns and dtypes.

    Why not canonical calls: an events frame keeps only what later calls' features and the
    precaution quotes need, so it cannot be turned back into calls for `own_frame`. It needs no
    such thing either: a role-1 row is only ever read as an event, by `own_events` (times, keys,
    event flags, outcome time) and `partition_events` (those, `_known_us`, `call_type`). Those
    columns come from the events frame as `History.from_frame` and `FramePremiseHistory` read
    them on one machine (outcome time by `frame_outcome_us`, an old frame's missing
    `received_us` equal to `ts`); every other column is empty (None, NaN or 0), and the shuffle
    key is `own_frame`'s, so a history event meets its premise's calls in one partition.
    """
    n = len(ev)
    ts = ev["ts"].to_numpy(dtype=np.int64)
    cols: dict[str, Any] = {}
    for name in like.columns:
        dtype = like[name].dtype
        source = EVENT_OWN_COLUMNS.get(name)
        if source is not None and source in ev.columns:
            values = ev[source].to_numpy()
        elif name == "_ts":  # a frame written before intervals existed
            values = ts
        elif name in carry:
            values = ev[name].to_numpy() if name in ev.columns else np.full(n, None, object)
        elif dtype.kind in "iub":
            values = np.zeros(n, dtype=dtype)
        elif dtype.kind == "f":
            values = np.full(n, np.nan, dtype=dtype)
        else:
            values = np.full(n, None, dtype=object)
        if isinstance(dtype, np.dtype) and dtype.kind in "iuf":
            values = np.asarray(values).astype(dtype)
        elif isinstance(values, np.ndarray) and values.dtype == object:
            values = none_for_missing(values)
        cols[name] = values
    cols["call_id"] = ev["call_id"].astype(str).to_numpy(dtype=object)
    cols["received_at"] = cols["_ts"].astype("datetime64[us]")
    cols["_outcome_ts"] = frame_outcome_us(ev, cfg)
    if "outcome_known_us" in ev.columns:
        known = ev["outcome_known_us"].astype("Int64")
        cols["_known_us"] = known.fillna(NO_INTERVAL).to_numpy(dtype=np.int64)
    else:
        cols["_known_us"] = np.full(n, NO_INTERVAL, dtype=np.int64)
    cols[ROLE] = np.full(n, 1, dtype=np.int8)
    cols[SHUFFLE_KEY] = shuffle_key(cols["call_id"], cols["_premise"])
    frame = pd.DataFrame(cols, index=ev.index)[list(like.columns)]
    other = {c: like[c].dtype for c in like.columns if frame[c].dtype != like[c].dtype}
    return frame.astype(other) if other else frame


def own_columns(frame: pd.DataFrame, dtypes: dict[str, np.dtype]) -> dict[str, np.ndarray]:
    """Pass 1's columns back as `call_level`'s arrays, in its dtypes: text stays object with
    None for missing (a shuffle may hand back NaN, or a float column for an all-empty one)."""
    out: dict[str, np.ndarray] = {}
    for name, dtype in dtypes.items():
        col = frame[name]
        if dtype.kind == "O":
            out[name] = none_for_missing(col.to_numpy(dtype=object))
        else:
            out[name] = col.to_numpy(dtype=dtype)
    return out


def partition_events(frame: pd.DataFrame) -> pd.DataFrame:
    """The partition's calls as an events frame (`features.build.events_frame`'s columns, in its
    dtypes), a call present both as history and as a call to score counted once (its history
    row). What the model carries as its history snapshot and the precautions quote."""
    if frame[ROLE].any():
        hist_ids = set(frame.loc[frame[ROLE] == 1, "call_id"])
        keep = (frame[ROLE] == 1).to_numpy() | ~frame["call_id"].isin(hist_ids).to_numpy()
        frame = frame[keep]
    return events_from_own(frame, frame["call_id"], frame["_known_us"])


def partition_area_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Pass 2 on one shuffled partition: its per-(area, day) totals."""
    counts = area_day_counts(partition_events(frame))
    counts["key"] = counts["key"].astype(object)
    return counts


def partition_features(
    frame: pd.DataFrame,
    cfg: FeatureConfig,
    area: AreaDays,
    dtypes: dict[str, np.dtype],
    carry: Sequence[str] = (),
) -> pd.DataFrame:
    """Pass 3 on one shuffled partition: the single-machine builder's frame for its calls (role
    0), then the carried columns."""
    is_hist = frame[ROLE].to_numpy() == 1
    queries = frame[~is_hist]
    history = None
    if is_hist.any():
        past = frame[is_hist]
        table = own_events(own_columns(past, dtypes))
        history = History(table, frozenset(past["call_id"].astype(str).tolist()))
    own = own_columns(queries, dtypes)
    feats = with_history(
        own, queries["call_id"].to_numpy(dtype=object), queries["received_at"], cfg, history, area
    )
    for c in carry:
        feats[c] = queries[c].to_numpy()
    return feats


@dataclass
class Shuffled:
    """Calls after passes 1 and 2: premise groups persisted on the workers, the city-wide area
    totals (and their copy on every worker), and what pass 3 needs to run on any partition."""

    frame: Any  # dask DataFrame of `own_frame` rows, partitioned by premise
    area: AreaDays
    area_future: Any  # the same AreaDays, on every worker
    dtypes: dict[str, np.dtype]
    carry: tuple[str, ...]
    sample: pd.DataFrame  # a few real own_frame rows: the metas of later passes
    partitions: int
    rows: int

    def map(self, func: Any, *args: Any, meta: Any) -> Any:
        """`func(partition, cfg-free args...)` over every premise group, lazily."""
        return self.frame.map_partitions(func, *args, meta=meta)


@dataclass
class ClusterFeatures:
    """What `cluster_features` returns: the features (a dask frame) and the shuffled calls."""

    features: Any  # dask DataFrame: build_features' columns, then the carried ones
    shuffled: Shuffled

    @property
    def area(self) -> AreaDays:
        return self.shuffled.area

    @property
    def partitions(self) -> int:
        return self.shuffled.partitions


def _meta_sample(calls: Any, n: int = 64) -> pd.DataFrame:
    return calls.head(n, npartitions=-1, compute=True)


def shuffle_calls(
    client: Any,
    calls: Any,
    cfg: FeatureConfig,
    carry: Sequence[str] = (),
    history: Any = None,
    partitions: int | None = None,
    history_events: Any = None,
) -> Shuffled:
    """Passes 1 and 2: row-local columns, the shuffle by premise, the area totals.

    `history` (a dask DataFrame of canonical calls, or None) counts as earlier events only;
    so does `history_events` (a dask DataFrame of `events_frame` rows, such as a model's
    training-time snapshot: see `events_own_frame`).
    """
    import dask.dataframe as dd

    carry = tuple(carry)
    sample = _meta_sample(calls)
    # `call_level`'s array dtypes (text: object) from real rows; the frame may hold text as
    # pandas strings, and pass 3 turns it back.
    dtypes = {k: np.asarray(v).dtype for k, v in call_level(sample, cfg).items()}
    sample_own = own_frame(sample, cfg, 0, carry)
    meta_own = sample_own.iloc[:0]
    own = calls.map_partitions(own_frame, cfg, 0, carry, meta=meta_own)
    pasts = []
    if history is not None:
        pasts.append(history.map_partitions(own_frame, cfg, 1, carry, meta=meta_own))
    if history_events is not None:
        pasts.append(
            history_events.map_partitions(events_own_frame, cfg, meta_own, carry, meta=meta_own)
        )
    if pasts:
        own = dd.concat([*pasts, own])
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    own = own.persist()
    rows = int(own.map_partitions(len).sum().compute())
    if partitions is None:
        partitions = max(2 * workers, math.ceil(rows / ROWS_PER_PARTITION))
    shuffled = own.shuffle(on=SHUFFLE_KEY, npartitions=partitions).persist()
    del own
    log.info("features: %s rows shuffled by premise into %d partitions", f"{rows:,}", partitions)
    counts_meta = partition_area_counts(meta_own)
    counts = shuffled.map_partitions(partition_area_counts, meta=counts_meta).compute()
    area = AreaDays.from_counts(sum_area_days([counts]))
    log.info("features: area history from %s (area, day) totals", f"{area.rows:,}")
    [area_future] = client.scatter([area], broadcast=True)
    return Shuffled(
        shuffled,
        area,
        area_future,
        dtypes,
        carry,
        sample_own,
        partitions,
        rows,
    )


def cluster_features(
    client: Any,
    calls: Any,
    cfg: FeatureConfig,
    carry: Sequence[str] = (),
    history: Any = None,
    partitions: int | None = None,
) -> ClusterFeatures:
    """Features of every call in `calls` (a dask DataFrame of canonical calls) on the cluster,
    persisted on the workers; partitions are premise groups, not time."""
    sh = shuffle_calls(client, calls, cfg, carry, history, partitions)
    meta = partition_features(sh.sample, cfg, sh.area, sh.dtypes, sh.carry).iloc[:0]
    feats = sh.map(
        partition_features, cfg, sh.area_future, sh.dtypes, sh.carry, meta=meta
    ).persist()
    return ClusterFeatures(feats, sh)


# --------------------------------------------------------------------------- reading


@dataclass
class ClusterCalls:
    """Canonical calls read and validated on the workers (held there): the frame and what was
    refused."""

    calls: Any  # dask DataFrame of accepted canonical rows
    rejected: Any  # dask scalar: rows that break the schema (not used)
    files: int


ROWS_PER_TASK = 500_000  # rows read and validated per task: row groups of a big file split


def _validated_part(
    path: str, row_groups: list[int] | None, keys: dict[str, str]
) -> tuple[pd.DataFrame, int]:
    import pyarrow.parquet as pq

    if row_groups is None:
        raw = pd.read_parquet(path)
    else:
        raw = pq.ParquetFile(path).read_row_groups(row_groups).to_pandas()
    res = _validated(raw, keys)
    return res.accepted, len(res.quarantined)


def _validated(raw: pd.DataFrame, keys: dict[str, str]) -> Any:
    """A read task's rows with its hive keys as columns (a dataset partitioned by a real
    column, district=...), checked as `train` checks a file."""
    from risk_model.schema import validate_frame

    for key, value in keys.items():
        raw[key] = value
    return validate_frame(raw)


def _validated_head(
    path: str, row_groups: list[int] | None, keys: dict[str, str], rows: int = 64
) -> pd.DataFrame:
    """`_validated_part`'s accepted rows for a file's first `rows` rows: its dtypes, cheaply."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    batch = next(pf.iter_batches(batch_size=rows, row_groups=row_groups), None)
    table = pf.schema_arrow.empty_table() if batch is None else pa.Table.from_batches([batch])
    return _validated(table.to_pandas(), keys).accepted


def read_tasks(path: Path) -> list[tuple[str, list[int] | None, dict[str, str]]]:
    """(file, row groups, hive keys) per read task: a file at a time, a big file by its row
    groups (~ROWS_PER_TASK rows each), so a single 4M-row file still reads in parallel."""
    import pyarrow.parquet as pq

    from risk_model.dataset import DERIVED_KEYS, parquet_files

    tasks = []
    for f in parquet_files(path):
        rel = f.relative_to(path) if path.is_dir() else Path(f.name)
        keys = dict(
            part.split("=", 1)
            for part in rel.parts[:-1]
            if "=" in part and part.split("=", 1)[0] not in DERIVED_KEYS
        )
        meta = pq.ParquetFile(f).metadata
        if meta.num_rows <= ROWS_PER_TASK or meta.num_row_groups < 2:
            tasks.append((str(f), None, keys))
            continue
        group: list[int] = []
        rows = 0
        for g in range(meta.num_row_groups):
            group.append(g)
            rows += meta.row_group(g).num_rows
            if rows >= ROWS_PER_TASK:
                tasks.append((str(f), group, keys))
                group, rows = [], 0
        if group:
            tasks.append((str(f), group, keys))
    return tasks


def check_input(path: Path) -> Path:
    """Refuses what the cluster path cannot read, before a cluster is started for it."""
    from risk_model.errors import UserError

    path = Path(path)
    if path.suffix.lower() == ".csv":
        raise UserError(
            f"{path}: the cluster path reads Parquet: `risk-model ingest --partition-by month` "
            "writes the calls as a dataset folder"
        )
    if not path.exists():
        raise UserError(f"data file not found: {path}")
    return path


def read_calls(path: Path) -> ClusterCalls:
    """Canonical calls from a Parquet file or dataset folder, read and validated on the workers
    as `train` validates a file (rows that still break the schema are counted and left out)."""
    import dask
    import dask.dataframe as dd

    from risk_model.errors import UserError
    from risk_model.schema import validate_frame

    path = check_input(path)
    tasks = read_tasks(path)
    if not tasks:
        raise UserError(f"{path} is a folder without any .parquet file; give a file or a dataset")
    # The accepted rows' dtypes, from the first rows of the first file (read again on a worker).
    first = _validated_head(*tasks[0])
    meta = validate_frame(first.head(0)).accepted if first.empty else first.iloc[:0]
    # Read once, on the workers: the frame and the reject counts both come from these results.
    parts = dask.persist(*[dask.delayed(_validated_part, nout=2)(*t) for t in tasks])
    frames, repeated = first_of_each_call_id([p[0] for p in parts])
    calls = dd.from_delayed(frames, meta=meta, verify_meta=False)
    rejected = dask.delayed(sum)([p[1] for p in parts]) + repeated
    return ClusterCalls(calls, rejected, len(tasks))


def _id_hashes(frame: pd.DataFrame) -> np.ndarray:
    return np.unique(pd.util.hash_array(frame["call_id"].to_numpy(dtype=object)))


def _rows_with_hashes(frame: pd.DataFrame, hashes: np.ndarray) -> pd.DataFrame:
    ids = frame["call_id"].to_numpy(dtype=object)
    pos = np.flatnonzero(np.isin(pd.util.hash_array(ids), hashes))
    return pd.DataFrame({"call_id": ids[pos], "pos": pos})


def _drop_positions(frame: pd.DataFrame, positions: np.ndarray) -> pd.DataFrame:
    keep = np.ones(len(frame), dtype=bool)
    keep[positions] = False
    return frame[keep]


def first_of_each_call_id(frames: Sequence[Any]) -> tuple[list[Any], int]:
    """The read tasks' accepted frames with a call_id repeated across tasks kept only where it
    comes first (file order, then row order), as `train` validating the whole folder keeps the
    first valid row; returns the frames and how many rows were left out.

    Each task's frame is already free of repeats (`validate_frame`). Only 64-bit hashes of the
    ids come to the client (8 bytes a call: 0.8 GB at 100M calls); the rows behind a repeated
    hash are then compared by their real ids, so a hash collision never drops a call.
    """
    import dask

    hashes = dask.compute(*[dask.delayed(_id_hashes)(f) for f in frames])
    every = np.sort(np.concatenate(hashes)) if hashes else np.empty(0, np.uint64)
    repeated = np.unique(every[1:][every[1:] == every[:-1]])
    del every
    if not len(repeated):
        return list(frames), 0
    found = dask.compute(*[dask.delayed(_rows_with_hashes)(f, repeated) for f in frames])
    rows = pd.concat(
        [r.assign(task=i) for i, r in enumerate(found)], ignore_index=True
    ).sort_values(["task", "pos"], kind="stable")
    later = rows[rows["call_id"].duplicated(keep="first")]
    if later.empty:  # only hash collisions
        return list(frames), 0
    log.warning(
        "%s rows repeat a call_id already read from an earlier file and are not used (the "
        "first is kept, as without --dask): e.g. %s",
        f"{len(later):,}",
        ", ".join(map(str, later["call_id"].head(3))),
    )
    out = list(frames)
    for task, group in later.groupby("task"):
        out[int(task)] = dask.delayed(_drop_positions)(out[int(task)], group["pos"].to_numpy())
    return list(dask.persist(*out)), len(later)
