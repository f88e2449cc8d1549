"""What a column's content says, for `risk-model map --draft`: ids, groups, dates, overlaps.

Names mislead on real exports: an officer's hire date is the earliest "date" in every row, a
timestamp shared by two files matches as well as the incident number they also share, and a
register of force holds one row per officer. The draft therefore weighs each candidate by what
its values show (how unique, how grouped, where its dates fall, how much two files overlap) and
writes that evidence into the mapping's comments. Pure functions on text columns; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# Dates about a person, not the call: an officer's hire or commission. (Birth dates and licence
# numbers are personal columns, left out by the guards before any time is read.)
PERSON_DATE_TOKENS = frozenset(
    {"hire", "hired", "commission", "commissioned", "born", "appointed", "appointment",
     "academy", "sworn", "employment", "employed", "retire", "retired", "expiry", "expires",
     "expiration"}
)  # fmt: skip
YEAR = pd.Timedelta(days=365)


@dataclass(frozen=True)
class IdProfile:
    """How a column behaves as an incident id: unique, or grouped (one incident, many rows)."""

    rows: int
    filled: int
    distinct: int
    repeated: int  # ids with more than one row
    most: int  # rows of the most repeated id
    least: int = 2  # rows of the least repeated of the repeated ids

    @property
    def ratio(self) -> float:
        """Distinct ids per filled row: 1.0 unique, 0.5 two rows per id on average."""
        return self.distinct / self.filled if self.filled else 0.0

    @property
    def fill(self) -> float:
        return self.filled / self.rows if self.rows else 0.0

    def text(self) -> str:
        share = f"{self.ratio:.0%}"
        return f"{self.distinct:,} distinct values in {self.filled:,} filled rows ({share})"

    def groups_text(self) -> str:
        """ "50 of 2,327 ids have 2-4 rows" (empty when every id is unique)."""
        if not self.repeated:
            return ""
        rows = f"{self.most} rows" if self.most == self.least else f"{self.least}-{self.most} rows"
        return f"{self.repeated:,} of {self.distinct:,} ids have {rows}"


def id_profile(col: pd.Series) -> IdProfile:
    """Uniqueness and grouping of a stripped text column (empty cells are not ids)."""
    filled = col[col != ""]
    counts = filled.value_counts()
    repeated = counts[counts > 1]
    return IdProfile(
        rows=len(col),
        filled=len(filled),
        distinct=len(counts),
        repeated=len(repeated),
        most=int(repeated.max()) if len(repeated) else 1,
        least=int(repeated.min()) if len(repeated) else 1,
    )


def fill_and_distinct(col: pd.Series) -> tuple[int, int]:
    """(filled rows, distinct filled values) of a stripped text column, in one cheap pass."""
    cells = col.to_numpy(dtype=object)
    filled = cells[cells != ""]
    return len(filled), len(pd.unique(filled))


def looks_free_text(col: pd.Series, sample: int = 500) -> bool:
    """Remarks, narratives, descriptions: long values of several words (never a key)."""
    values = pd.Series(pd.unique(col[col != ""]))
    if values.empty:
        return False
    values = values.iloc[:sample].astype(str)
    words = values.str.split().str.len()
    return bool(values.str.len().mean() > 30 or words.mean() > 4)


def looks_coordinate(col: pd.Series) -> bool:
    """Decimal degrees or projected x/y: numbers with a fraction (never an id)."""
    values = col[col != ""]
    if values.empty:
        return False
    return bool(values.str.fullmatch(r"-?\d+\.\d+").mean() > 0.9)


def rows_years_before(early: pd.Series, late: pd.Series) -> float:
    """Share of rows (both times read) where `early` sits a year or more before `late`."""
    both = early.notna() & late.notna()
    if not both.any():
        return 0.0
    return float(((late[both] - early[both]) >= YEAR).mean())


def date_range(parsed: pd.Series) -> str:
    """ "2016-01-01 to 2016-12-31" (1st to 99th percentile, so a stray year does not widen it)."""
    read = parsed.dropna()
    if read.empty:
        return "no value read"
    lo, hi = read.quantile(0.01), read.quantile(0.99)
    return f"{lo:%Y-%m-%d} to {hi:%Y-%m-%d}"


def median_time(parsed: pd.Series) -> float:
    read = parsed.dropna()
    return float(read.astype("int64").median()) if len(read) else 0.0


def busiest(counts: pd.Series, share: pd.Series, min_share: float, min_rows: int) -> pd.Series:
    """Places dominated by admin/status rows and far busier than a typical place.

    `counts` are rows per place, `share` the admin share of each. A place qualifies when most of
    its rows are admin entries and it holds at least `min_rows` of them and at least twice the
    rows of the median place (stations, headquarters, the jail): the rows it keeps, busiest first.
    """
    if counts.empty:
        return counts
    typical = float(np.median(counts.to_numpy()))
    admin_rows = counts * share
    keep = (share >= min_share) & (admin_rows >= min_rows) & (counts >= 2 * typical)
    return counts[keep].sort_values(ascending=False, kind="stable")
