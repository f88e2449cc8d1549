"""The review app's HTTP routes (Starlette TestClient) on a real trained model and audit log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from risk_model.batch.score import load_history_file
from risk_model.features.store import SqliteHistoryStore
from risk_model.review import view as review_view
from risk_model.review.session import ReviewSessions
from risk_model.schema import CallRecord
from risk_model.service.assessor import LiveAssessor
from risk_model.service.audit_log import AuditLog
from serving.review import COOKIE, create_review_app

pytestmark = pytest.mark.xdist_group("model")

TOKEN = "s3cret-token-for-the-review-page-0123456789"


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for rec in frame.to_dict(orient="records"):
        clean = {k: (None if pd.isna(v) else v) for k, v in rec.items() if not isinstance(v, list)}
        out.append(CallRecord.model_validate(clean).to_row())
    return out


@pytest.fixture(scope="module")
def live(trained: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A LiveAssessor on the trained champion, a history store of the 90 days before the scored
    calls, and an audit log holding 80 scored calls from several districts."""
    from risk_model.model import tracking

    root = tmp_path_factory.mktemp("review")
    calls = pd.read_parquet(trained["data"])
    calls = calls.sort_values("received_at").reset_index(drop=True)
    scored = calls.iloc[-80:]
    start = scored["received_at"].min() - pd.Timedelta(days=90)
    hist_file = root / "history.parquet"
    calls[(calls["received_at"] >= start)].iloc[:-80].to_parquet(hist_file, index=False)
    load_history_file(hist_file, root / "history.db")
    model, _ = tracking.load_model(trained["model_uri"])
    store = SqliteHistoryStore(root / "history.db", model.settings.features)
    assessor = LiveAssessor(model, store, audit=AuditLog(root / "audit.db"))
    records = _records(
        scored.drop(columns=["officer_assaulted", "officer_injured"], errors="ignore")
    )
    answers = assessor.assess(records)
    return {
        "assessor": assessor,
        "answers": {a["call_id"]: a for a in answers},
        "records": {r["call_id"]: r for r in records},
        "cache": root / "artifacts",
    }


@pytest.fixture(scope="module")
def client(live: dict) -> TestClient:
    app = create_review_app(lambda: live["assessor"], token=None, cache_dir=live["cache"])
    return TestClient(Starlette(routes=[Mount("/review", app=app)]))


