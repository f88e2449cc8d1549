"""Text normalisers and the narrative lexicon (risk_model/text.py, docs/lexicon.md)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from risk_model import text
from risk_model.text import (
    FAMILIES,
    NARRATIVE_SIGNALS,
    VIOLENT_FAMILIES,
    WEAPON_FAMILIES,
    call_family,
    grid_cell,
    narrative_signals,
    normalize_address,
    normalize_call_type,
    normalize_category,
    premise_key,
)

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def signal(remark: str | None, name: str) -> float:
    return float(narrative_signals([remark])[name][0])


# --------------------------------------------------------------------------- narrative table

SIGNAL_CASES: list[tuple[str, str, float]] = [
    # weapon: terms and abbreviations
    ("weapon", "SUBJ POSS ARMED", 1.0),
    ("weapon", "MALE W/ KNIFE IN FRONT YARD", 1.0),
    ("weapon", "RP STATES HE HAS A GUN", 1.0),
    ("weapon", "HANDGUN ON SEAT", 1.0),
    ("weapon", "FIREARM IN WAISTBAND", 1.0),
    ("weapon", "SWINGING A MACHETE", 1.0),
    ("weapon", "BRANDISHING A BAT", 1.0),
    ("weapon", "SUBJ HAS WPN", 1.0),
    ("weapon", "RIFLE IN TRUCK", 1.0),
    ("weapon", "SHOTGUN", 1.0),
    ("weapon", "PISTOL", 1.0),
    ("weapon", "ARMED", 1.0),
    ("weapon", "subj w/knife", 1.0),
    ("weapon", "AK-47 SEEN IN CAR", 1.0),
    ("weapon", "SHOTS HEARD", 1.0),
    ("weapon", "FD-Suspect w/ Gun", 1.0),
    ("weapon", "SUBJ HAS KNIFE NEG INJURIES", 1.0),
    # weapon: negation and exclusions
    ("weapon", "NO WEAPONS SEEN", 0.0),
    ("weapon", "NEG WEAPONS", 0.0),
    ("weapon", "RP DENIES WEAPONS", 0.0),
    ("weapon", "NO WPNS", 0.0),
    ("weapon", "SUBJ UNARMED", 0.0),
    ("weapon", "NO GUN", 0.0),
    ("weapon", "NO GUN OR KNIFE", 0.0),
    ("weapon", "WEAPONS NOT SEEN", 0.0),
    ("weapon", "WEAPONS: NONE", 0.0),
    ("weapon", "RP SAYS HE DOESN'T HAVE A GUN", 0.0),
    ("weapon", "RP DOESN'T THINK HE HAS A GUN", 1.0),  # beyond the 2-word window
    ("weapon", "FD-Unknown if Armed", 0.0),
    ("weapon", "NO WEAPONS SEEN BUT SUBJ HAS A KNIFE", 1.0),
    ("weapon", "NO GUN, HAS KNIFE", 1.0),
    ("weapon", "WEAPONS NOT SEEN BUT HAS A BAT", 1.0),
    ("weapon", "NO ANSWER AT DOOR SUBJ HAS GUN", 1.0),
    ("weapon", "SUBJ WILL NOT PUT DOWN THE KNIFE", 1.0),
    ("weapon", "GUNTHER IS AT THE DOOR", 0.0),
    ("weapon", "OFFICER DISARMED HIM EARLIER", 0.0),
    ("weapon", "NAIL GUN STOLEN FROM TRUCK", 0.0),
    ("weapon", "ALARM WAS ARMED", 0.0),
    ("weapon", "NO SIGN OF WEAPONS", 0.0),
    ("weapon", "WPNS NEG.", 0.0),
    ("weapon", "UNKNOWN WEAPONS", 0.0),
    ("weapon", "MAYBE A GUN", 1.0),
    # threat
    ("threat", "THREATENING TO KILL RP", 1.0),
    ("threat", "MAKING THREATS", 1.0),
    ("threat", "THREATENED NEIGHBOR", 1.0),
    ("threat", "SAID HE WOULD SHOOT", 1.0),
    ("threat", "SAID HE IS GOING TO KILL HIS WIFE", 1.0),
    ("threat", "KILL RP", 1.0),
    ("threat", "THRTS TO EX", 1.0),
    ("threat", "THREATENING TO KILL HERSELF", 0.0),
    ("threat", "THREATENING SUICIDE", 0.0),
    ("threat", "NON-THREATENING", 0.0),
    ("threat", "NO THREATS MADE", 0.0),
    ("threat", "SAID HE WOULD KILL HIMSELF", 0.0),
    # violence
    ("violence", "SUBJS FIGHTING", 1.0),
    ("violence", "HITTING HIS GF", 1.0),
    ("violence", "PUNCHED RP", 1.0),
    ("violence", "PHYSICAL DIST", 1.0),
    ("violence", "CHOKING HER", 1.0),
    ("violence", "RP WAS ASSAULTED", 1.0),
    ("violence", "KICKING", 1.0),
    ("violence", "STRUCK RP W/ HAND", 1.0),
    ("violence", "VERBAL ONLY", 0.0),
    ("violence", "NOT PHYSICAL", 0.0),
    ("violence", "NO PHYSICAL", 0.0),
    ("violence", "VERBAL FIGHT", 0.0),
    ("violence", "FIGHT, VERBAL ONLY", 0.0),
    ("violence", "FIGHT. VERBAL ONLY", 1.0),  # a new sentence is a new clause
    ("violence", "HIT AND RUN", 0.0),
    ("violence", "HIT-AND-RUN NO INJ", 0.0),
    ("violence", "PED STRUCK BY VEH", 0.0),
    ("violence", "KICKED HIM OUT OF BAR", 0.0),
    ("violence", "BABY CHOKING ON FOOD", 0.0),
    ("violence", "BEAT 134 UNIT REQ", 0.0),
    ("violence", "CAR HIT A POLE", 0.0),
    ("violence", "HX OF VIOLENCE", 1.0),
    ("violence", "VERBAL ONLY BUT THEN PUNCHED HIM", 1.0),
    # mental health
    ("mental_health", "EDP", 1.0),
    ("mental_health", "E.D.P. IN LOBBY", 1.0),
    ("mental_health", "OFF HIS MEDS", 1.0),
    ("mental_health", "HEARING VOICES", 1.0),
    ("mental_health", "HX OF BIPOLAR", 1.0),
    ("mental_health", "PSYCH HX", 1.0),
    ("mental_health", "SCHIZOPHRENIC", 1.0),
    ("mental_health", "Mentally unstable", 1.0),
    ("mental_health", "DOESN'T TAKE HIS MEDS", 1.0),
    ("mental_health", "NO PSYCH HX", 0.0),
    ("mental_health", "PSYCHIC READING SHOP", 0.0),
    # suicide
    ("suicide", "SUICIDAL", 1.0),
    ("suicide", "THREATENING TO KILL HERSELF", 1.0),
    ("suicide", "WANTS TO END HIS LIFE", 1.0),
    ("suicide", "SUICIDE NOTE FOUND", 1.0),
    ("suicide", "SAID HE WOULD KILL HIMSELF", 1.0),
    ("suicide", "NOT SUICIDAL", 0.0),
    ("suicide", "DENIES SUICIDAL IDEATION", 0.0),
    # intoxication
    ("intoxication", "INTOX MALE", 1.0),
    ("intoxication", "DRUNK", 1.0),
    ("intoxication", "ETOH", 1.0),
    ("intoxication", "HIGH ON METH", 1.0),
    ("intoxication", "UNDER THE INFLUENCE", 1.0),
    ("intoxication", "SMELLS OF ALCOHOL", 1.0),
    ("intoxication", "Alchohol and unknown drugs", 1.0),
    ("intoxication", "NO ALCOHOL INVOLVED", 0.0),
    ("intoxication", "NOT INTOX", 0.0),
    ("intoxication", "HIGH SCHOOL PARKING LOT", 0.0),
    # children
    ("children", "CHILDREN PRESENT", 1.0),
    ("children", "2 KIDS IN RES", 1.0),
    ("children", "INFANT ON SCENE", 1.0),
    ("children", "JUV", 1.0),
    ("children", "CHILD", 1.0),
    ("children", "BABY", 1.0),
    ("children", "5 Y/O", 1.0),
    ("children", "15 Y.O. MALE", 1.0),
    ("children", "NO CHILDREN", 0.0),
    ("children", "NO KIDS", 0.0),
    ("children", "CHILDREN NOT PRESENT", 0.0),
    ("children", "BABY MOMMA DRAMA", 0.0),
    ("children", "25 YO MALE", 0.0),
    ("children", "KIDNAPPING REPORT", 0.0),
    ("children", "NO KIDS, BABY CRYING", 1.0),
]


@pytest.mark.parametrize(("name", "remark", "expected"), SIGNAL_CASES)
def test_narrative_lexicon(name: str, remark: str, expected: float) -> None:
    assert signal(remark, name) == expected


def test_threat_to_self_is_suicide_not_threat() -> None:
    out = narrative_signals(["THREATENING TO KILL HERSELF"])
    assert out["suicide"][0] == 1.0
    assert out["threat"][0] == 0.0


def test_a_threat_to_others_beside_a_threat_to_self_still_fires() -> None:
    assert signal("THREATENING TO KILL HERSELF. SAID HE WOULD SHOOT RP", "threat") == 1.0


@pytest.mark.parametrize("missing", [None, float("nan"), pd.NA, "", "   ", "...", "\t\n"])
def test_no_remark_is_unknown_for_every_signal(missing: object) -> None:
    out = narrative_signals([missing])
    for name in NARRATIVE_SIGNALS:
        assert math.isnan(out[name][0]), name


def test_signals_are_float32_arrays_for_every_declared_signal() -> None:
    out = narrative_signals(["HAS A GUN", None, "QUIET"])
    assert set(out) == set(NARRATIVE_SIGNALS)
    for arr in out.values():
        assert arr.dtype == np.float32
        assert arr.shape == (3,)
    assert out["weapon"].tolist()[0] == 1.0
    assert math.isnan(out["weapon"][1])
    assert out["weapon"][2] == 0.0


def test_input_containers_agree() -> None:
    remarks = ["HAS A GUN", None, "NO KIDS", float("nan"), "DRUNK"]
    as_list = narrative_signals(remarks)
    as_numpy = narrative_signals(np.array(remarks, dtype=object))
    as_series = narrative_signals(pd.Series(remarks, dtype=object))
    as_str_series = narrative_signals(pd.Series(remarks, dtype="str"))
    for name in NARRATIVE_SIGNALS:
        for other in (as_numpy, as_series, as_str_series):
            np.testing.assert_array_equal(as_list[name], other[name])


def test_non_string_values_are_read_as_text() -> None:
    out = narrative_signals([12345, "GUN"])
    assert out["weapon"].tolist() == [0.0, 1.0]


def test_large_batches_use_chunks_and_keep_row_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text, "_CHUNK_ROWS", 4)
    remarks = ["GUN", None, "QUIET", "NO GUN", "KNIFE", "", "DRUNK", "W/ KNIFE", "NO WPNS", "BAT"]
    chunked = narrative_signals(remarks)
    monkeypatch.setattr(text, "_CHUNK_ROWS", 1_000)
    whole = narrative_signals(remarks)
    for name in NARRATIVE_SIGNALS:
        np.testing.assert_array_equal(chunked[name], whole[name])


@pytest.mark.parametrize("max_rate", [-1.0, 2.0])
def test_prefilter_choice_never_changes_results(
    monkeypatch: pytest.MonkeyPatch, max_rate: float
) -> None:
    remarks = [row[1] for row in SIGNAL_CASES] + [None, "", "...", "QUIET NIGHT"]
    expected = narrative_signals(remarks)
    monkeypatch.setattr(text, "_PREFILTER_MAX_RATE", max_rate)
    got = narrative_signals(remarks)
    for name in NARRATIVE_SIGNALS:
        np.testing.assert_array_equal(got[name], expected[name])


def test_lexicon_patterns_are_documented() -> None:
    """docs/lexicon.md lists every pattern the code uses, verbatim."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "lexicon.md").read_text("utf-8")
    for name, lex in text._LEXICONS.items():
        for fragment in (*lex.terms, *lex.cancel, *lex.pre, *lex.post):
            assert fragment in doc, (name, fragment)
    for negator in (*text._PRE_NEGATORS, *text._POST_NEGATORS):
        assert negator in doc, negator
    for family, pattern in text._FAMILY_RULES:
        assert f"{family:15s} {pattern}" in doc, family


