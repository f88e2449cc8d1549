"""The service's one error shape: `{"error": "<field>: <problem>", "field", "errors": [...]}`.

Routes and middleware both answer with it, so a caller's client parses every 4xx/5xx the same
way and always learns which field to fix.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse

if TYPE_CHECKING:
    from risk_model.service.assessor import StoreUnavailable


# An absolute path on the server (`/srv/call-risk/history.db`, `sqlite:////srv/mlflow.db`):
# clients are told the file's name, never where the server keeps it (the log has the path).
_SERVER_PATH = re.compile(r"(?<![\w.:/~-])(?:sqlite:///)?/(?:[^\s/'\"`]+/)+([^\s/'\"`]*)")


def public_text(message: str) -> str:
    """`message` with every absolute server path shortened to its last part (the file name)."""
    return _SERVER_PATH.sub(lambda m: m.group(1) or "(a folder)", message)


def field_path(loc: Sequence[str | int]) -> str:
    """("calls", 3, "priority") -> "calls[3].priority"; the empty location is the body."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "body"


def _message(err: dict[str, Any]) -> str:
    if err.get("type") == "extra_forbidden":
        return "unknown field (the request body has no such key)"
    msg = str(err.get("msg", "invalid"))
    return msg.removeprefix("Value error, ")


def error_body(errors: Sequence[dict[str, Any]], prefix: Sequence[str | int] = ()) -> dict:
    """Pydantic errors -> {"error", "field", "errors"}: the first problem named in the message."""
    items = [
        {"field": field_path([*prefix, *e.get("loc", ())]), "error": _message(e)} for e in errors
    ] or [{"field": "body", "error": "invalid request"}]
    first = items[0]
    return {
        "error": f"{first['field']}: {first['error']}",
        "field": first["field"],
        "errors": items,
    }


def error_response(status: int, field: str | None, message: str, **extra: Any) -> JSONResponse:
    """One error answer: the field named in the message too, so a log line alone says it."""
    message = public_text(message)
    body: dict[str, Any] = {"error": f"{field}: {message}" if field else message, "field": field}
    body.update({k: public_text(v) if isinstance(v, str) else v for k, v in extra.items()})
    return JSONResponse(body, status_code=status)


def unavailable(exc: StoreUnavailable, consequence: str) -> JSONResponse:
    """503 for a failed write: the cause named, and what became of the request."""
    return error_response(
        503,
        None,
        f"{exc}; {consequence}. The service is not ready until a write succeeds again",
        cause=str(exc),
    )