def test_page_and_static_files_are_served_locally(client: TestClient) -> None:
    page = client.get("/review/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    html = page.text
    assert 'src="static/review.js"' in html and 'href="static/review.css"' in html
    assert "http://" not in html and "https://" not in html  # no CDN, no external font
    for name, kind in (("review.js", "javascript"), ("review.css", "text/css")):
        resp = client.get(f"/review/static/{name}")
        assert resp.status_code == 200
        assert kind in resp.headers["content-type"]
        assert "https://" not in resp.text and "@import" not in resp.text


def test_page_without_trailing_slash_redirects(client: TestClient) -> None:
    resp = client.get("/review", follow_redirects=False)
    assert resp.status_code in (307, 308)
    assert resp.headers["location"].endswith("/review/")


def test_facets_list_what_the_audit_log_holds(client: TestClient, live: dict) -> None:
    facets = client.get("/review/api/facets").json()
    districts = {r["district"] for r in live["records"].values() if r["district"]}
    assert set(facets["district"]) == districts
    assert set(facets["risk_tier"]) <= {"low", "elevated", "high"}
    assert set(facets["decision"]) <= {"low", "high", "cant_tell"}


def test_calls_filtered_by_district_and_sorted_by_score(client: TestClient, live: dict) -> None:
    district = client.get("/review/api/facets").json()["district"][0]
    expected = {c for c, r in live["records"].items() if r["district"] == district}
    body = client.get("/review/api/calls", params={"district": district, "sort": "score"}).json()
    got = [r["call_id"] for r in body["calls"]]
    assert set(got) == expected
    scores = [r["risk_score"] for r in body["calls"]]
    assert scores == sorted(scores, reverse=True)
    for row in body["calls"]:
        assert row["district"] == district
        assert row["percent"] == review_view.format_percent(row["risk_score"])
        assert row["risk_score"] == live["answers"][row["call_id"]]["risk_score"]


def test_calls_filtered_by_time_tier_and_decision(client: TestClient, live: dict) -> None:
    times = sorted(r["received_at"].isoformat() for r in live["records"].values())
    since, until = times[20], times[60]
    body = client.get("/review/api/calls", params={"since": since, "until": until}).json()
    got = sorted(r["received_at"] for r in body["calls"])
    assert got == times[20:60]
    assert [r["received_at"] for r in body["calls"]] == sorted(got, reverse=True)  # newest first
    for tier in ("low", "elevated", "high"):
        rows = client.get("/review/api/calls", params={"tier": tier}).json()["calls"]
        want = {c for c, a in live["answers"].items() if a["risk_tier"] == tier}
        assert {r["call_id"] for r in rows} == want
    rows = client.get("/review/api/calls", params={"decision": "cant_tell"}).json()["calls"]
    assert {r["call_id"] for r in rows} == {
        c for c, a in live["answers"].items() if a["decision"] == "cant_tell"
    }


def test_calls_limit_applies_after_the_order(client: TestClient, live: dict) -> None:
    """'Highest first' with a limit lists the highest-scored matching calls of all, not the
    highest among the newest (and likewise lowest first, newest first)."""
    scores = sorted(a["risk_score"] for a in live["answers"].values())
    for sort, want in (("score", scores[::-1][:5]), ("score_asc", scores[:5])):
        body = client.get("/review/api/calls", params={"limit": 5, "sort": sort}).json()
        assert [r["risk_score"] for r in body["calls"]] == want
    body = client.get("/review/api/calls", params={"limit": 5}).json()
    newest = sorted(r["received_at"].isoformat() for r in live["records"].values())[-5:]
    assert [r["received_at"] for r in body["calls"]] == newest[::-1]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "5000"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"sort": "district"}, "sort"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2025-13"}, "until"),
        ({"district": "X" * 300}, "district"),
        ({"since": "2025-02-31"}, "since"),
        ({"since": "2025-13-01"}, "since"),
        ({"until": "2025-06-01T25:00"}, "until"),
        ({"until": "2025-04-31T10:00:00"}, "until"),
        ({"since": "2025-06-02", "until": "2025-06-01"}, "until"),
        ({"since": "2025-06-01", "until": "2025-06-01"}, "until"),
        ({"tier": "extreme"}, "tier"),
        ({"decision": "maybe"}, "decision"),
        ({"district": "NORTH\u0000"}, "district"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "1e3"}, "limit"),
        ({"distrcit": "NORTH"}, "distrcit"),
    ],
)
def test_bad_filters_answer_400_naming_the_field(
    client: TestClient, params: dict, field: str
) -> None:
    resp = client.get("/review/api/calls", params=params)
    assert resp.status_code == 400
    assert resp.json()["field"] == field
    assert field in resp.json()["error"]


def test_a_filter_given_twice_is_refused(client: TestClient) -> None:
    resp = client.get("/review/api/calls?district=A&district=B")
    assert resp.status_code == 400 and resp.json()["field"] == "district"


def test_one_call_matches_what_the_api_answered(client: TestClient, live: dict) -> None:
    a = live["assessor"]
    for call_id, answer in list(live["answers"].items())[:10]:
        view = client.get(f"/review/api/calls/{call_id}").json()
        assert view["assessment"] == answer
        assert view["entry"] == a.audit.entry(call_id)
        assert [r["text"] for r in view["reasons"]] == [r["text"] for r in answer["reasons"]]
        assert [p["text"] for p in view["precautions"]] == [
            p["text"] for p in answer["precautions"]
        ]
        for p in view["precautions"]:
            assert p["program"]
            assert p["because"] and all(b["text"] for b in p["because"])
        record = live["records"][call_id]
        facts = {f["key"]: f["value"] for f in view["facts"]}
        assert facts["call_type"] == record["call_type"]
        assert facts["received_at"] == record["received_at"].strftime("%Y-%m-%d %H:%M")
        assert len(view["flags"]) == 5
        assert view["score"]["times_base"] == pytest.approx(
            answer["risk_score"] / a.model.base_rate
        )
        assert view["scored_by_current_model"] is True
        assert view["model"] == {"name": a.info.name, "version": a.info.version}