# --------------------------------------------------------------------------- narrative properties

POSITIVE_PHRASES: dict[str, list[str]] = {
    "weapon": ["SUBJ HAS A GUN", "W/ KNIFE", "POSS ARMED", "HANDGUN IN WAISTBAND"],
    "threat": ["THREATENING TO KILL RP", "MAKING THREATS", "SAID HE WOULD SHOOT"],
    "violence": ["SUBJS FIGHTING", "PUNCHED RP", "CHOKING HER"],
    "mental_health": ["EDP", "OFF HIS MEDS", "HEARING VOICES"],
    "suicide": ["SUICIDAL", "WANTS TO END HIS LIFE"],
    "intoxication": ["INTOX", "ETOH", "HIGH ON METH"],
    "children": ["2 KIDS IN RES", "INFANT ON SCENE", "CHILDREN PRESENT"],
}
NEGATED_PHRASES: dict[str, list[str]] = {
    "weapon": ["NO WEAPONS SEEN", "NEG WEAPONS", "RP DENIES WEAPONS", "NO WPNS", "UNARMED"],
    "threat": ["NO THREATS MADE", "NOT THREATENING", "DENIES THREATS"],
    "violence": ["VERBAL ONLY", "NOT PHYSICAL", "NO PHYSICAL", "NO ONE ASSAULTED"],
    "mental_health": ["NO PSYCH HX", "NO MENTAL HEALTH HX", "DENIES HEARING VOICES"],
    "suicide": ["NOT SUICIDAL", "DENIES SUICIDAL IDEATION"],
    "intoxication": ["NO ALCOHOL", "NOT INTOX", "DENIES DRINKING"],
    "children": ["NO CHILDREN", "NO KIDS", "CHILDREN NOT PRESENT"],
}
SIGNAL_NAMES = st.sampled_from(NARRATIVE_SIGNALS)
# Printable text plus accents, ligatures and case oddities (ß, ﬁ, ı, Kelvin sign) that change
# length or script under upper/lower casing.
REMARK_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=32, max_codepoint=126),
        st.sampled_from("\t\néÉñßẞﬁıİKſ’–"),
    ),
    max_size=60,
)


