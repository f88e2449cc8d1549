"""`risk-model train --dask`: the same run as `train`, with the heavy part on a Dask cluster.

What runs where, and why:

- On the workers: reading and validating the Parquet files, the features (features/partitions.py:
  the single-machine engine per premise group, bit for bit the same), the train window's
  category counts and call-type rates (exact sums), and LightGBM itself (`lightgbm.dask`, data
  parallel: each worker holds its own partitions of the train window).
- On the client: each call's time and label (16 bytes a call, for placing the windows exactly as
  `train` does), then the later windows (validation, calibration, test: the small, recent part;
  each up to `cluster.later_window_rows`, a seeded sample past that) and a seeded sample of the
  train window (up to `cluster.train_sample_rows`, for the leakage check and the baseline).
  Calibration, conformal, evaluation, the audit, explanations, the card and MLflow logging are
  `train`'s own functions on those rows.

Early stopping: `lightgbm.dask` has none (a worker that stops alone leaves the others waiting).
The trees are grown in chunks on the cluster (a first chunk, then only as many as could still
decide), and after each chunk the client scores the validation window tree by tree and applies
lightgbm's own rule (stop `early_stopping_rounds` after the best AUC); then, as `train` does,
the model is refit on train + validation with that many trees. The logged model is the same
artifact a single-machine run makes.

Not done on a cluster: the backtests (each fold is a full refit; run `train` on a sample for
them). The run summary says so.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from risk_model.config import ClusterConfig, ModelConfig, Settings
from risk_model.errors import UserError, check_drops
from risk_model.features.partitions import (
    check_input,
    cluster_features,
    partition_events,
    read_calls,
)
from risk_model.features.registry import FEATURE_NAMES, monotone_constraints
from risk_model.model.encode import FeatureEncoder
from risk_model.schema import AGENCY, OUTCOME_COLUMNS
from risk_model.training.gate import decide_champion, register_version
from risk_model.training.leakage import validate_allow
from risk_model.training.models import CallTypeRate, booster_params
from risk_model.training.pipeline import (
    Evaluation,
    Split,
    audit_test_window,
    check_labels,
    default_truth_path,
    describe_model,
    evaluate_window,
    explain_globally,
    finish_fit,
    leakage_check,
    load_truth,
    log_run,
    run_summary,
    split_by_time,
    target_labels,
)
from risk_model.training.splits import Placement

log = logging.getLogger(__name__)

LABEL = "_y"
WINDOW = "_window"
LATER = ("validation", "calibration", "test")
BACKTEST_SKIPPED = "not run on a cluster (each fold is a refit): run `train` on a sample"


def train_on_cluster(
    data: Path,
    settings: Settings,
    address: str | None = None,
    experiment: str = "call-risk",
    register: str | None = None,
    truth: Path | None = None,
    run_name: str | None = None,
    client: Any = None,
    allow_drops: bool = False,
    force_champion: bool = False,
) -> dict[str, Any]:
    """`train --dask ADDRESS`; `client` (an open distributed.Client) takes precedence."""
    from risk_model.dask_client import connect

    validate_allow(settings.leakage.allow)
    check_input(data)
    if client is not None:
        ctx: Any = contextlib.nullcontext(client)
    elif address:
        ctx = connect(address)
    else:
        raise UserError("--dask needs a scheduler address or local:N")
    with ctx as c:
        return _train(
            c,
            Path(data),
            settings,
            experiment,
            register,
            truth,
            run_name,
            allow_drops=allow_drops,
            force_champion=force_champion,
        )


def _train(
    client: Any,
    data: Path,
    settings: Settings,
    experiment: str,
    register: str | None,
    truth: Path | None,
    run_name: str | None,
    allow_drops: bool = False,
    force_champion: bool = False,
) -> dict[str, Any]:
    import dask

    t0 = time.perf_counter()
    stages: dict[str, float] = {}
    peak_gb: dict[str, float] = {}  # the client's peak resident memory at the end of each stage
    read = read_calls(data)
    input_tasks = read.files
    columns = list(read.calls.columns)
    carry = tuple(c for c in (*OUTCOME_COLUMNS, "narrative") if c in columns)
    target_labels(pd.DataFrame(columns=list(carry)), settings.target)  # needs its outcomes
    calls = read.calls
    if AGENCY in columns and (agencies := int(calls[AGENCY].dropna().nunique().compute())) > 1:
        raise UserError(
            f"the data holds {agencies} agencies: train --dask does not yet place windows within "
            "each agency or report figures per agency; train them pooled without --dask, or "
            "one agency at a time with it"
        )
    rejected = int(read.rejected.compute())
    if rejected:
        # The same 1% rule as `train` (SPEC §3); the workers count rejects, not their reasons.
        kept = int(calls.map_partitions(len).sum().compute())
        cause = (
            "they break the canonical schema or repeat a call id (train without --dask names why)"
        )
        line = check_drops(rejected, rejected + kept, f"rows of {data}", cause, allow_drops)
        log.warning(line or f"{rejected:,} rows break the schema and are not used")
    stages["read"] = time.perf_counter() - t0
    peak_gb["read"] = _peak_gb()

    t = time.perf_counter()
    cf = cluster_features(client, calls, settings.features, carry=carry)
    # What the shuffle moved (the row-local columns of every call, in memory): the figure that
    # sizes a cluster (docs/cluster.md).
    shuffle_bytes = int(cf.shuffled.frame.memory_usage(deep=True).sum().compute())
    feats = cf.features.map_partitions(_with_label, settings.target, meta=_label_meta(cf))
    feats = feats.persist()
    # The model's premise history snapshot (every call as an event) and an input example, taken
    # now so the workers can drop the shuffled rows and the raw calls (their text included).
    events = cf.shuffled.frame.map_partitions(
        partition_events, meta=partition_events(cf.shuffled.sample.iloc[:0])
    ).compute()
    events = events.sort_values(["ts", "call_id"], kind="stable").reset_index(drop=True)
    example = calls.tail(3)
    partitions, rows_shuffled = cf.partitions, cf.shuffled.rows
    del cf, calls, read
    stages["features"] = time.perf_counter() - t
    peak_gb["features"] = _peak_gb()
    log.info(
        "cluster: features for %s calls in %.1fs (%d premise groups)",
        f"{rows_shuffled:,}",
        stages["features"],
        partitions,
    )

    # The windows, placed on every call's time and label exactly as `train` places them.
    t = time.perf_counter()
    tl = feats[["received_at", LABEL]].compute()
    times = tl["received_at"].to_numpy(dtype="datetime64[us]")
    y_all = tl[LABEL].to_numpy(dtype=float)
    del tl
    check_labels(y_all, settings.target)
    split = split_by_time(pd.DataFrame({"received_at": times}), y_all, settings)
    # The placement without its per-call mask (the client's calls): assign needs only bounds.
    placement = dataclasses.replace(split.placement, outlier=np.zeros(0, dtype=bool))
    feats = feats.map_partitions(_with_window, placement, meta=_window_meta(feats)).persist()
    counts = feats[WINDOW].value_counts().compute().to_dict()
    for name in ("train", "validation", "calibration", "test"):
        if int(counts.get(name, 0)) != split.counts[name]["calls"]:
            raise RuntimeError(
                f"window {name}: the workers count {counts.get(name)} calls, the client "
                f"{split.counts[name]['calls']} ({counts})"
            )

    # Exact train-window totals: category counts for the encoder, call-type rates, base rate.
    encoder = FeatureEncoder(min_count=settings.features.min_category_count)
    stats = _sum_stats(
        client.gather(
            client.compute(
                [dask.delayed(_train_stats)(p, encoder.categorical) for p in feats.to_delayed()]
            )
        )
    )
    encoder.fit_counts(stats["values"])
    ctr = CallTypeRate().fit_counts(stats["call_type"])
    base_rate = stats["harmed"] / stats["labelled"]

    # The later windows and a train sample, to the client, in time order as `train` holds them;
    # past `cluster.later_window_rows` a later window comes as a seeded sample (bounded memory).
    shares = sample_shares(split.counts, settings.cluster)
    share = shares["train"]
    local = feats.map_partitions(
        _collect_rows, shares, settings.model.seed, meta=feats._meta
    ).compute()
    local["call_id"] = local["call_id"].astype(object)
    local = local.sort_values(["received_at", "call_id"], kind="stable").reset_index(drop=True)
    y = local[LABEL].to_numpy(dtype=float)
    window = local[WINDOW].to_numpy(dtype=object).astype(str)
    stages["windows"] = time.perf_counter() - t
    peak_gb["windows"] = _peak_gb()
    log.info(
        "cluster: %s rows to the client (%s of the train window, share %.3f)",
        f"{len(local):,}",
        f"{int((window == 'train').sum()):,}",
        share,
    )
    for name in LATER:
        if shares[name] < 1.0:
            log.warning(
                "cluster: the %s window has %s labelled calls; a seeded sample of %s (share "
                "%.3f) is used for it on the client (settings: cluster.later_window_rows)",
                name,
                f"{split.counts[name]['calls']:,}",
                f"{int((window == name).sum()):,}",
                shares[name],
            )
    local_split = Split(split.placement, window, split.counts, window == "test")
    leakage = leakage_check(local, local, y, local_split, settings)
    if "narrative" in local.columns:  # read by the leakage check only; the largest text by far
        local = local.drop(columns=["narrative"])

    t = time.perf_counter()
    threads = min(client.nthreads().values())
    booster = fit_booster(client, feats, local, encoder, settings.model, threads)
    fitted = finish_fit(
        settings,
        encoder,
        booster,
        local[window == "calibration"],
        y[window == "calibration"],
        base_rate,
        ctr,
        local,
        y,
        window == "train",
    )
    stages["fit"] = time.perf_counter() - t
    peak_gb["fit"] = _peak_gb()

    t = time.perf_counter()
    truth_path = truth or default_truth_path(data)
    truth_series = load_truth(truth_path)
    test_mask = window == "test"
    results, eval_frame, scores = evaluate_window(
        fitted, local, y, test_mask, settings, truth_series
    )
    audit_table = audit_test_window(eval_frame, settings)
    importance = explain_globally(fitted.model, local, test_mask, settings)
    inside = times[~split.placement.outlier]
    describe_model(
        fitted.model,
        events,
        (str(pd.Timestamp(inside.min())), str(pd.Timestamp(inside.max()))),
        data,
        split,
        settings,
        register,
        truth_path,
    )
    workers = len(client.scheduler_info().get("workers", {}))
    fitted.model.metadata["engine"] = {"dask_workers": workers, "partitions": partitions}
    stages["evaluate"] = time.perf_counter() - t
    peak_gb["evaluate"] = _peak_gb()

    t = time.perf_counter()
    decision = None
    if register:
        decision = decide_champion(
            register, scores, local, y, test_mask, results, settings, force_champion
        )
    run_id, logged_model_uri = log_run(
        experiment,
        run_name,
        example,
        settings,
        rejected,
        fitted.model,
        split,
        leakage,
        Evaluation(results, eval_frame, scores, audit_table, [], decision),
        importance,
        local.loc[test_mask],
    )
    _log_engine(run_id, workers, threads, partitions, stages)
    registered = None
    if register and decision is not None:
        registered = register_version(register, logged_model_uri, run_id, decision)
    stages["log"] = time.perf_counter() - t
    peak_gb["log"] = _peak_gb()
    seconds = round(time.perf_counter() - t0, 1)
    log.info(
        "cluster: done in %.1fs %s; client peak memory by stage (GB) %s",
        seconds,
        {k: round(v, 1) for k, v in stages.items()},
        peak_gb,
    )
    out = run_summary(
        run_id,
        logged_model_uri,
        results,
        [],
        split,
        rejected,
        leakage,
        fitted.model.metadata["feature_hash"],
        registered,
        seconds=seconds,
    )
    out["backtest"] = BACKTEST_SKIPPED
    out["cluster"] = {
        "workers": workers,
        "threads_per_worker": threads,
        "partitions": partitions,
        "input_tasks": input_tasks,
        "rows_to_client": len(local),
        "shuffle_bytes": shuffle_bytes,
        "train_sample_share": round(share, 4),
        "sample_shares": {k: round(v, 4) for k, v in shares.items()},
        "seconds": {k: round(v, 1) for k, v in stages.items()},
        "client_peak_gb": peak_gb,
    }
    return out


# --------------------------------------------------------------------------- per partition


def _with_label(part: pd.DataFrame, target: str) -> pd.DataFrame:
    return part.assign(**{LABEL: target_labels(part, target)})  # copy-on-write: no data copied


def _label_meta(cf: Any) -> pd.DataFrame:
    meta = cf.features._meta.copy()
    meta[LABEL] = np.array([], dtype=float)
    return meta


def _with_window(part: pd.DataFrame, placement: Placement) -> pd.DataFrame:
    """Each call's window, as `Placement.assign` gives it (outside the bulk: none)."""
    return part.assign(**{WINDOW: placement.assign(part["received_at"])})


