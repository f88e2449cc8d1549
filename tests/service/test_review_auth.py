"""The review page's own credential: a signed, expiring, read-only session, never the API token.

A supervisor opens `/review/?token=<API token>` once (or a printed review link); the page sets a
session cookie and redirects to a clean address. The session reads the review routes only: the
service's gate refuses it everywhere else (/score, /ingest), and it stops working when it expires
or is altered. No trained model is needed: these checks stop before any call is read.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from risk_model.errors import UserError
from risk_model.review.session import (
    ENV_REVIEW_HOURS,
    ENV_REVIEW_SECRET,
    SESSION_COOKIE,
    ReviewSessions,
    parse_hours,
)
from serving.review import create_review_app

TOKEN = "master-t0ken_for-tests"


def _client(sessions: ReviewSessions | None = None) -> TestClient:
    sessions = sessions or ReviewSessions.for_token(TOKEN)
    app = create_review_app(lambda: None, token=TOKEN, sessions=sessions)
    return TestClient(Starlette(routes=[Mount("/review", app=app)]), base_url="http://testserver")


def _signed_in(client: TestClient) -> str:
    client.cookies.clear()
    resp = client.get("/review/", params={"token": TOKEN}, follow_redirects=False)
    assert resp.status_code == 303
    return resp.cookies[SESSION_COOKIE]


# ------------------------------------------------------------------ the session itself


def test_a_session_is_valid_until_it_expires() -> None:
    s = ReviewSessions.for_token(TOKEN, hours=2)
    value = s.issue(now=1_000_000)
    assert s.expires(value, now=1_000_000) == 1_000_000 + 7200
    assert s.expires(value, now=1_000_000 + 7199) is not None
    assert s.expires(value, now=1_000_000 + 7200) is None
    assert TOKEN not in value


def test_a_tampered_or_foreign_session_is_refused() -> None:
    s = ReviewSessions.for_token(TOKEN)
    value = s.issue(now=1_000_000)
    prefix, expiry, rid, sig = value.split(".")
    later = f"{prefix}.{int(expiry) + 10**6}.{rid}.{sig}"  # a longer life, same signature
    other_id = f"{prefix}.{expiry}.{'A' * len(rid)}.{sig}"
    flipped = value[:-1] + ("A" if value[-1] != "A" else "B")
    for bad in (later, other_id, flipped, value + "x", TOKEN, "", "rv1...", "rv1.x.y.z"):
        assert s.expires(bad, now=1_000_000) is None, bad
    assert ReviewSessions.for_token("another-token").expires(value, now=1_000_000) is None
    # A separate review secret signs with another key: the token's sessions do not pass.
    assert ReviewSessions.for_token(TOKEN, "secret").expires(value, now=1_000_000) is None
    assert ReviewSessions.for_token(None) is None  # no token: an open service, no sessions


def test_lifetime_setting() -> None:
    assert parse_hours(None) == 12
    assert parse_hours("0.5") == 0.5
    for bad in ("0", "-1", "soon", "nan", "100000"):
        with pytest.raises(UserError, match=ENV_REVIEW_HOURS):
            parse_hours(bad)
    env = {ENV_REVIEW_HOURS: "3", ENV_REVIEW_SECRET: "s"}
    s = ReviewSessions.from_env(TOKEN, env)
    assert s is not None and s.seconds == 3 * 3600
    assert s == ReviewSessions.for_token(TOKEN, "s", 3)


# ------------------------------------------------------------------ the review page


def test_the_link_token_becomes_a_session_and_leaves_the_address() -> None:
    client = _client()
    client.cookies.clear()
    resp = client.get("/review/", params={"token": TOKEN}, follow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["location"] == "/review/"  # no token in the address bar
    cookie = resp.headers["set-cookie"]
    value = resp.cookies[SESSION_COOKIE]
    assert value.startswith("rv1.") and TOKEN not in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/review" in cookie
    assert "Max-Age=43200" in cookie  # 12 hours by default
    # Following the redirect lands on the page, signed in, at a clean URL.
    page = client.get("/review/", params={"token": TOKEN})
    assert page.status_code == 200 and str(page.url) == "http://testserver/review/"
    assert client.get("/review/static/review.js").status_code == 200
    assert client.get("/review/api/facets").status_code == 503  # signed in; no model here


def test_the_api_token_is_not_accepted_as_a_cookie() -> None:
    client = _client()
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, TOKEN)
    assert client.get("/review/").status_code == 401
    client.cookies.clear()
    client.cookies.set("call_risk_token", TOKEN)  # the previous cookie
    assert client.get("/review/").status_code == 401
    assert client.get("/review/api/calls").status_code == 401


def test_an_expired_or_altered_session_is_refused() -> None:
    s = ReviewSessions.for_token(TOKEN)
    client = _client(s)
    for value in (s.issue(now=0), s.issue()[:-2] + "AA"):
        client.cookies.clear()
        client.cookies.set(SESSION_COOKIE, value)
        assert client.get("/review/").status_code == 401
        resp = client.get("/review/api/facets")
        assert resp.status_code == 401 and "expired" in resp.json()["error"]
        assert client.get("/review/static/review.css").status_code == 401


def test_a_printed_review_link_signs_in_without_the_api_token() -> None:
    s = ReviewSessions.for_token(TOKEN)
    link = s.issue(seconds=600)
    client = _client(s)
    client.cookies.clear()
    resp = client.get("/review/", params={"token": link}, follow_redirects=False)
    assert resp.status_code == 303 and resp.cookies[SESSION_COOKIE] == link
    max_age = int(resp.headers["set-cookie"].split("Max-Age=")[1].split(";")[0])
    assert 590 <= max_age <= 600  # the link's own expiry, not extended
    expired = s.issue(now=0)
    client.cookies.clear()
    bad = client.get("/review/", params={"token": expired}, follow_redirects=False)
    assert bad.status_code == 401 and "set-cookie" not in bad.headers


def test_a_session_works_as_a_bearer_credential_on_review_routes() -> None:
    s = ReviewSessions.for_token(TOKEN)
    client = _client(s)
    client.cookies.clear()
    ok = {"Authorization": f"Bearer {s.issue()}"}
    assert client.get("/review/", headers=ok).status_code == 200
    assert client.get("/review/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_a_bad_lifetime_setting_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_REVIEW_HOURS, "forever")
    app = create_review_app(lambda: None, token=TOKEN)
    client = TestClient(Starlette(routes=[Mount("/review", app=app)]))
    resp = client.get("/review/api/calls", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 503 and ENV_REVIEW_HOURS in resp.json()["error"]


# ------------------------------------------------------------------ the service's gate


def _through_gate(
    monkeypatch: pytest.MonkeyPatch, path: str, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    """One request through the service's Gate in front of an app that answers 200."""
    from serving.service import Gate

    monkeypatch.setenv("CALL_RISK_API_TOKEN", TOKEN)

    async def inner(scope: dict, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    gate = Gate(inner)
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b'{"calls": []}', "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    asyncio.run(gate(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body or b"{}")


@pytest.mark.parametrize("path", ["/ingest", "/score", "/score_batch", "/readyz"])
def test_the_gate_refuses_a_review_session_everywhere_but_review(
    monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    session = _signed_in(_client())
    for headers in (
        {"Cookie": f"{SESSION_COOKIE}={session}"},
        {"Authorization": f"Bearer {session}"},
        {"Cookie": f"call_risk_token={TOKEN}"},  # the master token in a cookie: no longer
    ):
        status, body = _through_gate(monkeypatch, path, headers)
        assert status == 401, (path, headers)
        assert body["field"] == "authorization"
    status, _ = _through_gate(monkeypatch, path, {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200  # the API token still authorizes everything


# ------------------------------------------------------------------ the printed link


def test_review_link_prints_a_session_link_never_the_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from risk_model.cli import app

    monkeypatch.setenv("CALL_RISK_API_TOKEN", TOKEN)
    monkeypatch.delenv(ENV_REVIEW_SECRET, raising=False)
    monkeypatch.delenv(ENV_REVIEW_HOURS, raising=False)
    args = ["review-link", "--url", "http://dispatch.local:3000/", "--hours", "2", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["url"].startswith("http://dispatch.local:3000/review/?token=rv1.")
    assert TOKEN not in result.output
    value = out["url"].split("token=")[1]
    expiry = ReviewSessions.for_token(TOKEN).expires(value)
    assert expiry is not None and 7100 < expiry - time.time() <= 7200
    monkeypatch.delenv("CALL_RISK_API_TOKEN")
    open_service = CliRunner().invoke(app, ["review-link"])
    assert open_service.exit_code == 2
    assert "CALL_RISK_API_TOKEN is not set" in open_service.output
    assert "Traceback" not in open_service.output