@PROPERTY
@given(REMARK_TEXT)
def test_signals_ignore_case(remark: str) -> None:
    base = narrative_signals([remark, remark.upper(), remark.lower()])
    for name in NARRATIVE_SIGNALS:
        np.testing.assert_array_equal(base[name][1:], base[name][[0, 0]], err_msg=name)


@PROPERTY
@given(REMARK_TEXT, st.sampled_from(["  ", "\t", " \t "]))
def test_signals_ignore_extra_whitespace(remark: str, extra: str) -> None:
    spaced = extra + remark.replace(" ", " " + extra) + extra
    out = narrative_signals([remark, spaced])
    for name in NARRATIVE_SIGNALS:
        np.testing.assert_array_equal(out[name][0], out[name][1], err_msg=name)


@PROPERTY
@given(SIGNAL_NAMES, st.data())
def test_negated_phrase_alone_never_fires(name: str, data: st.DataObject) -> None:
    phrase = data.draw(st.sampled_from(NEGATED_PHRASES[name]))
    phrase = data.draw(st.sampled_from([phrase, phrase.lower(), phrase.title()]))
    assert signal(phrase, name) == 0.0


@PROPERTY
@given(SIGNAL_NAMES, REMARK_TEXT, st.data())
def test_appending_a_positive_phrase_fires(name: str, remark: str, data: st.DataObject) -> None:
    phrase = data.draw(st.sampled_from(POSITIVE_PHRASES[name]))
    assert signal(remark + ". " + phrase, name) == 1.0


