"""Pure-function tests of the monitor: intervals, PSI, ranking metrics, the reference, the
verdict rules, and one end-to-end run over audit and history files made in the test."""

from __future__ import annotations

import json
import math
import sqlite3

import numpy as np
import pandas as pd
import pytest

from risk_model.config import MonitorConfig
from risk_model.errors import UserError
from risk_model.model.reference import (
    categorical_shares,
    numeric_shares,
    psi,
    psi_against,
    reference_from,
)
from risk_model.monitor.job import (
    auc,
    average_precision,
    bootstrap_ranking,
    feedback_loop,
    matched_change,
    monitor,
    verdict_for,
    wilson,
)


def test_wilson_matches_the_textbook_values() -> None:
    lo, hi = wilson(10, 100)
    assert lo == pytest.approx(0.0552, abs=1e-4)
    assert hi == pytest.approx(0.1744, abs=1e-4)
    lo0, hi0 = wilson(0, 50)
    assert lo0 == pytest.approx(0.0, abs=1e-12) and 0 < hi0 < 0.08
    assert all(math.isnan(v) for v in wilson(0, 0))


def test_psi_is_zero_for_equal_shares_and_grows_with_the_shift() -> None:
    e = np.array([0.25, 0.25, 0.25, 0.25])
    assert psi(e, e) == pytest.approx(0.0)
    small = psi(e, np.array([0.3, 0.25, 0.25, 0.2]))
    large = psi(e, np.array([0.7, 0.1, 0.1, 0.1]))
    assert 0 < small < 0.1 < 0.25 < large
    # A bin that empties counts heavily but finitely.
    assert math.isfinite(psi(e, np.array([0.0, 0.5, 0.25, 0.25])))


def test_auc_and_average_precision_on_small_cases() -> None:
    y = np.array([0, 0, 1, 1])
    assert auc(np.array([0.1, 0.2, 0.3, 0.4]), y) == 1.0
    assert auc(np.array([0.4, 0.3, 0.2, 0.1]), y) == 0.0
    assert auc(np.array([0.5, 0.5, 0.5, 0.5]), y) == 0.5  # ties count half
    # Scores 0.9(1) 0.8(0) 0.7(1) 0.1(0): AP = (1/1 + 2/3) / 2.
    assert average_precision(np.array([0.9, 0.8, 0.7, 0.1]), np.array([1, 0, 1, 0])) == (
        pytest.approx((1 + 2 / 3) / 2)
    )
    assert math.isnan(auc(np.array([0.1, 0.2]), np.array([0, 0])))


def test_bootstrap_interval_contains_the_estimate() -> None:
    rng = np.random.default_rng(1)
    y = rng.random(5000) < 0.1
    score = np.where(y, rng.normal(1, 1, 5000), rng.normal(0, 1, 5000))
    point = auc(score, y)
    ci = bootstrap_ranking(score, y, reps=50, seed=2)
    assert ci["auc"][0] < point < ci["auc"][1]
    assert ci["auc"][1] - ci["auc"][0] < 0.06
    assert ci["pr_auc"][0] < average_precision(score, y) < ci["pr_auc"][1]


def test_reference_bins_and_psi_against_it() -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "call_type": rng.choice(["DISTURBANCE", "ALARM", "THEFT"], 4000),
            "prem_calls_365d": rng.poisson(3, 4000).astype(float),
        }
    )
    frame.loc[:99, "prem_calls_365d"] = np.nan
    scores = rng.beta(1, 30, 4000)
    ref = reference_from(frame, scores)
    assert ref["features"]["call_type"]["kind"] == "categorical"
    assert ref["features"]["prem_calls_365d"]["kind"] == "numeric"
    assert ref["features"]["prem_calls_365d"]["shares"][-1] == pytest.approx(100 / 4000)
    assert sum(ref["score"]["shares"]) == pytest.approx(1.0)
    json.dumps(ref)  # saved as a JSON artifact
    same = psi_against(ref, scores, frame)
    assert same["score"] < 0.01 and max(same["features"].values()) < 0.01
    # Live calls with a renamed vocabulary and doubled counts.
    live = frame.assign(
        call_type="NEW-" + frame["call_type"],
        prem_calls_365d=lambda f: f.prem_calls_365d * 2 + 3,
    )
    moved = psi_against(ref, scores * 2, live)
    assert moved["features"]["call_type"] > 1
    assert moved["features"]["prem_calls_365d"] > 0.25
    assert moved["score"] > 0.25
    # Unseen categories go to 'other', missing ones to 'missing'.
    shares = categorical_shares(
        np.array(["ALARM", "ZZZ", None], dtype=object), ref["features"]["call_type"]
    )
    assert shares[-2] == pytest.approx(1 / 3) and shares[-1] == pytest.approx(1 / 3)
    assert numeric_shares(np.array([np.nan]), ref["score"])[-1] == 1.0


