"""Nothing dropped in silence (SPEC §3, issue 18 item 4, issue 22 N3 and N13): an outcome join
that matches nothing, exclusions that remove everything, more than 1% of rows lost, and one
rule for times known to the day in ingest and train alike."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from risk_model.cli import app
from risk_model.dataset import load_calls
from risk_model.errors import UserError
from risk_model.ingest.run import ingest_file
from risk_model.ingest.times import MIDNIGHT_MIN_ROWS
from risk_model.schema import validate_frame

CAD = (
    "INCIDENT_NO,CALL_TIME,NATURE\n"
    "24-1,2024-03-01T10:00,DISTURBANCE\n"
    "24-2,2024-03-01T10:05,FIGHT\n"
)
OUTCOMES = """
fields: {call_id: INCIDENT_NO, received_at: CALL_TIME, call_type: NATURE}
outcomes:
  file: harm.csv
  key: INCIDENT_NUMBER
  absent: "%s"
  fields:
    officer_injured: {column: INJURED, values: {"Yes": "true", "No": "false"}}
    outcome_known_at: {column: REPORTED}
"""
HARM = {
    # N3's three cases, each once crashing with a TypeError in the outcome join.
    "header_only": "INCIDENT_NUMBER,INJURED,REPORTED\n",
    "all_unmatched": "INCIDENT_NUMBER,INJURED,REPORTED\n23-9,Yes,2024-03-02T10:00\n"
    "23-8,No,2024-03-02T11:00\n",
    "all_quarantined": "INCIDENT_NUMBER,INJURED,REPORTED\n24-1,Maybe,2024-03-02T10:00\n"
    "24-2,Yes,not a time\n",
}


def run(tmp_path: Path, harm: str, absent: str = "false", **kw) -> dict:
    (tmp_path / "cad.csv").write_text(CAD, encoding="utf-8")
    (tmp_path / "harm.csv").write_text(harm, encoding="utf-8")
    (tmp_path / "m.yaml").write_text(OUTCOMES % absent, encoding="utf-8")
    return ingest_file(tmp_path / "cad.csv", tmp_path / "out", tmp_path / "m.yaml", **kw)


@pytest.mark.parametrize("case", list(HARM))
@pytest.mark.parametrize("absent", ["false", "unknown"])
def test_an_outcome_join_matching_nothing_is_refused_never_a_crash(
    tmp_path: Path, case: str, absent: str
) -> None:
    with pytest.raises(UserError) as err:
        run(tmp_path, HARM[case], absent)
    msg = str(err.value)
    label = "not harmed" if absent == "false" else "unknown"
    assert "no row of" in msg and f"every call would be labelled {label}" in msg
    assert "--allow-drops" in msg and "\n" not in msg
    assert not (tmp_path / "out").exists()
    # Told to go on: the join runs (no TypeError), every row accounted for, the line kept.
    report = run(tmp_path, HARM[case], absent, allow_drops=True)
    n_in = HARM[case].count("\n") - 1
    assert report["outcome_rows_in"] == n_in
    assert report["outcome_rows_matched"] == 0
    assert n_in == report["outcome_rows_unmatched"] + report["outcome_rows_quarantined"]
    assert any("no row of" in w for w in report["warnings"])
    calls = pd.read_parquet(report["out"])
    assert calls["outcome_known_at"].isna().all()
    assert str(calls["outcome_known_at"].dtype).startswith("datetime64")
    expect = False if absent == "false" and case != "all_quarantined" else None
    assert [None if v is pd.NA else v for v in calls["officer_injured"]] == [expect] * 2


def test_a_join_matching_some_calls_is_fine(tmp_path: Path) -> None:
    harm = "INCIDENT_NUMBER,INJURED,REPORTED\n24-1,Yes,2024-03-02T10:00\n"
    report = run(tmp_path, harm)
    assert report["outcome_rows_matched"] == 1 and report["warnings"] == []


def test_exclusions_that_remove_every_row_are_refused(tmp_path: Path) -> None:
    (tmp_path / "cad.csv").write_text(CAD, encoding="utf-8")
    (tmp_path / "m.yaml").write_text(
        "fields: {call_id: INCIDENT_NO, received_at: CALL_TIME, call_type: NATURE}\n"
        "exclude:\n  - {column: NATURE, contains: [I]}\n",
        encoding="utf-8",
    )
    args = (tmp_path / "cad.csv", tmp_path / "out", tmp_path / "m.yaml")
    with pytest.raises(UserError) as err:
        ingest_file(*args)
    assert "exclude: the rules remove every row (2 of 2; exclude[0]: NATURE" in str(err.value)
    assert not (tmp_path / "out").exists()
    report = ingest_file(*args, allow_drops=True)
    assert (report["rows_in"], report["rows_excluded"], report["rows_accepted"]) == (2, 2, 0)
    assert any(w.startswith("exclude: the rules remove every row") for w in report["warnings"])
    assert pd.read_parquet(report["out"]).empty


def test_cli_says_so_in_one_line_and_exits_non_zero(tmp_path: Path) -> None:
    run(tmp_path, HARM["all_unmatched"], allow_drops=True)  # writes the inputs
    args = ["ingest", "--input", str(tmp_path / "cad.csv"), "--mapping", str(tmp_path / "m.yaml")]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "o"), "--json"])
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "outcomes: no row of" in errors[0], result.output
    assert "Traceback" not in result.output
    ok = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "o"), "--json", "--allow-drops"])
    assert ok.exit_code == 0, ok.output


# --------------------------------------------------------------------------- one rule for times


def midnight_export(tmp_path: Path, n: int, clock: list[str] | None = None) -> dict:
    """n calls whose clock time is 12:00:00 AM (then `clock` calls at real times)."""
    rows = [f"C{i},01/{i % 28 + 1:02d}/2016 12:00:00 AM,X" for i in range(n)]
    rows += [f"R{i},02/01/2016 {t},X" for i, t in enumerate(clock or [])]
    (tmp_path / "x.csv").write_text("ID,WHEN,TYPE\n" + "\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "m.yaml").write_text(
        "fields:\n  call_id: ID\n  call_type: TYPE\n"
        "  received_at: {column: WHEN, formats: ['%m/%d/%Y %I:%M:%S %p']}\n",
        encoding="utf-8",
    )
    return ingest_file(tmp_path / "x.csv", tmp_path / "out", tmp_path / "m.yaml")


def test_a_column_of_midnights_is_a_date_in_ingest_and_in_train(tmp_path: Path) -> None:
    report = midnight_export(tmp_path, 30)
    assert report["rows_accepted"] == report["rows_known_to_a_range"] == 30
    warn = [w for w in report["warnings"] if w.startswith("received_at:")]
    assert len(warn) == 1 and "30 of 30 exact times (100.0%) are exactly 00:00" in warn[0]
    calls = pd.read_parquet(report["out"])
    assert list(calls.columns[:3]) == ["call_id", "received_at", "received_until"]
    assert (calls["received_until"] - calls["received_at"] == pd.Timedelta(days=1)).all()
    # What ingest stored, train reads: no row dropped as "a date without a time of day".
    loaded, rejected = load_calls(Path(report["out"]), allow_drops=False)
    assert (len(loaded), rejected) == (30, 0)
    assert loaded["received_until"].notna().all()


@pytest.mark.parametrize(
    ("midnights", "clock", "ranged"),
    [
        (MIDNIGHT_MIN_ROWS - 1, [], 0),  # too few to tell a date from chance: exact
        (24, ["10:15:00 AM"], 24),  # 96% midnight: the midnights are dates, 10:15 stays exact
        (21, ["10:15:00 AM", "11:00:00 PM"], 0),  # 91% midnight: under 95%, all stay exact
    ],
)
def test_the_midnight_threshold(
    tmp_path: Path, midnights: int, clock: list[str], ranged: int
) -> None:
    report = midnight_export(tmp_path, midnights, clock)
    assert report["rows_known_to_a_range"] == ranged
    calls = pd.read_parquet(report["out"]).set_index("call_id")
    if clock:
        assert pd.isna(calls.loc["R0"].get("received_until"))


def test_real_clock_times_with_a_few_midnights_stay_exact(tmp_path: Path) -> None:
    clock = [f"{h}:{m:02d}:00 PM" for h in range(1, 12) for m in (5, 35)]  # 22 real times
    report = midnight_export(tmp_path, 2, clock)
    assert report["rows_known_to_a_range"] == 0
    assert not any(w.startswith("received_at:") for w in report["warnings"])


def test_a_parsed_all_midnight_column_is_never_a_bare_date() -> None:
    # pandas prints a datetime column whose times are all midnight as bare dates; the schema
    # once read that text and refused every such row in train (87% of one real export).
    times = pd.Series(pd.to_datetime(["2016-01-01", "2016-01-02"])).astype("datetime64[us]")
    res = validate_frame(
        pd.DataFrame({"call_id": ["a", "b"], "received_at": times, "call_type": "X"})
    )
    assert len(res.accepted) == 2 and res.quarantined.empty
    # Text stays strict: a bare date without received_until is still refused.
    text = validate_frame(
        pd.DataFrame({"call_id": ["a"], "received_at": ["2016-01-01"], "call_type": ["X"]})
    )
    assert text.quarantined["_reason"].tolist() == ["received_at: a date without a time of day"]


def bad_calls(tmp_path: Path, bad: int, good: int = 10) -> Path:
    rows = [f"g{i},2024-03-{i % 28 + 1:02d}T10:00,X" for i in range(good)]
    rows += [f"b{i},yesterday,X" for i in range(bad)]
    path = tmp_path / "calls.csv"
    path.write_text("call_id,received_at,call_type\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_train_refuses_to_drop_more_than_one_percent(tmp_path: Path) -> None:
    path = bad_calls(tmp_path, bad=3)
    with pytest.raises(UserError) as err:
        load_calls(path, allow_drops=False)
    msg = str(err.value)
    assert msg.startswith(f"3 of 13 rows of {path} (23.1%) dropped: they break the canonical")
    assert "received_at: cannot parse as an ISO 8601 time" in msg and "--allow-drops" in msg
    assert "ingest first" not in msg
    calls, rejected = load_calls(path, allow_drops=True)
    assert (len(calls), rejected) == (10, 3)
    # Scoring keeps its own rule (any rejected row is an error there); no gate without the flag.
    assert load_calls(path)[1] == 3


def test_cli_train_exits_non_zero_in_one_line(tmp_path: Path, monkeypatch) -> None:
    path = bad_calls(tmp_path, bad=3)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/m.db")
    result = CliRunner().invoke(app, ["train", "--data", str(path), "--json"])
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "(23.1%) dropped" in errors[0], result.output


@pytest.mark.slow
@pytest.mark.xdist_group("dask")
def test_train_on_a_cluster_keeps_the_same_rule(dask_client, tmp_path: Path) -> None:
    from risk_model.config import load_settings
    from risk_model.training.dask_fit import train_on_cluster

    calls = pd.read_csv(bad_calls(tmp_path, bad=3), dtype=str).assign(officer_injured="false")
    calls.to_parquet(tmp_path / "calls.parquet", index=False)
    with pytest.raises(UserError, match=r"3 of 13 rows of .* \(23\.1%\) dropped"):
        train_on_cluster(tmp_path / "calls.parquet", load_settings(None), client=dask_client)


def test_load_history_keeps_the_same_rule(tmp_path: Path) -> None:
    path = bad_calls(tmp_path, bad=3)
    args = ["load-history", "--data", str(path), "--db", str(tmp_path / "h.db"), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "(23.1%) dropped" in result.output, result.output
    ok = CliRunner().invoke(app, [*args, "--allow-drops"])
    assert ok.exit_code == 0, ok.output