def _window_meta(feats: Any) -> pd.DataFrame:
    meta = feats._meta.copy()
    meta[WINDOW] = pd.Series([], dtype=object)
    return meta


def _train_stats(part: pd.DataFrame, categorical: tuple[str, ...]) -> dict[str, Any]:
    """One partition's train-window totals (labelled calls, as `fit_all` uses)."""
    y = part[LABEL].to_numpy(dtype=float)
    mask = (part[WINDOW].to_numpy(dtype=object) == "train") & ~np.isnan(y)
    train = part[mask]
    values = {
        name: pd.Series(train[name].to_numpy(dtype=object)).value_counts(dropna=True)
        for name in categorical
    }
    ct = pd.DataFrame({"t": train["call_type"].to_numpy(dtype=object), "y": y[mask]})
    return {
        "values": values,
        "call_type": ct.groupby("t", dropna=False)["y"].agg(["sum", "count"]),
        "harmed": float(np.sum(y[mask])),
        "labelled": int(mask.sum()),
    }


def _sum_stats(parts: list[dict[str, Any]]) -> dict[str, Any]:
    names = parts[0]["values"].keys() if parts else ()
    values = {}
    for name in names:
        s = pd.concat([p["values"][name] for p in parts])
        values[name] = s.groupby(level=0).sum()
    call_type = pd.concat([p["call_type"] for p in parts]).groupby(level=0, dropna=False).sum()
    labelled = sum(p["labelled"] for p in parts)
    if labelled == 0:
        raise UserError("the train window has no labelled calls")
    return {
        "values": values,
        "call_type": call_type,
        "harmed": sum(p["harmed"] for p in parts),
        "labelled": labelled,
    }