@PROPERTY
@given(st.lists(st.one_of(st.none(), REMARK_TEXT), max_size=12))
def test_length_and_single_row_parity(remarks: list[str | None]) -> None:
    batch = narrative_signals(remarks)
    for name in NARRATIVE_SIGNALS:
        assert batch[name].shape == (len(remarks),)
    for i, remark in enumerate(remarks):
        one = narrative_signals([remark])
        for name in NARRATIVE_SIGNALS:
            np.testing.assert_array_equal(one[name][0], batch[name][i], err_msg=name)


# --------------------------------------------------------------------------- addresses

ADDRESS_CASES: list[tuple[object, str | None]] = [
    ("1234  n. Main Street.", "1234 N MAIN ST"),
    ("1234 NORTH MAIN ST", "1234 N MAIN ST"),
    ("211 N Ervay St.", "211 N ERVAY ST"),
    ("7647 Ferguson Rd.", "7647 FERGUSON RD"),
    ("500 Elm Avenue", "500 ELM AVE"),
    ("500 ELM AV", "500 ELM AVE"),
    ("8000 Stemmons Frwy", "8000 STEMMONS FWY"),
    ("8000 STEMMONS FREEWAY", "8000 STEMMONS FWY"),
    ("100 Sunset Boulevard", "100 SUNSET BLVD"),
    ("10 Lakeview Parkway", "10 LAKEVIEW PKWY"),
    ("3 Oak Circle", "3 OAK CIR"),
    ("1 Central Expressway", "1 CENTRAL EXPY"),
    ("1 Central Expwy.", "1 CENTRAL EXPY"),
    ("1200 BLOCK MAIN ST", "1200 BLK MAIN ST"),
    ("1200 block of Main Street", "1200 BLK MAIN ST"),
    ("1200 BLK MAIN ST", "1200 BLK MAIN ST"),
    ("UNIT BLOCK OF MAIN ST", "0 BLK MAIN ST"),
    ("123 Main St Apt 4B", "123 MAIN ST"),
    ("123 MAIN ST #12", "123 MAIN ST"),
    ("123 Main St, Suite 2", "123 MAIN ST"),
    ("123 MAIN ST STE 100", "123 MAIN ST"),
    ("123 MAIN ST UNIT 3", "123 MAIN ST"),
    ("123 MAIN ST APT# 5", "123 MAIN ST"),
    ("123 MAIN ST 3RD FLOOR", "123 MAIN ST"),
    ("MAIN ST / ELM AVE", "ELM AVE & MAIN ST"),
    ("Elm Avenue & Main Street", "ELM AVE & MAIN ST"),
    ("main st and elm ave", "ELM AVE & MAIN ST"),
    ("ELM AVE @ MAIN ST", "ELM AVE & MAIN ST"),
    ("123 1/2 MAIN ST", "123 1/2 MAIN ST"),
    ("9900 E NORTHWEST HWY", "9900 E NORTHWEST HWY"),
    ("2807 W. Northwest Highway", "2807 W NORTHWEST HWY"),
    ("18600 DALLAS NORTH TOLLWAY", "18600 DALLAS NORTH TOLLWAY"),
    ("2605 JOHN WEST RD", "2605 JOHN WEST RD"),
    ("100 North St", "100 NORTH ST"),
    ("100 West End Ave", "100 W END AVE"),
    ("MAIN STREET NORTH", "MAIN ST N"),
    ("O'Connor Rd", "OCONNOR RD"),
    ("CAÑADA DR", "CANADA DR"),
    ("0123 MAIN ST", "123 MAIN ST"),
    ("", None),
    ("   ", None),
    (None, None),
    (float("nan"), None),
    ("APT 4", None),
    ("NULL", None),
    ("n/a", None),
    ("NULL / MAIN ST", "MAIN ST"),
]


