"""The review page's own credential: a signed, expiring, read-only session, never the API token.

A supervisor opens `/review/?token=<API token>` once (or a printed review link); the page sets a
session cookie and redirects to a clean address. The session reads the review routes only: the
service's gate refuses it everywhere else (/score, /ingest), and it stops working when it expires
or is altered. No trained model is needed: these checks stop before any call is read.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from risk_model.errors import UserError
from risk_model.review.session import (
    ENV_REVIEW_HOURS,
    ENV_REVIEW_SECRET,
    KEY_NAME,
    SESSION_COOKIE,
    ReviewSessions,
    load_or_create_key,
    parse_hours,
    require_strong,
    signing_key,
)
from serving.review import create_review_app

TOKEN = "master-t0ken_for-tests-0123456789abcdef"
KEY = bytes(range(32))
SECRET = "review-secret-of-its-own-0123456789abcdef"


def _client(sessions: ReviewSessions | None = None) -> TestClient:
    sessions = sessions or ReviewSessions.for_token(TOKEN, KEY)
    app = create_review_app(lambda: None, token=TOKEN, sessions=sessions)
    return TestClient(Starlette(routes=[Mount("/review", app=app)]), base_url="http://testserver")


def _signed_in(client: TestClient) -> str:
    client.cookies.clear()
    resp = client.get("/review/", params={"token": TOKEN}, follow_redirects=False)
    assert resp.status_code == 303
    return resp.cookies[SESSION_COOKIE]


# ------------------------------------------------------------------ the session itself


def test_a_session_is_valid_until_it_expires() -> None:
    s = ReviewSessions.for_token(TOKEN, KEY, hours=2)
    value = s.issue(now=1_000_000)
    assert s.expires(value, now=1_000_000) == 1_000_000 + 7200
    assert s.expires(value, now=1_000_000 + 7199) is not None
    assert s.expires(value, now=1_000_000 + 7200) is None
    assert TOKEN not in value


def test_a_tampered_or_foreign_session_is_refused() -> None:
    s = ReviewSessions.for_token(TOKEN, KEY)
    value = s.issue(now=1_000_000)
    prefix, expiry, rid, sig = value.split(".")
    later = f"{prefix}.{int(expiry) + 10**6}.{rid}.{sig}"  # a longer life, same signature
    other_id = f"{prefix}.{expiry}.{'A' * len(rid)}.{sig}"
    flipped = value[:-1] + ("A" if value[-1] != "A" else "B")
    for bad in (later, other_id, flipped, value + "x", TOKEN, "", "rv1...", "rv1.x.y.z"):
        assert s.expires(bad, now=1_000_000) is None, bad
    # Another token (same key) or another key (same token): not valid.
    assert ReviewSessions.for_token("another-token", KEY).expires(value, now=1_000_000) is None
    assert ReviewSessions.for_token(TOKEN, b"x" * 32).expires(value, now=1_000_000) is None
    assert ReviewSessions.for_token(None, KEY) is None  # no token: an open service, no sessions


def test_lifetime_setting(tmp_path: Path) -> None:
    assert parse_hours(None) == 12
    assert parse_hours("0.5") == 0.5
    for bad in ("0", "-1", "soon", "nan", "100000"):
        with pytest.raises(UserError, match=ENV_REVIEW_HOURS):
            parse_hours(bad)
    env = {ENV_REVIEW_HOURS: "3", ENV_REVIEW_SECRET: SECRET}
    s = ReviewSessions.from_env(TOKEN, tmp_path / "key", env)
    assert s is not None and s.seconds == 3 * 3600
    assert s == ReviewSessions.for_token(TOKEN, signing_key(TOKEN, tmp_path / "key", SECRET), 3)
    assert not (tmp_path / "key").exists()  # a configured secret: no key file


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
    s = ReviewSessions.for_token(TOKEN, KEY)
    client = _client(s)
    for value in (s.issue(now=0), s.issue()[:-2] + "AA"):
        client.cookies.clear()
        client.cookies.set(SESSION_COOKIE, value)
        assert client.get("/review/").status_code == 401
        resp = client.get("/review/api/facets")
        assert resp.status_code == 401 and "expired" in resp.json()["error"]
        assert client.get("/review/static/review.css").status_code == 401


def test_a_printed_review_link_signs_in_without_the_api_token() -> None:
    s = ReviewSessions.for_token(TOKEN, KEY)
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
    s = ReviewSessions.for_token(TOKEN, KEY)
    client = _client(s)
    client.cookies.clear()
    ok = {"Authorization": f"Bearer {s.issue()}"}
    assert client.get("/review/", headers=ok).status_code == 200
    assert client.get("/review/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_a_bad_lifetime_setting_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_REVIEW_HOURS, "forever")
    app = create_review_app(lambda: None, token=TOKEN, key_file=tmp_path / "key")
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
        "client": ("testclient", 50000),  # the address the review page's client comes from
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
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from risk_model.cli import app

    monkeypatch.setenv("CALL_RISK_API_TOKEN", TOKEN)
    monkeypatch.setenv("CALL_RISK_HISTORY_DB", str(tmp_path / "history.db"))
    monkeypatch.delenv("CALL_RISK_AUDIT_DB", raising=False)
    monkeypatch.delenv(ENV_REVIEW_SECRET, raising=False)
    monkeypatch.delenv(ENV_REVIEW_HOURS, raising=False)
    args = ["review-link", "--url", "http://dispatch.local:3000/", "--hours", "2", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["url"].startswith("http://dispatch.local:3000/review/?token=rv1.")
    assert TOKEN not in result.output
    value = out["url"].split("token=")[1]
    # Signed with the random key kept beside the service's audit log, as the service checks it.
    expiry = ReviewSessions.from_env(TOKEN, tmp_path / KEY_NAME, {}).expires(value)
    assert expiry is not None and 7100 < expiry - time.time() <= 7200
    monkeypatch.delenv("CALL_RISK_API_TOKEN")
    open_service = CliRunner().invoke(app, ["review-link"])
    assert open_service.exit_code == 2
    assert "CALL_RISK_API_TOKEN is not set" in open_service.output
    assert "Traceback" not in open_service.output


# ------------------------------------------------------------------ issue 22, N2: the key


def test_a_leaked_session_reveals_nothing_about_the_token(tmp_path: Path) -> None:
    """The signing key is random and kept in a file: knowing the token does not let anyone
    check a session (so a session cannot be used to check token guesses either)."""
    key_file = tmp_path / KEY_NAME
    key = signing_key(TOKEN, key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key) == 32 and key == load_or_create_key(key_file)  # kept, not remade
    # The same file gives the same key whatever the token: the key is never derived from it.
    assert signing_key("another-token-0123456789abcdefghijklmnop", key_file) == key
    assert signing_key(TOKEN, tmp_path / "other.key") != key  # another service, another key
    value = ReviewSessions.for_token(TOKEN, key).issue()
    payload, sig = value.rsplit(".", 1)
    # Everything an attacker could compute from the (right!) token fails to verify the session.
    for ctx in (b"call-risk review session v1", b"call-risk review session v2"):
        derived = hmac.new(TOKEN.encode(), ctx, hashlib.sha256).digest()
        assert ReviewSessions.for_token(TOKEN, derived).expires(value) is None
        raw = hmac.new(derived, payload.encode(), hashlib.sha256).digest()
        assert base64_url(raw) != sig
    assert ReviewSessions.for_token(TOKEN, hashlib.sha256(TOKEN.encode()).digest()).expires(
        value
    ) is None  # fmt: skip
    assert TOKEN.encode() not in key_file.read_bytes()


def base64_url(raw: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_two_workers_starting_at_once_share_one_key(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    key_file = tmp_path / "state" / KEY_NAME
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: load_or_create_key(key_file), range(16)))
    assert len(keys) == 1
    assert [p.name for p in key_file.parent.iterdir()] == [KEY_NAME]  # no temporary left


def test_a_key_file_others_can_read_or_a_damaged_one_is_refused(tmp_path: Path) -> None:
    key_file = tmp_path / KEY_NAME
    load_or_create_key(key_file)
    key_file.chmod(0o644)
    with pytest.raises(UserError, match=r"readable by other users .*0644.*delete it"):
        load_or_create_key(key_file)
    key_file.chmod(0o600)
    key_file.write_text("not a key\n")
    with pytest.raises(UserError, match="is damaged"):
        load_or_create_key(key_file)


def test_a_read_only_state_folder_is_named_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    def read_only(*args: Any, **kwargs: Any) -> int:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(UserError, match="mounted read-only") as err:
        load_or_create_key(tmp_path / KEY_NAME)
    assert KEY_NAME in str(err.value)


@pytest.mark.parametrize(
    ("secret", "error"),
    [("short", "too weak"), ("a" * 40, "too weak"), (TOKEN, "is the API token")],
)
def test_a_weak_review_secret_or_the_token_itself_is_refused(
    tmp_path: Path, secret: str, error: str
) -> None:
    with pytest.raises(UserError, match=error):
        signing_key(TOKEN, tmp_path / KEY_NAME, secret)


@pytest.mark.parametrize("token", ["secret", "s3cret-t0ken_42", "x" * 64, "ab" * 20])
def test_a_weak_api_token_stops_the_start_with_how_to_make_one(token: str) -> None:
    from risk_model.service.settings import ServiceSettings

    with pytest.raises(UserError) as err:
        ServiceSettings.from_env({"CALL_RISK_API_TOKEN": token})
    message = str(err.value)
    assert "CALL_RISK_API_TOKEN is too weak" in message and "secrets.token_urlsafe" in message
    assert token not in message.split("(")[0]  # the token itself is never echoed
    assert "\n" not in message
    assert require_strong("T", TOKEN) == TOKEN


def test_serve_writes_no_review_link_or_session_to_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """`serve` used to log a live 12-hour review link at every start; now it says how to make
    one, and makes the key (0600) before any worker starts."""
    from types import SimpleNamespace

    from risk_model.model import tracking
    from risk_model.service import serve, supervise

    class Exec(Exception):
        pass

    def fake_exec(*args: Any) -> None:
        raise Exec

    monkeypatch.setenv("CALL_RISK_API_TOKEN", TOKEN)
    monkeypatch.delenv(ENV_REVIEW_SECRET, raising=False)
    monkeypatch.delenv("CALL_RISK_AUDIT_DB", raising=False)
    monkeypatch.setattr(supervise, "check_service", lambda env: None)
    monkeypatch.setattr(supervise, "check_port", lambda host, port: None)
    monkeypatch.setattr(tracking, "configure", lambda: None)
    monkeypatch.setattr(
        tracking,
        "resolve",
        lambda uri: SimpleNamespace(uri="models:/call-risk/1", name="call-risk", version="1"),
    )
    monkeypatch.setattr(serve.os, "execve", fake_exec)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(Exec):
        serve.serve_service("models:/call-risk@champion", 3999, tmp_path / "history.db")
    text = caplog.text
    assert "review-link" in text
    for leak in ("rv1.", "token=", TOKEN):
        assert leak not in text
    key_file = tmp_path / KEY_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


# ------------------------------------------------------------------ failed credentials


def test_failed_credentials_are_limited_per_address_in_bounded_memory() -> None:
    from serving.middleware import FailedCredentials

    now = [0.0]
    limit = FailedCredentials(limit=3, window=60, max_clients=100, clock=lambda: now[0])
    for _ in range(2):
        limit.failed("10.0.0.1")
    assert limit.retry_after("10.0.0.1") is None
    limit.failed("10.0.0.1")
    assert limit.retry_after("10.0.0.1") == 60
    assert limit.retry_after("10.0.0.2") is None  # per address
    now[0] = 59.5
    assert limit.retry_after("10.0.0.1") == 1
    now[0] = 60.0
    assert limit.retry_after("10.0.0.1") is None  # the window is over
    for i in range(5000):
        limit.failed(f"10.1.{i // 256}.{i % 256}")
    assert len(limit) == 100  # bounded, however many addresses


def test_the_review_page_and_the_gate_refuse_an_address_after_too_many_failures(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from serving.middleware import FAILED_CREDENTIALS

    FAILED_CREDENTIALS.clear()
    client = _client()
    client.cookies.clear()
    statuses = [
        client.get("/review/api/calls", headers={"Authorization": f"Bearer guess-{i}"}).status_code
        for i in range(FAILED_CREDENTIALS.limit + 3)
    ]
    assert statuses[: FAILED_CREDENTIALS.limit] == [401] * FAILED_CREDENTIALS.limit
    assert statuses[FAILED_CREDENTIALS.limit :] == [429] * 3
    refused = client.get("/review/api/calls", headers={"Authorization": f"Bearer {TOKEN}"})
    assert refused.status_code == 429  # even the right credential: a guess is not told apart
    assert refused.json()["field"] == "authorization" and int(refused.headers["retry-after"]) > 0
    link = client.get("/review/", params={"token": "guess"}, follow_redirects=False)
    assert link.status_code == 429
    status, body = _through_gate(monkeypatch, "/score", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 429 and body["field"] == "authorization"  # the API shares the count
    FAILED_CREDENTIALS.clear()
    status, _ = _through_gate(monkeypatch, "/score", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200


def test_a_sign_in_is_logged_without_the_session_or_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = ReviewSessions.for_token(TOKEN, KEY)
    client = _client(s)
    caplog.set_level(logging.INFO, "serving.review")
    link = s.issue(seconds=600)
    for value in (TOKEN, link):
        client.cookies.clear()
        assert client.get("/review/", params={"token": value}, follow_redirects=False).is_redirect
    lines = [r.getMessage() for r in caplog.records if "signed in" in r.getMessage()]
    assert len(lines) == 2 and "the API token" in lines[0] and "a review link" in lines[1]
    session = client.cookies.get(SESSION_COOKIE)
    for leak in (TOKEN, link, session, "rv1."):
        assert leak not in caplog.text
