"""The optional bearer token: with CALL_RISK_API_TOKEN set, every request without it is a 401."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest
from service_helpers import running_service, service_env
from starlette.testclient import TestClient

from serving.service import EXAMPLE_CALL

pytestmark = pytest.mark.xdist_group("model")

TOKEN = "s3cret-t0ken_42"
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


def test_the_bearer_token_or_the_cookie_lets_requests_through(client: TestClient) -> None:
    client.cookies.clear()
    assert client.post("/score", json={"call": EXAMPLE_CALL}, headers=GOOD).status_code == 200
    assert client.get("/readyz", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200
    client.cookies.set("call_risk_token", TOKEN)
    try:
        assert client.post("/score", json={"call": EXAMPLE_CALL}).status_code == 200
    finally:
        client.cookies.clear()


@pytest.mark.skipif(not HAS_REVIEW, reason="serving/review.py is not in this tree")
def test_the_review_page_is_mounted_and_guarded(client: TestClient) -> None:
    client.cookies.clear()
    assert client.get("/review/").status_code == 401
    assert client.get("/review/api/facets").status_code == 401
    assert client.get("/review/api/facets", headers=GOOD).status_code == 200
    link = client.get("/review/", params={"token": TOKEN}, follow_redirects=False)
    assert link.status_code == 303
    assert link.headers["set-cookie"].startswith(f"call_risk_token={TOKEN};")
    assert client.get("/review/", params={"token": "guess"}).status_code == 401
