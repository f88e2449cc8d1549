"""The draft written down: a mapping YAML whose comments carry every guess's evidence.

Every value is written as a JSON string (valid YAML, read as text by the loader), every comment
is wrapped to 99 columns, and a line break inside a value never ends a comment line early.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable
from pathlib import Path

from risk_model.ingest.draft_model import FLAG_FIELDS, Draft, OutcomeDraft, flow, is_status, q
from risk_model.ingest.draft_sample import Sample
from risk_model.ingest.run import Mapping


def comment(lines: Iterable[str], indent: str = "") -> list[str]:
    """Comment lines wrapped to fit 99 columns; a wrapped line's rest is indented."""
    out = []
    for line in lines:
        wrapped = textwrap.wrap(line, 97 - len(indent), subsequent_indent="  ") or [""]
        out += [f"{indent}# {part}".rstrip() for part in wrapped]
    return out


def render(
    export: Path,
    sample: Sample,
    d: Draft,
    outcome: OutcomeDraft | None,
    outcomes_ok: bool,
    unused: list[str],
) -> str:
    n = len(sample.frame)
    rows = f"the first {n:,} rows" if sample.truncated else f"all {n:,} rows"
    out = [
        f"# DRAFT mapping for {export.name}, written by `risk-model map --draft` from {rows}.",
        "# Every line is a guess: check each against the export and the agency's documentation,",
        "# then run `risk-model ingest --input EXPORT --mapping THIS_FILE --out runs/check` on a",
        "# sample and read runs/check/quarantine.csv. docs/ingest.md explains every key.",
        "version: 1",
        f"name: {q(export.stem)}",
        "# timezone: America/Chicago   # the agency's IANA zone; needed for times with offsets",
    ]
    if sample.encoding != "utf-8":
        out.append(f"encoding: {q(sample.encoding)}   # the file is not UTF-8")
    if sample.delimiter is not None:
        out.append(f"delimiter: {q(sample.delimiter)}")
    if d.missing_values:
        out.append(
            f"missing_values: {flow(d.missing_values)}   # written in many columns for 'no value'"
        )
    out += _render_fold(d)
    out.append("fields:")
    order = (
        "call_id", "received_at", "call_type", "priority", "source", "address", "latitude",
        "longitude", "beat", "district", "premise_type", *FLAG_FIELDS, "narrative",
    )  # fmt: skip
    for name in order:
        g = d.guesses.get(name)
        if g is None:
            continue
        out += comment([f"{name} <- {g.column}: {g.why[0]}", *g.why[1:]], "  ")
        if name == "call_type" and d.call_types:
            out.append(f"  #   the {len(d.call_types)} most common of {d.n_call_types:,} values:")
            width = max(len(q(v)) for v, _, _ in d.call_types)
            for v, fam, cnt in d.call_types:
                status = "   <- unit status? (see exclude: below)" if is_status(v) else ""
                out.append(f"  #   {cnt:>8,}  {q(v):<{width}}  {fam}{status}")
        out += [f"  {line}" for line in g.lines]
    missing = [f for f in ("call_id", "received_at", "call_type") if f not in d.guesses]
    for f in missing:
        out.append(f"  # {f}: REQUIRED and not recognised; map it by hand")
    for name in ("officer_assaulted", "officer_injured"):
        g = d.guesses.get(name)
        if g is not None:
            out += comment([f"{name} <- {g.column}: {g.why[0]}", *g.why[1:]], "  ")
            out += [f"  {line}" for line in g.lines]
    if not d.guesses:
        out[-1] = "fields: {}   # nothing recognised: map call_id, received_at, call_type by hand"
    if d.shift_lines:
        out += ["", *d.shift_lines]
    if d.exclude:
        out += [
            "",
            "# Rows that are not calls (unit-status and administrative entries) look like these",
            "# values; scored, they rank highest (the station builds premise history). Review the",
            "# list, then uncomment to drop them before validation (they are counted by rule):",
            "# exclude:",
        ]
        for col, hits in d.exclude:
            total = sum(c for _, c in hits)
            out.append(f"#   - {{column: {q(col)}, equals: {flow(v for v, _ in hits)}}}")
            out.append(
                f"#     # {total:,} sampled rows: " + ", ".join(f"{v} ({c:,})" for v, c in hits)
            )
    if d.not_premises:
        out += [
            "",
            "# Places dominated by those admin/status entries (stations, headquarters, the jail,",
            "# the court?) are not premises: they never build premise history. Uncomment after",
            "# checking:",
            "# not_premises:",
        ]
        for col, hits in d.not_premises:
            out.append(f"#   - {{column: {q(col)}, equals: {flow(v for v, _ in hits)}}}")
            out += comment([", ".join(why for _, why in hits)], "#     ")
    if outcome is not None:
        out += ["", *_render_outcomes(outcome, d, outcomes_ok)]
    if d.left_out:
        out += [
            "",
            "# LEFT OUT on purpose. Post-incident columns are known only after the call (mapped,",
            "# they hand the model its answer); personal attributes never become inputs. ingest",
            "# refuses these columns; `allow:` overrides a column that only looks like one (never",
            "# race, ethnicity, sex/gender or religion):",
        ]
        width = max(len(c) for c in d.left_out)
        out += [f"#   {c:<{width}}  {why}" for c, why in d.left_out.items()]
    if d.person_dates:
        out += ["", "# Never the call time (dates about an officer or a subject, not the call):"]
        out += comment([f"  {c}: {why}" for c, why in d.person_dates.items()])
    if d.other_times:
        out += [
            "",
            "# Other time columns (later steps of the call; ingest needs only received_at):",
        ]
        out += [f"#   {c}" for c in d.other_times]
    if unused:
        out += [
            "",
            "# Not used (no canonical field recognised; extra columns are never features):",
        ]
        out += [f"#   {c}" for c in unused]
    if d.notes:
        out += ["", "# To do by hand:"]
        out += [f"#   - {note}" for note in d.notes]
    # A value or column name with a line break would end a comment line early: one line each.
    return "\n".join(ONE_LINE.sub(" ", line) for line in out) + "\n"


