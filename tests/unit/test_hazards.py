"""The canonical premise hazard flag record: families, validation and the one activity rule."""

from __future__ import annotations

import pandas as pd
import pytest

from risk_model import hazards
from risk_model.vocab import HAZARD_FAMILIES


@pytest.mark.parametrize(
    ("text", "family"),
    [
        ("WEAPONS - OFFICER SAFETY", "weapons"),
        ("Known to carry a knife", "weapons"),
        ("Officer Safety", "officer_safety"),
        ("OS: subject fights police", "officer_safety"),
        ("Vicious dog in yard", "dog"),
        ("K-9 on premises", "other"),
        ("K9 on premises", "dog"),
        ("EDP / suicidal", "mental_health"),
        ("Hoarder", "other"),
        (None, "other"),
    ],
)
def test_family_by_words(text: str | None, family: str) -> None:
    assert hazards.hazard_family(text) == family
    assert family in HAZARD_FAMILIES


def test_validation_quarantines_with_reasons_and_loses_nothing() -> None:
    raw = pd.DataFrame(
        {
            "address": ["1 Main St", "2 Oak Ave", None, "4 Elm St", "5 Pine St", "6 Ash St"],
            "flag_type": ["Weapons", None, "Dog", "Officer safety", "Dog", "Caution"],
            "entered_at": [
                "2024-03-01T10:00:00",
                "2024-03-01T10:00:00",
                "2024-03-01T10:00:00",
                "not a time",
                "2024-05-01T00:00:00",
                "2024-06-01T08:00:00",
            ],
            "expires_at": ["", "", "", "", "2024-04-01", "2025-06-01"],
        }
    )
    result = hazards.validate_hazards(raw)
    assert result.rows_in == len(raw)
    assert list(result.accepted["address"]) == ["1 Main St", "6 Ash St"]
    reasons = list(result.quarantined["reason"])
    assert reasons == [
        "flag_type: missing",
        "address: missing (and no latitude/longitude)",
        "entered_at: not a date and time",
        "expires_at: not after entered_at",
    ]
    # A bare expiry date lapses at the end of that day.
    assert result.accepted["expires_at"].iloc[1] == pd.Timestamp("2025-06-02")
    assert set(result.accepted["family"]) == {"weapons", "officer_safety"}


def test_same_record_twice_is_one_flag_and_ids_are_stable() -> None:
    raw = pd.DataFrame(
        {
            "address": ["1 Main St", "1 Main St"],
            "flag_type": ["Weapons", "Weapons"],
            "entered_at": ["2024-03-01T10:00:00"] * 2,
            "expires_at": ["", "2024-09-01T00:00:00"],
        }
    )
    first = hazards.validate_hazards(raw)
    assert len(first.accepted) == 1
    # The later record (a new expiry) wins.
    assert first.accepted["expires_at"].iloc[0] == pd.Timestamp("2024-09-01")
    again = hazards.validate_hazards(raw)
    assert list(first.accepted["flag_id"]) == list(again.accepted["flag_id"])


def test_active_only_strictly_after_entry_and_before_expiry() -> None:
    flags = hazards.validate_hazards(
        pd.DataFrame(
            {
                "address": ["1 Main St"],
                "flag_type": ["Weapons"],
                "entered_at": ["2024-03-01T10:00:00"],
                "expires_at": ["2024-04-01T00:00:00"],
            }
        )
    ).accepted
    at = pd.Timestamp
    assert not hazards.active_mask(flags, at("2024-03-01T10:00:00")).iloc[0]
    assert hazards.active_mask(flags, at("2024-03-01T10:00:01")).iloc[0]
    assert not hazards.active_mask(flags, at("2024-04-01T00:00:00")).iloc[0]


def test_read_hazards_refuses_a_bad_row(tmp_path) -> None:
    path = tmp_path / "flags.csv"
    pd.DataFrame(
        {"address": ["1 Main St"], "flag_type": [""], "entered_at": ["2024-03-01T10:00:00"]}
    ).to_csv(path, index=False)
    with pytest.raises(ValueError, match="flag_type: missing"):
        hazards.read_hazards(path)
