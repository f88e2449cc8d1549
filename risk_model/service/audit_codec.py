"""The audit log's compact record: what `AuditLog` (service/audit_log.py) stores per call.

The previous record was the whole audit entry as JSON text, ~4.2 KB a call: every feature name,
every contribution label and every dictionary key repeated in every record, and the summary
fields twice. A record is now:

- summary columns, as small numbers: times as seconds, district / call type / tier / decision /
  model as ids into a table of distinct values (which is also what the filters list);
- `record`: a BLOB, `b"\\x02" + <dictionary id: 2 bytes> + raw deflate` of the packed entry
  (`pack`): every dict's key list and every long list of strings (the contribution labels) is
  stored once in the values table and referenced by id; float32 feature values are written in
  float32's shortest form; the assessment's id, score, tier, decision and model come from the
  columns.
  Deflate uses a preset dictionary made once from the log's own first records (stored in the log),
  so the words every record shares (precautions, reasons, warnings) cost a few bytes each.

Nothing is dropped: `unpack` gives back the entry that was written, word for word.
"""

from __future__ import annotations

import calendar
import struct
import zlib
from array import array
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson

FORMAT = 2
HEADER = struct.Struct("<BH")  # format, preset-dictionary id (0 = none)
ZDICT_BYTES = 8 * 1024  # measured on real records: 4 KB +15% bytes, 16 KB -7%
ZDICT_SAMPLES = 32  # records it is made from, once the log holds that many
LEVEL = 6  # level 1 is ~2x faster, its records ~20% larger
_PACKED = ""  # the key of a packed dict: {"": [keys id, value, ...]}
_FLOAT32 = "f"  # ... of a packed dict whose floats are float32 values
_LIST = "#"  # ... of an interned list of strings: {"#": id}
FLOAT32_MIN = 8
STRING_LIST = 8
_MAX_KEYS_JSON = 4000
_CONTAINERS = frozenset({dict, list, tuple})
# The assessment's fields that live in the summary columns, not in the record.
COLUMN_FIELDS = ("call_id", "risk_score", "risk_tier", "decision", "model")


def to_seconds(text: str) -> int:
    """An ISO date-time -> whole seconds on its own wall clock (an offset, if any, is ignored:
    the service stores local times, and the review filters compare wall clocks)."""
    when = datetime.fromisoformat(str(text))
    return calendar.timegm(when.replace(tzinfo=None).timetuple())


def from_seconds(seconds: int) -> str:
    return (
        datetime.fromtimestamp(int(seconds), tz=UTC)
        .replace(tzinfo=None)
        .isoformat(timespec="seconds")
    )


def pack(value: Any, keys_id: Any) -> Any:
    """`value` with its repeated structure replaced by ids into the values table.

    - a dict -> {"": [keys id, values...]}, or {"f": [...]} when its many floats are all
      float32 values (features are): they are written in float32's shortest form;
    - a list of STRING_LIST or more strings (the contribution labels) -> {"#": list id};
    - other lists and scalars are kept (a list of scalars as it is, without a copy).

    `keys_id(tuple_of_strings) -> int | None` interns a key or string list (None: keep it as
    it is). On the request path: plain loops, no per-value function call.
    """
    kind = type(value)
    if kind is dict:
        id_ = keys_id(tuple(value)) if value else None
        values = [pack(v, keys_id) if type(v) in _CONTAINERS else v for v in value.values()]
        if id_ is None:
            return dict(zip(map(str, value), values, strict=True))
        floats = [v for v in values if type(v) is float]
        if len(floats) >= FLOAT32_MIN and array("f", floats).tolist() == floats:
            values = [np.float32(v) if type(v) is float else v for v in values]
            return {_FLOAT32: [id_, *values]}
        return {_PACKED: [id_, *values]}
    if kind is list or kind is tuple:
        types = set(map(type, value))
        if types == {str} and len(value) >= STRING_LIST:
            id_ = keys_id(tuple(value))
            if id_ is not None:
                return {_LIST: id_}
        if _CONTAINERS.isdisjoint(types):
            return value
        return [pack(v, keys_id) if type(v) in _CONTAINERS else v for v in value]
    return value


def keys_text(keys: tuple[Any, ...]) -> str | None:
    """A key list as stored in the values table; None for keys that cannot be interned (not
    plain non-empty strings, or too many to be worth it)."""
    if not all(type(k) is str and k for k in keys):
        return None
    text = orjson.dumps(keys).decode()
    return text if len(text) <= _MAX_KEYS_JSON else None


def unpack(value: Any, keys: Any) -> Any:
    """The inverse of `pack`; `keys(id) -> tuple of keys`."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((tag, inner),) = value.items()
            if tag in (_PACKED, _FLOAT32) and isinstance(inner, list) and inner:
                names = keys(inner[0])
                values = [unpack(v, keys) for v in inner[1:]]
                if tag == _FLOAT32:
                    values = [float(np.float32(v)) if type(v) is float else v for v in values]
                return dict(zip(names, values, strict=True))
            if tag == _LIST and type(inner) is int:
                return list(keys(inner))
        return {k: unpack(v, keys) for k, v in value.items()}
    if isinstance(value, list):
        return [unpack(v, keys) for v in value]
    return value


def body(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry without what the summary columns hold (the assessment's id, score, ...)."""
    assessment = {k: v for k, v in entry["assessment"].items() if k not in COLUMN_FIELDS}
    return {**entry, "assessment": assessment}


def encode_json(data: bytes, zdict_id: int, zdict: bytes | None) -> bytes:
    comp = (
        zlib.compressobj(LEVEL, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, zdict)
        if zdict
        else zlib.compressobj(LEVEL, zlib.DEFLATED, -15, 9)
    )
    return HEADER.pack(FORMAT, zdict_id if zdict else 0) + comp.compress(data) + comp.flush()


def header(blob: bytes) -> tuple[int, int]:
    """(format, dictionary id) of a record."""
    return HEADER.unpack_from(blob)


def decode_json(blob: bytes, zdict: bytes | None) -> bytes:
    fmt, zid = HEADER.unpack_from(blob)
    if fmt != FORMAT:
        raise ValueError(f"unknown audit record format {fmt}")
    d = zlib.decompressobj(-15, zdict) if zid else zlib.decompressobj(-15)
    return d.decompress(blob[HEADER.size :]) + d.flush()


def make_zdict(samples: list[bytes]) -> bytes:
    """A preset dictionary from sample records (newest last: deflate finds near text cheaper)."""
    return b"".join(samples)[-ZDICT_BYTES:]