def _figures(**over: object) -> dict:
    fig = {
        "calibration": {
            "outcomes_known": 1000,
            "observed_rate": 0.02,
            "observed_ci": [0.013, 0.031],
            "predicted_rate": 0.021,
            "predicted_within_ci": True,
            "ratio": 0.95,
        },
        "ranking": {"auc": 0.78, "ci": {"auc": [0.74, 0.82]}, "training_auc": 0.79},
        "coverage": {
            "target": 0.9,
            "high": {"calls": 60, "coverage": 0.9, "ci": [0.8, 0.95]},
            "low": {"calls": 940, "coverage": 0.91, "ci": [0.89, 0.93]},
        },
        "decisions": {
            "live": {"high": 0.05, "low": 0.6, "cant_tell": 0.35},
            "training": {"high": 0.06, "low": 0.58, "cant_tell": 0.36},
        },
        "warnings": {
            "unknown_call_type": 0.01,
            "unseen_area": 0.0,
            "outside_training_period": 0.0,
        },
        "psi": {"score": 0.02, "features": {"call_type": 0.01}},
    }
    fig.update(over)
    return fig


def test_verdict_ok_when_nothing_crosses_a_threshold() -> None:
    assert verdict_for(_figures(), MonitorConfig()) == ("ok", ["no check crossed its threshold"])


def test_verdict_rules_name_their_cause() -> None:
    cfg = MonitorConfig()
    doubled = _figures(
        calibration={
            "outcomes_known": 1000,
            "observed_rate": 0.042,
            "observed_ci": [0.031, 0.056],
            "predicted_rate": 0.021,
            "predicted_within_ci": False,
            "ratio": 2.0,
        }
    )
    verdict, reasons = verdict_for(doubled, cfg)
    assert verdict == "retrain" and "calibration" in reasons[0] and "2.00x" in reasons[0]
    mild = _figures(calibration={**doubled["calibration"], "observed_rate": 0.028, "ratio": 1.3})
    assert verdict_for(mild, cfg)[0] == "watch"
    # Too few outcomes: calibration is not judged.
    few = _figures(calibration={**doubled["calibration"], "outcomes_known": 50})
    assert verdict_for(few, cfg)[0] == "ok"
    unknown = _figures(warnings={"unknown_call_type": 0.6, "unseen_area": 0.0})
    verdict, reasons = verdict_for(unknown, cfg)
    assert verdict == "retrain" and "unknown_call_type" in reasons[0]
    assert verdict_for(_figures(warnings={"unseen_area": 0.08}), cfg)[0] == "watch"
    drift = _figures(psi={"score": 0.3, "features": {"call_type": 0.9, "hour": 0.0}})
    verdict, reasons = verdict_for(drift, cfg)
    assert verdict == "retrain" and any("call_type (0.90)" in r for r in reasons)
    auc_drop = _figures(ranking={"auc": 0.70, "ci": {"auc": [0.66, 0.73]}, "training_auc": 0.79})
    assert verdict_for(auc_drop, cfg)[0] == "retrain"
    shift = _figures(decisions={"live": {"high": 0.3}, "training": {"high": 0.06}})
    verdict, reasons = verdict_for(shift, cfg)
    assert verdict == "watch" and "'high' share" in reasons[0]
    cov = _figures(
        coverage={"target": 0.9, "high": {"calls": 80, "coverage": 0.6, "ci": [0.5, 0.7]}}
    )
    assert verdict_for(cov, cfg)[0] == "watch"


# ----------------------------------------------------------------------------- files


def _audit_entry(
    call_id: str,
    received: str,
    score: float,
    decision: str,
    warnings: list[str],
    version: str = "1",
) -> dict:
    return {
        "call": {"call_id": call_id, "received_at": received, "district": "D1", "call_type": "X"},
        "assessment": {
            "call_id": call_id,
            "risk_score": score,
            "risk_tier": "low",
            "decision": decision,
            "reasons": [],
            "precautions": [],
            "model": {"name": "call-risk", "version": version},
            "warnings": warnings,
        },
        "features": {"call_type": "X", "hour_sin": 0.5},
        "premise_incidents": [],
        "precaution_programs": {},
        "contributions": {"base": 0.0, "labels": [], "values": [], "near_repeat_days": 14},
    }