def sample_shares(counts: dict[str, dict[str, int]], cfg: ClusterConfig) -> dict[str, float]:
    """The share of each window's labelled calls that goes to the client: the train window up
    to `train_sample_rows`, each later window up to `later_window_rows` (all of it below)."""
    caps = {"train": cfg.train_sample_rows, **dict.fromkeys(LATER, cfg.later_window_rows)}
    return {w: min(1.0, cap / max(counts[w]["calls"], 1)) for w, cap in caps.items()}


def _collect_rows(part: pd.DataFrame, shares: dict[str, float], seed: int) -> pd.DataFrame:
    """The labelled calls of each window, or a seeded share of them (`sample_shares`), chosen
    by a hash of the call_id: the same calls whatever the partitioning."""
    y = part[LABEL].to_numpy(dtype=float)
    win = part[WINDOW].to_numpy(dtype=object)
    labelled = ~np.isnan(y)
    keep = np.zeros(len(part), dtype=bool)
    h = None
    for name, share in shares.items():
        inside = labelled & (win == name)
        if share >= 1.0:
            keep |= inside
        elif inside.any():
            if h is None:
                h = pd.util.hash_array(
                    part["call_id"].to_numpy(dtype=object), hash_key=f"{seed:016d}"[:16]
                )
            keep |= inside & (h < np.uint64(share * float(2**64 - 1)))
    return part[keep]