def test_waterfall_adds_up_to_the_models_raw_score(client: TestClient, live: dict) -> None:
    """The chart's bars sum to the margin whose calibrated value is the call's risk score."""
    from risk_model.features.build import online_features

    a = live["assessor"]
    call_id = next(iter(live["answers"]))
    view = client.get(f"/review/api/calls/{call_id}").json()
    feats = online_features([live["records"][call_id]], a.store, a.cfg)
    margin = a.model.assess(feats, explain=False).margin[:1]
    assert view["waterfall"]["total"] == pytest.approx(float(margin[0]), abs=1e-3)
    assert float(a.model.calibrator.transform(margin)[0]) == pytest.approx(
        view["assessment"]["risk_score"], abs=1e-6
    )


def test_premise_history_is_dated_and_ordered(client: TestClient, live: dict) -> None:
    seen = 0
    for call_id in live["answers"]:
        hist = client.get(f"/review/api/calls/{call_id}").json()["premise_history"]
        dates = [h["received_at"] for h in hist]
        assert dates == sorted(dates, reverse=True)
        received = live["records"][call_id]["received_at"].isoformat()
        assert all(d < received for d in dates)  # only incidents before the call
        assert all(len(h["date"]) == 10 and h["what"] for h in hist)
        seen += bool(hist)
    assert seen > 0


def test_unknown_call_is_404(client: TestClient) -> None:
    resp = client.get("/review/api/calls/NO-SUCH-CALL")
    assert resp.status_code == 404
    assert resp.json()["field"] == "call_id"


