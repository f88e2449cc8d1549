"""The optional bearer token: with CALL_RISK_API_TOKEN set, every request without it is a 401."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest
from service_helpers import running_service, service_env
from starlette.testclient import TestClient

from serving.api_models import EXAMPLE_CALL

pytestmark = pytest.mark.xdist_group("model")

TOKEN = "s3cret-t0ken_42-for-the-api-gate-0123456789"
GOOD = {"Authorization": f"Bearer {TOKEN}"}
HAS_REVIEW = importlib.util.find_spec("serving.review") is not None


@pytest.fixture(scope="module")
def client(service_data: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    env = service_env(service_data, tmp_path_factory.mktemp("auth"), CALL_RISK_API_TOKEN=TOKEN)
    with running_service(env, headers=GOOD) as c:
        yield c


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/score"),
        ("POST", "/score_batch"),
        ("POST", "/ingest"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/docs.json"),
        ("GET", "/metrics"),
        ("GET", "/"),
        ("GET", "/nope"),
    ],
)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": TOKEN},  # no scheme
        {"Authorization": f"Basic {TOKEN}"},
        {"Cookie": "call_risk_token=wrong"},
    ],
    ids=["none", "wrong", "no-scheme", "basic", "wrong-cookie"],
)
def test_requests_without_the_token_get_401_json(
    client: TestClient, method: str, path: str, headers: dict
) -> None:
    client.cookies.clear()
    resp = client.request(method, path, headers=headers, json={"call": EXAMPLE_CALL})
    assert resp.status_code == 401
    assert resp.json()["field"] == "authorization"


def test_the_bearer_token_lets_requests_through_and_no_cookie_does(client: TestClient) -> None:
    """The API token is taken from the Authorization header only: a cookie (which a browser
    sends by itself) never authorizes the API, not even one holding the token."""
    client.cookies.clear()
    assert client.post("/score", json={"call": EXAMPLE_CALL}, headers=GOOD).status_code == 200
    assert client.get("/readyz", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200
    client.cookies.set("call_risk_token", TOKEN)
    try:
        assert client.post("/score", json={"call": EXAMPLE_CALL}).status_code == 401
    finally:
        client.cookies.clear()


@pytest.mark.skipif(not HAS_REVIEW, reason="serving/review.py is not in this tree")
def test_the_review_page_is_mounted_and_guarded(client: TestClient) -> None:
    client.cookies.clear()
    assert client.get("/review/").status_code == 401
    assert client.get("/review/api/facets").status_code == 401
    assert client.get("/review/api/facets", headers=GOOD).status_code == 200
    link = client.get("/review/", params={"token": TOKEN}, follow_redirects=False)
    assert link.status_code == 303 and link.headers["location"] == "/review/"
    session = link.cookies["call_risk_review"]
    assert session.startswith("rv1.") and TOKEN not in link.headers["set-cookie"]
    assert client.get("/review/", params={"token": "guess"}).status_code == 401


@pytest.mark.skipif(not HAS_REVIEW, reason="serving/review.py is not in this tree")
def test_a_review_session_reads_the_review_page_and_can_never_write(client: TestClient) -> None:
    """A leaked review link or cookie: it reads the review routes, and is refused on /ingest
    (and everywhere else outside /review), as a cookie or as a bearer credential."""
    client.cookies.clear()
    link = client.get("/review/", params={"token": TOKEN}, follow_redirects=False)
    session = link.cookies["call_risk_review"]
    cookie = {"Cookie": f"call_risk_review={session}"}
    bearer = {"Authorization": f"Bearer {session}"}
    for headers in (cookie, bearer):
        assert client.get("/review/api/facets", headers=headers).status_code == 200
        assert client.get("/review/api/calls", headers=headers).status_code == 200
        body = {"calls": [{**EXAMPLE_CALL, "call_id": "LEAK-1", "officer_assaulted": True}]}
        for method, path, payload in (
            ("POST", "/ingest", body),
            ("POST", "/score", {"call": EXAMPLE_CALL}),
            ("POST", "/score_batch", {"calls": [EXAMPLE_CALL]}),
            ("GET", "/readyz", None),
        ):
            resp = client.request(method, path, headers=headers, json=payload)
            assert resp.status_code == 401, (path, headers)
            assert resp.json()["field"] == "authorization"
    client.cookies.clear()
