"""The lexicon's two engines (pyarrow RE2 for batches, Python re for a live call) agree."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from risk_model import text

WORDS = [
    "SUBJ",
    "POSS",
    "ARMED",
    "W/",
    "KNIFE",
    "GUN",
    "NO",
    "NOT",
    "NEG",
    "WEAPONS",
    "SEEN",
    "BUT",
    "HAS",
    "A",
    "THREATENING",
    "TO",
    "KILL",
    "HERSELF",
    "RP",
    "FIGHTING",
    "VERBAL",
    "ONLY",
    "EDP",
    "OFF",
    "HIS",
    "MEDS",
    "SUICIDAL",
    "INTOX",
    "DRUNK",
    "ETOH",
    "CHILDREN",
    "NO",
    "KIDS",
    "HIT",
    "AND",
    "RUN",
    "BABY",
    "MAMA",
    "UNK",
    "IF",
    "DENIES",
    "PHYSICAL",
    "HIGH",
    "ON",
    "METH",
    "5",
    "Y/O",
    "E.D.P.",
    "DON'T",
    "BAT",
    "SHOTS",
    "FIRED",
    "ALARM",
    "ÉDP",
    "straße",
    "ıntox",
]
SEPARATORS = [
    " ",
    "  ",
    ",",
    ", ",
    ". ",
    ".",
    ";",
    "\n",
    "\r\n",
    "\t",
    "\x0b",
    "\x0c",
    "-",
    "|",
    "!",
]


def both(texts: list) -> tuple[dict, dict]:
    arr = text._to_arrow_strings(texts)
    return text._signals_small(arr), text._signals_chunk(arr)


def assert_agree(texts: list) -> None:
    small, batch = both(texts)
    for name in text.NARRATIVE_SIGNALS:
        np.testing.assert_array_equal(small[name], batch[name], err_msg=name)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(SEPARATORS)), max_size=14).map(
            lambda parts: "".join(w + s for w, s in parts)
        ),
        min_size=1,
        max_size=12,
    )
)
def test_engines_agree_on_generated_remarks(texts: list[str]) -> None:
    assert_agree(texts)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=60)), min_size=1, max_size=8))
def test_engines_agree_on_arbitrary_unicode(texts: list) -> None:
    assert_agree(texts)


def test_engines_agree_on_simulated_remarks(sim_calls: pd.DataFrame) -> None:
    remarks = sim_calls["narrative"].astype(object).where(sim_calls["narrative"].notna(), None)
    sample = remarks.drop_duplicates().head(5000).tolist()
    assert_agree(sample)


def test_public_function_uses_the_same_answer_for_one_remark_and_a_batch(
    sim_calls: pd.DataFrame,
) -> None:
    remarks = sim_calls["narrative"].dropna().head(400).tolist()
    batch = text.narrative_signals(remarks)
    for i in range(0, 400, 37):
        one = text.narrative_signals([remarks[i]])
        for name in text.NARRATIVE_SIGNALS:
            assert one[name][0] == batch[name][i] or (
                np.isnan(one[name][0]) and np.isnan(batch[name][i])
            )