@pytest.mark.parametrize(("raw", "expected"), ADDRESS_CASES)
def test_normalize_address(raw: object, expected: str | None) -> None:
    assert normalize_address([raw])[0] == expected


def test_normalize_address_on_series_and_numpy() -> None:
    raw = ["1 Main Street", None, "1 MAIN ST", float("nan")]
    expected = ["1 MAIN ST", None, "1 MAIN ST", None]
    assert normalize_address(raw).tolist() == expected
    assert normalize_address(np.array(raw, dtype=object)).tolist() == expected
    assert normalize_address(pd.Series(raw, dtype="str")).tolist() == expected
    assert normalize_address(raw).dtype == object


SUFFIX_SPELLINGS = [
    ("ST", ["Street", "St.", "STR", "st"]),
    ("AVE", ["Avenue", "Ave.", "AV"]),
    ("BLVD", ["Boulevard", "Blvd."]),
    ("DR", ["Drive", "Dr."]),
    ("RD", ["Road", "Rd."]),
    ("LN", ["Lane", "Ln."]),
    ("FWY", ["Freeway", "Frwy", "Frwy."]),
    ("PKWY", ["Parkway", "Pkwy."]),
    ("HWY", ["Highway", "Hwy."]),
    ("CT", ["Court", "Ct."]),
    ("PL", ["Place", "Pl."]),
    ("TER", ["Terrace", "Terr"]),
    ("TRL", ["Trail", "Trl."]),
]
STREET_WORDS = st.sampled_from(["MAIN", "ELM", "OAK", "FERGUSON", "ERVAY", "HARRY HINES", "PARK"])
DIRECTIONS = st.sampled_from(
    [("", ""), ("N", "North"), ("S", "south"), ("E", "E."), ("W", "West")]
)
ADDRESS_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=32, max_codepoint=126), st.sampled_from("ñÉßıK’")
    ),
    max_size=40,
)