def _files(tmp_path, n: int = 600, known: int = 500) -> np.ndarray:
    """An audit log of `n` calls (every other one unknown_call_type) and a history store with
    outcomes for the first `known`; returns those outcomes."""
    from risk_model.service.audit_log import AuditLog

    log = AuditLog(tmp_path / "audit.db")
    rng = np.random.default_rng(5)
    entries = [
        _audit_entry(
            f"c{i}",
            f"2025-03-{1 + i % 28:02d}T10:00:00",
            0.05,
            "low",
            ["unknown_call_type: 'X' was rare"] if i % 2 else [],
        )
        for i in range(n)
    ]
    for start in range(0, n, 100):
        log.write(entries[start : start + 100])
    hist = sqlite3.connect(tmp_path / "history.db")
    hist.execute(
        "CREATE TABLE calls (call_id TEXT PRIMARY KEY, ts INTEGER, premise TEXT, "
        "assault INTEGER, injury INTEGER)"
    )
    harmed = rng.random(known) < 0.05
    hist.executemany(
        "INSERT INTO calls VALUES (?, 0, NULL, ?, 0)",
        [(f"c{i}", int(harmed[i])) for i in range(known)],
    )
    hist.commit()
    hist.close()
    return harmed


def test_monitor_reads_both_files_and_reports(tmp_path) -> None:
    n = 600
    harmed = _files(tmp_path, n)
    report = monitor(tmp_path / "audit.db", tmp_path / "history.db", days=60, fetch=False)
    assert report["calls_scored"] == n
    assert report["outcomes_known"] == 500
    assert report["observed_rate"] == pytest.approx(harmed.mean())
    assert report["predicted_rate"] == pytest.approx(0.05)
    v = report["versions"]["call-risk/1"]
    assert v["outcomes_not_yet_known"] == 100
    assert v["warnings"]["unknown_call_type"] == pytest.approx(0.5)
    assert v["psi"]["skipped"] == "artifacts not fetched"
    assert report["verdict"] == "retrain"
    assert any("unknown_call_type" in r for r in report["reasons"])
    # --days narrows the window to the newest calls (received on the 28th, 27th, ...).
    assert (
        monitor(tmp_path / "audit.db", tmp_path / "history.db", days=1, fetch=False)[
            "calls_scored"
        ]
        < n
    )


def test_missing_or_empty_files_are_one_line_errors(tmp_path) -> None:
    from risk_model.service.audit_log import AuditLog

    with pytest.raises(UserError, match="no audit log at"):
        monitor(tmp_path / "nope.db", tmp_path / "h.db", fetch=False)
    AuditLog(tmp_path / "empty.db")
    sqlite3.connect(tmp_path / "h.db").execute(
        "CREATE TABLE calls (call_id TEXT)"
    ).connection.close()
    with pytest.raises(UserError, match="is empty"):
        monitor(tmp_path / "empty.db", tmp_path / "h.db", fetch=False)
    with pytest.raises(UserError, match="no history store at"):
        monitor(tmp_path / "empty.db", tmp_path / "missing.db", fetch=False)


def test_each_run_is_logged_to_mlflow_with_a_daily_series(tmp_path, monkeypatch) -> None:
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    harmed = _files(tmp_path)
    report = monitor(
        tmp_path / "audit.db",
        tmp_path / "history.db",
        days=60,
        fetch=False,
        log_experiment="monitoring",
    )
    client = MlflowClient()
    run = client.get_run(report["mlflow_run_id"])
    assert client.get_experiment(run.info.experiment_id).name == "monitoring"
    assert run.data.tags["verdict"] == report["verdict"]
    assert run.data.metrics["observed_rate"] == pytest.approx(harmed.mean())
    assert run.data.metrics["verdict_level"] == 2  # retrain
    daily = client.get_metric_history(run.info.run_id, "daily_calls_scored")
    assert len(daily) == 28 and sum(m.value for m in daily) == 600


