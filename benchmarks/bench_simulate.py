"""Benchmark of `risk-model simulate`: wall time and peak memory of the real command.

    python benchmarks/bench_simulate.py --calls 1000000            # time + peak RSS
    python benchmarks/bench_simulate.py --calls 1000000 --signal   # + how much signal there is

It runs the installed command in a subprocess (so imports, generation and the Parquet write are
all counted, and peak RSS is the child's own). With `--signal` it also reads the output back and
reports the AUC of the true risk, of the call type's mean rate and of a LightGBM model on what a
call-taker knows plus premise history: the sanity check of docs/simulator.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Narrative families the check reads (the project's real lexicon lives in risk_model.features).
_TEXT_FAMILIES = {
    "nar_weapon": r"SUBJ POSS ARMED|W/ KNIFE|HAS A GUN|HANDGUN|FIREARM|MACHETE|BRANDISHING",
    "nar_weapon_neg": r"NO WEAPONS|NEG WEAPONS|DENIES WEAPONS|NO WPNS",
    "nar_threat": r"THREATENING TO KILL RP|MAKING THREATS|THREATENED",
    "nar_violence": r"FIGHTING|HITTING|PUNCHED|PHYSICAL DIST|CHOKING",
    "nar_violence_neg": r"VERBAL ONLY|NOT PHYSICAL",
    "nar_mental": r"EDP|OFF HIS MEDS|HEARING VOICES|BIPOLAR|PSYCH HX",
    "nar_suicide": r"SUICIDAL|KILL HERSELF|END HIS LIFE",
    "nar_intox": r"INTOX|DRUNK|ETOH|HIGH ON|UNDER THE INFLUENCE",
    "nar_children": r"CHILDREN PRESENT|KIDS IN RES|INFANT",
}


def _command() -> list[str]:
    script = Path(sys.executable).parent / "risk-model"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from risk_model.cli import app; app()"]


def run_simulate(calls: int, seed: int, out: Path) -> dict:
    """Runs the real command; returns its JSON summary plus wall seconds and peak RSS (MB)."""
    cmd = [*_command(), "simulate", "--calls", str(calls), "--seed", str(seed)]
    cmd += ["--out", str(out), "--json"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"simulate failed with exit code {proc.returncode}")
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # kB on Linux
    return {
        "command": " ".join(cmd),
        "wall_seconds": round(wall, 2),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "file_mb": round(out.stat().st_size / 2**20, 1),
        **summary,
    }


def signal_check(out: Path, train_share: float = 0.6) -> dict:
    """AUCs of the oracle, the call-type rate and a model on observable facts (sanity check)."""
    import lightgbm as lgb
    import numpy as np
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from risk_model.simulate.files import truth_path_for
    from risk_model.simulate.world import DEFAULT_CALL_TYPES

    calls = pd.read_parquet(out) if out.suffix == ".parquet" else pd.read_csv(out)
    truth = pd.read_parquet(truth_path_for(out))
    y = (
        calls["officer_assaulted"].astype(bool) | calls["officer_injured"].astype(bool)
    ).to_numpy()
    type_rate_in_sample = pd.Series(y).groupby(calls["call_type"].to_numpy()).transform("mean")
    result = {
        "calls": len(calls),
        "positives": int(y.sum()),
        "auc_true_risk": roc_auc_score(y, truth["true_risk"]),
        "auc_call_type_rate_in_sample": roc_auc_score(y, type_rate_in_sample),
    }

    # Observable features: the call as taken plus premise history strictly before it. The
    # premise key is the simulator's premise_id, i.e. an ideal address normaliser.
    x = pd.DataFrame(index=calls.index)
    for col in ("call_type", "source", "premise_type", "beat", "district"):
        x[col] = calls[col].astype("category")
    x["priority"] = calls["priority"].astype("float64")
    x["hour"] = calls["received_at"].dt.hour
    x["dow"] = calls["received_at"].dt.day_of_week
    for col in ("weapon_reported", "domestic", "mental_health", "intoxication", "in_progress"):
        x[col] = calls[col].astype("float64")
    text = calls["narrative"].fillna("")
    for name, pattern in _TEXT_FAMILIES.items():
        x[name] = text.str.contains(pattern, regex=True).astype("float64")
    violent_types = {t.name for t in DEFAULT_CALL_TYPES if t.violent}
    pid = truth["premise_id"].where(calls["address"].notna(), -1 - np.arange(len(calls)))
    violent = calls["call_type"].isin(violent_types).astype(int)
    assaulted = calls["officer_assaulted"].astype(int)
    grp = pd.DataFrame({"pid": pid, "v": violent, "a": assaulted}).groupby("pid")
    x["prior_calls"] = grp.cumcount()
    x["prior_violent"] = grp["v"].cumsum() - violent
    x["prior_assaults"] = grp["a"].cumsum() - assaulted
    x["violent_14d"] = truth["near_repeat_violent_14d"].where(calls["address"].notna(), 0)

    cut = int(len(calls) * train_share)
    model = lgb.LGBMClassifier(
        n_estimators=400,
        learning_rate=0.03,
        num_leaves=15,
        min_child_samples=300,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        reg_lambda=5.0,
        verbose=-1,
        n_jobs=2,
    )
    model.fit(x.iloc[:cut], y[:cut])
    score = model.predict_proba(x.iloc[cut:])[:, 1]
    y_test = y[cut:]
    train_rate = pd.Series(y[:cut]).groupby(calls["call_type"].to_numpy()[:cut]).mean()
    type_rate = calls["call_type"].iloc[cut:].map(train_rate).fillna(y[:cut].mean())
    auc_oracle = roc_auc_score(y_test, truth["true_risk"].iloc[cut:])
    auc_type = roc_auc_score(y_test, type_rate.astype(float))
    auc_obs = roc_auc_score(y_test, score)
    result.update(
        {
            "test_calls": len(y_test),
            "test_positives": int(y_test.sum()),
            "test_auc_true_risk": auc_oracle,
            "test_auc_call_type_rate": auc_type,
            "test_auc_observable_model": auc_obs,
            "test_gap_recovered": (auc_obs - auc_type) / max(auc_oracle - auc_type, 1e-9),
        }
    )
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    parser.add_argument("--keep", type=Path, default=None, help="Directory to keep the output.")
    parser.add_argument("--signal", action="store_true", help="Also run the signal check.")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        out = folder / f"calls_{args.calls}.{args.format}"
        report = run_simulate(args.calls, args.seed, out)
        print(
            f"simulate {args.calls:,} calls: {report['wall_seconds']:.1f} s wall "
            f"({report['seconds']:.1f} s inside), peak RSS {report['peak_rss_mb']:.0f} MB, "
            f"file {report['file_mb']:.0f} MB"
        )
        if args.signal:
            report["signal"] = signal_check(out)
            for key, value in report["signal"].items():
                print(f"  {key}: {value}")
        print(json.dumps(report))


if __name__ == "__main__":
    main()
