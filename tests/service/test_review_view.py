"""Unit tests for risk_model.review.view: the review page's words and numbers, on tiny
inputs."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from risk_model.review import view as rd

# ------------------------------------------------------------------ numbers in words


@pytest.mark.parametrize(
    ("p", "text"),
    [
        (0.0, "0%"),
        (0.000186, "0.019%"),
        (0.0053, "0.53%"),
        (0.0142, "1.4%"),
        (0.123, "12%"),
        (1.0, "100%"),
        (None, "unknown"),
        (float("nan"), "unknown"),
    ],
)
def test_format_percent(p: float | None, text: str) -> None:
    assert rd.format_percent(p) == text


@pytest.mark.parametrize(
    ("p", "text"),
    [
        (0.0053, "about 1 in 190 calls"),
        (0.009, "about 1 in 110 calls"),
        (0.25, "about 1 in 4 calls"),
        (0.00019, "about 1 in 5,300 calls"),
        (0.9, "nearly every call"),
        (0.0, ""),
    ],
)
def test_one_in(p: float, text: str) -> None:
    assert rd.one_in(p) == text


@pytest.mark.parametrize(
    ("p", "base", "text"),
    [
        (0.0053, 0.0028, "1.9 times the base rate"),
        (0.014, 0.0028, "5.0 times the base rate"),
        (0.0001, 0.0028, "less than a tenth of the base rate"),
        (0.01, 0.0, "base rate unknown"),
    ],
)
def test_times_base_words(p: float, base: float, text: str) -> None:
    assert rd.times_base_words(p, base) == text


@pytest.mark.parametrize(
    ("value", "word"),
    [
        (True, "yes"),
        (False, "no"),
        (None, "unknown"),
        (1, "yes"),
        (0, "no"),
        (float("nan"), "unknown"),
        ("Y", "yes"),
        ("false", "no"),
        ("", "unknown"),
    ],
)
def test_flag_word_keeps_unknown_apart_from_false(value: object, word: str) -> None:
    assert rd.flag_word(value) == word


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("2025-12-31T20:25:04", "2025-12-31 20:25"),
        ("2025-12-31 20:25", "2025-12-31 20:25"),
        ("2025-12-31T20:25:04-06:00", "2025-12-31 20:25 -06:00"),
        ("2025-12-31T20:25:04.123456+01:00", "2025-12-31 20:25 +01:00"),
        ("2025-12-31", "2025-12-31"),
    ],
)
def test_format_time(value: str, text: str) -> None:
    assert rd.format_time(value) == text


# ------------------------------------------------------------------ meanings


def test_tier_meaning_states_thresholds_in_multiples_and_percent() -> None:
    text = rd.tier_meaning("elevated", 0.0028, 2.0, 5.0)
    assert "2 times the base rate" in text
    assert "0.56%" in text and "1.4%" in text
    assert rd.tier_meaning("high", 0.0028, 2.0, 5.0).startswith("High: ")
    assert "under 0.56%" in rd.tier_meaning("low", 0.0028, 2.0, 5.0)


@pytest.mark.parametrize("decision", ["high", "low", "cant_tell"])
def test_decision_meaning_names_the_error_rate(decision: str) -> None:
    text = rd.decision_meaning(decision, 0.1)
    assert "10% error rate" in text
    assert text.startswith(rd.DECISION_LABELS[decision] + ":")


def test_cant_tell_is_explained_not_hidden() -> None:
    text = rd.decision_meaning("cant_tell", 0.1)
    assert "overlap" in text and "rather than guess" in text


def test_high_decision_does_not_claim_harm_is_likely() -> None:
    assert "does not mean harm is likely" in rd.decision_meaning("high", 0.1)


def test_call_facts_and_flags_say_not_recorded_and_unknown() -> None:
    call = {
        "call_id": "C-1",
        "received_at": "2025-06-01T01:30:00",
        "call_type": "DISTURBANCE",
        "priority": 2,
        "address": None,
        "weapon_reported": True,
        "domestic": None,
        "mental_health": False,
    }
    facts = {f["key"]: f["value"] for f in rd.call_facts(call)}
    assert facts["call_type"] == "DISTURBANCE"
    assert facts["received_at"] == "2025-06-01 01:30"
    assert facts["priority"] == "2"
    assert facts["address"] == "not recorded"
    assert facts["beat"] == "not recorded"
    flags = {f["key"]: f["value"] for f in rd.reported_flags(call)}
    assert flags == {
        "weapon_reported": "yes",
        "domestic": "unknown",
        "mental_health": "no",
        "intoxication": "unknown",
        "in_progress": "unknown",
    }


# ------------------------------------------------------------------ waterfall


CONTRIB = {
    "base": -7.0,
    "items": [
        {"feature": "call_type", "contribution": 1.5, "text": "Call type: ASSAULT"},
        {"feature": "hour", "contribution": 0.2, "text": "Time of day: 01:30"},
        {"feature": "prem_calls_7d", "contribution": -0.4, "text": "No other calls"},
        {"feature": "domestic", "contribution": 0.05, "text": "Not known whether domestic"},
        {"feature": "beat_calls_30d", "contribution": -0.01, "text": "12 calls in this beat"},
    ],
}


def test_waterfall_orders_by_size_and_adds_up() -> None:
    wf = rd.waterfall(CONTRIB, top=3)
    assert [s["feature"] for s in wf["steps"]] == ["call_type", "prem_calls_7d", "hour"]
    assert wf["steps"][0]["start"] == pytest.approx(-7.0)
    assert wf["steps"][0]["end"] == pytest.approx(-5.5)
    for prev, nxt in zip(wf["steps"], wf["steps"][1:], strict=False):
        assert nxt["start"] == pytest.approx(prev["end"])
    assert wf["other"]["count"] == 2
    assert wf["other"]["contribution"] == pytest.approx(0.04)
    assert wf["other"]["start"] == pytest.approx(wf["steps"][-1]["end"])
    assert wf["total"] == pytest.approx(-7.0 + 1.5 + 0.2 - 0.4 + 0.05 - 0.01)
    assert wf["steps"][1]["odds_multiplier"] == pytest.approx(math.exp(-0.4))


def test_waterfall_without_rest_has_no_other_bar() -> None:
    wf = rd.waterfall(CONTRIB, top=10)
    assert wf["other"] is None
    assert len(wf["steps"]) == 5


@given(
    base=st.floats(-10, 2),
    contributions=st.lists(st.floats(-3, 3), max_size=40),
    top=st.integers(1, 12),
)
def test_waterfall_total_is_base_plus_every_contribution(
    base: float, contributions: list[float], top: int
) -> None:
    items = [
        {"feature": f"f{i}", "contribution": c, "text": f"fact {i}"}
        for i, c in enumerate(contributions)
    ]
    wf = rd.waterfall({"base": base, "items": items}, top=top)
    assert wf["total"] == pytest.approx(base + sum(contributions), abs=1e-9)
    assert len(wf["steps"]) == min(top, len(items))
    shown = [abs(s["contribution"]) for s in wf["steps"]]
    assert shown == sorted(shown, reverse=True)
    last = wf["other"]["end"] if wf["other"] else (wf["steps"][-1]["end"] if shown else base)
    assert last == pytest.approx(wf["total"])


# ------------------------------------------------------------------ one call


def _entry() -> dict:
    return {
        "call": {
            "call_id": "C-9",
            "received_at": "2025-06-01T01:30:00",
            "call_type": "ASSAULT",
            "priority": 1,
            "address": "100 MAIN ST",
            "district": "NORTH",
            "weapon_reported": True,
            "narrative": "CALLER SAYS MALE HAS KNIFE",
        },
        "assessment": {
            "call_id": "C-9",
            "risk_score": 0.02,
            "risk_tier": "high",
            "decision": "high",
            "reasons": [
                {
                    "feature": "call_type",
                    "value": "ASSAULT",
                    "contribution": 1.5,
                    "text": "Call type: ASSAULT",
                },
            ],
            "precautions": [
                {
                    "id": "two_officer_response",
                    "text": "Dispatch at least two officers; wait for cover before contact",
                    "because": ["decision", "risk_tier", "weapon_reported"],
                },
                {"id": "ems_staging", "text": "Stage EMS nearby", "because": ["nar_weapon"]},
            ],
            "model": {"name": "call-risk", "version": "3"},
            "warnings": [],
        },
        "premise_incidents": [
            {
                "call_id": "P-1",
                "received_at": "2025-03-02T10:00:00",
                "call_type": "DISTURBANCE",
                "violent": True,
                "weapon": False,
                "assault": True,
                "injury": False,
            },
            {
                "call_id": "P-2",
                "received_at": "2025-05-20T22:15:00",
                "call_type": None,
                "violent": False,
                "weapon": True,
                "assault": False,
                "injury": False,
            },
        ],
        "precaution_programs": {"two_officer_response": "VALOR", "ems_staging": "VALOR care"},
        "contributions": {
            "base": -7.0,
            "items": [
                {"feature": "call_type", "contribution": 1.5, "text": "Call type: ASSAULT"},
                {
                    "feature": "weapon_reported",
                    "contribution": 0.7,
                    "text": "Caller reported a weapon",
                },
            ],
        },
    }


def test_call_view_passes_the_assessment_through_unchanged() -> None:
    entry = _entry()
    original = copy.deepcopy(entry["assessment"])
    view = rd.call_view(entry, 0.004, 2.0, 5.0, 0.1, {"name": "call-risk", "version": "3"})
    assert view["assessment"] == original
    assert view["reasons"] == original["reasons"]
    assert [p["text"] for p in view["precautions"]] == [p["text"] for p in original["precautions"]]
    assert view["scored_by_current_model"] is True


def test_call_view_explains_score_tier_decision() -> None:
    view = rd.call_view(_entry(), 0.004, 2.0, 5.0, 0.1)
    assert view["score"]["percent"] == "2.0%"
    assert view["score"]["times_base"] == pytest.approx(5.0)
    assert view["score"]["times_base_words"] == "5.0 times the base rate"
    assert view["tier"]["label"] == "High"
    assert view["decision"]["label"] == "High"
    assert "10% error rate" in view["decision"]["meaning"]
    assert view["narrative"] == "CALLER SAYS MALE HAS KNIFE"


def test_call_view_ties_precautions_to_reasons_in_words_and_programs() -> None:
    view = rd.call_view(_entry(), 0.004, 2.0, 5.0, 0.1)
    two, ems = view["precautions"]
    assert two["program"] == "VALOR"
    assert [b["text"] for b in two["because"]] == [
        "Decision: High",
        "Risk tier: High",
        "Caller reported a weapon",
    ]
    # A feature that is not among the contributions still reads as words, not a column name.
    assert ems["because"] == [
        {"feature": "nar_weapon", "text": "Call notes mention a weapon (not negated)"}
    ]


def test_call_view_premise_history_newest_first_in_words() -> None:
    view = rd.call_view(_entry(), 0.004, 2.0, 5.0, 0.1)
    hist = view["premise_history"]
    assert [h["call_id"] for h in hist] == ["P-2", "P-1"]
    assert hist[0] == {
        "date": "2025-05-20",
        "time": "2025-05-20 22:15",
        "call_type": "not recorded",
        "what": "weapon involved",
        "call_id": "P-2",
        "received_at": "2025-05-20T22:15:00",
    }
    assert hist[1]["what"] == "assault on an officer, violent call"


def test_call_view_says_when_the_premise_list_may_be_cut() -> None:
    assert rd.call_view(_entry(), 0.004, 2.0, 5.0, 0.1)["premise_history_may_be_cut"] is False
    entry = _entry()
    entry["premise_incidents"] = entry["premise_incidents"] * 5
    assert rd.call_view(entry, 0.004, 2.0, 5.0, 0.1)["premise_history_may_be_cut"] is True


def test_call_view_flags_an_older_model_version() -> None:
    view = rd.call_view(_entry(), 0.004, 2.0, 5.0, 0.1, {"name": "call-risk", "version": "4"})
    assert view["scored_by_current_model"] is False


# ------------------------------------------------------------------ the calls list

ROWS = [
    {"id": 1, "call_id": "A", "received_at": "2025-01-01T10:00:00", "risk_score": 0.010},
    {"id": 2, "call_id": "B", "received_at": "2025-01-02T10:00:00", "risk_score": 0.001},
    {"id": 3, "call_id": "C", "received_at": "2025-01-03T10:00:00", "risk_score": 0.005},
]


def test_call_row_adds_words() -> None:
    row = {**ROWS[0], "risk_tier": "elevated", "decision": "cant_tell"}
    out = rd.call_row(row, base_rate=0.005)
    assert out["percent"] == "1.0%"
    assert out["times_base"] == pytest.approx(2.0)
    assert out["received"] == "2025-01-01 10:00"
    assert (out["tier_label"], out["decision_label"]) == ("Elevated", "Can't tell")


# ------------------------------------------------------------------ the model's artifacts


def _metrics(auc: float, brier: float) -> dict:
    return {
        "auc": auc,
        "pr_auc": auc / 10,
        "brier": brier,
        "ece": brier / 4,
        "recall_top5pct": auc / 2,
        "recall_top10pct": auc / 1.5,
    }


SUMMARY = {
    "metrics": {
        "logistic": _metrics(0.82, 0.00265),
        "model": {
            **_metrics(0.88, 0.00264),
            "share_high": 0.1,
            "rate_high": 0.016,
            "share_low": 0.6,
            "rate_low": 0.0004,
            "share_cant_tell": 0.3,
            "rate_cant_tell": 0.003,
            "coverage_high": 0.91,
            "coverage_low": 0.90,
            "ci": {"auc": [0.84, 0.9]},
        },
        "oracle": _metrics(0.95, 0.0020),
        "call_type_rate": {**_metrics(0.77, 0.00269), "ece": float("nan")},
    },
    "metadata": {
        "trained_at": "2026-01-05T10:00:00",
        "history_until": "2025-12-31 23:55:50",
        "feature_hash": "abc123",
        "windows": {
            "train_start": "2025-01-01 00:02:10",
            "train_end": "2025-07-02 11:59:00",
            "test_start": "2025-10-01 17:57:25",
            "test_end": "2025-12-31 23:55:50",
        },
    },
    "window_counts": {
        "train": {"calls": 600, "positives": 2},
        "test": {"calls": 300, "positives": 1},
    },
    "tiers": {"base_rate": 0.0028, "elevated_at": 0.0056, "high_at": 0.014},
    "conformal_alpha": 0.1,
}


def test_metrics_table_orders_models_and_marks_best_without_the_oracle() -> None:
    table = rd.metrics_table(SUMMARY)
    assert [c["key"] for c in table["columns"]] == [
        "model",
        "call_type_rate",
        "logistic",
        "oracle",
    ]
    rows = {r["key"]: r for r in table["rows"]}
    assert rows["auc"]["best"] == "model"  # the oracle's 0.95 is a ceiling, not a competitor
    assert rows["brier"]["best"] == "model"  # lower is better
    assert rows["auc"]["model_ci"] == [0.84, 0.9]
    assert rows["ece"]["values"]["call_type_rate"] is None  # NaN becomes null, not a number
    json.dumps(table, allow_nan=False)


def test_decisions_summary() -> None:
    d = rd.decisions_summary(SUMMARY)
    assert [r["decision"] for r in d["rows"]] == ["high", "low", "cant_tell"]
    assert d["rows"][2]["label"] == "Can't tell"
    assert (d["coverage_high"], d["alpha"]) == (0.91, 0.1)


def test_training_window_lists_only_windows_present() -> None:
    w = rd.training_window(SUMMARY)
    assert [x["window"] for x in w] == ["train", "test"]
    assert w[0] == {
        "window": "train",
        "label": "Training",
        "from": "2025-01-01",
        "to": "2025-07-02",
        "calls": 600,
        "positives": 2,
    }


CALIB = pd.DataFrame(
    {
        "decile": [2, 1, 1, 2],
        "calls": [10, 10, 10, 10],
        "mean_predicted": [0.02, 0.001, 0.002, 0.03],
        "observed_rate": [0.1, 0.0, 0.0, 0.1],
        "positives": [1, 0, 0, 1],
        "model": ["model", "model", "call_type_rate", "call_type_rate"],
    }
)


def test_calibration_curves_one_per_model_in_decile_order() -> None:
    curves = rd.calibration_curves(CALIB)
    assert [c["model"] for c in curves] == ["model", "call_type_rate"]
    assert [p["decile"] for p in curves[0]["points"]] == [1, 2]
    assert curves[0]["points"][1] == {
        "decile": 2,
        "calls": 10,
        "positives": 1,
        "mean_predicted": 0.02,
        "observed_rate": 0.1,
    }


def test_importance_bars_merge_time_of_day_and_use_descriptions() -> None:
    imp = pd.DataFrame(
        {
            "feature": ["call_type", "hour_cos", "prem_assaults_365d", "hour_sin"],
            "mean_abs_shap": [0.8, 0.17, 0.1, 0.06],
        }
    )
    bars = rd.importance_bars(imp, top=2)
    assert [b["feature"] for b in bars] == ["call_type", "hour"]
    assert bars[1]["label"] == "Time of day"
    assert bars[1]["mean_abs_shap"] == pytest.approx(0.23)
    assert bars[0]["label"].startswith("Initial call type")
    third = rd.importance_bars(imp)[2]
    assert third["label"] == "Assaults on officers at this address, past year"
    assert third["unit"] == "assaults"


AUDIT = pd.DataFrame(
    {
        "grouping": ["district", "district", "call_family"],
        "group": ["SOUTH", "(unknown)", "theft"],
        "calls": [4000, 146, 2000],
        "positives": [4, 0, 2],
        "observed_rate": [0.001, 0.0, 0.001],
        "mean_score": [0.0023, 0.0005, 0.0035],
        "calibration_ratio": [2.29, float("nan"), 3.7],
        "flagged_share": [0.04, 0.0, 0.08],
        "fpr": [0.04, 0.0, 0.08],
        "fpr_ratio": [0.85, 0.0, 1.6],
        "fnr": [1.0, 0.0, 0.5],
        "fnr_ratio": [1.93, 0.0, 0.96],
        "enough_calls": [True, False, True],
    }
)


def test_audit_rows_mark_few_calls_and_keep_nan_as_null() -> None:
    audit = rd.audit_rows(AUDIT, "district", min_calls=200)
    assert audit["min_calls"] == 200
    assert [r["group"] for r in audit["rows"]] == ["SOUTH", "(unknown)"]
    south, unknown = audit["rows"]
    assert (south["marker"], south["calibration_ratio"], south["fpr_ratio"]) == (None, 2.29, 0.85)
    assert unknown["marker"] == "few calls"
    assert unknown["calibration_ratio"] is None
    json.dumps(audit, allow_nan=False)


def _write_run(directory: Path, skip: tuple[str, ...] = ()) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    if "summary.json" not in skip:
        (directory / "summary.json").write_text(json.dumps(SUMMARY).replace("NaN", "null"))
    if "calibration_by_decile.csv" not in skip:
        CALIB.to_csv(directory / "calibration_by_decile.csv", index=False)
    if "audit.csv" not in skip:
        AUDIT.to_csv(directory / "audit.csv", index=False)
    if "feature_importance.csv" not in skip:
        pd.DataFrame({"feature": ["call_type"], "mean_abs_shap": [0.8]}).to_csv(
            directory / "feature_importance.csv", index=False
        )
    return directory


def test_model_report_from_artifact_files(tmp_path: Path) -> None:
    arts = rd.read_artifacts(_write_run(tmp_path / "run"))
    assert arts.missing == ()
    report = rd.model_report(arts, "call-risk", "3", "run-1", metadata={"base_rate": 0.5})
    assert (report["name"], report["version"], report["run_id"]) == ("call-risk", "3", "run-1")
    assert report["base_rate"] == 0.0028  # the run's summary wins over loose metadata
    assert report["base_rate_percent"] == "0.28%"
    assert report["history_until"] == "2025-12-31"
    assert report["metrics"]["columns"][0]["key"] == "model"
    assert [r["group"] for r in report["audit_district"]["rows"]] == ["SOUTH", "(unknown)"]
    assert [r["group"] for r in report["audit_call_family"]["rows"]] == ["theft"]
    assert report["importance"][0]["feature"] == "call_type"
    assert report["missing"] == []
    json.dumps(report, allow_nan=False)


def test_model_report_leaves_out_missing_sections(tmp_path: Path) -> None:
    run = _write_run(tmp_path / "run", skip=("audit.csv", "calibration_by_decile.csv"))
    (run / "feature_importance.csv").write_text("")  # unreadable counts as missing
    arts = rd.read_artifacts(run)
    assert set(arts.missing) == {
        "audit.csv",
        "calibration_by_decile.csv",
        "feature_importance.csv",
    }
    report = rd.model_report(arts, "call-risk", "3", None)
    assert report["audit_district"] is None
    assert report["calibration"] is None
    assert report["importance"] is None
    assert report["metrics"] is not None


def test_model_report_with_nothing_at_all(tmp_path: Path) -> None:
    arts = rd.read_artifacts(tmp_path)
    assert set(arts.missing) == set(rd.ARTIFACTS)
    report = rd.model_report(arts, "call-risk", "1", None, metadata={"base_rate": 0.003})
    assert report["metrics"] is None and report["windows"] == []
    assert report["base_rate"] == 0.003