@PROPERTY
@given(ADDRESS_TEXT)
def test_normalize_address_is_idempotent(raw: str) -> None:
    once = normalize_address([raw])[0]
    assert normalize_address([once])[0] == once


@PROPERTY
@given(ADDRESS_TEXT)
def test_normalize_address_ignores_case_and_spacing(raw: str) -> None:
    spaced = "  " + raw.replace(" ", "   ") + " "
    out = normalize_address([raw, raw.upper(), raw.lower(), spaced])
    assert len(set(out.tolist())) == 1


@PROPERTY
@given(
    st.integers(1, 99_999),
    DIRECTIONS,
    STREET_WORDS,
    st.sampled_from(SUFFIX_SPELLINGS),
    st.data(),
)
def test_normalize_address_ignores_suffix_and_directional_spelling(
    number: int,
    direction: tuple[str, str],
    street: str,
    suffix: tuple[str, list[str]],
    data: st.DataObject,
) -> None:
    short, spellings = suffix
    spelled = data.draw(st.sampled_from(spellings))
    short_dir, long_dir = direction
    canonical = " ".join(p for p in (str(number), short_dir, street, short) if p)
    variant = " ".join(p for p in (str(number), long_dir, street.lower(), spelled) if p)
    assert normalize_address([variant, canonical]).tolist() == [canonical, canonical]


@PROPERTY
@given(st.lists(st.one_of(st.none(), ADDRESS_TEXT), max_size=10))
def test_normalize_address_length_and_single_row_parity(values: list[str | None]) -> None:
    batch = normalize_address(values)
    assert batch.shape == (len(values),)
    assert [normalize_address([v])[0] for v in values] == batch.tolist()


def test_intersection_order_does_not_matter() -> None:
    a, b = normalize_address(["Main Street / Elm Avenue", "ELM AVE AND MAIN ST"])
    assert a == b == "ELM AVE & MAIN ST"


# --------------------------------------------------------------------------- grid and premise


def test_grid_cell_is_deterministic_and_missing_is_none() -> None:
    lat = [32.7767, 32.7767, None, float("nan"), 32.7, 91.0, "abc"]
    lon = [-96.797, -96.797, -96.8, -96.8, None, 0.0, -96.8]
    cells = grid_cell(lat, lon)
    assert cells.dtype == object
    assert cells[0] == cells[1]
    assert cells[0].startswith("G:")
    assert cells[2:].tolist() == [None] * 5


def test_grid_cells_are_about_cell_m_and_roughly_square() -> None:
    lat0, lon0, cell_m = 32.78, -96.80, 150.0
    step_lat = cell_m / 111_320.0
    step_lon = step_lat / math.cos(math.radians(lat0))
    lats = lat0 + np.arange(0, 40) * step_lat / 8
    lons = lon0 + np.arange(0, 40) * step_lon / 8
    rows = {c.split(":")[1] for c in grid_cell(lats, np.full(40, lon0), cell_m)}
    cols = {c.split(":")[2] for c in grid_cell(np.full(40, lat0), lons, cell_m)}
    # 40 samples 1/8 cell apart span 5 cells (4.875 cells) in either direction.
    assert len(rows) in (5, 6)
    assert len(cols) in (5, 6)


def test_grid_cell_single_row_equals_batch_row() -> None:
    rng = np.random.default_rng(7)
    lat = 32.78 + rng.normal(0, 0.2, 200)
    lon = -96.8 + rng.normal(0, 0.2, 200)
    batch = grid_cell(lat, lon)
    assert [grid_cell([a], [b])[0] for a, b in zip(lat, lon, strict=True)] == batch.tolist()


def test_grid_cell_rejects_bad_cell_size_and_lengths() -> None:
    with pytest.raises(ValueError, match="cell_m"):
        grid_cell([1.0], [1.0], cell_m=0)
    with pytest.raises(ValueError, match="length"):
        grid_cell([1.0, 2.0], [1.0])