# --------------------------------------------------------------------------- lightgbm.dask


def _sklearn_params(params: dict[str, Any]) -> dict[str, Any]:
    """booster_params (lightgbm's native names) as the scikit-learn wrapper's arguments."""
    p = dict(params)
    names = {
        "min_data_in_leaf": "min_child_samples",
        "bagging_fraction": "subsample",
        "bagging_freq": "subsample_freq",
        "feature_fraction": "colsample_bytree",
        "lambda_l2": "reg_lambda",
        "seed": "random_state",
    }
    return {names.get(k, k): v for k, v in p.items()}


def _auc(score: np.ndarray, y: np.ndarray) -> float:
    """ROC AUC with ties counted half (as lightgbm's metric): Mann-Whitney on average ranks."""
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _encoded(
    part: pd.DataFrame, encoder: FeatureEncoder, windows: tuple[str, ...]
) -> pd.DataFrame:
    y = part[LABEL].to_numpy(dtype=float)
    mask = np.isin(part[WINDOW].to_numpy(dtype=object), windows) & ~np.isnan(y)
    x = encoder.transform(part[mask])
    out = pd.DataFrame(x, columns=list(encoder.feature_names))
    out[LABEL] = y[mask]
    return out


def fit_booster(
    client: Any,
    feats: Any,
    local: pd.DataFrame,
    encoder: FeatureEncoder,
    cfg: ModelConfig,
    threads: int,
) -> Any:
    """LightGBM on the cluster: trees in chunks with early stopping judged on the client's
    validation window, then (as `train_booster`) a refit on train + validation with the best
    number of trees, or the trees cut there."""
    import lightgbm as lgb
    from lightgbm import DaskLGBMClassifier

    # lightgbm.dask's own messages ("Finding random open ports...") print to stdout unless a
    # logger is registered: send them to the log (stderr), keeping stdout for --json.
    lgb.register_logger(logging.getLogger("lightgbm"))

    monotone = monotone_constraints(FEATURE_NAMES) if cfg.monotone else None
    params = booster_params(cfg, monotone)
    # lightgbm.dask gives each worker its own thread count; validation is judged on the client.
    for key in ("num_threads", "metric"):
        params.pop(key, None)
    sk = _sklearn_params(params)
    categorical = encoder.categorical_indices()
    meta = _encoded(feats._meta, encoder, ("train",))

    def matrix(windows: tuple[str, ...]) -> tuple[Any, Any]:
        enc = feats.map_partitions(_encoded, encoder, windows, meta=meta).persist()
        return enc[list(encoder.feature_names)], enc[LABEL]

    va = local[(local[WINDOW] == "validation").to_numpy() & local[LABEL].notna().to_numpy()]
    x_va = encoder.transform(va)
    y_va = va[LABEL].to_numpy(dtype=float)
    x_tr, y_tr = matrix(("train",))
    categorical = with_values(x_tr, categorical, encoder.feature_names)
    chunk = max(4 * cfg.early_stopping_rounds, 200)
    booster = None
    margin = np.zeros(len(y_va))
    best_auc, best_n, grown = -np.inf, 0, 0
    while grown < cfg.n_estimators:
        # The first chunk; after it, only as many trees as could still decide: up to
        # `early_stopping_rounds` past the best so far (more chunks if the best moves on).
        need = chunk if booster is None else best_n + cfg.early_stopping_rounds - grown
        n = min(max(need, 1), chunk, cfg.n_estimators - grown)
        model = DaskLGBMClassifier(client=client, n_estimators=n, **sk)
        with _quiet():
            model.fit(x_tr, y_tr, categorical_feature=categorical, init_model=booster)
        booster = model.booster_
        stop = False
        for k in range(grown, grown + n):
            margin += booster.predict(x_va, raw_score=True, start_iteration=k, num_iteration=1)
            auc = _auc(margin, y_va)
            if auc > best_auc:
                best_auc, best_n = auc, k + 1
            elif k + 1 - best_n >= cfg.early_stopping_rounds:
                stop = True
                break
        grown += n
        log.info(
            "lightgbm.dask: %d trees grown, best %d (validation AUC %.4f)", grown, best_n, best_auc
        )
        if stop:
            break
    best_n = max(best_n, 1)
    if cfg.refit_on_validation:
        x_all, y_all = matrix(("train", "validation"))
        model = DaskLGBMClassifier(client=client, n_estimators=best_n, **sk)
        with _quiet():
            model.fit(
                x_all,
                y_all,
                categorical_feature=with_values(x_all, categorical, encoder.feature_names),
            )
        log.info("lightgbm.dask: refit on train + validation with %d trees", best_n)
        return model.booster_
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=best_n))