def _render_fold(d: Draft) -> list[str]:
    """`incident_rows: fold` when ids repeat (one incident, a row per officer or subject)."""
    if d.fold is None:
        return []
    column, prof = d.fold
    lines = comment(
        [
            f"incident_rows: {prof.groups_text()} ({column}): one incident, several rows (one "
            "per officer, subject or unit). fold makes them one call: harmed when any row is, "
            "the number of rows kept as a count, call-time fields taken from the first row "
            "(a warning names any that disagree). Without it, later rows are quarantined as "
            "duplicates or refused when their outcomes differ."
        ]
    )
    if "incident_rows" in Mapping.model_fields:
        return [*lines, "incident_rows: fold"]
    return [
        *lines,
        "# This version of `risk-model ingest` does not read `incident_rows:` yet; uncomment",
        "# once it does:",
        "# incident_rows: fold",
    ]


ONE_LINE = re.compile(r"[\r\n\x0b\x0c\x85\u2028\u2029]+")


def _render_outcomes(o: OutcomeDraft, d: Draft, active: bool) -> list[str]:
    lines = [
        f"outcomes:   # officer harm from its own file ({o.rows:,} rows read)",
        f"  file: {q(o.file)}",
        f"  key: {q(o.key or 'SET_ME')}",
    ]
    call_id = d.guesses.get("call_id")
    if o.call_key is not None and (call_id is None or o.call_key != call_id.column):
        lines.append(f"  call_key: {q(o.call_key)}   # the export column the key matches")
    lines.append(
        '  absent: "false"   # "false" if the file lists every harmed call, else "unknown"'
    )
    lines.append("  fields:")
    for name in ("officer_assaulted", "officer_injured"):
        for line in o.fields.get(name, []):
            lines.append(f"    {line}")
    notes = comment(o.why)
    notes.append(
        "# Only these flags cross the join: no other outcome-file column reaches the model."
    )
    if not active:
        notes.append(
            "# This version of `risk-model ingest` does not read `outcomes:` yet: kept as a "
            "comment."
        )
        lines = ["# " + line for line in lines]
    return notes + lines