def test_premise_key_prefers_address_then_grid() -> None:
    keys = premise_key(
        ["1234 n. Main Street", None, "  ", None],
        [32.78, 32.78, 32.78, None],
        [-96.80, -96.80, -96.80, -96.8],
    )
    assert keys[0] == "A:1234 N MAIN ST"
    assert keys[1] == keys[2] == grid_cell([32.78], [-96.80])[0]
    assert keys[1].startswith("G:")
    assert keys[3] is None


# --------------------------------------------------------------------------- call types

CALL_TYPE_CASES: list[tuple[str, str, str]] = [
    ("Other ( In Narrative)", "OTHER IN NARRATIVE", "other"),
    ("DISTURBANCE", "DISTURBANCE", "disturbance"),
    ("Domestic Disturbance", "DOMESTIC DISTURBANCE", "domestic"),
    ("ASSAULT", "ASSAULT", "assault"),
    ("SHOTS FIRED", "SHOTS FIRED", "weapons"),
    ("PERSON WITH WEAPON", "PERSON WITH WEAPON", "weapons"),
    ("ROBBERY IN PROGRESS", "ROBBERY IN PROGRESS", "robbery"),
    ("BURGLARY IN PROGRESS", "BURGLARY IN PROGRESS", "burglary"),
    ("BURGLARY REPORT", "BURGLARY REPORT", "burglary"),
    ("SUSPICIOUS PERSON/VEHICLE", "SUSPICIOUS PERSON/VEHICLE", "suspicious"),
    ("TRAFFIC STOP", "TRAFFIC STOP", "traffic_stop"),
    ("MOTOR VEHICLE ACCIDENT", "MOTOR VEHICLE ACCIDENT", "traffic"),
    ("RECKLESS DRIVER", "RECKLESS DRIVER", "traffic"),
    ("MENTAL HEALTH CRISIS", "MENTAL HEALTH CRISIS", "mental_health"),
    ("SUICIDAL PERSON", "SUICIDAL PERSON", "suicide"),
    ("WELFARE CHECK", "WELFARE CHECK", "welfare"),
    ("WARRANT SERVICE", "WARRANT SERVICE", "warrant"),
    ("NARCOTICS", "NARCOTICS", "narcotics"),
    ("TRESPASS", "TRESPASS", "trespass"),
    ("THEFT REPORT", "THEFT REPORT", "theft"),
    ("ALARM", "ALARM", "alarm"),
    ("NOISE COMPLAINT", "NOISE COMPLAINT", "noise"),
    ("PARKING", "PARKING", "traffic"),
    ("911 HANG UP", "911 HANG UP", "service"),
    ("FOLLOW UP", "FOLLOW UP", "service"),
    ("CIVIL DISORDER", "CIVIL DISORDER", "civil_disorder"),
    ("DIST", "DIST", "disturbance"),
    ("disturb", "DISTURB", "disturbance"),
    ("DOM DIST", "DOM DIST", "domestic"),
    ("DV", "DV", "domestic"),
    ("ASLT", "ASLT", "assault"),
    ("ASSLT", "ASSLT", "assault"),
    ("AGG ASLT", "AGG ASLT", "assault"),
    ("AGG ASLT W/ WEAPON", "AGG ASLT W/ WEAPON", "weapons"),
    ("ASSAULT ON OFFICER", "ASSAULT ON OFFICER", "assault"),
    ("SHOTS", "SHOTS", "weapons"),
    ("MWW", "MWW", "weapons"),
    ("MAN WITH WEAPON", "MAN WITH WEAPON", "weapons"),
    ("ROBB", "ROBB", "robbery"),
    ("BURG", "BURG", "burglary"),
    ("BURGLAR ALARM", "BURGLAR ALARM", "alarm"),
    ("SUSP", "SUSP", "suspicious"),
    ("MVA", "MVA", "traffic"),
    ("MVC", "MVC", "traffic"),
    ("EDP", "EDP", "mental_health"),
    ("EMOTIONALLY DISTURBED PERSON", "EMOTIONALLY DISTURBED PERSON", "mental_health"),
    ("NOISE DISTURBANCE", "NOISE DISTURBANCE", "noise"),
    ("10-16", "10 16", "other"),
    ("Arrest", "ARREST", "warrant"),
    ("Warrant Execution", "WARRANT EXECUTION", "warrant"),
    ("Service Call", "SERVICE CALL", "service"),
    ("Call for Cover", "CALL FOR COVER", "officer_assist"),
    ("Traffic Stop", "TRAFFIC STOP", "traffic_stop"),
    ("Crime in Progress", "CRIME IN PROGRESS", "other"),
    ("Suspicious Activity", "SUSPICIOUS ACTIVITY", "suspicious"),
    ("Pedestrian Stop", "PEDESTRIAN STOP", "suspicious"),
    ("Crowd Control", "CROWD CONTROL", "civil_disorder"),
    ("Off-Duty Employment", "OFF DUTY EMPLOYMENT", "other"),
    ("Accidental Discharge", "ACCIDENTAL DISCHARGE", "other"),
    ("Brand New Vocabulary XYZ", "BRAND NEW VOCABULARY XYZ", "other"),
]