def with_values(x: Any, categorical: list[int], names: Sequence[str]) -> list[int]:
    """The categorical inputs that hold at least one value in `x` (a dask frame).

    Distributed LightGBM crashes a worker process (the others then fail with "Socket recv
    error, Connection reset by peer") while it builds the bins of a categorical input that is
    missing on every row, as `source` and `premise_type` are in an export without those
    columns (Dallas 2016). Such an input can never be split on, as categorical or not, so it is
    passed as an ordinary one: the trees are the same.
    """
    if not categorical:
        return categorical
    counts = x[[names[i] for i in categorical]].count().compute()
    empty = [names[i] for i in categorical if int(counts[names[i]]) == 0]
    if empty:
        log.info(
            "lightgbm.dask: %s have no value in this data; not passed as categorical",
            ", ".join(empty),
        )
    return [i for i in categorical if names[i] not in empty]


@contextlib.contextmanager
def _quiet() -> Any:
    """lightgbm.dask warns that the wrapper's n_jobs is ignored: each worker's thread count is
    used, which is what we want."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored")
        yield


def _peak_gb() -> float:
    """This process's peak resident memory so far, in GB (Linux reports KB): which stage
    raises it is what sizes the machine running the command."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)


def _log_engine(
    run_id: str, workers: int, threads: int, partitions: int, stages: dict[str, float]
) -> None:
    from mlflow import MlflowClient

    c = MlflowClient()
    c.log_param(run_id, "engine", "dask")
    c.log_param(run_id, "dask_workers", workers)
    c.log_param(run_id, "dask_threads_per_worker", threads)
    c.log_param(run_id, "dask_partitions", partitions)
    for k, v in stages.items():
        c.log_metric(run_id, f"cluster_seconds_{k}", round(v, 2))
