"""One list of guarded columns, read by `risk-model map --draft` and by `risk-model ingest`.

A guarded column never feeds a canonical field: a protected attribute (race, ethnicity, sex,
gender, religion: never, not even by override), a personal attribute (age, birth date, build,
height, weight, a person's name, phone, id number) or a post-incident fact (force, disposition,
arrest, injury, clearance, final call type, offence). The draft leaves these columns out and
ingest refuses to map them unless the mapping's `allow:` says why (protected ones: never).

Names alone miss most post-incident columns of real registers: why force was used, the subject's
resistance as the officer described it afterwards, effects on the subject. Their values say it
("Arrest", "Danger to self or others", "Resisting arrest", "Taser"), so a column is also guarded
when enough of its distinct values describe what happened after officers arrived. The check reads
a sample of the distinct values, so it costs the same on a thousand rows as on millions.

Every vocabulary lives in the one `GUARDS` object; the draft and ingest both import it (a test
proves they hold the very same object, and that no other ingest module spells these words).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
import pandas as pd

Category = Literal["protected", "personal", "post-incident"]

GUARD_WHY: dict[str, str] = {
    "protected": "race, ethnicity, sex, gender and religion are never mapped or kept",
    "personal": "a person's attributes never feed the model",
    "post-incident": "what happened after the call came in would hand the model its label",
}

_TOKEN_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def name_tokens(column: str) -> list[str]:
    """Lower-case name tokens: "IncidentNo" -> [incident, no]; "OFF_INJURE" -> [off, injure]."""
    return [
        t.lower() for part in re.split(r"[^0-9A-Za-z]+", column) for t in _TOKEN_RE.findall(part)
    ]


@dataclass(frozen=True)
class ContentHit:
    """Why a column's values say post-incident: which values, how many of how many."""

    examples: tuple[str, ...]
    hits: int
    distinct: int

    def text(self) -> str:
        shown = ", ".join(repr(v) for v in self.examples)
        return (
            f"{self.hits} of {self.distinct} distinct values describe what happened after "
            f"arrival, e.g. {shown}"
        )


@dataclass(frozen=True)
class Guards:
    """Every vocabulary the guards read, declared once (see the module docstring)."""

    protected_tokens: frozenset[str]
    protected_prefixes: tuple[str, ...]
    personal_tokens: frozenset[str]
    personal_prefixes: tuple[str, ...]
    # `name` is a person's name alone or beside one of these (CALLER_NAME, FIRST_NAME), never
    # beside a place word (STREET_NAME); an id is a person's beside a person word (SUBJECT_ID).
    person_words: frozenset[str]
    name_qualifiers: frozenset[str]
    id_words: frozenset[str]
    post_tokens: frozenset[str]
    post_prefixes: tuple[str, ...]
    # Values that describe what happened after arrival (regular expressions, any case).
    post_values: tuple[str, ...]
    # Values that say "nothing recorded": not counted among a column's distinct values.
    missing_words: frozenset[str]
    min_hits: int = 2  # distinct post-incident values before a column is guarded by content
    min_share: float = 0.25  # ... and their share of its distinct values
    sample_rows: int = 50_000  # rows read (evenly spaced) for the content check
    sample_values: int = 2_000  # distinct values read at most

    # ---------------------------------------------------------------- by name

    def protected_reason(self, column: str, extra: Iterable[str] = ()) -> str | None:
        """The name token that says protected attribute (or the `never_map` fragment), or None."""
        for t in name_tokens(column):
            if t in self.protected_tokens or t.startswith(self.protected_prefixes):
                return t
        for fragment in extra:
            if fragment and fragment.lower() in column.lower():
                return f"never_map: {fragment}"
        return None

    def guard_reason(self, column: str) -> tuple[Category, str] | None:
        """("personal" | "post-incident", the token that says so) for a column name, or None.

        Protected attributes are `protected_reason`'s (never overridable); these two categories
        are refused at ingest unless the mapping's `allow:` names the column with a reason.
        """
        tokens = name_tokens(column)
        words = set(tokens)
        for t in tokens:
            if t in self.post_tokens or t.startswith(self.post_prefixes):
                return "post-incident", t
        for t in tokens:
            if t in self.personal_tokens or t.startswith(self.personal_prefixes):
                return "personal", t
        person = words & self.person_words
        qualified = person | (words & self.name_qualifiers)
        named = "name" in words or "names" in words
        if named and (qualified or words <= {"name", "names"}):
            return "personal", f"{sorted(qualified)[0]} name" if qualified else "name"
        if person and words & self.id_words:
            return "personal", f"{sorted(person)[0]} {sorted(words & self.id_words)[0]}"
        if {"social", "security"} <= words:
            return "personal", "social security"
        return None

    # ---------------------------------------------------------------- by content

    @cached_property
    def _post_value_re(self) -> re.Pattern[str]:
        return re.compile("|".join(f"(?:{p})" for p in self.post_values), re.IGNORECASE)

    def distinct_sample(self, values: pd.Series, missing: Iterable[str] = ()) -> list[str]:
        """Up to `sample_values` distinct non-missing texts from evenly spaced rows."""
        cells = values.to_numpy(dtype=object)
        if len(cells) > self.sample_rows:
            cells = cells[np.linspace(0, len(cells) - 1, self.sample_rows).astype(np.int64)]
        skip = self.missing_words | {m.strip().lower() for m in missing}
        out: dict[str, None] = {}
        for v in pd.unique(cells):
            if not isinstance(v, str):
                if v is None or pd.isna(v):  # None, NaN, NA: nothing recorded
                    continue
                v = str(v)
            text = v.strip()
            if text.lower() not in skip:
                out[text] = None
                if len(out) >= self.sample_values:
                    break
        return list(out)

    def content_reason(self, values: pd.Series, missing: Iterable[str] = ()) -> ContentHit | None:
        """Why a column's values say post-incident, or None (see the module docstring)."""
        return self.content_of(self.distinct_sample(values, missing))

    def content_of(self, distinct: Iterable[str]) -> ContentHit | None:
        """`content_reason` on distinct texts already at hand (missing words are skipped)."""
        values: list[str] = []
        for v in distinct:
            if v.strip().lower() not in self.missing_words:
                values.append(v)
                if len(values) >= self.sample_values:
                    break
        if len(values) < self.min_hits:
            return None
        hits = [v for v in values if self._post_value_re.search(v)]
        if len(hits) < self.min_hits or len(hits) < self.min_share * len(values):
            return None
        return ContentHit(tuple(hits[:3]), len(hits), len(values))