def test_matched_change_compares_like_with_like() -> None:
    # Flagged premises: 2 with 0 calls before (3 after each), 1 with 5 before (6 after).
    before_f, after_f = np.array([0, 0, 5]), np.array([3, 3, 6])
    # Controls: 0 before -> 1 after on average; 5 before -> 6 after; one stratum with no flag.
    before_c, after_c = np.array([0, 0, 5, 12]), np.array([0, 2, 6, 30])
    got = matched_change(before_f, after_f, before_c, after_c)
    assert got["premises"] == 3 and got["unmatched"] == 0 and got["control_premises"] == 3
    assert got["mean_calls_after"] == pytest.approx(4.0)
    assert got["matched_expected_after"] == pytest.approx((2 * 1 + 6) / 3)
    assert got["excess"] == pytest.approx(4.0 - 8 / 3)
    # A flagged stratum without any control is left out, and counted.
    assert matched_change(np.array([50]), np.array([1]), before_c, after_c)["unmatched"] == 1


def test_feedback_loop_sees_calls_rise_after_a_flag(tmp_path) -> None:
    day_us, day_s = 86_400_000_000, 86_400
    hist = sqlite3.connect(tmp_path / "h.db")
    hist.execute("CREATE TABLE calls (call_id TEXT PRIMARY KEY, ts INTEGER, premise TEXT)")
    rows, premises, received, flagged = [], [], [], []
    for p in range(40):
        flag = p < 20
        # Every premise: 2 calls in the 30 days before day 100; flagged ones get 6 after, the
        # others 2. A last call on day 200 makes every after-window complete.
        days = [80, 90] + ([101, 103, 105, 107, 109, 111] if flag else [101, 120])
        rows += [(f"p{p}-{d}", d * day_us, f"P{p}") for d in days]
        premises.append(f"P{p}")
        received.append(100 * day_s)
        flagged.append(flag)
    rows.append(("last", 200 * day_us, "elsewhere"))
    hist.executemany("INSERT INTO calls VALUES (?, ?, ?)", rows)
    hist.commit()
    hist.close()
    got = feedback_loop(
        tmp_path / "h.db",
        np.array(premises, dtype=object),
        np.array(received),
        np.array(flagged),
        days=30,
    )
    assert got["premises"] == 20 and got["control_premises"] == 20
    assert got["mean_calls_before"] == 2 and got["mean_calls_after"] == 6
    assert got["matched_expected_after"] == 2 and got["excess"] == 4
    assert "does not prove" in got["what_it_does_not"]


