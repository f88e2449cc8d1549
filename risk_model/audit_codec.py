"""The audit log's compact record: what `AuditLog` (risk_model/live.py) stores per scored call.

The previous record was the whole audit entry as JSON text, ~4.2 KB a call: every feature name,
every contribution label and every dictionary key repeated in every record, and the summary
fields twice. A record is now:

- summary columns, as small numbers: times as seconds, district / call type / tier / decision /
  model as ids into a table of distinct values (which is also what the filters list);
- `record`: a BLOB, `b"\\x02" + <dictionary id: 2 bytes> + raw deflate` of the packed entry:
  every dict's key list is stored once in the values table and the dict as `{"": [keys id,
  values...]}`; the assessment's id, score, tier, decision and model come from the columns.
  Deflate uses a preset dictionary made once from the log's own first records (stored in the log),
  so the words every record shares (precautions, reasons, warnings) cost a few bytes each.

Nothing is dropped: `unpack` gives back the entry that was written, word for word.
"""

from __future__ import annotations

import calendar
import struct
import zlib
from datetime import UTC, datetime
from typing import Any

import orjson

FORMAT = 2
HEADER = struct.Struct("<BH")  # format, preset-dictionary id (0 = none)
ZDICT_BYTES = 4 * 1024  # longer ones compress a little better but cost more time per record
ZDICT_SAMPLES = 32  # records it is made from, once the log holds that many
LEVEL = 1  # on the request path: ~3x faster than 6, records ~15% larger
_PACKED = ""  # the key of a packed dict: {"": [keys id, value, ...]}
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
    """`value` with every dict as {"": [keys id, values...]}.

    `keys_id(tuple_of_keys) -> int | None` interns a key list (None: keep the dict as it is, e.g.
    for keys that are not plain strings); lists and scalars are kept (a list of scalars as it
    is, without a copy). On the request path: plain loops, no per-value function call.
    """
    kind = type(value)
    if kind is dict:
        id_ = keys_id(tuple(value)) if value else None
        values = [pack(v, keys_id) if type(v) in _CONTAINERS else v for v in value.values()]
        if id_ is not None:
            return {_PACKED: [id_, *values]}
        return dict(zip(map(str, value), values, strict=True))
    if kind is list or kind is tuple:
        if _CONTAINERS.isdisjoint(map(type, value)):
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
        packed = value.get(_PACKED) if len(value) == 1 else None
        if isinstance(packed, list) and packed:
            names = keys(packed[0])
            return {k: unpack(v, keys) for k, v in zip(names, packed[1:], strict=True)}
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
