"""What `risk-model map --draft` knows about an export before it writes it down.

The draft's guesses (`Guess`), everything it says about one export (`Draft`, with what each
column holds worked out once) and about an outcome file (`OutcomeDraft`), plus the few words the
guesses and the YAML writer both read (flag fields, unit-status and admin call types).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from risk_model.ingest.draft_content import IdProfile
from risk_model.ingest.draft_times import TimeGuess, detect_time
from risk_model.text import normalize_call_type

FLAG_FIELDS = ("weapon_reported", "domestic", "mental_health", "intoxication", "in_progress")


@dataclass
class Guess:
    """One canonical field's draft: the YAML lines (without indent) and why."""

    field: str
    column: str
    lines: list[str]
    why: list[str] = field(default_factory=list)
    also_reads: list[str] = field(default_factory=list)  # e.g. the time column of date + time


def q(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML; the loader reads text)."""
    return json.dumps(str(text), ensure_ascii=False)


def flow(items: Iterable[str]) -> str:
    return "[" + ", ".join(q(i) for i in items) + "]"


# Suffixes that mark a column's form, not its meaning: "DV_YN", "WEAPON_FLAG", "MH_IND".
@dataclass
class Draft:
    """Everything the draft says about an export, before it is written as YAML."""

    guesses: dict[str, Guess] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    exclude: list[tuple[str, list[tuple[str, int]]]] = field(default_factory=list)
    not_premises: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)
    call_types: list[tuple[str, str, int]] = field(default_factory=list)
    n_call_types: int = 0
    other_times: list[str] = field(default_factory=list)
    shift_lines: list[str] = field(default_factory=list)
    fold: tuple[str, IdProfile] | None = None  # the id column whose incidents have several rows
    person_dates: dict[str, str] = field(default_factory=dict)  # never a call time, and why
    missing_values: list[str] = field(default_factory=list)
    # What each export column holds, worked out once however many guesses ask (a header of
    # 200,000 columns is read by every guess: each column must cost little, and only once).
    times: dict[str, TimeGuess | None] = field(default_factory=dict)
    distincts: dict[str, tuple[int, list[str]]] = field(default_factory=dict)
    cells: np.ndarray | None = None  # the export's cells, one object array (see `read`)
    position: dict[str, int] = field(default_factory=dict)

    def time_of(self, df: pd.DataFrame, column: str) -> TimeGuess | None:
        """`detect_time` of an export column."""
        if column not in self.times:
            self.times[column] = detect_time(column, df[column], self.distinct(df, column))
        return self.times[column]

    def distinct(self, df: pd.DataFrame, column: str) -> list[str]:
        """The distinct non-empty values of an export column, in order of appearance."""
        return self._facts(df, column)[1]

    def filled(self, df: pd.DataFrame, column: str) -> int:
        """How many rows of an export column are not empty."""
        return self._facts(df, column)[0]

    def read(self, df: pd.DataFrame) -> None:
        """Keeps the export's cells as one array: a column is then a slice, not a new Series."""
        self.cells = df.to_numpy(dtype=object)
        self.position = {c: i for i, c in enumerate(df.columns)}

    def _facts(self, df: pd.DataFrame, column: str) -> tuple[int, list[str]]:
        if column not in self.distincts:
            at = self.position.get(column)
            if at is None or self.cells is None:
                cells = df[column].to_numpy(dtype=object)
            else:
                cells = self.cells[:, at]
            filled = cells[cells != ""]
            self.distincts[column] = (len(filled), list(pd.unique(filled)))
        return self.distincts[column]


@dataclass
class OutcomeDraft:
    file: str
    key: str | None = None
    key_share: float = 0.0
    call_key: str | None = None
    fields: dict[str, list[str]] = field(default_factory=dict)
    why: list[str] = field(default_factory=list)
    rows: int = 0


# Unit-status and administrative entries mixed into CAD exports (not calls for service).
_STATUS_EXACT = frozenset(
    {"RETURN STATION", "RETURN TO STATION", "RTS", "OUT OF SERVICE", "OOS", "COURT",
     "COURT APPEARANCE", "COURT DUTY", "PRISONER TRANSPORT", "TRANSPORT PRISONER",
     "PRISONER TRANS", "TRANSPORT", "MEAL", "MEAL BREAK", "LUNCH", "BREAK", "FUEL", "GAS",
     "FUELING", "CAR WASH", "VEHICLE MAINTENANCE", "VEH MAINT", "MAINTENANCE", "TRAINING",
     "ADMIN", "ADMINISTRATIVE", "ADMIN DUTY", "REPORT WRITING", "PAPERWORK", "SHIFT CHANGE",
     "BRIEFING", "ROLL CALL", "MEETING", "BUSY", "ON BREAK", "PERSONAL", "RELIEF", "BOOKING",
     "JAIL", "EVIDENCE", "EVIDENCE DROP", "AT STATION", "IN SERVICE", "UNIT STATUS", "STATUS",
     "PERSONAL BREAK", "RESTROOM", "LOG ON", "LOG OFF", "END OF SHIFT", "SUBPOENA SERVICE",
     "REPORTS", "REPORT", "ASSIGNMENT", "SPECIAL ASSIGNMENT", "BUSINESS CHECK", "BUS CHECK",
     "BUSINESS CHK", "ADMIN ASSIGNMENT", "COURT TIME", "PRISONER TRANSFER", "JAIL TRANSPORT"}
)  # fmt: skip
_STATUS_PREFIXES = (
    "OUT OF SERVICE", "RETURN TO STATION", "RETURN STATION", "PRISONER TRANSPORT",
    "TRANSPORT PRISONER", "ADMIN ", "MEAL ", "UNIT STATUS",
)  # fmt: skip


def is_status(value: str) -> bool:
    norm = normalize_call_type([value])[0] or ""
    return norm in _STATUS_EXACT or norm.startswith(_STATUS_PREFIXES)