# --------------------------------------------------------------------------- the one list

_PERSONAL_TOKENS = frozenset(
    {"age", "ages", "dob", "birth", "birthday", "birthdate", "birthplace", "build", "height",
     "weight", "hgt", "wgt", "ssn", "socsec", "phone", "phones", "telephone", "tel",
     "firstname", "lastname", "fullname", "surname", "fname", "lname", "badge", "dl", "oln",
     "license", "licence"}
)  # fmt: skip

_PERSON_WORDS = frozenset(
    {"subject", "subj", "suspect", "susp", "officer", "off", "ofc", "complainant", "comp",
     "caller", "victim", "vic", "person", "arrestee", "driver", "witness", "citizen", "cit",
     "resident", "contact", "employee", "emp", "reporting", "rp", "owner", "juvenile",
     "offender", "patient"}
)  # fmt: skip

_POST_TOKENS = frozenset(
    {"force", "forces", "disposition", "dispositions", "dispo", "disp", "final", "clear",
     "cleared", "clearance", "clr", "closed", "outcome", "outcomes", "resolution", "offense",
     "offence", "offenses", "offences", "inj", "taser", "charge", "charges", "charged"}
)  # fmt: skip

_POST_VALUES = (
    # resistance and the subject's conduct as described afterwards
    r"\bresist", r"active aggression", r"\bnon-?complian", r"\bevad(e|ed|ing)\b",
    r"assault(ed)? (on |to )?(an? )?(officer|police|public servant)",
    # force used, the officer's weapons, shots fired by officers
    r"\bforce\b", r"\btaser", r"\btased\b", r"\bo\.?c\.? spray", r"pepper spray", r"\bbaton",
    r"take ?down", r"joint lock", r"held (suspect|subject|person) down", r"handcuff",
    r"\brestrain", r"verbal command", r"weapon display", r"display(ed)? at person",
    r"pointed (a )?(firearm|weapon|gun)", r"\bk-?9 (bite|deploy)", r"bean ?bag",
    r"less[- ]lethal", r"pressure point", r"choke ?hold", r"hand controlled",
    r"(officer|ofc|police) (fired|discharged|shot)", r"(firearm|weapon) discharge",
    r"officer involved shooting",
    # effects on the subject, injuries
    r"\binjur", r"\babrasion", r"\blaceration", r"\bbruis", r"\bswelling", r"\bcontusion",
    r"\bfracture", r"hospitali[sz]", r"treated (by|at|and|on)", r"\bnon-?visible",
    # arrests, custody
    r"\barrest", r"\bcustody", r"\bbooked\b", r"\bjailed\b", r"\bdetain", r"\bdetention",
    r"\bapprehen", r"\bapoww\b", r"citation issued", r"\bcited\b", r"\bcharged\b",
    # dispositions
    r"\bunfounded\b", r"gone on arrival", r"\bgoa\b", r"report (taken|written|made)",
    r"\bno report\b", r"\bcleared\b", r"\bexceptional(ly)? clear", r"\bresolved\b",
    r"unable to locate", r"warning issued", r"\bno action\b",
    # reasons for force
    r"danger to (self|others)", r"self[- ]defen[cs]e", r"defen[cs]e of (others|officer)",
    r"prevent(ing)? (escape|injury|harm)", r"effect(ing)? (an )?arrest", r"\bfrisk",
)  # fmt: skip

GUARDS = Guards(
    protected_tokens=frozenset({"race", "races", "sex", "gender", "genders"}),
    protected_prefixes=("ethnic", "relig"),
    personal_tokens=_PERSONAL_TOKENS,
    personal_prefixes=("birth",),
    person_words=_PERSON_WORDS,
    name_qualifiers=frozenset({"first", "last", "full", "middle", "given", "maiden"}),
    id_words=frozenset({"id", "ids", "number", "num", "no", "nbr", "nr"}),
    post_tokens=_POST_TOKENS,
    post_prefixes=("arrest", "injur", "dispos", "clearanc", "resist"),
    post_values=_POST_VALUES,
    missing_words=frozenset(
        {"", "null", "none", "na", "n/a", "nan", "unknown", "unk", "-", "?", "other"}
    ),
)

# The functions ingest and the draft call (bound to the one object).
protected_reason = GUARDS.protected_reason
guard_reason = GUARDS.guard_reason
content_reason = GUARDS.content_reason