def test_model_report_from_mlflow_artifacts(
    client: TestClient, live: dict, trained: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = live["assessor"]
    report = client.get("/review/api/model").json()
    assert (report["name"], report["version"]) == (a.info.name, a.info.version)
    assert report["run_id"] == trained["result"]["run_id"]
    assert report["missing"] == []
    keys = [c["key"] for c in report["metrics"]["columns"]]
    assert keys[:3] == ["model", "call_type_rate", "logistic"]
    assert "oracle" in keys  # the simulator's truth file sits beside the training data
    auc = next(r for r in report["metrics"]["rows"] if r["key"] == "auc")
    assert auc["values"]["model"] == pytest.approx(trained["result"]["metrics"]["auc"])
    assert auc["values"]["call_type_rate"] == pytest.approx(
        trained["result"]["baselines"]["call_type_rate"]["auc"]
    )
    assert [w["window"] for w in report["windows"]] == [
        "train",
        "validation",
        "calibration",
        "test",
    ]
    assert {c["model"] for c in report["calibration"]} >= {"model", "call_type_rate"}
    assert all(len(c["points"]) == 10 for c in report["calibration"])
    assert report["importance"] and report["importance"][0]["label"]
    rows = report["audit_district"]["rows"]
    assert rows and all(r["calibration_ratio"] is None or r["calibration_ratio"] > 0 for r in rows)
    assert report["base_rate"] == pytest.approx(a.model.base_rate)

    # Cached after the first read: MLflow is not asked again.
    def boom(*args: Any, **kwargs: Any) -> Path:
        raise AssertionError("artifacts fetched twice")

    monkeypatch.setattr(review_view, "fetch_artifacts", boom)
    assert client.get("/review/api/model").json() == report


def test_incomplete_artifacts_are_not_cached(
    live: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def empty(run_id: str, dest: Path) -> Path:
        calls.append(run_id)
        dest.mkdir(parents=True, exist_ok=True)
        return dest

    monkeypatch.setattr(review_view, "fetch_artifacts", empty)
    app = create_review_app(lambda: live["assessor"], token=None, cache_dir=tmp_path)
    c = TestClient(Starlette(routes=[Mount("/review", app=app)]))
    for _ in range(2):
        report = c.get("/review/api/model").json()
        assert set(report["missing"]) == set(review_view.ARTIFACTS)
        assert report["metrics"] is None
        assert report["base_rate"] == pytest.approx(live["assessor"].model.base_rate)
    assert len(calls) == 2


def test_no_model_yet_answers_503() -> None:
    app = create_review_app(lambda: None, token=None)
    c = TestClient(Starlette(routes=[Mount("/review", app=app)]))
    assert c.get("/review/").status_code == 200  # the page itself loads and says so
    for path in ("/review/api/calls", "/review/api/facets", "/review/api/model"):
        resp = c.get(path)
        assert resp.status_code == 503
        assert "loading" in resp.json()["error"]


# ------------------------------------------------------------------ auth


@pytest.fixture(scope="module")
def secured(live: dict) -> TestClient:
    sessions = ReviewSessions.for_token(TOKEN, b"k" * 32)
    app = create_review_app(
        lambda: live["assessor"], token=TOKEN, sessions=sessions, cache_dir=live["cache"]
    )
    return TestClient(Starlette(routes=[Mount("/review", app=app)]))


def test_token_required_when_set(secured: TestClient) -> None:
    secured.cookies.clear()
    assert secured.get("/review/").status_code == 401
    assert secured.get("/review/static/review.js").status_code == 401
    assert secured.get("/review/api/calls").status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert secured.get("/review/api/calls", headers=wrong).status_code == 401
    ok = {"Authorization": f"Bearer {TOKEN}"}
    assert secured.get("/review/api/calls", headers=ok).status_code == 200
    assert secured.get("/review/", headers=ok).status_code == 200


def test_link_token_becomes_a_strict_httponly_session_cookie(secured: TestClient) -> None:
    secured.cookies.clear()
    resp = secured.get("/review/", params={"token": TOKEN}, follow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["location"] == "/review/"  # the token leaves the address bar
    cookie = resp.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=rv1.") and TOKEN not in cookie  # a session, not the token
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/review" in cookie
    secured.cookies.set(COOKIE, resp.cookies[COOKIE])
    assert secured.get("/review/").status_code == 200
    assert secured.get("/review/api/facets").status_code == 200
    secured.cookies.clear()
    secured.cookies.set(COOKIE, TOKEN)  # the API token itself is not a session
    assert secured.get("/review/api/facets").status_code == 401
    secured.cookies.clear()


def test_bad_link_token_sets_no_cookie(secured: TestClient) -> None:
    secured.cookies.clear()
    resp = secured.get("/review/", params={"token": "guess"}, follow_redirects=False)
    assert resp.status_code == 401
    assert "set-cookie" not in resp.headers


def test_a_damaged_audit_record_is_a_422_naming_the_call_not_a_500(tmp_path: Path) -> None:
    """Issue 22, N9: the call view answered 500 on a record that cannot be decoded."""
    import sqlite3
    from types import SimpleNamespace

    from risk_model.service.audit_log import AuditLog

    log = AuditLog(tmp_path / "audit.db")
    entry = {
        "call": {"call_id": "D-1", "received_at": "2025-03-01T10:00:00", "call_type": "X"},
        "assessment": {
            "call_id": "D-1",
            "risk_score": 0.1,
            "risk_tier": "low",
            "decision": "low",
            "reasons": [],
            "precautions": [],
            "model": {"name": "call-risk", "version": "1"},
            "warnings": [],
        },
        "features": {},
    }
    log.write([entry])
    with sqlite3.connect(tmp_path / "audit.db") as con:
        con.execute("UPDATE audit_entry SET record = X'00' WHERE call_id = 'D-1'")
    assessor = SimpleNamespace(audit=log)
    app = create_review_app(lambda: assessor, token=None)
    client = TestClient(Starlette(routes=[Mount("/review", app=app)]))
    resp = client.get("/review/api/calls/D-1")
    assert resp.status_code == 422, resp.text
    assert resp.json()["field"] == "call_id" and "damaged" in resp.json()["error"]