@pytest.mark.parametrize(("raw", "normalized", "family"), CALL_TYPE_CASES)
def test_call_type_and_family(raw: str, normalized: str, family: str) -> None:
    got = normalize_call_type([raw])
    assert got.tolist() == [normalized]
    assert call_family(got).tolist() == [family]
    assert call_family([raw]).tolist() == [family]  # raw input is normalised first


@pytest.mark.parametrize("missing", [None, float("nan"), "", "  ", "()"])
def test_missing_call_type(missing: object) -> None:
    assert normalize_call_type([missing]).tolist() == [None]
    assert call_family([missing]).tolist() == ["other"]


def test_family_constants() -> None:
    assert len(FAMILIES) == len(set(FAMILIES)) == 22
    assert FAMILIES[-1] == "other"
    assert set(VIOLENT_FAMILIES) == {
        "assault",
        "domestic",
        "weapons",
        "robbery",
        "disturbance",
        "civil_disorder",
        "officer_assist",
    }
    assert set(WEAPON_FAMILIES) == {"weapons"}
    assert set(VIOLENT_FAMILIES) <= set(FAMILIES)
    assert {family for family, _ in text._FAMILY_RULES} <= set(FAMILIES)


@PROPERTY
@given(st.lists(st.one_of(st.none(), st.text(max_size=30)), max_size=10))
def test_call_type_properties(values: list[str | None]) -> None:
    normalized = normalize_call_type(values)
    assert normalized.shape == (len(values),)
    assert normalize_call_type(normalized).tolist() == normalized.tolist()  # idempotent
    assert "" not in normalized.tolist()
    families = call_family(normalized)
    assert set(families.tolist()) <= set(FAMILIES)
    assert [call_family([v])[0] for v in values] == families.tolist()


# --------------------------------------------------------------------------- categories


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  911 ", "911"),
        ("non-emergency   line", "NON-EMERGENCY LINE"),
        ("Apartment", "APARTMENT"),
        ("", None),
        ("   ", None),
        (None, None),
        (float("nan"), None),
        (3, "3"),
    ],
)
def test_normalize_category(raw: object, expected: str | None) -> None:
    assert normalize_category([raw]).tolist() == [expected]


# --------------------------------------------------------------------------- small-input path

_MIXED = st.one_of(
    st.none(),
    st.just(float("nan")),
    st.just(pd.NA),
    st.sampled_from(["Domestic Dist", "DOMESTIC-DIST", "100 n main st", "100 N. Main Street"]),
    st.text(max_size=12),
    st.integers(-3, 3),
)


@PROPERTY
@given(st.lists(_MIXED, min_size=0, max_size=40))
def test_small_inputs_map_as_the_factorized_path_does(values: list) -> None:
    """Up to `_SMALL_MAP` rows (a live call) skip pd.factorize; the answer is the same as when
    the same values sit in a table larger than that (the training path)."""
    pad = ["PAD"] * (text._SMALL_MAP + 1)
    for func in (normalize_call_type, normalize_category, normalize_address):
        small = func(values)
        large = func(values + pad)[: len(values)]
        assert len(small) == len(values)
        for a, b in zip(small, large, strict=True):
            assert a == b or (a is None and b is None), (func.__name__, values, a, b)
    keys = premise_key(values, [None] * len(values), [None] * len(values))
    keys_large = premise_key(values + pad, [None] * len(values + pad), [None] * len(values + pad))
    assert list(keys) == list(keys_large[: len(values)])
