"""The district audit: its error rates equal fairlearn's MetricFrame on the same calls."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, false_negative_rate, false_positive_rate

from risk_model.training.fairness import audit, audit_summary, audit_table, top_k_threshold


@pytest.fixture()
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    n = 20_000
    district = rng.choice(
        ["NORTH", "SOUTH", "EAST", "WEST", None], n, p=[0.3, 0.3, 0.2, 0.19, 0.01]
    )
    risk = np.where(district == "NORTH", 0.02, 0.005)
    label = (rng.random(n) < risk).astype(int)
    score = risk * rng.lognormal(0, 0.5, n) + label * 0.01
    return pd.DataFrame(
        {
            "score": score,
            "label": label,
            "district": district,
            "call_family": rng.choice(["domestic", "traffic"], n),
        }
    )


def test_error_rates_match_fairlearn(frame: pd.DataFrame) -> None:
    table = audit_table(frame, "district", top_fraction=0.05, min_calls=100).set_index("group")
    flagged = (frame["score"] >= top_k_threshold(frame["score"].to_numpy(), 0.05)).astype(int)
    groups = frame["district"].astype(object).where(frame["district"].notna(), "(unknown)")
    mf = MetricFrame(
        metrics={"fpr": false_positive_rate, "fnr": false_negative_rate},
        y_true=frame["label"],
        y_pred=flagged,
        sensitive_features=groups.astype(str),
    )
    for g, row in mf.by_group.iterrows():
        assert table.loc[g, "fpr"] == pytest.approx(row["fpr"])
        assert table.loc[g, "fnr"] == pytest.approx(row["fnr"])
        assert table.loc[g, "fpr_ratio"] == pytest.approx(row["fpr"] / mf.overall["fpr"])
    assert table["calls"].sum() == len(frame)
    assert table.loc["(unknown)", "enough_calls"] == bool(table.loc["(unknown)", "calls"] >= 100)


def test_top_five_percent_are_flagged_and_calibration_ratio_is_mean_over_observed(
    frame: pd.DataFrame,
) -> None:
    table = audit_table(frame, "district").set_index("group")
    overall = (table["flagged_share"] * table["calls"]).sum() / table["calls"].sum()
    assert overall == pytest.approx(0.05, abs=0.001)
    north = frame[frame["district"] == "NORTH"]
    assert table.loc["NORTH", "calibration_ratio"] == pytest.approx(
        north["score"].mean() / north["label"].mean()
    )


def test_audit_covers_districts_and_families_and_summarises(frame: pd.DataFrame) -> None:
    table = audit(frame, min_calls=100)
    assert set(table["grouping"]) == {"district", "call_family"}
    summary = audit_summary(table)
    assert "audit_district_fpr_ratio_max" in summary
    assert summary["audit_district_fpr_ratio_max"] >= summary["audit_district_fpr_ratio_min"]
