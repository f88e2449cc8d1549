"""The vectorised address first pass never changes a normalised address."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from risk_model import text

PIECES = [
    "1234",
    "n.",
    "North",
    "main",
    "Street",
    "St.",
    "ave",
    "#4B",
    "apt",
    "12",
    "&",
    "/",
    "elm",
    "  ",
    "O'Connor",
    "blk",
    "block",
    "of",
    "-",
    ",",
    "@",
    "and",
    "I-35",
    "Ñandu",
    "  unit",
    "1/2",
    "NULL",
    "`",
    "Hwy",
]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from(PIECES), max_size=8).map(" ".join), min_size=1, max_size=20)
    | st.lists(st.text(max_size=30), min_size=1, max_size=20)
)
def test_prefold_then_normalise_equals_normalise(addresses: list[str]) -> None:
    uniques = np.array(list(dict.fromkeys(addresses)), dtype=object)
    folded = text._prefold_addresses(uniques)
    direct = [text._normalize_address_one(a) for a in uniques]
    via = [text._normalize_address_one(f) for f in folded]
    assert via == direct


def test_large_batches_take_the_prefold_path_and_agree_with_small_ones() -> None:
    rng = np.random.default_rng(0)
    streets = ["MAIN", "Elm", "oak", "N. Pine"]
    suffixes = ["Street", "ST", "st.", "Avenue", "AVE"]
    rows = [
        f"{rng.integers(1, 9999)} {streets[i % 4]}  {suffixes[i % 5]}"
        for i in range(text._PREFOLD_MIN_UNIQUES * 2)
    ]
    batch = text.normalize_address(rows)
    for i in range(0, len(rows), 997):
        assert text.normalize_address([rows[i]])[0] == batch[i]
