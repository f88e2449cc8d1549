"""True/false fields: one typed path for every form (short form, values, true_when, split)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from risk_model.errors import UserError
from risk_model.ingest.run import Mapping, apply_mapping, ingest_file, load_mapping


def mapping(fields: dict, **top) -> Mapping:
    base = {"call_id": "ID", "received_at": "T", "call_type": "TYPE"}
    return Mapping.model_validate({"fields": {**base, **fields}, **top})


def frame(**cols: list[str]) -> pd.DataFrame:
    n = len(next(iter(cols.values())))
    base = {"ID": [f"c{i}" for i in range(n)], "T": ["2024-01-01T10:00"] * n, "TYPE": ["X"] * n}
    return pd.DataFrame({**base, **cols}, dtype=str)


def as_list(col: pd.Series) -> list[bool | None]:
    return [None if v is pd.NA else bool(v) for v in col]


def test_short_form_true_false_field_ingests_end_to_end(tmp_path: Path) -> None:
    """Issue 14 defect 2: `weapon_reported: W` used to raise `TypeError: Need to pass bool..`."""
    (tmp_path / "m.yaml").write_text(
        "fields:\n  call_id: ID\n  received_at: T\n  call_type: TYPE\n  weapon_reported: W\n",
        encoding="utf-8",
    )
    (tmp_path / "x.csv").write_text(
        "ID,T,TYPE,W\n"
        "a,2024-01-01T10:00,X,true\n"
        "b,2024-01-01T10:01,X,N\n"
        "c,2024-01-01T10:02,X,1\n"
        "d,2024-01-01T10:03,X,\n"
        "e,2024-01-01T10:04,X,maybe\n"
        "f,2024-01-01T10:05,X, YES \n",
        encoding="utf-8",
    )
    report = ingest_file(tmp_path / "x.csv", tmp_path / "out", tmp_path / "m.yaml")
    assert (report["rows_in"], report["rows_accepted"], report["rows_quarantined"]) == (6, 5, 1)
    calls = pd.read_parquet(tmp_path / "out" / "calls.parquet")
    assert str(calls["weapon_reported"].dtype) == "boolean"
    assert dict(zip(calls["call_id"], as_list(calls["weapon_reported"]), strict=True)) == {
        "a": True,
        "b": False,
        "c": True,
        "d": None,
        "f": True,
    }
    q = pd.read_csv(tmp_path / "out" / "quarantine.csv", dtype=str)
    assert q["ID"].tolist() == ["e"]
    assert q["_reason"].iloc[0].startswith("weapon_reported: W value 'maybe' is not true or false")


@pytest.mark.parametrize(
    ("value", "expected"),
    [(v, True) for v in ("true", "TRUE", "1", "yes", "Y", "t")]
    + [(v, False) for v in ("false", "0", "No", "n", "F")]
    + [("", None), ("NULL", None)],
)
def test_short_form_reads_every_spec_boolean(value: str, expected: bool | None) -> None:
    canon, rejected = apply_mapping(
        frame(W=[value]), mapping({"domestic": "W"}, missing_values=["NULL"])
    )
    assert rejected.empty
    assert as_list(canon["domestic"]) == [expected]


@pytest.mark.parametrize("value", ["2", "maybe", "yes please", "-"])
def test_short_form_unreadable_value_quarantines_naming_field_and_column(value: str) -> None:
    canon, rejected = apply_mapping(frame(W=[value]), mapping({"in_progress": {"column": "W"}}))
    assert canon.empty
    reason = rejected["_reason"].iloc[0]
    assert reason.startswith(f"in_progress: W value {value!r} is not true or false")


def test_outcome_short_form_also_typed() -> None:
    canon, rejected = apply_mapping(
        frame(OA=["Y", "n", "x"]), mapping({"officer_assaulted": "OA"})
    )
    assert as_list(canon["officer_assaulted"]) == [True, False]
    assert rejected["_reason"].tolist() == [
        "officer_assaulted: OA value 'x' is not true or false (true/false, 1/0, yes/no, y/n, "
        "t/f; or recode it with fields.officer_assaulted.values)"
    ]


# --------------------------------------------------------------------------- split


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("No | Yes | No", True),
        ("No|No|No", False),
        ("No", False),
        ("Yes", True),
        ("No | | No", None),
        ("No | NULL", None),
        ("Yes | ", True),
        ("", None),
    ],
)
def test_split_with_values(cell: str, expected: bool | None) -> None:
    m = mapping(
        {
            "weapon_reported": {
                "column": "W",
                "split": "|",
                "values": {"Yes": "true", "No": "false"},
            }
        },
        missing_values=["NULL"],
    )
    canon, rejected = apply_mapping(frame(W=[cell]), m)
    assert rejected.empty
    assert as_list(canon["weapon_reported"]) == [expected]


@pytest.mark.parametrize(
    ("cell", "expected"), [("Y;N", True), ("n; n", False), ("1;0;", True), ("0;;0", None)]
)
def test_split_with_short_form(cell: str, expected: bool | None) -> None:
    m = mapping({"officer_injured": {"column": "W", "split": ";"}})
    canon, rejected = apply_mapping(frame(W=[cell]), m)
    assert rejected.empty
    assert as_list(canon["officer_injured"]) == [expected]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [("GUN, NONE", True), ("NONE,NONE", False), ("NONE, UNKNOWN", None), ("KNIFE", True)],
)
def test_split_with_true_when_false_when(cell: str, expected: bool | None) -> None:
    m = mapping(
        {
            "weapon_reported": {
                "column": "W",
                "split": ",",
                "true_when": {"equals": ["GUN", "KNIFE"]},
                "false_when": {"equals": ["NONE"]},
            }
        }
    )
    canon, rejected = apply_mapping(frame(W=[cell]), m)
    assert rejected.empty
    assert as_list(canon["weapon_reported"]) == [expected]


def test_split_part_without_recode_quarantines_the_row() -> None:
    m = mapping(
        {
            "weapon_reported": {
                "column": "W",
                "split": "|",
                "values": {"Yes": "true", "No": "false"},
            }
        }
    )
    canon, rejected = apply_mapping(frame(W=["No | Maybe", "No | No"]), m)
    assert as_list(canon["weapon_reported"]) == [False]
    reason = rejected["_reason"].iloc[0]
    assert reason.startswith("weapon_reported: W value 'Maybe' has no recode")
    assert "'No | Maybe' split on '|'" in reason


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"call_type": {"column": "TYPE", "split": "|"}},
            "fields.call_type.split: only true/false",
        ),
        ({"domestic": {"value": "true", "split": "|"}}, "fields.domestic.split: needs a column"),
    ],
)
def test_split_misuse_is_refused(tmp_path: Path, spec: dict, message: str) -> None:
    fields = {"call_id": "ID", "received_at": "T", "call_type": "TYPE", **spec}
    path = tmp_path / "m.yaml"
    path.write_text(json.dumps({"fields": fields}), encoding="utf-8")
    with pytest.raises(UserError, match=message.replace(".", r"\.")):
        load_mapping(path)