def test_cli_json_last_line_holds_the_spec_keys(tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from risk_model.cli import app

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    _files(tmp_path)
    args = ["monitor", "--audit-db", "audit.db", "--history-db", "history.db", "--days", "60"]
    result = CliRunner().invoke(app, [*args, "--no-mlflow", "--json"])
    assert result.exit_code == 0, result.output
    last = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("verdict", "reasons", "calls_scored", "outcomes_known"):
        assert key in last
    assert last["verdict"] == "retrain" and last["calls_scored"] == 600
    assert 0 < last["observed_rate"] < 0.2 and last["predicted_rate"] == pytest.approx(0.05)
    # The text report names the verdict and the model; PSI says why it is skipped.
    text = CliRunner().invoke(app, [*args, "--no-mlflow"]).stdout
    assert text.startswith("verdict: RETRAIN") and "PSI skipped: " in text
    missing = CliRunner().invoke(app, ["monitor", "--audit-db", "nope.db", "--no-mlflow"])
    assert missing.exit_code == 2 and "no audit log at nope.db" in missing.output


def test_cli_writes_the_latest_report_beside_the_audit_log(tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from risk_model.cli import app
    from risk_model.monitor.latest import LATEST_NAME, prometheus_text, read_latest

    monkeypatch.chdir(tmp_path)
    _files(tmp_path)
    args = ["monitor", "--audit-db", "audit.db", "--history-db", "history.db", "--days", "60"]
    result = CliRunner().invoke(app, [*args, "--no-mlflow", "--json"])
    assert result.exit_code == 0, result.output
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert last["latest_file"] == LATEST_NAME
    report, why = read_latest(tmp_path / "audit.db")
    assert why is None and report["verdict"] == last["verdict"] == "retrain"
    # the daily trend travels with it: one row per day, calls adding up to the report's
    assert sum(d["calls_scored"] for d in report["daily"]) == report["calls_scored"] == 600
    assert all(len(d["day"]) == 10 for d in report["daily"])
    assert "call_risk_monitor_verdict_level 2.0" in prometheus_text(report)
    (tmp_path / LATEST_NAME).unlink()
    result = CliRunner().invoke(app, [*args, "--no-mlflow", "--no-latest", "--json"])
    assert result.exit_code == 0 and not (tmp_path / LATEST_NAME).exists()


def test_each_model_version_is_judged_on_its_own_calls(tmp_path) -> None:
    from risk_model.service.audit_log import AuditLog

    log = AuditLog(tmp_path / "audit.db")
    # Version 1 scored 300 calls without warnings, version 2 (a challenger) 300 with.
    log.write(
        [
            _audit_entry(f"a{i}", f"2025-03-{1 + i % 28:02d}T10:00:00", 0.05, "low", [], "1")
            for i in range(300)
        ]
        + [
            _audit_entry(
                f"b{i}",
                f"2025-03-{1 + i % 28:02d}T11:00:00",
                0.05,
                "low",
                ["unseen_area: beat B9 never seen in training"],
                "2",
            )
            for i in range(300)
        ]
    )
    hist = sqlite3.connect(tmp_path / "history.db")
    hist.execute(
        "CREATE TABLE calls (call_id TEXT PRIMARY KEY, ts INTEGER, premise TEXT, "
        "assault INTEGER, injury INTEGER)"
    )
    hist.commit()
    hist.close()
    report = monitor(tmp_path / "audit.db", tmp_path / "history.db", days=60, fetch=False)
    assert set(report["versions"]) == {"call-risk/1", "call-risk/2"}
    assert report["versions"]["call-risk/1"]["verdict"] == "ok"
    assert report["versions"]["call-risk/2"]["verdict"] == "retrain"
    assert report["verdict"] == "retrain"
    assert report["reasons"] == [
        "call-risk/2: retrain: warnings: 100.0% of calls carry unseen_area",
        "call-risk/2: watch: district D1: 100.0% of calls carry unseen_area",
    ]
    assert report["outcomes_known"] == 0 and report["observed_rate"] is None


def _damaged_log(tmp_path) -> None:
    """The audit log of `_files` with one leaf page of records overwritten and one record's
    bytes and one record's score made impossible (issue 22, N9)."""
    path = tmp_path / "audit.db"
    con = sqlite3.connect(path)
    con.execute("UPDATE audit_entry SET record = X'0001020304' WHERE id = 7")
    con.execute("UPDATE audit_entry SET score = 'high' WHERE id = 8")
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = con.execute("PRAGMA page_size").fetchone()[0]
    leaves = [
        r[0]
        for r in con.execute(
            "SELECT pageno FROM dbstat WHERE name = 'audit_entry' AND pagetype = 'leaf' "
            "ORDER BY pageno"
        )
    ]
    con.close()
    page = leaves[len(leaves) // 2]
    data = bytearray(path.read_bytes())
    start = (page - 1) * page_size
    data[start : start + page_size] = bytes((i * 7 + 3) % 256 for i in range(page_size))
    path.write_bytes(bytes(data))


def test_a_damaged_audit_log_is_read_around_and_said_in_one_line(tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from risk_model.cli import app

    _files(tmp_path)
    _damaged_log(tmp_path)
    report = monitor(tmp_path / "audit.db", tmp_path / "history.db", days=60, fetch=False)
    damaged = report["damaged_records"]
    assert damaged >= 2 and report["calls_scored"] + damaged >= 600 - 1
    assert report["calls_scored"] > 300
    assert "damaged audit records were skipped" in report["notes"][0]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    args = ["monitor", "--audit-db", "audit.db", "--history-db", "history.db", "--days", "60"]
    result = CliRunner().invoke(app, [*args, "--no-mlflow", "--json"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "damaged audit records skipped" in warnings[0]
    assert json.loads(result.stdout.strip().splitlines()[-1])["damaged_records"] == damaged


def test_the_audit_log_names_a_damaged_record_instead_of_failing(tmp_path) -> None:
    from risk_model.service.audit_log import AuditLog, DamagedRecord

    _files(tmp_path, n=20)
    con = sqlite3.connect(tmp_path / "audit.db")
    con.execute("UPDATE audit_entry SET record = X'0001020304' WHERE call_id = 'c3'")
    con.execute(
        "UPDATE audit_entry SET model = (SELECT MAX(id) FROM audit_value) WHERE call_id = 'c4'"
    )
    con.commit()
    con.close()
    log = AuditLog(tmp_path / "audit.db")
    with pytest.raises(DamagedRecord, match="'c3' is damaged"):
        log.entry("c3")
    assert log.entry("c5")["assessment"]["call_id"] == "c5"
    listed = {r["call_id"] for r in log.recent(limit=100)}
    assert "c3" in listed and "c5" in listed and len(listed) >= 19
